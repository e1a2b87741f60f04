//! GPT-2 (Radford et al. 2019) in candle, loading Hugging Face checkpoints; candle-transformers
//! has no GPT-2. Its `Conv1D` layers store weights as (in, out), the transpose of `Linear`'s,
//! so they multiply from the right. Pre-norm blocks, learned positions, `gelu_new` (the tanh
//! approximation; [`gelu_new`](crate::gelu_new)), the LM head tied to the token embedding.
//!
//! Sequences are right-padded: positions count from 0 for every row (as transformers does
//! when no position ids are given), and padded keys are masked out of the attention.

use crate::attention_cpu::causal_attention;
use crate::error::{ModelError, Result};
use crate::gelu_new::{gelu_new, gelu_new_in_place};
use crate::host::with_host;
use crate::linear_cpu::affine;
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{LayerNorm, VarBuilder};
use serde::Deserialize;

/// The `config.json` fields GPT-2 uses, with transformers' defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Gpt2Config {
    pub vocab_size: usize,
    pub n_positions: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_inner: Option<usize>,
    pub activation_function: String,
    pub layer_norm_epsilon: f64,
    pub scale_attn_weights: bool,
    pub scale_attn_by_inverse_layer_idx: bool,
    pub bos_token_id: Option<u32>,
}

impl Default for Gpt2Config {
    fn default() -> Self {
        Gpt2Config {
            vocab_size: 50257,
            n_positions: 1024,
            n_embd: 768,
            n_layer: 12,
            n_head: 12,
            n_inner: None,
            activation_function: "gelu_new".into(),
            layer_norm_epsilon: 1e-5,
            scale_attn_weights: true,
            scale_attn_by_inverse_layer_idx: false,
            bos_token_id: Some(50256),
        }
    }
}

/// A `Conv1D`: y = x · W + b with W stored (in, out).
enum Conv1D {
    /// f32 on the CPU: the values themselves, for [`affine`]'s GEMM.
    Host {
        weight: Vec<f32>,
        bias: Vec<f32>,
        n_in: usize,
        n_out: usize,
    },
    /// Other devices and dtypes: candle's ops.
    Candle { weight: Tensor, bias: Tensor },
}

impl Conv1D {
    fn new(vb: VarBuilder, n_in: usize, n_out: usize) -> candle_core::Result<Self> {
        Self::from_tensors(vb.get((n_in, n_out), "weight")?, vb.get(n_out, "bias")?)
    }

    fn from_tensors(weight: Tensor, bias: Tensor) -> candle_core::Result<Self> {
        if weight.device().is_cpu() && weight.dtype() == DType::F32 {
            let (n_in, n_out) = weight.dims2()?;
            Ok(Conv1D::Host {
                weight: weight.flatten_all()?.to_vec1()?,
                bias: bias.to_vec1()?,
                n_in,
                n_out,
            })
        } else {
            Ok(Conv1D::Candle { weight, bias })
        }
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.forward_then(x, Then::Nothing)
    }

    /// `base + x · W + b` (base: the residual stream, added in the same pass on the CPU).
    fn forward_onto(&self, x: &Tensor, base: &Tensor) -> candle_core::Result<Tensor> {
        self.forward_then(x, Then::Add(base))
    }

    /// `gelu_new(x · W + b)`; on the CPU the activation runs in place on the GEMM's output.
    fn forward_gelu(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.forward_then(x, Then::Gelu)
    }

    fn forward_then(&self, x: &Tensor, then: Then) -> candle_core::Result<Tensor> {
        let (b, t, d) = x.dims3()?;
        match self {
            Conv1D::Host {
                weight,
                bias,
                n_in,
                n_out,
            } => {
                if d != *n_in {
                    candle_core::bail!("Conv1D expects width {n_in}, got {d}")
                }
                let mut out = with_host(x, |xs| match then {
                    Then::Add(base) => with_host(base, |r| {
                        affine(xs, b * t, weight, (d, *n_out), bias, Some(r))
                    }),
                    _ => Ok(affine(xs, b * t, weight, (d, *n_out), bias, None)),
                })??;
                if let Then::Gelu = then {
                    gelu_new_in_place(&mut out);
                }
                Tensor::from_vec(out, (b, t, *n_out), x.device())
            }
            Conv1D::Candle { weight, bias } => {
                let y = x.reshape((b * t, d))?.matmul(weight)?;
                let y = y.broadcast_add(bias)?.reshape((b, t, ()))?;
                match then {
                    Then::Nothing => Ok(y),
                    Then::Add(base) => base + y,
                    Then::Gelu => gelu_new(&y),
                }
            }
        }
    }
}

