//! `assay image fid|kid|is|prdc|all|stats`: the FID Inception turns folders of images into
//! features, then the feature commands' metrics run on them. Either side may instead be a
//! feature or stats file, as `assay features` reads them (e.g. published pytorch-fid stats).

use crate::args::{ImageFlags, ImagePair, KidFlags, PrdcFlags};
use crate::commands::features::{
    push_fd, push_is, push_kid, push_prdc, stats_written, Run, Shuffle,
};
use crate::error::{CliError, CliResult};
use crate::features_input::{read_features, stats_npz, FeatureData, FeatureInput};
use crate::output::{write_atomic, ResultRow, ResultsDoc};
use crate::progress;
use assay_metrics::distribution::device::{device_name, parse_device, Device};
use assay_metrics::distribution::gaussian::GaussianStats;
use assay_metrics::distribution::inception_score::ScoreInput;
use assay_metrics::distribution::Features;
use assay_models::extract::{extract_files, list_images, BatchOptions};
use assay_models::image::ResizeMode;
use assay_models::inception::{load_weight_map, Block, FidInception};
use assay_models::weights::{resolve, FID_INCEPTION};
use assay_provenance::InputRecord;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A folder's record: sha256 of the `sha256sum`-style listing (hash, two spaces, file name,
/// newline; in the order given) of the images a result used.
pub(crate) fn folder_record(dir: &Path, files: &[PathBuf], sha256: &[String]) -> InputRecord {
    let listing: String = files
        .iter()
        .zip(sha256)
        .map(|(p, h)| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default();
            format!("{h}  {name}\n")
        })
        .collect();
    InputRecord::of_bytes(dir.display().to_string(), listing.as_bytes())
}

/// The threads that decode and resize images (`--workers`; all cores by default).
pub(crate) fn worker_pool(workers: Option<usize>) -> CliResult<rayon::ThreadPool> {
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(w) = workers {
        pool = pool.num_threads(w.max(1));
    }
    pool.build()
        .map_err(|e| CliError::Internal(format!("thread pool: {e}")))
}

/// The network and how images reach it, built once per command.
pub struct Extractor {
    net: FidInception,
    weights: InputRecord,
    mode: ResizeMode,
    block: Block,
    dims: usize,
    batch_size: usize,
    skip_bad: bool,
    quiet: bool,
    pool: rayon::ThreadPool,
}

/// One side of a comparison: features (from images or a file), and the logits when it came
/// from images.
pub struct Side {
    pub input: FeatureInput,
    pub logits: Option<Features>,
    /// Images used and left out, for the `images` row.
    pub images: Option<(usize, Vec<(PathBuf, String)>)>,
}

