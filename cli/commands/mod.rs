//! What each subcommand does: read inputs, call the libraries, fill a results document.

pub mod bench;
pub mod bench_watermark;
pub mod clipscore;
pub mod demo;
pub mod demo_generators;
pub mod demo_provenance;
pub mod features;
pub mod image;
pub mod models;
pub mod perplexity;
pub mod provenance;
pub mod reference;
pub mod text;
pub mod watermark;
pub mod watermark_image;
pub mod watermark_robustness;
