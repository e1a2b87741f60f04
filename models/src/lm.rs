//! Per-token log-probabilities of texts under a causal language model: [`LogProbScorer`].
//!
//! A text longer than the window is scored as the Hugging Face guide "Perplexity of
//! fixed-length models" slides over it: windows of `max_length` tokens begin every `stride`
//! tokens, each scores only the tokens past the previous window's end (the rest is context),
//! and a window's first token, having no context in it, is never scored (so with
//! `stride == max_length` the first token of every later window goes unscored, as there).
//! Log-softmax statistics are summed in f64 from the f32 logits.

use crate::error::{ModelError, Result};
use crate::gpt2::{Gpt2, Gpt2Config};
use crate::host::with_host;
use crate::inception::load_weight_map;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::qwen2;
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tokenizers::Tokenizer;

/// The architectures `config.json`'s `model_type` may name: GPT-2 (written here) and Qwen2,
/// of the Llama family (candle-transformers' `qwen2`).
pub const SUPPORTED_MODEL_TYPES: &[&str] = &["gpt2", "qwen2"];

/// How texts are scored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreOptions {
    /// Put the model's BOS token in front of every text (HF evaluate's `add_start_token`).
    pub add_bos: bool,
    /// Tokens per window (at most the model's context).
    pub max_length: usize,
    /// Tokens between the starts of consecutive windows.
    pub stride: usize,
    /// Windows per forward pass.
    pub batch_size: usize,
}

/// One scored token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenScore {
    /// Index in the text's ids (BOS included when added).
    pub position: usize,
    pub token_id: u32,
    /// log p(token | the window's tokens before it), natural log.
    pub logprob: f64,
    /// 1 + the number of vocabulary entries with a strictly larger logit.
    pub rank: usize,
    /// Entropy (nats) of the predictive distribution at this position.
    pub entropy: f64,
}

/// One window's account, for the HF guide's own perplexity formula.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowAccount {
    /// Labels the guide leaves valid in this window (`trg_len`).
    pub target_len: usize,
    /// Tokens scored and the sum of their negative log-likelihoods.
    pub scored: usize,
    pub nll: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScoredText {
    pub ids: Vec<u32>,
    pub tokens: Vec<TokenScore>,
    pub windows: Vec<WindowAccount>,
}

impl ScoredText {
    pub fn nll(&self) -> f64 {
        -self.tokens.iter().map(|t| t.logprob).sum::<f64>()
    }

    /// exp(mean negative log-likelihood of the scored tokens): HF evaluate's per-text value.
    pub fn perplexity(&self) -> f64 {
        (self.nll() / self.tokens.len() as f64).exp()
    }
}

/// The windows of a sequence of `len` tokens: (begin, end, previous window's end). A window
/// scores positions max(previous end, begin + 1) .. end.
pub fn windows(len: usize, max_length: usize, stride: usize) -> Vec<(usize, usize, usize)> {
    let mut out = Vec::new();
    let mut prev_end = 0;
    let mut begin = 0;
    while begin < len {
        let end = (begin + max_length).min(len);
        out.push((begin, end, prev_end));
        prev_end = end;
        if end == len {
            break;
        }
        begin += stride;
    }
    out
}

enum Arch {
    Gpt2(Gpt2),
    /// candle-transformers' model keeps a KV cache between calls (hence the lock and the
    /// clearing before each pass) and returns every position's final hidden state.
    Qwen2 {
        model: Mutex<qwen2::Model>,
        lm_head: Tensor,
        vocab: usize,
        device: Device,
    },
}

impl Arch {
    fn vocab_size(&self) -> usize {
        match self {
            Arch::Gpt2(net) => net.vocab_size(),
            Arch::Qwen2 { vocab, .. } => *vocab,
        }
    }

    fn device(&self) -> &Device {
        match self {
            Arch::Gpt2(net) => &net.device,
            Arch::Qwen2 { device, .. } => device,
        }
    }

    /// Final hidden states of right-padded ids. Qwen2 needs no padding mask: attention is
    /// causal and the padding comes after every real token.
    fn hidden(&self, ids: &Tensor, lengths: &[usize]) -> Result<Tensor> {
        match self {
            Arch::Gpt2(net) => net.hidden(ids, lengths),
            Arch::Qwen2 { model, .. } => {
                let mut m = model.lock().unwrap_or_else(|e| e.into_inner());
                m.clear_kv_cache();
                let h = m.forward(ids, 0, None)?;
                m.clear_kv_cache();
                Ok(h)
            }
        }
    }

