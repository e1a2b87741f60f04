//! Denoising diffusion on glyphs (Ho et al. 2020): pixels scaled to [−1, 1], `STEPS` noise
//! levels with the linear β schedule scaled to that length (β from 1e-4 · 1000/T to
//! 0.02 · 1000/T), and an MLP (784 → 384 → 384 → 384 → 784, SiLU, a sinusoidal time
//! embedding added to each hidden layer). Sampled by DDPM ancestral steps (σ² = β) or by
//! deterministic DDIM (Song et al. 2021, η = 0) on an evenly spaced subset of the steps.
//!
//! The MLP predicts the clean image x̂₀, not the noise: a 384-wide bottleneck cannot pass
//! 784-d white noise through (an ε-predicting MLP stalled near half the noise's variance at
//! every step, and a skip connection from x_t left that noise in the samples), while clean
//! glyphs are low-dimensional. Trained on ‖x̂₀ − x₀‖² weighted by min(SNR, 5) (Hang et al.
//! 2023); ε̂ = (x_t − √ᾱ x̂₀)/√(1 − ᾱ) follows, exactly so where the noise dominates.
//!
//! The **memorizing** variant is the same network trained long on `MEMORIZED` glyphs only
//! (data set `MEMORIZED_SEED`, indices 0..MEMORIZED): the membership and memorization probes
//! must find that it reproduces them.

use super::training::{
    fit, linear_params, normal, pixels01, stream, GlyphTrainConfig, Param, PIXELS,
};
use candle_core::{Device, Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder, VarMap};
use rand::Rng;

pub const STEPS: usize = 200;
const HIDDEN: usize = 384;
const TIME_DIM: usize = 64;
/// The memorizing variant's training set: glyphs 0..MEMORIZED of data set MEMORIZED_SEED.
pub const MEMORIZED: usize = 32;
pub const MEMORIZED_SEED: u64 = 4242;

/// β, α = 1 − β and ᾱ (the running product), per step.
pub struct Schedule {
    pub beta: Vec<f64>,
    pub alpha_bar: Vec<f64>,
}

impl Schedule {
    pub fn new() -> Schedule {
        let scale = 1000.0 / STEPS as f64;
        let (lo, hi) = (1e-4 * scale, 0.02 * scale);
        let beta: Vec<f64> = (0..STEPS)
            .map(|i| lo + (hi - lo) * i as f64 / (STEPS - 1) as f64)
            .collect();
        let mut acc = 1.0;
        let alpha_bar = beta
            .iter()
            .map(|b| {
                acc *= 1.0 - b;
                acc
            })
            .collect();
        Schedule { beta, alpha_bar }
    }

    /// min(SNR, 5), SNR = ᾱ/(1 − ᾱ).
    pub fn weight(&self, t: usize) -> f64 {
        let ab = self.alpha_bar[t];
        (ab / (1.0 - ab)).min(5.0)
    }
}

impl Default for Schedule {
    fn default() -> Self {
        Self::new()
    }
}

pub struct Denoiser {
    input: Linear,
    hidden1: Linear,
    hidden2: Linear,
    output: Linear,
    time: [Linear; 3],
}

fn params() -> Vec<Param> {
    let mut p: Vec<Param> = Vec::new();
    p.extend(linear_params("input", PIXELS, HIDDEN));
    p.extend(linear_params("hidden1", HIDDEN, HIDDEN));
    p.extend(linear_params("hidden2", HIDDEN, HIDDEN));
    p.extend(linear_params("output", HIDDEN, PIXELS));
    for k in 0..3 {
        p.extend(linear_params(&format!("time{k}"), TIME_DIM, HIDDEN));
    }
    p
}

/// Sinusoidal embedding (n, 64) of steps `t`.
fn time_embedding(t: &[usize], device: &Device) -> Result<Tensor> {
    let half = TIME_DIM / 2;
    let mut v = Vec::with_capacity(t.len() * TIME_DIM);
    for &s in t {
        let freqs = (0..half).map(|i| (-(10_000f64.ln()) * i as f64 / half as f64).exp());
        let angles: Vec<f64> = freqs.map(|f| s as f64 * f).collect();
        v.extend(angles.iter().map(|a| a.sin() as f32));
        v.extend(angles.iter().map(|a| a.cos() as f32));
    }
    Tensor::from_vec(v, (t.len(), TIME_DIM), device)
}

