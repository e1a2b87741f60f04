//! Variational autoencoder (Kingma & Welling 2014) on glyphs. Encoder 784 → 400 → (μ, log σ²)
//! of a 16-d latent; decoder 16 → 400 → 784, a Gaussian with a learned per-pixel scale on the
//! logit-transformed dequantized pixels (the flow's space, so the two bits/dim compare).
//! The ELBO is reported in bits/dim; samples are the decoder's mean.

use super::training::{
    self, bits_per_dim, dequantized, fit, linear_params, logit_transform, normal, stream,
    GlyphTrainConfig, Init, Param, PIXELS,
};
use candle_core::{Device, Module, Result, Tensor, D};
use candle_nn::{Linear, VarBuilder, VarMap};

pub const LATENT: usize = 16;
const HIDDEN: usize = 400;

pub struct Vae {
    enc: Linear,
    enc_mu: Linear,
    enc_logvar: Linear,
    dec1: Linear,
    dec2: Linear,
    dec_log_scale: Tensor,
}

fn params() -> Vec<Param> {
    let mut p: Vec<Param> = Vec::new();
    p.extend(linear_params("enc", PIXELS, HIDDEN));
    p.extend(linear_params("enc_mu", HIDDEN, LATENT));
    p.extend(linear_params("enc_logvar", HIDDEN, LATENT));
    p.extend(linear_params("dec1", LATENT, HIDDEN));
    p.extend(linear_params("dec2", HIDDEN, PIXELS));
    p.push(("dec_log_scale".into(), vec![PIXELS], Init::Const(0.0)));
    p
}

impl Vae {
    pub fn new(vb: VarBuilder) -> Result<Vae> {
        Ok(Vae {
            enc: candle_nn::linear(PIXELS, HIDDEN, vb.pp("enc"))?,
            enc_mu: candle_nn::linear(HIDDEN, LATENT, vb.pp("enc_mu"))?,
            enc_logvar: candle_nn::linear(HIDDEN, LATENT, vb.pp("enc_logvar"))?,
            dec1: candle_nn::linear(LATENT, HIDDEN, vb.pp("dec1"))?,
            dec2: candle_nn::linear(HIDDEN, PIXELS, vb.pp("dec2"))?,
            dec_log_scale: vb.get(PIXELS, "dec_log_scale")?,
        })
    }

    fn decode_mean(&self, z: &Tensor) -> Result<Tensor> {
        self.dec2.forward(&self.dec1.forward(z)?.relu()?)
    }

    /// One-sample ELBO (nats, per row) of dequantized pixels `x01`, with the encoder noise `eps`.
    pub fn elbo(&self, x01: &Tensor, eps: &Tensor) -> Result<Tensor> {
        let (y, log_det) = logit_transform(x01)?;
        let h = self.enc.forward(&y)?.relu()?;
        let (mu, logvar) = (self.enc_mu.forward(&h)?, self.enc_logvar.forward(&h)?);
        let z = (&mu + (eps * (&logvar * 0.5)?.exp()?)?)?;
        let mean = self.decode_mean(&z)?;
        // log N(y; mean, σ²) = −½((y − mean)/σ)² − log σ − ½ log 2π
        let s = &self.dec_log_scale;
        let r = (y - mean)?.broadcast_div(&s.exp()?)?;
        let log_lik = ((r.sqr()? * -0.5)?.broadcast_sub(s)?
            - 0.5 * (2.0 * std::f64::consts::PI).ln())?
        .sum(D::Minus1)?;
        // KL(N(μ, σ²) ‖ N(0, I)) = ½ Σ (μ² + σ² − 1 − log σ²)
        let kl = (((mu.sqr()? + logvar.exp()?)? - 1.0)? - &logvar)?.sum(D::Minus1)? * 0.5;
        (log_lik - kl?)? + log_det
    }

    /// Pixels in [0, 1] decoded (the mean) from latents `z`.
    pub fn decode(&self, z: &Tensor) -> Result<Tensor> {
        training::inverse_logit_transform(&self.decode_mean(z)?)
    }
}

/// How the committed VAE was trained.
pub fn config() -> GlyphTrainConfig {
    GlyphTrainConfig::new(2001, 4000, 128, 1e-3)
}

/// Trains from the seed; `steps` overrides the configured count. Returns the mean loss of
/// each tenth of the run.
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
        Vae::new,
        |net, data, ids, noise| {
            let x = dequantized(data, ids, noise, device)?;
            let eps = normal(noise, &[ids.len(), LATENT], device)?;
            let loss = (net.elbo(&x, &eps)?.mean_all()? * (-1.0 / PIXELS as f64))?;
            let logged = loss.to_scalar::<f32>()? as f64;
            Ok((loss, logged))
        },
    )
}

/// Mean ELBO in bits/dim over `x01` rows (dequantized by the caller), one latent draw each.
pub fn elbo_bits_per_dim(net: &Vae, x01: &Tensor, seed: u64) -> Result<f64> {
    let eps = normal(&mut stream(seed, 2), &[x01.dim(0)?, LATENT], x01.device())?;
    let elbo = net.elbo(x01, &eps)?.mean_all()?.to_scalar::<f32>()? as f64;
    Ok(bits_per_dim(elbo, PIXELS))
}

pub fn sample(net: &Vae, n: usize, seed: u64, device: &Device) -> Result<Tensor> {
    let z = normal(&mut stream(seed, 3), &[n, LATENT], device)?;
    net.decode(&z)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::training::*;

    #[test]
    fn a_few_steps_are_reproducible_and_raise_the_elbo() {
        let cfg = config().smaller(256);
        let (a, la) = train(&cfg, Some(30), &Device::Cpu).unwrap();
        let (b, lb) = train(&cfg, Some(30), &Device::Cpu).unwrap();
        assert_eq!(la, lb);
        assert_eq!(varmap_bytes(&a).unwrap(), varmap_bytes(&b).unwrap());
        assert!(la.last().unwrap() < &la[0], "{la:?}");
        let net = Vae::new(builder(&a, &Device::Cpu)).unwrap();
        let x = sample(&net, 3, 1, &Device::Cpu).unwrap();
        assert_eq!(x.dims(), &[3, PIXELS]);
        let data = glyph_set(9, 8, None);
        let ids: Vec<usize> = (0..8).collect();
        let xd = dequantized(&data, &ids, &mut stream(1, 1), &Device::Cpu).unwrap();
        let bpd = elbo_bits_per_dim(&net, &xd, 1).unwrap();
        // A negative-ELBO bound above 0 and below the 8 bits of a uniform pixel model's worst case.
        assert!(bpd > 0.0 && bpd < 20.0, "{bpd}");
    }
}
