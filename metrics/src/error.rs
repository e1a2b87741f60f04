//! Typed errors. Each names the input item it is about, so the CLI can say which line.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum MetricError {
    #[error("no segments to score")]
    Empty,
    #[error("reference stream {stream} has {got} segments but the hypotheses have {expected}")]
    RefCountMismatch {
        stream: usize,
        expected: usize,
        got: usize,
    },
    #[error("{0}")]
    InvalidConfig(String),
    /// Input values no metric can score (zero or non-finite embeddings, mismatched counts).
    #[error("{0}")]
    InvalidInput(String),
    #[error("systems have different numbers of segments ({0} and {1})")]
    SystemLengthMismatch(usize, usize),
    #[error("row {row}, column {col} (counting from 0, as numpy does) is not finite ({value})")]
    NonFinite { row: usize, col: usize, value: f64 },
    #[error("feature dimensions differ: {0} and {1}")]
    DimensionMismatch(usize, usize),
    #[error("device: {0}")]
    Device(String),
    #[error("{what} needs at least {need} samples, got {got}")]
    TooFewSamples {
        what: &'static str,
        need: usize,
        got: usize,
    },
}
