//! Normalizing flow on glyphs: RealNVP (Dinh et al. 2017) affine coupling layers on the
//! logit-transformed dequantized pixels, so the likelihood and the bits/dim are exact.
//!
//! A per-pixel affine layer (learned scale and shift, as Glow's actnorm) and then
//! `COUPLINGS` couplings with alternating checkerboard masks: the masked half x_a passes
//! through; the other half becomes x_b · exp(s) + t, with (s, t) from an MLP of x_a
//! (784 → 64 → 64 → 2 · 784, ReLU) and s = scale · tanh(raw) for stability. The base is N(0, I).

use super::training::{
    bits_per_dim, dequantized, fit, inverse_logit_transform, linear_params, logit_transform,
    normal, stream, GlyphTrainConfig, Init, Param, PIXELS,
};
use crate::data::glyphs::SIZE;
use candle_core::{Device, Module, Result, Tensor, D};
use candle_nn::{Linear, VarBuilder, VarMap};

pub const COUPLINGS: usize = 6;
const HIDDEN: usize = 64;

struct Coupling {
    /// 1 where the pixel passes through unchanged.
    mask: Tensor,
    l1: Linear,
    l2: Linear,
    l3: Linear,
    scale: Tensor,
}

impl Coupling {
    fn new(vb: VarBuilder, parity: usize, device: &Device) -> Result<Self> {
        let mask: Vec<f32> = (0..PIXELS)
            .map(|i| ((i / SIZE + i % SIZE + parity) % 2) as f32)
            .collect();
        Ok(Coupling {
            mask: Tensor::from_vec(mask, PIXELS, device)?,
            l1: candle_nn::linear(PIXELS, HIDDEN, vb.pp("l1"))?,
            l2: candle_nn::linear(HIDDEN, HIDDEN, vb.pp("l2"))?,
            l3: candle_nn::linear(HIDDEN, 2 * PIXELS, vb.pp("l3"))?,
            scale: vb.get(PIXELS, "scale")?,
        })
    }

    /// (s, t) for the changed half, zero on the kept half.
    fn shift_scale(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let kept = x.broadcast_mul(&self.mask)?;
        let h = self.l1.forward(&kept)?.relu()?;
        let h = self.l2.forward(&h)?.relu()?;
        let st = self.l3.forward(&h)?;
        let free = (self.mask.neg()? + 1.0)?;
        let s = st
            .narrow(1, 0, PIXELS)?
            .tanh()?
            .broadcast_mul(&self.scale)?
            .broadcast_mul(&free)?;
        let t = st.narrow(1, PIXELS, PIXELS)?.broadcast_mul(&free)?;
        Ok((s, t))
    }

    fn forward(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let (s, t) = self.shift_scale(x)?;
        let y = ((x * s.exp()?)? + t)?;
        Ok((y, s.sum(D::Minus1)?))
    }

    fn inverse(&self, y: &Tensor) -> Result<Tensor> {
        // The kept half is y's own, so (s, t) are computed from y as they were from x.
        let (s, t) = self.shift_scale(y)?;
        (y - t)? * s.neg()?.exp()?
    }
}

pub struct Flow {
    log_scale: Tensor,
    shift: Tensor,
    couplings: Vec<Coupling>,
}

fn params() -> Vec<Param> {
    let mut p: Vec<Param> = vec![
        ("actnorm.log_scale".into(), vec![PIXELS], Init::Const(0.0)),
        ("actnorm.shift".into(), vec![PIXELS], Init::Const(0.0)),
    ];
    for k in 0..COUPLINGS {
        p.extend(linear_params(&format!("coupling{k}.l1"), PIXELS, HIDDEN));
        p.extend(linear_params(&format!("coupling{k}.l2"), HIDDEN, HIDDEN));
        // The last layer starts at zero: every coupling starts as the identity.
        p.push((
            format!("coupling{k}.l3.weight"),
            vec![2 * PIXELS, HIDDEN],
            Init::Const(0.0),
        ));
        p.push((
            format!("coupling{k}.l3.bias"),
            vec![2 * PIXELS],
            Init::Const(0.0),
        ));
        p.push((format!("coupling{k}.scale"), vec![PIXELS], Init::Const(1.0)));
    }
    p
}

impl Flow {
    pub fn new(vb: VarBuilder) -> Result<Flow> {
        let device = vb.device().clone();
        Ok(Flow {
            log_scale: vb.get(PIXELS, "actnorm.log_scale")?,
            shift: vb.get(PIXELS, "actnorm.shift")?,
            couplings: (0..COUPLINGS)
                .map(|k| Coupling::new(vb.pp(format!("coupling{k}")), k % 2, &device))
                .collect::<Result<_>>()?,
        })
    }