pub(crate) fn device_of(flag: &str) -> CliResult<Device> {
    match flag {
        "auto" => Ok(if candle_core::utils::cuda_is_available() {
            parse_device("cuda").map_err(|e| CliError::Usage(e.to_string()))?
        } else {
            Device::Cpu
        }),
        "metal" => Err(CliError::Usage(
            "--device metal: this build has no Metal support (cpu, cuda, auto)".into(),
        )),
        other => parse_device(other).map_err(|e| CliError::Usage(e.to_string())),
    }
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Default images per batch on the CPU: the per-layer tensors of 8 images stay small enough
/// for the allocator to reuse, where 50 images' go back to the system and are faulted in and
/// zeroed again each layer (measured with `tests/parity/bench_images.py`'s files, 100 images,
/// four interleaved pairs of runs: 18.3 s at 50, 15.8 s at 8, each pair faster at 8; peak
/// memory 1.1 GB at 50, 0.65 GB at 8).
const CPU_BATCH_SIZE: usize = 8;
/// Default on a GPU: pytorch-fid's 50, or 200 through cuDNN, whose per-call costs a batch of
/// 50 does not cover (on an H200, 10,000 PNGs end to end: 767 images/s at 50, 893 at 200; the
/// network alone 834 and 1,167). Without cuDNN a larger batch gained nothing (624 and 637
/// images/s, network alone) for four times the memory of candle's im2col.
const GPU_BATCH_SIZE: usize = if cfg!(feature = "cudnn") { 200 } else { 50 };

impl Extractor {
    pub fn new(f: &ImageFlags, quiet: bool) -> CliResult<Extractor> {
        let mode = ResizeMode::parse(&f.resize).ok_or_else(|| {
            CliError::Usage(format!(
                "--resize {}: use pytorch-fid, clean or tf1",
                f.resize
            ))
        })?;
        let block = Block::from_dims(f.dims).ok_or_else(|| {
            CliError::Usage(format!("--dims {}: use 64, 192, 768 or 2048", f.dims))
        })?;
        let device = device_of(&f.device)?;
        let batch_size = f.batch_size.unwrap_or(if device.is_cpu() {
            CPU_BATCH_SIZE
        } else {
            GPU_BATCH_SIZE
        });
        if batch_size == 0 {
            return Err(CliError::Usage("--batch-size must be at least 1".into()));
        }
        let path = resolve(&FID_INCEPTION, f.weights.as_deref())?;
        let cannot =
            |e: std::io::Error| CliError::Input(format!("{}: cannot read: {e}", path.display()));
        let file = std::fs::File::open(&path).map_err(cannot)?;
        // Mapped, not copied: the reference weights are 95 MB and are read again to load.
        // SAFETY: read-only map, dropped before loading; a file changed meanwhile is the only hazard.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(cannot)?;
        let weights = InputRecord::of_bytes(path.display().to_string(), &map);
        drop(map);
        let map = load_weight_map(&path)?;
        let net = FidInception::from_weights(&map, &device)?;
        Ok(Extractor {
            net,
            weights,
            mode,
            block,
            dims: f.dims,
            batch_size,
            skip_bad: f.skip_bad,
            quiet,
            pool: worker_pool(f.workers)?,
        })
    }

    pub fn device(&self) -> &Device {
        &self.net.device
    }

    /// A folder through the network, or a feature/stats file read as `assay features` does.
    pub fn side(&self, spec: &str, what: &str) -> CliResult<Side> {
        let dir = Path::new(spec);
        if !dir.is_dir() {
            return Ok(Side {
                input: read_features(spec)?,
                logits: None,
                images: None,
            });
        }
        let files = list_images(dir)?;
        let pb = progress::bar(files.len() as u64, what, self.quiet);
        let progress = |done: usize| pb.set_position(done as u64);
        let opts = BatchOptions {
            batch_size: self.batch_size,
            skip_bad: self.skip_bad,
            hash: &sha256_hex,
            progress: &progress,
            // On a GPU, decode the next batch while the network runs (see `for_each_batch`);
            // on the CPU both would share the same cores.
            overlap: !self.net.device.is_cpu(),
        };
        let out = self
            .pool
            .install(|| extract_files(&self.net, &files, self.mode, self.block, &opts))?;
        pb.finish_and_clear();
        let record = folder_record(dir, &out.files, &out.sha256);
        let rows = out.files.len();
        let features = Features::from_f32(rows, out.dim, out.features)
            .map_err(|e| CliError::Internal(format!("{spec}: {e}")))?;
        let logits = Features::from_f32(rows, out.classes, out.logits)
            .map_err(|e| CliError::Internal(format!("{spec}: {e}")))?;
        Ok(Side {
            input: FeatureInput {
                label: spec.to_string(),
                data: FeatureData::Features(features),
                record,
            },
            logits: Some(logits),
            images: Some((rows, out.skipped)),
        })
    }

    /// The results document with the weights and both sides recorded, and one `images` row per
    /// folder (how many images, which were left out and why, how they were preprocessed).
    fn doc(&self, command: &str, started: Instant, sides: &[(&str, &Side)]) -> ResultsDoc {
        let mut doc = ResultsDoc::new(command, started);
        doc.add_input(&self.weights);
        doc.device = device_name(self.device());
        for (what, s) in sides {
            doc.add_input(&s.input.record);
            if let Some((used, skipped)) = &s.images {
                let listed: Vec<_> = skipped
                    .iter()
                    .map(|(p, why)| json!({"path": p.display().to_string(), "error": why}))
                    .collect();
                let mut note = format!(
                    "{used} images through the FID Inception ({} resize)",
                    self.mode.name()
                );
                if !skipped.is_empty() {
                    note.push_str(&format!(", {} skipped", skipped.len()));
                }
                doc.results.push(ResultRow {
                    metric: format!("images.{what}"),
                    value: *used as f64,
                    ci_low: None,
                    ci_high: None,
                    n: *used,
                    details: json!({"folder": s.input.label, "resize": self.mode.name(), "dims": self.dims,
                                     "batch_size": self.batch_size, "skipped": listed, "skipped_count": skipped.len(),
                                     "record": "sha256 of the sorted `sha256  name` listing of the images used",
                                     "note": note}),
                });
            }
        }
        doc
    }
}

/// Write the features (and logits) of the sides that came from images, for later reuse with
/// `assay features ... FILE.safetensors:NAME`.
fn save_features(path: &Path, sides: &[(&str, &Side)], inputs: &[InputRecord]) -> CliResult<()> {
    let mut tensors: BTreeMap<String, (Vec<usize>, Vec<u8>)> = BTreeMap::new();
    for (name, s) in sides {
        if let (FeatureData::Features(f), Some(l)) = (&s.input.data, &s.logits) {
            for (key, m) in [(name.to_string(), f), (format!("{name}_logits"), l)] {
                let v = m.as_f32().unwrap_or_default();
                let bytes = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                tensors.insert(key, (vec![m.rows, m.dim], bytes));
            }
        }
    }
    if tensors.is_empty() {
        return Err(CliError::Usage(
            "--save-features: no side is a folder of images".into(),
        ));
    }
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(k, (shape, bytes))| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                .map(|v| (k.clone(), v))
                .map_err(|e| CliError::Internal(format!("safetensors: {e}")))
        })
        .collect::<CliResult<_>>()?;
    let bytes = safetensors::serialize(views, None)
        .map_err(|e| CliError::Internal(format!("safetensors: {e}")))?;
    write_atomic(path, &bytes, inputs)
}

