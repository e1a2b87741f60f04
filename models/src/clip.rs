//! CLIP (Radford et al. 2021) from a Hugging Face model folder: the towers are
//! candle-transformers' (`models::clip`), the rest is what transformers does around them, so
//! that embeddings match `CLIPModel.get_image_features` / `get_text_features`:
//!
//! - `config.json` read with transformers' defaults; the projection width is the top-level
//!   `projection_dim` (the towers' own `projection_dim` entries are unused, as in transformers).
//! - Text pooling at the end-of-text token: the first maximal id when `eos_token_id` is 2 (the
//!   legacy configs, where the end token is the largest id), else the first `eos_token_id`.
//! - The tokenizer is `tokenizer.json`, or CLIP's pipeline built from `vocab.json` +
//!   `merges.txt` as transformers' `CLIPTokenizer` builds it; captions are truncated to the
//!   context (77) keeping the end token, as `truncation=True` and OpenAI's `truncate=True` do.
//! - Images are preprocessed as `preprocessor_config.json` says, the way transformers'
//!   PIL-backend processor does it (`CLIPImageProcessorPil`; OpenAI's preprocessing too, up to
//!   the centre crop's rounding): RGB conversion, PIL bicubic on 8-bit pixels so that the
//!   shortest side is `size`, a centre crop (floor-centred, zero-padded if too small), x / 255
//!   in f64 stored as f32, then (x − mean) / std in f32.

use crate::error::{ModelError, Result};
use crate::extract::{for_each_batch, BatchOptions, DecodedRun};
use crate::image::{resize::bicubic_pil_rgb8, Rgb8};
use crate::inception::load_weight_map;
use candle_core::{DType, Device, Tensor};
use candle_nn::{Linear, Module, VarBuilder};
use candle_transformers::models::clip::text_model::{
    Activation, ClipTextConfig, ClipTextTransformer,
};
use candle_transformers::models::clip::vision_model::{ClipVisionConfig, ClipVisionTransformer};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tokenizers::{Tokenizer, TruncationParams};

/// Weight files accepted in a CLIP folder, best first.
pub const WEIGHT_FILES: &[&str] = &["model.safetensors", "pytorch_model.bin"];

#[derive(Deserialize)]
struct ConfigJson {
    #[serde(default = "default_projection")]
    projection_dim: usize,
    #[serde(default)]
    text_config: TextJson,
    #[serde(default)]
    vision_config: VisionJson,
}

fn default_projection() -> usize {
    512
}

#[derive(Deserialize)]
#[serde(default)]
struct TextJson {
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    max_position_embeddings: usize,
    hidden_act: String,
    layer_norm_eps: f64,
    eos_token_id: u32,
}

impl Default for TextJson {
    fn default() -> Self {
        TextJson {
            vocab_size: 49408,
            hidden_size: 512,
            intermediate_size: 2048,
            num_hidden_layers: 12,
            num_attention_heads: 8,
            max_position_embeddings: 77,
            hidden_act: "quick_gelu".into(),
            layer_norm_eps: 1e-5,
            eos_token_id: 49407,
        }
    }
}

#[derive(Deserialize)]
#[serde(default)]
struct VisionJson {
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_channels: usize,
    image_size: usize,
    patch_size: usize,
    hidden_act: String,
    layer_norm_eps: f64,
}

impl Default for VisionJson {
    fn default() -> Self {
        VisionJson {
            hidden_size: 768,
            intermediate_size: 3072,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            num_channels: 3,
            image_size: 224,
            patch_size: 32,
            hidden_act: "quick_gelu".into(),
            layer_norm_eps: 1e-5,
        }
    }
}

/// `size` / `crop_size` in a preprocessor config: an int, or a dict.
#[derive(Deserialize)]
#[serde(untagged)]
enum SizeJson {
    Square(usize),
    Dict(HashMap<String, usize>),
}

#[derive(Deserialize)]
#[serde(default)]
struct PreprocessorJson {
    do_resize: bool,
    size: Option<SizeJson>,
    resample: u32,
    do_center_crop: bool,
    crop_size: Option<SizeJson>,
    do_rescale: bool,
    rescale_factor: f64,
    do_normalize: bool,
    image_mean: [f32; 3],
    image_std: [f32; 3],
    do_convert_rgb: bool,
}

