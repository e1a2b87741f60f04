//! Watermarks for generated media.
//!
//! - [`green_list`]: the text watermark of Kirchenbauer et al. 2023, compatible with their
//!   reference code, and its detector (tokenizer and key only).
//! - [`sampling`]: seeded sampling from logits, with or without the watermark's bias.

pub mod green_list;
pub mod sampling;

pub use green_list::{Detection, GreenList, GreenListConfig};
