//! The system BLAS/LAPACK (feature `lapack`, OpenBLAS unless `build.rs` is told otherwise) for
//! the dense f64 kernels where it beats faer on the CPU:
//!
//! - the positive-definite route of the Fréchet distance's trace term: `dpotrf` (Σ1 = L Lᵀ),
//!   `dsygst` (Lᵀ Σ2 L, using the symmetry of Σ2) and `dsyevd` (eigenvalues only), the same
//!   three steps as the faer route in `frechet.rs`. The eigenvalues dominate at d = 2048, and
//!   LAPACK's blocked tridiagonal reduction (`dsytrd`) does half of its flops in level-3
//!   kernels, where faer's fused unblocked reduction reads and writes the whole trailing matrix
//!   at every step and is bound by memory bandwidth (0.4 s against 0.9-1.1 s on two cores);
//! - the factored route for singular covariances: `dpotrf`, or `dsyevd` with vectors where
//!   the Cholesky fails, for the factors, and `dgesdd` for the singular values of G1ᵀ G2
//!   (blocked bidiagonalization, for the same reason as `dsytrd` above);
//! - the covariance's scatter product XᵀX: `dsyrk`, the lower half only.

use crate::MetricError;

/// Which library computes the Fréchet distance's routes, for the results' details.
pub fn backend() -> String {
    #[cfg(assay_openblas)]
    {
        extern "C" {
            fn openblas_get_config() -> *const std::ffi::c_char;
        }
        // SAFETY: OpenBLAS returns a pointer to a static NUL-terminated string.
        let config = unsafe { std::ffi::CStr::from_ptr(openblas_get_config()) };
        format!("LAPACK ({})", config.to_string_lossy().trim())
    }
    #[cfg(not(assay_openblas))]
    {
        "LAPACK".to_string()
    }
}

/// While alive, each BLAS/LAPACK call runs on one thread: for callers that already run one
/// task per core (the bootstrap's resamples), where OpenBLAS's own threads would contend with
/// rayon's (8 FD resamples at d = 2048 on two cores: 61 s with both pools, 25.9 s with this guard).
/// OpenBLAS's thread count is process-wide, so the previous count comes back on drop. A no-op
/// for LAPACK libraries other than OpenBLAS (set their own thread variables instead).
pub struct OneThreadPerCall {
    #[cfg(assay_openblas)]
    previous: std::ffi::c_int,
}

#[cfg(assay_openblas)]
extern "C" {
    fn openblas_get_num_threads() -> std::ffi::c_int;
    fn openblas_set_num_threads(n: std::ffi::c_int);
}

impl OneThreadPerCall {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        #[cfg(assay_openblas)]
        {
            // SAFETY: plain setters of OpenBLAS's thread count, called outside any BLAS call.
            let previous = unsafe { openblas_get_num_threads() };
            unsafe { openblas_set_num_threads(1) };
            OneThreadPerCall { previous }
        }
        #[cfg(not(assay_openblas))]
        {
            OneThreadPerCall {}
        }
    }
}

impl Drop for OneThreadPerCall {
    fn drop(&mut self) {
        // SAFETY: as in `new`.
        #[cfg(assay_openblas)]
        unsafe {
            openblas_set_num_threads(self.previous)
        };
    }
}

/// The eigenvalues (ascending) of Lᵀ Σ2 L where Σ1 = L Lᵀ, both d × d column-major (and
/// symmetric, so row-major is the same); `None` when Σ1 is not positive definite.
pub(crate) fn congruent_eigenvalues(
    s1: &[f64],
    s2: &[f64],
    d: usize,
) -> Result<Option<Vec<f64>>, MetricError> {
    assert!(s1.len() == d * d && s2.len() == d * d);
    if d == 0 {
        return Ok(Some(Vec::new()));
    }
    let n = i32::try_from(d).map_err(|_| {
        MetricError::InvalidConfig(format!("{d} dimensions are too many for LAPACK"))
    })?;
    let (mut l, mut m) = (s1.to_vec(), s2.to_vec());
    let mut info = 0;
    // SAFETY (both calls): the buffers hold n × n values with leading dimension n, and LAPACK
    // keeps no pointer past the call.
    unsafe { lapack::dpotrf(b'L', n, &mut l, n, &mut info) };
    if info > 0 {
        return Ok(None);
    }
    assert_arguments("dpotrf", info);
    unsafe { lapack::dsygst(&[2], b'L', n, &mut m, n, &l, n, &mut info) };
    assert_arguments("dsygst", info);
    drop(l);
    let mut w = vec![0.0; d];
    let info = symmetric_eigen(b'N', &mut m, n, &mut w);
    // No convergence (info > 0): the factored SVD route gets its chance, as with faer.
    Ok((info == 0).then_some(w))
}