impl Default for PreprocessorJson {
    // OpenAI's mean and std as published (and as numpy rounds them to f32).
    #[allow(clippy::excessive_precision)]
    fn default() -> Self {
        PreprocessorJson {
            do_resize: true,
            size: None,
            resample: 3,
            do_center_crop: true,
            crop_size: None,
            do_rescale: true,
            rescale_factor: 1.0 / 255.0,
            do_normalize: true,
            image_mean: [0.481_454_66, 0.457_827_5, 0.408_210_73],
            image_std: [0.268_629_54, 0.261_302_58, 0.275_777_11],
            do_convert_rgb: true,
        }
    }
}

/// How an image becomes CLIP's input.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipPreprocess {
    /// Target length of the shortest side.
    pub shortest_edge: usize,
    /// Centre crop (height, width).
    pub crop: (usize, usize),
    pub rescale_factor: f64,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path)
        .map_err(|e| ModelError::Input(format!("{}: cannot read: {e}", path.display())))?;
    serde_json::from_slice(&bytes).map_err(|e| ModelError::BadWeights {
        path: path.to_path_buf(),
        msg: format!("not a valid config: {e}"),
    })
}

impl ClipPreprocess {
    /// From `preprocessor_config.json`, or CLIP's defaults at the vision tower's input size
    /// when the folder has none.
    fn from_file(path: &Path, image_size: usize) -> Result<ClipPreprocess> {
        let p: PreprocessorJson = if path.is_file() {
            read_json(path)?
        } else {
            PreprocessorJson::default()
        };
        let unsupported = |what: &str| ModelError::BadWeights {
            path: path.to_path_buf(),
            msg: format!("{what} is not supported (Assay implements CLIP's own preprocessing)"),
        };
        if !p.do_resize
            || !p.do_center_crop
            || !p.do_rescale
            || !p.do_normalize
            || !p.do_convert_rgb
        {
            return Err(unsupported("turning off a preprocessing step"));
        }
        if p.resample != 3 {
            return Err(unsupported(&format!(
                "resample {} (only 3, bicubic)",
                p.resample
            )));
        }
        let shortest_edge = match &p.size {
            None => image_size,
            Some(SizeJson::Square(s)) => *s,
            Some(SizeJson::Dict(d)) => *d
                .get("shortest_edge")
                .ok_or_else(|| unsupported("a size without shortest_edge"))?,
        };
        let crop = match &p.crop_size {
            None => (image_size, image_size),
            Some(SizeJson::Square(s)) => (*s, *s),
            Some(SizeJson::Dict(d)) => match (d.get("height"), d.get("width")) {
                (Some(&h), Some(&w)) => (h, w),
                _ => return Err(unsupported("a crop_size without height and width")),
            },
        };
        if shortest_edge == 0 || crop.0 == 0 || crop.1 == 0 {
            return Err(unsupported("a zero size"));
        }
        Ok(ClipPreprocess {
            shortest_edge,
            crop,
            rescale_factor: p.rescale_factor,
            mean: p.image_mean,
            std: p.image_std,
        })
    }

    /// The resized, centre-cropped 8-bit image the network sees (before normalisation).
    pub fn crop_rgb8(&self, img: &Rgb8) -> Rgb8 {
        let (h, w) = (img.height, img.width);
        // transformers' get_resize_output_image_size: the long side is int(size * long / short).
        let (short, long) = if w <= h { (w, h) } else { (h, w) };
        let new_long = ((self.shortest_edge * long) as f64 / short as f64) as usize;
        let (rh, rw) = if w <= h {
            (new_long, self.shortest_edge)
        } else {
            (self.shortest_edge, new_long)
        };
        let resized = bicubic_pil_rgb8(&img.data, h, w, rh, rw);
        // transformers' center_crop: zero-pad a side shorter than the crop (half the excess,
        // rounded up, before), then take the floor-centred window.
        let (ch, cw) = self.crop;
        let (ph, pw) = (rh.max(ch), rw.max(cw));
        let (top_pad, left_pad) = ((ph - rh).div_ceil(2), (pw - rw).div_ceil(2));
        let top = (top_pad as i64 + (rh as i64 - ch as i64).div_euclid(2)).max(0) as usize;
        let left = (left_pad as i64 + (rw as i64 - cw as i64).div_euclid(2)).max(0) as usize;
        let mut data = vec![0u8; ch * cw * 3];
        for y in 0..ch {
            let py = top + y;
            if py < top_pad || py >= top_pad + rh {
                continue;
            }
            for x in 0..cw {
                let px = left + x;
                if px < left_pad || px >= left_pad + rw {
                    continue;
                }
                let src = ((py - top_pad) * rw + (px - left_pad)) * 3;
                data[(y * cw + x) * 3..(y * cw + x) * 3 + 3]
                    .copy_from_slice(&resized[src..src + 3]);
            }
        }
        Rgb8 {
            width: cw,
            height: ch,
            data,
        }
    }

