//! Where the heavy linear algebra of the distribution metrics runs.
//!
//! The O(n·d²) and O(n²·d) products — covariance accumulation (XᵀX), pairwise distances and
//! kernel matrices (XYᵀ) — are candle tensor operations: on `Device::Cpu` they run on candle's
//! multi-threaded GEMM, and in a build with the `cuda` feature `cuda:N` moves them to a GPU.
//! Only products cross the device boundary; the O(d³) eigen-problems of the Fréchet distance
//! stay on the CPU in f64.

use super::Features;
use crate::MetricError;
pub use candle_core::Device;
use candle_core::{DType, Tensor};

/// `cpu`, `cuda` or `cuda:N`.
pub fn parse_device(spec: &str) -> Result<Device, MetricError> {
    let bad = |e: candle_core::Error| {
        MetricError::Device(format!(
            "cannot use device '{spec}': {e} (GPU support needs a build with `--features cuda`)"
        ))
    };
    match spec {
        "cpu" => Ok(Device::Cpu),
        "cuda" => Device::new_cuda(0).map_err(bad),
        s => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(n)) => Device::new_cuda(n).map_err(bad),
            _ => Err(MetricError::Device(format!(
                "unknown device '{spec}' (cpu, cuda, cuda:N)"
            ))),
        },
    }
}

