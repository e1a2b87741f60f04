//! `assay watermark generate|detect-text`: the green-list text watermark
//! (`assay_provenance::watermark`) applied while a causal LM (`assay_models::lm`) samples,
//! and detected from the tokenizer and the key alone.

use crate::args::{GreenListFlags, WatermarkDetectTextArgs, WatermarkGenerateArgs};
use crate::commands::image::device_of;
use crate::error::{CliError, CliResult};
use crate::input::{read_segments, record_file};
use crate::output::{write_atomic, ResultRow, ResultsDoc};
use crate::progress;
use assay_metrics::distribution::device::device_name;
use assay_models::lm::LogProbScorer;
use assay_models::weights::{resolve_dir, GPT2};
use assay_provenance::watermark::sampling::sample_softmax;
use assay_provenance::watermark::{Detection, GreenList, GreenListConfig};
use rand::SeedableRng;
use serde_json::json;
use std::path::Path;
use std::time::Instant;

pub fn config_of(g: &GreenListFlags) -> GreenListConfig {
    GreenListConfig {
        gamma: g.gamma,
        delta: g.delta,
        key: g.key,
        z_threshold: g.z_threshold,
    }
}

fn detection_json(d: &Detection) -> serde_json::Value {
    json!({"tokens_scored": d.tokens_scored, "green": d.green, "green_fraction": d.green_fraction,
           "z": d.z, "p_value": d.p_value, "watermarked": d.watermarked})
}

pub fn generate(a: &WatermarkGenerateArgs) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    if a.out.exists() {
        return Err(CliError::Usage(format!(
            "{}: exists (Assay never writes over files)",
            a.out.display()
        )));
    }
    let prompts = read_segments(&a.prompts)?;
    let device = device_of(&a.device)?;
    let is_model = |d: &Path| d.join("config.json").is_file();
    let dir = resolve_dir(&GPT2, Some(&a.model), &is_model)?;
    let lm = LogProbScorer::load(&dir, &device, candle_core::DType::F32)?;
    let cfg = config_of(&a.green);
    let green = GreenList::new(cfg, lm.tokenizer_vocab_size()).map_err(CliError::Usage)?;
    let bos = lm.bos_token_id;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(a.seed);
    let pb = progress::bar(prompts.lines.len() as u64, "generating", a.common.quiet);
    let (mut body, mut detections) = (String::new(), Vec::new());
    for (i, p) in prompts.lines.iter().enumerate() {
        let mut ids = Vec::new();
        if a.add_bos {
            ids.push(bos.ok_or_else(|| {
                CliError::Usage("--add-bos: the model's config names no bos_token_id".into())
            })?);
        }
        ids.extend(
            lm.tokenize(p)
                .map_err(|e| CliError::Input(format!("{}: line {}: {e}", prompts.label, i + 1)))?,
        );
        if ids.is_empty() {
            return Err(CliError::Input(format!(
                "{}: line {}: an empty prompt needs --add-bos true",
                prompts.label,
                i + 1
            )));
        }
        let stop = if a.stop_at_eos { bos } else { None };
        let new = lm.generate(&ids, a.max_new_tokens, stop, |so_far, logits| {
            if !a.no_watermark {
                green.bias(*so_far.last().expect("a prompt token"), logits);
            }
            sample_softmax(logits, a.temperature, &mut rng)
        })?;
        // Judged as generated: each new token by its predecessor (the prompt's last for the first).
        let mut judged = vec![*ids.last().expect("a prompt token")];
        judged.extend(&new);
        let d = green.detect(&judged);
        let text = lm
            .tokenizer
            .decode(&new, true)
            .map_err(|e| CliError::Internal(format!("tokenizer: {e}")))?;
        body.push_str(
            &json!({"prompt": p, "text": text, "tokens": new.len(), "z": d.z, "watermarked": !a.no_watermark})
                .to_string(),
        );
        body.push('\n');
        detections.push(d);
        pb.inc(1);
    }
    pb.finish_and_clear();
    write_atomic(
        &a.out,
        body.as_bytes(),
        std::slice::from_ref(&prompts.record),
    )?;
    let mut doc = ResultsDoc::new("watermark generate", started);
    doc.device = device_name(&device);
    doc.seed = Some(a.seed);
    for f in &lm.files {
        doc.add_input(&record_file(f)?);
    }
    doc.add_input(&prompts.record);
    let n = detections.len();
    let detected = detections.iter().filter(|d| d.watermarked).count();
    let mean_z = detections.iter().map(|d| d.z).sum::<f64>() / n as f64;
    doc.results.push(ResultRow {
        metric: "watermark.detected_fraction".into(),
        value: detected as f64 / n as f64,
        ci_low: None,
        ci_high: None,
        n,
        details: json!({"note": "share of the generated texts whose own tokens score z above the threshold",
                        "mean_z": mean_z, "watermark": !a.no_watermark, "file": a.out.display().to_string(),
                        "max_new_tokens": a.max_new_tokens, "temperature": a.temperature,
                        "vocab_size": green.vocab_size, "signature": cfg.signature()}),
    });
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}