    /// The LM head's weight (vocab, d): logits are hidden · weightᵀ.
    fn head_weight(&self) -> &Tensor {
        match self {
            Arch::Gpt2(net) => net.head_weight(),
            Arch::Qwen2 { lm_head, .. } => lm_head,
        }
    }

    fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        match self {
            Arch::Gpt2(net) => net.logits(hidden),
            Arch::Qwen2 { lm_head, .. } => {
                Ok(hidden.matmul(&lm_head.t()?)?.to_dtype(DType::F32)?)
            }
        }
    }
}

/// The `config.json` fields of a Qwen2 model (transformers 4 and 5 layouts).
#[derive(serde::Deserialize)]
struct Qwen2Json {
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    max_position_embeddings: usize,
    #[serde(default)]
    tie_word_embeddings: bool,
    rope_theta: Option<f64>,
    rope_parameters: Option<serde_json::Value>,
    rope_scaling: Option<serde_json::Value>,
    rms_norm_eps: f64,
    #[serde(default)]
    use_sliding_window: bool,
    sliding_window: Option<usize>,
    hidden_act: String,
    bos_token_id: Option<u32>,
}

fn qwen2_config(doc: serde_json::Value, path: &Path) -> Result<(qwen2::Config, Option<u32>)> {
    let j: Qwen2Json =
        serde_json::from_value(doc).map_err(|e| bad(path, format!("not a Qwen2 config: {e}")))?;
    let params = j.rope_parameters.as_ref();
    let rope_type = params
        .and_then(|p| p.get("rope_type"))
        .and_then(|t| t.as_str())
        .unwrap_or("default");
    if rope_type != "default" || j.rope_scaling.as_ref().is_some_and(|v| !v.is_null()) {
        return Err(bad(
            path,
            format!("RoPE scaling '{rope_type}' is not supported (default only)"),
        ));
    }
    let rope_theta = params
        .and_then(|p| p.get("rope_theta"))
        .and_then(|t| t.as_f64())
        .or(j.rope_theta)
        .unwrap_or(10000.0);
    if j.hidden_act != "silu" {
        return Err(bad(
            path,
            format!("hidden_act '{}' is not supported (silu)", j.hidden_act),
        ));
    }
    // transformers applies the sliding window only when use_sliding_window is set.
    let window = match (j.use_sliding_window, j.sliding_window) {
        (true, Some(w)) => w,
        _ => j.max_position_embeddings,
    };
    let config = qwen2::Config {
        vocab_size: j.vocab_size,
        hidden_size: j.hidden_size,
        intermediate_size: j.intermediate_size,
        num_hidden_layers: j.num_hidden_layers,
        num_attention_heads: j.num_attention_heads,
        num_key_value_heads: j.num_key_value_heads.unwrap_or(j.num_attention_heads),
        max_position_embeddings: j.max_position_embeddings,
        sliding_window: window,
        max_window_layers: j.num_hidden_layers,
        tie_word_embeddings: j.tie_word_embeddings,
        rope_theta,
        rms_norm_eps: j.rms_norm_eps,
        use_sliding_window: j.use_sliding_window,
        hidden_act: candle_nn::Activation::Silu,
    };
    Ok((config, j.bos_token_id))
}

/// A causal LM, its tokenizer, and how it scores texts.
pub struct LogProbScorer {
    arch: Arch,
    pub tokenizer: Tokenizer,
    pub bos_token_id: Option<u32>,
    pub context: usize,
    pub model_type: String,
    pub files: Vec<PathBuf>,
}

fn bad(path: &Path, msg: String) -> ModelError {
    ModelError::BadWeights {
        path: path.to_path_buf(),
        msg,
    }
}

