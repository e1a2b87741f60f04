//! `assay reference data glyphs|hmm-text`: the synthetic data sets of `assay-reference`,
//! written with what is true about them.

use crate::error::{CliError, CliResult};
use crate::output::{write_atomic, ResultRow, ResultsDoc};
use assay_metrics::stats::bootstrap::bootstrap_items;
use assay_reference::data::glyphs::{self, CLASS_NAMES, CLASS_PROBABILITIES, SIZE};
use assay_reference::data::hmm_text::{text_rng, Hmm, PlantedBias, ATTRIBUTE_RATE, GROUP_LABELS};
use assay_reference::families::classifier::{
    accuracy, train as train_classifier, GlyphClassifier, TrainConfig, COMMITTED_WEIGHTS,
};
use candle_core::Device;
use serde_json::json;
use std::io::Cursor;
use std::path::Path;
use std::time::Instant;

/// Writes every file of a new folder into a temporary sibling, then renames it into place, so
/// that the folder appears whole or not at all; an existing non-empty folder is refused.
fn write_folder(dir: &Path, files: &[(String, Vec<u8>)]) -> CliResult<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !empty {
            return Err(CliError::Usage(format!(
                "{}: exists and is not empty (Assay never writes over files)",
                dir.display()
            )));
        }
        std::fs::remove_dir(dir).map_err(|e| CliError::Input(format!("{}: {e}", dir.display())))?;
    }
    let name = dir
        .file_name()
        .ok_or_else(|| CliError::Usage(format!("{}: not a folder path", dir.display())))?;
    let tmp = dir.with_file_name(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(&tmp)?;
        for (f, bytes) in files {
            std::fs::write(tmp.join(f), bytes)?;
        }
        std::fs::rename(&tmp, dir)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_dir_all(&tmp);
        CliError::Input(format!("{}: cannot write: {e}", dir.display()))
    })
}

pub fn glyphs(n: u64, out: &Path, seed: u64) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    if n == 0 {
        return Err(CliError::Usage("-n must be at least 1".into()));
    }
    let mut files = Vec::with_capacity(n as usize + 1);
    let mut labels = String::from("file,class,class_name,cx,cy,size,rotation,width\n");
    let mut counts = [0u64; 10];
    for i in 0..n {
        let g = glyphs::glyph(seed, i);
        let img = image::GrayImage::from_raw(SIZE as u32, SIZE as u32, g.pixels)
            .ok_or_else(|| CliError::Internal("glyph of the wrong size".into()))?;
        let mut png = Vec::new();
        img.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(|e| CliError::Internal(format!("PNG encoding: {e}")))?;
        let name = format!("{i:06}.png");
        let p = g.params;
        labels.push_str(&format!(
            "{name},{},{},{:.4},{:.4},{:.4},{:.4},{:.4}\n",
            p.class, CLASS_NAMES[p.class], p.cx, p.cy, p.size, p.rotation, p.width
        ));
        counts[p.class] += 1;
        files.push((name, png));
    }
    files.push(("labels.csv".into(), labels.into_bytes()));
    write_folder(out, &files)?;
    let mut doc = ResultsDoc::new("reference data glyphs", started);
    doc.seed = Some(seed);
    let classes: Vec<_> = (0..10)
        .map(|k| {
            json!({"class": k, "name": CLASS_NAMES[k], "count": counts[k],
                        "true_probability": CLASS_PROBABILITIES[k]})
        })
        .collect();
    doc.results.push(ResultRow {
        metric: "glyphs".into(),
        value: n as f64,
        ci_low: None,
        ci_high: None,
        n: n as usize,
        details: json!({"folder": out.display().to_string(), "size": SIZE, "classes": classes,
                        "labels": "labels.csv", "noise_sigma": glyphs::NOISE_SIGMA}),
    });
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}

