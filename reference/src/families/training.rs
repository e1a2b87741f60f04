//! What every bundled network's training shares: parameters initialised from a ChaCha stream
//! (candle's own CPU generator takes no seed), noise from seeded streams, glyph batches, a
//! seeded epoch order, and the safetensors bytes the committed weights are compared with.

use crate::data::glyphs::{self, Glyph, SIZE};
use candle_core::{DType, Device, Result, Tensor, Var, D};
use candle_nn::{Optimizer, VarBuilder, VarMap};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use std::collections::BTreeMap;

/// Pixels of a glyph image.
pub const PIXELS: usize = SIZE * SIZE;

/// How one parameter starts.
#[derive(Debug, Clone, Copy)]
pub enum Init {
    /// U(−b, b).
    Uniform(f64),
    /// N(0, s²).
    Normal(f64),
    Const(f64),
}

/// One parameter: name, shape, initialisation.
pub type Param = (String, Vec<usize>, Init);

/// A `Linear` layer's weight (out, in) and bias, initialised as PyTorch does (U(±1/√in)).
pub fn linear_params(name: &str, n_in: usize, n_out: usize) -> [Param; 2] {
    let b = 1.0 / (n_in as f64).sqrt();
    [
        (
            format!("{name}.weight"),
            vec![n_out, n_in],
            Init::Uniform(b),
        ),
        (format!("{name}.bias"), vec![n_out], Init::Uniform(b)),
    ]
}

/// A variable map holding `params`, drawn in order from a stream seeded with `seed`.
pub fn seeded_varmap(params: &[Param], seed: u64, device: &Device) -> Result<VarMap> {
    let varmap = VarMap::new();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    {
        let mut data = varmap.data().lock().expect("var map lock");
        for (name, shape, init) in params {
            let n: usize = shape.iter().product();
            let values: Vec<f32> = (0..n)
                .map(|_| match *init {
                    Init::Uniform(b) => rng.random_range(-b..b) as f32,
                    Init::Normal(s) => (s * rng.sample::<f64, _>(StandardNormal)) as f32,
                    Init::Const(c) => c as f32,
                })
                .collect();
            data.insert(
                name.clone(),
                Var::from_tensor(&Tensor::from_vec(values, shape.as_slice(), device)?)?,
            );
        }
    }
    Ok(varmap)
}

pub fn builder(varmap: &VarMap, device: &Device) -> VarBuilder<'static> {
    VarBuilder::from_varmap(varmap, DType::F32, device)
}

/// Standard normal noise of `shape` from `rng`.
pub fn normal(rng: &mut ChaCha8Rng, shape: &[usize], device: &Device) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|_| rng.sample::<f32, _>(StandardNormal))
        .collect();
    Tensor::from_vec(v, shape, device)
}

/// U(0, 1) noise of `shape` from `rng`.
pub fn uniform(rng: &mut ChaCha8Rng, shape: &[usize], device: &Device) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.random::<f32>()).collect();
    Tensor::from_vec(v, shape, device)
}

/// A seeded stream for one purpose of one run.
pub fn stream(seed: u64, purpose: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(purpose);
    rng
}

/// Glyphs `0..n` of data set `seed`, keeping only `classes` when given (drawn further along the
/// same data set until `n` are found).
pub fn glyph_set(seed: u64, n: usize, classes: Option<&[usize]>) -> Vec<Glyph> {
    let mut out = Vec::with_capacity(n);
    let mut i = 0u64;
    while out.len() < n {
        let g = glyphs::glyph(seed, i);
        if classes.is_none_or(|c| c.contains(&g.params.class)) {
            out.push(g);
        }
        i += 1;
    }
    out
}

/// Grey levels / 255 of the glyphs at `ids`, as (n, 784).
pub fn pixels01(set: &[Glyph], ids: &[usize], device: &Device) -> Result<Tensor> {
    let v: Vec<f32> = ids
        .iter()
        .flat_map(|&i| set[i].pixels.iter().map(|&p| p as f32 / 255.0))
        .collect();
    Tensor::from_vec(v, (ids.len(), PIXELS), device)
}

/// Grey levels (n, 784) back to bytes: values in [0, 1], rounded and clipped.
pub fn to_bytes(x01: &Tensor) -> Result<Vec<Vec<u8>>> {
    let rows: Vec<Vec<f32>> = x01.to_vec2()?;
    Ok(rows
        .into_iter()
        .map(|r| {
            r.into_iter()
                .map(|v| (v * 255.0).round().clamp(0.0, 255.0) as u8)
                .collect()
        })
        .collect())
}

