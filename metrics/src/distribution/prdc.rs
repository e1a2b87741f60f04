//! Precision, recall, density and coverage of generated samples against real ones
//! (Naeem et al. 2020, the `prdc` package: strict `<` against k-NN radii), and the
//! Kynkäänniemi et al. 2019 improved precision/recall (`<=`, usually k = 3).
//!
//! Neighbours are exact: distances are those sklearn computes in f64 (‖x‖² + ‖y‖² - 2xᵀy,
//! clamped at 0), but only where an f32 screen with a certified error bound cannot decide.
//! Products are computed block by block (rows of one set against all of the other) on the
//! chosen device, so memory grows with the block and the set sizes, never with their product.

use super::device::{cross, device_err, host_cross, upload, Device};
use super::Features;
use crate::MetricError;
use candle_core::{DType, Tensor};
use rayon::prelude::*;
use serde::Serialize;
use std::borrow::Cow;

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
    /// Rows per distance block (0: about 32 MB of products per block).
    pub block: usize,
}

impl Default for PrdcConfig {
    fn default() -> Self {
        PrdcConfig {
            k: 5,
            variant: PrdcVariant::Naeem,
            block: 0,
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

/// Squared distances from an f32 GEMM, each with a certified bound on its distance from the
/// f64 value, so that only pairs too close to a radius to call are recomputed in f64.
///
/// The f32 product of rows a, b (after rounding each value to f32 if it was f64) differs from
/// the f64 one by at most (γ_d + 2u + u²)·‖a‖‖b‖ with u = 2⁻²⁴ and γ_d = d·u / (1 - d·u)
/// (Higham, Accuracy and Stability of Numerical Algorithms, §3.1; the dot product is bounded by
/// Σ|aᵢbᵢ| ≤ ‖a‖‖b‖). The f64 values themselves carry (d + 8)·ε·(‖a‖² + ‖b‖²) of round-off,
/// added so that f64 ties are always rechecked.
struct Screen {
    /// Bound on |f32 dot - f64 dot| / (‖a‖‖b‖), with a 5% margin.
    dot_rel: f64,
    /// Bound on the f64 round-off of ‖a‖² + ‖b‖² - 2aᵀb, relative to ‖a‖² + ‖b‖².
    f64_rel: f64,
}

impl Screen {
    fn new(dim: usize) -> Self {
        let u = f32::EPSILON as f64 / 2.0;
        let du = dim as f64 * u;
        Screen {
            dot_rel: 1.05 * (du / (1.0 - du) + 2.0 * u + u * u),
            f64_rel: (dim as f64 + 8.0) * f64::EPSILON,
        }
    }

    /// (approximate squared distance, bound on its error).
    #[inline]
    fn approx(&self, na: f64, la: f64, nb: f64, lb: f64, dot: f32) -> (f64, f64) {
        let d2 = na + nb - 2.0 * dot as f64;
        (d2, 2.0 * self.dot_rel * la * lb + self.f64_rel * (na + nb))
    }
}

/// What the screen can say about distance < radius (or <=).
#[derive(PartialEq)]
enum Call {
    Inside,
    Outside,
    Recheck,
}

/// Compare an approximate squared distance against a radius (`r2` = radius²). The margin of
/// 8ε on r² keeps the answer right after both sides go through a square root.
#[inline]
fn call(d2: f64, err: f64, r2: f64) -> Call {
    let margin = 8.0 * f64::EPSILON * r2 + f64::MIN_POSITIVE;
    if d2 + err < r2 - margin {
        Call::Inside
    } else if d2 - err > r2 + margin {
        Call::Outside
    } else {
        Call::Recheck
    }
}

/// The f64 distance sklearn computes: √max(0, ‖a‖² + ‖b‖² - 2aᵀb).
#[inline]
fn exact_distance(a: &Features, i: usize, na: f64, b: &Features, j: usize, nb: f64) -> f64 {
    (na + nb - 2.0 * a.dot(i, b, j)).max(0.0).sqrt()
}

/// Where a set's f32 values live for the products: read in place on the CPU (f64 features
/// get one f32 copy), or uploaded once to another device.
enum Store<'a> {
    Host(Cow<'a, [f32]>),
    Device(Tensor),
}

/// A feature set ready for f32 products, with its f64 squared norms.
struct Resident<'a> {
    f: &'a Features,
    store: Store<'a>,
    norms: Vec<f64>,
    lengths: Vec<f64>,
}

impl<'a> Resident<'a> {
    fn new(f: &'a Features, device: &Device) -> Result<Self, MetricError> {
        Self::with_route(f, device, device.is_cpu())
    }

    /// `host`: products in place with faer (the CPU route); otherwise as candle tensors on
    /// `device` (the GPU route, which tests also run on the CPU).
    fn with_route(f: &'a Features, device: &Device, host: bool) -> Result<Self, MetricError> {
        let norms = f.squared_norms();
        let lengths = norms.iter().map(|v| v.sqrt()).collect();
        let store = if host {
            Store::Host(match f.as_f32() {
                Some(v) => Cow::Borrowed(v),
                None => Cow::Owned(f.rows_f32(0, f.rows)),
            })
        } else {
            Store::Device(upload(f, 0, f.rows, DType::F32, device)?)
        };
        Ok(Resident {
            f,
            store,
            norms,
            lengths,
        })
    }

    /// f32 products of rows `start..start+len` with every row of `other`, row-major
    /// (`len` rows of `other.f.rows`).
    fn products(
        &self,
        start: usize,
        len: usize,
        other: &Resident,
    ) -> Result<Vec<f32>, MetricError> {
        self.products_with(start, len, other, 0, other.f.rows)
    }

    /// f32 products of rows `start..start+len` with rows `ostart..ostart+olen` of `other`,
    /// row-major (`len` rows of `olen`).
    fn products_with(
        &self,
        start: usize,
        len: usize,
        other: &Resident,
        ostart: usize,
        olen: usize,
    ) -> Result<Vec<f32>, MetricError> {
        match (&self.store, &other.store) {
            (Store::Host(a), Store::Host(b)) => {
                // On the CPU, faer reads both sets in place (no copies of the sets: PRDC at
                // 10,000 x 2048 stays within a few hundred MB).
                let d = self.f.dim;
                Ok(host_cross(
                    &a[start * d..(start + len) * d],
                    len,
                    &b[ostart * d..(ostart + olen) * d],
                    olen,
                    d,
                ))
            }
            (Store::Device(a), Store::Device(b)) => cross(
                &a.narrow(0, start, len).map_err(device_err)?,
                &b.narrow(0, ostart, olen).map_err(device_err)?,
            ),
            _ => unreachable!("both sets of one computation are on one device"),
        }
    }
}

/// Rows per GEMM block: about 32 MB of f32 products.
fn block_rows(cfg_block: usize, other_rows: usize) -> usize {
    if cfg_block > 0 {
        cfg_block
    } else {
        (8_000_000 / other_rows.max(1)).clamp(64, 4096)
    }
}

/// Distance from each row to its k-th nearest *other* row (the (k+1)-th smallest distance,
/// counting the row itself at 0), as `prdc.compute_nearest_neighbour_distances`.
pub fn knn_radii(x: &Features, k: usize, block: usize) -> Result<Vec<f64>, MetricError> {
    knn_radii_on(x, k, block, &Device::Cpu)
}

pub fn knn_radii_on(
    x: &Features,
    k: usize,
    block: usize,
    device: &Device,
) -> Result<Vec<f64>, MetricError> {
    if x.rows <= k {
        return Err(MetricError::TooFewSamples {
            what: "k-nearest-neighbour radii (k + 1)",
            need: k + 1,
            got: x.rows,
        });
    }
    radii(&Resident::new(x, device)?, k, block)
}

/// What one row knows of its neighbours while blocks stream past: the k + 1 smallest upper
/// bounds seen (sorted), and every row whose lower bound is under the largest of them (the
/// only rows that can turn out among the k + 1 nearest).
struct Neighbours {
    upper: Vec<f64>,
    candidates: Vec<(usize, f64)>,
}

impl Neighbours {
    fn new(k: usize) -> Self {
        Neighbours {
            upper: Vec::with_capacity(k + 1),
            candidates: Vec::new(),
        }
    }

    fn cut(&self, k: usize) -> f64 {
        if self.upper.len() > k {
            self.upper[k]
        } else {
            f64::INFINITY
        }
    }

    fn offer(&mut self, k: usize, j: usize, d2: f64, err: f64) {
        let (lo, hi) = (d2 - err, d2 + err);
        if hi < self.cut(k) {
            let at = self.upper.partition_point(|&u| u <= hi);
            self.upper.insert(at, hi);
            self.upper.truncate(k + 1);
        }
        let cut = self.cut(k);
        if lo <= cut {
            self.candidates.push((j, lo));
            if self.candidates.len() > 4 * (k + 1) + 32 {
                self.candidates.retain(|&(_, l)| l <= cut);
            }
        }
    }
}

/// k-NN radii of a set against itself. Xᵢ·Xⱼ = Xⱼ·Xᵢ, so only block pairs (I, J ≤ I) are
/// multiplied (half the products), each product feeding the rows of both blocks.
fn radii(x: &Resident, k: usize, block: usize) -> Result<Vec<f64>, MetricError> {
    let n = x.f.rows;
    let screen = Screen::new(x.f.dim);
    // Square blocks of about 16 MB of products.
    let block = if block > 0 { block } else { 2048 };
    let mut rows: Vec<Neighbours> = (0..n).map(|_| Neighbours::new(k)).collect();
    let starts: Vec<usize> = (0..n).step_by(block).collect();
    let offer = |nb: &mut Neighbours, i: usize, j: usize, dot: f32| {
        if i == j {
            nb.offer(k, j, 0.0, 0.0); // sklearn sets the self-distance to exactly 0
        } else {
            let (d2, err) = screen.approx(x.norms[i], x.lengths[i], x.norms[j], x.lengths[j], dot);
            nb.offer(k, j, d2, err);
        }
    };
    for (bi, &si) in starts.iter().enumerate() {
        let li = block.min(n - si);
        for &sj in &starts[..=bi] {
            let lj = block.min(n - sj);
            let dots = x.products_with(si, li, x, sj, lj)?;
            rows[si..si + li]
                .par_iter_mut()
                .enumerate()
                .for_each(|(r, nb)| {
                    for (c, &dot) in dots[r * lj..(r + 1) * lj].iter().enumerate() {
                        offer(nb, si + r, sj + c, dot);
                    }
                });
            if sj != si {
                rows[sj..sj + lj]
                    .par_iter_mut()
                    .enumerate()
                    .for_each(|(c, nb)| {
                        for r in 0..li {
                            offer(nb, sj + c, si + r, dots[r * lj + c]);
                        }
                    });
            }
        }
    }
    Ok(rows
        .into_par_iter()
        .enumerate()
        .map(|(i, nb)| {
            let cut = nb.cut(k);
            let mut exact: Vec<f64> = nb
                .candidates
                .iter()
                .filter(|&&(_, lo)| lo <= cut)
                .map(|&(j, _)| {
                    if j == i {
                        0.0
                    } else {
                        exact_distance(x.f, i, x.norms[i], x.f, j, x.norms[j])
                    }
                })
                .collect();
            *exact.select_nth_unstable_by(k, f64::total_cmp).1
        })
        .collect())
}

pub fn prdc(real: &Features, fake: &Features, cfg: &PrdcConfig) -> Result<Prdc, MetricError> {
    prdc_on(real, fake, cfg, &Device::Cpu)
}

/// Per-block tallies: recall hits, coverage hits, and for each fake row the number of real
/// balls that contain it.
struct Tally {
    recall: usize,
    coverage: usize,
    counts: Vec<u32>,
}

impl Tally {
    fn new(n_fake: usize) -> Self {
        Tally {
            recall: 0,
            coverage: 0,
            counts: vec![0; n_fake],
        }
    }

    fn add(mut self, other: Tally) -> Tally {
        self.recall += other.recall;
        self.coverage += other.coverage;
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self
    }
}

/// PRDC with the distance products on `device`: f32 GEMMs screen every pair, and pairs the
/// screen cannot call are recomputed in f64, so neighbours and counts are those of an f64
/// computation (the `prdc` package's) at f32 speed.
pub fn prdc_on(
    real: &Features,
    fake: &Features,
    cfg: &PrdcConfig,
    device: &Device,
) -> Result<Prdc, MetricError> {
    real.same_dim(fake)?;
    if cfg.k == 0 {
        return Err(MetricError::InvalidConfig("k must be at least 1".into()));
    }
    for f in [real, fake] {
        if f.rows <= cfg.k {
            return Err(MetricError::TooFewSamples {
                what: "k-nearest-neighbour radii (k + 1)",
                need: cfg.k + 1,
                got: f.rows,
            });
        }
    }
    prdc_resident(
        &Resident::new(real, device)?,
        &Resident::new(fake, device)?,
        cfg,
    )
}

fn prdc_resident(r: &Resident, f: &Resident, cfg: &PrdcConfig) -> Result<Prdc, MetricError> {
    let (real, fake) = (r.f, f.f);
    let r_real = radii(r, cfg.k, cfg.block)?;
    let r_fake = radii(f, cfg.k, cfg.block)?;
    let r2_real: Vec<f64> = r_real.iter().map(|v| v * v).collect();
    let r2_fake: Vec<f64> = r_fake.iter().map(|v| v * v).collect();
    let inside = |d: f64, r: f64| match cfg.variant {
        PrdcVariant::Naeem => d < r,
        PrdcVariant::Kynkaanniemi => d <= r,
    };
    let screen = Screen::new(real.dim);
    let nf = fake.rows;
    let block = block_rows(cfg.block, nf);
    let mut total = Tally::new(nf);
    for s in (0..real.rows).step_by(block) {
        let len = block.min(real.rows - s);
        let dots = r.products(s, len, f)?;
        let t = dots
            .par_chunks_exact(nf)
            .enumerate()
            .fold(
                || Tally::new(nf),
                |mut t, (row, products)| {
                    let i = s + row;
                    let (ni, li, ri, r2i) = (r.norms[i], r.lengths[i], r_real[i], r2_real[i]);
                    let exact = |j: usize| exact_distance(real, i, ni, fake, j, f.norms[j]);
                    let (mut in_fake_ball, mut covered) = (false, false);
                    for (j, &dot) in products.iter().enumerate() {
                        let (d2, err) = screen.approx(ni, li, f.norms[j], f.lengths[j], dot);
                        let mut d = None; // the f64 distance, computed at most once
                        let mut exact_d = || *d.get_or_insert_with(|| exact(j));
                        match call(d2, err, r2i) {
                            Call::Inside => {
                                t.counts[j] += 1;
                                covered = true;
                            }
                            Call::Outside => {}
                            Call::Recheck => {
                                let dist = exact_d();
                                t.counts[j] += inside(dist, ri) as u32;
                                // Coverage is strict in both variants, as in `prdc`.
                                covered |= dist < ri;
                            }
                        }
                        if !in_fake_ball {
                            in_fake_ball = match call(d2, err, r2_fake[j]) {
                                Call::Inside => true,
                                Call::Outside => false,
                                Call::Recheck => inside(exact_d(), r_fake[j]),
                            };
                        }
                    }
                    t.recall += in_fake_ball as usize;
                    t.coverage += covered as usize;
                    t
                },
            )
            .reduce(|| Tally::new(nf), Tally::add);
        total = total.add(t);
    }
    let nf = nf as f64;
    Ok(Prdc {
        precision: total.counts.iter().filter(|&&c| c > 0).count() as f64 / nf,
        recall: total.recall as f64 / real.rows as f64,
        density: total.counts.iter().map(|&c| c as f64).sum::<f64>() / (cfg.k as f64 * nf),
        coverage: total.coverage as f64 / real.rows as f64,
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

    /// All pairs in f64, no screen: the definition the screened version must reproduce.
    fn brute_force(real: &Features, fake: &Features, k: usize, variant: PrdcVariant) -> Prdc {
        let dist = |a: &Features, i: usize, b: &Features, j: usize| {
            exact_distance(a, i, a.dot(i, a, i), b, j, b.dot(j, b, j))
        };
        let radii = |x: &Features| -> Vec<f64> {
            (0..x.rows)
                .map(|i| {
                    let mut d: Vec<f64> = (0..x.rows)
                        .map(|j| if i == j { 0.0 } else { dist(x, i, x, j) })
                        .collect();
                    d.sort_by(f64::total_cmp);
                    d[k]
                })
                .collect()
        };
        let (rr, rf) = (radii(real), radii(fake));
        let inside = |d: f64, r: f64| match variant {
            PrdcVariant::Naeem => d < r,
            PrdcVariant::Kynkaanniemi => d <= r,
        };
        let d: Vec<Vec<f64>> = (0..real.rows)
            .map(|i| (0..fake.rows).map(|j| dist(real, i, fake, j)).collect())
            .collect();
        let counts: Vec<usize> = (0..fake.rows)
            .map(|j| (0..real.rows).filter(|&i| inside(d[i][j], rr[i])).count())
            .collect();
        let (nr, nf) = (real.rows as f64, fake.rows as f64);
        Prdc {
            precision: counts.iter().filter(|&&c| c > 0).count() as f64 / nf,
            recall: (0..real.rows)
                .filter(|&i| (0..fake.rows).any(|j| inside(d[i][j], rf[j])))
                .count() as f64
                / nr,
            density: counts.iter().sum::<usize>() as f64 / (k as f64 * nf),
            coverage: (0..real.rows)
                .filter(|&i| (0..fake.rows).any(|j| d[i][j] < rr[i]))
                .count() as f64
                / nr,
        }
    }

    #[test]
    fn the_f32_screen_never_changes_an_answer() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        // Values on a coarse grid make many exact ties between distances and radii (the
        // cases the screen must send to f64), and an f64 set with digits f32 cannot hold
        // exercises the input-rounding part of the bound.
        let mut grid = |rows: usize, dim: usize| {
            let v = (0..rows * dim)
                .map(|_| rng.random_range(0..3) as f32 - 1.0)
                .collect();
            Features::from_f32(rows, dim, v).unwrap()
        };
        let (a, b) = (grid(60, 12), grid(45, 12));
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
        let mut fine = |rows: usize, shift: f64| {
            let v = (0..rows * 40)
                .map(|_| shift + rng.random::<f64>() * 1e3 + rng.random::<f64>() * 1e-9)
                .collect();
            Features::new(rows, 40, v).unwrap()
        };
        let (c, d) = (fine(70, 0.0), fine(50, 30.0));
        // Fake points on the k-NN spheres of real ones, 1e-10 inside, exactly on, and 1e-10
        // outside: f32 cannot tell these apart, so only the bound and the f64 recheck can.
        let k = 5;
        let rc = knn_radii(&c, k, 0).unwrap();
        let mut near = Vec::new();
        for i in 0..30 {
            let m = (0..c.rows)
                .filter(|&j| j != i)
                .find(|&j| exact_distance(&c, i, c.dot(i, &c, i), &c, j, c.dot(j, &c, j)) == rc[i])
                .unwrap();
            let t = [1.0 - 1e-10, 1.0, 1.0 + 1e-10][i % 3];
            near.extend((0..40).map(|col| c.get(i, col) + (c.get(m, col) - c.get(i, col)) * t));
        }
        let e = Features::new(30, 40, near).unwrap();
        for (real, fake) in [(&a, &b), (&c, &d), (&c, &e)] {
            for (k, variant) in [(5, PrdcVariant::Naeem), (3, PrdcVariant::Kynkaanniemi)] {
                let cfg = PrdcConfig {
                    k,
                    variant,
                    block: 16,
                };
                let got = prdc(real, fake, &cfg).unwrap();
                assert_eq!(
                    got,
                    brute_force(real, fake, k, variant),
                    "k={k} {variant:?}"
                );
            }
        }
        // The GPU route (candle tensors), run on the CPU, gives the same answers.
        for (real, fake) in [(&a, &b), (&c, &e)] {
            let cfg = PrdcConfig {
                block: 16,
                ..Default::default()
            };
            let r = Resident::with_route(real, &Device::Cpu, false).unwrap();
            let f = Resident::with_route(fake, &Device::Cpu, false).unwrap();
            assert_eq!(
                prdc_resident(&r, &f, &cfg).unwrap(),
                prdc(real, fake, &cfg).unwrap()
            );
        }
        // The tied grid must really put pairs on the radii, or this test proves nothing.
        let r = knn_radii(&a, 5, 16).unwrap();
        let on_radius = (0..a.rows)
            .flat_map(|i| (0..b.rows).map(move |j| (i, j)))
            .filter(|&(i, j)| {
                let d = exact_distance(&a, i, a.dot(i, &a, i), &b, j, b.dot(j, &b, j));
                d == r[i]
            })
            .count();
        assert!(on_radius > 50, "{on_radius} pairs on a radius");
    }
}
