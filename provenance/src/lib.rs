//! Provenance for Assay results.
//!
//! Every result Assay prints names the exact bytes it was computed from. The
//! [`record`] module hashes inputs *while they are read*, so that provenance
//! costs no second pass over a large file. The [`watermark`] module marks and detects
//! generated media; [`content_credentials`] signs and verifies their C2PA manifests.

pub mod content_credentials;
pub mod record;
pub mod results_signature;
pub mod signing_credentials;
pub mod watermark;

pub use record::{HashingReader, InputRecord};
