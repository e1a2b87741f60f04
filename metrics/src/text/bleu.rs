//! BLEU (Papineni et al. 2002), identical to sacrebleu 2.x `corpus_bleu` / `sentence_bleu`.
//!
//! Per-segment statistics are `[hyp_len, ref_len, correct_1..N, total_1..N]`, sacrebleu's own
//! layout, so corpus scores, bootstrap resamples and shard merges all sum the same columns.

use super::ngrams::{self, Vocab};
use super::pystr;
use super::tokenizers::{Tokenize, TokenizerKind};
use super::{corpus_stats, SegmentMetric};
use crate::MetricError;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// Smoothing of zero n-gram matches (Chen and Cherry 2014), by sacrebleu's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum SmoothMethod {
    #[serde(rename = "none")]
    None,
    /// Method 1: a floor of `value` matches (default 0.1).
    #[serde(rename = "floor")]
    Floor,
    /// Method 2: add `value` (default 1) to matches and totals of orders > 1.
    #[serde(rename = "add-k")]
    AddK,
    /// Method 3: NIST / mteval-v13a exponential smoothing (the default).
    #[default]
    #[serde(rename = "exp")]
    Exp,
}

impl SmoothMethod {
    pub fn name(self) -> &'static str {
        match self {
            SmoothMethod::None => "none",
            SmoothMethod::Floor => "floor",
            SmoothMethod::AddK => "add-k",
            SmoothMethod::Exp => "exp",
        }
    }

    /// sacrebleu's `SMOOTH_DEFAULTS`.
    pub fn default_value(self) -> Option<f64> {
        match self {
            SmoothMethod::Floor => Some(0.1),
            SmoothMethod::AddK => Some(1.0),
            SmoothMethod::None | SmoothMethod::Exp => None,
        }
    }
}

impl FromStr for SmoothMethod {
    type Err = MetricError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "none" => SmoothMethod::None,
            "floor" => SmoothMethod::Floor,
            "add-k" => SmoothMethod::AddK,
            "exp" => SmoothMethod::Exp,
            _ => {
                return Err(MetricError::InvalidConfig(format!(
                    "unknown smoothing method '{s}' (known: exp, floor, add-k, none)"
                )))
            }
        })
    }
}

/// BLEU settings; `Default` is sacrebleu's `BLEU()` default.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BleuConfig {
    pub tokenizer: TokenizerKind,
    pub lowercase: bool,
    pub smooth_method: SmoothMethod,
    /// `None` means the method's default value.
    pub smooth_value: Option<f64>,
    pub max_ngram_order: usize,
    pub effective_order: bool,
}

impl Default for BleuConfig {
    fn default() -> Self {
        BleuConfig {
            tokenizer: TokenizerKind::T13a,
            lowercase: false,
            smooth_method: SmoothMethod::Exp,
            smooth_value: None,
            max_ngram_order: 4,
            effective_order: false,
        }
    }
}

impl BleuConfig {
    /// sacrebleu's `sentence_bleu` defaults: effective order on.
    pub fn sentence() -> Self {
        BleuConfig {
            effective_order: true,
            ..Default::default()
        }
    }
}

/// A BLEU score with everything sacrebleu reports about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BleuScore {
    pub score: f64,
    pub counts: Vec<f64>,
    pub totals: Vec<f64>,
    pub precisions: Vec<f64>,
    pub bp: f64,
    pub ratio: f64,
    pub sys_len: u64,
    pub ref_len: u64,
}

impl fmt::Display for BleuScore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p: Vec<String> = self.precisions.iter().map(|p| format!("{p:.1}")).collect();
        write!(
            f,
            "{:.2} {} (BP = {:.3} ratio = {:.3} hyp_len = {} ref_len = {})",
            self.score,
            p.join("/"),
            self.bp,
            self.ratio,
            self.sys_len,
            self.ref_len
        )
    }
}

/// A BLEU metric ready to score (tokenizer built once).
pub struct Bleu {
    pub config: BleuConfig,
    tokenizer: Box<dyn Tokenize>,
}

impl Bleu {
    pub fn new(config: BleuConfig) -> Result<Self, MetricError> {
        if config.max_ngram_order == 0 {
            return Err(MetricError::InvalidConfig(
                "max_ngram_order must be at least 1".into(),
            ));
        }
        Ok(Bleu {
            tokenizer: config.tokenizer.build(),
            config,
        })
    }

    fn preprocess(&self, sent: &str) -> String {
        // Only the tokens matter here, so whitespace need not be normalised.
        if self.config.lowercase {
            self.tokenizer
                .tokenize_raw(pystr::rstrip(&sent.to_lowercase()))
        } else {
            self.tokenizer.tokenize_raw(pystr::rstrip(sent))
        }
    }

