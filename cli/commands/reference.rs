//! `assay reference data glyphs|hmm-text`: the synthetic data sets of `assay-reference`,
//! written with what is true about them.

use crate::args::ReferenceSampleArgs;
use crate::error::{CliError, CliResult};
use crate::output::{write_atomic, ResultRow, ResultsDoc};
use assay_metrics::stats::bootstrap::bootstrap_items;
use assay_reference::data::glyphs::{self, CLASS_NAMES, CLASS_PROBABILITIES, SIZE};
use assay_reference::data::hmm_text::{text_rng, Hmm, PlantedBias, ATTRIBUTE_RATE, GROUP_LABELS};
use assay_reference::families::classifier::{self as glyph_classifier, accuracy, GlyphClassifier};
use assay_reference::families::training::max_abs_difference;
use assay_reference::families::{autoregressive_folder_files, Family, SampleOptions, Samples};
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

/// A 28 x 28 grey image as PNG bytes.
fn png_of(pixels: Vec<u8>) -> CliResult<Vec<u8>> {
    let img = image::GrayImage::from_raw(SIZE as u32, SIZE as u32, pixels)
        .ok_or_else(|| CliError::Internal("glyph of the wrong size".into()))?;
    let mut png = Vec::new();
    img.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| CliError::Internal(format!("PNG encoding: {e}")))?;
    Ok(png)
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
        let png = png_of(g.pixels)?;
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

fn family_of(name: &str) -> CliResult<Family> {
    Family::from_name(name).ok_or_else(|| {
        CliError::Usage(format!(
            "unknown family '{name}' (available: {})",
            Family::names().join(", ")
        ))
    })
}

fn candle_error(what: &str) -> impl Fn(candle_core::Error) -> CliError + '_ {
    move |e| CliError::Internal(format!("{what}: {e}"))
}

/// The bundled networks: name, what they are, and their committed weights' sha256.
pub fn list() -> CliResult<ResultsDoc> {
    let started = Instant::now();
    let mut doc = ResultsDoc::new("reference list", started);
    for f in Family::ALL {
        let (file, bytes) = f.committed();
        let rec = assay_provenance::InputRecord::of_bytes(
            format!("bundled:reference/weights/{file}"),
            bytes,
        );
        doc.results.push(ResultRow {
            metric: f.name().into(),
            value: bytes.len() as f64,
            ci_low: None,
            ci_high: None,
            n: 1,
            details: json!({"what": f.describe(), "value": "bytes of the committed weights",
                            "weights": format!("reference/weights/{file}"), "sha256": rec.sha256,
                            "train": f.train_config(), "seed": f.train_seed(),
                            "generator": f != Family::Classifier}),
        });
        doc.add_input(&rec);
    }
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}

/// Trains `family` from its seed and writes its weights (a folder for the autoregressive
/// models), reporting the losses and the largest difference from the committed weights.
pub fn train(family: &str, out: &Path, steps: Option<usize>) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    let family = family_of(family)?;
    if out.exists() {
        return Err(CliError::Usage(format!(
            "{}: exists (Assay never writes over files)",
            out.display()
        )));
    }
    let (bytes, losses) = family
        .train(steps, &Device::Cpu)
        .map_err(candle_error("training"))?;
    if family.is_text() {
        let mut files = vec![("model.safetensors".to_string(), bytes.clone())];
        for (name, text) in autoregressive_folder_files().map_err(CliError::Internal)? {
            files.push((name.to_string(), text.into_bytes()));
        }
        write_folder(out, &files)?;
    } else {
        write_atomic(out, &bytes, &[])?;
    }
    let max_diff = max_abs_difference(&bytes, family.committed().1)
        .map_err(candle_error("comparing with the committed weights"))?;
    let mut doc = ResultsDoc::new("reference train", started);
    doc.seed = Some(family.train_seed());
    let details = json!({"weights": out.display().to_string(), "losses": losses,
                         "losses_note": "mean of each tenth of the run",
                         "steps": steps, "config": family.train_config(),
                         "max_abs_difference_from_committed": max_diff});
    if family == Family::Classifier {
        let net = GlyphClassifier::new(
            Family::builder(&bytes, &Device::Cpu).map_err(candle_error("weights"))?,
        )
        .map_err(candle_error("weights"))?;
        let cfg = glyph_classifier::TrainConfig::default();
        let acc = accuracy(&net, cfg.seed + 1, 0, 2000, &Device::Cpu)
            .map_err(candle_error("accuracy"))?;
        doc.results.push(ResultRow {
            metric: "classifier.held_out_accuracy".into(),
            value: acc,
            ci_low: None,
            ci_high: None,
            n: 2000,
            details,
        });
    } else {
        doc.results.push(ResultRow {
            metric: format!("{}.final_loss", family.name()),
            value: losses.last().copied().unwrap_or(f64::NAN),
            ci_low: None,
            ci_high: None,
            n: steps.unwrap_or(0),
            details,
        });
    }
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}

/// The weights a sampling run uses, and their record.
fn weights_of(
    family: Family,
    path: Option<&Path>,
) -> CliResult<(Vec<u8>, assay_provenance::InputRecord)> {
    match path {
        None => {
            let (file, bytes) = family.committed();
            Ok((
                bytes.to_vec(),
                assay_provenance::InputRecord::of_bytes(
                    format!("bundled:reference/weights/{file}"),
                    bytes,
                ),
            ))
        }
        Some(p) => {
            let file = if p.is_dir() {
                p.join("model.safetensors")
            } else {
                p.to_path_buf()
            };
            let bytes = std::fs::read(&file)
                .map_err(|e| CliError::Input(format!("{}: cannot read: {e}", file.display())))?;
            let rec = assay_provenance::InputRecord::of_bytes(file.display().to_string(), &bytes);
            Ok((bytes, rec))
        }
    }
}

