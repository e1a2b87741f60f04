//! CLIPScore from image and text embeddings, under the two conventions users meet:
//!
//! - Hessel et al. 2021 (`clipscore.py`, the paper's metric): per image `w · max(cos, 0)` with
//!   w = 2.5, captions encoded after the prefix "A photo depicts "; the corpus score is the mean.
//!   RefCLIP-S is the harmonic mean of that and the best cosine between the caption and the
//!   image's references.
//! - torchmetrics' `CLIPScore`: per image `100 · cos` (not clamped), no prefix; the corpus score
//!   is `max(mean, 0)`.
//!
//! The embeddings come from `assay-models`; nothing here knows a network. Cosines are summed
//! in f64 from the f32 embeddings.

use crate::stats::bootstrap::{bootstrap_items, Interval};
use crate::MetricError;

/// Which paper's or library's numbers to reproduce.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Convention {
    /// Hessel et al.: `weight · max(cos, 0)` per image, mean over images (weight 2.5).
    Hessel { weight: f64 },
    /// torchmetrics: `100 · cos` per image, `max(mean, 0)` over images.
    Torchmetrics,
}

impl Convention {
    /// The per-image score of one cosine.
    pub fn per_item(self, cos: f64) -> f64 {
        match self {
            Convention::Hessel { weight } => weight * cos.max(0.0),
            Convention::Torchmetrics => 100.0 * cos,
        }
    }

    /// The corpus score of the per-image scores.
    pub fn aggregate(self, per_item: &[f64]) -> f64 {
        let mean = per_item.iter().sum::<f64>() / per_item.len() as f64;
        match self {
            Convention::Hessel { .. } => mean,
            Convention::Torchmetrics => mean.max(0.0),
        }
    }
}

/// The reproducibility signature of a CLIPScore: convention, weight, prefix, model, version.
pub fn signature(convention: Convention, prefix: &str, model: &str) -> String {
    let conv = match convention {
        Convention::Hessel { weight } => format!("hessel|w:{weight}"),
        Convention::Torchmetrics => "torchmetrics|w:100".to_string(),
    };
    format!(
        "conv:{conv}|prefix:{prefix:?}|model:{model}|version:assay-{}",
        crate::ASSAY_VERSION
    )
}

/// Cosine similarity of two embeddings (f64 sums); an error when either has zero norm or a
/// non-finite value, since no score could be meant then.
pub fn cosine(a: &[f32], b: &[f32]) -> Result<f64, MetricError> {
    if a.len() != b.len() {
        return Err(MetricError::InvalidInput(format!(
            "embeddings of different lengths ({} and {})",
            a.len(),
            b.len()
        )));
    }
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64, y as f64);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    let denom = (aa * bb).sqrt();
    if !denom.is_finite() || denom == 0.0 || !ab.is_finite() {
        return Err(MetricError::InvalidInput(
            "an embedding is zero or not finite".into(),
        ));
    }
    Ok(ab / denom)
}

/// RefCLIP-S of one image: the harmonic mean of its CLIP-S and the best cosine between its
/// caption and its references, the latter clamped at 0 as the paper defines it (Hessel's code
/// does not clamp, which only differs when every reference points away from the caption).
/// Zero when both parts are zero.
pub fn ref_clip_s(clip_s: f64, caption: &[f32], references: &[&[f32]]) -> Result<f64, MetricError> {
    if references.is_empty() {
        return Err(MetricError::InvalidInput("no references".into()));
    }
    let mut best = f64::NEG_INFINITY;
    for r in references {
        best = best.max(cosine(caption, r)?);
    }
    let best = best.max(0.0);
    Ok(if clip_s + best == 0.0 {
        0.0
    } else {
        2.0 * clip_s * best / (clip_s + best)
    })
}

/// A running corpus score: per-image scores kept (the bootstrap resamples them), so shards
/// merge by concatenation.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipScoreAccumulator {
    pub convention: Convention,
    pub per_item: Vec<f64>,
}

impl ClipScoreAccumulator {
    pub fn new(convention: Convention) -> Self {
        ClipScoreAccumulator {
            convention,
            per_item: Vec::new(),
        }
    }

    /// Adds the image–caption pairs of one batch; returns their per-image scores.
    pub fn update(
        &mut self,
        images: &[Vec<f32>],
        captions: &[Vec<f32>],
    ) -> Result<&[f64], MetricError> {
        if images.len() != captions.len() {
            return Err(MetricError::InvalidInput(format!(
                "{} image embeddings but {} caption embeddings",
                images.len(),
                captions.len()
            )));
        }
        let start = self.per_item.len();
        for (i, (im, cap)) in images.iter().zip(captions).enumerate() {
            let cos = cosine(im, cap)
                .map_err(|e| MetricError::InvalidInput(format!("item {}: {e}", start + i)))?;
            self.per_item.push(self.convention.per_item(cos));
        }
        Ok(&self.per_item[start..])
    }

