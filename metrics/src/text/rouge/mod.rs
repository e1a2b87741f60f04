//! ROUGE-N, ROUGE-L and ROUGE-Lsum, identical to google-research `rouge_score` 0.1.x.
//!
//! Per-segment statistics are `[precision, recall, fmeasure]` for each requested type, and
//! the corpus value of a type is the mean F-measure over segments (precision and recall
//! means come along in the details). Values are fractions in [0, 1], as rouge_score's.

pub mod porter;
mod tokenize;

pub use tokenize::{tokenize, RougeTokenizer};

use super::{corpus_stats, SegmentMetric};
use crate::MetricError;
use rustc_hash::FxHashMap;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// One ROUGE variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum RougeType {
    /// ROUGE-N on n-grams of this order (rouge1, rouge2, ... rouge9).
    N(usize),
    /// Longest common subsequence over the whole text.
    L,
    /// Summary-level LCS over newline-separated sentences.
    Lsum,
}

impl fmt::Display for RougeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RougeType::N(n) => write!(f, "rouge{n}"),
            RougeType::L => f.write_str("rougeL"),
            RougeType::Lsum => f.write_str("rougeLsum"),
        }
    }
}

impl FromStr for RougeType {
    type Err = MetricError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "rougeL" => Ok(RougeType::L),
            "rougeLsum" => Ok(RougeType::Lsum),
            _ => match s
                .strip_prefix("rouge")
                .and_then(|d| d.parse::<usize>().ok())
            {
                Some(n) if (1..=9).contains(&n) && s.len() == 6 => Ok(RougeType::N(n)),
                _ => Err(MetricError::InvalidConfig(format!(
                    "unknown ROUGE type '{s}' (known: rouge1 .. rouge9, rougeL, rougeLsum)"
                ))),
            },
        }
    }
}

/// ROUGE settings; `Default` is `RougeScorer(['rouge1', 'rouge2', 'rougeL', 'rougeLsum'])`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RougeConfig {
    pub types: Vec<RougeType>,
    pub use_stemmer: bool,
    pub tokenizer: RougeTokenizer,
}

impl Default for RougeConfig {
    fn default() -> Self {
        RougeConfig {
            types: vec![
                RougeType::N(1),
                RougeType::N(2),
                RougeType::L,
                RougeType::Lsum,
            ],
            use_stemmer: false,
            tokenizer: RougeTokenizer::Default,
        }
    }
}

/// Precision, recall and F-measure of one ROUGE type on one segment.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct RougeScore {
    pub precision: f64,
    pub recall: f64,
    pub fmeasure: f64,
}

fn fmeasure(p: f64, r: f64) -> f64 {
    if p + r > 0.0 {
        2.0 * p * r / (p + r)
    } else {
        0.0
    }
}

impl RougeScore {
    fn new(precision: f64, recall: f64) -> Self {
        RougeScore {
            precision,
            recall,
            fmeasure: fmeasure(precision, recall),
        }
    }
}

fn score_ngrams(target: &[u32], pred: &[u32], n: usize) -> RougeScore {
    use super::ngrams::{count, intersection, SortedWindows};
    let (tn, pn) = (
        target.len().saturating_sub(n - 1) as u64,
        pred.len().saturating_sub(n - 1) as u64,
    );
    let inter = match (
        SortedWindows::new(target, n, 32),
        SortedWindows::new(pred, n, 32),
    ) {
        (Some(t), Some(p)) => intersection(t.order(n), p.order(n)),
        _ => {
            // Orders above 4 do not pack into 128 bits: count with hashes.
            let (t, p) = (count(target, n), count(pred, n));
            t.iter()
                .map(|(g, &c)| c.min(p.get(g).copied().unwrap_or(0)) as u64)
                .sum()
        }
    };
    RougeScore::new(
        inter as f64 / pn.max(1) as f64,
        inter as f64 / tn.max(1) as f64,
    )
}

