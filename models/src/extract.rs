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
    /// Decode the next batch while the network works on this one (see [`for_each_batch`]).
    pub overlap: bool,
}

/// The files a batched run used, their hashes, and the ones left out.
pub struct DecodedRun {
    pub files: Vec<PathBuf>,
    /// sha256 (hex) of each file in `files`.
    pub sha256: Vec<String>,
    /// Files left out under `skip_bad`, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

/// One batch's decoded inputs, or the reason each file could not be used.
type Decoded = Vec<Result<(Vec<f32>, String)>>;

/// The images' inputs end to end in one buffer, copied in parallel: the batch is 1 MB per
/// 299 x 299 image, and one thread growing it image by image held up every decoding thread
/// between batches.
fn concat_in_parallel(parts: &[Vec<f32>]) -> Vec<f32> {
    let mut all = vec![0f32; parts.iter().map(Vec::len).sum()];
    let mut slots = Vec::with_capacity(parts.len());
    let mut rest = all.as_mut_slice();
    for part in parts {
        let (slot, tail) = rest.split_at_mut(part.len());
        slots.push(slot);
        rest = tail;
    }
    slots
        .into_par_iter()
        .zip(parts)
        .for_each(|(slot, part)| slot.copy_from_slice(part));
    all
}

/// Reads, hashes and prepares one batch's files in parallel (on the current rayon pool).
fn decode_batch(
    batch: &[PathBuf],
    hash: &(dyn Fn(&[u8]) -> String + Sync),
    prepare: &(dyn Fn(&crate::image::Rgb8) -> Vec<f32> + Sync),
) -> Decoded {
    batch
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
        .collect()
}

/// Decodes `files` batch by batch in parallel, turns each image into network input with
/// `prepare`, and hands each batch's inputs (concatenated) and count to `run`. Without
/// `skip_bad`, the first bad file ends the network work, but decoding goes on so that the
/// error lists every bad file at once rather than one per run.
///
/// With `opts.overlap`, `run` works on a thread of its own while the next batch is decoded,
/// at most one batch ahead (so memory stays at two batches): when the network runs on a GPU,
/// the CPU's decoding is then the only bound. `run` sees the batches in order either way.
pub fn for_each_batch(
    files: &[PathBuf],
    opts: &BatchOptions,
    prepare: &(dyn Fn(&crate::image::Rgb8) -> Vec<f32> + Sync),
    run: &mut (dyn FnMut(Vec<f32>, usize) -> Result<()> + Send),
) -> Result<DecodedRun> {
    let mut out = DecodedRun {
        files: Vec::with_capacity(files.len()),
        sha256: Vec::with_capacity(files.len()),
        skipped: Vec::new(),
    };
    let mut bad: Vec<ModelError> = Vec::new();
    // Files of a batch go to `out` or `bad`; the batch's usable pixels come back.
    let mut sort = |batch: &[PathBuf], decoded: Decoded| -> Option<(Vec<f32>, usize)> {
        let mut parts = Vec::with_capacity(batch.len());
        for (p, r) in batch.iter().zip(decoded) {
            match r {
                Ok((x, h)) => {
                    parts.push(x);
                    out.files.push(p.clone());
                    out.sha256.push(h);
                }
                Err(e) if opts.skip_bad => out.skipped.push((p.clone(), e.to_string())),
                Err(e) => bad.push(e),
            }
        }
        (!parts.is_empty() && bad.is_empty()).then(|| (concat_in_parallel(&parts), parts.len()))
    };
    // Decodes batch after batch, handing each batch's usable inputs to `deliver` until it says
    // stop (false) or fails.
    let mut decode_all =
        |deliver: &mut dyn FnMut((Vec<f32>, usize)) -> Result<bool>| -> Result<()> {
            let mut done = 0;
            for batch in files.chunks(opts.batch_size.max(1)) {
                if let Some(inputs) = sort(batch, decode_batch(batch, opts.hash, prepare)) {
                    if !deliver(inputs)? {
                        break;
                    }
                }
                done += batch.len();
                (opts.progress)(done);
            }
            Ok(())
        };
    if opts.overlap {
        std::thread::scope(|s| -> Result<()> {
            let (tx, rx) = std::sync::mpsc::sync_channel::<(Vec<f32>, usize)>(1);
            let network = s.spawn(move || -> Result<()> {
                for (pixels, n) in rx {
                    run(pixels, n)?;
                }
                Ok(())
            });
            // A closed channel means `run` failed: its error comes from the join.
            decode_all(&mut |inputs| Ok(tx.send(inputs).is_ok()))?;
            drop(tx);
            match network.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })?;
    } else {
        decode_all(&mut |(pixels, n)| run(pixels, n).map(|()| true))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` small PNGs whose pixels say which file they are, and the folder holding them.
    fn pngs(n: usize) -> (tempfile::TempDir, Vec<PathBuf>) {
        let dir = tempfile::tempdir().unwrap();
        let files = (0..n)
            .map(|i| {
                let p = dir.path().join(format!("{i:03}.png"));
                image::RgbImage::from_fn(3, 2, |x, y| image::Rgb([i as u8, x as u8, y as u8]))
                    .save(&p)
                    .unwrap();
                p
            })
            .collect();
        (dir, files)
    }

    fn options<'a>(
        batch_size: usize,
        skip_bad: bool,
        overlap: bool,
        progress: &'a (dyn Fn(usize) + Sync),
    ) -> BatchOptions<'a> {
        BatchOptions {
            batch_size,
            skip_bad,
            hash: &|b: &[u8]| b.len().to_string(),
            progress,
            overlap,
        }
    }

    /// The first pixel's red value of each image: the file's number.
    fn first_red(img: &crate::image::Rgb8) -> Vec<f32> {
        vec![img.data[0] as f32, img.width as f32]
    }

    #[test]
    fn overlapped_batches_reach_the_network_in_order() {
        let (_dir, files) = pngs(7);
        for overlap in [false, true] {
            let done = std::sync::Mutex::new(Vec::new());
            let progress = |d: usize| done.lock().unwrap().push(d);
            let opts = options(3, false, overlap, &progress);
            let mut seen = Vec::new();
            let run = for_each_batch(&files, &opts, &first_red, &mut |px, n| {
                assert_eq!(px.len(), 2 * n);
                seen.push(
                    px.iter()
                        .step_by(2)
                        .map(|&v| v as usize)
                        .collect::<Vec<_>>(),
                );
                Ok(())
            })
            .unwrap();
            assert_eq!(
                seen,
                vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]],
                "{overlap}"
            );
            assert_eq!(run.files, files);
            assert_eq!(*done.lock().unwrap(), vec![3, 6, 7]);
        }
    }

    #[test]
    fn bad_files_are_all_listed_and_stop_the_network_in_both_modes() {
        let (dir, mut files) = pngs(6);
        for (i, junk) in [(1, &b"not a png"[..]), (4, &b""[..])] {
            let p = dir.path().join(format!("bad{i}.png"));
            std::fs::write(&p, junk).unwrap();
            files.insert(i, p);
        }
        for overlap in [false, true] {
            let progress = |_: usize| {};
            let mut batches = 0;
            let err = for_each_batch(
                &files,
                &options(2, false, overlap, &progress),
                &first_red,
                &mut |_, _| {
                    batches += 1;
                    Ok(())
                },
            )
            .err()
            .unwrap()
            .to_string();
            // Only the batch before the first bad file ran; both bad files are named.
            assert_eq!(batches, 0, "{overlap}: the first batch holds a bad file");
            assert!(err.contains("2 images cannot be used"), "{err}");
            assert!(
                err.contains("bad1.png") && err.contains("bad4.png"),
                "{err}"
            );

            let mut rows = 0;
            let run = for_each_batch(
                &files,
                &options(2, true, overlap, &progress),
                &first_red,
                &mut |_, n| {
                    rows += n;
                    Ok(())
                },
            )
            .unwrap();
            assert_eq!((rows, run.files.len(), run.skipped.len()), (6, 6, 2));
        }
    }

    #[test]
    fn a_network_error_ends_an_overlapped_run() {
        let (_dir, files) = pngs(9);
        let progress = |_: usize| {};
        let mut calls = 0;
        let err = for_each_batch(
            &files,
            &options(2, false, true, &progress),
            &first_red,
            &mut |_, _| {
                calls += 1;
                if calls == 2 {
                    return Err(ModelError::Input("the network broke".into()));
                }
                Ok(())
            },
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("the network broke"), "{err}");
        assert_eq!(calls, 2);
    }
}
