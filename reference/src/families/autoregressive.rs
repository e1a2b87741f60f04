//! The autoregressive reference model: a small GPT-2 trained on the HMM text, saved as a
//! Hugging Face GPT-2 folder (`config.json`, `model.safetensors`, a word-level
//! `tokenizer.json`), so that `assay text perplexity --model` loads it with the code that
//! loads any real model.
//!
//! The training forward below is GPT-2's (pre-norm blocks, learned positions, tanh GELU, the
//! head tied to the token embedding) written with differentiable candle ops; weights are
//! kept in the checkpoint's layout (`Conv1D` weights (in, out), `transformer.` names), so what
//! training holds is what the folder stores.
//!
//! Three variants share the vocabulary: the **good** model (20,000 HMM texts), the
//! **memorizing** model (trained long on `MEMORIZED` texts of data set `MEMORIZED_SEED`), and
//! the **planted-bias** model (trained on the planted-bias text).

use super::training::{seeded_varmap, stream, Init, LossLog, Param};
use crate::data::hmm_text::{text_rng, Hmm, PlantedBias, END};
use candle_core::{DType, Device, Result, Tensor, D};
use candle_nn::{Optimizer, VarBuilder, VarMap};
use rand::Rng;
use serde_json::json;

pub const EOT: &str = "<|endoftext|>";
pub const UNK: &str = "<unk>";
pub const CONTEXT: usize = 128;
pub const WIDTH: usize = 64;
pub const LAYERS: usize = 2;
pub const HEADS: usize = 4;
pub const MEMORIZED: usize = 64;
pub const MEMORIZED_SEED: u64 = 4343;
const EPS: f64 = 1e-5;

/// The shared vocabulary: the end-of-text token (also BOS), the HMM's words, ".", the
/// planted-bias names and attribute words, and `<unk>`.
pub struct Vocabulary {
    pub tokens: Vec<String>,
}

impl Vocabulary {
    pub fn new(hmm: &Hmm) -> Vocabulary {
        let bias = PlantedBias::new(hmm);
        let mut tokens = vec![EOT.to_string()];
        tokens.extend(hmm.words.iter().cloned());
        tokens.push(END.to_string());
        tokens.extend(bias.group_names.iter().flatten().cloned());
        tokens.extend(bias.attributes.iter().cloned());
        tokens.push(UNK.to_string());
        Vocabulary { tokens }
    }

    pub fn id(&self, word: &str) -> u32 {
        self.tokens
            .iter()
            .position(|t| t == word)
            .unwrap_or(self.tokens.len() - 1) as u32
    }

    /// BOS, then the text's words.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        std::iter::once(0)
            .chain(text.split_whitespace().map(|w| self.id(w)))
            .collect()
    }

    pub fn decode(&self, ids: &[u32]) -> String {
        ids.iter()
            .map(|&i| self.tokens[i as usize].as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The word-level `tokenizer.json` (whitespace split, unknown words to `<unk>`).
    pub fn tokenizer_json(&self) -> std::result::Result<String, String> {
        let vocab: serde_json::Map<String, serde_json::Value> = self
            .tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), json!(i)))
            .collect();
        let model: tokenizers::models::wordlevel::WordLevel = serde_json::from_str(
            &json!({"type": "WordLevel", "vocab": vocab, "unk_token": UNK}).to_string(),
        )
        .map_err(|e| e.to_string())?;
        let mut tok = tokenizers::Tokenizer::new(model);
        tok.with_pre_tokenizer(Some(
            tokenizers::pre_tokenizers::whitespace::WhitespaceSplit,
        ));
        tok.add_special_tokens(vec![
            tokenizers::AddedToken::from(EOT, true),
            tokenizers::AddedToken::from(UNK, true),
        ])
        .map_err(|e| e.to_string())?;
        tok.to_string(true).map_err(|e| e.to_string())
    }

    /// The Hugging Face GPT-2 `config.json`.
    pub fn config_json(&self) -> String {
        let c = json!({
            "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
            "vocab_size": self.tokens.len(), "n_positions": CONTEXT, "n_embd": WIDTH,
            "n_layer": LAYERS, "n_head": HEADS, "n_inner": null,
            "activation_function": "gelu_new", "layer_norm_epsilon": EPS,
            "bos_token_id": 0, "eos_token_id": 0, "tie_word_embeddings": true,
            "scale_attn_weights": true, "scale_attn_by_inverse_layer_idx": false,
            "attn_pdrop": 0.0, "embd_pdrop": 0.0, "resid_pdrop": 0.0,
        });
        serde_json::to_string_pretty(&c).expect("a JSON value serialises")
    }
}

