//! `assay image clipscore`: CLIP embeds each captioned image and its caption (and references),
//! then CLIPScore's maths (`assay_metrics::alignment::clip_score`) score each pair.

use crate::args::ClipScoreArgs;
use crate::captions_input::{
    read_text_file, ImageIndex, TextFile, CAPTION_COLUMNS, REFERENCE_COLUMNS,
};
use crate::commands::image::{device_of, folder_record, sha256_hex, worker_pool};
use crate::error::{CliError, CliResult};
use crate::input::record_file;
use crate::output::{table_bytes, write_atomic, ResultRow, ResultsDoc};
use crate::progress;
use assay_metrics::alignment::clip_score::{
    bootstrap_mean, cosine, ref_clip_s, signature as clip_signature, ClipScoreAccumulator,
    Convention,
};
use assay_metrics::distribution::device::device_name;
use assay_models::clip::{is_model_dir, Clip};
use assay_models::extract::{list_images, BatchOptions};
use assay_models::weights::{resolve_dir, CLIP_VIT_B32};
use polars::prelude::*;
use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

const HESSEL_PREFIX: &str = "A photo depicts ";

fn convention_of(scale: &str) -> CliResult<Convention> {
    match scale.parse::<f64>() {
        Ok(2.5) => Ok(Convention::Hessel { weight: 2.5 }),
        Ok(100.0) => Ok(Convention::Torchmetrics),
        _ => Err(CliError::Usage(format!(
            "--scale {scale}: use 2.5 (Hessel et al.'s CLIP-S) or 100 (torchmetrics' CLIPScore)"
        ))),
    }
}

/// (file, caption) pairs in caption-file order, and (row, why) for the rows left out.
type MatchedCaptions = (Vec<(PathBuf, String)>, Vec<(String, String)>);

/// Captions matched to files.
fn match_captions(
    captions: &TextFile,
    index: &ImageIndex,
    skip_bad: bool,
) -> CliResult<MatchedCaptions> {
    let mut pairs = Vec::new();
    let mut seen: HashMap<PathBuf, String> = HashMap::new();
    let (mut missing, mut skipped) = (Vec::new(), Vec::new());
    for row in &captions.rows {
        match index.find(&row.image) {
            Ok(path) => {
                if let Some(first) = seen.get(&path) {
                    return Err(CliError::Input(format!(
                        "{}: {} and {} both caption {} (one caption per image)",
                        captions.label,
                        first,
                        row.place,
                        path.display()
                    )));
                }
                seen.insert(path.clone(), row.place.clone());
                pairs.push((path, row.text.clone()));
            }
            Err(why) if skip_bad => {
                skipped.push((format!("{}: {}", captions.label, row.place), why))
            }
            Err(why) => missing.push(format!("  {}: {}: {why}", captions.label, row.place)),
        }
    }
    if !missing.is_empty() {
        return Err(CliError::Input(format!(
            "{} captions name images that are not there (--skip-bad leaves them out):\n{}",
            missing.len(),
            missing.join("\n")
        )));
    }
    if pairs.is_empty() {
        return Err(CliError::Input(format!(
            "{}: no caption names an image in the folder",
            captions.label
        )));
    }
    Ok((pairs, skipped))
}

/// References per image file; every scored image needs at least one.
fn match_references(
    refs: &TextFile,
    index: &ImageIndex,
    scored: &[PathBuf],
) -> CliResult<HashMap<PathBuf, Vec<String>>> {
    let mut by_image: HashMap<PathBuf, Vec<String>> = HashMap::new();
    let mut missing = Vec::new();
    for row in &refs.rows {
        match index.find(&row.image) {
            Ok(p) => by_image.entry(p).or_default().push(row.text.clone()),
            Err(why) => missing.push(format!("  {}: {}: {why}", refs.label, row.place)),
        }
    }
    if !missing.is_empty() {
        return Err(CliError::Input(format!(
            "{} references name images that are not there:\n{}",
            missing.len(),
            missing.join("\n")
        )));
    }
    let without: Vec<String> = scored
        .iter()
        .filter(|p| !by_image.contains_key(*p))
        .map(|p| format!("  {}", p.display()))
        .collect();
    if !without.is_empty() {
        return Err(CliError::Input(format!(
            "{}: {} captioned images have no reference (RefCLIP-S needs one per image):\n{}",
            refs.label,
            without.len(),
            without.join("\n")
        )));
    }
    Ok(by_image)
}