/// `dsyevd` on the lower half of the n × n matrix `a` (eigenvectors too with `jobz` = 'V',
/// left in `a`); returns LAPACK's `info`, positive when it did not converge.
///
/// The work arrays come from LAPACK's size query, not from the minimum dsyevd documents
/// (2n + 1 for eigenvalues only): dsytrd blocks its reduction only when the work array holds
/// n × block-size values, and falls back to the unblocked, memory-bound reduction otherwise
/// (0.85-0.9 s instead of 0.4 s at d = 2048).
fn symmetric_eigen(jobz: u8, a: &mut [f64], n: i32, w: &mut [f64]) -> i32 {
    let (mut size, mut isize, mut info) = ([0.0f64], [0i32], 0);
    // SAFETY (both calls): `a` holds n × n values with leading dimension n and `w` n; the
    // work arrays have the sizes LAPACK's query returns; LAPACK keeps no pointer past the call.
    unsafe {
        lapack::dsyevd(
            jobz, b'L', n, a, n, w, &mut size, -1, &mut isize, -1, &mut info,
        )
    };
    assert_arguments("dsyevd (size query)", info);
    let mut work = vec![0.0; (size[0] as usize).max(2 * n as usize + 1)];
    let mut iwork = vec![0i32; isize[0].max(1) as usize];
    let (lwork, liwork) = (work.len() as i32, iwork.len() as i32);
    unsafe {
        lapack::dsyevd(
            jobz, b'L', n, a, n, w, &mut work, lwork, &mut iwork, liwork, &mut info,
        )
    };
    assert_arguments("dsyevd", info);
    info
}

/// A factor G (column-major d × r) with Σ = G Gᵀ: the Cholesky factor when Σ is positive
/// definite to working precision, else eigenvectors scaled by √λ for the eigenvalues above
/// round-off (relative to the largest), so that the null space contributes exact zeros.
/// `None` when the eigen-solver does not converge.
pub(crate) fn factor(s: &[f64], d: usize) -> Option<(Vec<f64>, usize)> {
    assert_eq!(s.len(), d * d);
    let n = i32::try_from(d).ok()?;
    let mut l = s.to_vec();
    let mut info = 0;
    // SAFETY: an n × n buffer with leading dimension n; LAPACK keeps no pointer past the call.
    unsafe { lapack::dpotrf(b'L', n, &mut l, n, &mut info) };
    assert_arguments("dpotrf", info);
    if info == 0 {
        // dpotrf leaves the strict upper half as it was: zero it to make L a plain matrix.
        for j in 1..d {
            l[j * d..j * d + j].fill(0.0);
        }
        return Some((l, d));
    }
    // The eigen-decomposition of (Σ + Σᵀ)/2.
    let mut v: Vec<f64> = (0..d * d)
        .map(|k| 0.5 * (s[k] + s[(k % d) * d + k / d]))
        .collect();
    let mut w = vec![0.0; d];
    let info = symmetric_eigen(b'V', &mut v, n, &mut w);
    if info > 0 {
        return None;
    }
    let keep = super::frechet::eigenvalues_above_round_off(&w);
    let mut g = Vec::with_capacity(d * keep.len());
    for &i in &keep {
        let root = w[i].sqrt();
        g.extend(v[i * d..(i + 1) * d].iter().map(|x| x * root));
    }
    Some((g, keep.len()))
}

/// The singular values of a column-major m × n matrix (consumed), or `None` when the SVD does
/// not converge.
pub(crate) fn singular_values(mut a: Vec<f64>, m: usize, n: usize) -> Option<Vec<f64>> {
    assert_eq!(a.len(), m * n);
    if m == 0 || n == 0 {
        return Some(Vec::new());
    }
    let (mi, ni) = (i32::try_from(m).ok()?, i32::try_from(n).ok()?);
    let mut s = vec![0.0; m.min(n)];
    let (mut u, mut vt) = ([0.0f64], [0.0f64]);
    let mut iwork = vec![0i32; 8 * m.min(n)];
    let (mut size, mut info) = ([0.0f64], 0);
    // SAFETY (both calls): `a` holds m × n values with leading dimension m; U and Vᵀ are not
    // referenced with jobz = 'N'; work sizes from LAPACK's query.
    unsafe {
        lapack::dgesdd(
            b'N', mi, ni, &mut a, mi, &mut s, &mut u, 1, &mut vt, 1, &mut size, -1, &mut iwork,
            &mut info,
        )
    };
    assert_arguments("dgesdd (size query)", info);
    let mut work = vec![0.0; size[0] as usize];
    let lwork = work.len() as i32;
    unsafe {
        lapack::dgesdd(
            b'N', mi, ni, &mut a, mi, &mut s, &mut u, 1, &mut vt, 1, &mut work, lwork, &mut iwork,
            &mut info,
        )
    };
    assert_arguments("dgesdd", info);
    (info == 0).then_some(s)
}

/// The lower half of XᵀX (column-major d × d; the upper half is left at zero) for a row-major
/// (rows × d) block, which read column-major is Xᵀ.
pub(crate) fn gram_lower(block: &[f64], rows: usize, d: usize) -> Vec<f64> {
    assert_eq!(block.len(), rows * d);
    let as_i32 = |v: usize| i32::try_from(v).expect("a chunk's rows and dimensions fit BLAS's i32");
    let mut c = vec![0.0; d * d];
    if rows == 0 || d == 0 {
        return c;
    }
    // SAFETY: `block` holds d × rows values with leading dimension d, `c` d × d with leading
    // dimension d; BLAS keeps no pointer past the call.
    unsafe {
        blas::dsyrk(
            b'L',
            b'N',
            as_i32(d),
            as_i32(rows),
            1.0,
            block,
            as_i32(d),
            0.0,
            &mut c,
            as_i32(d),
        )
    };
    c
}

/// A negative `info` means an argument was wrong: a bug here, not bad input.
fn assert_arguments(routine: &str, info: i32) {
    assert!(info >= 0, "LAPACK {routine} rejected argument {}", -info);
}
