//! Feature inputs: `.npy`, `.npz` (an array by name, or `mu`/`sigma` stats), `.safetensors`
//! (a tensor by name) and Parquet (a list column), each as `FILE[:NAME]`; and stats files
//! written as pytorch-fid and clean-fid write them, plus Assay's mergeable `n`/`sum`/`outer`.

use crate::error::{CliError, CliResult};
use assay_metrics::distribution::gaussian::GaussianStats;
use assay_metrics::distribution::Features;
use assay_provenance::{HashingReader, InputRecord};
use nalgebra::{DMatrix, DVector};
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

/// What a feature file holds.
pub enum FeatureData {
    Features(Features),
    /// Means and covariance only (a stats file); `n` when it is one of Assay's, which makes
    /// it mergeable (see [`FeatureData::mergeable`]).
    Stats {
        mu: DVector<f64>,
        sigma: DMatrix<f64>,
        n: Option<usize>,
    },
}

impl FeatureData {
    /// The accumulator a stats file with `n` stands for, rebuilt from mu and sigma rather than
    /// from the raw sums also stored (for other tools): outer - n·mu·muᵀ cancels digits when the
    /// mean is large against the spread. Built on demand: FD needs only mu and sigma.
    pub fn mergeable(&self) -> Option<GaussianStats> {
        match self {
            FeatureData::Stats {
                mu,
                sigma,
                n: Some(n),
            } => Some(GaussianStats {
                n: *n,
                mean: mu.clone(),
                m2: sigma * (*n as f64 - 1.0),
            }),
            _ => None,
        }
    }
}

pub struct FeatureInput {
    pub label: String,
    pub data: FeatureData,
    pub record: InputRecord,
}

impl FeatureInput {
    pub fn features(&self, what: &str) -> CliResult<&Features> {
        match &self.data {
            FeatureData::Features(f) => Ok(f),
            FeatureData::Stats { .. } => Err(CliError::Input(format!(
                "{}: holds mean/covariance stats only; {what} needs the features themselves",
                self.label
            ))),
        }
    }

    pub fn dim(&self) -> usize {
        match &self.data {
            FeatureData::Features(f) => f.dim,
            FeatureData::Stats { mu, .. } => mu.len(),
        }
    }
}

fn split_spec(spec: &str) -> CliResult<(PathBuf, Option<String>)> {
    let whole = PathBuf::from(spec);
    if whole.exists() {
        return Ok((whole, None));
    }
    if let Some((f, n)) = spec.rsplit_once(':') {
        if Path::new(f).exists() && !n.is_empty() {
            return Ok((PathBuf::from(f), Some(n.to_string())));
        }
    }
    Err(CliError::Input(format!("{spec}: no such file")))
}

fn bad(label: &str, msg: impl std::fmt::Display) -> CliError {
    CliError::Input(format!("{label}: {msg}"))
}

/// Array values as read: f32 stays f32 (features keep their precision), the rest is f64.
pub enum Raw {
    F32(Vec<f32>),
    F64(Vec<f64>),
}

impl Raw {
    pub fn into_f64(self) -> Vec<f64> {
        match self {
            Raw::F32(v) => v.into_iter().map(f64::from).collect(),
            Raw::F64(v) => v,
        }
    }
}

fn to_features(label: &str, shape: &[u64], data: Raw) -> CliResult<Features> {
    let (rows, dim) = match shape {
        [r, d] => (*r as usize, *d as usize),
        _ => {
            return Err(bad(
                label,
                format!("expected a 2-D array (samples x dimensions), got shape {shape:?}"),
            ))
        }
    };
    match data {
        Raw::F32(v) => Features::from_f32(rows, dim, v),
        Raw::F64(v) => Features::new(rows, dim, v),
    }
    .map_err(|e| bad(label, e))
}