pub fn run(a: &ClipScoreArgs) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    let convention = convention_of(&a.scale)?;
    if a.batch_size == 0 {
        return Err(CliError::Usage("--batch-size must be at least 1".into()));
    }
    let prefix = a.prefix.clone().unwrap_or_else(|| match convention {
        Convention::Hessel { .. } => HESSEL_PREFIX.to_string(),
        Convention::Torchmetrics => String::new(),
    });
    if !a.images.is_dir() {
        return Err(CliError::Input(format!(
            "{}: not a folder",
            a.images.display()
        )));
    }
    // Inputs first: a typo in a caption file should not wait for a model to load.
    let files = list_images(&a.images)?;
    let index = ImageIndex::new(&a.images, &files);
    let captions = read_text_file(&a.captions, CAPTION_COLUMNS)?;
    let (pairs, mut skipped) = match_captions(&captions, &index, a.skip_bad)?;
    let refs = a
        .references
        .as_deref()
        .map(|p| read_text_file(p, REFERENCE_COLUMNS))
        .transpose()?;

    let device = device_of(&a.run.device)?;
    let model_dir = resolve_dir(&CLIP_VIT_B32, a.model.as_deref(), &is_model_dir)?;
    let clip = Clip::load(&model_dir, &device)?;
    let pool = worker_pool(a.workers)?;

    let image_files: Vec<PathBuf> = pairs.iter().map(|(p, _)| p.clone()).collect();
    let pb = progress::bar(image_files.len() as u64, "images", a.common.quiet);
    let progress = |done: usize| pb.set_position(done as u64);
    let opts = BatchOptions {
        batch_size: a.batch_size,
        skip_bad: a.skip_bad,
        hash: &sha256_hex,
        progress: &progress,
        // On a GPU, decode the next batch while the network runs (see `for_each_batch`).
        overlap: !device.is_cpu(),
    };
    let (decoded, image_emb) = pool.install(|| clip.embed_image_files(&image_files, &opts))?;
    pb.finish_and_clear();
    for (p, why) in &decoded.skipped {
        skipped.push((p.display().to_string(), why.clone()));
    }
    let caption_of: HashMap<&PathBuf, &String> = pairs.iter().map(|(p, c)| (p, c)).collect();
    let texts: Vec<String> = decoded
        .files
        .iter()
        .map(|p| format!("{prefix}{}", caption_of[p]))
        .collect();
    let (text_emb, truncated) = clip.embed_texts(&texts, a.batch_size)?;

    let n = decoded.files.len();
    let mut acc = ClipScoreAccumulator::new(convention);
    acc.update(&image_emb, &text_emb)
        .map_err(|e| CliError::Internal(format!("CLIP gave an unusable embedding: {e}")))?;
    let cosines: Vec<f64> = image_emb
        .iter()
        .zip(&text_emb)
        .map(|(i, t)| cosine(i, t).unwrap_or(f64::NAN))
        .collect();

    let mut doc = ResultsDoc::new("image clipscore", started);
    doc.device = device_name(&device);
    doc.seed = (a.run.bootstrap > 0).then_some(a.run.seed);
    for f in &clip.files {
        doc.add_input(&record_file(f)?);
    }
    doc.add_input(&folder_record(&a.images, &decoded.files, &decoded.sha256));
    doc.add_input(&captions.record);
    let model_label = a
        .model
        .clone()
        .unwrap_or_else(|| CLIP_VIT_B32.hf_repo.unwrap_or_default().to_string());
    let (metric, convention_name, formula) = match convention {
        Convention::Hessel { .. } => (
            "clip_score",
            "hessel",
            "2.5 * max(cos(image, caption), 0) per image, mean over images (Hessel et al. 2021)",
        ),
        Convention::Torchmetrics => (
            "clip_score",
            "torchmetrics",
            "100 * cos(image, caption) per image, max(mean, 0) (torchmetrics CLIPScore)",
        ),
    };
    let value = acc
        .finalize()
        .map_err(|e| CliError::Input(format!("{}: {e}", captions.label)))?;
    let ci = if a.run.bootstrap > 0 {
        Some(
            bootstrap_mean(&acc.per_item, a.run.bootstrap, a.run.seed, |s| {
                convention.aggregate(s)
            })
            .map_err(|e| CliError::Internal(e.to_string()))?,
        )
    } else {
        None
    };
    let n_truncated = truncated.iter().filter(|&&t| t).count();
    let listed: Vec<_> = skipped
        .iter()
        .map(|(what, why)| json!({"item": what, "error": why}))
        .collect();
    doc.results.push(ResultRow {
        metric: metric.into(),
        value,
        ci_low: ci.map(|c| c.low),
        ci_high: ci.map(|c| c.high),
        n,
        details: json!({
            "signature": clip_signature(convention, &prefix, &model_label),
            "convention": convention_name, "formula": formula, "prefix": prefix,
            "model": model_label, "model_dir": model_dir.display().to_string(),
            "preprocessing": "transformers CLIPImageProcessor (PIL backend): PIL bicubic on 8-bit RGB, shortest side, centre crop",
            "image_size": clip.image_size, "embedding_dim": clip.projection_dim,
            "truncated_captions": n_truncated, "context_length": clip.max_positions,
            "bootstrap": a.run.bootstrap, "skipped": listed, "skipped_count": skipped.len(),
        }),
    });

    let mut ref_scores: Option<(Vec<f64>, Vec<f64>)> = None;
    if let Some(refs) = &refs {
        doc.add_input(&refs.record);
        let by_image = match_references(refs, &index, &decoded.files)?;
        let mut flat = Vec::new();
        let mut spans = Vec::with_capacity(n);
        for p in &decoded.files {
            let r = &by_image[p];
            spans.push((flat.len(), r.len()));
            flat.extend(r.iter().map(|t| format!("{prefix}{t}")));
        }
        let (ref_emb, ref_truncated) = clip.embed_texts(&flat, a.batch_size)?;
        let clip_s_weight = match convention {
            Convention::Hessel { weight } => weight,
            Convention::Torchmetrics => {
                return Err(CliError::Usage(
                    "--references: RefCLIP-S is defined on Hessel's CLIP-S (--scale 2.5)".into(),
                ))
            }
        };
        let mut per = Vec::with_capacity(n);
        let mut best = Vec::with_capacity(n);
        for (i, &(start, len)) in spans.iter().enumerate() {
            let r: Vec<&[f32]> = ref_emb[start..start + len]
                .iter()
                .map(Vec::as_slice)
                .collect();
            let s = ref_clip_s(acc.per_item[i], &text_emb[i], &r)
                .map_err(|e| CliError::Internal(format!("RefCLIP-S: {e}")))?;
            per.push(s);
            best.push(
                r.iter()
                    .map(|e| cosine(&text_emb[i], e).unwrap_or(f64::NAN))
                    .fold(f64::NEG_INFINITY, f64::max),
            );
        }
        let mean = per.iter().sum::<f64>() / n as f64;
        let ci = if a.run.bootstrap > 0 {
            Some(
                bootstrap_mean(&per, a.run.bootstrap, a.run.seed, |s| {
                    s.iter().sum::<f64>() / s.len() as f64
                })
                .map_err(|e| CliError::Internal(e.to_string()))?,
            )
        } else {
            None
        };
        doc.results.push(ResultRow {
            metric: "ref_clip_score".into(),
            value: mean,
            ci_low: ci.map(|c| c.low),
            ci_high: ci.map(|c| c.high),
            n,
            details: json!({
                "signature": clip_signature(convention, &prefix, &model_label),
                "formula": "harmonic mean of CLIP-S and max(max_r cos(caption, r), 0) per image, mean over images (Hessel et al. 2021)",
                "weight": clip_s_weight, "prefix": prefix, "references": flat.len(),
                "truncated_references": ref_truncated.iter().filter(|&&t| t).count(),
            }),
        });
        ref_scores = Some((per, best));
    }

    if let Some(out) = &a.out {
        let names: Vec<String> = decoded
            .files
            .iter()
            .map(|p| {
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .collect();
        let caps: Vec<String> = decoded
            .files
            .iter()
            .map(|p| caption_of[p].clone())
            .collect();
        let mut cols = vec![
            Column::new("image".into(), names),
            Column::new("sha256".into(), decoded.sha256.clone()),
            Column::new("caption".into(), caps),
            Column::new("cosine".into(), cosines.clone()),
            Column::new(metric.into(), acc.per_item.clone()),
            Column::new("caption_truncated".into(), truncated.clone()),
        ];
        if let Some((per, best)) = &ref_scores {
            cols.push(Column::new("best_reference_cosine".into(), best.clone()));
            cols.push(Column::new("ref_clip_score".into(), per.clone()));
        }
        let mut df = DataFrame::new(n, cols).map_err(|e| CliError::Internal(e.to_string()))?;
        let bytes = table_bytes(&mut df, out)?;
        write_atomic(out, &bytes, &doc.inputs)?;
    }
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}
