//! Folders of images to feature matrices: files decoded and resized in parallel (rayon), one
//! batch at a time, so memory is bounded by the batch, not by the folder.

use crate::error::{ModelError, Result};
use crate::image::{decode_rgb8, preprocess, ResizeMode};
use crate::inception::{Block, FidInception, INPUT_SIZE};
use candle_core::Tensor;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// The extensions pytorch-fid collects from a folder (matched case-insensitively).
pub const IMAGE_EXTENSIONS: &[&str] = &[
    "bmp", "jpg", "jpeg", "pgm", "png", "ppm", "tif", "tiff", "webp",
];

/// The images directly in `dir` (not in subfolders, as pytorch-fid), sorted by name.
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| ModelError::Input(format!("{}: cannot list: {e}", dir.display())))?;
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(ModelError::Input(format!(
            "{}: no images ({})",
            dir.display(),
            IMAGE_EXTENSIONS.join(", ")
        )));
    }
    Ok(files)
}

/// What a folder produced: row i of each matrix is `files[i]`.
pub struct FolderFeatures {
    pub files: Vec<PathBuf>,
    /// sha256 (hex) of each file in `files`.
    pub sha256: Vec<String>,
    /// Width of `features` (the chosen block's).
    pub dim: usize,
    pub features: Vec<f32>,
    pub classes: usize,
    /// torch-fidelity's `logits_unbiased` (the Inception Score input).
    pub logits: Vec<f32>,
    /// Files left out under `skip_bad`, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

/// How files go through a network: batch size, bad files, hashing, progress.
pub struct BatchOptions<'a> {
    pub batch_size: usize,
    /// Leave undecodable files out (and list them) instead of failing.
    pub skip_bad: bool,
    /// sha256 of a file's bytes (the provenance crate's; kept out of this crate).
    pub hash: &'a (dyn Fn(&[u8]) -> String + Sync),
    /// Called with the number of files done after each batch.
    pub progress: &'a (dyn Fn(usize) + Sync),
}

/// The files a batched run used, their hashes, and the ones left out.
pub struct DecodedRun {
    pub files: Vec<PathBuf>,
    /// sha256 (hex) of each file in `files`.
    pub sha256: Vec<String>,
    /// Files left out under `skip_bad`, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

/// Decodes `files` batch by batch in parallel, turns each image into network input with
/// `prepare`, and hands each batch's inputs (concatenated) and count to `run`. Without
/// `skip_bad`, the first bad file ends the network work, but decoding goes on so that the
/// error lists every bad file at once rather than one per run.
pub fn for_each_batch(
    files: &[PathBuf],
    opts: &BatchOptions,
    prepare: &(dyn Fn(&crate::image::Rgb8) -> Vec<f32> + Sync),
    run: &mut dyn FnMut(Vec<f32>, usize) -> Result<()>,
) -> Result<DecodedRun> {
    let mut out = DecodedRun {
        files: Vec::with_capacity(files.len()),
        sha256: Vec::with_capacity(files.len()),
        skipped: Vec::new(),
    };
    let mut done = 0;
    let mut bad: Vec<ModelError> = Vec::new();
    for batch in files.chunks(opts.batch_size.max(1)) {
        let hash = opts.hash;
        let decoded: Vec<Result<(Vec<f32>, String)>> = batch
            .par_iter()
            .map(|p| {
                let bytes = std::fs::read(p).map_err(|e| ModelError::BadImage {
                    path: p.clone(),
                    msg: format!("cannot read: {e}"),
                })?;
                let digest = hash(&bytes);
                let img = decode_rgb8(p, &bytes)?;
                Ok((prepare(&img), digest))
            })
            .collect();
        let mut pixels = Vec::new();
        let mut n = 0;
        for (p, r) in batch.iter().zip(decoded) {
            match r {
                Ok((x, h)) => {
                    pixels.extend_from_slice(&x);
                    out.files.push(p.clone());
                    out.sha256.push(h);
                    n += 1;
                }
                Err(e) if opts.skip_bad => out.skipped.push((p.clone(), e.to_string())),
                Err(e) => bad.push(e),
            }
        }
        if n > 0 && bad.is_empty() {
            run(pixels, n)?;
        }
        done += batch.len();
        (opts.progress)(done);
    }
    match bad.len() {
        0 => {}
        1 => return Err(bad.remove(0)),
        k => {
            let listed: Vec<String> = bad.iter().map(|e| format!("  {e}")).collect();
            return Err(ModelError::Input(format!(
                "{k} images cannot be used (--skip-bad leaves them out):\n{}",
                listed.join("\n")
            )));
        }
    }
    if out.files.is_empty() {
        return Err(ModelError::Input(format!(
            "no image could be read ({} skipped)",
            out.skipped.len()
        )));
    }
    Ok(out)
}

/// Run `net` over `files`, resizing as `mode` says and keeping `block`'s features.
pub fn extract_files(
    net: &FidInception,
    files: &[PathBuf],
    mode: ResizeMode,
    block: Block,
    opts: &BatchOptions,
) -> Result<FolderFeatures> {
    let (mut dim, mut classes) = (0, 0);
    let (mut features, mut logits) = (Vec::new(), Vec::new());
    let run = for_each_batch(
        files,
        opts,
        &|img| preprocess(img, mode, INPUT_SIZE),
        &mut |pixels, n| {
            let x = Tensor::from_vec(
                pixels,
                (n, 3, INPUT_SIZE, INPUT_SIZE),
                &candle_core::Device::Cpu,
            )?;
            let y = net.forward(&x)?;
            let f = block.of(&y);
            dim = f.dim(1)?;
            features.extend(f.flatten_all()?.to_vec1::<f32>()?);
            classes = y.logits_unbiased.dim(1)?;
            logits.extend(y.logits_unbiased.flatten_all()?.to_vec1::<f32>()?);
            Ok(())
        },
    )?;
    Ok(FolderFeatures {
        files: run.files,
        sha256: run.sha256,
        dim,
        features,
        classes,
        logits,
        skipped: run.skipped,
    })
}
