//! Perplexity from per-text negative log-likelihoods, under the two conventions users meet:
//! the corpus value exp(Σ NLL / Σ tokens) (the Hugging Face guide's definition, every token
//! weighted alike) and HF evaluate's mean of per-text perplexities (every text weighted alike).

use crate::stats::bootstrap::{bootstrap_items, Interval};
use crate::MetricError;

/// One text's total negative log-likelihood (nats) over its scored tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextNll {
    pub nll: f64,
    pub tokens: usize,
}

impl TextNll {
    pub fn perplexity(&self) -> f64 {
        (self.nll / self.tokens as f64).exp()
    }
}

/// Sufficient statistics of both perplexities; shards merge by adding.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PerplexityAccumulator {
    pub nll: f64,
    pub tokens: usize,
    pub texts: usize,
    /// Σ of per-text perplexities.
    pub text_perplexity_sum: f64,
}

impl PerplexityAccumulator {
    pub fn update(&mut self, t: TextNll) -> Result<(), MetricError> {
        if t.tokens == 0 || !t.nll.is_finite() {
            return Err(MetricError::InvalidInput(format!(
                "a text with {} scored tokens and NLL {}",
                t.tokens, t.nll
            )));
        }
        self.nll += t.nll;
        self.tokens += t.tokens;
        self.texts += 1;
        self.text_perplexity_sum += t.perplexity();
        Ok(())
    }

    pub fn merge(&mut self, o: &PerplexityAccumulator) {
        self.nll += o.nll;
        self.tokens += o.tokens;
        self.texts += o.texts;
        self.text_perplexity_sum += o.text_perplexity_sum;
    }

    /// exp(Σ NLL / Σ tokens).
    pub fn corpus_perplexity(&self) -> Result<f64, MetricError> {
        if self.tokens == 0 {
            return Err(MetricError::Empty);
        }
        Ok((self.nll / self.tokens as f64).exp())
    }

    /// The mean of per-text perplexities (HF evaluate's `mean_perplexity`).
    pub fn mean_text_perplexity(&self) -> Result<f64, MetricError> {
        if self.texts == 0 {
            return Err(MetricError::Empty);
        }
        Ok(self.text_perplexity_sum / self.texts as f64)
    }
}

/// How texts were scored, for the signature.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoringConfig {
    pub model: String,
    pub add_bos: bool,
    pub max_length: usize,
    pub stride: usize,
    pub dtype: String,
}

/// The reproducibility signature of a perplexity: model, BOS, window, dtype, version.
pub fn signature(c: &ScoringConfig) -> String {
    format!(
        "model:{}|bos:{}|max_length:{}|stride:{}|dtype:{}|version:assay-{}",
        c.model,
        if c.add_bos { "yes" } else { "no" },
        c.max_length,
        c.stride,
        c.dtype,
        crate::ASSAY_VERSION
    )
}

/// Bootstrap intervals over texts: (corpus perplexity, mean per-text perplexity).
pub fn bootstrap(
    texts: &[TextNll],
    resamples: usize,
    seed: u64,
) -> Result<(Interval, Interval), MetricError> {
    let corpus = bootstrap_items(texts, resamples, seed, |s| {
        let (nll, n) = s
            .iter()
            .fold((0.0, 0usize), |(a, b), t| (a + t.nll, b + t.tokens));
        (nll / n as f64).exp()
    })?;
    let mean = bootstrap_items(texts, resamples, seed, |s| {
        s.iter().map(|t| t.perplexity()).sum::<f64>() / s.len() as f64
    })?;
    Ok((corpus, mean))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_names_the_scoring_configuration() {
        let c = ScoringConfig {
            model: "gpt2".into(),
            add_bos: true,
            max_length: 1024,
            stride: 512,
            dtype: "f32".into(),
        };
        assert!(signature(&c)
            .starts_with("model:gpt2|bos:yes|max_length:1024|stride:512|dtype:f32|version:assay-"));
    }

    #[test]
    fn corpus_weights_tokens_and_mean_weights_texts() {
        let a = TextNll {
            nll: 2.0f64.ln() * 3.0,
            tokens: 3,
        }; // ppl 2
        let b = TextNll {
            nll: 8.0f64.ln(),
            tokens: 1,
        }; // ppl 8
        let mut acc = PerplexityAccumulator::default();
        acc.update(a).unwrap();
        acc.update(b).unwrap();
        // exp((3 ln 2 + 3 ln 2) / 4) = 2^(6/4)
        assert!((acc.corpus_perplexity().unwrap() - 2f64.powf(1.5)).abs() < 1e-12);
        assert!((acc.mean_text_perplexity().unwrap() - 5.0).abs() < 1e-12);
        let mut left = PerplexityAccumulator::default();
        left.update(a).unwrap();
        let mut right = PerplexityAccumulator::default();
        right.update(b).unwrap();
        left.merge(&right);
        assert_eq!(left, acc);
        assert!(acc
            .update(TextNll {
                nll: 1.0,
                tokens: 0
            })
            .is_err());
        let (c, m) = bootstrap(&[a, b, a], 300, 7).unwrap();
        assert!(
            c.low <= c.high && m.low <= m.high && c.low >= 2.0 - 1e-12 && m.high <= 8.0 + 1e-12
        );
    }
}