/// How an image family is trained: the seed of its initial weights and noise, the glyphs it
/// learns, and the optimiser's schedule (Adam, no weight decay).
#[derive(Debug, Clone, PartialEq)]
pub struct GlyphTrainConfig {
    pub seed: u64,
    /// Glyphs of this data set …
    pub data_seed: u64,
    /// … this many of them …
    pub train: usize,
    /// … of these classes only, when given.
    pub classes: Option<Vec<usize>>,
    pub steps: usize,
    pub batch: usize,
    pub learning_rate: f64,
    /// Adam's β₁ (0.5 for the adversarial and the energy-based families).
    pub beta1: f64,
}

/// The glyph data set every good image generator learns.
pub const TRAIN_DATA_SEED: u64 = 2000;

impl GlyphTrainConfig {
    /// 20,000 glyphs of data set `TRAIN_DATA_SEED`, β₁ = 0.9.
    pub fn new(seed: u64, steps: usize, batch: usize, learning_rate: f64) -> Self {
        GlyphTrainConfig {
            seed,
            data_seed: TRAIN_DATA_SEED,
            train: 20_000,
            classes: None,
            steps,
            batch,
            learning_rate,
            beta1: 0.9,
        }
    }

    pub fn data(&self) -> Vec<Glyph> {
        glyph_set(self.data_seed, self.train, self.classes.as_deref())
    }

    pub fn optimizer(&self, varmap: &VarMap) -> Result<candle_nn::AdamW> {
        candle_nn::AdamW::new(
            varmap.all_vars(),
            candle_nn::ParamsAdamW {
                lr: self.learning_rate,
                beta1: self.beta1,
                beta2: 0.999,
                weight_decay: 0.0,
                ..Default::default()
            },
        )
    }

    /// The same run on `train` glyphs (tests).
    pub fn smaller(&self, train: usize) -> Self {
        GlyphTrainConfig {
            train,
            ..self.clone()
        }
    }
}

/// The loop every single-network image family trains with: parameters from the seed, Adam,
/// the configured glyphs in seeded batches, one noise stream. `step` returns the loss to
/// minimise and the figure to log for a batch.
pub fn fit<N>(
    cfg: &GlyphTrainConfig,
    params: &[Param],
    steps: Option<usize>,
    device: &Device,
    build: impl Fn(VarBuilder) -> Result<N>,
    mut step: impl FnMut(&N, &[Glyph], &[usize], &mut ChaCha8Rng) -> Result<(Tensor, f64)>,
) -> Result<(VarMap, Vec<f64>)> {
    let steps = steps.unwrap_or(cfg.steps);
    let varmap = seeded_varmap(params, cfg.seed, device)?;
    let net = build(builder(&varmap, device))?;
    let mut opt = cfg.optimizer(&varmap)?;
    let data = cfg.data();
    let mut noise = stream(cfg.seed, 1);
    let mut log = LossLog::new(steps);
    for ids in batches(data.len(), cfg.batch, steps, cfg.seed) {
        let (loss, logged) = step(&net, &data, &ids, &mut noise)?;
        opt.backward_step(&loss)?;
        log.push(logged);
    }
    Ok((varmap, log.finish()))
}

/// A new seeded permutation of `0..n` for every epoch.
pub struct EpochOrder {
    order: Vec<usize>,
    rng: ChaCha8Rng,
}

impl EpochOrder {
    pub fn new(n: usize, seed: u64) -> Self {
        EpochOrder {
            order: (0..n).collect(),
            rng: stream(seed, 0x0DE5),
        }
    }

    pub fn next_epoch(&mut self) -> &[usize] {
        for i in (1..self.order.len()).rev() {
            self.order.swap(i, self.rng.random_range(0..=i));
        }
        &self.order
    }
}

/// Batches of `batch` ids, epoch after epoch, `steps` of them.
pub fn batches(n: usize, batch: usize, steps: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut order = EpochOrder::new(n, seed);
    let mut out = Vec::with_capacity(steps);
    while out.len() < steps {
        for chunk in order.next_epoch().chunks(batch) {
            if chunk.len() == batch && out.len() < steps {
                out.push(chunk.to_vec());
            }
        }
    }
    out
}

