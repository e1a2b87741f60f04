//! Metrics on language-model log-probabilities (the models live in `assay-models`).

pub mod perplexity;
