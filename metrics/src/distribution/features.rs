//! A feature matrix: one row per sample, validated once.
//!
//! Values keep the precision they came in (most extractors write f32), so a 50,000 × 2048
//! set costs 400 MB rather than 800 MB, and f32 device kernels can read them without a
//! conversion pass. Every metric computes in f64 (an f32 value converts to f64 exactly).

use crate::MetricError;

#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// `rows × dim` features, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    pub rows: usize,
    pub dim: usize,
    values: Values,
}

fn check_shape(rows: usize, dim: usize, len: usize) -> Result<(), MetricError> {
    if rows * dim != len {
        return Err(MetricError::InvalidConfig(format!(
            "{len} values do not make {rows} rows of {dim}"
        )));
    }
    if dim == 0 {
        return Err(MetricError::InvalidConfig(
            "features have 0 dimensions".into(),
        ));
    }
    Ok(())
}

fn non_finite(dim: usize, i: usize, value: f64) -> MetricError {
    MetricError::NonFinite {
        row: i / dim,
        col: i % dim,
        value,
    }
}

impl Features {
    /// Wrap row-major f64 data; every value must be finite (the error names the first bad row).
    pub fn new(rows: usize, dim: usize, data: Vec<f64>) -> Result<Self, MetricError> {
        check_shape(rows, dim, data.len())?;
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(non_finite(dim, i, data[i]));
        }
        Ok(Features {
            rows,
            dim,
            values: Values::F64(data),
        })
    }

    /// Wrap row-major f32 data, kept as f32.
    pub fn from_f32(rows: usize, dim: usize, data: Vec<f32>) -> Result<Self, MetricError> {
        check_shape(rows, dim, data.len())?;
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(non_finite(dim, i, data[i] as f64));
        }
        Ok(Features {
            rows,
            dim,
            values: Values::F32(data),
        })
    }

    pub fn values(&self) -> &Values {
        &self.values
    }

    /// True when every value is an f32 (so f32 kernels see the data exactly).
    pub fn is_f32(&self) -> bool {
        matches!(self.values, Values::F32(_))
    }

    /// The values, when they are stored as f32.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.values {
            Values::F32(v) => Some(v),
            Values::F64(_) => None,
        }
    }

    /// One value, as f64.
    pub fn get(&self, row: usize, col: usize) -> f64 {
        let i = row * self.dim + col;
        match &self.values {
            Values::F32(v) => v[i] as f64,
            Values::F64(v) => v[i],
        }
    }

    /// Rows `start..start + len`, row-major, as f64.
    pub fn rows_f64(&self, start: usize, len: usize) -> Vec<f64> {
        let r = start * self.dim..(start + len) * self.dim;
        match &self.values {
            Values::F32(v) => v[r].iter().map(|&x| x as f64).collect(),
            Values::F64(v) => v[r].to_vec(),
        }
    }

    /// Rows `start..start + len`, row-major, rounded to f32 where they are f64.
    pub fn rows_f32(&self, start: usize, len: usize) -> Vec<f32> {
        let r = start * self.dim..(start + len) * self.dim;
        match &self.values {
            Values::F32(v) => v[r].to_vec(),
            Values::F64(v) => v[r].iter().map(|&x| x as f32).collect(),
        }
    }

    /// One row, as f64.
    pub fn row(&self, i: usize) -> Vec<f64> {
        self.rows_f64(i, 1)
    }

    /// Dot product of row `i` with row `j` of `other`, in f64.
    pub fn dot(&self, i: usize, other: &Features, j: usize) -> f64 {
        let (a, b) = (i * self.dim, j * other.dim);
        let d = self.dim;
        match (&self.values, &other.values) {
            (Values::F32(x), Values::F32(y)) => x[a..a + d]
                .iter()
                .zip(&y[b..b + d])
                .map(|(&p, &q)| p as f64 * q as f64)
                .sum(),
            _ => (0..d).map(|c| self.get(i, c) * other.get(j, c)).sum(),
        }
    }

    /// Squared Euclidean norm of every row, in f64.
    pub fn squared_norms(&self) -> Vec<f64> {
        (0..self.rows).map(|i| self.dot(i, self, i)).collect()
    }

    /// The rows `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> Features {
        let d = self.dim;
        let values = match &self.values {
            Values::F32(v) => Values::F32(
                idx.iter()
                    .flat_map(|&i| v[i * d..(i + 1) * d].iter().copied())
                    .collect(),
            ),
            Values::F64(v) => Values::F64(
                idx.iter()
                    .flat_map(|&i| v[i * d..(i + 1) * d].iter().copied())
                    .collect(),
            ),
        };
        Features {
            rows: idx.len(),
            dim: d,
            values,
        }
    }

    pub(crate) fn same_dim(&self, other: &Features) -> Result<(), MetricError> {
        if self.dim != other.dim {
            return Err(MetricError::DimensionMismatch(self.dim, other.dim));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_values_are_named_by_row() {
        let err = Features::new(2, 2, vec![0.0, 1.0, f64::NAN, 2.0]).unwrap_err();
        assert!(matches!(err, MetricError::NonFinite { row: 1, col: 0, .. }));
        assert!(err.to_string().contains("row 1"));
        assert!(Features::new(2, 2, vec![0.0; 3]).is_err());
        let err = Features::from_f32(2, 3, vec![0.0, 1.0, 2.0, 3.0, f32::INFINITY, 5.0]);
        assert!(matches!(
            err,
            Err(MetricError::NonFinite { row: 1, col: 1, .. })
        ));
    }

    #[test]
    fn f32_and_f64_storage_read_alike() {
        let v = vec![0.5f32, -1.25, 3.0, 7.75, 2.0, -0.125];
        let a = Features::from_f32(3, 2, v.clone()).unwrap();
        let b = Features::new(3, 2, v.iter().map(|&x| x as f64).collect()).unwrap();
        assert!(a.is_f32() && !b.is_f32());
        assert_eq!(a.rows_f64(1, 2), b.rows_f64(1, 2));
        assert_eq!(a.select(&[2, 0]).row(0), vec![2.0, -0.125]);
        assert_eq!(a.dot(1, &b, 2), 3.0 * 2.0 + 7.75 * -0.125);
        assert_eq!(a.squared_norms(), b.squared_norms());
    }
}
