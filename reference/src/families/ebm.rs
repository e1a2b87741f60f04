//! Energy-based model on glyphs: an MLP energy E(x) (784 → 256 → 256 → 1, SiLU) of pixels in
//! [0, 1], trained and sampled by short-run Langevin dynamics from uniform noise (Nijkamp et
//! al. 2019): x ← clip(x − step · ∇E(x) + σ · ε, 0, 1) for `LANGEVIN.steps` steps. Training
//! lowers the energy of data and raises that of the short-run samples, with a small penalty
//! on the energies' squares to keep their scale.

use super::training::{
    fit, linear_params, normal, pixels01, stream, uniform, GlyphTrainConfig, Param, PIXELS,
};
use candle_core::{Device, Module, Result, Tensor, Var};
use candle_nn::{Linear, VarBuilder, VarMap};
use rand_chacha::ChaCha8Rng;

const HIDDEN: usize = 256;

/// Langevin settings used in training and sampling.
#[derive(Debug, Clone, Copy)]
pub struct Langevin {
    pub steps: usize,
    pub step_size: f64,
    pub noise: f64,
}

pub const LANGEVIN: Langevin = Langevin {
    steps: 40,
    step_size: 1.0,
    noise: 0.01,
};

pub struct Ebm {
    l1: Linear,
    l2: Linear,
    l3: Linear,
}

fn params() -> Vec<Param> {
    let mut p: Vec<Param> = Vec::new();
    p.extend(linear_params("l1", PIXELS, HIDDEN));
    p.extend(linear_params("l2", HIDDEN, HIDDEN));
    p.extend(linear_params("l3", HIDDEN, 1));
    p
}

impl Ebm {
    pub fn new(vb: VarBuilder) -> Result<Ebm> {
        Ok(Ebm {
            l1: candle_nn::linear(PIXELS, HIDDEN, vb.pp("l1"))?,
            l2: candle_nn::linear(HIDDEN, HIDDEN, vb.pp("l2"))?,
            l3: candle_nn::linear(HIDDEN, 1, vb.pp("l3"))?,
        })
    }

    /// Energies (n,) of pixels (n, 784) in [0, 1].
    pub fn energy(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.l1.forward(x)?.silu()?;
        let h = self.l2.forward(&h)?.silu()?;
        self.l3.forward(&h)?.squeeze(1)
    }

    /// Short-run Langevin from uniform noise; returns pixels in [0, 1], detached.
    pub fn langevin(
        &self,
        n: usize,
        l: Langevin,
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Result<Tensor> {
        let mut x = uniform(rng, &[n, PIXELS], device)?;
        for _ in 0..l.steps {
            let v = Var::from_tensor(&x)?;
            let grads = self.energy(v.as_tensor())?.sum_all()?.backward()?;
            let g = grads.get(v.as_tensor()).ok_or_else(|| {
                candle_core::Error::Msg("no gradient for the Langevin state".into())
            })?;
            let eps = normal(rng, &[n, PIXELS], device)?;
            x = ((x - (g * l.step_size)?)? + (eps * l.noise)?)?
                .clamp(0f32, 1f32)?
                .detach();
        }
        Ok(x)
    }
}

/// Weight of the energies' squares in the loss.
pub const REGULARIZATION: f64 = 0.1;

/// How the committed EBM was trained.
pub fn config() -> GlyphTrainConfig {
    GlyphTrainConfig {
        beta1: 0.5,
        ..GlyphTrainConfig::new(2005, 800, 64, 1e-4)
    }
}

/// Trains from the seed; returns the mean energy gap E(samples) − E(data) of each tenth.
pub fn train(
    cfg: &GlyphTrainConfig,
    steps: Option<usize>,
    device: &Device,
) -> Result<(VarMap, Vec<f64>)> {
    fit(
        cfg,
        &params(),
        steps,
        device,
        Ebm::new,
        |net, data, ids, noise| {
            let real = pixels01(data, ids, device)?;
            let fake = net.langevin(ids.len(), LANGEVIN, noise, device)?;
            let (e_real, e_fake) = (net.energy(&real)?, net.energy(&fake)?);
            let gap = (e_fake.mean_all()? - e_real.mean_all()?)?;
            let reg = ((e_real.sqr()?.mean_all()? + e_fake.sqr()?.mean_all()?)? * REGULARIZATION)?;
            let logged = gap.to_scalar::<f32>()? as f64;
            Ok(((reg - &gap)?, logged))
        },
    )
}

pub fn sample(net: &Ebm, n: usize, seed: u64, device: &Device) -> Result<Tensor> {
    net.langevin(n, LANGEVIN, &mut stream(seed, 3), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::training::*;

    #[test]
    fn a_few_steps_are_reproducible_and_langevin_lowers_the_energy() {
        let cfg = config().smaller(256);
        let (a, la) = train(&cfg, Some(4), &Device::Cpu).unwrap();
        let (b, lb) = train(&cfg, Some(4), &Device::Cpu).unwrap();
        assert_eq!(la, lb);
        assert_eq!(varmap_bytes(&a).unwrap(), varmap_bytes(&b).unwrap());
        let net = Ebm::new(builder(&a, &Device::Cpu)).unwrap();
        let mut rng = stream(5, 5);
        let start = uniform(&mut rng, &[16, PIXELS], &Device::Cpu).unwrap();
        let quiet = Langevin {
            noise: 0.0,
            step_size: 1e-3,
            ..LANGEVIN
        };
        let end = net
            .langevin(16, quiet, &mut stream(5, 5), &Device::Cpu)
            .unwrap();
        let e0: f32 = net
            .energy(&start)
            .unwrap()
            .mean_all()
            .unwrap()
            .to_scalar()
            .unwrap();
        let e1: f32 = net
            .energy(&end)
            .unwrap()
            .mean_all()
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!(
            e1 < e0,
            "noise-free Langevin descends the energy: {e0} -> {e1}"
        );
    }
}
