//! Seeded sampling of the next token from logits, the step a watermark's bias goes into.

use rand::Rng;

/// Draws an index from softmax(logits / temperature) by inverse CDF with one uniform of
/// `rng`, in f64; temperature 0 takes the argmax (the first on ties).
pub fn sample_softmax<R: Rng>(logits: &[f32], temperature: f64, rng: &mut R) -> u32 {
    let argmax = || {
        logits
            .iter()
            .enumerate()
            .fold((0usize, f32::NEG_INFINITY), |b, (i, &l)| {
                if l > b.1 {
                    (i, l)
                } else {
                    b
                }
            })
            .0 as u32
    };
    if temperature <= 0.0 {
        return argmax();
    }
    let m = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
    let w: Vec<f64> = logits
        .iter()
        .map(|&l| ((l as f64 - m) / temperature).exp())
        .collect();
    let total: f64 = w.iter().sum();
    if !total.is_finite() || total <= 0.0 {
        return argmax();
    }
    let mut u = rng.random::<f64>() * total;
    for (i, x) in w.iter().enumerate() {
        if u < *x {
            return i as u32;
        }
        u -= x;
    }
    argmax()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn draws_follow_the_softmax_and_zero_temperature_is_greedy() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let logits = [0.0f32, 2f32.ln(), f32::NEG_INFINITY];
        let mut counts = [0usize; 3];
        for _ in 0..30_000 {
            counts[sample_softmax(&logits, 1.0, &mut rng) as usize] += 1;
        }
        // P = 1/3, 2/3, 0: within five standard errors (0.0027) of the truth.
        assert!(
            (counts[0] as f64 / 30_000.0 - 1.0 / 3.0).abs() < 0.014,
            "{counts:?}"
        );
        assert_eq!(counts[2], 0);
        assert_eq!(sample_softmax(&logits, 0.0, &mut rng), 1);
    }
}