    /// The network input for one image: 3 x crop height x crop width, channel-major.
    pub fn pixel_values(&self, img: &Rgb8) -> Vec<f32> {
        let crop = self.crop_rgb8(img);
        let mut out = Vec::with_capacity(crop.data.len());
        for c in 0..3 {
            out.extend(crop.data[c..].iter().step_by(3).map(|&v| {
                let x = (v as f64 * self.rescale_factor) as f32;
                (x - self.mean[c]) / self.std[c]
            }));
        }
        out
    }
}

/// Token ids of one caption, and whether it was cut to fit the context.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenizedText {
    pub ids: Vec<u32>,
    pub truncated: bool,
}

/// CLIP's two towers, their projections, tokenizer and preprocessing.
pub struct Clip {
    text: ClipTextTransformer,
    vision: ClipVisionTransformer,
    text_projection: Linear,
    visual_projection: Linear,
    tokenizer: Tokenizer,
    eos_token_id: u32,
    pub max_positions: usize,
    pub image_size: usize,
    pub projection_dim: usize,
    pub preprocess: ClipPreprocess,
    pub device: Device,
    /// The files the model was built from (weights, config, tokenizer, preprocessor).
    pub files: Vec<PathBuf>,
}

/// CLIP's tokenizer from `vocab.json` + `merges.txt`, as transformers' `CLIPTokenizer` (and its
/// `convert_slow_tokenizer`) builds it: NFC, whitespace runs to one space, lower case; CLIP's
/// split pattern, then byte-level; BPE with `</w>` word ends; `<|startoftext|>` … `<|endoftext|>`.
fn tokenizer_from_vocab_merges(vocab: &Path, merges: &Path) -> Result<Tokenizer> {
    let vocab_map: serde_json::Map<String, serde_json::Value> = read_json(vocab)?;
    let text = std::fs::read_to_string(merges)
        .map_err(|e| ModelError::Input(format!("{}: cannot read: {e}", merges.display())))?;
    let merge_list: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| !l.starts_with("#version") && !l.trim().is_empty())
        .map(|l| serde_json::Value::from(l.split(' ').collect::<Vec<_>>()))
        .collect();
    let id_of = |tok: &str| -> Result<u64> {
        vocab_map
            .get(tok)
            .and_then(|v| v.as_u64())
            .ok_or_else(|| ModelError::BadWeights {
                path: vocab.to_path_buf(),
                msg: format!("no '{tok}' token"),
            })
    };
    let (bos, eos) = (id_of("<|startoftext|>")?, id_of("<|endoftext|>")?);
    let added = |id: u64, content: &str| {
        serde_json::json!({"id": id, "content": content, "single_word": false, "lstrip": false,
            "rstrip": false, "normalized": false, "special": true})
    };
    let doc = serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [added(bos, "<|startoftext|>"), added(eos, "<|endoftext|>")],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "NFC"},
            {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "},
            {"type": "Lowercase"}]},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex":
                "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+"},
             "behavior": "Removed", "invert": true},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}]},
        "post_processor": {"type": "RobertaProcessing", "sep": ["<|endoftext|>", eos],
            "cls": ["<|startoftext|>", bos], "trim_offsets": false, "add_prefix_space": false},
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": "<|endoftext|>",
            "continuing_subword_prefix": "", "end_of_word_suffix": "</w>", "fuse_unk": false,
            "byte_fallback": false, "ignore_merges": false,
            "vocab": vocab_map, "merges": merge_list},
    });
    doc.to_string()
        .parse::<Tokenizer>()
        .map_err(|e| ModelError::BadWeights {
            path: merges.to_path_buf(),
            msg: format!("cannot build CLIP's tokenizer from vocab.json + merges.txt: {e}"),
        })
}

