//! Text metrics with sacrebleu and rouge_score parity.
//!
//! All corpus text metrics here share one shape: each segment yields a fixed-length vector
//! of sufficient statistics, and the corpus score is a function of their column sums
//! (and the segment count). That single shape gives streaming accumulators, exact shard
//! merging, bootstrap intervals and paired significance tests to every metric at once.

pub mod bleu;
pub mod chrf;
pub(crate) mod ngrams;
pub mod pystr;
pub mod rouge;
pub mod tokenizers;

use crate::MetricError;
use rayon::prelude::*;

/// A corpus metric computed from per-segment sufficient statistics.
pub trait SegmentMetric: Sync {
    /// Names of the values [`SegmentMetric::values`] returns, e.g. `["bleu"]` or
    /// `["rouge1", "rougeL"]`. The first is the headline value.
    fn value_names(&self) -> Vec<String>;
    /// Number of statistics per segment.
    fn n_stats(&self) -> usize;
    /// Statistics of one segment against its references, written into `out`.
    fn segment_stats(&self, hyp: &str, refs: &[&str], out: &mut [f64]);
    /// Corpus values from column sums over `n` segments.
    fn values(&self, totals: &[f64], n: usize) -> Vec<f64>;
    /// The reproducibility signature for `nrefs` references per segment.
    fn signature(&self, nrefs: usize) -> String;
}

/// Per-segment statistics, one row per segment, stored row-major in f64.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsTable {
    pub width: usize,
    pub data: Vec<f64>,
}

impl StatsTable {
    pub fn new(width: usize) -> Self {
        StatsTable {
            width,
            data: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.width).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.width..(i + 1) * self.width]
    }

    /// Column sums.
    pub fn totals(&self) -> Vec<f64> {
        let mut t = vec![0.0; self.width];
        for row in self.data.chunks_exact(self.width) {
            for (a, b) in t.iter_mut().zip(row) {
                *a += b;
            }
        }
        t
    }
}

/// Check that every reference stream has one segment per hypothesis.
pub fn check_streams<H, R: AsRef<str>>(hyps: &[H], refs: &[Vec<R>]) -> Result<(), MetricError> {
    if hyps.is_empty() {
        return Err(MetricError::Empty);
    }
    if refs.is_empty() {
        return Err(MetricError::InvalidConfig(
            "at least one reference stream is needed".into(),
        ));
    }
    for (i, r) in refs.iter().enumerate() {
        if r.len() != hyps.len() {
            return Err(MetricError::RefCountMismatch {
                stream: i,
                expected: hyps.len(),
                got: r.len(),
            });
        }
    }
    Ok(())
}

/// Statistics of every segment, computed in parallel. `refs` are reference *streams*
/// (sacrebleu's layout): `refs[k][i]` is the k-th reference of segment i.
pub fn corpus_stats<M, H, R>(
    metric: &M,
    hyps: &[H],
    refs: &[Vec<R>],
) -> Result<StatsTable, MetricError>
where
    M: SegmentMetric + ?Sized,
    H: AsRef<str> + Sync,
    R: AsRef<str> + Sync,
{
    corpus_stats_with_progress(metric, hyps, refs, &|_| {})
}

/// [`corpus_stats`], calling `progress(k)` each time another `k` segments are done.
pub fn corpus_stats_with_progress<M, H, R>(
    metric: &M,
    hyps: &[H],
    refs: &[Vec<R>],
    progress: &(dyn Fn(u64) + Sync),
) -> Result<StatsTable, MetricError>
where
    M: SegmentMetric + ?Sized,
    H: AsRef<str> + Sync,
    R: AsRef<str> + Sync,
{
    check_streams(hyps, refs)?;
    let width = metric.n_stats();
    const BLOCK: usize = 256;
    let mut data = vec![0.0; width * hyps.len()];
    data.par_chunks_mut(width * BLOCK)
        .enumerate()
        .for_each(|(b, block)| {
            let mut seg_refs: Vec<&str> = Vec::with_capacity(refs.len());
            for (j, out) in block.chunks_mut(width).enumerate() {
                let i = b * BLOCK + j;
                seg_refs.clear();
                seg_refs.extend(refs.iter().map(|s| s[i].as_ref()));
                metric.segment_stats(hyps[i].as_ref(), &seg_refs, out);
            }
            progress((block.len() / width) as u64);
        });
    Ok(StatsTable { width, data })
}

/// Streaming form of any [`SegmentMetric`]: `update` with segments as they come, `merge`
/// accumulators from other shards, `finalize` for the corpus values. The column sums are
/// integers for BLEU and chrF (exact in f64 up to 2^53), so shard merging is exact.
#[derive(Debug, Clone, PartialEq)]
pub struct Accumulator {
    pub totals: Vec<f64>,
    pub n: usize,
}

impl Accumulator {
    pub fn new<M: SegmentMetric + ?Sized>(metric: &M) -> Self {
        Accumulator {
            totals: vec![0.0; metric.n_stats()],
            n: 0,
        }
    }

    pub fn update<M: SegmentMetric + ?Sized>(&mut self, metric: &M, hyp: &str, refs: &[&str]) {
        let mut row = vec![0.0; self.totals.len()];
        metric.segment_stats(hyp, refs, &mut row);
        for (a, b) in self.totals.iter_mut().zip(&row) {
            *a += b;
        }
        self.n += 1;
    }

    pub fn merge(&mut self, other: &Accumulator) {
        assert_eq!(
            self.totals.len(),
            other.totals.len(),
            "merging accumulators of different metrics"
        );
        for (a, b) in self.totals.iter_mut().zip(&other.totals) {
            *a += b;
        }
        self.n += other.n;
    }

    pub fn finalize<M: SegmentMetric + ?Sized>(&self, metric: &M) -> Vec<f64> {
        metric.values(&self.totals, self.n)
    }
}
