//! The glyph classifier: a small CNN whose 64 penultimate features and 10 logits play, for
//! glyphs, the part the FID Inception plays for photographs (as MNIST work uses a domain
//! classifier). conv 3x3 (1→16) · ReLU · max-pool 2 · conv 3x3 (16→32) · ReLU · max-pool 2 ·
//! dense 1568→64 · ReLU (the features) · dense 64→10 (the logits). Inputs are grey levels / 255.
//!
//! Training is seeded end to end: initial weights (uniform ±1/√fan-in) and the order of the
//! training glyphs come from ChaCha streams, never from candle's unseeded generator.

use crate::data::glyphs::{self, SIZE};
use candle_core::{DType, Device, Result, Tensor, Var, D};
use candle_nn::{Conv2dConfig, Optimizer, VarBuilder, VarMap};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

pub const FEATURES: usize = 64;
pub const CLASSES: usize = 10;

/// The shapes of every parameter, by name.
const PARAMETERS: [(&str, &[usize], usize); 8] = [
    ("conv1.weight", &[16, 1, 3, 3], 9),
    ("conv1.bias", &[16], 9),
    ("conv2.weight", &[32, 16, 3, 3], 144),
    ("conv2.bias", &[32], 144),
    ("fc1.weight", &[FEATURES, 32 * 7 * 7], 32 * 7 * 7),
    ("fc1.bias", &[FEATURES], 32 * 7 * 7),
    ("fc2.weight", &[CLASSES, FEATURES], FEATURES),
    ("fc2.bias", &[CLASSES], FEATURES),
];

pub struct GlyphClassifier {
    conv1: candle_nn::Conv2d,
    conv2: candle_nn::Conv2d,
    fc1: candle_nn::Linear,
    fc2: candle_nn::Linear,
}

/// Features (n, 64) and logits (n, 10).
pub struct Outputs {
    pub features: Tensor,
    pub logits: Tensor,
}

impl GlyphClassifier {
    pub fn new(vb: VarBuilder) -> Result<Self> {
        let pad = Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        Ok(GlyphClassifier {
            conv1: candle_nn::conv2d(1, 16, 3, pad, vb.pp("conv1"))?,
            conv2: candle_nn::conv2d(16, 32, 3, pad, vb.pp("conv2"))?,
            fc1: candle_nn::linear(32 * 7 * 7, FEATURES, vb.pp("fc1"))?,
            fc2: candle_nn::linear(FEATURES, CLASSES, vb.pp("fc2"))?,
        })
    }

    /// Loads committed weights.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[path], DType::F32, device)? };
        Self::new(vb)
    }

    /// The committed weights, as bundled in the binary.
    pub fn committed(device: &Device) -> Result<Self> {
        Self::new(VarBuilder::from_slice_safetensors(
            COMMITTED_WEIGHTS,
            DType::F32,
            device,
        )?)
    }

    /// `x`: (n, 1, 28, 28) grey levels / 255.
    pub fn forward(&self, x: &Tensor) -> Result<Outputs> {
        let h = x.apply(&self.conv1)?.relu()?.max_pool2d(2)?;
        let h = h
            .apply(&self.conv2)?
            .relu()?
            .max_pool2d(2)?
            .flatten_from(1)?;
        let features = h.apply(&self.fc1)?.relu()?;
        let logits = features.apply(&self.fc2)?;
        Ok(Outputs { features, logits })
    }
}

/// Glyph pixels (each 28 x 28 bytes) as the network's input.
pub fn input(pixels: &[&[u8]], device: &Device) -> Result<Tensor> {
    let data: Vec<f32> = pixels
        .iter()
        .flat_map(|p| p.iter().map(|&v| v as f32 / 255.0))
        .collect();
    Tensor::from_vec(data, (pixels.len(), 1, SIZE, SIZE), device)
}

/// How the committed classifier was trained.
#[derive(Debug, Clone, Copy)]
pub struct TrainConfig {
    pub seed: u64,
    /// Glyphs of data set `seed` used for training (indices 0..train).
    pub train: u64,
    pub epochs: usize,
    pub batch: usize,
    pub learning_rate: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            seed: 1000,
            train: 12_000,
            epochs: 3,
            batch: 64,
            learning_rate: 2e-3,
        }
    }
}

impl TrainConfig {
    pub fn describe(&self) -> String {
        format!(
            "seed:{}|train:{}|epochs:{}|batch:{}|lr:{}|adamw",
            self.seed, self.train, self.epochs, self.batch, self.learning_rate
        )
    }
}