fn finish(
    mut doc: ResultsDoc,
    f: &ImageFlags,
    sides: &[(&str, &Side)],
    started: Instant,
) -> CliResult<ResultsDoc> {
    if let Some(p) = &f.save_features {
        save_features(p, sides, &doc.inputs)?;
    }
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}

fn run_of(ex: &Extractor, bootstrap: usize, seed: u64, quiet: bool) -> Run {
    Run {
        bootstrap,
        seed,
        quiet,
        device: ex.device().clone(),
    }
}

fn pair(ex: &Extractor, p: &ImagePair) -> CliResult<(Side, Side)> {
    let real = ex.side(&p.real, "real")?;
    let fake = ex.side(&p.fake, "fake")?;
    if real.input.dim() != fake.input.dim() {
        return Err(CliError::Input(format!(
            "{} has {}-dimensional features but {} has {} (same --dims and weights on both sides?)",
            real.input.label,
            real.input.dim(),
            fake.input.label,
            fake.input.dim()
        )));
    }
    Ok((real, fake))
}

pub enum Which<'a> {
    Fid,
    Kid(&'a KidFlags),
    Prdc(&'a PrdcFlags),
    All(&'a KidFlags, &'a PrdcFlags),
}

/// fid, kid, prdc and all: two sides, then the feature metrics.
pub fn compare(
    which: Which,
    p: &ImagePair,
    f: &ImageFlags,
    bootstrap: usize,
    seed: u64,
    quiet: bool,
) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    let ex = Extractor::new(f, quiet)?;
    let (real, fake) = pair(&ex, p)?;
    let run = run_of(&ex, bootstrap, seed, quiet);
    let name = match which {
        Which::Fid => "image fid",
        Which::Kid(_) => "image kid",
        Which::Prdc(_) => "image prdc",
        Which::All(..) => "image all",
    };
    let sides = [("real", &real), ("fake", &fake)];
    let mut doc = ex.doc(name, started, &sides);
    let both = |what: &str| -> CliResult<(&Features, &Features)> {
        Ok((real.input.features(what)?, fake.input.features(what)?))
    };
    match which {
        Which::Fid => push_fd(&mut doc, &real.input, &fake.input, &run)?,
        Which::Kid(k) => {
            let (a, b) = both("KID")?;
            push_kid(&mut doc, a, b, k, &run)?
        }
        Which::Prdc(pf) => {
            let (a, b) = both("PRDC")?;
            push_prdc(&mut doc, a, b, pf, &run)?
        }
        Which::All(k, pf) => {
            push_fd(&mut doc, &real.input, &fake.input, &run)?;
            if let (FeatureData::Features(a), FeatureData::Features(b)) =
                (&real.input.data, &fake.input.data)
            {
                let small = a.rows.min(b.rows) < k.subset_size && k.subset_indices.is_none();
                let kid = KidFlags {
                    whole_set: k.whole_set || small,
                    ..k.clone()
                };
                push_kid(&mut doc, a, b, &kid, &run)?;
                push_prdc(&mut doc, a, b, pf, &run)?;
            }
            if let Some(l) = &fake.logits {
                push_is(
                    &mut doc,
                    l,
                    &fake.input.label,
                    ScoreInput::Logits,
                    10,
                    Shuffle::None,
                )?;
            }
        }
    }
    finish(doc, f, &sides, started)
}

pub fn is(
    dir: &Path,
    f: &ImageFlags,
    splits: usize,
    shuffle: Shuffle,
    quiet: bool,
) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    let ex = Extractor::new(f, quiet)?;
    let spec = dir.display().to_string();
    if !dir.is_dir() {
        return Err(CliError::Input(format!(
            "{spec}: not a folder of images (for logits files use `assay features is`)"
        )));
    }
    let side = ex.side(&spec, "images")?;
    let sides = [("images", &side)];
    let mut doc = ex.doc("image is", started, &sides);
    let logits = side.logits.as_ref().expect("a folder has logits");
    push_is(&mut doc, logits, &spec, ScoreInput::Logits, splits, shuffle)?;
    finish(doc, f, &sides, started)
}

pub fn stats(dir: &Path, out: &Path, f: &ImageFlags, quiet: bool) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    let ex = Extractor::new(f, quiet)?;
    let spec = dir.display().to_string();
    if !dir.is_dir() {
        return Err(CliError::Input(format!("{spec}: not a folder of images")));
    }
    let side = ex.side(&spec, "images")?;
    let sides = [("images", &side)];
    let mut doc = ex.doc("image stats", started, &sides);
    let feats = side.input.features("stats")?;
    let g = GaussianStats::of_on(feats, ex.device())
        .map_err(|e| CliError::Input(format!("{spec}: {e}")))?;
    let bytes = stats_npz(&g)?;
    write_atomic(out, &bytes, &doc.inputs)?;
    doc.results.push(stats_written(&g, out));
    finish(doc, f, &sides, started)
}
