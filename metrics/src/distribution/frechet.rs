//! Fréchet distance between Gaussians N(μ1, Σ1) and N(μ2, Σ2) (the "F" of FID):
//! |μ1 - μ2|² + tr Σ1 + tr Σ2 - 2 tr (Σ1 Σ2)^{1/2}, in f64.
//!
//! The trace term never goes through an unsymmetric square root (scipy's `sqrtm`, which
//! pytorch-fid uses, and which returns complex noise on ill-conditioned inputs): it comes from
//! a symmetric eigen-problem, or from singular values when a covariance is singular (see
//! [`trace_sqrt_product`]).

use super::gaussian::GaussianStats;
use crate::MetricError;
use nalgebra::{DMatrix, DVector};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrechetDistance {
    pub value: f64,
    /// |μ1 - μ2|².
    pub mean_term: f64,
    /// tr Σ1 + tr Σ2 - 2 tr (Σ1 Σ2)^{1/2}.
    pub covariance_term: f64,
    /// "cholesky" (both covariances positive definite) or "svd" (a singular covariance).
    pub route: &'static str,
    /// The library that computed the route: "faer", or "LAPACK (…)" with the `lapack`
    /// feature.
    pub backend: String,
    /// The raw value when round-off made it negative and it was clamped to 0.
    pub clamped_from: Option<f64>,
    pub warnings: Vec<String>,
}

/// A faer view of a nalgebra matrix (both column-major and contiguous): no copy.
#[cfg(not(feature = "lapack"))]
fn as_faer(m: &DMatrix<f64>) -> faer::MatRef<'_, f64> {
    faer::MatRef::from_column_major_slice(m.as_slice(), m.nrows(), m.ncols())
}

/// The indices of the eigenvalues above round-off (relative to the largest in magnitude):
/// the ones a factor of a singular covariance keeps, with either backend.
pub(crate) fn eigenvalues_above_round_off(vals: &[f64]) -> Vec<usize> {
    let max = vals.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    let tol = max * vals.len() as f64 * f64::EPSILON;
    (0..vals.len()).filter(|&i| vals[i] > tol).collect()
}

/// A factor G with Σ = G Gᵀ from the eigen-decomposition of (Σ + Σᵀ)/2, keeping only
/// eigenvalues above round-off (relative to the largest), so that the null space contributes
/// exact zeros.
#[cfg(not(feature = "lapack"))]
fn eigen_factor(s: faer::MatRef<'_, f64>) -> Option<faer::Mat<f64>> {
    let d = s.nrows();
    let sym = faer::Mat::<f64>::from_fn(d, d, |i, j| 0.5 * (s[(i, j)] + s[(j, i)]));
    let e = sym.self_adjoint_eigen(faer::Side::Lower).ok()?;
    let (vals, vecs) = (e.S().column_vector(), e.U());
    let keep = eigenvalues_above_round_off(&(0..d).map(|i| vals[i]).collect::<Vec<_>>());
    Some(faer::Mat::from_fn(d, keep.len(), |r, c| {
        vecs[(r, keep[c])] * vals[keep[c]].sqrt()
    }))
}

/// The lower half of Lᵀ S L for lower-triangular L and symmetric S, with triangular products:
/// S·L touches only L's lower half, and Lᵀ(S·L) is symmetric, so only its lower half is formed.
/// That is 1.5 d³ flops where two dense products take 4 d³.
fn congruence_lower(l: faer::MatRef<'_, f64>, s: faer::MatRef<'_, f64>) -> faer::Mat<f64> {
    use faer::linalg::matmul::triangular::{matmul, BlockStructure};
    let d = s.nrows();
    let par = faer::get_global_parallelism();
    let mut sl = faer::Mat::<f64>::zeros(d, d);
    matmul(
        &mut sl,
        BlockStructure::Rectangular,
        faer::Accum::Replace,
        s,
        BlockStructure::Rectangular,
        l,
        BlockStructure::TriangularLower,
        1.0,
        par,
    );
    let mut m = faer::Mat::<f64>::zeros(d, d);
    matmul(
        &mut m,
        BlockStructure::TriangularLower,
        faer::Accum::Replace,
        l.transpose(),
        BlockStructure::TriangularUpper,
        &sl,
        BlockStructure::Rectangular,
        1.0,
        par,
    );
    m
}

