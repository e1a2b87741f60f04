//! The synthetic data sets, each generated from a seed.

pub mod glyphs;
pub mod hmm_text;

use rand::Rng;

/// Draws an index from the distribution `probs` with one uniform of `rng` (inverse CDF).
pub(crate) fn categorical<R: Rng>(rng: &mut R, probs: &[f64]) -> usize {
    let u: f64 = rng.random();
    let mut acc = 0.0;
    for (i, p) in probs.iter().enumerate() {
        acc += p;
        if u < acc {
            return i;
        }
    }
    probs.len() - 1
}