    /// sacrebleu's `compute_bleu` on summed statistics.
    pub fn score_from_stats(&self, stats: &[f64]) -> BleuScore {
        let order = self.config.max_ngram_order;
        let sys_len = stats[0];
        let ref_len = stats[1];
        let mut correct = stats[2..2 + order].to_vec();
        let mut total = stats[2 + order..2 + 2 * order].to_vec();
        let smooth_value = self
            .config
            .smooth_value
            .or(self.config.smooth_method.default_value());

        let bp = if sys_len < ref_len {
            if sys_len > 0.0 {
                (1.0 - ref_len / sys_len).exp()
            } else {
                0.0
            }
        } else {
            1.0
        };
        let mut precisions = vec![0.0; order];
        let make = |score, correct, total, precisions| BleuScore {
            score,
            counts: correct,
            totals: total,
            precisions,
            bp,
            ratio: if ref_len > 0.0 {
                sys_len / ref_len
            } else {
                0.0
            },
            sys_len: sys_len as u64,
            ref_len: ref_len as u64,
        };
        // No match of any order: the score is 0 (sacrebleu #141).
        if correct.iter().all(|&c| c == 0.0) {
            return make(0.0, correct, total, precisions);
        }
        let mut smooth_mteval = 1.0;
        let mut eff_order = order;
        for n in 1..=order {
            if self.config.smooth_method == SmoothMethod::AddK && n > 1 {
                let k = smooth_value.unwrap_or(1.0);
                correct[n - 1] += k;
                total[n - 1] += k;
            }
            if total[n - 1] == 0.0 {
                break;
            }
            if self.config.effective_order {
                eff_order = n;
            }
            if correct[n - 1] == 0.0 {
                match self.config.smooth_method {
                    SmoothMethod::Exp => {
                        smooth_mteval *= 2.0;
                        precisions[n - 1] = 100.0 / (smooth_mteval * total[n - 1]);
                    }
                    SmoothMethod::Floor => {
                        precisions[n - 1] = 100.0 * smooth_value.unwrap_or(0.1) / total[n - 1];
                    }
                    _ => {}
                }
            } else {
                precisions[n - 1] = 100.0 * correct[n - 1] / total[n - 1];
            }
        }
        // sacrebleu's my_log floors log(0) at -9999999999; summed left to right as Python's sum().
        let mut log_sum = 0.0;
        for &p in &precisions[..eff_order] {
            log_sum += if p == 0.0 { -9999999999.0 } else { p.ln() };
        }
        let score = bp * (log_sum / eff_order as f64).exp();
        make(score, correct, total, precisions)
    }
}

impl SegmentMetric for Bleu {
    fn value_names(&self) -> Vec<String> {
        vec!["bleu".into()]
    }

    fn n_stats(&self) -> usize {
        2 + 2 * self.config.max_ngram_order
    }

    fn segment_stats(&self, hyp: &str, refs: &[&str], out: &mut [f64]) {
        let order = self.config.max_ngram_order;
        let hyp_tok = self.preprocess(hyp);
        let ref_toks: Vec<String> = refs.iter().map(|r| self.preprocess(r)).collect();

        let mut vocab = Vocab::with_capacity(64);
        let hyp_ids = vocab.ids(pystr::split(&hyp_tok));
        let ref_ids: Vec<Vec<u32>> = ref_toks
            .iter()
            .map(|r| vocab.ids(pystr::split(r)))
            .collect();

        // Closest reference length; ties go to the shorter reference.
        let hyp_len = hyp_ids.len() as i64;
        let mut closest: Option<(i64, i64)> = None;
        for ids in &ref_ids {
            let len = ids.len() as i64;
            let diff = (hyp_len - len).abs();
            closest = match closest {
                None => Some((diff, len)),
                Some((d, l)) if diff < d || (diff == d && len < l) => Some((diff, len)),
                keep => keep,
            };
        }
        out.fill(0.0);
        out[0] = hyp_len as f64;
        out[1] = closest.map_or(-1, |(_, l)| l) as f64;
        for n in 1..=order {
            out[2 + order + n - 1] = hyp_ids.len().saturating_sub(n - 1) as f64;
        }
        // Matches clipped by the largest count in any one reference.
        match ngrams::SortedWindows::new(&hyp_ids, order, 32) {
            Some(hw) => {
                let rws: Vec<_> = ref_ids
                    .iter()
                    .map(|r| ngrams::SortedWindows::new(r, order, 32).expect("same order fits"))
                    .collect();
                for n in 1..=order {
                    out[2 + n - 1] = if rws.len() == 1 {
                        ngrams::intersection(hw.order(n), rws[0].order(n))
                    } else {
                        let h: Vec<u128> = hw.order(n).collect();
                        let rs: Vec<Vec<u128>> = rws.iter().map(|w| w.order(n).collect()).collect();
                        ngrams::clipped_by_max(&h, &rs)
                    } as f64;
                }
            }
            None => {
                // Orders above 4 do not pack into 128 bits: count with hashes.
                for n in 1..=order {
                    out[2 + n - 1] = ngrams::clipped_by_max_hashed(&hyp_ids, &ref_ids, n) as f64;
                }
            }
        }
    }

