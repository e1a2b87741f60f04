//! Bootstrap intervals for two-sample metrics: resample the rows of both sets with
//! replacement (seeded, one independent stream per resample) and recompute the metric.

use super::Features;
use crate::stats::bootstrap::{interval_of, Interval};
use crate::MetricError;
use rand::Rng;
use rayon::prelude::*;

/// A percentile interval (sacrebleu's index rule, 95%) for each value `metric` returns.
pub fn bootstrap_rows<F>(
    real: &Features,
    fake: &Features,
    resamples: usize,
    seed: u64,
    metric: F,
) -> Result<Vec<Interval>, MetricError>
where
    F: Fn(&Features, &Features) -> Result<Vec<f64>, MetricError> + Sync,
{
    if resamples == 0 {
        return Err(MetricError::InvalidConfig(
            "the bootstrap needs at least one resample".into(),
        ));
    }
    // The resamples run one per core; the system BLAS (feature `lapack`) must not add its own
    // threads on top.
    #[cfg(feature = "lapack")]
    let _one_blas_thread =
        (rayon::current_num_threads() > 1).then(super::system_lapack::OneThreadPerCall::new);
    let draws: Vec<Vec<f64>> = (0..resamples)
        .into_par_iter()
        .map(|b| {
            let mut rng = crate::stats::rng_for(seed, b);
            let ia: Vec<usize> = (0..real.rows)
                .map(|_| rng.random_range(0..real.rows))
                .collect();
            let ib: Vec<usize> = (0..fake.rows)
                .map(|_| rng.random_range(0..fake.rows))
                .collect();
            metric(&real.select(&ia), &fake.select(&ib))
        })
        .collect::<Result<_, _>>()?;
    let k = draws[0].len();
    Ok((0..k)
        .map(|v| interval_of(draws.iter().map(|d| d[v]).collect(), 0.95))
        .collect())
}