/// Length of the longest common subsequence, in O(len(b)) memory.
fn lcs_len(a: &[u32], b: &[u32]) -> usize {
    let mut prev = vec![0usize; b.len() + 1];
    let mut cur = vec![0usize; b.len() + 1];
    for &x in a {
        for (j, &y) in b.iter().enumerate() {
            cur[j + 1] = if x == y {
                prev[j] + 1
            } else {
                prev[j + 1].max(cur[j])
            };
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

fn score_lcs(target: &[u32], pred: &[u32]) -> RougeScore {
    if target.is_empty() || pred.is_empty() {
        return RougeScore::default();
    }
    let l = lcs_len(target, pred) as f64;
    RougeScore::new(l / pred.len() as f64, l / target.len() as f64)
}

/// Indices into `r` of one LCS of `r` and `c`, chosen by rouge_score's backtrack
/// (on a tie it moves up in `r`), since which LCS is chosen changes ROUGE-Lsum.
fn lcs_indices(r: &[u32], c: &[u32]) -> Vec<usize> {
    let cols = c.len() + 1;
    let mut t = vec![0u32; (r.len() + 1) * cols];
    for i in 1..=r.len() {
        for j in 1..=c.len() {
            t[i * cols + j] = if r[i - 1] == c[j - 1] {
                t[(i - 1) * cols + j - 1] + 1
            } else {
                t[(i - 1) * cols + j].max(t[i * cols + j - 1])
            };
        }
    }
    let (mut i, mut j) = (r.len(), c.len());
    let mut out = Vec::new();
    while i > 0 && j > 0 {
        if r[i - 1] == c[j - 1] {
            out.push(i - 1);
            i -= 1;
            j -= 1;
        } else if t[i * cols + j - 1] > t[(i - 1) * cols + j] {
            j -= 1;
        } else {
            i -= 1;
        }
    }
    out.reverse();
    out
}

/// Summary-level LCS (ROUGE paper §3.2) with rouge_score's guard against double counting.
fn summary_level_lcs(refs: &[Vec<u32>], cands: &[Vec<u32>]) -> RougeScore {
    if refs.is_empty() || cands.is_empty() {
        return RougeScore::default();
    }
    let m: usize = refs.iter().map(Vec::len).sum();
    let n: usize = cands.iter().map(Vec::len).sum();
    if m == 0 || n == 0 {
        return RougeScore::default();
    }
    let mut cnt_r: FxHashMap<u32, i64> = FxHashMap::default();
    let mut cnt_c: FxHashMap<u32, i64> = FxHashMap::default();
    for s in refs {
        for &t in s {
            *cnt_r.entry(t).or_default() += 1;
        }
    }
    for s in cands {
        for &t in s {
            *cnt_c.entry(t).or_default() += 1;
        }
    }
    let mut hits = 0usize;
    for r in refs {
        let mut union: Vec<usize> = cands.iter().flat_map(|c| lcs_indices(r, c)).collect();
        union.sort_unstable();
        union.dedup();
        for i in union {
            let t = r[i];
            let (cc, cr) = (
                cnt_c.get(&t).copied().unwrap_or(0),
                cnt_r.get(&t).copied().unwrap_or(0),
            );
            if cc > 0 && cr > 0 {
                hits += 1;
                *cnt_c.get_mut(&t).unwrap() -= 1;
                *cnt_r.get_mut(&t).unwrap() -= 1;
            }
        }
    }
    RougeScore::new(hits as f64 / n as f64, hits as f64 / m as f64)
}

/// The ROUGE metric, ready to score.
pub struct Rouge {
    pub config: RougeConfig,
}

impl Rouge {
    pub fn new(config: RougeConfig) -> Result<Self, MetricError> {
        if config.types.is_empty() {
            return Err(MetricError::InvalidConfig("no ROUGE type requested".into()));
        }
        Ok(Rouge { config })
    }

    /// Token ids of `text`, interned in `vocab` (shared by target and prediction).
    fn token_ids(&self, text: &str, vocab: &mut FxHashMap<String, u32>) -> Vec<u32> {
        let mut ids = Vec::new();
        tokenize::for_each_token(text, self.config.use_stemmer, self.config.tokenizer, |t| {
            let id = match vocab.get(t) {
                Some(&id) => id,
                None => {
                    let id = vocab.len() as u32;
                    vocab.insert(t.to_string(), id);
                    id
                }
            };
            ids.push(id);
        });
        ids
    }

    /// Scores of every configured type for one target and one prediction (`RougeScorer.score`).
    pub fn score(&self, target: &str, prediction: &str) -> Vec<RougeScore> {
        let mut vocab: FxHashMap<String, u32> =
            FxHashMap::with_capacity_and_hasher(64, Default::default());
        let mut ids = |text: &str| self.token_ids(text, &mut vocab);
        let needs_whole = self.config.types.iter().any(|t| *t != RougeType::Lsum);
        let (t, p) = if needs_whole {
            (ids(target), ids(prediction))
        } else {
            (Vec::new(), Vec::new())
        };
        // A text without newlines is one sentence whose tokens are the whole text's: reuse them.
        let single = |text: &str| !text.is_empty() && !text.contains('\n');
        let both_single = needs_whole && single(target) && single(prediction);
        let mut sents = |text: &str| -> Vec<Vec<u32>> {
            text.split('\n')
                .filter(|s| !s.is_empty())
                .map(&mut ids)
                .collect()
        };
        let lsum = if self.config.types.contains(&RougeType::Lsum) && !both_single {
            Some((sents(target), sents(prediction)))
        } else {
            None
        };
        let mut lcs_score = None;
        self.config
            .types
            .iter()
            .map(|ty| match ty {
                RougeType::N(n) => score_ngrams(&t, &p, *n),
                RougeType::L => *lcs_score.get_or_insert_with(|| score_lcs(&t, &p)),
                // With one sentence on each side the union LCS is the LCS, and every LCS token
                // passes the double-counting guard, so ROUGE-Lsum equals ROUGE-L.
                RougeType::Lsum if both_single => {
                    *lcs_score.get_or_insert_with(|| score_lcs(&t, &p))
                }
                RougeType::Lsum => {
                    let (ts, ps) = lsum.as_ref().expect("computed above");
                    summary_level_lcs(ts, ps)
                }
            })
            .collect()
    }

    /// `RougeScorer.score_multi`: per type, the target with the best F-measure (first on ties).
    pub fn score_multi(&self, targets: &[&str], prediction: &str) -> Vec<RougeScore> {
        let all: Vec<Vec<RougeScore>> = targets.iter().map(|t| self.score(t, prediction)).collect();
        (0..self.config.types.len())
            .map(|k| {
                let mut best = all[0][k];
                for s in &all[1..] {
                    if s[k].fmeasure > best.fmeasure {
                        best = s[k];
                    }
                }
                best
            })
            .collect()
    }
}

impl SegmentMetric for Rouge {
    fn value_names(&self) -> Vec<String> {
        self.config.types.iter().map(|t| t.to_string()).collect()
    }

    fn n_stats(&self) -> usize {
        3 * self.config.types.len()
    }

    fn segment_stats(&self, hyp: &str, refs: &[&str], out: &mut [f64]) {
        for (k, s) in self.score_multi(refs, hyp).into_iter().enumerate() {
            out[3 * k] = s.precision;
            out[3 * k + 1] = s.recall;
            out[3 * k + 2] = s.fmeasure;
        }
    }

    fn values(&self, totals: &[f64], n: usize) -> Vec<f64> {
        (0..self.config.types.len())
            .map(|k| totals[3 * k + 2] / n as f64)
            .collect()
    }

    fn signature(&self, nrefs: usize) -> String {
        let types: Vec<String> = self.value_names();
        format!(
            "nrefs:{nrefs}|types:{}|stem:{}|tok:{}|agg:mean|version:assay-{}",
            types.join(","),
            if self.config.use_stemmer {
                "porter"
            } else {
                "no"
            },
            self.config.tokenizer,
            crate::ASSAY_VERSION
        )
    }
}

/// Mean precision, recall and F-measure of each type over the corpus.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RougeCorpusScore {
    pub types: Vec<RougeType>,
    pub mean: Vec<RougeScore>,
}

/// Corpus ROUGE: the mean of per-segment scores (each against its best reference).
pub fn corpus_score<H, R>(
    hyps: &[H],
    refs: &[Vec<R>],
    config: &RougeConfig,
) -> Result<RougeCorpusScore, MetricError>
where
    H: AsRef<str> + Sync,
    R: AsRef<str> + Sync,
{
    let rouge = Rouge::new(config.clone())?;
    let stats = corpus_stats(&rouge, hyps, refs)?;
    let tot = stats.totals();
    let n = stats.len() as f64;
    Ok(RougeCorpusScore {
        types: config.types.clone(),
        mean: (0..config.types.len())
            .map(|k| RougeScore {
                precision: tot[3 * k] / n,
                recall: tot[3 * k + 1] / n,
                fmeasure: tot[3 * k + 2] / n,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rouge_scorer_docstring_example() {
        // rouge_score 0.1.2 on its docstring's example: rouge1 P=0.75 R=2/3, rougeL P=0.625 R=5/9.
        let r = Rouge::new(RougeConfig {
            types: vec![RougeType::N(1), RougeType::L],
            ..Default::default()
        })
        .unwrap();
        let s = r.score(
            "The quick brown fox jumps over the lazy dog",
            "The quick brown dog jumps on the log.",
        );
        assert_eq!((s[0].precision, s[0].recall), (0.75, 2.0 / 3.0));
        assert_eq!((s[1].precision, s[1].recall), (0.625, 5.0 / 9.0));
    }

    #[test]
    fn types_parse() {
        assert_eq!("rouge2".parse::<RougeType>().unwrap(), RougeType::N(2));
        assert_eq!("rougeLsum".parse::<RougeType>().unwrap(), RougeType::Lsum);
        assert!("rouge0".parse::<RougeType>().is_err());
        assert!("rougeX".parse::<RougeType>().is_err());
    }

    #[test]
    fn lsum_counts_union_of_lcs_once() {
        let r = Rouge::new(RougeConfig {
            types: vec![RougeType::Lsum],
            ..Default::default()
        })
        .unwrap();
        // The ROUGE paper's example: r = w1 w2 w3 w4 w5, c1 = w1 w2 w6 w7 w8, c2 = w1 w3 w8 w9 w5
        // union LCS = w1 w2 w3 w5, so recall 4/5.
        let s = r.score("w1 w2 w3 w4 w5", "w1 w2 w6 w7 w8\nw1 w3 w8 w9 w5");
        assert!((s[0].recall - 0.8).abs() < 1e-15);
        assert!((s[0].precision - 0.4).abs() < 1e-15);
    }
}