/// `assay reference sample`: seeded samples of a bundled generator, with what the truth says
/// of them (the classes the glyph classifier reads; the true HMM likelihood of texts).
pub fn sample(a: &ReferenceSampleArgs) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    let family = family_of(&a.family)?;
    if family == Family::Classifier {
        return Err(CliError::Usage("the classifier is not a generator".into()));
    }
    if a.n == 0 {
        return Err(CliError::Usage("-n must be at least 1".into()));
    }
    if a.out.exists() {
        return Err(CliError::Usage(format!(
            "{}: exists (Assay never writes over files)",
            a.out.display()
        )));
    }
    let (bytes, rec) = weights_of(family, a.weights.as_deref())?;
    let opts = SampleOptions {
        diffusion: a.sampler,
        temperature: a.temperature,
    };
    let samples = family
        .sample(&bytes, a.n, a.seed, &opts, &Device::Cpu)
        .map_err(|e| {
            CliError::Input(format!(
                "{}: cannot sample from these weights: {e}",
                rec.path
            ))
        })?;
    let mut doc = ResultsDoc::new("reference sample", started);
    doc.seed = Some(a.seed);
    doc.add_input(&rec);
    let settings =
        json!({"diffusion_sampler": a.sampler.describe(), "flow_temperature": a.temperature});
    match samples {
        Samples::Images(images) => {
            let classes = read_classes(&images)?;
            let mut files = Vec::with_capacity(images.len());
            for (i, px) in images.into_iter().enumerate() {
                files.push((format!("{i:06}.png"), png_of(px)?));
            }
            write_folder(&a.out, &files)?;
            doc.results
                .push(class_row(family, &classes, settings, &a.out));
        }
        Samples::Texts(texts) => {
            let hmm = Hmm::default_model();
            let mut body = String::new();
            let (mut nll, mut tokens, mut scored) = (0.0, 0usize, 0usize);
            let jsonl = a
                .out
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("jsonl"));
            for t in &texts {
                let lp = hmm
                    .encode(t)
                    .ok()
                    .and_then(|ids| hmm.log_prob(&ids).ok().map(|lp| (lp, ids.len())));
                if let Some((lp, k)) = lp {
                    nll -= lp;
                    tokens += k;
                    scored += 1;
                }
                if jsonl {
                    body.push_str(&json!({"text": t, "hmm_log_prob": lp.map(|x| x.0)}).to_string());
                } else {
                    body.push_str(t);
                }
                body.push('\n');
            }
            write_atomic(&a.out, body.as_bytes(), &[])?;
            doc.results.push(ResultRow {
                metric: format!("{}.true_hmm_perplexity_of_samples", family.name()),
                value: if tokens > 0 { (nll / tokens as f64).exp() } else { f64::NAN },
                ci_low: None,
                ci_high: None,
                n: tokens,
                details: json!({"file": a.out.display().to_string(), "texts": texts.len(),
                                "texts_the_hmm_can_score": scored,
                                "definition": "exp(−Σ log p_HMM(text) / Σ tokens) over the samples the true HMM can score (well-formed texts of its words): near the HMM's own value when the model has learnt the process"}),
            });
        }
    }
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}

/// The class the bundled classifier reads in each image.
pub(crate) fn read_classes(images: &[Vec<u8>]) -> CliResult<Vec<usize>> {
    let net = GlyphClassifier::committed(&Device::Cpu).map_err(candle_error("glyph classifier"))?;
    let mut out = Vec::with_capacity(images.len());
    for chunk in images.chunks(512) {
        let px: Vec<&[u8]> = chunk.iter().map(|p| p.as_slice()).collect();
        let x =
            glyph_classifier::input(&px, &Device::Cpu).map_err(candle_error("glyph classifier"))?;
        let read: Vec<u32> = net
            .forward(&x)
            .and_then(|o| o.logits.argmax(1))
            .and_then(|t| t.to_vec1())
            .map_err(candle_error("glyph classifier"))?;
        out.extend(read.into_iter().map(|c| c as usize));
    }
    Ok(out)
}

/// KL(true class probabilities ‖ the classes read), in nats (∞ when a class is never read),
/// and the number of classes read at least once.
pub(crate) fn class_kl(classes: &[usize]) -> (f64, usize, [usize; 10]) {
    let mut counts = [0usize; 10];
    classes.iter().for_each(|&c| counts[c] += 1);
    let n = classes.len() as f64;
    let kl = CLASS_PROBABILITIES
        .iter()
        .zip(&counts)
        .map(|(p, &c)| {
            if c > 0 {
                p * (p / (c as f64 / n)).ln()
            } else {
                f64::INFINITY
            }
        })
        .sum();
    (kl, counts.iter().filter(|&&c| c > 0).count(), counts)
}

fn class_row(
    family: Family,
    classes: &[usize],
    settings: serde_json::Value,
    out: &Path,
) -> ResultRow {
    let (kl, modes, counts) = class_kl(classes);
    ResultRow {
        metric: format!("{}.class_kl", family.name()),
        value: kl,
        ci_low: None,
        ci_high: None,
        n: classes.len(),
        details: json!({"folder": out.display().to_string(), "modes_covered": modes,
                        "class_counts": counts, "class_names": CLASS_NAMES,
                        "true_probabilities": CLASS_PROBABILITIES, "settings": settings,
                        "definition": "KL(true class probabilities ‖ classes the bundled classifier reads in the samples), nats"}),
    }
}