fn params(vocab: usize) -> Vec<Param> {
    let normal = Init::Normal(0.02);
    let mut p: Vec<Param> = vec![
        ("transformer.wte.weight".into(), vec![vocab, WIDTH], normal),
        (
            "transformer.wpe.weight".into(),
            vec![CONTEXT, WIDTH],
            Init::Normal(0.01),
        ),
    ];
    for i in 0..LAYERS {
        let h = |s: &str| format!("transformer.h.{i}.{s}");
        // GPT-2 scales the residual projections' initialisation by 1/√(2 · layers).
        let proj = Init::Normal(0.02 / (2.0 * LAYERS as f64).sqrt());
        p.extend([
            (h("ln_1.weight"), vec![WIDTH], Init::Const(1.0)),
            (h("ln_1.bias"), vec![WIDTH], Init::Const(0.0)),
            (h("attn.c_attn.weight"), vec![WIDTH, 3 * WIDTH], normal),
            (h("attn.c_attn.bias"), vec![3 * WIDTH], Init::Const(0.0)),
            (h("attn.c_proj.weight"), vec![WIDTH, WIDTH], proj),
            (h("attn.c_proj.bias"), vec![WIDTH], Init::Const(0.0)),
            (h("ln_2.weight"), vec![WIDTH], Init::Const(1.0)),
            (h("ln_2.bias"), vec![WIDTH], Init::Const(0.0)),
            (h("mlp.c_fc.weight"), vec![WIDTH, 4 * WIDTH], normal),
            (h("mlp.c_fc.bias"), vec![4 * WIDTH], Init::Const(0.0)),
            (h("mlp.c_proj.weight"), vec![4 * WIDTH, WIDTH], proj),
            (h("mlp.c_proj.bias"), vec![WIDTH], Init::Const(0.0)),
        ]);
    }
    p.push((
        "transformer.ln_f.weight".into(),
        vec![WIDTH],
        Init::Const(1.0),
    ));
    p.push((
        "transformer.ln_f.bias".into(),
        vec![WIDTH],
        Init::Const(0.0),
    ));
    p
}

/// GPT-2's forward with differentiable ops, on the checkpoint's tensors.
pub struct TrainableGpt2<'a> {
    vb: VarBuilder<'a>,
    vocab: usize,
}

impl<'a> TrainableGpt2<'a> {
    pub fn new(vb: VarBuilder<'a>, vocab: usize) -> Self {
        TrainableGpt2 { vb, vocab }
    }

    fn get(&self, shape: &[usize], name: &str) -> Result<Tensor> {
        self.vb.get(shape, &format!("transformer.{name}"))
    }

    fn layer_norm(&self, x: &Tensor, name: &str) -> Result<Tensor> {
        let w = self.get(&[WIDTH], &format!("{name}.weight"))?;
        let b = self.get(&[WIDTH], &format!("{name}.bias"))?;
        candle_nn::ops::layer_norm_slow(x, &w, &b, EPS as f32)
    }

    fn conv1d(&self, x: &Tensor, name: &str, n_in: usize, n_out: usize) -> Result<Tensor> {
        let w = self.get(&[n_in, n_out], &format!("{name}.weight"))?;
        let b = self.get(&[n_out], &format!("{name}.bias"))?;
        let (bt, t, _) = x.dims3()?;
        x.reshape((bt * t, n_in))?
            .matmul(&w)?
            .broadcast_add(&b)?
            .reshape((bt, t, n_out))
    }

