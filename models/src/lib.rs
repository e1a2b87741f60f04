//! Networks and media pipelines that turn images into features for Assay's metrics.
//!
//! - [`inception`]: the FID Inception-v3 of pytorch-fid / torch-fidelity (the TF 2015-12-05
//!   graph), in candle: pool3 features, logits, and the 64/192/768 blocks.
//! - [`clip`]: CLIP from a Hugging Face folder (candle-transformers' towers), with its
//!   tokenizer and preprocessing, for CLIPScore.
//! - [`gpt2`], [`lm`]: GPT-2 in candle and the per-token log-probability scorer over causal
//!   language models (sliding windows as the Hugging Face perplexity guide).
//! - [`image`]: decoding as PIL's `.convert("RGB")` does, and the three resize conventions
//!   (`pytorch-fid`, `clean`, `tf1`) on which FID numbers depend.
//! - [`weights`]: where weight files are looked up (no download, ever).
//! - [`extract`]: folders of images to feature matrices, decoded in parallel batch by batch.
//!
//! The metric crates never see a network: they take the features this crate produces.

pub mod attention_cpu;
pub mod clip;
pub mod conv_cpu;
pub mod error;
pub mod extract;
pub mod gelu_new;
pub mod gpt2;
mod host;
pub mod image;
pub mod inception;
pub mod linear_cpu;
pub mod lm;
pub mod lm_head_cpu;
pub mod torch_legacy;
pub mod weights;

pub use error::ModelError;
