//! Kernel Inception Distance (Bińkowski et al. 2018) as torch-fidelity computes it: the
//! unbiased MMD² between random subsets of the two sets, averaged over subsets (mean and
//! population standard deviation). Default kernel (xᵀy/d + 1)³, 100 subsets of 1000.

use super::device::{device_err, host_cross, upload, Device};
use super::Features;
use crate::MetricError;
use candle_core::{DType, Tensor};
use rand::SeedableRng;
use rayon::prelude::*;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Kernel {
    /// (γ xᵀy + coef0)^degree; γ = 1/d when `None`.
    Polynomial {
        degree: i32,
        gamma: Option<f64>,
        coef0: f64,
    },
    /// exp(-|x - y|² / (2σ²)).
    Rbf { sigma: f64 },
}

impl Default for Kernel {
    fn default() -> Self {
        Kernel::Polynomial {
            degree: 3,
            gamma: None,
            coef0: 1.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KidConfig {
    pub subsets: usize,
    pub subset_size: usize,
    pub kernel: Kernel,
    pub seed: u64,
    /// Use each whole set once when a set is smaller than `subset_size`, instead of an error.
    pub whole_set_if_small: bool,
}

impl Default for KidConfig {
    fn default() -> Self {
        KidConfig {
            subsets: 100,
            subset_size: 1000,
            kernel: Kernel::default(),
            seed: crate::stats::DEFAULT_SEED,
            whole_set_if_small: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kid {
    pub mean: f64,
    pub std: f64,
    pub subset_values: Vec<f64>,
}

/// Σ K(xᵢ, yⱼ) over all pairs, with the products and the kernel on `device` in f64.
fn kernel_sum(x: &Tensor, y: &Tensor, dim: usize, k: Kernel) -> candle_core::Result<f64> {
    let xy = x.matmul(&y.t()?)?;
    let kxy = match k {
        Kernel::Polynomial {
            degree,
            gamma,
            coef0,
        } => {
            let base = xy.affine(gamma.unwrap_or(1.0 / dim as f64), coef0)?;
            match degree {
                d if d < 1 => base.powf(d as f64)?,
                d => {
                    let mut p = base.clone();
                    for _ in 1..d {
                        p = (p * &base)?;
                    }
                    p
                }
            }
        }
        Kernel::Rbf { sigma } => {
            let xx = x.sqr()?.sum_keepdim(1)?; // m × 1
            let yy = y.sqr()?.sum_keepdim(1)?.t()?; // 1 × n
            let d2 = xy
                .affine(-2.0, 0.0)?
                .broadcast_add(&xx)?
                .broadcast_add(&yy)?;
            d2.affine(-1.0 / (2.0 * sigma * sigma), 0.0)?.exp()?
        }
    };
    // Row sums on the device, then a compensated sum of those on the host: K's entries are all
    // about the same size and the MMD is a small difference of their sums, so a plain running
    // sum of m·n entries would lose the digits the MMD is made of.
    let rows = kxy.sum_keepdim(1)?.flatten_all()?.to_vec1::<f64>()?;
    Ok(neumaier_sum(&rows))
}

/// Σ v with Neumaier's compensation (error independent of the count, to first order).
fn neumaier_sum(v: &[f64]) -> f64 {
    let (mut sum, mut comp) = (0.0f64, 0.0f64);
    for &x in v {
        let t = sum + x;
        comp += if sum.abs() >= x.abs() {
            (sum - t) + x
        } else {
            (x - t) + sum
        };
        sum = t;
    }
    sum + comp
}

/// A set's rows in f64 with their squared norms, for kernel sums on the CPU.
struct Host {
    values: Vec<f64>,
    rows: usize,
    dim: usize,
    norms: Vec<f64>,
}

impl Host {
    fn new(f: &Features) -> Self {
        Host {
            values: f.rows_f64(0, f.rows),
            rows: f.rows,
            dim: f.dim,
            norms: f.squared_norms(),
        }
    }

    /// Σ K(xᵢ, yⱼ): one faer GEMM, then the kernel and a row sum in one pass over each row
    /// (candle's element-wise ops would allocate a fresh m × n matrix per step), and a
    /// compensated sum of the row sums.
    fn kernel_sum(&self, other: &Host, k: Kernel) -> f64 {
        let (m, n, d) = (self.rows, other.rows, self.dim);
        let xy = host_cross(&self.values, m, &other.values, n, d);
        let rows: Vec<f64> = xy
            .par_chunks_exact(n)
            .enumerate()
            .map(|(i, row)| match k {
                // A row's n terms are summed plainly (as the device route does); the m row
                // sums, whose total carries the digits the MMD is made of, are compensated.
                Kernel::Polynomial {
                    degree,
                    gamma,
                    coef0,
                } => {
                    let g = gamma.unwrap_or(1.0 / d as f64);
                    row.iter().map(|&v| (v * g + coef0).powi(degree)).sum()
                }
                Kernel::Rbf { sigma } => {
                    let s = 1.0 / (2.0 * sigma * sigma);
                    row.iter()
                        .zip(&other.norms)
                        .map(|(&v, &yy)| ((2.0 * v - self.norms[i] - yy) * s).exp())
                        .sum()
                }
            })
            .collect();
        neumaier_sum(&rows)
    }
}

/// K(x, x) for one row, on the CPU.
fn kernel_self(x: &Features, i: usize, k: Kernel) -> f64 {
    match k {
        Kernel::Polynomial {
            degree,
            gamma,
            coef0,
        } => (x.dot(i, x, i) * gamma.unwrap_or(1.0 / x.dim as f64) + coef0).powi(degree),
        Kernel::Rbf { .. } => 1.0,
    }
}

/// Unbiased MMD² between `x` (m rows) and `y` (n rows): off-diagonal means of K_xx and K_yy,
/// minus twice the mean of K_xy (torch-fidelity's `mmd2(..., mmd_est="unbiased")` when m = n).
pub fn mmd2_unbiased(x: &Features, y: &Features, kernel: Kernel) -> Result<f64, MetricError> {
    mmd2_unbiased_on(x, y, kernel, &Device::Cpu)
}

pub fn mmd2_unbiased_on(
    x: &Features,
    y: &Features,
    kernel: Kernel,
    device: &Device,
) -> Result<f64, MetricError> {
    x.same_dim(y)?;
    let (m, n) = (x.rows, y.rows);
    if m < 2 || n < 2 {
        return Err(MetricError::TooFewSamples {
            what: "an unbiased MMD",
            need: 2,
            got: m.min(n),
        });
    }
    if !device.is_cpu() {
        // The whole sets as the one subset pair of the device route.
        let whole = [((0..m).collect(), (0..n).collect())];
        return Ok(subsets_on_device(x, y, &whole, kernel, device)?[0]);
    }
    let diag = |f: &Features| {
        neumaier_sum(
            &(0..f.rows)
                .map(|i| kernel_self(f, i, kernel))
                .collect::<Vec<_>>(),
        )
    };
    let (xs, ys) = (Host::new(x), Host::new(y));
    let (kxx, kyy, kxy) = (
        xs.kernel_sum(&xs, kernel) - diag(x),
        ys.kernel_sum(&ys, kernel) - diag(y),
        xs.kernel_sum(&ys, kernel),
    );
    Ok(unbiased(kxx, kyy, kxy, m, n))
}

/// MMD² from the kernel sums without their diagonals: off-diagonal means of K_xx and K_yy,
/// minus twice the mean of K_xy.
fn unbiased(kxx: f64, kyy: f64, kxy: f64, m: usize, n: usize) -> f64 {
    let (mf, nf) = (m as f64, n as f64);
    kxx / (mf * (mf - 1.0)) + kyy / (nf * (nf - 1.0)) - 2.0 * kxy / (mf * nf)
}

/// The unbiased MMD² of each subset pair with both sets resident on `device`: each set is
/// uploaded once and every subset is gathered there (rather than two host copies and uploads
/// per subset), so that only the kernel matrices' row sums cross back. On an H200, 100 subsets
/// of 1,000 x 2048: 0.85 s once candle's kernels are loaded, 6.6 s on 16 CPU cores; the first
/// KID of a process on a fresh machine took 8-14 s while the driver compiled those kernels.
fn subsets_on_device(
    real: &Features,
    fake: &Features,
    subsets: &[(Vec<usize>, Vec<usize>)],
    kernel: Kernel,
    device: &Device,
) -> Result<Vec<f64>, MetricError> {
    let (rt, ft) = (
        upload(real, 0, real.rows, DType::F64, device)?,
        upload(fake, 0, fake.rows, DType::F64, device)?,
    );
    let gather = |t: &Tensor, rows: &[usize]| {
        let ids: Vec<u32> = rows.iter().map(|&i| i as u32).collect();
        Tensor::from_vec(ids, rows.len(), device)
            .and_then(|ids| t.index_select(&ids, 0))
            .map_err(device_err)
    };
    let diag = |f: &Features, rows: &[usize]| {
        neumaier_sum(
            &rows
                .iter()
                .map(|&i| kernel_self(f, i, kernel))
                .collect::<Vec<_>>(),
        )
    };
    subsets
        .iter()
        .map(|(a, b)| {
            let (m, n) = (a.len(), b.len());
            if m < 2 || n < 2 {
                return Err(MetricError::TooFewSamples {
                    what: "an unbiased MMD",
                    need: 2,
                    got: m.min(n),
                });
            }
            let (xt, yt) = (gather(&rt, a)?, gather(&ft, b)?);
            let sums =
                |p: &Tensor, q: &Tensor| kernel_sum(p, q, real.dim, kernel).map_err(device_err);
            let (kxx, kyy, kxy) = (
                sums(&xt, &xt)? - diag(real, a),
                sums(&yt, &yt)? - diag(fake, b),
                sums(&xt, &yt)?,
            );
            Ok(unbiased(kxx, kyy, kxy, m, n))
        })
        .collect()
}

/// KID over the given subsets: each pair holds row indices into `real` and `fake`.
pub fn kid_with_subsets(
    real: &Features,
    fake: &Features,
    subsets: &[(Vec<usize>, Vec<usize>)],
    kernel: Kernel,
) -> Result<Kid, MetricError> {
    kid_with_subsets_on(real, fake, subsets, kernel, &Device::Cpu)
}

pub fn kid_with_subsets_on(
    real: &Features,
    fake: &Features,
    subsets: &[(Vec<usize>, Vec<usize>)],
    kernel: Kernel,
    device: &Device,
) -> Result<Kid, MetricError> {
    real.same_dim(fake)?;
    if subsets.is_empty() {
        return Err(MetricError::InvalidConfig(
            "KID needs at least one subset".into(),
        ));
    }
    for (a, b) in subsets {
        if a.iter().any(|&i| i >= real.rows) || b.iter().any(|&i| i >= fake.rows) {
            return Err(MetricError::InvalidConfig(
                "a subset index is out of range".into(),
            ));
        }
    }
    let values = if device.is_cpu() {
        subsets
            .iter()
            .map(|(a, b)| mmd2_unbiased(&real.select(a), &fake.select(b), kernel))
            .collect::<Result<Vec<f64>, _>>()?
    } else {
        subsets_on_device(real, fake, subsets, kernel, device)?
    };
    let k = values.len() as f64;
    let mean = values.iter().sum::<f64>() / k;
    let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / k).sqrt();
    Ok(Kid {
        mean,
        std,
        subset_values: values,
    })
}

/// KID with subsets drawn without replacement from a seeded generator.
pub fn kid(real: &Features, fake: &Features, cfg: &KidConfig) -> Result<Kid, MetricError> {
    kid_on(real, fake, cfg, &Device::Cpu)
}

/// The seeded subsets [`kid`] draws: (real rows, fake rows) per subset.
pub fn kid_subsets(
    real_rows: usize,
    fake_rows: usize,
    cfg: &KidConfig,
) -> Vec<(Vec<usize>, Vec<usize>)> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
    (0..cfg.subsets)
        .map(|_| {
            let a = rand::seq::index::sample(&mut rng, real_rows, cfg.subset_size).into_vec();
            let b = rand::seq::index::sample(&mut rng, fake_rows, cfg.subset_size).into_vec();
            (a, b)
        })
        .collect()
}

pub fn kid_on(
    real: &Features,
    fake: &Features,
    cfg: &KidConfig,
    device: &Device,
) -> Result<Kid, MetricError> {
    real.same_dim(fake)?;
    let small = real.rows.min(fake.rows);
    if small < cfg.subset_size {
        if !cfg.whole_set_if_small {
            return Err(MetricError::TooFewSamples {
                what: "KID subsets of this size (lower --subset-size, or use --whole-set)",
                need: cfg.subset_size,
                got: small,
            });
        }
        let all = |n| (0..n).collect::<Vec<usize>>();
        let whole = [(all(real.rows), all(fake.rows))];
        return kid_with_subsets_on(real, fake, &whole, cfg.kernel, device);
    }
    let subsets = kid_subsets(real.rows, fake.rows, cfg);
    kid_with_subsets_on(real, fake, &subsets, cfg.kernel, device)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gauss(rows: usize, dim: usize, seed: u64, shift: f64) -> Features {
        use rand::Rng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        // Box-Muller from uniforms.
        let data = (0..rows * dim)
            .map(|_| {
                let (u, v): (f64, f64) = (rng.random::<f64>().max(1e-300), rng.random());
                shift + (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
            })
            .collect();
        Features::new(rows, dim, data).unwrap()
    }

    #[test]
    fn same_distribution_is_near_zero_and_shifted_is_not() {
        let a = gauss(300, 8, 1, 0.0);
        let b = gauss(300, 8, 2, 0.0);
        let c = gauss(300, 8, 3, 1.0);
        let cfg = KidConfig {
            subsets: 10,
            subset_size: 100,
            ..Default::default()
        };
        let same = kid(&a, &b, &cfg).unwrap();
        let diff = kid(&a, &c, &cfg).unwrap();
        assert!(same.mean.abs() < 0.05, "{}", same.mean);
        assert!(
            diff.mean > 10.0 * same.mean.abs().max(1e-3),
            "{} vs {}",
            diff.mean,
            same.mean
        );
    }

    #[test]
    fn unbiased_mmd_matches_the_direct_sum() {
        let x = gauss(5, 3, 4, 0.0);
        let y = gauss(5, 3, 5, 0.5);
        let k = |a: &[f64], b: &[f64]| {
            (a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>() / 3.0 + 1.0).powi(3)
        };
        let mut xx = 0.0;
        let mut yy = 0.0;
        let mut xy = 0.0;
        for i in 0..5 {
            for j in 0..5 {
                if i != j {
                    xx += k(&x.row(i), &x.row(j));
                    yy += k(&y.row(i), &y.row(j));
                }
                xy += k(&x.row(i), &y.row(j));
            }
        }
        let want = xx / 20.0 + yy / 20.0 - 2.0 * xy / 25.0;
        let got = mmd2_unbiased(&x, &y, Kernel::default()).unwrap();
        assert!((got - want).abs() < 1e-12 * want.abs().max(1.0));
    }

    #[test]
    fn rbf_mmd_matches_the_direct_sum() {
        let x = gauss(6, 4, 6, 0.0);
        let y = gauss(4, 4, 7, 0.7);
        let sigma = 1.5;
        let k = |a: &[f64], b: &[f64]| {
            let d2: f64 = a.iter().zip(b).map(|(p, q)| (p - q).powi(2)).sum();
            (-d2 / (2.0 * sigma * sigma)).exp()
        };
        let sum = |p: &Features, q: &Features, skip_diag: bool| -> f64 {
            let mut s = 0.0;
            for i in 0..p.rows {
                for j in 0..q.rows {
                    if !(skip_diag && i == j) {
                        s += k(&p.row(i), &q.row(j));
                    }
                }
            }
            s
        };
        let want =
            sum(&x, &x, true) / 30.0 + sum(&y, &y, true) / 12.0 - 2.0 * sum(&x, &y, false) / 24.0;
        let got = mmd2_unbiased(&x, &y, Kernel::Rbf { sigma }).unwrap();
        assert!((got - want).abs() < 1e-13, "{got} vs {want}");
    }

    #[test]
    fn the_gpu_route_run_on_the_cpu_gives_the_same_sums() {
        let x = gauss(40, 6, 8, 0.0);
        let y = gauss(30, 6, 9, 0.4);
        let (xs, ys) = (Host::new(&x), Host::new(&y));
        let xt = upload(&x, 0, 40, DType::F64, &Device::Cpu).unwrap();
        let yt = upload(&y, 0, 30, DType::F64, &Device::Cpu).unwrap();
        for kernel in [Kernel::default(), Kernel::Rbf { sigma: 2.0 }] {
            let host = xs.kernel_sum(&ys, kernel);
            let tensor = kernel_sum(&xt, &yt, 6, kernel).unwrap();
            assert!(
                (host - tensor).abs() < 1e-12 * host.abs(),
                "{kernel:?}: {host} vs {tensor}"
            );
        }
    }

    #[test]
    fn resident_subsets_give_the_host_route_values() {
        let (x, y) = (gauss(50, 5, 10, 0.0), gauss(45, 5, 11, 0.3));
        let subsets = vec![
            ((0..20).collect::<Vec<_>>(), (5..25).collect::<Vec<_>>()),
            (vec![49, 3, 7, 11, 2], vec![44, 0, 9]),
        ];
        for kernel in [Kernel::default(), Kernel::Rbf { sigma: 1.5 }] {
            let host = kid_with_subsets(&x, &y, &subsets, kernel).unwrap();
            let resident = subsets_on_device(&x, &y, &subsets, kernel, &Device::Cpu).unwrap();
            for (h, r) in host.subset_values.iter().zip(&resident) {
                assert!(
                    (h - r).abs() < 1e-12 * h.abs().max(1e-3),
                    "{kernel:?}: {h} vs {r}"
                );
            }
        }
        let one = vec![(vec![0], vec![1, 2])];
        assert!(subsets_on_device(&x, &y, &one, Kernel::default(), &Device::Cpu).is_err());
    }

    #[test]
    fn compensated_sums_keep_the_small_terms() {
        let v = [1e16, 1.0, -1e16, 1.0];
        assert_eq!(neumaier_sum(&v), 2.0);
        assert_eq!(
            v.iter().sum::<f64>(),
            1.0,
            "a plain sum loses one of the ones"
        );
    }

    #[test]
    fn too_small_sets_are_an_error_unless_asked_for_whole_sets() {
        let a = gauss(50, 4, 1, 0.0);
        let cfg = KidConfig::default();
        assert!(matches!(
            kid(&a, &a, &cfg),
            Err(MetricError::TooFewSamples { .. })
        ));
        let whole = kid(
            &a,
            &a,
            &KidConfig {
                whole_set_if_small: true,
                ..cfg
            },
        )
        .unwrap();
        assert_eq!(whole.subset_values.len(), 1);
    }
}