    fn values(&self, totals: &[f64], _n: usize) -> Vec<f64> {
        vec![self.score_from_stats(totals).score]
    }

    fn signature(&self, nrefs: usize) -> String {
        let c = &self.config;
        let mut smooth = c.smooth_method.name().to_string();
        if let Some(def) = c.smooth_method.default_value() {
            smooth += &format!("[{:.2}]", c.smooth_value.unwrap_or(def));
        }
        format!(
            "nrefs:{nrefs}|case:{}|eff:{}|tok:{}|smooth:{smooth}|version:assay-{}",
            if c.lowercase { "lc" } else { "mixed" },
            if c.effective_order { "yes" } else { "no" },
            c.tokenizer,
            crate::ASSAY_VERSION
        )
    }
}

/// Corpus BLEU of `hyps` against reference streams `refs` (`refs[k][i]` is the k-th
/// reference of segment i), as sacrebleu's `corpus_bleu`.
pub fn corpus_score<H, R>(
    hyps: &[H],
    refs: &[Vec<R>],
    config: &BleuConfig,
) -> Result<BleuScore, MetricError>
where
    H: AsRef<str> + Sync,
    R: AsRef<str> + Sync,
{
    let bleu = Bleu::new(config.clone())?;
    let stats = corpus_stats(&bleu, hyps, refs)?;
    Ok(bleu.score_from_stats(&stats.totals()))
}

/// BLEU of one segment, as sacrebleu's `sentence_bleu` (use [`BleuConfig::sentence`]).
pub fn sentence_score(
    hyp: &str,
    refs: &[&str],
    config: &BleuConfig,
) -> Result<BleuScore, MetricError> {
    let bleu = Bleu::new(config.clone())?;
    let mut row = vec![0.0; bleu.n_stats()];
    bleu.segment_stats(hyp, refs, &mut row);
    Ok(bleu.score_from_stats(&row))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_match_is_100_and_disjoint_is_0() {
        let cfg = BleuConfig::default();
        let s = corpus_score(
            &["the cat sat on the mat"],
            &[vec!["the cat sat on the mat"]],
            &cfg,
        )
        .unwrap();
        assert!((s.score - 100.0).abs() < 1e-12);
        let s = corpus_score(&["a b c d"], &[vec!["e f g h"]], &cfg).unwrap();
        assert_eq!(s.score, 0.0);
    }

    #[test]
    fn brevity_penalty_and_closest_reference() {
        // hyp has 4 tokens; refs of 3 and 5 tokens are equally close: the shorter wins.
        let bleu = Bleu::new(BleuConfig::default()).unwrap();
        let mut row = vec![0.0; bleu.n_stats()];
        bleu.segment_stats("a b c d", &["a b c", "a b c d e"], &mut row);
        assert_eq!(row[0], 4.0);
        assert_eq!(row[1], 3.0);
        let s = corpus_score(&["a b"], &[vec!["a b c d"]], &BleuConfig::default()).unwrap();
        assert!((s.bp - (1.0f64 - 2.0).exp()).abs() < 1e-15);
    }

    #[test]
    fn clipped_counts_use_the_max_over_references() {
        let bleu = Bleu::new(BleuConfig::default()).unwrap();
        let mut row = vec![0.0; bleu.n_stats()];
        bleu.segment_stats("the the the the", &["the cat", "the the dog"], &mut row);
        assert_eq!(row[2], 2.0); // unigram matches clipped at 2
        assert_eq!(row[6], 4.0); // unigram total
    }

    #[test]
    fn signature_names_the_configuration() {
        let b = Bleu::new(BleuConfig::default()).unwrap();
        assert!(b
            .signature(1)
            .starts_with("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:assay-"));
        let b = Bleu::new(BleuConfig {
            smooth_method: SmoothMethod::Floor,
            ..Default::default()
        })
        .unwrap();
        assert!(b.signature(2).contains("smooth:floor[0.10]"));
    }
}
