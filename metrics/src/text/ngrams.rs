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
    pub(crate) fn with_capacity(n: usize) -> Self {
        Vocab {
            ids: FxHashMap::with_capacity_and_hasher(n, Default::default()),
        }
    }

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

/// All n-grams of orders 1..=max_n of one sequence, from a single sort.
///
/// Each position i yields the window seq[i..i+max_n], packed big-endian into a u128 with
/// `bits` bits per item and items offset by +1, so a 0 item marks "past the end". Sorting the
/// windows once sorts every prefix too, so the n-grams of each order n are the top n items of
/// the windows whose n-th item is non-zero, already in sorted order. Clipped counts for all
/// orders then come from linear merges: the hot path of BLEU, chrF and ROUGE-N, with no hashing.
pub(crate) struct SortedWindows {
    keys: Vec<u128>,
    max_n: usize,
    bits: u32,
}

impl SortedWindows {
    /// `None` when `max_n` windows of `bits`-bit items do not fit in 128 bits.
    pub(crate) fn new(seq: &[u32], max_n: usize, bits: u32) -> Option<Self> {
        if max_n == 0 || max_n as u32 * bits > 128 {
            return None;
        }
        let mut keys: Vec<u128> = (0..seq.len())
            .map(|i| {
                (0..max_n).fold(0u128, |k, j| {
                    (k << bits) | seq.get(i + j).map_or(0, |&x| x as u128 + 1)
                })
            })
            .collect();
        keys.sort_unstable();
        Some(SortedWindows { keys, max_n, bits })
    }

    /// The sorted n-grams of order n (as packed prefixes).
    pub(crate) fn order(&self, n: usize) -> impl Iterator<Item = u128> + '_ {
        let shift = (self.max_n - n) as u32 * self.bits;
        let item_mask = (1u128 << self.bits) - 1;
        self.keys.iter().filter_map(move |&k| {
            let p = k >> shift;
            (p & item_mask != 0).then_some(p)
        })
    }
}

/// Size of the multiset intersection of two sorted sequences: Σ min(count_a, count_b).
pub(crate) fn intersection(a: impl Iterator<Item = u128>, b: impl Iterator<Item = u128>) -> u64 {
    let (mut a, mut b) = (a.peekable(), b.peekable());
    let mut m = 0u64;
    while let (Some(&x), Some(&y)) = (a.peek(), b.peek()) {
        match x.cmp(&y) {
            std::cmp::Ordering::Less => {
                a.next();
            }
            std::cmp::Ordering::Greater => {
                b.next();
            }
            std::cmp::Ordering::Equal => {
                m += 1;
                a.next();
                b.next();
            }
        }
    }
    m
}

/// BLEU's clipped matches: Σ over distinct hypothesis n-grams of
/// min(count in hypothesis, max over references of count in that reference).
pub(crate) fn clipped_by_max(hyp: &[u128], refs: &[Vec<u128>]) -> u64 {
    if refs.len() == 1 {
        return intersection(hyp.iter().copied(), refs[0].iter().copied());
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

/// [`clipped_by_max`] by hash counting, for orders whose n-grams do not pack into 128 bits.
pub(crate) fn clipped_by_max_hashed(hyp: &[u32], refs: &[Vec<u32>], n: usize) -> u64 {
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

#[cfg(test)]
mod tests {
    use super::*;

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
            let hw = SortedWindows::new(&hyp, 4, 32).unwrap();
            let rw: Vec<SortedWindows> = refs
                .iter()
                .map(|r| SortedWindows::new(r, 4, 32).unwrap())
                .collect();
            for n in 1..=4 {
                let h: Vec<u128> = hw.order(n).collect();
                let r: Vec<Vec<u128>> = rw.iter().map(|w| w.order(n).collect()).collect();
                assert!(
                    h.windows(2).all(|p| p[0] <= p[1]),
                    "order {n} comes out sorted"
                );
                assert_eq!(
                    clipped_by_max(&h, &r),
                    clipped_by_max_hashed(&hyp, &refs, n),
                    "trial {trial} n {n}"
                );
                assert_eq!(h.len(), hyp.len().saturating_sub(n - 1));
            }
        }
        assert!(SortedWindows::new(&[1, 2], 5, 32).is_none());
        assert_eq!(
            SortedWindows::new(&[1, 2, 3, 4, 5, 6], 6, 21)
                .unwrap()
                .order(6)
                .count(),
            1
        );
    }
}
