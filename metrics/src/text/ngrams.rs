//! n-gram counting shared by BLEU, chrF and ROUGE.
//!
//! Tokens are interned to small integers per segment, and n-grams are counted as slices
//! of those integers: hashing a `&[u32]` is much cheaper than hashing tuples of strings,
//! and equality of ids is equality of tokens.

use rustc_hash::FxHashMap;
use std::hash::Hash;

pub(crate) type Counts<'a, T> = FxHashMap<&'a [T], u32>;

/// Interns tokens of one segment (and its references) into dense ids.
#[derive(Default)]
pub(crate) struct Vocab<'a> {
    ids: FxHashMap<&'a str, u32>,
}

impl<'a> Vocab<'a> {
    pub(crate) fn ids<I: IntoIterator<Item = &'a str>>(&mut self, tokens: I) -> Vec<u32> {
        tokens
            .into_iter()
            .map(|t| {
                let next = self.ids.len() as u32;
                *self.ids.entry(t).or_insert(next)
            })
            .collect()
    }
}

/// Counts of all n-grams of exactly order `n`.
pub(crate) fn count<T: Hash + Eq>(seq: &[T], n: usize) -> Counts<'_, T> {
    let mut m = FxHashMap::default();
    if n == 0 || seq.len() < n {
        return m;
    }
    m.reserve(seq.len() + 1 - n);
    for w in seq.windows(n) {
        *m.entry(w).or_insert(0) += 1;
    }
    m
}

/// Counts of all n-grams of orders 1..=max_order in one map (keys differ in length).
pub(crate) fn count_all<T: Hash + Eq>(seq: &[T], max_order: usize) -> Counts<'_, T> {
    let mut m = FxHashMap::default();
    m.reserve(seq.len() * max_order);
    for n in 1..=max_order {
        if seq.len() < n {
            break;
        }
        for w in seq.windows(n) {
            *m.entry(w).or_insert(0) += 1;
        }
    }
    m
}