/// A tokenizer from a model folder or a tokenizer.json.
fn load_tokenizer(path: &Path) -> CliResult<(tokenizers::Tokenizer, std::path::PathBuf)> {
    let file = if path.is_dir() {
        path.join("tokenizer.json")
    } else {
        path.to_path_buf()
    };
    if !file.is_file() {
        return Err(CliError::Input(format!(
            "{}: no tokenizer.json (give a model folder holding one, or the file)",
            file.display()
        )));
    }
    let tok = tokenizers::Tokenizer::from_file(&file)
        .map_err(|e| CliError::Input(format!("{}: not a tokenizer: {e}", file.display())))?;
    Ok((tok, file))
}

pub fn detect_text(a: &WatermarkDetectTextArgs) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    let texts = read_segments(&a.input)?;
    let (tok, tok_file) = load_tokenizer(&a.tokenizer)?;
    let cfg = config_of(&a.green);
    let green = GreenList::new(cfg, tok.get_vocab_size(true)).map_err(CliError::Usage)?;
    let mut doc = ResultsDoc::new("watermark detect-text", started);
    doc.add_input(&record_file(&tok_file)?);
    doc.add_input(&texts.record);
    let (mut judged, mut detected) = (0usize, 0usize);
    let mut short = Vec::new();
    for (i, t) in texts.lines.iter().enumerate() {
        let ids: Vec<u32> = tok
            .encode(t.as_str(), false)
            .map_err(|e| CliError::Input(format!("{}: line {}: {e}", texts.label, i + 1)))?
            .get_ids()
            .to_vec();
        let d = green.detect(&ids);
        let window = (a.window > 0)
            .then(|| green.detect_window(&ids, a.window))
            .flatten()
            .map(|(at, w)| json!({"start_token": at, "size": a.window, "detection": detection_json(&w)}));
        let enough = d.tokens_scored >= a.min_tokens;
        if enough {
            judged += 1;
            detected += d.watermarked as usize;
        } else {
            short.push(i + 1);
        }
        let mut details = detection_json(&d);
        details["line"] = json!(i + 1);
        details["note"] = json!(format!(
            "line {}: {}",
            i + 1,
            if d.watermarked {
                "watermarked"
            } else {
                "not watermarked"
            }
        ));
        details["window"] = window.unwrap_or(serde_json::Value::Null);
        if !enough {
            details["watermarked"] = serde_json::Value::Null;
            details["note"] = json!(format!(
                "{} scored tokens: fewer than --min-tokens {}, no verdict",
                d.tokens_scored, a.min_tokens
            ));
        }
        doc.results.push(ResultRow {
            metric: "z".into(),
            value: d.z,
            ci_low: None,
            ci_high: None,
            n: d.tokens_scored,
            details,
        });
    }
    if judged == 0 {
        return Err(CliError::Input(format!(
            "{}: no text has {} scored tokens (--min-tokens); a z-score on fewer means little",
            texts.label, a.min_tokens
        )));
    }
    doc.results.insert(
        0,
        ResultRow {
            metric: "watermark.detected_fraction".into(),
            value: detected as f64 / judged as f64,
            ci_low: None,
            ci_high: None,
            n: judged,
            details: json!({"note": format!("texts with z > {} among those with at least {} scored tokens", cfg.z_threshold, a.min_tokens),
                            "too_short_lines": short, "vocab_size": green.vocab_size,
                            "signature": cfg.signature()}),
        },
    );
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}
