//! Assay's metrics: pure numerics on text segments and feature arrays.
//!
//! Nothing here loads a model or touches the network: metrics take strings and arrays,
//! so that anyone with their own outputs or embeddings can use all of it.
//!
//! Every metric comes two ways (the torchmetrics pattern): a pure function over whole
//! inputs (`bleu::corpus_score`) and an accumulator with `update` / `merge` / `finalize`
//! that keeps sufficient statistics in f64, so that shards combine exactly.

pub mod alignment;
pub mod distribution;
pub mod error;
pub mod lm;
pub mod stats;
pub mod text;

pub use error::MetricError;

/// The version recorded in every signature (`version:assay-…`).
pub const ASSAY_VERSION: &str = env!("CARGO_PKG_VERSION");