/// The variables as safetensors bytes (names sorted, so equal weights give equal bytes).
pub fn varmap_bytes(varmap: &VarMap) -> Result<Vec<u8>> {
    let tensors: BTreeMap<String, Tensor> = varmap
        .data()
        .lock()
        .expect("var map lock")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    safetensors::serialize(tensors.iter().map(|(k, v)| (k.as_str(), v)), None)
        .map_err(candle_core::Error::wrap)
}

/// The largest absolute difference between two safetensors files' tensors of the same names;
/// an error when their names differ.
pub fn max_abs_difference(a: &[u8], b: &[u8]) -> Result<f64> {
    let a = candle_core::safetensors::load_buffer(a, &Device::Cpu)?;
    let b = candle_core::safetensors::load_buffer(b, &Device::Cpu)?;
    let (mut ka, mut kb): (Vec<_>, Vec<_>) = (a.keys().collect(), b.keys().collect());
    ka.sort();
    kb.sort();
    if ka != kb {
        candle_core::bail!("the weights hold different tensors: {ka:?} vs {kb:?}");
    }
    let mut m = 0f64;
    for (k, t) in &a {
        let d = (t - &b[k])?
            .abs()?
            .flatten_all()?
            .max(0)?
            .to_scalar::<f32>()?;
        m = m.max(d as f64);
    }
    Ok(m)
}

/// log(1 + eˣ), stably and differentiably.
pub fn softplus(x: &Tensor) -> Result<Tensor> {
    x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?
}

/// Leaky ReLU with slope 0.2.
pub fn leaky_relu(x: &Tensor) -> Result<Tensor> {
    x.maximum(&(x * 0.2)?)
}

/// The logit transform of RealNVP (Dinh et al. 2017) for data in [0, 1]: y = logit(α + (1 − 2α)x),
/// with log |dy/dx| summed over each row. Flow and VAE densities are both taken in y, so their
/// bits/dim are comparable.
pub const LOGIT_ALPHA: f64 = 0.05;

pub fn logit_transform(x01: &Tensor) -> Result<(Tensor, Tensor)> {
    let p = ((x01 * (1.0 - 2.0 * LOGIT_ALPHA))? + LOGIT_ALPHA)?;
    let one_minus = (p.neg()? + 1.0)?;
    let y = (p.log()? - one_minus.log()?)?;
    let log_det =
        ((p.log()? + one_minus.log()?)?.neg()? + (1.0 - 2.0 * LOGIT_ALPHA).ln())?.sum(1)?;
    Ok((y, log_det))
}

/// The inverse of [`logit_transform`], clipped to [0, 1].
pub fn inverse_logit_transform(y: &Tensor) -> Result<Tensor> {
    let p = candle_nn::ops::sigmoid(y)?;
    ((p - LOGIT_ALPHA)? / (1.0 - 2.0 * LOGIT_ALPHA))?.clamp(0f32, 1f32)
}

/// Bits per dimension of the 8-bit data from the natural-log density `log_px` (per row) of
/// the dequantized data x = (k + u)/256 in [0, 1]^D: a bin of width 1/256 holds at least
/// p(x)/256^D, so −log₂ P(k)/D ≤ (−log p(x) + D ln 256)/(D ln 2).
pub fn bits_per_dim(log_px: f64, dims: usize) -> f64 {
    (-log_px + dims as f64 * 256f64.ln()) / (dims as f64 * std::f64::consts::LN_2)
}

/// Uniformly dequantized data: (k + u)/256 with u ~ U(0, 1), from the bytes at `ids`.
pub fn dequantized(
    set: &[Glyph],
    ids: &[usize],
    rng: &mut ChaCha8Rng,
    device: &Device,
) -> Result<Tensor> {
    let v: Vec<f32> = ids
        .iter()
        .flat_map(|&i| set[i].pixels.iter())
        .map(|&p| (p as f32 + rng.random::<f32>()) / 256.0)
        .collect();
    Tensor::from_vec(v, (ids.len(), PIXELS), device)
}

/// Mean losses over each tenth of a run.
pub struct LossLog {
    every: usize,
    acc: f64,
    count: usize,
    out: Vec<f64>,
}

impl LossLog {
    pub fn new(steps: usize) -> Self {
        LossLog {
            every: (steps / 10).max(1),
            acc: 0.0,
            count: 0,
            out: Vec::new(),
        }
    }