impl Denoiser {
    pub fn new(vb: VarBuilder) -> Result<Denoiser> {
        let time = |k: usize| candle_nn::linear(TIME_DIM, HIDDEN, vb.pp(format!("time{k}")));
        Ok(Denoiser {
            input: candle_nn::linear(PIXELS, HIDDEN, vb.pp("input"))?,
            hidden1: candle_nn::linear(HIDDEN, HIDDEN, vb.pp("hidden1"))?,
            hidden2: candle_nn::linear(HIDDEN, HIDDEN, vb.pp("hidden2"))?,
            output: candle_nn::linear(HIDDEN, PIXELS, vb.pp("output"))?,
            time: [time(0)?, time(1)?, time(2)?],
        })
    }

    /// Predicted clean images x̂₀ for x_t (n, 784) at steps `t`.
    pub fn forward(&self, x: &Tensor, t: &[usize]) -> Result<Tensor> {
        let emb = time_embedding(t, x.device())?;
        let mut h = (self.input.forward(x)? + self.time[0].forward(&emb)?)?.silu()?;
        h = (self.hidden1.forward(&h)? + self.time[1].forward(&emb)?)?.silu()?;
        h = (self.hidden2.forward(&h)? + self.time[2].forward(&emb)?)?.silu()?;
        self.output.forward(&h)
    }

    /// Predicted noise, from the predicted clean image.
    pub fn epsilon(&self, x: &Tensor, t: usize) -> Result<(Tensor, Tensor)> {
        let n = x.dim(0)?;
        let x0 = self.forward(x, &vec![t; n])?.clamp(-1f32, 1f32)?;
        let ab = Schedule::new().alpha_bar[t];
        let eps = ((x - (&x0 * ab.sqrt())?)? / (1.0 - ab).sqrt())?;
        Ok((x0, eps))
    }
}

/// How the committed diffusion model was trained.
pub fn config() -> GlyphTrainConfig {
    GlyphTrainConfig::new(2006, 15_000, 128, 1e-3)
}

/// How the memorizing variant was trained: long, on `MEMORIZED` glyphs.
pub fn memorizing_config() -> GlyphTrainConfig {
    GlyphTrainConfig {
        data_seed: MEMORIZED_SEED,
        train: MEMORIZED,
        ..GlyphTrainConfig::new(2007, 4000, 32, 1e-3)
    }
}

/// Trains from the seed; returns the mean loss of each tenth of the run.
pub fn train(
    cfg: &GlyphTrainConfig,
    steps: Option<usize>,
    device: &Device,
) -> Result<(VarMap, Vec<f64>)> {
    let schedule = Schedule::new();
    fit(
        cfg,
        &params(),
        steps,
        device,
        Denoiser::new,
        |net, data, ids, noise| {
            let n = ids.len();
            let x0 = ((pixels01(data, ids, device)? * 2.0)? - 1.0)?;
            let t: Vec<usize> = (0..n).map(|_| noise.random_range(0..STEPS)).collect();
            let eps = normal(noise, &[n, PIXELS], device)?;
            let column = |f: &dyn Fn(usize) -> f64| -> Result<Tensor> {
                let v: Vec<f32> = t.iter().map(|&s| f(s) as f32).collect();
                Tensor::from_vec(v, (n, 1), device)
            };
            let a = column(&|s| schedule.alpha_bar[s].sqrt())?;
            let b = column(&|s| (1.0 - schedule.alpha_bar[s]).sqrt())?;
            let w = column(&|s| schedule.weight(s))?;
            let xt = (x0.broadcast_mul(&a)? + eps.broadcast_mul(&b)?)?;
            let loss = (net.forward(&xt, &t)? - x0)?
                .sqr()?
                .broadcast_mul(&w)?
                .mean_all()?;
            let logged = loss.to_scalar::<f32>()? as f64;
            Ok((loss, logged))
        },
    )
}

