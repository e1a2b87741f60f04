//! `assay watermark embed|detect`: image watermarks (`assay_provenance::watermark`) over files
//! and folders. Inputs are never written; outputs go to a new file each, atomically.

use crate::args::{ImageSchemeArg, WatermarkDetectArgs, WatermarkEmbedArgs};
use crate::error::{CliError, CliResult};
use crate::input::files_and_folders;
use crate::output::{write_atomic, ResultRow, ResultsDoc};
use crate::progress;
use assay_models::extract::list_images;
use assay_provenance::watermark::imwatermark::{self, ImwatermarkMethod, KnownMessage};
use assay_provenance::watermark::robustness::{binomial_p_value, ImageScheme};
use assay_provenance::watermark::spread_spectrum::{self, SpreadSpectrumKey, PAYLOAD_BYTES};
use assay_provenance::InputRecord;
use image::{DynamicImage, GrayImage, ImageFormat, RgbImage};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Shortest key accepted: a short key can be guessed, and the key is the whole secret.
pub const MIN_KEY_CHARS: usize = 8;

/// Files as given, and the images directly inside folders.
pub fn collect_images(inputs: &[PathBuf]) -> CliResult<Vec<PathBuf>> {
    files_and_folders(inputs, |dir| {
        list_images(dir).map_err(|e| CliError::Input(e.to_string()))
    })
}

/// One decoded input: RGB for the schemes, with what must be put back (alpha, greyness).
pub struct LoadedImage {
    pub path: PathBuf,
    pub record: InputRecord,
    pub rgb: RgbImage,
    pub alpha: Option<GrayImage>,
    pub grey: bool,
    pub format: Option<ImageFormat>,
}

pub fn load_image(path: &Path) -> CliResult<LoadedImage> {
    let bytes = std::fs::read(path)
        .map_err(|e| CliError::Input(format!("{}: cannot read: {e}", path.display())))?;
    let record = InputRecord::of_bytes(path.display().to_string(), &bytes);
    let format = image::guess_format(&bytes).ok();
    let decoded = image::load_from_memory(&bytes)
        .map_err(|e| CliError::Input(format!("{}: not a readable image: {e}", path.display())))?;
    let color = decoded.color();
    let alpha = color.has_alpha().then(|| {
        let rgba = decoded.to_rgba8();
        GrayImage::from_fn(rgba.width(), rgba.height(), |x, y| {
            image::Luma([rgba.get_pixel(x, y).0[3]])
        })
    });
    Ok(LoadedImage {
        path: path.to_path_buf(),
        record,
        rgb: decoded.to_rgb8(),
        alpha,
        grey: !color.has_color(),
        format,
    })
}

/// Hex to bytes, with a message that names the flag.
fn parse_hex(flag: &str, text: &str) -> CliResult<Vec<u8>> {
    let text = text.trim_start_matches("0x");
    hex::decode(text).map_err(|e| CliError::Usage(format!("{flag} {text}: not hex bytes ({e})")))
}

pub fn assay_key(key: Option<&str>) -> CliResult<SpreadSpectrumKey> {
    let key = key.ok_or_else(|| CliError::Usage("the assay scheme needs --key".into()))?;
    if key.chars().count() < MIN_KEY_CHARS {
        return Err(CliError::Usage(format!(
            "--key is {} characters: the assay scheme wants at least {MIN_KEY_CHARS} (the key is the whole secret)",
            key.chars().count()
        )));
    }
    Ok(SpreadSpectrumKey::new(key))
}

pub fn assay_payload(text: &str) -> CliResult<[u8; PAYLOAD_BYTES]> {
    let bytes = parse_hex("--payload", text)?;
    bytes.as_slice().try_into().map_err(|_| {
        CliError::Usage(format!(
            "--payload {text}: the assay scheme carries exactly {} bits ({} hex digits), got {}",
            PAYLOAD_BYTES * 8,
            PAYLOAD_BYTES * 2,
            bytes.len() * 8
        ))
    })
}

fn method_of(scheme: ImageSchemeArg) -> Option<ImwatermarkMethod> {
    match scheme {
        ImageSchemeArg::DwtDct => Some(ImwatermarkMethod::DwtDct),
        ImageSchemeArg::DwtDctSvd => Some(ImwatermarkMethod::DwtDctSvd),
        _ => None,
    }
}