/// The eigenvalues of Lᵀ Σ2 L where Σ1 = L Lᵀ, or `None` when Σ1 is not positive definite
/// (or the eigen-solver failed, which the factored route then gets a chance at).
///
/// faer by default: its Cholesky, GEMM and eigenvalue kernels are several times faster than
/// nalgebra's at d = 2048. With the `lapack` feature the system LAPACK, whose blocked
/// tridiagonal reduction is about twice as fast as faer's (see `system_lapack.rs`).
fn positive_definite_eigenvalues(
    s1: &DMatrix<f64>,
    s2: &DMatrix<f64>,
) -> Result<Option<Vec<f64>>, MetricError> {
    #[cfg(feature = "lapack")]
    {
        super::system_lapack::congruent_eigenvalues(s1.as_slice(), s2.as_slice(), s1.nrows())
    }
    #[cfg(not(feature = "lapack"))]
    {
        Ok(faer_congruent_eigenvalues(as_faer(s1), as_faer(s2)))
    }
}

/// faer's route for [`positive_definite_eigenvalues`]; compiled with either backend so that
/// tests can hold the LAPACK route against it.
#[cfg_attr(all(feature = "lapack", not(test)), allow(dead_code))]
fn faer_congruent_eigenvalues(
    s1: faer::MatRef<'_, f64>,
    s2: faer::MatRef<'_, f64>,
) -> Option<Vec<f64>> {
    let llt = s1.llt(faer::Side::Lower).ok()?;
    congruence_lower(llt.L(), s2)
        .self_adjoint_eigenvalues(faer::Side::Lower)
        .ok()
}

/// The library behind both routes: faer, or the system LAPACK with the `lapack` feature.
pub fn backend() -> String {
    #[cfg(feature = "lapack")]
    {
        super::system_lapack::backend()
    }
    #[cfg(not(feature = "lapack"))]
    {
        "faer".to_string()
    }
}

/// tr (Σ1 Σ2)^{1/2}, the route that computed it and the library behind that route.
///
/// - Both covariances positive definite: Σ1 = L Lᵀ, and the trace is Σ √λ over the eigenvalues
///   of the symmetric Lᵀ Σ2 L (similar to Σ1 Σ2).
/// - Otherwise (rank-deficient, e.g. fewer samples than dimensions): with factors Σi = Gi Giᵀ,
///   the non-zero eigenvalues of Σ1 Σ2 are the squared singular values of G1ᵀ G2, so the trace
///   is the sum of those singular values. No square root of a round-off eigenvalue is taken,
///   which is what makes the null space exact (an eigenvalue of 1e-16 would add 1e-8).
fn trace_sqrt_product(
    s1: &DMatrix<f64>,
    s2: &DMatrix<f64>,
    warnings: &mut Vec<String>,
) -> Result<(f64, &'static str, String), MetricError> {
    let d = s1.nrows();
    if let Some(vals) = positive_definite_eigenvalues(s1, s2)? {
        // Lᵀ Σ2 L is congruent to Σ2, so (Sylvester's law of inertia) it is positive
        // definite exactly when Σ2 is: an eigenvalue at round-off level means Σ2 is
        // singular, and the square roots of such eigenvalues would be noise (1e-16 adds
        // 1e-8), so that case goes to the factored route instead.
        let scale = vals.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        let smallest = vals.iter().cloned().fold(f64::INFINITY, f64::min);
        if smallest > scale * d as f64 * f64::EPSILON {
            return Ok((vals.iter().map(|v| v.sqrt()).sum(), "cholesky", backend()));
        }
    }
    warnings.push("a covariance is singular (fewer samples than dimensions, or constant features): used the factored SVD route".into());
    let no_convergence =
        |what: &str| MetricError::InvalidInput(format!("the {what} did not converge"));
    let sv = factored_singular_values(s1, s2).map_err(no_convergence)?;
    Ok((sv.iter().sum(), "svd", backend()))
}

