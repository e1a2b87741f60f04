//! Provenance for Assay results.
//!
//! Every result Assay prints names the exact bytes it was computed from. The
//! [`record`] module hashes inputs *while they are read*, so that provenance
//! costs no second pass over a large file.

pub mod record;

pub use record::{HashingReader, InputRecord};
