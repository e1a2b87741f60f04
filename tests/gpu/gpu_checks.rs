//! The library calls behind `assay features`, `assay image stats` and `assay text perplexity`,
//! timed on a chosen device, for the GPU checks (tests/gpu/device_checks.sh).
//!
//! Why not the `assay` binary itself: a device call carries the working tree and its build in
//! 64 MiB, the tree is 44 MB, and `assay` compresses to 51 MB (its bundled reference models and
//! tabular, signing and plotting libraries); this program holds only the metrics, the networks
//! and candle's CUDA kernels. Each subcommand prints one JSON document.
//!
//!     cargo run --release --features cuda --example gpu_checks -- features --device cuda

use assay_metrics::distribution::device::{device_name, parse_device};
use assay_metrics::distribution::frechet::frechet_distance_of;
use assay_metrics::distribution::gaussian::GaussianStats;
use assay_metrics::distribution::kid::{kid_on, KidConfig};
use assay_metrics::distribution::prdc::{prdc_on, PrdcConfig};
use assay_metrics::distribution::Features;
use assay_models::extract::{extract_files, list_images, BatchOptions};
use assay_models::image::ResizeMode;
use assay_models::inception::{load_weight_map, Block, FidInception};
use assay_models::lm::{LogProbScorer, ScoreOptions};
use candle_core::{DType, Device, Tensor};
use clap::{Parser, Subcommand};
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    check: Check,
    /// cpu, cuda or cuda:N.
    #[arg(long, global = true, default_value = "cpu")]
    device: String,
}

#[derive(Subcommand)]
enum Check {
    /// FD (moments on the device), KID and PRDC of two seeded sets of ReLU'd Gaussian features.
    Features {
        #[arg(long, default_value_t = 10_000)]
        n: usize,
        #[arg(long, default_value_t = 2048)]
        dim: usize,
    },
    /// Pool3 features of a folder through the FID Inception (pytorch-fid resize).
    Images {
        dir: PathBuf,
        #[arg(long)]
        weights: PathBuf,
        #[arg(long, default_value_t = 50)]
        batch_size: usize,
        /// Decoding threads (default: all cores).
        #[arg(long)]
        workers: Option<usize>,
        /// Write the features here (a safetensors tensor `images`).
        #[arg(long)]
        save: Option<PathBuf>,
    },
    /// What bounds `images`: the network alone on device-resident random batches (FP32 and
    /// TF32 GEMMs), decoding alone, the batch upload, and single layers against a plain GEMM
    /// of their size.
    Profile {
        dir: PathBuf,
        #[arg(long)]
        weights: PathBuf,
        #[arg(long, default_value = "50,200")]
        batch_sizes: String,
    },
    /// Corpus perplexity of a text file (one text per line) under a GPT-2 folder.
    Lm {
        model: PathBuf,
        texts: PathBuf,
        #[arg(long, default_value = "f32")]
        dtype: String,
        #[arg(long, default_value_t = 8)]
        batch_size: usize,
        #[arg(long, default_value_t = 1024)]
        max_length: usize,
    },
}

// As the `assay` binary: its allocator, and FP32 on the GPU unless the caller set the override.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn seconds(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

fn relu_gaussian(n: usize, dim: usize, shift: f64, seed: u64) -> Result<Features> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    // Box–Muller: a standard normal from two uniforms.
    let mut normal = move || {
        let (u, v): (f64, f64) = (1.0 - rng.random::<f64>(), rng.random());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    };
    let data = (0..n * dim)
        .map(|_| (normal() + shift).max(0.0) as f32)
        .collect();
    Ok(Features::from_f32(n, dim, data)?)
}

fn features(n: usize, dim: usize, device: &Device) -> Result<serde_json::Value> {
    let (real, fake) = (
        relu_gaussian(n, dim, 0.0, 1)?,
        relu_gaussian(n, dim, 0.05, 2)?,
    );
    let t = Instant::now();
    let (a, b) = (
        GaussianStats::of_on(&real, device)?,
        GaussianStats::of_on(&fake, device)?,
    );
    let moments_s = seconds(t);
    let t = Instant::now();
    let fd = frechet_distance_of(&a, &b)?;
    let fd_s = seconds(t);
    let t = Instant::now();
    let kid = kid_on(&real, &fake, &KidConfig::default(), device)?;
    let kid_s = seconds(t);
    // Again, with the device's kernels loaded: the first call pays their load.
    let t = Instant::now();
    kid_on(&real, &fake, &KidConfig::default(), device)?;
    let kid_again_s = seconds(t);
    let t = Instant::now();
    let prdc = prdc_on(&real, &fake, &PrdcConfig::default(), device)?;
    let prdc_s = seconds(t);
    Ok(json!({
        "n": n, "dim": dim,
        "values": {"fd": fd.value, "kid": kid.mean, "precision": prdc.precision,
                   "recall": prdc.recall, "density": prdc.density, "coverage": prdc.coverage},
        "seconds": {"moments": moments_s, "fd_from_moments": fd_s, "kid": kid_s, "kid_again": kid_again_s,
                    "prdc": prdc_s},
    }))
}