/// What a `Conv1D` does with its output before returning it.
#[derive(Clone, Copy)]
enum Then<'a> {
    Nothing,
    /// Add the residual stream.
    Add(&'a Tensor),
    Gelu,
}

struct Block {
    ln_1: LayerNorm,
    c_attn: Conv1D,
    attn_proj: Conv1D,
    ln_2: LayerNorm,
    c_fc: Conv1D,
    mlp_proj: Conv1D,
    n_head: usize,
}

impl Block {
    fn new(vb: VarBuilder, c: &Gpt2Config, layer: usize) -> candle_core::Result<Self> {
        let d = c.n_embd;
        let inner = c.n_inner.unwrap_or(4 * d);
        let head_dim = d / c.n_head;
        let mut scale = if c.scale_attn_weights {
            1.0 / (head_dim as f64).sqrt()
        } else {
            1.0
        };
        if c.scale_attn_by_inverse_layer_idx {
            scale /= (layer + 1) as f64;
        }
        // The attention scale is folded into the query projection: one multiply per weight
        // at load instead of one per attention score in every pass (exact for the usual
        // head widths, whose scale is a power of two).
        let c_attn = vb.pp("attn.c_attn");
        let (weight, bias) = (
            c_attn.get((d, 3 * d), "weight")?,
            c_attn.get(3 * d, "bias")?,
        );
        let c_attn = Conv1D::from_tensors(
            Tensor::cat(
                &[
                    (weight.narrow(1, 0, d)? * scale)?,
                    weight.narrow(1, d, 2 * d)?,
                ],
                1,
            )?,
            Tensor::cat(
                &[(bias.narrow(0, 0, d)? * scale)?, bias.narrow(0, d, 2 * d)?],
                0,
            )?,
        )?;
        Ok(Block {
            ln_1: candle_nn::layer_norm(d, c.layer_norm_epsilon, vb.pp("ln_1"))?,
            c_attn,
            attn_proj: Conv1D::new(vb.pp("attn.c_proj"), d, d)?,
            ln_2: candle_nn::layer_norm(d, c.layer_norm_epsilon, vb.pp("ln_2"))?,
            c_fc: Conv1D::new(vb.pp("mlp.c_fc"), d, inner)?,
            mlp_proj: Conv1D::new(vb.pp("mlp.c_proj"), inner, d)?,
            n_head: c.n_head,
        })
    }

    /// One block. On the CPU in f32 the attention is [`causal_attention`] over `lengths`;
    /// elsewhere candle's ops with `mask`, (b, 1, t, t) additive: 0 where a query may attend,
    /// −inf elsewhere.
    fn forward(&self, x: &Tensor, attend: &Attend) -> candle_core::Result<Tensor> {
        let (b, t, d) = x.dims3()?;
        let hd = d / self.n_head;
        let qkv = self.c_attn.forward(&self.ln_1.forward(x)?)?;
        let y = match attend {
            Attend::Host { lengths } => {
                let y = with_host(&qkv, |qkv| {
                    causal_attention(qkv, (b, t, d), self.n_head, lengths)
                })?;
                Tensor::from_vec(y, (b, t, d), x.device())?
            }
            Attend::Mask(mask) => {
                let heads = |i: usize| -> candle_core::Result<Tensor> {
                    qkv.narrow(2, i * d, d)?
                        .reshape((b, t, self.n_head, hd))?
                        .transpose(1, 2)?
                        .contiguous()
                };
                let (q, k, v) = (heads(0)?, heads(1)?, heads(2)?);
                let att = q.matmul(&k.t()?)?.broadcast_add(mask)?;
                let att = candle_nn::ops::softmax_last_dim(&att)?;
                att.matmul(&v)?.transpose(1, 2)?.reshape((b, t, d))?
            }
        };
        let x = self.attn_proj.forward_onto(&y, x)?;
        let h = self.c_fc.forward_gelu(&self.ln_2.forward(&x)?)?;
        self.mlp_proj.forward_onto(&h, &x)
    }
}