/// The values of an `.npy` array, row-major. The header is npyz's; the data is converted from
/// its little- or big-endian bytes in one pass (npyz's element-wise reader took ~0.1 s per
/// 32 MB covariance), and Fortran-order 2-D arrays are transposed to the row-major layout
/// every caller expects.
pub fn npy_values<R: Read>(label: &str, npy: npyz::NpyFile<R>) -> CliResult<(Vec<u64>, Raw)> {
    let shape = npy.shape().to_vec();
    let fortran = npy.order() == npyz::Order::Fortran;
    let descr = npy.dtype().descr();
    let descr = descr.trim_matches('\'');
    let width = match &descr[1.min(descr.len())..] {
        "f4" | "i4" => 4,
        "f8" | "i8" => 8,
        _ => 0,
    };
    let big_endian = descr.starts_with('>');
    if width == 0 || !(big_endian || descr.starts_with('<') || descr.starts_with('=')) {
        return Err(bad(
            label,
            format!("unsupported array type {descr} (use float32 or float64)"),
        ));
    }
    let len = shape.iter().product::<u64>() as usize;
    let mut bytes = Vec::with_capacity(len * width);
    npy.into_inner()
        .take((len * width) as u64)
        .read_to_end(&mut bytes)
        .map_err(|e| bad(label, e))?;
    if bytes.len() != len * width {
        return Err(bad(
            label,
            format!(
                "truncated array: shape {shape:?} needs {} bytes of data, the file has {}",
                len * width,
                bytes.len()
            ),
        ));
    }
    macro_rules! convert {
        ($t:ty, $n:expr) => {
            bytes
                .chunks_exact($n)
                .map(|c| {
                    let a: [u8; $n] = c.try_into().expect("chunks_exact");
                    if big_endian {
                        <$t>::from_be_bytes(a)
                    } else {
                        <$t>::from_le_bytes(a)
                    }
                })
                .collect::<Vec<$t>>()
        };
    }
    let mut values = match &descr[1..] {
        "f4" => Raw::F32(convert!(f32, 4)),
        "f8" => Raw::F64(convert!(f64, 8)),
        "i4" => Raw::F64(convert!(i32, 4).into_iter().map(f64::from).collect()),
        _ => Raw::F64(convert!(i64, 8).into_iter().map(|x| x as f64).collect()),
    };
    if fortran && shape.len() == 2 {
        let (r, c) = (shape[0] as usize, shape[1] as usize);
        fn transpose<T: Copy>(v: &[T], r: usize, c: usize) -> Vec<T> {
            // Column-major r x c to row-major: element (i, j) sits at j * r + i.
            (0..r * c).map(|k| v[(k % c) * r + k / c]).collect()
        }
        values = match values {
            Raw::F32(v) => Raw::F32(transpose(&v, r, c)),
            Raw::F64(v) => Raw::F64(transpose(&v, r, c)),
        };
    } else if fortran && shape.len() > 2 {
        return Err(bad(
            label,
            "Fortran-order arrays of more than 2 dimensions are not supported (save with np.ascontiguousarray)",
        ));
    }
    Ok((shape, values))
}

/// A row-major d x d array as nalgebra's column-major matrix: a transpose, in 64 x 64 tiles so
/// that both sides stay in cache (an element-wise strided copy of a 2048-d covariance took 40 ms).
fn row_major_square(v: &[f64], d: usize) -> DMatrix<f64> {
    const T: usize = 64;
    let mut out = vec![0.0; d * d];
    for i0 in (0..d).step_by(T) {
        for j0 in (0..d).step_by(T) {
            for i in i0..(i0 + T).min(d) {
                for j in j0..(j0 + T).min(d) {
                    out[j * d + i] = v[i * d + j];
                }
            }
        }
    }
    // Column-major storage: element (i, j) lives at j * d + i.
    DMatrix::from_vec(d, d, out)
}