    pub fn merge(&mut self, other: ClipScoreAccumulator) -> Result<(), MetricError> {
        if other.convention != self.convention {
            return Err(MetricError::InvalidConfig(
                "cannot merge CLIPScores of different conventions".into(),
            ));
        }
        self.per_item.extend(other.per_item);
        Ok(())
    }

    pub fn finalize(&self) -> Result<f64, MetricError> {
        if self.per_item.is_empty() {
            return Err(MetricError::InvalidInput("no image–caption pairs".into()));
        }
        Ok(self.convention.aggregate(&self.per_item))
    }
}

/// Percentile bootstrap (seeded, one stream per resample) of `aggregate` over per-image scores.
pub fn bootstrap_mean(
    per_item: &[f64],
    resamples: usize,
    seed: u64,
    aggregate: impl Fn(&[f64]) -> f64 + Sync,
) -> Result<Interval, MetricError> {
    bootstrap_items(per_item, resamples, seed, |s| {
        aggregate(&s.iter().map(|&&x| x).collect::<Vec<f64>>())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conventions_clamp_where_their_authors_do() {
        let hessel = Convention::Hessel { weight: 2.5 };
        assert_eq!(hessel.per_item(0.3), 0.75);
        assert_eq!(hessel.per_item(-0.2), 0.0);
        assert_eq!(Convention::Torchmetrics.per_item(-0.2), -20.0);
        // torchmetrics clamps the mean, not each item.
        assert_eq!(Convention::Torchmetrics.aggregate(&[-30.0, 10.0]), 0.0);
        assert_eq!(Convention::Torchmetrics.aggregate(&[-10.0, 30.0]), 10.0);
        assert_eq!(hessel.aggregate(&[0.0, 1.0]), 0.5);
    }

    #[test]
    fn signature_names_the_convention_prefix_and_model() {
        let s = signature(
            Convention::Hessel { weight: 2.5 },
            "A photo depicts ",
            "openai/clip",
        );
        assert!(
            s.starts_with(
                "conv:hessel|w:2.5|prefix:\"A photo depicts \"|model:openai/clip|version:assay-"
            ),
            "{s}"
        );
        assert!(signature(Convention::Torchmetrics, "", "m")
            .starts_with("conv:torchmetrics|w:100|prefix:\"\"|"));
    }

    #[test]
    fn cosine_is_scale_free_and_refuses_zero_vectors() {
        let c = cosine(&[1.0, 2.0, 2.0], &[2.0, 4.0, 4.0]).unwrap();
        assert!((c - 1.0).abs() < 1e-15);
        let c = cosine(&[1.0, 0.0], &[1.0, 1.0]).unwrap();
        assert!((c - 0.5f64.sqrt()).abs() < 1e-15);
        assert!(cosine(&[0.0, 0.0], &[1.0, 1.0]).is_err());
        assert!(cosine(&[f32::NAN, 0.0], &[1.0, 1.0]).is_err());
        assert!(cosine(&[1.0], &[1.0, 1.0]).is_err());
    }

    #[test]
    fn ref_clip_s_is_the_harmonic_mean_with_the_best_reference() {
        let cap = [1.0f32, 0.0];
        let near = [1.0f32, 1.0]; // cos = 0.7071
        let far = [0.0f32, 1.0]; // cos = 0
        let s = ref_clip_s(0.5, &cap, &[&far, &near]).unwrap();
        let r = 0.5f64.sqrt();
        assert!((s - 2.0 * 0.5 * r / (0.5 + r)).abs() < 1e-12);
        assert_eq!(ref_clip_s(0.0, &cap, &[&far]).unwrap(), 0.0);
        assert!(ref_clip_s(0.5, &cap, &[]).is_err());
    }

    #[test]
    fn shards_merge_to_the_whole() {
        let conv = Convention::Hessel { weight: 2.5 };
        let ims: Vec<Vec<f32>> = (0..6).map(|i| vec![1.0, i as f32 * 0.3 - 0.5]).collect();
        let caps: Vec<Vec<f32>> = (0..6).map(|i| vec![0.5, 1.0 - i as f32 * 0.1]).collect();
        let mut whole = ClipScoreAccumulator::new(conv);
        whole.update(&ims, &caps).unwrap();
        let mut a = ClipScoreAccumulator::new(conv);
        a.update(&ims[..2], &caps[..2]).unwrap();
        let mut b = ClipScoreAccumulator::new(conv);
        b.update(&ims[2..], &caps[2..]).unwrap();
        a.merge(b).unwrap();
        assert_eq!(a.finalize().unwrap(), whole.finalize().unwrap());
        assert!(a
            .merge(ClipScoreAccumulator::new(Convention::Torchmetrics))
            .is_err());
        let ci = bootstrap_mean(&whole.per_item, 200, 1, |s| conv.aggregate(s)).unwrap();
        let v = whole.finalize().unwrap();
        assert!(ci.low <= v && v <= ci.high, "{ci:?} vs {v}");
        assert!(ci.low < ci.high);
    }
}