    /// Exact log-density (nats, per row) of dequantized pixels `x01` in [0, 1]^784.
    pub fn log_prob(&self, x01: &Tensor) -> Result<Tensor> {
        let (h, log_det) = self.to_base(x01)?;
        let base =
            ((h.sqr()? * -0.5)? - 0.5 * (2.0 * std::f64::consts::PI).ln())?.sum(D::Minus1)?;
        base + log_det
    }

    /// The base point of each row and the log-determinant of the whole map to it.
    pub fn to_base(&self, x01: &Tensor) -> Result<(Tensor, Tensor)> {
        let (y, mut log_det) = logit_transform(x01)?;
        let mut h = y
            .broadcast_mul(&self.log_scale.exp()?)?
            .broadcast_add(&self.shift)?;
        log_det = log_det.broadcast_add(&self.log_scale.sum_all()?)?;
        for c in &self.couplings {
            let (next, ld) = c.forward(&h)?;
            h = next;
            log_det = (log_det + ld)?;
        }
        Ok((h, log_det))
    }

    /// Pixels in [0, 1] from base draws `z` (n, 784).
    pub fn invert(&self, z: &Tensor) -> Result<Tensor> {
        let mut h = z.clone();
        for c in self.couplings.iter().rev() {
            h = c.inverse(&h)?;
        }
        let y = h
            .broadcast_sub(&self.shift)?
            .broadcast_mul(&self.log_scale.neg()?.exp()?)?;
        inverse_logit_transform(&y)
    }
}

/// How the committed flow was trained.
pub fn config() -> GlyphTrainConfig {
    GlyphTrainConfig::new(2004, 4000, 64, 1e-3)
}

/// Trains from the seed by maximum likelihood; returns the mean bits/dim of each tenth.
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
        Flow::new,
        |net, data, ids, noise| {
            let x = dequantized(data, ids, noise, device)?;
            let nll = (net.log_prob(&x)?.mean_all()? * (-1.0 / PIXELS as f64))?;
            let nats = nll.to_scalar::<f32>()? as f64 * PIXELS as f64;
            Ok((nll, bits_per_dim(-nats, PIXELS)))
        },
    )
}

/// Mean exact bits/dim of dequantized rows `x01`.
pub fn bits_per_dim_of(net: &Flow, x01: &Tensor) -> Result<f64> {
    let lp = net.log_prob(x01)?.mean_all()?.to_scalar::<f32>()? as f64;
    Ok(bits_per_dim(lp, PIXELS))
}

/// Samples at `temperature` (the base's standard deviation; 1 is the model itself).
pub fn sample(
    net: &Flow,
    n: usize,
    temperature: f64,
    seed: u64,
    device: &Device,
) -> Result<Tensor> {
    let z = (normal(&mut stream(seed, 3), &[n, PIXELS], device)? * temperature)?;
    net.invert(&z)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::training::*;

    fn small() -> GlyphTrainConfig {
        config().smaller(256)
    }

    #[test]
    fn a_few_steps_are_reproducible_and_lower_the_bits_per_dim() {
        let (a, la) = train(&small(), Some(30), &Device::Cpu).unwrap();
        let (b, lb) = train(&small(), Some(30), &Device::Cpu).unwrap();
        assert_eq!(la, lb);
        assert!(la.last().unwrap() < &la[0], "{la:?}");
        let bytes = super::super::training::varmap_bytes(&a).unwrap();
        assert_eq!(bytes, super::super::training::varmap_bytes(&b).unwrap());
    }

    /// The inverse undoes the map: sampling and the likelihood use one bijection.
    #[test]
    fn the_inverse_undoes_the_map() {
        let (vars, _) = train(&small(), Some(20), &Device::Cpu).unwrap();
        let net = Flow::new(builder(&vars, &Device::Cpu)).unwrap();
        let data = glyph_set(9, 4, None);
        let x = dequantized(&data, &[0, 1, 2, 3], &mut stream(1, 1), &Device::Cpu).unwrap();
        let (z, _) = net.to_base(&x).unwrap();
        let back = net.invert(&z).unwrap();
        let d = (back - &x)
            .unwrap()
            .abs()
            .unwrap()
            .max_keepdim(1)
            .unwrap()
            .max(0)
            .unwrap();
        let d: f32 = d.squeeze(0).unwrap().to_scalar().unwrap();
        assert!(d < 1e-3, "{d}");
    }
}
