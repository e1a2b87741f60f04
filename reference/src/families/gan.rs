//! Generative adversarial network (Goodfellow et al. 2014) on glyphs: MLP generator
//! z (32) → 256 → 512 → 784 (batch norm and leaky ReLU in the hidden layers, sigmoid out),
//! MLP discriminator 784 → 512 → 256 → 1 (leaky ReLU), the non-saturating loss, Adam (lr
//! 2e-4, β₁ 0.5). Only the generator is committed, with its batch-norm running statistics,
//! which sampling uses (so a sample does not depend on the others drawn with it).
//!
//! Without batch norm the discriminator won outright and the generator collapsed onto one
//! or two shapes, also with the stabilisers kept here: Gaussian instance noise (σ =
//! `INSTANCE_NOISE`) on everything the discriminator sees, one-sided label smoothing (real
//! target 0.9), and each batch's spread (the minibatch standard deviation of Karras et al.
//! 2018) appended to the discriminator's first hidden layer.
//!
//! The **mode-collapsed** variant is the same network trained on rings only: it covers one
//! of the ten modes by construction, which is what a full collapse found in the wild looks
//! like to the metrics, and is reproducible, which a collapse left to chance is not. (With two
//! classes, a perfect generator of them already scores a lower FD than the bundled flow.)

use super::training::{
    batches, builder, leaky_relu, linear_params, normal, pixels01, seeded_varmap, softplus, stream,
    GlyphTrainConfig, Init, LossLog, Param, PIXELS,
};
use candle_core::{Device, Module, Result, Tensor, Var};
use candle_nn::{Linear, Optimizer, VarBuilder, VarMap};

pub const LATENT: usize = 32;
pub const INSTANCE_NOISE: f64 = 0.1;
const REAL_TARGET: f64 = 0.9;

pub struct Generator {
    l1: Linear,
    bn1: BatchNorm,
    l2: Linear,
    bn2: BatchNorm,
    l3: Linear,
}

/// Batch normalisation (Ioffe & Szegedy 2015) with its running statistics kept as variables
/// that the optimiser never sees (they get no gradient), so they are saved with the weights.
struct BatchNorm {
    gamma: Tensor,
    beta: Tensor,
    running_mean: Var,
    running_var: Var,
}

const BN_MOMENTUM: f64 = 0.1;

impl BatchNorm {
    fn new(vb: &VarBuilder, name: &str, width: usize) -> Result<Self> {
        let var =
            |s: &str| -> Result<Var> { Var::from_tensor(&vb.get(width, &format!("{name}.{s}"))?) };
        Ok(BatchNorm {
            gamma: vb.get(width, &format!("{name}.weight"))?,
            beta: vb.get(width, &format!("{name}.bias"))?,
            running_mean: var("running_mean")?,
            running_var: var("running_var")?,
        })
    }

    /// Training: the batch's statistics, and the running ones updated. Sampling: the running ones.
    fn forward(&self, h: &Tensor, train: bool) -> Result<Tensor> {
        let (mean, var) = if train {
            let mean = h.mean_keepdim(0)?;
            let var = h.broadcast_sub(&mean)?.sqr()?.mean_keepdim(0)?;
            let keep = 1.0 - BN_MOMENTUM;
            self.running_mean.set(
                &((self.running_mean.as_tensor() * keep)?
                    + (mean.squeeze(0)?.detach() * BN_MOMENTUM)?)?,
            )?;
            self.running_var.set(
                &((self.running_var.as_tensor() * keep)?
                    + (var.squeeze(0)?.detach() * BN_MOMENTUM)?)?,
            )?;
            (mean, var)
        } else {
            (
                self.running_mean.as_tensor().unsqueeze(0)?,
                self.running_var.as_tensor().unsqueeze(0)?,
            )
        };
        h.broadcast_sub(&mean)?
            .broadcast_div(&(var + 1e-5)?.sqrt()?)?
            .broadcast_mul(&self.gamma)?
            .broadcast_add(&self.beta)
    }
}

impl Generator {
    pub fn new(vb: VarBuilder) -> Result<Self> {
        Ok(Generator {
            l1: candle_nn::linear(LATENT, 256, vb.pp("g1"))?,
            bn1: BatchNorm::new(&vb, "bn1", 256)?,
            l2: candle_nn::linear(256, 512, vb.pp("g2"))?,
            bn2: BatchNorm::new(&vb, "bn2", 512)?,
            l3: candle_nn::linear(512, PIXELS, vb.pp("g3"))?,
        })
    }

    fn run(&self, z: &Tensor, train: bool) -> Result<Tensor> {
        let h = leaky_relu(&self.bn1.forward(&self.l1.forward(z)?, train)?)?;
        let h = leaky_relu(&self.bn2.forward(&self.l2.forward(&h)?, train)?)?;
        candle_nn::ops::sigmoid(&self.l3.forward(&h)?)
    }

    /// Pixels in [0, 1] from latents (n, 32), each sample on its own (running statistics).
    pub fn forward(&self, z: &Tensor) -> Result<Tensor> {
        self.run(z, false)
    }
}

struct Discriminator {
    l1: Linear,
    l2: Linear,
    l3: Linear,
}

impl Discriminator {
    fn new(vb: VarBuilder) -> Result<Self> {
        Ok(Discriminator {
            l1: candle_nn::linear(PIXELS, 512, vb.pp("d1"))?,
            l2: candle_nn::linear(513, 256, vb.pp("d2"))?,
            l3: candle_nn::linear(256, 1, vb.pp("d3"))?,
        })
    }

