//! Paired significance tests between a baseline and a system on the same segments and
//! references, as sacrebleu defines them (after Koehn 2004 and Riezler and Maxwell 2005):
//!
//! - paired bootstrap resampling: both systems are scored on the same resamples; the p-value
//!   is (c + 1) / (B + 1), where c counts resamples whose centred absolute difference exceeds
//!   the observed absolute difference;
//! - paired approximate randomization: each trial swaps the two systems' outputs on a random
//!   half of the segments; the p-value is (c + 1) / (T + 1), c counting trials whose absolute
//!   difference exceeds the observed one.

use super::bootstrap::{interval_of, sum_rows, Interval};
use super::rng_for;
use crate::text::{SegmentMetric, StatsTable};
use crate::MetricError;
use rand::Rng;
use rayon::prelude::*;
use serde::Serialize;

/// Which paired test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PairedTest {
    /// Paired bootstrap resampling (sacrebleu `--paired-bs`, default 1000 resamples).
    #[serde(rename = "paired-bs")]
    Bootstrap,
    /// Paired approximate randomization (sacrebleu `--paired-ar`, default 10000 trials).
    #[serde(rename = "paired-ar")]
    Randomization,
}

impl PairedTest {
    pub fn default_samples(self) -> usize {
        match self {
            PairedTest::Bootstrap => 1000,
            PairedTest::Randomization => 10000,
        }
    }
}

/// The outcome of comparing one system with the baseline, for one metric value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairedResult {
    pub baseline: f64,
    pub system: f64,
    pub p_value: f64,
    /// The system's bootstrap interval (paired bootstrap only).
    pub system_interval: Option<Interval>,
}

fn p_value(null_stats: impl Iterator<Item = f64>, observed: f64, trials: usize) -> f64 {
    // "!=" matters: a system compared with itself must not look significant (multeval).
    let c = null_stats.filter(|&s| s > observed).count();
    (c as f64 + 1.0) / (trials as f64 + 1.0)
}

fn check(baseline: &StatsTable, system: &StatsTable, samples: usize) -> Result<(), MetricError> {
    if baseline.len() != system.len() {
        return Err(MetricError::SystemLengthMismatch(
            baseline.len(),
            system.len(),
        ));
    }
    if baseline.is_empty() {
        return Err(MetricError::Empty);
    }
    if samples == 0 {
        return Err(MetricError::InvalidConfig(
            "a paired test needs at least one sample".into(),
        ));
    }
    Ok(())
}