/// The scheme that embeds, from the flags.
pub fn embedding_scheme(
    scheme: ImageSchemeArg,
    key: Option<&str>,
    payload: &str,
    psnr: f64,
) -> CliResult<ImageScheme> {
    if scheme == ImageSchemeArg::Assay {
        return Ok(ImageScheme::Assay {
            key: assay_key(key)?,
            payload: assay_payload(payload)?,
            psnr_db: psnr,
        });
    }
    let method = method_of(scheme).ok_or_else(|| {
        CliError::Usage("sd1, sd2 and sdxl are fixed messages to detect, not schemes to embed with: use --scheme dwtDct".into())
    })?;
    let bytes = parse_hex("--payload", payload)?;
    if bytes.is_empty() {
        return Err(CliError::Usage("--payload: give at least one byte".into()));
    }
    Ok(ImageScheme::Imwatermark {
        method,
        bits: imwatermark::bits_of_bytes(&bytes),
    })
}

/// Where the marked copy of `input` goes: same name, PNG unless the input was JPEG.
fn output_path(out: &Path, input: &LoadedImage) -> (PathBuf, ImageFormat) {
    let name = input
        .path
        .file_name()
        .map(PathBuf::from)
        .unwrap_or_else(|| "image".into());
    if input.format == Some(ImageFormat::Jpeg) {
        (out.join(name), ImageFormat::Jpeg)
    } else {
        (out.join(name).with_extension("png"), ImageFormat::Png)
    }
}

/// The marked pixels in the input's layout: alpha put back, grey kept grey when it still is.
pub fn restore_layout(marked: RgbImage, input: &LoadedImage) -> DynamicImage {
    let still_grey = input.grey
        && marked
            .pixels()
            .all(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2]);
    match (&input.alpha, still_grey) {
        (Some(alpha), true) => DynamicImage::ImageLumaA8(image::ImageBuffer::from_fn(
            marked.width(),
            marked.height(),
            |x, y| image::LumaA([marked.get_pixel(x, y).0[0], alpha.get_pixel(x, y).0[0]]),
        )),
        (Some(alpha), false) => DynamicImage::ImageRgba8(image::ImageBuffer::from_fn(
            marked.width(),
            marked.height(),
            |x, y| {
                let [r, g, b] = marked.get_pixel(x, y).0;
                image::Rgba([r, g, b, alpha.get_pixel(x, y).0[0]])
            },
        )),
        (None, true) => DynamicImage::ImageLuma8(GrayImage::from_fn(
            marked.width(),
            marked.height(),
            |x, y| image::Luma([marked.get_pixel(x, y).0[0]]),
        )),
        (None, false) => DynamicImage::ImageRgb8(marked),
    }
}

pub fn encode(image: &DynamicImage, format: ImageFormat, quality: u8) -> CliResult<Vec<u8>> {
    let mut bytes = Vec::new();
    let result = match format {
        ImageFormat::Jpeg => {
            // JPEG has no alpha: the colour channels are written.
            let rgb = DynamicImage::ImageRgb8(image.to_rgb8());
            let rgb = if image.color().has_color() {
                rgb
            } else {
                DynamicImage::ImageLuma8(image.to_luma8())
            };
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality)
                .encode_image(&rgb)
        }
        _ => image.write_to(&mut std::io::Cursor::new(&mut bytes), ImageFormat::Png),
    };
    result.map_err(|e| CliError::Internal(format!("encoding: {e}")))?;
    Ok(bytes)
}