/// The singular values of G1ᵀ G2 for factors Σi = Gi Giᵀ (see [`trace_sqrt_product`]), or
/// what did not converge.
fn factored_singular_values(
    s1: &DMatrix<f64>,
    s2: &DMatrix<f64>,
) -> Result<Vec<f64>, &'static str> {
    const FACTOR: &str = "eigen-decomposition of a singular covariance";
    const SVD: &str = "SVD of G1ᵀ G2 (factors of the covariances)";
    #[cfg(feature = "lapack")]
    {
        use super::system_lapack::{factor, singular_values};
        let d = s1.nrows();
        let (Some((g1, r1)), Some((g2, r2))) = (factor(s1.as_slice(), d), factor(s2.as_slice(), d))
        else {
            return Err(FACTOR);
        };
        if r1 == 0 || r2 == 0 {
            return Ok(Vec::new());
        }
        let g1 = faer::MatRef::from_column_major_slice(&g1, d, r1);
        let g2 = faer::MatRef::from_column_major_slice(&g2, d, r2);
        let b = g1.transpose() * g2;
        // Column-major and contiguous for LAPACK (faer may pad its columns).
        let mut flat = Vec::with_capacity(r1 * r2);
        for j in 0..r2 {
            flat.extend_from_slice(b.col_as_slice(j));
        }
        singular_values(flat, r1, r2).ok_or(SVD)
    }
    #[cfg(not(feature = "lapack"))]
    {
        let factor = |s: faer::MatRef<'_, f64>| match s.llt(faer::Side::Lower) {
            Ok(llt) => Some(llt.L().to_owned()),
            Err(_) => eigen_factor(s),
        };
        let (Some(g1), Some(g2)) = (factor(as_faer(s1)), factor(as_faer(s2))) else {
            return Err(FACTOR);
        };
        if g1.ncols() == 0 || g2.ncols() == 0 {
            return Ok(Vec::new());
        }
        (g1.transpose() * &g2).singular_values().map_err(|_| SVD)
    }
}

/// The Fréchet distance from means and covariances.
pub fn frechet_distance(
    mu1: &DVector<f64>,
    sigma1: &DMatrix<f64>,
    mu2: &DVector<f64>,
    sigma2: &DMatrix<f64>,
) -> Result<FrechetDistance, MetricError> {
    let d = mu1.len();
    for (name, r, c) in [
        ("mu2", mu2.len(), 1),
        ("sigma1", sigma1.nrows(), sigma1.ncols()),
        ("sigma2", sigma2.nrows(), sigma2.ncols()),
    ] {
        let want = if name == "mu2" { (d, 1) } else { (d, d) };
        if (r, c) != want {
            return Err(MetricError::InvalidConfig(format!(
                "{name} is {r}x{c}, expected {}x{}",
                want.0, want.1
            )));
        }
    }
    for (name, v) in [
        ("mu1", mu1.as_slice()),
        ("mu2", mu2.as_slice()),
        ("sigma1", sigma1.as_slice()),
        ("sigma2", sigma2.as_slice()),
    ] {
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(MetricError::InvalidConfig(format!(
                "{name} has a non-finite value at index {i}"
            )));
        }
    }
    let mut warnings = Vec::new();
    let diff = mu1 - mu2;
    let mean_term = diff.dot(&diff);
    let (tr_sqrt, route, backend) = trace_sqrt_product(sigma1, sigma2, &mut warnings)?;
    let covariance_term = sigma1.trace() + sigma2.trace() - 2.0 * tr_sqrt;
    let raw = mean_term + covariance_term;
    let (value, clamped_from) = if raw < 0.0 {
        warnings.push(format!(
            "the distance came out {raw:.3e} by round-off and was clamped to 0"
        ));
        (0.0, Some(raw))
    } else {
        (raw, None)
    };
    Ok(FrechetDistance {
        value,
        mean_term,
        covariance_term,
        route,
        backend,
        clamped_from,
        warnings,
    })
}

