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

/// The n-grams of order `n` of `seq`, each packed into a u128 (`bits` bits per item), sorted.
/// `None` when `n * bits` does not fit in 128 bits; callers then count with [`count`].
///
/// Sorted packed n-grams turn the clipped-count computations of BLEU, chrF and ROUGE-N into
/// linear merges, with no hashing at all: the hot path of every corpus text metric.
pub(crate) fn sorted_packed(seq: &[u32], n: usize, bits: u32) -> Option<Vec<u128>> {
    if n == 0 || n as u32 * bits > 128 {
        return None;
    }
    if seq.len() < n {
        return Some(Vec::new());
    }
    let mut v: Vec<u128> = seq
        .windows(n)
        .map(|w| w.iter().fold(0u128, |k, &x| (k << bits) | x as u128))
        .collect();
    v.sort_unstable();
    Some(v)
}

/// Size of the multiset intersection of two sorted lists: Σ min(count_a, count_b).
pub(crate) fn intersection(a: &[u128], b: &[u128]) -> u64 {
    let (mut i, mut j, mut m) = (0, 0, 0u64);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                m += 1;
                i += 1;
                j += 1;
            }
        }
    }
    m
}

/// BLEU's clipped matches: Σ over distinct hypothesis n-grams of
/// min(count in hypothesis, max over references of count in that reference).
pub(crate) fn clipped_by_max(hyp: &[u128], refs: &[Vec<u128>]) -> u64 {
    if refs.len() == 1 {
        return intersection(hyp, &refs[0]);
    }
    let mut pos = vec![0usize; refs.len()];
    let (mut i, mut total) = (0, 0u64);
    while i < hyp.len() {
        let g = hyp[i];
        let mut c = 0u64;
        while i < hyp.len() && hyp[i] == g {
            c += 1;
            i += 1;
        }
        let mut best = 0u64;
        for (r, p) in refs.iter().zip(pos.iter_mut()) {
            while *p < r.len() && r[*p] < g {
                *p += 1;
            }
            let start = *p;
            while *p < r.len() && r[*p] == g {
                *p += 1;
            }
            best = best.max((*p - start) as u64);
        }
        total += c.min(best);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_hash_clipped(hyp: &[u32], refs: &[Vec<u32>], n: usize) -> u64 {
        let h = count(hyp, n);
        let rs: Vec<_> = refs.iter().map(|r| count(r, n)).collect();
        h.iter()
            .map(|(g, &c)| {
                c.min(
                    rs.iter()
                        .map(|r| r.get(g).copied().unwrap_or(0))
                        .max()
                        .unwrap_or(0),
                ) as u64
            })
            .sum()
    }

    #[test]
    fn sorted_merges_equal_hash_counting() {
        // Small alphabets make repeated n-grams, which is where clipping matters.
        let mut x = 7u64;
        let mut next = |m: u64| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            ((x >> 33) % m) as u32
        };
        for trial in 0..300 {
            let len = |next: &mut dyn FnMut(u64) -> u32| next(30) as usize;
            let hyp: Vec<u32> = (0..len(&mut next)).map(|_| next(4)).collect();
            let refs: Vec<Vec<u32>> = (0..1 + trial % 3)
                .map(|_| (0..len(&mut next)).map(|_| next(4)).collect())
                .collect();
            for n in 1..=4 {
                let h = sorted_packed(&hyp, n, 32).unwrap();
                let r: Vec<Vec<u128>> = refs
                    .iter()
                    .map(|r| sorted_packed(r, n, 32).unwrap())
                    .collect();
                assert_eq!(
                    clipped_by_max(&h, &r),
                    by_hash_clipped(&hyp, &refs, n),
                    "trial {trial} n {n}"
                );
                assert_eq!(h.len(), hyp.len().saturating_sub(n - 1));
            }
        }
        assert!(sorted_packed(&[1, 2], 5, 32).is_none());
        assert_eq!(sorted_packed(&[1, 2, 3, 4, 5, 6], 6, 21).unwrap().len(), 1);
    }
}
