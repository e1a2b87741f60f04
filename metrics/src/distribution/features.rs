//! A feature matrix: one row per sample, f64, validated once.

use crate::MetricError;

/// `rows × dim` features, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    pub rows: usize,
    pub dim: usize,
    pub data: Vec<f64>,
}

impl Features {
    /// Wrap row-major data; every value must be finite (the error names the first bad row).
    pub fn new(rows: usize, dim: usize, data: Vec<f64>) -> Result<Self, MetricError> {
        if rows * dim != data.len() {
            return Err(MetricError::InvalidConfig(format!(
                "{} values do not make {rows} rows of {dim}",
                data.len()
            )));
        }
        if dim == 0 {
            return Err(MetricError::InvalidConfig(
                "features have 0 dimensions".into(),
            ));
        }
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(MetricError::NonFinite {
                row: i / dim,
                col: i % dim,
                value: data[i],
            });
        }
        Ok(Features { rows, dim, data })
    }

    pub fn from_f32(rows: usize, dim: usize, data: &[f32]) -> Result<Self, MetricError> {
        Self::new(rows, dim, data.iter().map(|&v| v as f64).collect())
    }

    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// The rows `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> Features {
        let mut data = Vec::with_capacity(idx.len() * self.dim);
        for &i in idx {
            data.extend_from_slice(self.row(i));
        }
        Features {
            rows: idx.len(),
            dim: self.dim,
            data,
        }
    }

    pub(crate) fn same_dim(&self, other: &Features) -> Result<(), MetricError> {
        if self.dim != other.dim {
            return Err(MetricError::DimensionMismatch(self.dim, other.dim));
        }
        Ok(())
    }

    pub(crate) fn matrix(&self) -> nalgebra::DMatrix<f64> {
        nalgebra::DMatrix::from_row_slice(self.rows, self.dim, &self.data)
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
    }
}