    pub fn push(&mut self, loss: f64) {
        self.acc += loss;
        self.count += 1;
        if self.count == self.every {
            self.out.push(self.acc / self.count as f64);
            self.acc = 0.0;
            self.count = 0;
        }
    }

    pub fn finish(mut self) -> Vec<f64> {
        if self.count > 0 {
            self.out.push(self.acc / self.count as f64);
        }
        self.out
    }
}

/// Euclidean distance (in [0, 1] pixels) from each row of `x` to its nearest row of `set`.
pub fn nearest_distances(x: &Tensor, set: &Tensor) -> Result<Vec<f32>> {
    let xx = x.sqr()?.sum_keepdim(D::Minus1)?;
    let ss = set.sqr()?.sum_keepdim(D::Minus1)?.t()?;
    let d2 = (xx.broadcast_add(&ss)? - (x.matmul(&set.t()?)? * 2.0)?)?;
    d2.min(D::Minus1)?.clamp(0f32, f32::MAX)?.sqrt()?.to_vec1()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logit_transform_inverts_and_its_log_det_matches_finite_differences() {
        let x = Tensor::new(&[[0.0f32, 0.3, 0.999]], &Device::Cpu).unwrap();
        let (y, ld) = logit_transform(&x).unwrap();
        let back: Vec<f32> = inverse_logit_transform(&y)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        for (a, b) in back.iter().zip([0.0, 0.3, 0.999]) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        let f = |v: f64| {
            let p = LOGIT_ALPHA + (1.0 - 2.0 * LOGIT_ALPHA) * v;
            (p / (1.0 - p)).ln()
        };
        let numeric: f64 = [0.0, 0.3, 0.999]
            .iter()
            .map(|&v| ((f(v + 1e-6) - f(v - 1e-6)) / 2e-6).ln())
            .sum();
        let ld = ld.to_vec1::<f32>().unwrap()[0] as f64;
        assert!((ld - numeric).abs() < 1e-3, "{ld} vs {numeric}");
    }

    #[test]
    fn softplus_is_stable_at_large_inputs() {
        let x = Tensor::new(&[-100f32, 0.0, 100.0], &Device::Cpu).unwrap();
        let v: Vec<f32> = softplus(&x).unwrap().to_vec1().unwrap();
        assert!(v[0] >= 0.0 && v[0] < 1e-30);
        assert!((v[1] - 2f32.ln()).abs() < 1e-6);
        assert!((v[2] - 100.0).abs() < 1e-4);
    }

    #[test]
    fn batches_cover_each_epoch_once() {
        let b = batches(10, 5, 4, 3);
        let mut first: Vec<usize> = b[0].iter().chain(&b[1]).copied().collect();
        first.sort();
        assert_eq!(first, (0..10).collect::<Vec<_>>());
        assert_eq!(b, batches(10, 5, 4, 3));
        assert_ne!(b[0..2], b[2..4]);
    }
}

#[cfg(test)]
mod gradient_checks {
    use candle_core::{Device, Tensor, Var};

    /// The families rely on candle's derivatives of SiLU and of the sigmoid; compare them with
    /// finite differences.
    #[test]
    fn silu_and_sigmoid_gradients_match_finite_differences() {
        let xs = [-3.0f32, -0.5, 0.0, 0.7, 2.5];
        let v = Var::from_tensor(&Tensor::new(&xs, &Device::Cpu).unwrap()).unwrap();
        type Op = fn(&Tensor) -> candle_core::Result<Tensor>;
        type Case = (&'static str, Op, fn(f64) -> f64);
        let cases: [Case; 2] = [
            ("silu", |t| t.silu(), |x| x / (1.0 + (-x).exp())),
            ("sigmoid", candle_nn::ops::sigmoid, |x| {
                1.0 / (1.0 + (-x).exp())
            }),
        ];
        for (name, op, f) in cases {
            let g = op(v.as_tensor())
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let got: Vec<f32> = g.get(v.as_tensor()).unwrap().to_vec1().unwrap();
            for (x, d) in xs.iter().zip(&got) {
                let x = *x as f64;
                let num = (f(x + 1e-4) - f(x - 1e-4)) / 2e-4;
                assert!(
                    (num - *d as f64).abs() < 1e-3,
                    "{name}'({x}) = {d}, numerically {num}"
                );
            }
        }
    }
}