fn images(
    dir: &std::path::Path,
    weights: &std::path::Path,
    batch_size: usize,
    workers: Option<usize>,
    save: Option<&std::path::Path>,
    device: &Device,
) -> Result<serde_json::Value> {
    let t = Instant::now();
    let net = FidInception::from_weights(&load_weight_map(weights)?, device)?;
    let load_s = seconds(t);
    let files = list_images(dir)?;
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(w) = workers {
        pool = pool.num_threads(w);
    }
    let pool = pool.build()?;
    let hash = |b: &[u8]| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b));
    let opts = BatchOptions {
        batch_size,
        skip_bad: false,
        hash: &hash,
        progress: &|_| {},
        overlap: !device.is_cpu(),
    };
    let t = Instant::now();
    let out =
        pool.install(|| extract_files(&net, &files, ResizeMode::PytorchFid, Block::Pool3, &opts))?;
    let run_s = seconds(t);
    let rows = out.files.len();
    if let Some(path) = save {
        let f = Tensor::from_vec(out.features, (rows, out.dim), &Device::Cpu)?;
        candle_core::safetensors::save(&std::collections::HashMap::from([("images", f)]), path)?;
    }
    Ok(json!({
        "images": rows, "load_s": load_s, "seconds": run_s, "images_per_s": rows as f64 / run_s,
        "batch_size": batch_size, "workers": pool.current_num_threads(),
    }))
}

/// Seconds per call of `f`, the mean of `reps` after two warm-ups; `f` returns once the
/// device has finished (it reads a result back or synchronizes).
fn per_call(reps: usize, f: &mut dyn FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    f()?;
    let t = Instant::now();
    for _ in 0..reps {
        f()?;
    }
    Ok(seconds(t) / reps as f64)
}

fn profile(
    dir: &std::path::Path,
    weights: &std::path::Path,
    batch_sizes: &str,
    device: &Device,
) -> Result<serde_json::Value> {
    use assay_models::extract::for_each_batch;
    use assay_models::image::preprocess;
    let net = FidInception::from_weights(&load_weight_map(weights)?, device)?;
    let size = assay_models::inception::INPUT_SIZE;
    let mut network = Vec::new();
    for bs in batch_sizes.split(',') {
        let bs: usize = bs.parse()?;
        let x = Tensor::randn(0f32, 1.0, (bs, 3, size, size), device)?;
        let mut rates = serde_json::Map::new();
        // 1x1 layers through candle's convolution (cuDNN) instead of batched GEMMs.
        assay_models::inception::set_pointwise_as_gemm(false);
        let s = per_call(5, &mut || {
            net.forward(&x)?;
            Ok(())
        })?;
        assay_models::inception::set_pointwise_as_gemm(true);
        rates.insert("fp32_conv_1x1_images_per_s".into(), json!(bs as f64 / s));
        let mut pool3 = Vec::new();
        for tf32 in [false, true] {
            candle_core::cuda::set_gemm_reduced_precision_f32(tf32);
            let s = per_call(5, &mut || {
                net.forward(&x)?;
                Ok(())
            })?;
            rates.insert(
                format!("{}_images_per_s", if tf32 { "tf32" } else { "fp32" }),
                json!(bs as f64 / s),
            );
            pool3.push(net.forward(&x)?.pool3.flatten_all()?.to_vec1::<f32>()?);
        }
        candle_core::cuda::set_gemm_reduced_precision_f32(false);
        let scale = pool3[0].iter().fold(0f32, |m, v| m.max(v.abs()));
        let diff = pool3[0]
            .iter()
            .zip(&pool3[1])
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        rates.insert("tf32_pool3_max_rel_diff".into(), json!(diff / scale));
        let host = Tensor::from_vec(
            vec![0.5f32; bs * 3 * size * size],
            (bs, 3, size, size),
            &Device::Cpu,
        )?;
        let upload = per_call(5, &mut || {
            let t = host.to_device(device)?;
            device.synchronize()?;
            drop(t);
            Ok(())
        })?;
        rates.insert("upload_images_per_s".into(), json!(bs as f64 / upload));
        rates.insert("batch_size".into(), json!(bs));
        network.push(serde_json::Value::Object(rates));
    }
    // Decoding alone, as `images` does it (read, hash, decode, resize), on all cores.
    let files = list_images(dir)?;
    let hash = |b: &[u8]| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b));
    let opts = BatchOptions {
        batch_size: 50,
        skip_bad: false,
        hash: &hash,
        progress: &|_| {},
        overlap: false,
    };
    let t = Instant::now();
    for_each_batch(
        &files,
        &opts,
        &|img| preprocess(img, ResizeMode::PytorchFid, size),
        &mut |_, _| Ok(()),
    )?;
    let decode = files.len() as f64 / seconds(t);
    // Single layers against a plain GEMM of their multiply-adds: (n, cin, h, w), (cout, k, stride, pad).
    let mut layers = Vec::new();
    for &(cin, h, cout, k, stride, pad) in &[
        (32usize, 147usize, 64usize, 3usize, 1usize, 1usize),
        (288, 35, 64, 1, 1, 0),
        (768, 17, 192, 1, 1, 0),
        (192, 71, 192, 3, 2, 0),
    ] {
        let n = 50;
        let x = Tensor::randn(0f32, 1.0, (n, cin, h, h), device)?;
        let w = Tensor::randn(0f32, 1.0, (cout, cin, k, k), device)?;
        let oh = (h + 2 * pad - k) / stride + 1;
        let flop = 2.0 * (n * oh * oh * cout * cin * k * k) as f64;
        let conv = per_call(5, &mut || {
            let y = x.conv2d(&w, pad, stride, 1, 1)?;
            device.synchronize()?;
            drop(y);
            Ok(())
        })?;
        let a = Tensor::randn(0f32, 1.0, (n * oh * oh, cin * k * k), device)?;
        let b = Tensor::randn(0f32, 1.0, (cin * k * k, cout), device)?;
        let gemm = per_call(5, &mut || {
            let y = a.matmul(&b)?;
            device.synchronize()?;
            drop(y);
            Ok(())
        })?;
        layers.push(
            json!({"cin": cin, "h": h, "cout": cout, "k": k, "stride": stride,
            "conv_tflops": flop / conv / 1e12, "gemm_tflops": flop / gemm / 1e12,
            "conv_ms": conv * 1e3}),
        );
    }
    let x = Tensor::randn(0f32, 1.0, (50, 288, 35, 35), device)?;
    let pool = per_call(5, &mut || {
        let y = assay_models::inception::avg_pool_3x3_exclude_pad(&x)?;
        device.synchronize()?;
        drop(y);
        Ok(())
    })?;
    Ok(json!({"network": network, "decode_images_per_s": decode,
        "decode_threads": rayon::current_num_threads(), "layers": layers,
        "avg_pool_50x288x35x35_ms": pool * 1e3}))
}