pub fn hmm_text(n: u64, out: &Path, seed: u64, planted_bias: bool) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    if n == 0 {
        return Err(CliError::Usage("-n must be at least 1".into()));
    }
    let jsonl = out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("jsonl"));
    let hmm = Hmm::default_model();
    let bias = planted_bias.then(|| PlantedBias::new(&hmm));
    let mut body = String::new();
    let mut per_text = Vec::with_capacity(n as usize); // (−log p, tokens)
    let (mut groups, mut planted) = ([0u64; 2], [0u64; 2]);
    for i in 0..n {
        let mut rng = text_rng(seed, i);
        let (text, log_p, tokens, extra) = match &bias {
            None => {
                let ids = hmm.sample(&mut rng);
                let lp = hmm
                    .log_prob(&ids)
                    .map_err(|e| CliError::Internal(e.to_string()))?;
                (hmm.decode(&ids), lp, ids.len(), json!({}))
            }
            Some(b) => {
                let t = b.sample(&hmm, &mut rng);
                groups[t.group] += 1;
                planted[t.group] += t.attribute.is_some() as u64;
                let extra = json!({"group": GROUP_LABELS[t.group], "name": t.name, "attribute": t.attribute});
                (t.text, t.log_prob, t.tokens, extra)
            }
        };
        per_text.push((-log_p, tokens));
        if jsonl {
            let mut rec = json!({"text": text, "log_prob": log_p, "tokens": tokens});
            if let (Some(r), Some(e)) = (rec.as_object_mut(), extra.as_object()) {
                r.extend(e.clone());
            }
            body.push_str(&rec.to_string());
        } else {
            body.push_str(&text);
        }
        body.push('\n');
    }
    write_atomic(out, body.as_bytes(), &[])?;
    let (nll, tokens) = per_text
        .iter()
        .fold((0.0, 0usize), |(a, b), t| (a + t.0, b + t.1));
    let ppl = (nll / tokens as f64).exp();
    let ci = bootstrap_items(&per_text, 1000, seed, |s| {
        let (a, b) = s.iter().fold((0.0, 0usize), |(a, b), t| (a + t.0, b + t.1));
        (a / b as f64).exp()
    })
    .map_err(|e| CliError::Internal(e.to_string()))?;
    let mut doc = ResultsDoc::new("reference data hmm-text", started);
    doc.seed = Some(seed);
    doc.results.push(ResultRow {
        metric: "true_perplexity".into(),
        value: ppl,
        ci_low: Some(ci.low),
        ci_high: Some(ci.high),
        n: tokens,
        details: json!({
            "file": out.display().to_string(), "texts": n, "tokens": tokens, "nll_nats": nll,
            "definition": "exp(−Σ log p(text) / Σ tokens) under the true model (forward algorithm); \
                           on samples of the model this estimates its per-token entropy rate (the interval: bootstrap over texts)",
            "hmm_seed": hmm.seed, "states": hmm.initial.len(), "vocabulary": hmm.words.len() + 1,
            "planted_bias": planted_bias,
        }),
    });
    if planted_bias {
        doc.results.push(ResultRow {
            metric: "planted_attribute_rate".into(),
            value: ATTRIBUTE_RATE[0] - ATTRIBUTE_RATE[1],
            ci_low: None,
            ci_high: None,
            n: n as usize,
            details: json!({
                "true_rates": {"A": ATTRIBUTE_RATE[0], "B": ATTRIBUTE_RATE[1]},
                "texts": {"A": groups[0], "B": groups[1]},
                "with_attribute": {"A": planted[0], "B": planted[1]},
                "value": "the true difference of rates, A − B",
            }),
        });
    }
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}

/// The bundled networks: name, what they are, and their committed weights' sha256.
pub fn list() -> CliResult<ResultsDoc> {
    let started = Instant::now();
    let mut doc = ResultsDoc::new("reference list", started);
    let rec = assay_provenance::InputRecord::of_bytes(
        "bundled:reference/weights/glyph_classifier.safetensors",
        COMMITTED_WEIGHTS,
    );
    doc.results.push(ResultRow {
        metric: "classifier".into(),
        value: COMMITTED_WEIGHTS.len() as f64,
        ci_low: None,
        ci_high: None,
        n: 1,
        details: json!({"what": "glyph classifier (features and logits for the glyph domain's FID/KID/IS/PRDC)",
                        "value": "bytes of the committed weights", "sha256": rec.sha256,
                        "train": TrainConfig::default().describe()}),
    });
    doc.add_input(&rec);
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}

/// Trains `family` from its seed and writes its weights.
pub fn train(family: &str, out: &Path, steps: Option<usize>) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    if family != "classifier" {
        return Err(CliError::Usage(format!(
            "unknown family '{family}' (available: classifier)"
        )));
    }
    if out.exists() {
        return Err(CliError::Usage(format!(
            "{}: exists (Assay never writes over files)",
            out.display()
        )));
    }
    let cfg = TrainConfig::default();
    let internal = |e: candle_core::Error| CliError::Internal(format!("training: {e}"));
    let (vars, losses) = train_classifier(&cfg, steps, &Device::Cpu).map_err(internal)?;
    let tensors: std::collections::BTreeMap<String, candle_core::Tensor> = vars
        .data()
        .lock()
        .map_err(|_| CliError::Internal("variable map poisoned".into()))?
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    let bytes = safetensors::serialize(tensors.iter().map(|(k, v)| (k.as_str(), v)), None)
        .map_err(|e| CliError::Internal(format!("safetensors: {e}")))?;
    write_atomic(out, &bytes, &[])?;
    let committed =
        candle_core::safetensors::load_buffer(COMMITTED_WEIGHTS, &Device::Cpu).map_err(internal)?;
    let mut max_diff = 0f64;
    for (name, t) in &tensors {
        let c = committed
            .get(name)
            .ok_or_else(|| CliError::Internal(format!("the committed weights lack {name}")))?;
        let d = (t - c)
            .and_then(|d| d.abs())
            .and_then(|d| d.flatten_all())
            .and_then(|d| d.max(0))
            .and_then(|d| d.to_scalar::<f32>())
            .map_err(internal)?;
        max_diff = max_diff.max(d as f64);
    }
    let net = GlyphClassifier::load(out, &Device::Cpu).map_err(internal)?;
    let acc = accuracy(&net, cfg.seed + 1, 0, 2000, &Device::Cpu).map_err(internal)?;
    let mut doc = ResultsDoc::new("reference train", started);
    doc.seed = Some(cfg.seed);
    doc.results.push(ResultRow {
        metric: "classifier.held_out_accuracy".into(),
        value: acc,
        ci_low: None,
        ci_high: None,
        n: 2000,
        details: json!({"weights": out.display().to_string(), "epoch_losses": losses,
                        "steps": steps, "config": cfg.describe(),
                        "max_abs_difference_from_committed": max_diff}),
    });
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}