/// The name a results document records: `cpu` or `cuda:N`.
pub fn device_name(d: &Device) -> String {
    match d.location() {
        candle_core::DeviceLocation::Cpu => "cpu".into(),
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

pub(crate) fn device_err(e: candle_core::Error) -> MetricError {
    MetricError::Device(e.to_string())
}

/// Rows `start..start+len` of `f` as a (len × dim) tensor of `dtype` on `device`.
pub(crate) fn upload(
    f: &Features,
    start: usize,
    len: usize,
    dtype: DType,
    device: &Device,
) -> Result<Tensor, MetricError> {
    let t = match dtype {
        DType::F32 => Tensor::from_vec(f.rows_f32(start, len), (len, f.dim), device),
        _ => Tensor::from_vec(f.rows_f64(start, len), (len, f.dim), device),
    };
    t.map_err(device_err)
}

/// XᵀX of a row-major (rows × dim) f64 block (symmetric: row- and column-major alike).
///
/// On the CPU only the lower half is computed (a SYRK: half the flops of candle's full GEMM;
/// see [`gram_lower_cpu`]) and mirrored; on a GPU it is a candle matmul.
pub(crate) fn gram_f64(
    block: Vec<f64>,
    rows: usize,
    dim: usize,
    device: &Device,
) -> Result<Vec<f64>, MetricError> {
    if device.is_cpu() {
        let mut out = gram_lower_cpu(&block, rows, dim);
        // Mirror the lower half (column-major) up.
        for j in 0..dim {
            for i in j + 1..dim {
                out[i * dim + j] = out[j * dim + i];
            }
        }
        return Ok(out);
    }
    gram_candle(block, rows, dim, device)
}

/// The lower half of XᵀX, column-major, for a row-major (rows × dim) block: the system BLAS's
/// `dsyrk` with the `lapack` feature (about twice faer's throughput here, 68 against about 32
/// GFLOP/s of useful work at d = 2048 on two cores), faer's triangular product otherwise.
fn gram_lower_cpu(block: &[f64], rows: usize, dim: usize) -> Vec<f64> {
    #[cfg(feature = "lapack")]
    {
        super::system_lapack::gram_lower(block, rows, dim)
    }
    #[cfg(not(feature = "lapack"))]
    {
        gram_lower_faer(block, rows, dim)
    }
}

#[cfg_attr(all(feature = "lapack", not(test)), allow(dead_code))]
fn gram_lower_faer(block: &[f64], rows: usize, dim: usize) -> Vec<f64> {
    use faer::linalg::matmul::triangular::{matmul, BlockStructure};
    // Row-major (rows × dim) read as column-major is Xᵀ (dim × rows).
    let xt = faer::MatRef::from_column_major_slice(block, dim, rows);
    let mut g = faer::Mat::<f64>::zeros(dim, dim);
    matmul(
        &mut g,
        BlockStructure::TriangularLower,
        faer::Accum::Replace,
        xt,
        BlockStructure::Rectangular,
        xt.transpose(),
        BlockStructure::Rectangular,
        1.0,
        faer::get_global_parallelism(),
    );
    // Column by column (faer's columns are contiguous, possibly with a padded stride).
    let mut out = vec![0.0; dim * dim];
    for j in 0..dim {
        out[j * dim + j..(j + 1) * dim].copy_from_slice(&g.col_as_slice(j)[j..]);
    }
    out
}

/// XᵀX as one candle matmul on `device`.
fn gram_candle(
    block: Vec<f64>,
    rows: usize,
    dim: usize,
    device: &Device,
) -> Result<Vec<f64>, MetricError> {
    let x = Tensor::from_vec(block, (rows, dim), device).map_err(device_err)?;
    x.t()
        .and_then(|xt| xt.matmul(&x))
        .and_then(|g| g.flatten_all())
        .and_then(|g| g.to_vec1::<f64>())
        .map_err(device_err)
}

/// A·Bᵀ on the CPU for row-major `a` (m × d) and `b` (n × d), read in place; returned
/// row-major (m × n): row i holds aᵢ·bⱼ for every j. Computed as B·Aᵀ written column-major,
/// which is the same memory.
pub(crate) fn host_cross<T: faer::traits::ComplexField + Copy>(
    a: &[T],
    m: usize,
    b: &[T],
    n: usize,
    d: usize,
) -> Vec<T> {
    let a = faer::MatRef::from_row_major_slice(a, m, d);
    let b = faer::MatRef::from_row_major_slice(b, n, d);
    let mut out = vec![T::zero_impl(); m * n];
    faer::linalg::matmul::matmul(
        faer::MatMut::from_column_major_slice_mut(&mut out, n, m),
        faer::Accum::Replace,
        b,
        a.transpose(),
        T::one_impl(),
        faer::get_global_parallelism(),
    );
    out
}

/// A Yᵀ for a block `a` (m × d) and a resident `b` (n × d), returned row-major (m × n).
pub(crate) fn cross<T: candle_core::WithDType>(
    a: &Tensor,
    b: &Tensor,
) -> Result<Vec<T>, MetricError> {
    a.matmul(&b.t().map_err(device_err)?)
        .and_then(|p| p.flatten_all())
        .and_then(|p| p.to_vec1::<T>())
        .map_err(device_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_and_unknown_ones_are_named() {
        assert_eq!(device_name(&parse_device("cpu").unwrap()), "cpu");
        let e = parse_device("tpu").unwrap_err().to_string();
        assert!(e.contains("tpu") && e.contains("cuda:N"), "{e}");
        if !candle_core::utils::cuda_is_available() {
            let e = parse_device("cuda:0").unwrap_err().to_string();
            assert!(e.contains("--features cuda"), "{e}");
        }
    }

    /// The system BLAS's SYRK and faer's triangular product agree to round-off.
    #[cfg(feature = "lapack")]
    #[test]
    fn blas_and_faer_gram_products_agree() {
        let (rows, dim) = (37, 19);
        let block: Vec<f64> = (0..rows * dim)
            .map(|k| ((k * 7919) % 101) as f64 / 13.0 - 3.5)
            .collect();
        let (blas, faer) = (
            super::super::system_lapack::gram_lower(&block, rows, dim),
            gram_lower_faer(&block, rows, dim),
        );
        for j in 0..dim {
            for i in j..dim {
                let (b, f) = (blas[j * dim + i], faer[j * dim + i]);
                assert!(
                    (b - f).abs() <= 1e-12 * f.abs().max(1.0),
                    "({i}, {j}): {b} vs {f}"
                );
            }
        }
    }

    #[test]
    fn gram_and_cross_products_match_direct_sums() {
        let f = Features::new(3, 2, vec![1.0, 2.0, -3.0, 0.5, 4.0, -1.0]).unwrap();
        let g = gram_f64(f.rows_f64(0, 3), 3, 2, &Device::Cpu).unwrap();
        let g01: f64 = (0..3).map(|r| f.get(r, 0) * f.get(r, 1)).sum();
        assert_eq!(g, vec![26.0, g01, g01, 5.25]);
        // The GPU route, run on the CPU: the same products.
        assert_eq!(
            gram_candle(f.rows_f64(0, 3), 3, 2, &Device::Cpu).unwrap(),
            g
        );
        let a = upload(&f, 1, 2, DType::F32, &Device::Cpu).unwrap();
        let b = upload(&f, 0, 3, DType::F32, &Device::Cpu).unwrap();
        let p: Vec<f32> = cross(&a, &b).unwrap();
        assert_eq!(p.len(), 6);
        let h = host_cross(&f.rows_f32(1, 2), 2, &f.rows_f32(0, 3), 3, 2);
        assert_eq!(h, p, "the CPU and tensor routes give the same products");
        assert_eq!(p[0], f.dot(1, &f, 0) as f32);
        assert_eq!(p[5], f.dot(2, &f, 2) as f32);
    }
}
