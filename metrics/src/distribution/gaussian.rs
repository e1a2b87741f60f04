//! Streaming Gaussian statistics of features: mean and covariance, mergeable across shards.
//!
//! The accumulator keeps `n`, the mean and the centred scatter matrix M2 = Σ (x - μ)(x - μ)ᵀ
//! in f64, and merges with Chan, Golub and LeVeque's pairwise update
//! (M2 = M2a + M2b + δδᵀ·na·nb/n): unlike raw sums Σx, Σxxᵀ it does not lose digits when the
//! mean is large against the spread. Each batch is centred on its own mean first (two-pass).
//! Raw sums, as stats files store them, are derived on demand.

use super::device::{gram_f64, Device};
use super::Features;
use crate::MetricError;
use nalgebra::{DMatrix, DVector};

#[derive(Debug, Clone, PartialEq)]
pub struct GaussianStats {
    pub n: usize,
    pub mean: DVector<f64>,
    /// Σ (x - mean)(x - mean)ᵀ.
    pub m2: DMatrix<f64>,
}

impl GaussianStats {
    pub fn new(dim: usize) -> Self {
        GaussianStats {
            n: 0,
            mean: DVector::zeros(dim),
            m2: DMatrix::zeros(dim, dim),
        }
    }

    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Statistics of one batch, on the CPU.
    pub fn of(batch: &Features) -> Self {
        Self::of_on(batch, &Device::Cpu).expect("the CPU device does not fail")
    }

    /// Statistics of one batch, with the scatter products on `device`. Rows are taken in
    /// chunks (each centred on its own mean, its XᵀX a device GEMM, then merged), so the f64
    /// staging memory is bounded by the chunk, not by the batch.
    pub fn of_on(batch: &Features, device: &Device) -> Result<Self, MetricError> {
        // About 128 MB of f64 per chunk, and at least 256 rows so the GEMM stays efficient.
        Self::of_chunked(batch, device, (16_000_000 / batch.dim).max(256))
    }

    fn of_chunked(batch: &Features, device: &Device, chunk: usize) -> Result<Self, MetricError> {
        let dim = batch.dim;
        let mut acc = GaussianStats::new(dim);
        let mut start = 0;
        while start < batch.rows {
            let len = chunk.min(batch.rows - start);
            let mut x = batch.rows_f64(start, len);
            let mut mean = vec![0.0f64; dim];
            for row in x.chunks_exact(dim) {
                for (m, v) in mean.iter_mut().zip(row) {
                    *m += v;
                }
            }
            mean.iter_mut().for_each(|m| *m /= len as f64);
            for row in x.chunks_exact_mut(dim) {
                for (v, m) in row.iter_mut().zip(&mean) {
                    *v -= m;
                }
            }
            let m2 = gram_f64(x, len, dim, device)?;
            acc.merge(&GaussianStats {
                n: len,
                mean: DVector::from_vec(mean),
                m2: DMatrix::from_vec(dim, dim, m2),
            })?;
            start += len;
        }
        Ok(acc)
    }

    pub fn update(&mut self, batch: &Features) -> Result<(), MetricError> {
        self.update_on(batch, &Device::Cpu)
    }

    pub fn update_on(&mut self, batch: &Features, device: &Device) -> Result<(), MetricError> {
        if batch.dim != self.dim() {
            return Err(MetricError::DimensionMismatch(self.dim(), batch.dim));
        }
        let b = GaussianStats::of_on(batch, device)?;
        self.merge(&b)
    }

    pub fn merge(&mut self, other: &GaussianStats) -> Result<(), MetricError> {
        if other.dim() != self.dim() {
            return Err(MetricError::DimensionMismatch(self.dim(), other.dim()));
        }
        if other.n == 0 {
            return Ok(());
        }
        if self.n == 0 {
            *self = other.clone();
            return Ok(());
        }
        let (na, nb) = (self.n as f64, other.n as f64);
        let n = na + nb;
        let delta = &other.mean - &self.mean;
        // In place (a rank-one update), since merges run once per chunk on d × d matrices.
        self.m2 += &other.m2;
        self.m2.ger(na * nb / n, &delta, &delta, 1.0);
        self.mean += delta * (nb / n);
        self.n += other.n;
        Ok(())
    }

