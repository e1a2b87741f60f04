//! Errors of the `assay` binary and the exit code each maps to.

use std::fmt;

/// What went wrong, by who must act: the user (usage, input) or us (internal).
#[derive(Debug)]
pub enum CliError {
    /// Bad flags or flag combinations: exit 2.
    Usage(String),
    /// An input file that is missing, unreadable or malformed: exit 2.
    Input(String),
    /// A gate or verification that failed: exit 1.
    #[allow(dead_code)] // used by `assay gate` once it exists
    Failed(String),
    /// A bug or an environment problem (e.g. cannot write to a temp file): exit 3.
    Internal(String),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Failed(_) => 1,
            CliError::Usage(_) | CliError::Input(_) => 2,
            CliError::Internal(_) => 3,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) => write!(f, "usage error: {m}"),
            CliError::Input(m) => write!(f, "input error: {m}"),
            CliError::Failed(m) => write!(f, "failed: {m}"),
            CliError::Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

impl From<assay_metrics::MetricError> for CliError {
    fn from(e: assay_metrics::MetricError) -> Self {
        CliError::Input(e.to_string())
    }
}

impl From<assay_models::ModelError> for CliError {
    fn from(e: assay_models::ModelError) -> Self {
        use assay_models::ModelError as M;
        match e {
            M::Candle(_) => CliError::Internal(e.to_string()),
            e => CliError::Input(e.to_string()),
        }
    }
}

pub type CliResult<T> = Result<T, CliError>;