impl LogProbScorer {
    /// Loads a Hugging Face folder: `config.json`, `model.safetensors` (or shards with their
    /// index, or `pytorch_model.bin`), `tokenizer.json`.
    pub fn load(dir: &Path, device: &Device, dtype: DType) -> Result<LogProbScorer> {
        let config_path = dir.join("config.json");
        let tok_path = dir.join("tokenizer.json");
        let missing = |what: &str| ModelError::MissingWeights {
            what: what.to_string(),
            tried: dir.display().to_string(),
            hint: "A language-model folder holds config.json, model.safetensors (or sharded \
                   model-*.safetensors with model.safetensors.index.json, or pytorch_model.bin) \
                   and tokenizer.json, as on the Hugging Face hub."
                .into(),
        };
        if !config_path.is_file() {
            return Err(missing("config.json"));
        }
        let text = std::fs::read(&config_path).map_err(|e| {
            ModelError::Input(format!("{}: cannot read: {e}", config_path.display()))
        })?;
        let doc: serde_json::Value = serde_json::from_slice(&text)
            .map_err(|e| bad(&config_path, format!("not valid JSON: {e}")))?;
        let model_type = doc["model_type"].as_str().unwrap_or("").to_string();
        if !SUPPORTED_MODEL_TYPES.contains(&model_type.as_str()) {
            return Err(bad(
                &config_path,
                format!(
                    "model_type '{model_type}' is not supported (supported: {})",
                    SUPPORTED_MODEL_TYPES.join(", ")
                ),
            ));
        }
        if !tok_path.is_file() {
            return Err(missing("tokenizer.json"));
        }
        let weights = crate::clip::weight_files(dir).ok_or_else(|| missing("model weights"))?;
        let mut tensors: HashMap<String, Tensor> = HashMap::new();
        for w in &weights {
            tensors.extend(load_weight_map(w)?.tensors);
        }
        let vb = VarBuilder::from_tensors(tensors, dtype, device);
        let unfit =
            |e: candle_core::Error| bad(&weights[0], format!("does not fit config.json: {e}"));
        let (arch, bos, context) = if model_type == "gpt2" {
            let config: Gpt2Config = serde_json::from_value(doc)
                .map_err(|e| bad(&config_path, format!("not a GPT-2 config: {e}")))?;
            let (bos, context) = (config.bos_token_id, config.n_positions);
            let net = Gpt2::new(vb, config).map_err(|e| match e {
                ModelError::Candle(c) => unfit(c),
                other => other,
            })?;
            (Arch::Gpt2(net), bos, context)
        } else {
            let (config, bos) = qwen2_config(doc, &config_path)?;
            let model = qwen2::Model::new(&config, vb.clone()).map_err(unfit)?;
            let head = if vb.contains_tensor("lm_head.weight") {
                vb.get((config.vocab_size, config.hidden_size), "lm_head.weight")
            } else {
                vb.get(
                    (config.vocab_size, config.hidden_size),
                    "model.embed_tokens.weight",
                )
            }
            .map_err(unfit)?;
            let arch = Arch::Qwen2 {
                model: Mutex::new(model),
                lm_head: head,
                vocab: config.vocab_size,
                device: device.clone(),
            };
            (arch, bos, config.max_position_embeddings)
        };
        let tokenizer = Tokenizer::from_file(&tok_path)
            .map_err(|e| bad(&tok_path, format!("cannot load the tokenizer: {e}")))?;
        let mut files = weights;
        files.push(config_path);
        files.push(tok_path);
        Ok(LogProbScorer {
            arch,
            tokenizer,
            bos_token_id: bos,
            context,
            model_type,
            files,
        })
    }

    /// The tokenizer's vocabulary size, added tokens included (what the green-list watermark
    /// permutes, as its reference code does).
    pub fn tokenizer_vocab_size(&self) -> usize {
        self.tokenizer.get_vocab_size(true)
    }

    /// The next token's logits after `ids`, from the last `context` of them (a sliding
    /// context, so generation can run past the model's length).
    pub fn next_logits(&self, ids: &[u32]) -> Result<Vec<f32>> {
        if ids.is_empty() {
            return Err(ModelError::Input("no token to continue from".into()));
        }
        let tail = &ids[ids.len().saturating_sub(self.context)..];
        let input = Tensor::from_vec(tail.to_vec(), (1, tail.len()), self.arch.device())?;
        let h = self.arch.hidden(&input, &[tail.len()])?;
        let last = h.narrow(1, tail.len() - 1, 1)?.squeeze(1)?;
        Ok(self
            .arch
            .logits(&last)?
            .to_dtype(DType::F32)?
            .squeeze(0)?
            .to_vec1()?)
    }

    /// `max_new` tokens after `prompt`: `pick` sees the ids so far and the next token's
    /// logits (which it may change: a watermark's bias) and returns the token; generation
    /// stops early after `stop`.
    pub fn generate(
        &self,
        prompt: &[u32],
        max_new: usize,
        stop: Option<u32>,
        mut pick: impl FnMut(&[u32], &mut Vec<f32>) -> u32,
    ) -> Result<Vec<u32>> {
        let mut ids = prompt.to_vec();
        for _ in 0..max_new {
            let mut logits = self.next_logits(&ids)?;
            let t = pick(&ids, &mut logits);
            ids.push(t);
            if Some(t) == stop {
                break;
            }
        }
        Ok(ids[prompt.len()..].to_vec())
    }