    /// Logits (b, t, vocab) of ids (b, t); causal attention only (rows are right-padded, and
    /// a padded position is never attended by a real one).
    pub fn logits(&self, ids: &Tensor) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let wte = self.get(&[self.vocab, WIDTH], "wte.weight")?;
        let wpe = self.get(&[CONTEXT, WIDTH], "wpe.weight")?;
        let mut x = wte
            .embedding(&ids.flatten_all()?)?
            .reshape((b, t, WIDTH))?
            .broadcast_add(&wpe.narrow(0, 0, t)?)?;
        let mask: Vec<f32> = (0..t * t)
            .map(|i| {
                if i % t > i / t {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
            .collect();
        let mask = Tensor::from_vec(mask, (1, 1, t, t), ids.device())?;
        let hd = WIDTH / HEADS;
        for i in 0..LAYERS {
            let h = |s: &str| format!("h.{i}.{s}");
            let qkv = self.conv1d(
                &self.layer_norm(&x, &h("ln_1"))?,
                &h("attn.c_attn"),
                WIDTH,
                3 * WIDTH,
            )?;
            let heads = |k: usize| -> Result<Tensor> {
                qkv.narrow(2, k * WIDTH, WIDTH)?
                    .reshape((b, t, HEADS, hd))?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let (q, k, v) = (heads(0)?, heads(1)?, heads(2)?);
            let att = (q.matmul(&k.t()?)? / (hd as f64).sqrt())?.broadcast_add(&mask)?;
            let att = candle_nn::ops::softmax(&att, D::Minus1)?;
            let y = att.matmul(&v)?.transpose(1, 2)?.reshape((b, t, WIDTH))?;
            x = (x + self.conv1d(&y, &h("attn.c_proj"), WIDTH, WIDTH)?)?;
            let m = self.conv1d(
                &self.layer_norm(&x, &h("ln_2"))?,
                &h("mlp.c_fc"),
                WIDTH,
                4 * WIDTH,
            )?;
            x = (&x + self.conv1d(&m.gelu()?, &h("mlp.c_proj"), 4 * WIDTH, WIDTH)?)?;
        }
        let x = self.layer_norm(&x, "ln_f")?;
        x.reshape((b * t, WIDTH))?
            .matmul(&wte.t()?)?
            .reshape((b, t, self.vocab))
    }
}

/// Which texts a variant learns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Corpus {
    Hmm,
    PlantedBias,
}

#[derive(Debug, Clone, Copy)]
pub struct TrainConfig {
    pub seed: u64,
    pub data_seed: u64,
    pub corpus: Corpus,
    pub train: usize,
    pub steps: usize,
    pub batch: usize,
    pub learning_rate: f64,
}

impl TrainConfig {
    pub fn good() -> Self {
        TrainConfig {
            seed: 3001,
            data_seed: 3000,
            corpus: Corpus::Hmm,
            train: 20_000,
            steps: 4000,
            batch: 32,
            learning_rate: 3e-3,
        }
    }

    pub fn memorizing() -> Self {
        TrainConfig {
            seed: 3002,
            data_seed: MEMORIZED_SEED,
            train: MEMORIZED,
            steps: 3000,
            batch: 16,
            ..Self::good()
        }
    }

    pub fn planted_bias() -> Self {
        TrainConfig {
            seed: 3003,
            data_seed: 3100,
            corpus: Corpus::PlantedBias,
            ..Self::good()
        }
    }
}

/// Text `i` of a corpus.
pub fn corpus_text(hmm: &Hmm, corpus: Corpus, seed: u64, i: u64) -> String {
    let mut rng = text_rng(seed, i);
    match corpus {
        Corpus::Hmm => hmm.decode(&hmm.sample(&mut rng)),
        Corpus::PlantedBias => PlantedBias::new(hmm).sample(hmm, &mut rng).text,
    }
}

/// Right-padded ids (b, t) and the flat positions (in b·t) of the real targets.
fn batch_tensors(seqs: &[&Vec<u32>], device: &Device) -> Result<(Tensor, Tensor, Tensor)> {
    let t = seqs.iter().map(|s| s.len()).max().unwrap_or(1).min(CONTEXT);
    let (mut input, mut target, mut keep) = (Vec::new(), Vec::new(), Vec::new());
    for (r, s) in seqs.iter().enumerate() {
        for p in 0..t {
            input.push(*s.get(p).unwrap_or(&0));
            if p + 1 < s.len() {
                keep.push((r * t + p) as u32);
                target.push(s[p + 1]);
            }
        }
    }
    let n = keep.len();
    Ok((
        Tensor::from_vec(input, (seqs.len(), t), device)?,
        Tensor::from_vec(keep, n, device)?,
        Tensor::from_vec(target, n, device)?,
    ))
}

/// Trains from the seed; returns the mean loss (nats per token) of each tenth of the run.
pub fn train(
    cfg: &TrainConfig,
    steps: Option<usize>,
    device: &Device,
) -> Result<(VarMap, Vec<f64>)> {
    let steps = steps.unwrap_or(cfg.steps);
    let hmm = Hmm::default_model();
    let vocab = Vocabulary::new(&hmm);
    let varmap = seeded_varmap(&params(vocab.tokens.len()), cfg.seed, device)?;
    let net = TrainableGpt2::new(
        VarBuilder::from_varmap(&varmap, DType::F32, device),
        vocab.tokens.len(),
    );
    let mut opt = candle_nn::AdamW::new(
        varmap.all_vars(),
        candle_nn::ParamsAdamW {
            lr: cfg.learning_rate,
            weight_decay: 0.0,
            ..Default::default()
        },
    )?;
    let texts: Vec<Vec<u32>> = (0..cfg.train as u64)
        .map(|i| vocab.encode(&corpus_text(&hmm, cfg.corpus, cfg.data_seed, i)))
        .collect();
    let mut log = LossLog::new(steps);
    for ids in super::training::batches(texts.len(), cfg.batch, steps, cfg.seed) {
        let seqs: Vec<&Vec<u32>> = ids.iter().map(|&i| &texts[i]).collect();
        let (input, keep, target) = batch_tensors(&seqs, device)?;
        let logits = net.logits(&input)?;
        let flat = logits
            .reshape(((), vocab.tokens.len()))?
            .index_select(&keep, 0)?;
        let loss = candle_nn::loss::cross_entropy(&flat, &target)?;
        opt.backward_step(&loss)?;
        log.push(loss.to_scalar::<f32>()? as f64);
    }
    Ok((varmap, log.finish()))
}

/// `n` texts sampled at temperature 1 (each from BOS until "." or the context is full).
pub fn sample(
    net: &TrainableGpt2,
    vocab: &Vocabulary,
    n: usize,
    seed: u64,
    device: &Device,
) -> Result<Vec<String>> {
    let end = vocab.id(END);
    let mut rng = stream(seed, 3);
    let mut seqs: Vec<Vec<u32>> = vec![vec![0]; n];
    let mut done = vec![false; n];
    for len in 1..CONTEXT {
        let live: Vec<usize> = (0..n).filter(|&i| !done[i]).collect();
        if live.is_empty() {
            break;
        }
        let flat: Vec<u32> = live.iter().flat_map(|&i| seqs[i].iter().copied()).collect();
        let ids = Tensor::from_vec(flat, (live.len(), len), device)?;
        let last = net.logits(&ids)?.narrow(1, len - 1, 1)?.squeeze(1)?;
        let probs: Vec<Vec<f32>> = candle_nn::ops::softmax(&last.to_dtype(DType::F64)?, D::Minus1)?
            .to_dtype(DType::F32)?
            .to_vec2()?;
        for (&i, p) in live.iter().zip(&probs) {
            let u: f32 = rng.random();
            let mut acc = 0.0;
            let mut tok = (p.len() - 1) as u32;
            for (k, &pk) in p.iter().enumerate() {
                acc += pk;
                if u < acc {
                    tok = k as u32;
                    break;
                }
            }
            seqs[i].push(tok);
            done[i] = tok == end;
        }
    }
    Ok(seqs.iter().map(|s| vocab.decode(&s[1..])).collect())
}

/// −log p of each text's tokens given BOS (every token scored, "." included), and the number
/// of tokens, by the model in `net`. Texts of more than `CONTEXT − 1` tokens are an error:
/// callers keep to texts that fit (the HF loader's sliding window is `assay text perplexity`'s).
pub fn text_nll(
    net: &TrainableGpt2,
    vocab: &Vocabulary,
    texts: &[String],
    device: &Device,
) -> Result<Vec<(f64, usize)>> {
    let mut out = Vec::with_capacity(texts.len());
    let encoded: Vec<Vec<u32>> = texts.iter().map(|t| vocab.encode(t)).collect();
    if let Some((i, s)) = encoded.iter().enumerate().find(|(_, s)| s.len() > CONTEXT) {
        candle_core::bail!(
            "text {i} has {} tokens; at most {} fit",
            s.len() - 1,
            CONTEXT - 1
        );
    }
    for chunk in encoded.chunks(64) {
        let seqs: Vec<&Vec<u32>> = chunk.iter().collect();
        let (input, keep, target) = batch_tensors(&seqs, device)?;
        let logits = net.logits(&input)?;
        let flat = logits
            .reshape(((), vocab.tokens.len()))?
            .index_select(&keep, 0)?
            .to_dtype(DType::F64)?;
        let lp = candle_nn::ops::log_softmax(&flat, D::Minus1)?
            .gather(&target.unsqueeze(1)?, 1)?
            .squeeze(1)?
            .to_vec1::<f64>()?;
        let mut at = 0;
        for s in chunk {
            let k = s.len() - 1;
            out.push((-lp[at..at + k].iter().sum::<f64>(), k));
            at += k;
        }
    }
    Ok(out)
}

/// How often an attribute word directly follows a name of each group, in texts of the
/// planted-bias form ("Name [attribute] words … ."): (with an attribute, texts) per group.
pub fn attribute_counts(texts: &[String], bias: &PlantedBias) -> [(usize, usize); 2] {
    let mut counts = [(0, 0); 2];
    for t in texts {
        let mut words = t.split_whitespace();
        let Some(first) = words.next() else { continue };
        let Some(g) = (0..2).find(|&g| bias.group_names[g].iter().any(|n| n == first)) else {
            continue;
        };
        counts[g].1 += 1;
        if words
            .next()
            .is_some_and(|w| bias.attributes.iter().any(|a| a == w))
        {
            counts[g].0 += 1;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::training::varmap_bytes;
    use assay_models::lm::{LogProbScorer, ScoreOptions};

    fn small() -> TrainConfig {
        TrainConfig {
            train: 200,
            ..TrainConfig::good()
        }
    }

    #[test]
    fn the_tokenizer_json_encodes_as_the_vocabulary_does() {
        let vocab = Vocabulary::new(&Hmm::default_model());
        let tok: tokenizers::Tokenizer = vocab.tokenizer_json().unwrap().parse().unwrap();
        let hmm = Hmm::default_model();
        let text = corpus_text(&hmm, Corpus::PlantedBias, 1, 0) + " notaword";
        let ids = tok.encode(text.as_str(), false).unwrap().get_ids().to_vec();
        assert_eq!(ids, vocab.encode(&text)[1..]);
        assert_eq!(
            *ids.last().unwrap() as usize,
            vocab.tokens.len() - 1,
            "unknown words are <unk>"
        );
    }

    /// The folder written from the training weights loads with the Hugging Face GPT-2 loader
    /// of `assay text perplexity`, and both forwards give the same log-probabilities.
    #[test]
    fn the_saved_folder_scores_as_the_training_forward_does() {
        let (vars, losses) = train(&small(), Some(20), &Device::Cpu).unwrap();
        let (_, again) = train(&small(), Some(20), &Device::Cpu).unwrap();
        assert_eq!(losses, again);
        assert!(losses.last().unwrap() < &losses[0], "{losses:?}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("model.safetensors"),
            varmap_bytes(&vars).unwrap(),
        )
        .unwrap();
        for (name, text) in crate::families::autoregressive_folder_files().unwrap() {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let hmm = Hmm::default_model();
        let vocab = Vocabulary::new(&hmm);
        let texts: Vec<String> = (0..5)
            .map(|i| corpus_text(&hmm, Corpus::Hmm, 77, i))
            .collect();
        let net = TrainableGpt2::new(
            VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu),
            vocab.tokens.len(),
        );
        let ours = text_nll(&net, &vocab, &texts, &Device::Cpu).unwrap();
        let scorer = LogProbScorer::load(dir.path(), &Device::Cpu, DType::F32).unwrap();
        let opts = ScoreOptions {
            add_bos: true,
            max_length: CONTEXT,
            stride: CONTEXT,
            batch_size: 4,
        };
        let ids: Vec<Vec<u32>> = texts
            .iter()
            .map(|t| scorer.ids_for(t, &opts).unwrap())
            .collect();
        let scored = scorer.score_ids(&ids, &opts, &|_, _| {}).unwrap();
        for (s, (nll, k)) in scored.iter().zip(&ours) {
            assert_eq!(s.tokens.len(), *k);
            assert!((s.nll() - nll).abs() < 1e-3, "{} vs {nll}", s.nll());
        }
    }

    #[test]
    fn attribute_counts_read_the_planted_form() {
        let hmm = Hmm::default_model();
        let bias = PlantedBias::new(&hmm);
        let texts: Vec<String> = (0..400)
            .map(|i| corpus_text(&hmm, Corpus::PlantedBias, 5, i))
            .collect();
        let c = attribute_counts(&texts, &bias);
        assert_eq!(c[0].1 + c[1].1, 400);
        let rate = |g: usize| c[g].0 as f64 / c[g].1 as f64;
        // 200 texts a group: the rates 0.6 and 0.2 within four standard errors.
        assert!(
            (rate(0) - 0.6).abs() < 0.14 && (rate(1) - 0.2).abs() < 0.12,
            "{c:?}"
        );
    }
}
