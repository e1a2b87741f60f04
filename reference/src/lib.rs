//! Synthetic data whose true distribution is known, so that every metric and probe can be
//! checked against the truth (issue [5/7]); the bundled generators will build on it.
//!
//! - [`data::glyphs`]: 28 x 28 grey images of ten shape classes from an explicit generative
//!   process with known class probabilities.
//! - [`data::hmm_text`]: texts from a fixed hidden Markov model over made-up words, with the
//!   exact log-likelihood of any text by the forward algorithm; and the planted-bias variant.
//! - [`families::classifier`]: the glyph classifier, whose penultimate features and logits
//!   are the FID/KID/IS/PRDC feature extractor of the glyph domain.

pub mod data;
pub mod families;
