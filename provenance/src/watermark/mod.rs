//! Watermarks for generated media.
//!
//! - [`green_list`]: the text watermark of Kirchenbauer et al. 2023, compatible with their
//!   reference code, and its detector (tokenizer and key only).
//! - [`imwatermark`]: the `dwtDct` and `dwtDctSvd` image schemes of invisible-watermark,
//!   bit-compatible both ways, and the fixed messages of the Stable Diffusion pipelines.
//! - [`spread_spectrum`]: Assay's own image watermark (keyed, LDPC-coded, exact false-positive
//!   bound), the default scheme.
//! - [`attacks`]: the fixed suite of image and text distortions of the robustness report.
//! - [`robustness`]: every scheme through every attack, with false positives and PSNR/SSIM.
//! - [`sampling`]: seeded sampling from logits, with or without the watermark's bias.

pub mod attacks;
pub mod green_list;
pub mod imwatermark;
pub mod opencv_yuv;
pub mod pywt_haar;
pub mod robustness;
pub mod sampling;
pub mod spread_spectrum;

pub use green_list::{Detection, GreenList, GreenListConfig};