/// The weight files of a folder: one file, or the shards a `*.safetensors.index.json` lists.
pub(crate) fn weight_files(dir: &Path) -> Option<Vec<PathBuf>> {
    let index = dir.join("model.safetensors.index.json");
    if index.is_file() {
        let doc: serde_json::Value = read_json(&index).ok()?;
        let mut shards: Vec<PathBuf> = doc
            .get("weight_map")?
            .as_object()?
            .values()
            .filter_map(|v| v.as_str().map(|s| dir.join(s)))
            .collect();
        shards.sort();
        shards.dedup();
        return Some(shards);
    }
    WEIGHT_FILES
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
        .map(|p| vec![p])
}

/// Whether `dir` looks like a CLIP model folder (a config and weights).
pub fn is_model_dir(dir: &Path) -> bool {
    dir.join("config.json").is_file() && weight_files(dir).is_some()
}

impl Clip {
    /// Loads a Hugging Face CLIP folder (`config.json`, weights, tokenizer, preprocessor).
    pub fn load(dir: &Path, device: &Device) -> Result<Clip> {
        let config_path = dir.join("config.json");
        let bad = |path: &Path, msg: String| ModelError::BadWeights {
            path: path.to_path_buf(),
            msg,
        };
        let missing = |what: &str| ModelError::MissingWeights {
            what: format!("CLIP {what}"),
            tried: dir.display().to_string(),
            hint: "A CLIP folder holds config.json, model.safetensors (or pytorch_model.bin), \
                   tokenizer.json (or vocab.json + merges.txt) and preprocessor_config.json, as \
                   on the Hugging Face hub (e.g. openai/clip-vit-base-patch32)."
                .into(),
        };
        if !config_path.is_file() {
            return Err(missing("config.json"));
        }
        let config: ConfigJson = read_json(&config_path)?;
        let (t, v) = (&config.text_config, &config.vision_config);
        for (act, eps) in [
            (&t.hidden_act, t.layer_norm_eps),
            (&v.hidden_act, v.layer_norm_eps),
        ] {
            if act != "quick_gelu" || (eps - 1e-5).abs() > 1e-12 {
                return Err(bad(
                    &config_path,
                    format!(
                        "hidden_act '{act}' with layer_norm_eps {eps}: candle-transformers' CLIP \
                         implements quick_gelu with 1e-5 (the OpenAI CLIP models)"
                    ),
                ));
            }
        }
        let weights = weight_files(dir).ok_or_else(|| missing("weights (model.safetensors)"))?;
        let mut tensors = HashMap::new();
        for w in &weights {
            tensors.extend(load_weight_map(w)?.tensors);
        }
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        let text_cfg = ClipTextConfig {
            vocab_size: t.vocab_size,
            embed_dim: t.hidden_size,
            activation: Activation::QuickGelu,
            intermediate_size: t.intermediate_size,
            max_position_embeddings: t.max_position_embeddings,
            pad_with: None,
            num_hidden_layers: t.num_hidden_layers,
            num_attention_heads: t.num_attention_heads,
            projection_dim: config.projection_dim,
        };
        let vision_cfg = ClipVisionConfig {
            embed_dim: v.hidden_size,
            activation: Activation::QuickGelu,
            intermediate_size: v.intermediate_size,
            num_hidden_layers: v.num_hidden_layers,
            num_attention_heads: v.num_attention_heads,
            projection_dim: config.projection_dim,
            num_channels: v.num_channels,
            image_size: v.image_size,
            patch_size: v.patch_size,
        };
        let weights_err =
            |e: candle_core::Error| bad(&weights[0], format!("does not fit config.json: {e}"));
        let text = ClipTextTransformer::new(vb.pp("text_model"), &text_cfg).map_err(weights_err)?;
        let vision =
            ClipVisionTransformer::new(vb.pp("vision_model"), &vision_cfg).map_err(weights_err)?;
        let text_projection = candle_nn::linear_no_bias(
            t.hidden_size,
            config.projection_dim,
            vb.pp("text_projection"),
        )
        .map_err(weights_err)?;
        let visual_projection = candle_nn::linear_no_bias(
            v.hidden_size,
            config.projection_dim,
            vb.pp("visual_projection"),
        )
        .map_err(weights_err)?;

        let (tok_json, vocab, merges) = (
            dir.join("tokenizer.json"),
            dir.join("vocab.json"),
            dir.join("merges.txt"),
        );
        let (mut tokenizer, tok_files) = if tok_json.is_file() {
            let tk = Tokenizer::from_file(&tok_json)
                .map_err(|e| bad(&tok_json, format!("cannot load the tokenizer: {e}")))?;
            (tk, vec![tok_json])
        } else if vocab.is_file() && merges.is_file() {
            (
                tokenizer_from_vocab_merges(&vocab, &merges)?,
                vec![vocab, merges],
            )
        } else {
            return Err(missing(
                "tokenizer (tokenizer.json, or vocab.json + merges.txt)",
            ));
        };
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: t.max_position_embeddings,
                ..Default::default()
            }))
            .map_err(|e| ModelError::Input(format!("tokenizer truncation: {e}")))?;
        tokenizer.with_padding(None);

        let pre_path = dir.join("preprocessor_config.json");
        let preprocess = ClipPreprocess::from_file(&pre_path, v.image_size)?;
        if preprocess.crop != (v.image_size, v.image_size) {
            return Err(bad(
                &pre_path,
                format!(
                    "crops {:?} but the vision tower takes {} x {}",
                    preprocess.crop, v.image_size, v.image_size
                ),
            ));
        }
        let mut files = weights.clone();
        files.push(config_path);
        files.extend(tok_files);
        if pre_path.is_file() {
            files.push(pre_path);
        }
        Ok(Clip {
            text,
            vision,
            text_projection,
            visual_projection,
            tokenizer,
            eos_token_id: t.eos_token_id,
            max_positions: t.max_position_embeddings,
            image_size: v.image_size,
            projection_dim: config.projection_dim,
            preprocess,
            device: device.clone(),
            files,
        })
    }

    /// Token ids as transformers' tokenizer gives them with `truncation=True`.
    pub fn tokenize(&self, texts: &[String]) -> Result<Vec<TokenizedText>> {
        let enc = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| ModelError::Input(format!("tokenizer: {e}")))?;
        Ok(enc
            .into_iter()
            .map(|e| TokenizedText {
                truncated: !e.get_overflowing().is_empty(),
                ids: e.get_ids().to_vec(),
            })
            .collect())
    }

    /// Where transformers pools a caption: see the module comment.
    fn pool_position(&self, ids: &[u32]) -> usize {
        if self.eos_token_id == 2 {
            let max = ids.iter().copied().max().unwrap_or(0);
            ids.iter().position(|&i| i == max).unwrap_or(0)
        } else {
            ids.iter()
                .position(|&i| i == self.eos_token_id)
                .unwrap_or(0)
        }
    }

    /// Projected text embeddings (not normalised) of tokenized captions, one batch.
    pub fn embed_tokens(&self, batch: &[TokenizedText]) -> Result<Vec<Vec<f32>>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let len = batch.iter().map(|t| t.ids.len()).max().unwrap_or(0);
        // Padding never reaches the pooled token: attention is causal and pooling is at the
        // end token, which precedes every pad.
        let mut flat = Vec::with_capacity(batch.len() * len);
        let mut rows = Vec::with_capacity(batch.len());
        for (i, t) in batch.iter().enumerate() {
            flat.extend(&t.ids);
            flat.extend(std::iter::repeat_n(self.eos_token_id, len - t.ids.len()));
            rows.push((i * len + self.pool_position(&t.ids)) as u32);
        }
        let ids = Tensor::from_vec(flat, (batch.len(), len), &self.device)?;
        let hidden = self.text.forward_with_mask(&ids, usize::MAX)?;
        let d = hidden.dim(2)?;
        let rows = Tensor::from_vec(rows, batch.len(), &self.device)?;
        let pooled = hidden
            .reshape((batch.len() * len, d))?
            .index_select(&rows, 0)?;
        Ok(self.text_projection.forward(&pooled)?.to_vec2()?)
    }

    /// Projected image embeddings (not normalised) of preprocessed images, one batch
    /// (`pixels` holds `n` images of [`ClipPreprocess::pixel_values`]).
    pub fn embed_pixels(&self, pixels: Vec<f32>, n: usize) -> Result<Vec<Vec<f32>>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let s = self.image_size;
        let x = Tensor::from_vec(pixels, (n, 3, s, s), &self.device)?;
        let pooled = self.vision.forward(&x)?;
        Ok(self.visual_projection.forward(&pooled)?.to_vec2()?)
    }
}

