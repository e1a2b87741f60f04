//! Percentile bootstrap confidence intervals over segments.

use super::rng_for;
use crate::text::{SegmentMetric, StatsTable};
use crate::MetricError;
use rand::Rng;
use rayon::prelude::*;
use serde::Serialize;

/// Bootstrap settings: resample segments with replacement `n_resamples` times.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BootstrapConfig {
    pub n_resamples: usize,
    pub seed: u64,
    /// Coverage of the interval, e.g. 0.95.
    pub confidence: f64,
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        BootstrapConfig {
            n_resamples: 1000,
            seed: super::DEFAULT_SEED,
            confidence: 0.95,
        }
    }
}

/// A bootstrap estimate of one value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    /// Mean over resamples.
    pub mean: f64,
    pub low: f64,
    pub high: f64,
}

/// Sorted-order bounds as sacrebleu takes them: for 95% and B resamples, the
/// (B // 40)-th and (B - B // 40 - 1)-th smallest resampled scores.
pub fn interval_of(mut scores: Vec<f64>, confidence: f64) -> Interval {
    scores.sort_by(f64::total_cmp);
    let b = scores.len();
    let lower = ((b as f64) * (1.0 - confidence) / 2.0 + 1e-9).floor() as usize;
    let lower = lower.min(b - 1);
    let upper = b - lower - 1;
    Interval {
        mean: scores.iter().sum::<f64>() / b as f64,
        low: scores[lower],
        high: scores[upper],
    }
}

/// Column sums of the rows `idx`.
pub(crate) fn sum_rows(stats: &StatsTable, idx: impl Iterator<Item = usize>) -> Vec<f64> {
    let mut t = vec![0.0; stats.width];
    for i in idx {
        for (a, b) in t.iter_mut().zip(stats.row(i)) {
            *a += b;
        }
    }
    t
}

/// Resampled values of every metric value: `out[v][b]` is value v on resample b.
pub fn resample_values<M: SegmentMetric + ?Sized>(
    metric: &M,
    stats: &StatsTable,
    cfg: &BootstrapConfig,
) -> Result<Vec<Vec<f64>>, MetricError> {
    let n = stats.len();
    if n == 0 {
        return Err(MetricError::Empty);
    }
    if cfg.n_resamples == 0 {
        return Err(MetricError::InvalidConfig(
            "the bootstrap needs at least one resample".into(),
        ));
    }
    let per_resample: Vec<Vec<f64>> = (0..cfg.n_resamples)
        .into_par_iter()
        .map(|b| {
            let mut rng = rng_for(cfg.seed, b);
            let t = sum_rows(stats, (0..n).map(|_| rng.random_range(0..n)));
            metric.values(&t, n)
        })
        .collect();
    let k = metric.value_names().len();
    Ok((0..k)
        .map(|v| per_resample.iter().map(|r| r[v]).collect())
        .collect())
}

/// A bootstrap interval for each of the metric's values.
pub fn bootstrap_ci<M: SegmentMetric + ?Sized>(
    metric: &M,
    stats: &StatsTable,
    cfg: &BootstrapConfig,
) -> Result<Vec<Interval>, MetricError> {
    if !(0.0..1.0).contains(&cfg.confidence) || cfg.confidence == 0.0 {
        return Err(MetricError::InvalidConfig(format!(
            "confidence must be in (0, 1), got {}",
            cfg.confidence
        )));
    }
    Ok(resample_values(metric, stats, cfg)?
        .into_iter()
        .map(|s| interval_of(s, cfg.confidence))
        .collect())
}

/// Percentile bootstrap of `stat` over items resampled with replacement (seeded, one stream
/// per resample), for statistics of independent items (images, texts).
pub fn bootstrap_items<T: Sync>(
    items: &[T],
    resamples: usize,
    seed: u64,
    stat: impl Fn(&[&T]) -> f64 + Sync,
) -> Result<Interval, MetricError> {
    if resamples == 0 || items.is_empty() {
        return Err(MetricError::InvalidConfig(
            "the bootstrap needs at least one resample and one item".into(),
        ));
    }
    let n = items.len();
    let draws: Vec<f64> = (0..resamples)
        .into_par_iter()
        .map(|b| {
            let mut rng = rng_for(seed, b);
            let sample: Vec<&T> = (0..n).map(|_| &items[rng.random_range(0..n)]).collect();
            stat(&sample)
        })
        .collect();
    Ok(interval_of(draws, 0.95))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::bleu::{Bleu, BleuConfig};
    use crate::text::corpus_stats;

    #[test]
    fn bounds_follow_sacrebleus_index_rule() {
        let scores: Vec<f64> = (0..1000).rev().map(|x| x as f64).collect();
        let iv = interval_of(scores, 0.95);
        assert_eq!(iv.low, 25.0); // 1000 // 40
        assert_eq!(iv.high, 974.0); // 1000 - 25 - 1
        assert!((iv.mean - 499.5).abs() < 1e-12);
    }

    #[test]
    fn interval_brackets_the_score_and_is_seeded() {
        let hyps: Vec<String> = (0..200)
            .map(|i| format!("the cat {i} sat on mat {}", i % 7))
            .collect();
        let refs: Vec<String> = (0..200)
            .map(|i| format!("the cat {i} sat on the mat {}", i % 5))
            .collect();
        let bleu = Bleu::new(BleuConfig::default()).unwrap();
        let st = corpus_stats(&bleu, &hyps, &[refs]).unwrap();
        let score = bleu.values(&st.totals(), st.len())[0];
        let cfg = BootstrapConfig {
            n_resamples: 200,
            ..Default::default()
        };
        let a = bootstrap_ci(&bleu, &st, &cfg).unwrap()[0];
        let b = bootstrap_ci(&bleu, &st, &cfg).unwrap()[0];
        assert_eq!(a, b);
        assert!(a.low < score && score < a.high, "{a:?} vs {score}");
        let c = bootstrap_ci(&bleu, &st, &BootstrapConfig { seed: 7, ..cfg }).unwrap()[0];
        assert_ne!(a, c);
    }
}
