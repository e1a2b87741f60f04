//! Watermarks for generated media.
//!
//! - [`green_list`]: the text watermark of Kirchenbauer et al. 2023, compatible with their
//!   reference code, and its detector (tokenizer and key only).
//! - [`imwatermark`]: the `dwtDct` and `dwtDctSvd` image schemes of invisible-watermark,
//!   bit-compatible both ways, and the fixed messages of the Stable Diffusion pipelines.
//! - [`sampling`]: seeded sampling from logits, with or without the watermark's bias.

pub mod green_list;
pub mod imwatermark;
pub mod opencv_yuv;
pub mod pywt_haar;
pub mod sampling;

pub use green_list::{Detection, GreenList, GreenListConfig};