    /// The fitted Gaussian: the mean and the sample covariance (what FD and stats files use).
    pub fn finalize(&self) -> Result<(DVector<f64>, DMatrix<f64>), MetricError> {
        Ok((self.mean.clone(), self.covariance()?))
    }

    /// The sample covariance with n - 1 in the denominator (numpy's `np.cov(rowvar=False)`).
    pub fn covariance(&self) -> Result<DMatrix<f64>, MetricError> {
        if self.n < 2 {
            return Err(MetricError::TooFewSamples {
                what: "a covariance",
                need: 2,
                got: self.n,
            });
        }
        Ok(&self.m2 / (self.n as f64 - 1.0))
    }

    /// Σx, as mergeable stats files store it.
    pub fn sum(&self) -> DVector<f64> {
        &self.mean * self.n as f64
    }

    /// Σxxᵀ, as mergeable stats files store it.
    pub fn outer(&self) -> DMatrix<f64> {
        &self.m2 + (&self.mean * self.mean.transpose()) * self.n as f64
    }

    /// Rebuild from raw sums (n, Σx, Σxxᵀ).
    pub fn from_sums(n: usize, sum: DVector<f64>, outer: DMatrix<f64>) -> Self {
        let mean = if n > 0 {
            sum / n as f64
        } else {
            DVector::zeros(outer.nrows())
        };
        let m2 = &outer - (&mean * mean.transpose()) * n as f64;
        GaussianStats { n, mean, m2 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feats(rows: usize, dim: usize, seed: u64, offset: f64) -> Features {
        let mut x = seed;
        let data = (0..rows * dim)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                offset + ((x >> 11) as f64 / (1u64 << 53) as f64)
            })
            .collect();
        Features::new(rows, dim, data).unwrap()
    }

    #[test]
    fn merged_shards_equal_the_whole() {
        let all = feats(300, 5, 1, 1000.0);
        let whole = GaussianStats::of(&all);
        let mut acc = GaussianStats::new(5);
        for chunk in [0..17, 17..100, 100..299, 299..300] {
            let idx: Vec<usize> = chunk.collect();
            acc.update(&all.select(&idx)).unwrap();
        }
        assert_eq!(acc.n, 300);
        let (a, b) = (acc.finalize().unwrap().1, whole.covariance().unwrap());
        assert!((a - &b).abs().max() < 1e-12 * b.abs().max(), "merge drifts");
        assert!((acc.mean - whole.mean).abs().max() < 1e-9);
    }

    #[test]
    fn chunked_statistics_equal_one_pass() {
        let all = feats(100, 6, 5, -20.0);
        let one = GaussianStats::of_chunked(&all, &Device::Cpu, 1000).unwrap();
        let many = GaussianStats::of_chunked(&all, &Device::Cpu, 7).unwrap();
        assert_eq!(many.n, 100);
        assert!((&many.m2 - &one.m2).abs().max() < 1e-11 * one.m2.abs().max());
        assert!((&many.mean - &one.mean).abs().max() < 1e-13);
    }

    #[test]
    fn covariance_matches_the_two_pass_formula() {
        let f = feats(50, 3, 9, 0.0);
        let c = GaussianStats::of(&f).covariance().unwrap();
        let mean: Vec<f64> = (0..3)
            .map(|j| (0..50).map(|i| f.get(i, j)).sum::<f64>() / 50.0)
            .collect();
        let c01: f64 = (0..50)
            .map(|i| (f.get(i, 0) - mean[0]) * (f.get(i, 1) - mean[1]))
            .sum::<f64>()
            / 49.0;
        assert!((c[(0, 1)] - c01).abs() < 1e-15);
        assert!(GaussianStats::of(&feats(1, 3, 1, 0.0))
            .covariance()
            .is_err());
    }

    #[test]
    fn raw_sums_round_trip() {
        let s = GaussianStats::of(&feats(40, 4, 3, 2.0));
        let back = GaussianStats::from_sums(s.n, s.sum(), s.outer());
        assert!((back.m2 - &s.m2).abs().max() < 1e-9);
    }
}
