//! chrF (Popović 2015) and chrF++ (Popović 2017), identical to sacrebleu 2.x `CHRF`.
//!
//! Statistics per segment are `[hyp, ref, match]` for each character order 1..=char_order,
//! then for each word order 1..=word_order: sacrebleu's layout. With several references, a
//! segment keeps the statistics of the reference with the best sentence-level chrF.

use super::ngrams::{self, Vocab};
use super::pystr;
use super::{corpus_stats, SegmentMetric};
use crate::MetricError;
use serde::Serialize;

/// chrF settings; `Default` is sacrebleu's `CHRF()` (chrF2, no word n-grams).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChrfConfig {
    pub char_order: usize,
    /// 0 for chrF, 2 for chrF++.
    pub word_order: usize,
    pub beta: u32,
    pub lowercase: bool,
    /// Keep whitespace characters inside character n-grams.
    pub whitespace: bool,
    /// chrF++.py-style epsilon smoothing instead of effective-order averaging.
    pub eps_smoothing: bool,
}

impl Default for ChrfConfig {
    fn default() -> Self {
        ChrfConfig {
            char_order: 6,
            word_order: 0,
            beta: 2,
            lowercase: false,
            whitespace: false,
            eps_smoothing: false,
        }
    }
}

impl ChrfConfig {
    /// chrF++: word n-grams up to 2.
    pub fn plus_plus() -> Self {
        ChrfConfig {
            word_order: 2,
            ..Default::default()
        }
    }
}

/// Python's `string.punctuation`.
fn is_ascii_punct(c: char) -> bool {
    c.is_ascii_punctuation()
}

/// sacrebleu's `_remove_punctuation`: one punctuation mark is split off the end of a word,
/// or else off its start (so "(hi)" gives "(hi" and ")").
fn words_for_chrf(sent: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for w in pystr::split(sent) {
        let mut chars = w.chars();
        let first = chars.next().expect("split gives non-empty words");
        let Some(last) = chars.next_back() else {
            out.push(w);
            continue;
        };
        if is_ascii_punct(last) {
            out.push(&w[..w.len() - last.len_utf8()]);
            out.push(&w[w.len() - last.len_utf8()..]);
        } else if is_ascii_punct(first) {
            out.push(&w[..first.len_utf8()]);
            out.push(&w[first.len_utf8()..]);
        } else {
            out.push(w);
        }
    }
    out
}

/// The chrF metric, ready to score.
pub struct Chrf {
    pub config: ChrfConfig,
}

/// The n-grams of orders 1..=max_n of one text: one sort of packed windows when they fit in
/// 128 bits, else hash counts per order.
enum Grams<'a> {
    Windows(ngrams::SortedWindows, usize),
    Counted(Vec<ngrams::Counts<'a, u32>>),
}

impl<'a> Grams<'a> {
    fn of(seq: &'a [u32], max_n: usize, bits: u32) -> Self {
        match ngrams::SortedWindows::new(seq, max_n, bits) {
            Some(w) => Grams::Windows(w, seq.len()),
            None => Grams::Counted((1..=max_n).map(|n| ngrams::count(seq, n)).collect()),
        }
    }

    fn total(&self, n: usize) -> u64 {
        match self {
            Grams::Windows(_, len) => len.saturating_sub(n - 1) as u64,
            Grams::Counted(m) => m[n - 1].values().map(|&c| c as u64).sum(),
        }
    }
}

/// `[hyp, ref, match]` for order n; the hypothesis count is 0 when the reference has no
/// n-gram of that order (sacrebleu: "don't count hits if no reference exists").
fn match_stats(hyp: &Grams, rf: &Grams, n: usize, out: &mut [f64]) {
    let matched = match (hyp, rf) {
        (Grams::Windows(h, _), Grams::Windows(r, _)) => {
            ngrams::intersection(h.order(n), r.order(n))
        }
        (Grams::Counted(h), Grams::Counted(r)) => h[n - 1]
            .iter()
            .map(|(g, &c)| c.min(r[n - 1].get(g).copied().unwrap_or(0)) as u64)
            .sum(),
        _ => unreachable!("hypothesis and reference n-grams are stored alike"),
    };
    let ref_total = rf.total(n);
    out[0] = if ref_total == 0 {
        0.0
    } else {
        hyp.total(n) as f64
    };
    out[1] = ref_total as f64;
    out[2] = matched as f64;
}