pub fn embed(a: &WatermarkEmbedArgs) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    let scheme = embedding_scheme(a.scheme, a.key.as_deref(), &a.payload, a.psnr)?;
    let files = collect_images(&a.inputs)?;
    std::fs::create_dir_all(&a.out)
        .map_err(|e| CliError::Input(format!("{}: cannot create: {e}", a.out.display())))?;
    let mut doc = ResultsDoc::new("watermark embed", started);
    let pb = progress::bar(files.len() as u64, "embedding", a.common.quiet);
    let mut written = Vec::new();
    for file in &files {
        let input = load_image(file)?;
        let (out, format) = output_path(&a.out, &input);
        if out.exists() || written.contains(&out) {
            return Err(CliError::Usage(format!(
                "{}: exists (Assay never writes over files; two inputs with one name?)",
                out.display()
            )));
        }
        let (marked, reads_back) = embed_one(&scheme, &input.rgb, a.min_psnr.min(a.psnr))
            .map_err(|e| CliError::Input(format!("{}: {e}", file.display())))?;
        let psnr = spread_spectrum::psnr(&input.rgb, &marked);
        let layout = restore_layout(marked, &input);
        let bytes = encode(&layout, format, a.jpeg_quality)?;
        write_atomic(&out, &bytes, std::slice::from_ref(&input.record))?;
        doc.add_input(&input.record);
        let mut details = json!({"file": file.display().to_string(), "out": out.display().to_string(),
            "scheme": scheme.name(), "payload": a.payload,
            "note": "PSNR of the marked pixels against the input, before any JPEG encoding"});
        if let Some(reads_back) = reads_back {
            details["reads_back"] = json!(reads_back);
            details["note"] = json!(if !reads_back {
                format!("WARNING: the mark does not read back from this image even at {psnr:.1} dB (too small or busy); lower --min-psnr")
            } else if psnr < a.psnr - 0.75 {
                format!("strength raised to {psnr:.1} dB PSNR (from {}) so that the mark reads back; before any JPEG encoding", a.psnr)
            } else {
                "PSNR of the marked pixels against the input, before any JPEG encoding".into()
            });
        }
        if input.grey && layout.color().has_color() {
            details["layout"] = json!("grey input written as RGB: this scheme marks chroma");
        }
        if input.alpha.is_some() {
            details["alpha"] = json!(if format == ImageFormat::Jpeg {
                "dropped (JPEG has none)"
            } else {
                "kept"
            });
        }
        doc.results
            .push(ResultRow::plain("psnr_db", psnr, 1, details));
        written.push(out);
        pb.inc(1);
    }
    pb.finish_and_clear();
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}

/// Embeds with `scheme`; the assay scheme raises its strength down to `floor_db` until the
/// mark reads back, and says whether it does.
fn embed_one(
    scheme: &ImageScheme,
    rgb: &image::RgbImage,
    floor_db: f64,
) -> Result<(image::RgbImage, Option<bool>), String> {
    match scheme {
        ImageScheme::Assay {
            key,
            payload,
            psnr_db,
        } => spread_spectrum::embed_readable(rgb, key, payload, *psnr_db, floor_db)
            .map(|e| (e.image, Some(e.reads_back)))
            .map_err(|e| e.to_string()),
        other => other.embed(rgb).map(|image| (image, None)),
    }
}

/// One image's verdict as a result row.
fn reading_row(file: &Path, detected: Option<bool>, details: serde_json::Value) -> ResultRow {
    let mut details = details;
    details["file"] = json!(file.display().to_string());
    details["detected"] = json!(detected);
    // The table shows the note: lead with the file and the verdict.
    let verdict = match detected {
        Some(true) => "marked",
        Some(false) => "not marked",
        None => "bits read",
    };
    let why = details["note"].as_str().unwrap_or_default().to_string();
    details["note"] = json!(format!("{}: {verdict}", file.display()));
    details["method_note"] = json!(why);
    let value = detected.map_or(f64::NAN, |d| f64::from(u8::from(d)));
    ResultRow::plain("watermark.detected", value, 1, details)
}

fn bit_string(bits: &[bool]) -> String {
    bits.iter().map(|&b| if b { '1' } else { '0' }).collect()
}

