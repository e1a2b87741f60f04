//! Inception Score (Salimans et al. 2016) exactly as torch-fidelity defines it: the samples
//! (optionally permuted) are cut into `splits` contiguous chunks at i·N/splits; each chunk
//! scores exp(mean KL(p(y|x) ‖ p(y))); the result is the mean and the population standard
//! deviation over chunks, computed in f64.

use crate::MetricError;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InceptionScore {
    pub mean: f64,
    pub std: f64,
    pub split_scores: Vec<f64>,
}

/// Whether rows hold logits (softmax applied here) or probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreInput {
    Logits,
    Probabilities,
}

/// log p for each row of `x` (`rows × classes`).
fn log_probs(x: &[f64], classes: usize, kind: ScoreInput) -> Result<Vec<f64>, MetricError> {
    let mut out = Vec::with_capacity(x.len());
    for (r, row) in x.chunks_exact(classes).enumerate() {
        match kind {
            ScoreInput::Logits => {
                let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let lse = m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
                out.extend(row.iter().map(|v| v - lse));
            }
            ScoreInput::Probabilities => {
                let s: f64 = row.iter().sum();
                if row.iter().any(|&p| p < 0.0) || (s - 1.0).abs() > 1e-6 {
                    return Err(MetricError::InvalidConfig(format!(
                        "row {r} is not a probability distribution (sums to {s})"
                    )));
                }
                out.extend(row.iter().map(|p| p.ln()));
            }
        }
    }
    Ok(out)
}

/// The Inception Score of `rows × classes` values; `order` permutes the rows first (torch-fidelity
/// shuffles with a seeded permutation by default; pass it for parity, or `None` to keep order).
pub fn inception_score(
    x: &[f64],
    rows: usize,
    classes: usize,
    kind: ScoreInput,
    splits: usize,
    order: Option<&[usize]>,
) -> Result<InceptionScore, MetricError> {
    if classes == 0 || rows * classes != x.len() {
        return Err(MetricError::InvalidConfig(format!(
            "{} values do not make {rows} rows of {classes}",
            x.len()
        )));
    }
    if splits == 0 || rows < splits {
        return Err(MetricError::TooFewSamples {
            what: "the Inception Score (one per split)",
            need: splits.max(1),
            got: rows,
        });
    }
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(MetricError::NonFinite {
            row: i / classes,
            col: i % classes,
            value: x[i],
        });
    }
    let logp = log_probs(x, classes, kind)?;
    let idx: Vec<usize> = match order {
        Some(o) => {
            let mut seen = vec![false; rows];
            if o.len() != rows
                || o.iter()
                    .any(|&i| i >= rows || std::mem::replace(&mut seen[i], true))
            {
                return Err(MetricError::InvalidConfig(
                    "the order is not a permutation of the rows".into(),
                ));
            }
            o.to_vec()
        }
        None => (0..rows).collect(),
    };
    let mut scores = Vec::with_capacity(splits);
    for s in 0..splits {
        let chunk = &idx[s * rows / splits..(s + 1) * rows / splits];
        let n = chunk.len() as f64;
        let mut q = vec![0.0; classes];
        for &i in chunk {
            for (qc, lp) in q.iter_mut().zip(&logp[i * classes..(i + 1) * classes]) {
                *qc += lp.exp();
            }
        }
        let logq: Vec<f64> = q.iter().map(|v| (v / n).ln()).collect();
        let mut kl_sum = 0.0;
        for &i in chunk {
            let row = &logp[i * classes..(i + 1) * classes];
            kl_sum += row
                .iter()
                .zip(&logq)
                .map(|(lp, lq)| lp.exp() * (lp - lq))
                .sum::<f64>();
        }
        scores.push((kl_sum / n).exp());
    }
    let mean = scores.iter().sum::<f64>() / splits as f64;
    let std = (scores.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / splits as f64).sqrt();
    Ok(InceptionScore {
        mean,
        std,
        split_scores: scores,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confident_and_diverse_predictions_score_the_class_count() {
        // One-hot-ish predictions spread evenly over 4 classes: IS -> 4.
        let mut x = Vec::new();
        for i in 0..40 {
            let mut row = vec![-50.0; 4];
            row[i % 4] = 50.0;
            x.extend(row);
        }
        let s = inception_score(&x, 40, 4, ScoreInput::Logits, 2, None).unwrap();
        assert!((s.mean - 4.0).abs() < 1e-9, "{}", s.mean);
        // All samples predicting the same class: IS -> 1.
        let y: Vec<f64> = (0..40)
            .flat_map(|_| vec![50.0, -50.0, -50.0, -50.0])
            .collect();
        let s = inception_score(&y, 40, 4, ScoreInput::Logits, 4, None).unwrap();
        assert!((s.mean - 1.0).abs() < 1e-9);
        assert!(inception_score(&y, 40, 4, ScoreInput::Logits, 41, None).is_err());
    }
}