/// Trains from scratch; returns the variables and the mean loss of each epoch. `steps` stops
/// early after that many optimiser steps (to keep the training code exercised in CI).
pub fn train(
    cfg: &TrainConfig,
    steps: Option<usize>,
    device: &Device,
) -> Result<(VarMap, Vec<f64>)> {
    let varmap = VarMap::new();
    {
        let mut init = ChaCha8Rng::seed_from_u64(cfg.seed);
        let mut data = varmap.data().lock().expect("var map lock");
        for (name, shape, fan_in) in PARAMETERS {
            let bound = 1.0 / (fan_in as f64).sqrt();
            let n: usize = shape.iter().product();
            let values: Vec<f32> = (0..n)
                .map(|_| init.random_range(-bound..bound) as f32)
                .collect();
            data.insert(
                name.to_string(),
                Var::from_tensor(&Tensor::from_vec(values, shape, device)?)?,
            );
        }
    }
    let net = GlyphClassifier::new(VarBuilder::from_varmap(&varmap, DType::F32, device))?;
    let mut opt = candle_nn::AdamW::new(
        varmap.all_vars(),
        candle_nn::ParamsAdamW {
            lr: cfg.learning_rate,
            weight_decay: 0.0,
            ..Default::default()
        },
    )?;
    let data: Vec<glyphs::Glyph> = (0..cfg.train).map(|i| glyphs::glyph(cfg.seed, i)).collect();
    let mut order: Vec<usize> = (0..data.len()).collect();
    let mut shuffle = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5EED);
    let mut losses = Vec::new();
    let mut done = 0;
    'epochs: for _ in 0..cfg.epochs {
        for i in (1..order.len()).rev() {
            order.swap(i, shuffle.random_range(0..=i));
        }
        let (mut sum, mut batches) = (0.0, 0);
        for chunk in order.chunks(cfg.batch) {
            let pixels: Vec<&[u8]> = chunk.iter().map(|&i| data[i].pixels.as_slice()).collect();
            let labels: Vec<u32> = chunk.iter().map(|&i| data[i].params.class as u32).collect();
            let x = input(&pixels, device)?;
            let y = Tensor::from_vec(labels, chunk.len(), device)?;
            let loss = candle_nn::loss::cross_entropy(&net.forward(&x)?.logits, &y)?;
            opt.backward_step(&loss)?;
            sum += loss.to_scalar::<f32>()? as f64;
            batches += 1;
            done += 1;
            if steps.is_some_and(|s| done >= s) {
                losses.push(sum / batches as f64);
                break 'epochs;
            }
        }
        losses.push(sum / batches as f64);
    }
    Ok((varmap, losses))
}

/// Accuracy of `net` on glyphs `from..from + n` of data set `seed`.
pub fn accuracy(
    net: &GlyphClassifier,
    seed: u64,
    from: u64,
    n: u64,
    device: &Device,
) -> Result<f64> {
    let mut right = 0;
    let ids: Vec<u64> = (from..from + n).collect();
    for chunk in ids.chunks(256) {
        let gs: Vec<glyphs::Glyph> = chunk.iter().map(|&i| glyphs::glyph(seed, i)).collect();
        let pixels: Vec<&[u8]> = gs.iter().map(|g| g.pixels.as_slice()).collect();
        let pred: Vec<u32> = net
            .forward(&input(&pixels, device)?)?
            .logits
            .argmax(D::Minus1)?
            .to_vec1()?;
        right += pred
            .iter()
            .zip(&gs)
            .filter(|(p, g)| **p as usize == g.params.class)
            .count();
    }
    Ok(right as f64 / n as f64)
}

/// The committed weights' bytes (0.4 MB), built into whatever uses this crate.
pub const COMMITTED_WEIGHTS: &[u8] = include_bytes!("../../weights/glyph_classifier.safetensors");

/// The committed weights' path in the source tree.
pub fn committed_weights() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/glyph_classifier.safetensors")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_training_steps_lower_the_loss_and_are_reproducible() {
        let cfg = TrainConfig {
            train: 640,
            epochs: 2,
            ..Default::default()
        };
        let (a, la) = train(&cfg, None, &Device::Cpu).unwrap();
        let (_, lb) = train(&cfg, None, &Device::Cpu).unwrap();
        assert_eq!(la, lb, "training is seeded");
        assert!(la[1] < la[0], "{la:?}");
        assert!(a.all_vars().len() == PARAMETERS.len());
    }
}

#[cfg(test)]
mod truth {
    use super::*;
    use crate::data::glyphs::CLASS_PROBABILITIES;

    /// The committed classifier reads fresh glyphs (another seed than its training set's)
    /// almost perfectly, and the classes it reads follow the true probabilities.
    #[test]
    fn the_committed_classifier_reads_fresh_glyphs() {
        let net = GlyphClassifier::load(&committed_weights(), &Device::Cpu).unwrap();
        let acc = accuracy(&net, 77, 0, 2000, &Device::Cpu).unwrap();
        assert!(acc > 0.99, "accuracy {acc}");
        let gs: Vec<glyphs::Glyph> = (0..2000).map(|i| glyphs::glyph(78, i)).collect();
        let pixels: Vec<&[u8]> = gs.iter().map(|g| g.pixels.as_slice()).collect();
        let out = net.forward(&input(&pixels, &Device::Cpu).unwrap()).unwrap();
        assert_eq!(out.features.dims(), &[2000, FEATURES]);
        let pred: Vec<u32> = out.logits.argmax(D::Minus1).unwrap().to_vec1().unwrap();
        let mut counts = [0f64; CLASSES];
        pred.iter().for_each(|&p| counts[p as usize] += 1.0);
        // Chi-square with 9 degrees of freedom against the truth; 27.9 is its 0.999 quantile.
        let chi2: f64 = counts
            .iter()
            .zip(CLASS_PROBABILITIES)
            .map(|(c, p)| (c - 2000.0 * p).powi(2) / (2000.0 * p))
            .sum();
        assert!(chi2 < 27.9, "chi-square {chi2}: {counts:?}");
    }
}
