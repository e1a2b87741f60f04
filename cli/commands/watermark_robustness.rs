//! `assay watermark robustness`: the attack suite of `assay_provenance::watermark::attacks`
//! run on every image scheme (and on the green-list text watermark when a model is given),
//! as result rows and, with `-o`, a Markdown table.

use crate::args::{ImageSchemeArg, WatermarkRobustnessArgs};
use crate::commands::watermark::config_of;
use crate::commands::watermark_image::{
    assay_key, assay_payload, collect_images, embedding_scheme, load_image,
};
use crate::error::{CliError, CliResult};
use crate::output::{write_atomic, ResultRow, ResultsDoc};
use crate::progress;
use assay_models::lm::LogProbScorer;
use assay_provenance::watermark::attacks::{ImageAttack, TextAttack};
use assay_provenance::watermark::robustness::{image_robustness, text_robustness, DETECTION_ALPHA};
use assay_provenance::watermark::sampling::sample_softmax;
use assay_provenance::watermark::GreenList;
use assay_reference::data::glyphs::{self, SIZE};
use rand::SeedableRng;
use serde_json::json;
use std::fmt::Write as _;
use std::time::Instant;

/// Watermarked and unwatermarked generations of `tokens` tokens from BOS.
fn generate_texts(
    lm: &LogProbScorer,
    green: &GreenList,
    count: usize,
    tokens: usize,
    watermark: bool,
    rng: &mut rand_chacha::ChaCha8Rng,
    quiet: bool,
) -> CliResult<Vec<Vec<u32>>> {
    let bos = lm.bos_token_id.ok_or_else(|| {
        CliError::Usage("--text-model: its config names no bos_token_id to start texts from".into())
    })?;
    let what = if watermark {
        "watermarked texts"
    } else {
        "plain texts"
    };
    let pb = progress::bar(count as u64, what, quiet);
    let mut texts = Vec::with_capacity(count);
    for _ in 0..count {
        let new = lm.generate(&[bos], tokens, None, |so_far, logits| {
            if watermark {
                green.bias(*so_far.last().expect("BOS at least"), logits);
            }
            sample_softmax(logits, 1.0, rng)
        })?;
        // Judged as generated: the first new token by BOS.
        let mut judged = vec![bos];
        judged.extend(new);
        texts.push(judged);
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(texts)
}

pub fn run(a: &WatermarkRobustnessArgs) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    if a.images.is_empty() && a.glyph_montages == 0 && a.text_model.is_none() {
        return Err(CliError::Usage(
            "give hosts (--images, --glyph-montages) and/or --text-model".into(),
        ));
    }
    if let Some(out) = &a.out {
        if out.exists() {
            return Err(CliError::Usage(format!(
                "{}: exists (Assay never writes over files)",
                out.display()
            )));
        }
    }
    let mut doc = ResultsDoc::new("watermark robustness", started);
    doc.seed = Some(a.seed);
    let mut md = String::from("# Watermark robustness\n\n");
    let mut inputs = Vec::new();

    if !a.images.is_empty() || a.glyph_montages > 0 {
        let files = if a.images.is_empty() {
            Vec::new()
        } else {
            collect_images(&a.images)?
        };
        let mut hosts = Vec::new();
        let mut names: Vec<String> = Vec::new();
        for f in &files {
            let img = load_image(f)?;
            doc.add_input(&img.record);
            inputs.push(img.record.clone());
            hosts.push(img.rgb);
            names.push(f.display().to_string());
        }
        for m in 0..a.glyph_montages {
            let per_side = 10;
            let side = (per_side * SIZE) as u32;
            let pixels = glyphs::montage(a.seed, (m * per_side * per_side) as u64, per_side);
            let grey = image::GrayImage::from_raw(side, side, pixels)
                .ok_or_else(|| CliError::Internal("glyph montage of the wrong size".into()))?;
            hosts.push(image::DynamicImage::ImageLuma8(grey).to_rgb8());
            names.push(format!(
                "glyph montage {m} (data set {}, glyphs {}..{})",
                a.seed,
                m * 100,
                m * 100 + 100
            ));
        }
        // Every scheme carries the same 32-bit message.
        let mut schemes = Vec::new();
        for s in &a.schemes {
            if matches!(
                s,
                ImageSchemeArg::Sd1 | ImageSchemeArg::Sd2 | ImageSchemeArg::Sdxl
            ) {
                return Err(CliError::Usage(
                    "--schemes: sd1, sd2 and sdxl are detect-only; compare dwtDct".into(),
                ));
            }
            schemes.push(embedding_scheme(
                *s,
                Some(&a.image_key),
                &a.payload,
                a.psnr,
            )?);
        }
        assay_key(Some(&a.image_key))?;
        assay_payload(&a.payload)?;
        let attacks = ImageAttack::suite();
        let (rows, quality) = image_robustness(&schemes, &hosts, &attacks, a.seed);
        let _ = writeln!(
            md,
            "## Images\n\n{} hosts; detection: p < {DETECTION_ALPHA}; false positives: the unmarked hosts under the same attack.\n\n| scheme | attack | detected | mean bit accuracy | false positives |\n|---|---|---|---|---|",
            hosts.len()
        );
        for r in &rows {
            let _ = writeln!(
                md,
                "| {} | {} | {}/{} | {} | {}/{} |",
                r.scheme,
                r.attack,
                r.detected,
                r.images,
                r.mean_bit_accuracy
                    .map_or("-".into(), |b| format!("{:.3}", b)),
                r.false_positives,
                r.unmarked
            );
            doc.results.push(ResultRow::plain(
                format!("robustness.{}.{}", r.scheme, r.attack),
                r.detection_rate(),
                r.images,
                json!({"detected": r.detected, "mean_bit_accuracy": r.mean_bit_accuracy,
                       "false_positives": r.false_positives, "unmarked": r.unmarked}),
            ));
        }
        let _ = writeln!(md, "\n| scheme | mean PSNR (dB) | min PSNR (dB) | mean SSIM | hosts refused |\n|---|---|---|---|---|");
        for q in &quality {
            let _ = writeln!(
                md,
                "| {} | {:.2} | {:.2} | {:.4} | {} |",
                q.scheme,
                q.mean_psnr_db,
                q.min_psnr_db,
                q.mean_ssim,
                q.refused.len()
            );
            let refused: Vec<String> = q
                .refused
                .iter()
                .map(|(i, e)| format!("{}: {e}", names[*i]))
                .collect();
            doc.results.push(ResultRow::plain(
                format!("embedding.{}.psnr_db", q.scheme),
                q.mean_psnr_db,
                hosts.len() - q.refused.len(),
                json!({"min_psnr_db": q.min_psnr_db, "mean_ssim": q.mean_ssim, "refused": refused,
                       "note": "SSIM: 8x8-window MSSIM of image-compare, lowest of R, G, B"}),
            ));
        }
    }

    if let Some(model) = &a.text_model {
        let device = candle_core::Device::Cpu;
        let lm = LogProbScorer::load(model, &device, candle_core::DType::F32)?;
        for f in &lm.files {
            doc.add_input(&crate::input::record_file(f)?);
        }
        let cfg = config_of(&a.green);
        let green = GreenList::new(cfg, lm.tokenizer_vocab_size()).map_err(CliError::Usage)?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(a.seed);
        let marked = generate_texts(
            &lm,
            &green,
            a.texts,
            a.text_tokens,
            true,
            &mut rng,
            a.common.quiet,
        )?;
        let plain = generate_texts(
            &lm,
            &green,
            a.unmarked_texts,
            a.text_tokens,
            false,
            &mut rng,
            a.common.quiet,
        )?;
        let rows = text_robustness(&green, &marked, &plain, &TextAttack::suite(), a.seed);
        let _ = writeln!(
            md,
            "\n## Text\n\n{} watermarked and {} unwatermarked texts of {} tokens from {}; z > {}.\n\n| attack | detected | mean z | false positives |\n|---|---|---|---|",
            a.texts,
            a.unmarked_texts,
            a.text_tokens,
            model.display(),
            cfg.z_threshold
        );
        for r in &rows {
            let _ = writeln!(
                md,
                "| {} | {}/{} | {:.2} | {}/{} |",
                r.attack, r.detected, r.texts, r.mean_z, r.false_positives, r.unmarked
            );
            doc.results.push(ResultRow::plain(
                format!("robustness.text.{}", r.attack),
                r.detected as f64 / r.texts.max(1) as f64,
                r.texts,
                json!({"detected": r.detected, "mean_z": r.mean_z, "false_positives": r.false_positives,
                       "unmarked": r.unmarked, "signature": cfg.signature()}),
            ));
        }
    }
    if let Some(out) = &a.out {
        write_atomic(out, md.as_bytes(), &inputs)?;
    }
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}
