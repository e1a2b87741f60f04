//! numpy's legacy `np.random.RandomState(seed)` for the two draws torch-fidelity makes with it:
//! `permutation(n)` (the Inception Score shuffle) and `choice(n, size, replace=False)` (KID
//! subsets). Reproducing them gives torch-fidelity's numbers with its default seeds, without
//! an index file.
//!
//! The generator is MT19937 seeded by `init_genrand(seed)` (the `rand_mt` crate); `shuffle`
//! walks i = n−1 … 1 swapping i with a draw in [0, i] made by masked rejection of 32-bit
//! outputs; `choice` without replacement is the first `size` entries of a permutation.

use rand_mt::Mt;

pub struct RandomState {
    mt: Mt,
}

impl RandomState {
    pub fn new(seed: u32) -> Self {
        RandomState { mt: Mt::new(seed) }
    }

    /// A draw in [0, max], as numpy's `random_interval` (max < 2^32 here).
    fn interval(&mut self, max: u32) -> u32 {
        if max == 0 {
            return 0;
        }
        let mut mask = max;
        for s in [1, 2, 4, 8, 16] {
            mask |= mask >> s;
        }
        loop {
            let v = self.mt.next_u32() & mask;
            if v <= max {
                return v;
            }
        }
    }

    /// `RandomState.permutation(n)`.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.interval(i as u32) as usize;
            v.swap(i, j);
        }
        v
    }

    /// `RandomState.choice(n, size, replace=False)`.
    pub fn choice_without_replacement(&mut self, n: usize, size: usize) -> Vec<usize> {
        let mut p = self.permutation(n);
        p.truncate(size);
        p
    }
}