impl Chrf {
    pub fn new(config: ChrfConfig) -> Result<Self, MetricError> {
        if config.char_order + config.word_order == 0 {
            return Err(MetricError::InvalidConfig(
                "chrF needs char_order + word_order > 0".into(),
            ));
        }
        Ok(Chrf { config })
    }

    fn order(&self) -> usize {
        self.config.char_order + self.config.word_order
    }

    /// sacrebleu's `_compute_f_score` on (summed) statistics, in its operation order.
    pub fn f_score(&self, stats: &[f64]) -> f64 {
        let eps = 1e-16;
        let factor = (self.config.beta * self.config.beta) as f64;
        let mut score = 0.0;
        let mut effective_order = 0usize;
        let (mut avg_prec, mut avg_rec) = (0.0, 0.0);
        for i in 0..self.order() {
            let (n_hyp, n_ref, n_match) = (stats[3 * i], stats[3 * i + 1], stats[3 * i + 2]);
            let prec = if n_hyp > 0.0 { n_match / n_hyp } else { eps };
            let rec = if n_ref > 0.0 { n_match / n_ref } else { eps };
            let denom = factor * prec + rec;
            score += if denom > 0.0 {
                (1.0 + factor) * prec * rec / denom
            } else {
                eps
            };
            if n_hyp > 0.0 && n_ref > 0.0 {
                avg_prec += prec;
                avg_rec += rec;
                effective_order += 1;
            }
        }
        if self.config.eps_smoothing {
            return 100.0 * score / self.order() as f64;
        }
        if effective_order == 0 {
            avg_prec = 0.0;
            avg_rec = 0.0;
        } else {
            avg_prec /= effective_order as f64;
            avg_rec /= effective_order as f64;
        }
        if avg_prec + avg_rec != 0.0 {
            let mut s = (1.0 + factor) * avg_prec * avg_rec;
            s /= (factor * avg_prec) + avg_rec;
            100.0 * s
        } else {
            0.0
        }
    }

    /// The name sacrebleu prints: chrF2, chrF2++, ...
    pub fn name(&self) -> String {
        format!(
            "chrF{}{}",
            self.config.beta,
            "+".repeat(self.config.word_order)
        )
    }
}

/// Code points of a segment for character n-grams (whitespace removed unless kept).
fn chars_of(s: &str, keep_ws: bool) -> Vec<u32> {
    s.chars()
        .filter(|&c| keep_ws || !pystr::is_py_space(c))
        .map(|c| c as u32)
        .collect()
}

fn lower_if(s: &str, lowercase: bool) -> std::borrow::Cow<'_, str> {
    if lowercase {
        s.to_lowercase().into()
    } else {
        s.into()
    }
}

/// Bits per packed item: a code point needs 21, a word id 32.
const CHAR_BITS: u32 = 21;
const WORD_BITS: u32 = 32;

impl SegmentMetric for Chrf {
    fn value_names(&self) -> Vec<String> {
        vec![if self.config.word_order > 0 {
            "chrf++".into()
        } else {
            "chrf".into()
        }]
    }

    fn n_stats(&self) -> usize {
        3 * self.order()
    }