fn read_npz(label: &str, bytes: &[u8], name: Option<&str>) -> CliResult<FeatureData> {
    let mut z = npyz::npz::NpzArchive::new(Cursor::new(bytes)).map_err(|e| bad(label, e))?;
    let names: Vec<String> = z.array_names().map(str::to_string).collect();
    let mut get = |n: &str| -> CliResult<Option<(Vec<u64>, Raw)>> {
        match z.by_name(n).map_err(|e| bad(label, e))? {
            Some(a) => Ok(Some(npy_values(label, a)?)),
            None => Ok(None),
        }
    };
    if let Some(n) = name {
        let (shape, v) = get(n)?.ok_or_else(|| {
            bad(
                label,
                format!("no array '{n}' (arrays: {})", names.join(", ")),
            )
        })?;
        return Ok(FeatureData::Features(to_features(label, &shape, v)?));
    }
    match (get("mu")?, get("sigma")?) {
        (Some((ms, mu)), Some((ss, sigma))) => {
            let (mu, sigma) = (mu.into_f64(), sigma.into_f64());
            let d = mu.len();
            if ms.len() != 1 || ss != [d as u64, d as u64] {
                return Err(bad(
                    label,
                    format!("mu has shape {ms:?} and sigma {ss:?}: expected (d,) and (d, d)"),
                ));
            }
            if let Some(i) = mu.iter().chain(&sigma).position(|v| !v.is_finite()) {
                return Err(bad(label, format!("mu/sigma value {i} is not finite")));
            }
            let mu = DVector::from_vec(mu);
            let sigma = row_major_square(&sigma, d);
            let n = match get("n")? {
                Some((shape, n)) => {
                    let n = n.into_f64();
                    if !shape.is_empty() || n.len() != 1 || n[0] < 2.0 || n[0].fract() != 0.0 {
                        return Err(bad(
                            label,
                            format!("'n' must be one integer >= 2, got {n:?}"),
                        ));
                    }
                    Some(n[0] as usize)
                }
                None => None,
            };
            Ok(FeatureData::Stats { mu, sigma, n })
        }
        _ => match names.as_slice() {
            [only] => {
                let (shape, v) = get(only)?.expect("listed");
                Ok(FeatureData::Features(to_features(label, &shape, v)?))
            }
            _ => Err(bad(
                label,
                format!(
                    "no mu/sigma stats; name the features array as FILE:NAME (arrays: {})",
                    names.join(", ")
                ),
            )),
        },
    }
}

fn read_safetensors(label: &str, bytes: &[u8], name: Option<&str>) -> CliResult<Features> {
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| bad(label, e))?;
    let names = st.names();
    let n = match (name, names.as_slice()) {
        (Some(n), _) => n.to_string(),
        (None, [only]) => only.to_string(),
        (None, _) => {
            return Err(bad(
                label,
                format!(
                    "name the tensor as FILE:NAME (tensors: {})",
                    names.join(", ")
                ),
            ))
        }
    };
    let t = st.tensor(&n).map_err(|_| {
        bad(
            label,
            format!("no tensor '{n}' (tensors: {})", names.join(", ")),
        )
    })?;
    let shape: Vec<u64> = t.shape().iter().map(|&s| s as u64).collect();
    let raw = t.data();
    let values = match t.dtype() {
        safetensors::Dtype::F32 => Raw::F32(
            raw.chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect(),
        ),
        safetensors::Dtype::F64 => Raw::F64(
            raw.chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
        ),
        other => {
            return Err(bad(
                label,
                format!("tensor '{n}' is {other:?}; use F32 or F64"),
            ))
        }
    };
    to_features(label, &shape, values)
}

fn read_parquet(label: &str, bytes: &[u8], name: Option<&str>) -> CliResult<Features> {
    use polars::prelude::*;
    let df = ParquetReader::new(Cursor::new(bytes))
        .finish()
        .map_err(|e| bad(label, e))?;
    let cols: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let name = match (name, cols.as_slice()) {
        (Some(n), _) => n.to_string(),
        (None, [only]) => only.clone(),
        (None, _) => {
            return Err(bad(
                label,
                format!(
                    "name the features column as FILE:COLUMN (columns: {})",
                    cols.join(", ")
                ),
            ))
        }
    };
    let col = df.column(&name).map_err(|_| {
        bad(
            label,
            format!("no column '{name}' (columns: {})", cols.join(", ")),
        )
    })?;
    // Only lists of numbers are features: polars would also cast a string column to lists
    // (of nulls), so the type is checked first.
    let numeric_lists = match col.dtype() {
        DataType::List(inner) | DataType::Array(inner, _) => inner.is_primitive_numeric(),
        _ => false,
    };
    let col = numeric_lists
        .then(|| col.cast(&DataType::List(Box::new(DataType::Float64))).ok())
        .flatten()
        .ok_or(())
        .map_err(|_| {
            bad(
                label,
                format!(
                    "column '{name}' holds {}, not lists of numbers",
                    col.dtype()
                ),
            )
        })?;
    let list = col.list().map_err(|e| bad(label, e))?;
    let mut data = Vec::new();
    let mut dim = None;
    for i in 0..list.len() {
        let row = list
            .get_as_series(i)
            .ok_or_else(|| bad(label, format!("row {i} (counting from 0) is null")))?;
        let vals = row.f64().map_err(|e| bad(label, e))?;
        let d = vals.len();
        if *dim.get_or_insert(d) != d {
            return Err(bad(
                label,
                format!(
                    "row {i} (counting from 0) has {d} values, earlier rows {}",
                    dim.unwrap_or(0)
                ),
            ));
        }
        for (j, v) in vals.iter().enumerate() {
            data.push(v.ok_or_else(|| {
                bad(
                    label,
                    format!("row {i}, value {j} (counting from 0) is null"),
                )
            })?);
        }
    }
    let rows = list.len();
    Features::new(rows, dim.unwrap_or(0), data).map_err(|e| bad(label, e))
}

