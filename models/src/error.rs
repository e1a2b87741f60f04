use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// No weight file where one was looked for; `hint` says what to put where.
    #[error("{what} not found (looked in: {tried}). {hint}")]
    MissingWeights {
        what: String,
        tried: String,
        hint: String,
    },
    /// A weight file that exists but cannot be used (format, missing tensor, wrong shape).
    #[error("{path}: {msg}")]
    BadWeights { path: PathBuf, msg: String },
    /// An image that cannot be decoded, or is refused (too large, unsupported pixel type).
    #[error("{path}: {msg}")]
    BadImage { path: PathBuf, msg: String },
    #[error("{0}")]
    Input(String),
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

pub type Result<T> = std::result::Result<T, ModelError>;