    /// Logits (n,) of a batch (n ≥ 2).
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = leaky_relu(&self.l1.forward(x)?)?;
        let n = h.dim(0)?;
        // The mean over features of each feature's standard deviation over the batch.
        let centred = h.broadcast_sub(&h.mean_keepdim(0)?)?;
        let spread = ((centred.sqr()?.mean_keepdim(0)? + 1e-8)?
            .sqrt()?
            .mean_all()?)
        .reshape((1, 1))?
        .broadcast_as((n, 1))?;
        let h = Tensor::cat(&[&h, &spread], 1)?;
        let h = leaky_relu(&self.l2.forward(&h)?)?;
        self.l3.forward(&h)?.squeeze(1)
    }
}

fn generator_params() -> Vec<Param> {
    let mut p: Vec<Param> = Vec::new();
    p.extend(linear_params("g1", LATENT, 256));
    p.extend(batch_norm_params("bn1", 256));
    p.extend(linear_params("g2", 256, 512));
    p.extend(batch_norm_params("bn2", 512));
    p.extend(linear_params("g3", 512, PIXELS));
    p
}

fn batch_norm_params(name: &str, width: usize) -> [Param; 4] {
    let p = |s: &str, v: f64| (format!("{name}.{s}"), vec![width], Init::Const(v));
    [
        p("weight", 1.0),
        p("bias", 0.0),
        p("running_mean", 0.0),
        p("running_var", 1.0),
    ]
}

fn discriminator_params() -> Vec<Param> {
    let mut p: Vec<Param> = Vec::new();
    p.extend(linear_params("d1", PIXELS, 512));
    p.extend(linear_params("d2", 513, 256));
    p.extend(linear_params("d3", 256, 1));
    p
}

/// How the committed GAN was trained.
pub fn config() -> GlyphTrainConfig {
    GlyphTrainConfig {
        beta1: 0.5,
        ..GlyphTrainConfig::new(2002, 5000, 64, 2e-4)
    }
}

/// The mode-collapsed variant: rings only.
pub fn collapsed_config() -> GlyphTrainConfig {
    GlyphTrainConfig {
        seed: 2003,
        classes: Some(vec![0]),
        steps: 2500,
        ..config()
    }
}

/// Trains generator and discriminator from the seed; returns the generator's variables and
/// the mean discriminator loss of each tenth of the run.
pub fn train(
    cfg: &GlyphTrainConfig,
    steps: Option<usize>,
    device: &Device,
) -> Result<(VarMap, Vec<f64>)> {
    let steps = steps.unwrap_or(cfg.steps);
    let g_vars = seeded_varmap(&generator_params(), cfg.seed, device)?;
    let d_vars = seeded_varmap(&discriminator_params(), cfg.seed + 1, device)?;
    let g = Generator::new(builder(&g_vars, device))?;
    let d = Discriminator::new(builder(&d_vars, device))?;
    let (mut g_opt, mut d_opt) = (cfg.optimizer(&g_vars)?, cfg.optimizer(&d_vars)?);
    let data = cfg.data();
    let mut noise = stream(cfg.seed, 1);
    let mut log = LossLog::new(steps);
    for ids in batches(data.len(), cfg.batch, steps, cfg.seed) {
        let n = ids.len();
        let blur = |x: &Tensor, rng: &mut rand_chacha::ChaCha8Rng| -> Result<Tensor> {
            x + (normal(rng, &[n, PIXELS], device)? * INSTANCE_NOISE)?
        };
        let real = blur(&pixels01(&data, &ids, device)?, &mut noise)?;
        let fake = g.run(&normal(&mut noise, &[n, LATENT], device)?, true)?;
        let fake = blur(&fake.detach(), &mut noise)?;
        let d_real = d.forward(&real)?;
        // BCE with target 0.9: 0.9 · softplus(−d) + 0.1 · softplus(d).
        let real_loss = ((softplus(&d_real.neg()?)? * REAL_TARGET)?
            + (softplus(&d_real)? * (1.0 - REAL_TARGET))?)?;
        let d_loss = (real_loss.mean_all()? + softplus(&d.forward(&fake)?)?.mean_all()?)?;
        d_opt.backward_step(&d_loss)?;
        let fake = g.run(&normal(&mut noise, &[n, LATENT], device)?, true)?;
        let fake = blur(&fake, &mut noise)?;
        let g_loss = softplus(&d.forward(&fake)?.neg()?)?.mean_all()?;
        g_opt.backward_step(&g_loss)?;
        log.push(d_loss.to_scalar::<f32>()? as f64);
    }
    Ok((g_vars, log.finish()))
}

pub fn sample(g: &Generator, n: usize, seed: u64, device: &Device) -> Result<Tensor> {
    g.forward(&normal(&mut stream(seed, 3), &[n, LATENT], device)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::training::*;

    #[test]
    fn a_few_steps_are_reproducible_and_the_collapsed_variant_sees_rings_only() {
        let cfg = config().smaller(256);
        let (a, la) = train(&cfg, Some(10), &Device::Cpu).unwrap();
        let (b, lb) = train(&cfg, Some(10), &Device::Cpu).unwrap();
        assert_eq!(la, lb);
        assert_eq!(varmap_bytes(&a).unwrap(), varmap_bytes(&b).unwrap());
        assert!(la.iter().all(|l| l.is_finite()));
        let g = Generator::new(builder(&a, &Device::Cpu)).unwrap();
        assert_eq!(sample(&g, 2, 1, &Device::Cpu).unwrap().dims(), &[2, PIXELS]);
        let c = collapsed_config();
        let set = glyph_set(c.data_seed, 200, c.classes.as_deref());
        assert!(set.iter().all(|g| g.params.class == 0));
    }
}