/// Read a feature file: its bytes are hashed and decoded at the same time (sha256 of a
/// 64 MB stats file takes half as long as decoding it).
pub fn read_features(spec: &str) -> CliResult<FeatureInput> {
    let (path, name) = split_spec(spec)?;
    let file = std::fs::File::open(&path).map_err(|e| bad(spec, format!("cannot open: {e}")))?;
    // Mapped rather than copied: a 64 MB stats file costs no allocation and no page zeroing.
    // SAFETY: the map is read-only and lives until decoding ends; a file truncated by another
    // process meanwhile is the one hazard, as for any reader of a changing file.
    let map =
        unsafe { memmap2::Mmap::map(&file) }.map_err(|e| bad(spec, format!("cannot read: {e}")))?;
    let bytes: &[u8] = &map;
    if bytes.is_empty() {
        return Err(bad(spec, "file is empty"));
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let decode = || -> CliResult<FeatureData> {
        Ok(match ext.as_deref() {
            Some("npy") => {
                let npy = npyz::NpyFile::new(bytes).map_err(|e| bad(spec, e))?;
                let (shape, v) = npy_values(spec, npy)?;
                FeatureData::Features(to_features(spec, &shape, v)?)
            }
            Some("npz") => read_npz(spec, bytes, name.as_deref())?,
            Some("safetensors") => {
                FeatureData::Features(read_safetensors(spec, bytes, name.as_deref())?)
            }
            Some("parquet" | "pq") => {
                FeatureData::Features(read_parquet(spec, bytes, name.as_deref())?)
            }
            _ => {
                return Err(bad(
                    spec,
                    "unknown feature format: use .npy, .npz, .safetensors or .parquet",
                ))
            }
        })
    };
    let (record, data) = rayon::join(
        || InputRecord::of_bytes(path.display().to_string(), bytes),
        decode,
    );
    let data = data?;
    Ok(FeatureInput {
        label: spec.to_string(),
        data,
        record,
    })
}

/// Stats as an npz that pytorch-fid and clean-fid read (`mu`, `sigma`), plus `n`, `sum` and
/// `outer` (Σx, Σxxᵀ) that make Assay's stats files mergeable.
pub fn stats_npz(s: &GaussianStats) -> CliResult<Vec<u8>> {
    use npyz::WriterBuilder;
    let d = s.dim() as u64;
    let sigma = s.covariance().map_err(|e| CliError::Input(e.to_string()))?;
    let row_major = |m: &DMatrix<f64>| -> Vec<f64> { m.transpose().as_slice().to_vec() };
    let arrays: Vec<(&str, Vec<u64>, Vec<f64>)> = vec![
        ("mu", vec![d], s.mean.as_slice().to_vec()),
        ("sigma", vec![d, d], row_major(&sigma)),
        ("sum", vec![d], s.sum().as_slice().to_vec()),
        ("outer", vec![d, d], row_major(&s.outer())),
    ];
    let io = |e: std::io::Error| CliError::Internal(format!("writing stats: {e}"));
    // Each array is serialised to an in-memory .npy first and enters the archive in one
    // write: written element by element into the zip stream, each 8-byte value went through
    // the archive's CRC on its own (half a second for two 2048 x 2048 arrays).
    let npy = |shape: &[u64], write: &dyn Fn(&mut Vec<u8>) -> std::io::Result<()>| {
        let mut bytes = Vec::new();
        write(&mut bytes).map(|_| bytes).map_err(|e| {
            CliError::Internal(format!("writing stats: array of shape {shape:?}: {e}"))
        })
    };
    let mut files = Vec::new();
    for (name, shape, data) in &arrays {
        let bytes = npy(shape, &|out| {
            let mut a = npyz::WriteOptions::new()
                .default_dtype()
                .shape(shape)
                .writer(out)
                .begin_nd()?;
            a.extend(data.iter().copied())?;
            a.finish()
        })?;
        files.push((*name, bytes));
    }
    let n = npy(&[], &|out| {
        let mut a = npyz::WriteOptions::<i64>::new()
            .default_dtype()
            .shape(&[])
            .writer(out)
            .begin_nd()?;
        a.push(&(s.n as i64))?;
        a.finish()
    })?;
    files.push(("n", n));
    let mut buf = Cursor::new(Vec::new());
    {
        let mut zip = npyz::zip::ZipWriter::new(&mut buf);
        let opts = npyz::zip::write::FileOptions::default()
            .compression_method(npyz::zip::CompressionMethod::Stored);
        for (name, bytes) in files {
            zip.start_file(format!("{name}.npy"), opts)
                .map_err(|e| CliError::Internal(format!("writing stats: {e}")))?;
            zip.write_all(&bytes).map_err(io)?;
        }
        zip.finish()
            .map_err(|e| CliError::Internal(format!("writing stats: {e}")))?;
    }
    Ok(buf.into_inner())
}

/// KID subsets: (real rows, fake rows) per subset.
pub type Subsets = Vec<(Vec<usize>, Vec<usize>)>;

/// KID subsets from an .npz with integer arrays `real` and `fake` of shape (subsets, size):
/// row indices into each set, one row per subset.
pub fn read_subsets(
    path: &Path,
    real_rows: usize,
    fake_rows: usize,
) -> CliResult<(Subsets, InputRecord)> {
    let label = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| bad(&label, format!("cannot open: {e}")))?;
    let mut r = HashingReader::new(file);
    let mut bytes = Vec::new();
    r.read_to_end(&mut bytes)
        .map_err(|e| bad(&label, format!("cannot read: {e}")))?;
    let record = r.finish(path).map_err(|e| bad(&label, e))?;
    let mut z = npyz::npz::NpzArchive::new(Cursor::new(bytes)).map_err(|e| bad(&label, e))?;
    let mut sets = Vec::new();
    for (name, rows) in [("real", real_rows), ("fake", fake_rows)] {
        let npy = z
            .by_name(name)
            .map_err(|e| bad(&label, e))?
            .ok_or_else(|| {
                bad(
                    &label,
                    format!("no integer array '{name}' of subset indices"),
                )
            })?;
        let (shape, values) = npy_values(&label, npy)?;
        let [count, size] = shape[..] else {
            return Err(bad(
                &label,
                format!("'{name}' has shape {shape:?}; expected (subsets, subset size)"),
            ));
        };
        let values = values.into_f64();
        let subsets: Vec<Vec<usize>> = values
            .chunks_exact(size.max(1) as usize)
            .take(count as usize)
            .enumerate()
            .map(|(s, chunk)| {
                chunk
                    .iter()
                    .map(|&v| {
                        if v >= 0.0 && v.fract() == 0.0 && (v as usize) < rows {
                            Ok(v as usize)
                        } else {
                            Err(bad(
                                &label,
                                format!("'{name}' subset {s}: index {v} is not a row of a {rows}-row set"),
                            ))
                        }
                    })
                    .collect()
            })
            .collect::<CliResult<_>>()?;
        sets.push(subsets);
    }
    let fake = sets.pop().expect("two sets");
    let real = sets.pop().expect("two sets");
    if real.len() != fake.len() || real.is_empty() {
        return Err(bad(
            &label,
            format!(
                "'real' has {} subsets and 'fake' {}; they must be equal and non-zero",
                real.len(),
                fake.len()
            ),
        ));
    }
    Ok((real.into_iter().zip(fake).collect(), record))
}