impl Clip {
    /// Embeddings of image files, decoded and preprocessed in parallel batch by batch;
    /// row i of the embeddings belongs to `run.files[i]`.
    pub fn embed_image_files(
        &self,
        files: &[PathBuf],
        opts: &BatchOptions,
    ) -> Result<(DecodedRun, Vec<Vec<f32>>)> {
        let mut embeddings = Vec::with_capacity(files.len());
        let pre = &self.preprocess;
        let run = for_each_batch(files, opts, &|img| pre.pixel_values(img), &mut |px, n| {
            embeddings.extend(self.embed_pixels(px, n)?);
            Ok(())
        })?;
        Ok((run, embeddings))
    }

    /// Embeddings of captions, `batch_size` at a time, and whether each was truncated.
    pub fn embed_texts(
        &self,
        texts: &[String],
        batch_size: usize,
    ) -> Result<(Vec<Vec<f32>>, Vec<bool>)> {
        let tokens = self.tokenize(texts)?;
        let mut out = Vec::with_capacity(texts.len());
        for batch in tokens.chunks(batch_size.max(1)) {
            out.extend(self.embed_tokens(batch)?);
        }
        Ok((out, tokens.iter().map(|t| t.truncated).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preprocess(se: usize, crop: (usize, usize)) -> ClipPreprocess {
        ClipPreprocess {
            shortest_edge: se,
            crop,
            rescale_factor: 1.0 / 255.0,
            mean: [0.0; 3],
            std: [1.0; 3],
        }
    }

    fn gradient(w: usize, h: usize) -> Rgb8 {
        let data = (0..h * w)
            .flat_map(|i| [(i % w * 255 / w) as u8, (i / w * 255 / h) as u8, 7])
            .collect();
        Rgb8 {
            width: w,
            height: h,
            data,
        }
    }

    #[test]
    fn the_shortest_side_becomes_size_and_the_crop_is_floor_centred() {
        // 30 x 20 (w x h) -> shortest side 10: 15 x 10; crop 10 x 10 starts at column (15-10)//2 = 2.
        let p = preprocess(10, (10, 10));
        let img = gradient(30, 20);
        let resized = bicubic_pil_rgb8(&img.data, 20, 30, 10, 15);
        let crop = p.crop_rgb8(&img);
        assert_eq!((crop.width, crop.height), (10, 10));
        for y in 0..10 {
            for x in 0..10 {
                let (a, b) = ((y * 10 + x) * 3, (y * 15 + x + 2) * 3);
                assert_eq!(crop.data[a..a + 3], resized[b..b + 3], "({x}, {y})");
            }
        }
    }

    #[test]
    fn a_crop_larger_than_the_image_is_zero_padded_around_it() {
        // Shortest side 4 on a 4 x 4 image (no resize), crop 7 x 7: transformers pads
        // ceil(3 / 2) = 2 rows and columns before the image and 1 after.
        let p = preprocess(4, (7, 7));
        let img = gradient(4, 4);
        let crop = p.crop_rgb8(&img);
        let at = |x: usize, y: usize| &crop.data[(y * 7 + x) * 3..(y * 7 + x) * 3 + 3];
        assert_eq!(at(0, 0), &[0, 0, 0]);
        assert_eq!(at(1, 1), &[0, 0, 0]);
        assert_eq!(at(2, 2), &img.data[0..3]);
        assert_eq!(at(5, 5), &img.data[(3 * 4 + 3) * 3..(3 * 4 + 3) * 3 + 3]);
        assert_eq!(at(6, 6), &[0, 0, 0]);
    }

    #[test]
    fn pixel_values_are_channel_major_and_normalised() {
        let mut p = preprocess(2, (2, 2));
        p.mean = [0.5, 0.0, 0.0];
        p.std = [0.5, 1.0, 1.0];
        let img = Rgb8 {
            width: 2,
            height: 2,
            data: vec![255, 0, 51, 0, 0, 51, 255, 0, 51, 0, 0, 51],
        };
        let v = p.pixel_values(&img);
        assert_eq!(&v[0..4], &[1.0, -1.0, 1.0, -1.0]);
        assert_eq!(&v[4..8], &[0.0; 4]);
        assert!(v[8..12].iter().all(|&x| (x - 0.2).abs() < 1e-7));
    }
}