/// The Fréchet distance between two sets of accumulated statistics.
pub fn frechet_distance_of(
    a: &GaussianStats,
    b: &GaussianStats,
) -> Result<FrechetDistance, MetricError> {
    if a.dim() != b.dim() {
        return Err(MetricError::DimensionMismatch(a.dim(), b.dim()));
    }
    frechet_distance(&a.mean, &a.covariance()?, &b.mean, &b.covariance()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_triangular_congruence_equals_the_dense_one() {
        let d = 9;
        let a = faer::Mat::<f64>::from_fn(d, d, |i, j| ((i * 7 + j * 3) % 5) as f64 - 1.5);
        let s1 = &a * a.transpose() + faer::Mat::<f64>::identity(d, d);
        let s2 = faer::Mat::<f64>::from_fn(d, d, |i, j| 1.0 / (1.0 + i as f64 + j as f64));
        let llt = s1.llt(faer::Side::Lower).unwrap();
        let dense = llt.L().transpose() * &s2 * llt.L();
        let lower = congruence_lower(llt.L(), s2.as_ref());
        for j in 0..d {
            for i in j..d {
                assert!((lower[(i, j)] - dense[(i, j)]).abs() < 1e-12, "({i}, {j})");
            }
        }
    }

    /// The LAPACK route computes the same eigenvalues as faer's (different algorithms, so
    /// agreement to round-off, not bits), and reports a non-positive-definite Σ1 as `None`.
    #[cfg(feature = "lapack")]
    #[test]
    fn lapack_and_faer_find_the_same_eigenvalues() {
        let d = 67;
        let a = faer::Mat::<f64>::from_fn(d, d, |i, j| ((i * 31 + j * 17) % 23) as f64 / 7.0 - 1.5);
        let b = faer::Mat::<f64>::from_fn(d, d, |i, j| ((i * 13 + j * 29) % 19) as f64 / 5.0 - 1.8);
        let s1 = &a * a.transpose() + faer::Mat::<f64>::identity(d, d) * 0.1;
        let s2 = &b * b.transpose() + faer::Mat::<f64>::identity(d, d) * 0.3;
        let mut want = faer_congruent_eigenvalues(s1.as_ref(), s2.as_ref()).unwrap();
        want.sort_by(f64::total_cmp);
        let to_vec = |m: &faer::Mat<f64>| (0..d * d).map(|k| m[(k % d, k / d)]).collect::<Vec<_>>();
        let got = super::super::system_lapack::congruent_eigenvalues(&to_vec(&s1), &to_vec(&s2), d)
            .unwrap()
            .unwrap();
        let top = want[d - 1];
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-12 * top, "{g} vs {w}");
        }
        let mut indefinite = to_vec(&s1);
        indefinite[0] = -1.0;
        let none = super::super::system_lapack::congruent_eigenvalues(&indefinite, &to_vec(&s2), d);
        assert_eq!(none, Ok(None));
        assert!(backend().starts_with("LAPACK"));
    }

    #[test]
    fn diagonal_gaussians_have_a_closed_form() {
        // For diagonal covariances: Σ (μ1-μ2)² + Σ (√a - √b)².
        let mu1 = DVector::from_vec(vec![0.0, 1.0, 2.0]);
        let mu2 = DVector::from_vec(vec![1.0, 1.0, 0.0]);
        let a: [f64; 3] = [1.0, 4.0, 9.0];
        let b: [f64; 3] = [4.0, 1.0, 0.25];
        let s1 = DMatrix::from_diagonal(&DVector::from_row_slice(&a));
        let s2 = DMatrix::from_diagonal(&DVector::from_row_slice(&b));
        let want: f64 = 1.0
            + 0.0
            + 4.0
            + a.iter()
                .zip(&b)
                .map(|(x, y)| (x.sqrt() - y.sqrt()).powi(2))
                .sum::<f64>();
        let fd = frechet_distance(&mu1, &s1, &mu2, &s2).unwrap();
        assert!((fd.value - want).abs() < 1e-12, "{} vs {want}", fd.value);
        assert_eq!(fd.route, "cholesky");
    }

    #[test]
    fn identical_and_singular_inputs_stay_finite_and_non_negative() {
        let mu = DVector::from_vec(vec![0.5, -0.5]);
        // Rank 1: singular.
        let s = DMatrix::from_row_slice(2, 2, &[1.0, 1.0, 1.0, 1.0]);
        let fd = frechet_distance(&mu, &s, &mu, &s).unwrap();
        assert!(fd.value >= 0.0 && fd.value < 1e-12, "{}", fd.value);
        assert_eq!(fd.route, "svd");
        assert!(!fd.warnings.is_empty());
    }

    #[test]
    fn shapes_and_non_finite_values_are_errors() {
        let mu = DVector::from_vec(vec![0.0, 0.0]);
        let s = DMatrix::identity(2, 2);
        let s3 = DMatrix::identity(3, 3);
        assert!(frechet_distance(&mu, &s, &mu, &s3).is_err());
        let bad = DVector::from_vec(vec![f64::NAN, 0.0]);
        assert!(frechet_distance(&bad, &s, &mu, &s).is_err());
    }
}
