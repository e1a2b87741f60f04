//! Precision, recall, density and coverage of generated samples against real ones
//! (Naeem et al. 2020, the `prdc` package: strict `<` against k-NN radii), and the
//! Kynkäänniemi et al. 2019 improved precision/recall (`<=`, usually k = 3).
//!
//! Neighbours are exact. Distances are computed block by block (rows of one set against all
//! of the other) as sklearn's euclidean distances do (‖x‖² + ‖y‖² - 2xᵀy, clamped at 0), so
//! memory grows with the block and the set size, never with the product of the set sizes.

use super::Features;
use crate::MetricError;
use nalgebra::DMatrix;
use rayon::prelude::*;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PrdcVariant {
    /// Naeem et al. 2020 / `prdc`: inside a ball means distance < radius.
    Naeem,
    /// Kynkäänniemi et al. 2019: distance <= radius.
    Kynkaanniemi,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrdcConfig {
    pub k: usize,
    pub variant: PrdcVariant,
    /// Rows per distance block.
    pub block: usize,
}

impl Default for PrdcConfig {
    fn default() -> Self {
        PrdcConfig {
            k: 5,
            variant: PrdcVariant::Naeem,
            block: 512,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Prdc {
    pub precision: f64,
    pub recall: f64,
    pub density: f64,
    pub coverage: f64,
}

/// Euclidean distances from rows `start..start+len` of `a` to every row of `b`.
fn distance_block(
    a: &DMatrix<f64>,
    a_norms: &[f64],
    start: usize,
    len: usize,
    b: &DMatrix<f64>,
    b_norms: &[f64],
) -> DMatrix<f64> {
    let ab = a.rows(start, len) * b.transpose();
    DMatrix::from_fn(len, b.nrows(), |i, j| {
        (a_norms[start + i] + b_norms[j] - 2.0 * ab[(i, j)])
            .max(0.0)
            .sqrt()
    })
}

fn norms(m: &DMatrix<f64>) -> Vec<f64> {
    m.row_iter().map(|r| r.norm_squared()).collect()
}

/// Distance from each row to its k-th nearest *other* row (the (k+1)-th smallest distance,
/// counting the row itself at 0), as `prdc.compute_nearest_neighbour_distances`.
pub fn knn_radii(x: &Features, k: usize, block: usize) -> Result<Vec<f64>, MetricError> {
    if x.rows <= k {
        return Err(MetricError::TooFewSamples {
            what: "k-nearest-neighbour radii (k + 1)",
            need: k + 1,
            got: x.rows,
        });
    }
    let m = x.matrix();
    let n = norms(&m);
    let starts: Vec<usize> = (0..x.rows).step_by(block.max(1)).collect();
    let parts: Vec<Vec<f64>> = starts
        .par_iter()
        .map(|&s| {
            let len = block.max(1).min(x.rows - s);
            let d = distance_block(&m, &n, s, len, &m, &n);
            (0..len)
                .map(|i| {
                    let mut row: Vec<f64> = d.row(i).iter().cloned().collect();
                    row[s + i] = 0.0; // sklearn sets the self-distance to exactly 0
                    *row.select_nth_unstable_by(k, f64::total_cmp).1
                })
                .collect()
        })
        .collect();
    Ok(parts.concat())
}

pub fn prdc(real: &Features, fake: &Features, cfg: &PrdcConfig) -> Result<Prdc, MetricError> {
    real.same_dim(fake)?;
    if cfg.k == 0 {
        return Err(MetricError::InvalidConfig("k must be at least 1".into()));
    }
    let r_real = knn_radii(real, cfg.k, cfg.block)?;
    let r_fake = knn_radii(fake, cfg.k, cfg.block)?;
    let inside = |d: f64, r: f64| match cfg.variant {
        PrdcVariant::Naeem => d < r,
        PrdcVariant::Kynkaanniemi => d <= r,
    };
    let (rm, fm) = (real.matrix(), fake.matrix());
    let (rn, fnorm) = (norms(&rm), norms(&fm));
    let block = cfg.block.max(1);
    let starts: Vec<usize> = (0..real.rows).step_by(block).collect();
    // Per real block: (recall hits, coverage hits, per-fake counts of real balls containing it).
    let (recall_hits, coverage_hits, fake_counts) = starts
        .par_iter()
        .map(|&s| {
            let len = block.min(real.rows - s);
            let d = distance_block(&rm, &rn, s, len, &fm, &fnorm);
            let mut counts = vec![0u32; fake.rows];
            let (mut rec, mut cov) = (0usize, 0usize);
            for i in 0..len {
                let row = d.row(i);
                let ri = r_real[s + i];
                let mut any_fake_ball = false;
                let mut nearest = f64::INFINITY;
                for (j, &dij) in row.iter().enumerate() {
                    if inside(dij, ri) {
                        counts[j] += 1;
                    }
                    any_fake_ball |= inside(dij, r_fake[j]);
                    nearest = nearest.min(dij);
                }
                rec += any_fake_ball as usize;
                cov += (nearest < ri) as usize;
            }
            (rec, cov, counts)
        })
        .reduce(
            || (0, 0, vec![0u32; fake.rows]),
            |mut a, b| {
                a.0 += b.0;
                a.1 += b.1;
                for (x, y) in a.2.iter_mut().zip(&b.2) {
                    *x += y;
                }
                a
            },
        );
    let nf = fake.rows as f64;
    Ok(Prdc {
        precision: fake_counts.iter().filter(|&&c| c > 0).count() as f64 / nf,
        recall: recall_hits as f64 / real.rows as f64,
        density: fake_counts.iter().map(|&c| c as f64).sum::<f64>() / (cfg.k as f64 * nf),
        coverage: coverage_hits as f64 / real.rows as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(n: usize, offset: f64) -> Features {
        // Points on a line, 1 apart.
        Features::new(
            n,
            2,
            (0..n).flat_map(|i| vec![i as f64 + offset, 0.0]).collect(),
        )
        .unwrap()
    }

    #[test]
    fn radii_are_kth_neighbour_distances() {
        let r = knn_radii(&grid(6, 0.0), 2, 4).unwrap();
        // Endpoints: 2nd nearest other point is 2 away; inner points: 1 away.
        assert_eq!(r, vec![2.0, 1.0, 1.0, 1.0, 1.0, 2.0]);
    }

    #[test]
    fn identical_sets_cover_everything_and_far_sets_nothing() {
        let a = grid(20, 0.0);
        let p = prdc(
            &a,
            &a.clone(),
            &PrdcConfig {
                k: 3,
                block: 7,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!((p.precision, p.recall, p.coverage), (1.0, 1.0, 1.0));
        let far = grid(20, 1000.0);
        let q = prdc(
            &a,
            &far,
            &PrdcConfig {
                k: 3,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            (q.precision, q.recall, q.density, q.coverage),
            (0.0, 0.0, 0.0, 0.0)
        );
    }

    #[test]
    fn strict_and_inclusive_balls_differ_on_the_boundary() {
        // Real points 0..4 on a line have 1-NN radius 1; a fake point at -1 lies exactly on
        // the ball of point 0, and one at 50 is far from everything.
        let real = grid(5, 0.0);
        let fake = Features::new(2, 2, vec![-1.0, 0.0, 50.0, 0.0]).unwrap();
        let strict = prdc(
            &real,
            &fake,
            &PrdcConfig {
                k: 1,
                ..Default::default()
            },
        )
        .unwrap();
        let incl = prdc(
            &real,
            &fake,
            &PrdcConfig {
                k: 1,
                variant: PrdcVariant::Kynkaanniemi,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(strict.precision, 0.0);
        assert_eq!(incl.precision, 0.5);
    }
}