/// Reads a known message with imwatermark's decoder; SDXL pipelines have handed the encoder
/// both RGB and BGR arrays over their versions, so `both_orders` also reads with R and B
/// swapped and keeps the better reading, its p-value doubled (Bonferroni).
fn read_known(
    image: &RgbImage,
    message: &[bool],
    method: ImwatermarkMethod,
    both_orders: bool,
) -> Result<(Vec<bool>, usize, f64, &'static str), imwatermark::ImwatermarkError> {
    let mut best: Option<(Vec<bool>, usize, &'static str)> = None;
    let mut orders = vec![("rgb", image.clone())];
    if both_orders {
        let mut swapped = image.clone();
        for p in swapped.pixels_mut() {
            p.0.swap(0, 2);
        }
        orders.push(("bgr", swapped));
    }
    let tries = orders.len();
    for (order, img) in orders {
        let bits = imwatermark::extract(&img, message.len(), method)?.bits();
        let agree = bits.iter().zip(message).filter(|(a, b)| a == b).count();
        if best.as_ref().is_none_or(|(_, b, _)| agree > *b) {
            best = Some((bits, agree, order));
        }
    }
    let (bits, agree, order) = best.expect("one order at least");
    let p = (binomial_p_value(agree, message.len()) * tries as f64).min(1.0);
    Ok((bits, agree, p, order))
}

pub fn detect(a: &WatermarkDetectArgs) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    let files = collect_images(&a.inputs)?;
    let key = (a.scheme == ImageSchemeArg::Assay)
        .then(|| assay_key(a.key.as_deref()))
        .transpose()?;
    let expected_assay = match (&key, &a.payload) {
        (Some(_), Some(p)) => Some(assay_payload(p)?),
        _ => None,
    };
    // The message an imwatermark scheme is checked against, if any.
    let (message, method, both_orders): (Option<Vec<bool>>, ImwatermarkMethod, bool) =
        match a.scheme {
            ImageSchemeArg::Sd1 => (
                Some(KnownMessage::StableDiffusionV1.bits()),
                ImwatermarkMethod::DwtDct,
                false,
            ),
            ImageSchemeArg::Sd2 => (
                Some(KnownMessage::StableDiffusionV2.bits()),
                ImwatermarkMethod::DwtDct,
                false,
            ),
            ImageSchemeArg::Sdxl => (
                Some(KnownMessage::Sdxl.bits()),
                ImwatermarkMethod::DwtDct,
                true,
            ),
            s => {
                let message = a
                    .payload
                    .as_deref()
                    .filter(|_| s != ImageSchemeArg::Assay)
                    .map(|p| parse_hex("--payload", p).map(|b| imwatermark::bits_of_bytes(&b)))
                    .transpose()?;
                (
                    message,
                    method_of(s).unwrap_or(ImwatermarkMethod::DwtDct),
                    false,
                )
            }
        };
    if key.is_none() && message.is_none() && a.bits.is_none() {
        return Err(CliError::Usage(
            "dwtDct/dwtDctSvd detection needs the message (--payload HEX) or how many bits to read (--bits N)".into(),
        ));
    }
    let mut doc = ResultsDoc::new("watermark detect", started);
    let pb = progress::bar(files.len() as u64, "detecting", a.common.quiet);
    let (mut judged, mut detected) = (0usize, 0usize);
    for file in &files {
        let input = load_image(file)?;
        doc.add_input(&input.record);
        let at = |e: &dyn std::fmt::Display| CliError::Input(format!("{}: {e}", file.display()));
        let row = if let Some(key) = &key {
            let d = spread_spectrum::detect(&input.rgb, key, expected_assay.as_ref())
                .map_err(|e| at(&e))?;
            let verdict = d.detected && d.p_value < a.alpha;
            reading_row(
                file,
                Some(verdict),
                json!({
                "scheme": "assay", "payload": d.payload.map(hex::encode), "bit_accuracy": d.bit_accuracy,
                "p_value": d.p_value, "crop_keep": d.geometry.crop_keep, "rotation_deg": d.geometry.rotation_deg,
                "hypotheses_tried": d.hypotheses_tried,
                "note": "p_value bounds the chance of this decode without the mark: hypotheses tried x 2^-32"}),
            )
        } else if let Some(message) = &message {
            let (bits, agree, p, order) =
                read_known(&input.rgb, message, method, both_orders).map_err(|e| at(&e))?;
            reading_row(
                file,
                Some(p < a.alpha),
                json!({
                "scheme": format!("{:?}", a.scheme).to_lowercase(), "method": method.name(), "bits": bit_string(&bits),
                "bit_accuracy": agree as f64 / message.len() as f64, "p_value": p, "channel_order": order,
                "note": "binomial p-value of the bits agreeing with the known message"}),
            )
        } else {
            let n = a.bits.expect("checked above");
            let votes = imwatermark::extract(&input.rgb, n, method).map_err(|e| at(&e))?;
            let bits = votes.bits();
            let mut row = reading_row(
                file,
                None,
                json!({
                "scheme": method.name(), "bits": bit_string(&bits),
                "note": "bits as imwatermark's decoder reads them; no verdict without the message (--payload)"}),
            );
            row.metric = "watermark.bits".into();
            row.n = n;
            row
        };
        if let Some(v) = row.details["detected"].as_bool() {
            judged += 1;
            detected += usize::from(v);
        }
        doc.results.push(row);
        pb.inc(1);
    }
    pb.finish_and_clear();
    if judged > 0 {
        let note = json!({"note": format!("images whose reading has p < {}", a.alpha)});
        let summary = ResultRow::plain(
            "watermark.detected_fraction",
            detected as f64 / judged as f64,
            judged,
            note,
        );
        doc.results.insert(0, summary);
    }
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}