fn lm(
    model: &std::path::Path,
    texts: &std::path::Path,
    dtype: &str,
    batch_size: usize,
    max_length: usize,
    device: &Device,
) -> Result<serde_json::Value> {
    let dtype = match dtype {
        "f32" => DType::F32,
        "bf16" => DType::BF16,
        "f16" => DType::F16,
        other => return Err(format!("--dtype {other}: f32, bf16 or f16").into()),
    };
    let t = Instant::now();
    let scorer = LogProbScorer::load(model, device, dtype)?;
    let load_s = seconds(t);
    let opts = ScoreOptions {
        add_bos: true,
        max_length,
        stride: max_length / 2,
        batch_size,
    };
    let text = std::fs::read_to_string(texts)?;
    let seqs = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| scorer.ids_for(l, &opts))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let t = Instant::now();
    let scored = scorer.score_ids(&seqs, &opts, &|_, _| {})?;
    let run_s = seconds(t);
    let tokens: usize = scored.iter().map(|s| s.tokens.len()).sum();
    let nll: f64 = scored.iter().map(|s| s.nll()).sum();
    Ok(json!({
        "texts": seqs.len(), "tokens": tokens, "perplexity": (nll / tokens as f64).exp(),
        "load_s": load_s, "seconds": run_s, "tokens_per_s": tokens as f64 / run_s,
        "dtype": format!("{dtype:?}"), "batch_size": batch_size,
    }))
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if std::env::var_os("NVIDIA_TF32_OVERRIDE").is_none() {
        std::env::set_var("NVIDIA_TF32_OVERRIDE", "0");
    }
    let device = parse_device(&cli.device)?;
    let mut doc = match &cli.check {
        Check::Features { n, dim } => features(*n, *dim, &device)?,
        Check::Images {
            dir,
            weights,
            batch_size,
            workers,
            save,
        } => images(
            dir,
            weights,
            *batch_size,
            *workers,
            save.as_deref(),
            &device,
        )?,
        Check::Profile {
            dir,
            weights,
            batch_sizes,
        } => profile(dir, weights, batch_sizes, &device)?,
        Check::Lm {
            model,
            texts,
            dtype,
            batch_size,
            max_length,
        } => lm(model, texts, dtype, *batch_size, *max_length, &device)?,
    };
    doc["device"] = json!(device_name(&device));
    println!("{doc}");
    Ok(())
}