    /// Token ids of `text` without special tokens (BOS is the scorer's to add).
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| ModelError::Input(format!("tokenizer: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// The ids a text is scored as: BOS in front when asked.
    pub fn ids_for(&self, text: &str, opts: &ScoreOptions) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        if opts.add_bos {
            ids.push(self.bos_token_id.ok_or_else(|| {
                ModelError::Input("--add-bos: the model's config names no bos_token_id".into())
            })?);
        }
        ids.extend(self.tokenize(text)?);
        Ok(ids)
    }

    fn check(&self, opts: &ScoreOptions) -> Result<()> {
        if opts.max_length < 2 || opts.max_length > self.context {
            return Err(ModelError::Input(format!(
                "--max-length {} must be between 2 and the model's context ({})",
                opts.max_length, self.context
            )));
        }
        if opts.stride == 0 || opts.stride > opts.max_length {
            return Err(ModelError::Input(format!(
                "--stride {} must be between 1 and --max-length ({})",
                opts.stride, opts.max_length
            )));
        }
        Ok(())
    }

    /// Scores token sequences (each at least 2 tokens), window by window, `batch_size` windows
    /// per forward pass; `progress` is called with the windows done.
    pub fn score_ids(
        &self,
        seqs: &[Vec<u32>],
        opts: &ScoreOptions,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<Vec<ScoredText>> {
        self.check(opts)?;
        let net = &self.arch;
        let vocab = net.vocab_size();
        let mut jobs = Vec::new(); // (sequence, begin, end, previous window's end)
        for (i, s) in seqs.iter().enumerate() {
            if s.len() < 2 {
                return Err(ModelError::Input(format!(
                    "sequence {i} has {} token(s): nothing to predict",
                    s.len()
                )));
            }
            if let Some(&bad_id) = s.iter().find(|&&t| t as usize >= vocab) {
                return Err(ModelError::Input(format!(
                    "sequence {i}: token id {bad_id} is outside the model's vocabulary ({vocab})"
                )));
            }
            for (b, e, f) in windows(s.len(), opts.max_length, opts.stride) {
                jobs.push((i, b, e, f));
            }
        }
        let mut out: Vec<ScoredText> = seqs
            .iter()
            .map(|s| ScoredText {
                ids: s.clone(),
                tokens: Vec::new(),
                windows: Vec::new(),
            })
            .collect();
        // Longest windows together, so that batches carry little padding.
        let mut order: Vec<usize> = (0..jobs.len()).collect();
        order.sort_by_key(|&j| std::cmp::Reverse(jobs[j].2 - jobs[j].1));
        let mut done = 0;
        let mut results: Vec<Option<(Vec<TokenScore>, WindowAccount)>> = vec![None; jobs.len()];
        for batch in order.chunks(opts.batch_size.max(1)) {
            let t = batch
                .iter()
                .map(|&j| jobs[j].2 - jobs[j].1)
                .max()
                .unwrap_or(0);
            let mut flat = Vec::with_capacity(batch.len() * t);
            let mut lengths = Vec::with_capacity(batch.len());
            for &j in batch {
                let (s, b, e, _) = jobs[j];
                flat.extend(&seqs[s][b..e]);
                flat.extend(std::iter::repeat_n(0u32, t - (e - b)));
                lengths.push(e - b);
            }
            let ids = Tensor::from_vec(flat, (batch.len(), t), net.device())?;
            let hidden = net.hidden(&ids, &lengths)?;
            // Hidden state at p − 1 predicts token p: window j's rows are first-b-1..e-b-1 of
            // its batch row, and scores `first..e`.
            let spans: Vec<(usize, usize)> = batch
                .iter()
                .map(|&j| {
                    let (_, b, e, prev_end) = jobs[j];
                    (prev_end.max(b + 1), e)
                })
                .collect();
            let head = net.head_weight();
            let scores: Vec<Vec<TokenScore>> = if hidden.device().is_cpu()
                && hidden.dtype() == DType::F32
                && head.dtype() == DType::F32
            {
                // One pass over the batch's rows, blocks of logits scored while in cache.
                let d = hidden.dim(2)?;
                let mut runs = Vec::with_capacity(batch.len());
                let mut targets = Vec::new();
                for (row, (&j, &(first, e))) in batch.iter().zip(&spans).enumerate() {
                    let (s, b, _, _) = jobs[j];
                    runs.push((row * t + first - b - 1, e.saturating_sub(first)));
                    targets.extend((first..e).map(|p| (seqs[s][p], p)));
                }
                let flat = with_host(&hidden, |h| {
                    with_host(head, |w| {
                        crate::lm_head_cpu::score_rows(h, d, w, &runs, |i, logits, scratch| {
                            let (target, p) = targets[i];
                            token_score(logits, target, p, scratch)
                        })
                    })
                })??;
                let mut flat = flat.into_iter();
                spans
                    .iter()
                    .map(|&(first, e)| flat.by_ref().take(e.saturating_sub(first)).collect())
                    .collect()
            } else {
                let mut out = Vec::with_capacity(batch.len());
                for (row, (&j, &(first, e))) in batch.iter().zip(&spans).enumerate() {
                    let (s, b, _, _) = jobs[j];
                    if first >= e {
                        out.push(Vec::new());
                        continue;
                    }
                    let h = hidden.get(row)?.narrow(0, first - b - 1, e - first)?;
                    let logits = net.logits(&h)?;
                    out.push(if logits.device().is_cpu() {
                        with_host(&logits, |logits| {
                            logits
                                .par_chunks(vocab)
                                .zip(first..e)
                                .map_init(Vec::new, |scratch, (row, p)| {
                                    token_score(row, seqs[s][p], p, scratch)
                                })
                                .collect()
                        })?
                    } else {
                        token_scores_on_device(&logits, &seqs[s][first..e], first)?
                    });
                }
                out
            };
            for (&j, scores) in batch.iter().zip(scores) {
                let (_, _, e, prev_end) = jobs[j];
                let nll = -scores.iter().map(|t| t.logprob).sum::<f64>();
                let account = WindowAccount {
                    target_len: e - prev_end,
                    scored: scores.len(),
                    nll,
                };
                results[j] = Some((scores, account));
            }
            done += batch.len();
            progress(done, jobs.len());
        }
        for (j, r) in results.into_iter().enumerate() {
            let (scores, account) = r.expect("every window ran");
            let s = jobs[j].0;
            out[s].tokens.extend(scores);
            out[s].windows.push(account);
        }
        Ok(out)
    }
}

/// The log-softmax statistics of one logit row for the token `target` at `position`: with
/// d_i = x_i − m, e_i = exp(d_i) and Z = Σ e_i, log p_t = x_t − m − ln Z and the entropy is
/// ln Z − Σ e_i d_i / Z. The exponentials are f32 and vectorised (rten-vecmath, within 1 ulp;
/// glibc's scalar f64 `exp` over 8,000-word rows was a twentieth of a GPT-2 scoring run), the
/// sums f64: log-probabilities come out within about 1e-7 of the all-f64 computation.
fn token_score(logits: &[f32], target: u32, position: usize, e: &mut Vec<f32>) -> TokenScore {
    use rten_simd::SimdUnaryOp;
    let m = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let x_t = logits[target as usize];
    e.clear();
    e.extend(logits.iter().map(|&x| x - m));
    rten_vecmath::Exp {}.map_mut(e);
    let (mut z, mut weighted, mut above) = (0.0f64, 0.0f64, 0usize);
    for (&x, &e) in logits.iter().zip(e.iter()) {
        let e = f64::from(e);
        z += e;
        weighted += e * f64::from(x - m);
        above += (x > x_t) as usize;
    }
    let ln_z = z.ln();
    TokenScore {
        position,
        token_id: target,
        logprob: f64::from(x_t) - f64::from(m) - ln_z,
        rank: above + 1,
        entropy: ln_z - weighted / z,
    }
}

/// [`token_score`] for every row of a (rows × vocab) f32 logit tensor, as tensor operations
/// on the tensor's own device, in f64: on a GPU, a window's logits (1,024 × 50,257 floats for
/// GPT-2, 200 MB) would otherwise cross to the host to be reduced there; only three numbers
/// per token come back. Token i of `targets` is at position `first + i`.
fn token_scores_on_device(
    logits: &Tensor,
    targets: &[u32],
    first: usize,
) -> Result<Vec<TokenScore>> {
    let x = logits.to_dtype(DType::F64)?;
    let m = x.max_keepdim(1)?;
    let d = x.broadcast_sub(&m)?;
    let e = d.exp()?;
    let ln_z = e.sum_keepdim(1)?.log()?;
    let weighted = (&e * &d)?.sum_keepdim(1)?;
    let target = Tensor::from_slice(targets, (targets.len(), 1), x.device())?;
    let d_t = d.gather(&target, 1)?;
    let above = x
        .broadcast_gt(&x.gather(&target, 1)?)?
        .to_dtype(DType::F64)?
        .sum_keepdim(1)?;
    // entropy = ln Z − Σ e_i d_i / Z
    let entropy = (&ln_z - weighted.broadcast_div(&ln_z.exp()?)?)?;
    let logprob = (d_t - &ln_z)?;
    let stats = Tensor::cat(&[logprob, above, entropy], 1)?.to_vec2::<f64>()?;
    Ok(stats
        .iter()
        .zip(targets)
        .enumerate()
        .map(|(i, (row, &token_id))| TokenScore {
            position: first + i,
            token_id,
            logprob: row[0],
            rank: row[1] as usize + 1,
            entropy: row[2],
        })
        .collect())
}

/// The HF guide's perplexity from window accounts: each window's mean loss weighted by its
/// valid labels minus one (its `num_loss_tokens`); windows that score nothing are left out
/// (the guide's loop would give NaN for them).
pub fn guide_perplexity(accounts: &[WindowAccount]) -> f64 {
    let (mut nll, mut n) = (0.0, 0.0);
    for a in accounts.iter().filter(|a| a.scored > 0) {
        let w = a.target_len as f64 - 1.0;
        nll += a.nll / a.scored as f64 * w;
        n += w;
    }
    (nll / n).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_follow_the_guide() {
        // Fits: one window, every token after the first scored.
        assert_eq!(windows(5, 8, 4), vec![(0, 5, 0)]);
        // Overlapping: later windows score only what lies past the previous end.
        assert_eq!(
            windows(10, 4, 2),
            vec![(0, 4, 0), (2, 6, 4), (4, 8, 6), (6, 10, 8)]
        );
        // stride == max_length: a window's first token has no context and is not scored
        // (window (4, 8) scores 5..8; window (8, 9) scores nothing).
        assert_eq!(windows(9, 4, 4), vec![(0, 4, 0), (4, 8, 4), (8, 9, 8)]);
    }

    #[test]
    fn token_scores_are_log_softmax_rank_and_entropy() {
        let logits = [1.0f32, 2.0, 3.0, 0.5];
        let t = token_score(&logits, 1, 7, &mut Vec::new());
        let z: f64 = logits.iter().map(|&x| (x as f64).exp()).sum();
        // f32 exponentials, f64 sums: within a few f32 ulps of the f64 values.
        assert!((t.logprob - (2.0 - z.ln())).abs() < 1e-6);
        assert_eq!(t.rank, 2);
        let h: f64 = logits
            .iter()
            .map(|&x| {
                let p = (x as f64).exp() / z;
                -p * p.ln()
            })
            .sum();
        assert!((t.entropy - h).abs() < 1e-6);
        assert_eq!(token_score(&logits, 2, 0, &mut Vec::new()).rank, 1);
    }

    #[test]
    fn token_scores_as_tensor_operations_equal_the_host_ones() {
        // Rows with ties, a large spread and a row where the target is the smallest logit.
        let (rows, vocab) = (5, 37);
        let logits: Vec<f32> = (0..rows * vocab)
            .map(|i| ((i * 7919) % 101) as f32 * 0.37 - 15.0 + (i / vocab) as f32 * 3.0)
            .collect();
        let targets = [3u32, 0, 36, 17, 17];
        let t = Tensor::from_slice(&logits, (rows, vocab), &Device::Cpu).unwrap();
        let got = token_scores_on_device(&t, &targets, 4).unwrap();
        for (i, g) in got.iter().enumerate() {
            let want = token_score(
                &logits[i * vocab..(i + 1) * vocab],
                targets[i],
                4 + i,
                &mut Vec::new(),
            );
            assert_eq!(
                (g.position, g.token_id, g.rank),
                (want.position, want.token_id, want.rank)
            );
            assert!((g.logprob - want.logprob).abs() < 1e-6, "{g:?} vs {want:?}");
            assert!((g.entropy - want.entropy).abs() < 1e-6, "{g:?} vs {want:?}");
        }
        assert!(got.iter().map(|g| g.rank).max().unwrap() > 1);
    }
}