    fn segment_stats(&self, hyp: &str, refs: &[&str], out: &mut [f64]) {
        let c = &self.config;
        let hyp = lower_if(hyp, c.lowercase);
        let refs: Vec<_> = refs.iter().map(|r| lower_if(r, c.lowercase)).collect();

        let hyp_chars = chars_of(&hyp, c.whitespace);
        let hyp_char_grams = Grams::of(&hyp_chars, c.char_order, CHAR_BITS);
        let mut vocab = Vocab::default();
        let hyp_words = vocab.ids(words_for_chrf(&hyp));
        let hyp_word_grams = Grams::of(&hyp_words, c.word_order.max(1), WORD_BITS);

        let ref_words: Vec<Vec<u32>> = refs.iter().map(|r| vocab.ids(words_for_chrf(r))).collect();
        let mut best_f = -1.0;
        let mut stats = vec![0.0; self.n_stats()];
        out.fill(0.0);
        for (r, r_words) in refs.iter().zip(&ref_words) {
            let r_chars = chars_of(r, c.whitespace);
            if c.char_order > 0 {
                let rc = Grams::of(&r_chars, c.char_order, CHAR_BITS);
                for n in 1..=c.char_order {
                    match_stats(&hyp_char_grams, &rc, n, &mut stats[3 * (n - 1)..3 * n]);
                }
            }
            if c.word_order > 0 {
                let rw = Grams::of(r_words, c.word_order, WORD_BITS);
                for n in 1..=c.word_order {
                    let i = c.char_order + n - 1;
                    match_stats(&hyp_word_grams, &rw, n, &mut stats[3 * i..3 * i + 3]);
                }
            }
            let f = self.f_score(&stats);
            if f > best_f {
                best_f = f;
                out.copy_from_slice(&stats);
            }
        }
    }

    fn values(&self, totals: &[f64], _n: usize) -> Vec<f64> {
        vec![self.f_score(totals)]
    }

    fn signature(&self, nrefs: usize) -> String {
        let c = &self.config;
        format!(
            "nrefs:{nrefs}|case:{}|eff:{}|nc:{}|nw:{}|space:{}|version:assay-{}",
            if c.lowercase { "lc" } else { "mixed" },
            if c.eps_smoothing { "no" } else { "yes" },
            c.char_order,
            c.word_order,
            if c.whitespace { "yes" } else { "no" },
            crate::ASSAY_VERSION
        )
    }
}

/// Corpus chrF as sacrebleu's `corpus_chrf`.
pub fn corpus_score<H, R>(
    hyps: &[H],
    refs: &[Vec<R>],
    config: &ChrfConfig,
) -> Result<f64, MetricError>
where
    H: AsRef<str> + Sync,
    R: AsRef<str> + Sync,
{
    let chrf = Chrf::new(config.clone())?;
    let stats = corpus_stats(&chrf, hyps, refs)?;
    Ok(chrf.f_score(&stats.totals()))
}

/// Sentence chrF as sacrebleu's `sentence_chrf`.
pub fn sentence_score(hyp: &str, refs: &[&str], config: &ChrfConfig) -> Result<f64, MetricError> {
    let chrf = Chrf::new(config.clone())?;
    let mut row = vec![0.0; chrf.n_stats()];
    chrf.segment_stats(hyp, refs, &mut row);
    Ok(chrf.f_score(&row))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn punctuation_is_split_off_one_end() {
        assert_eq!(
            words_for_chrf("(hi) world. , x"),
            vec!["(hi", ")", "world", ".", ",", "x"]
        );
        assert_eq!(words_for_chrf("\"quote"), vec!["\"", "quote"]);
    }

    #[test]
    fn identical_is_100_disjoint_is_0() {
        let cfg = ChrfConfig::default();
        assert!(
            (sentence_score("hello world", &["hello world"], &cfg).unwrap() - 100.0).abs() < 1e-12
        );
        assert_eq!(sentence_score("abc", &["xyz"], &cfg).unwrap(), 0.0);
    }

    #[test]
    fn best_reference_is_kept() {
        let chrf = Chrf::new(ChrfConfig::default()).unwrap();
        let mut row = vec![0.0; chrf.n_stats()];
        chrf.segment_stats("hello", &["zzz", "hello"], &mut row);
        assert!((chrf.f_score(&row) - 100.0).abs() < 1e-12);
    }
}