/// Run `test` with `samples` resamples or trials; one result per metric value.
pub fn paired_test<M: SegmentMetric + ?Sized>(
    metric: &M,
    baseline: &StatsTable,
    system: &StatsTable,
    test: PairedTest,
    samples: usize,
    seed: u64,
) -> Result<Vec<PairedResult>, MetricError> {
    check(baseline, system, samples)?;
    let n = baseline.len();
    let bl_values = metric.values(&baseline.totals(), n);
    let sys_values = metric.values(&system.totals(), n);
    let k = bl_values.len();

    // For every sample, the values of the two (pseudo-)systems.
    let pairs: Vec<(Vec<f64>, Vec<f64>)> = match test {
        PairedTest::Bootstrap => (0..samples)
            .into_par_iter()
            .map(|b| {
                let mut rng = rng_for(seed, b);
                let idx: Vec<usize> = (0..n).map(|_| rng.random_range(0..n)).collect();
                let tb = sum_rows(baseline, idx.iter().copied());
                let ts = sum_rows(system, idx.iter().copied());
                (metric.values(&tb, n), metric.values(&ts, n))
            })
            .collect(),
        PairedTest::Randomization => {
            let (tot_b, tot_s) = (baseline.totals(), system.totals());
            (0..samples)
                .into_par_iter()
                .map(|t| {
                    let mut rng = rng_for(seed, t);
                    // a = baseline where the coin says so, system elsewhere; b = the rest.
                    let mut a = tot_s.clone();
                    for i in 0..n {
                        if rng.random::<bool>() {
                            for ((x, p), q) in a.iter_mut().zip(baseline.row(i)).zip(system.row(i))
                            {
                                *x += p - q;
                            }
                        }
                    }
                    let b: Vec<f64> = tot_b
                        .iter()
                        .zip(&tot_s)
                        .zip(&a)
                        .map(|((p, q), x)| p + q - x)
                        .collect();
                    (metric.values(&a, n), metric.values(&b, n))
                })
                .collect()
        }
    };

    Ok((0..k)
        .map(|v| {
            let observed = (bl_values[v] - sys_values[v]).abs();
            let diffs: Vec<f64> = pairs.iter().map(|(x, y)| (y[v] - x[v]).abs()).collect();
            let (p, interval) = match test {
                PairedTest::Bootstrap => {
                    let mean = diffs.iter().sum::<f64>() / diffs.len() as f64;
                    let p = p_value(diffs.iter().map(|d| d - mean), observed, samples);
                    let sys: Vec<f64> = pairs.iter().map(|(_, y)| y[v]).collect();
                    (p, Some(interval_of(sys, 0.95)))
                }
                PairedTest::Randomization => (p_value(diffs.into_iter(), observed, samples), None),
            };
            PairedResult {
                baseline: bl_values[v],
                system: sys_values[v],
                p_value: p,
                system_interval: interval,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::bleu::{Bleu, BleuConfig};
    use crate::text::corpus_stats;

    fn corpus() -> (Vec<String>, Vec<String>, Vec<String>) {
        let refs: Vec<String> = (0..300)
            .map(|i| format!("the quick brown fox {i} jumps over the lazy dog"))
            .collect();
        let good: Vec<String> = (0..300)
            .map(|i| format!("the quick brown fox {i} jumps over a lazy dog"))
            .collect();
        let bad: Vec<String> = (0..300)
            .map(|i| format!("a slow fox {i} walks past the dog"))
            .collect();
        (refs, good, bad)
    }

    #[test]
    fn systems_of_equal_quality_are_not_significant() {
        // Each system is good on the segments where the other is bad.
        let (refs, good, bad) = corpus();
        let pick = |parity| -> Vec<String> {
            (0..good.len())
                .map(|i| {
                    if i % 2 == parity {
                        good[i].clone()
                    } else {
                        bad[i].clone()
                    }
                })
                .collect()
        };
        let (good, near) = (pick(0), pick(1));
        let bleu = Bleu::new(BleuConfig::default()).unwrap();
        let rs = [refs];
        let a = corpus_stats(&bleu, &good, &rs).unwrap();
        let b = corpus_stats(&bleu, &near, &rs).unwrap();
        for test in [PairedTest::Bootstrap, PairedTest::Randomization] {
            let r = &paired_test(&bleu, &a, &b, test, 500, 1).unwrap()[0];
            assert!(r.p_value > 0.05, "{test:?}: {}", r.p_value);
        }
    }

    #[test]
    fn identical_systems_get_the_smallest_p_as_in_sacrebleu() {
        // sacrebleu counts null statistics strictly greater than the observed difference;
        // with identical systems every statistic is 0, so p = 1 / (B + 1). Kept for parity.
        let (refs, good, _) = corpus();
        let bleu = Bleu::new(BleuConfig::default()).unwrap();
        let st = corpus_stats(&bleu, &good, &[refs]).unwrap();
        for test in [PairedTest::Bootstrap, PairedTest::Randomization] {
            let r = &paired_test(&bleu, &st, &st, test, 100, 1).unwrap()[0];
            assert_eq!(r.p_value, 1.0 / 101.0, "{test:?}");
        }
    }

    #[test]
    fn a_much_better_system_is_significant() {
        let (refs, good, bad) = corpus();
        let bleu = Bleu::new(BleuConfig::default()).unwrap();
        let rs = [refs];
        let b = corpus_stats(&bleu, &bad, &rs).unwrap();
        let g = corpus_stats(&bleu, &good, &rs).unwrap();
        for test in [PairedTest::Bootstrap, PairedTest::Randomization] {
            let r = &paired_test(&bleu, &b, &g, test, 500, 1).unwrap()[0];
            assert!(r.system > r.baseline);
            assert!(
                (r.p_value - 1.0 / 501.0).abs() < 1e-12,
                "{test:?}: {}",
                r.p_value
            );
        }
    }

    #[test]
    fn different_lengths_are_an_error() {
        let bleu = Bleu::new(BleuConfig::default()).unwrap();
        let a = corpus_stats(&bleu, &["a"], &[vec!["a"]]).unwrap();
        let b = corpus_stats(&bleu, &["a", "b"], &[vec!["a", "b"]]).unwrap();
        assert!(paired_test(&bleu, &a, &b, PairedTest::Bootstrap, 10, 0).is_err());
    }
}