/// How to sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampler {
    /// Ancestral sampling through all `STEPS` steps.
    Ddpm,
    /// Deterministic DDIM on this many evenly spaced steps.
    Ddim(usize),
}

impl Sampler {
    pub fn describe(&self) -> String {
        match self {
            Sampler::Ddpm => format!("ddpm:{STEPS}"),
            Sampler::Ddim(k) => format!("ddim:{k}/{STEPS}:eta0"),
        }
    }
}

/// Samples in [0, 1].
pub fn sample(
    net: &Denoiser,
    n: usize,
    sampler: Sampler,
    seed: u64,
    device: &Device,
) -> Result<Tensor> {
    let s = Schedule::new();
    let mut rng = stream(seed, 3);
    let mut x = normal(&mut rng, &[n, PIXELS], device)?;
    match sampler {
        Sampler::Ddpm => {
            for t in (0..STEPS).rev() {
                let (_, eps) = net.epsilon(&x, t)?;
                let (beta, ab) = (s.beta[t], s.alpha_bar[t]);
                // μ = (x − β/√(1 − ᾱ) · ε̂) / √α
                let mean = ((&x - (eps * (beta / (1.0 - ab).sqrt()))?)? / (1.0 - beta).sqrt())?;
                x = if t > 0 {
                    (mean + (normal(&mut rng, &[n, PIXELS], device)? * beta.sqrt())?)?
                } else {
                    mean
                };
            }
        }
        Sampler::Ddim(k) => {
            let k = k.clamp(1, STEPS);
            let times: Vec<usize> = (0..k).map(|i| i * STEPS / k).collect();
            for (i, &t) in times.iter().enumerate().rev() {
                let (x0, eps) = net.epsilon(&x, t)?;
                let ab_prev = if i > 0 {
                    s.alpha_bar[times[i - 1]]
                } else {
                    1.0
                };
                x = ((x0 * ab_prev.sqrt())? + (eps * (1.0 - ab_prev).sqrt())?)?;
            }
        }
    }
    ((x + 1.0)? / 2.0)?.clamp(0f32, 1f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::training::*;

    #[test]
    fn the_schedule_ends_near_pure_noise() {
        let s = Schedule::new();
        assert_eq!(s.beta.len(), STEPS);
        assert!(s.alpha_bar[STEPS - 1] < 1e-3, "{}", s.alpha_bar[STEPS - 1]);
        assert!(s.alpha_bar[0] > 0.99);
    }

    #[test]
    fn a_few_steps_are_reproducible_and_both_samplers_run() {
        let cfg = config().smaller(256);
        let (a, la) = train(&cfg, Some(30), &Device::Cpu).unwrap();
        let (b, lb) = train(&cfg, Some(30), &Device::Cpu).unwrap();
        assert_eq!(la, lb);
        assert_eq!(varmap_bytes(&a).unwrap(), varmap_bytes(&b).unwrap());
        assert!(la.last().unwrap() < &la[0], "{la:?}");
        let net = Denoiser::new(builder(&a, &Device::Cpu)).unwrap();
        for s in [Sampler::Ddpm, Sampler::Ddim(10)] {
            let x = sample(&net, 2, s, 1, &Device::Cpu).unwrap();
            let v: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
            assert!(v.iter().all(|p| (0.0..=1.0).contains(p)), "{s:?}");
        }
        // DDIM is deterministic given the seed, and the seed matters.
        let x1 = sample(&net, 2, Sampler::Ddim(10), 1, &Device::Cpu).unwrap();
        let x2 = sample(&net, 2, Sampler::Ddim(10), 1, &Device::Cpu).unwrap();
        let x3 = sample(&net, 2, Sampler::Ddim(10), 2, &Device::Cpu).unwrap();
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(flat(&x1), flat(&x2));
        assert_ne!(flat(&x1), flat(&x3));
    }
}