/// How a block's attention learns which keys each query sees.
enum Attend<'a> {
    /// Host kernels: causal within each row's real length.
    Host { lengths: &'a [usize] },
    /// candle's ops: an additive mask.
    Mask(Tensor),
}

/// GPT-2 with its LM head.
pub struct Gpt2 {
    wte: Tensor,
    wpe: Tensor,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    pub config: Gpt2Config,
    pub device: Device,
}

impl Gpt2 {
    /// Builds the network from a checkpoint's tensors (with or without the `transformer.`
    /// prefix that `GPT2LMHeadModel` adds).
    pub fn new(vb: VarBuilder, config: Gpt2Config) -> Result<Gpt2> {
        if config.activation_function != "gelu_new" {
            return Err(ModelError::Input(format!(
                "GPT-2 activation '{}' is not supported (gelu_new)",
                config.activation_function
            )));
        }
        let vb = if vb.contains_tensor("transformer.wte.weight") {
            vb.pp("transformer")
        } else {
            vb
        };
        let d = config.n_embd;
        let wte = vb.get((config.vocab_size, d), "wte.weight")?;
        let wpe = vb.get((config.n_positions, d), "wpe.weight")?;
        let blocks = (0..config.n_layer)
            .map(|i| Block::new(vb.pp(format!("h.{i}")), &config, i))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let ln_f = candle_nn::layer_norm(d, config.layer_norm_epsilon, vb.pp("ln_f"))?;
        Ok(Gpt2 {
            device: wte.device().clone(),
            wte,
            wpe,
            blocks,
            ln_f,
            config,
        })
    }

    /// Final hidden states (b, t, d) of right-padded `ids` (b, t); `lengths[i]` real tokens in
    /// row i.
    pub fn hidden(&self, ids: &Tensor, lengths: &[usize]) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        if t > self.config.n_positions {
            return Err(ModelError::Input(format!(
                "{t} tokens exceed the context of {}",
                self.config.n_positions
            )));
        }
        let pos = self.wpe.narrow(0, 0, t)?;
        let mut x = self
            .wte
            .embedding(&ids.flatten_all()?)?
            .reshape((b, t, ()))?
            .broadcast_add(&pos)?;
        let attend = if self.device.is_cpu() && x.dtype() == DType::F32 {
            Attend::Host { lengths }
        } else {
            Attend::Mask(self.mask(b, t, lengths)?.to_dtype(x.dtype())?)
        };
        for block in &self.blocks {
            x = block.forward(&x, &attend)?;
        }
        Ok(self.ln_f.forward(&x)?)
    }

    /// Causal, and padded keys masked: row i attends to keys j <= q and j < lengths[i].
    fn mask(&self, b: usize, t: usize, lengths: &[usize]) -> Result<Tensor> {
        let mut mask = vec![0f32; b * t * t];
        for (r, &len) in lengths.iter().enumerate() {
            for q in 0..t {
                for k in 0..t {
                    if k > q || k >= len {
                        mask[(r * t + q) * t + k] = f32::NEG_INFINITY;
                    }
                }
            }
            // A padded query would see no key at all (NaN); let it see the first one.
            for q in len..t {
                mask[(r * t + q) * t] = 0.0;
            }
        }
        Ok(Tensor::from_vec(mask, (b, 1, t, t), &self.device)?)
    }

    /// The LM head's weight (vocab, d): the tied token embedding.
    pub fn head_weight(&self) -> &Tensor {
        &self.wte
    }

    /// Logits (n, vocab) of hidden states (n, d): the tied LM head.
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        Ok(hidden.matmul(&self.wte.t()?)?.to_dtype(DType::F32)?)
    }

    pub fn vocab_size(&self) -> usize {
        self.config.vocab_size
    }
}
