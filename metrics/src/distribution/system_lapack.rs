//! The system BLAS/LAPACK (feature `lapack`, OpenBLAS unless `build.rs` is told otherwise) for
//! the two dense f64 kernels where it beats faer on the CPU:
//!
//! - the positive-definite route of the Fréchet distance's trace term: `dpotrf` (Σ1 = L Lᵀ),
//!   `dsygst` (Lᵀ Σ2 L, using the symmetry of Σ2) and `dsyevd` (eigenvalues only), the same
//!   three steps as the faer route in `frechet.rs`. The eigenvalues dominate at d = 2048, and
//!   LAPACK's blocked tridiagonal reduction (`dsytrd`) does half of its flops in level-3
//!   kernels, where faer's fused unblocked reduction reads and writes the whole trailing matrix
//!   at every step and is bound by memory bandwidth (0.4 s against 0.9-1.1 s on two cores);
//! - the covariance's scatter product XᵀX: `dsyrk`, the lower half only.

use crate::MetricError;

/// Which library computed the positive-definite route, for the results' details.
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
    // SAFETY (all three calls): the buffers hold n × n values with leading dimension n, the
    // work arrays have the sizes LAPACK documents for these arguments, and LAPACK keeps no
    // pointer past the call.
    unsafe { lapack::dpotrf(b'L', n, &mut l, n, &mut info) };
    if info > 0 {
        return Ok(None);
    }
    assert_arguments("dpotrf", info);
    unsafe { lapack::dsygst(&[2], b'L', n, &mut m, n, &l, n, &mut info) };
    assert_arguments("dsygst", info);
    drop(l);
    // Eigenvalues only. The work array comes from LAPACK's size query, not from the minimum
    // (2n + 1) that dsyevd documents: dsytrd blocks its reduction only when the work array
    // holds n × block-size values, and falls back to the unblocked, memory-bound reduction
    // otherwise (0.85-0.9 s instead of 0.4 s at d = 2048).
    let mut w = vec![0.0; d];
    let (mut size, mut isize) = ([0.0f64], [0i32]);
    unsafe {
        lapack::dsyevd(
            b'N', b'L', n, &mut m, n, &mut w, &mut size, -1, &mut isize, -1, &mut info,
        )
    };
    assert_arguments("dsyevd (size query)", info);
    let lwork = (size[0] as usize).max(2 * d + 1);
    let mut work = vec![0.0; lwork];
    let mut iwork = vec![0i32; (isize[0].max(1)) as usize];
    let (lwork, liwork) = (lwork as i32, iwork.len() as i32);
    unsafe {
        lapack::dsyevd(
            b'N', b'L', n, &mut m, n, &mut w, &mut work, lwork, &mut iwork, liwork, &mut info,
        )
    };
    // No convergence (info > 0): the factored SVD route gets its chance, as with faer.
    if info > 0 {
        return Ok(None);
    }
    assert_arguments("dsyevd", info);
    Ok(Some(w))
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
