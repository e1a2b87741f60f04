//! `assay bench text`: time corpus BLEU, chrF and ROUGE-L/Lsum on a synthetic corpus.
//! (Speed is measured here and in `cargo bench`, never asserted in tests.)

use crate::args::Common;
use crate::commands::text::stats_of;
use crate::error::{CliError, CliResult};
use crate::input::Segments;
use crate::output::{write_atomic, ResultRow, ResultsDoc};
use assay_metrics::text::bleu::{Bleu, BleuConfig};
use assay_metrics::text::chrf::{Chrf, ChrfConfig};
use assay_metrics::text::rouge::{Rouge, RougeConfig, RougeType};
use assay_metrics::text::SegmentMetric;
use assay_provenance::InputRecord;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::path::Path;
use std::time::Instant;

const WORDS: &[&str] = &[
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "model",
    "data",
    "results",
    "system",
    "evaluation",
    "score",
    "translation",
    "summary",
    "sentence",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "running",
    "generalization",
    "relational",
    "happiness",
    "studies",
    "connections",
    "hopeful",
    "2,000",
    "12.5%",
    "U.S.",
    "state-of-the-art",
    "e-mail",
    "café",
    "naïve",
    "(see",
    "below)",
    ",",
    ".",
    "!",
    "?",
    "\"",
    "release",
    "gate",
    "report",
    "watermark",
    "audit",
    "metrics",
];

/// A seeded corpus of `n` segment pairs: references of 5-45 words, hypotheses that drop,
/// replace and swap some of them.
pub fn synthetic_corpus(n: usize, seed: u64) -> (Vec<String>, Vec<String>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut hyps = Vec::with_capacity(n);
    let mut refs = Vec::with_capacity(n);
    for _ in 0..n {
        let len = rng.random_range(5..45);
        let r: Vec<&str> = (0..len)
            .map(|_| *WORDS.choose(&mut rng).expect("non-empty"))
            .collect();
        let mut h: Vec<&str> = Vec::with_capacity(r.len());
        for w in &r {
            if rng.random::<f64>() < 0.1 {
                continue; // dropped
            }
            h.push(if rng.random::<f64>() < 0.15 {
                WORDS.choose(&mut rng).expect("non-empty")
            } else {
                w
            });
        }
        if h.len() > 3 {
            let i = rng.random_range(0..h.len() - 1);
            h.swap(i, i + 1);
        }
        refs.push(r.join(" "));
        hyps.push(h.join(" "));
    }
    (hyps, refs)
}

fn seg(label: &str, lines: Vec<String>) -> Segments {
    Segments {
        label: label.to_string(),
        record: InputRecord {
            path: label.to_string(),
            sha256: String::new(),
        },
        lines,
    }
}

pub fn text(
    segments: usize,
    write_corpus: Option<&Path>,
    seed: u64,
    common: &Common,
) -> CliResult<ResultsDoc> {
    if segments == 0 {
        return Err(CliError::Usage("--segments must be at least 1".into()));
    }
    let started = Instant::now();
    let (hyps, refs) = synthetic_corpus(segments, seed);
    if let Some(dir) = write_corpus {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::Input(format!("{}: {e}", dir.display())))?;
        write_atomic(
            &dir.join("hyp.txt"),
            (hyps.join("\n") + "\n").as_bytes(),
            &[],
        )?;
        write_atomic(
            &dir.join("ref.txt"),
            (refs.join("\n") + "\n").as_bytes(),
            &[],
        )?;
    }
    let hyp = seg("synthetic:hyp", hyps);
    let rf = vec![seg("synthetic:ref", refs)];
    let mut doc = ResultsDoc::new("bench text", started);
    doc.seed = Some(seed);
    let metrics: Vec<(&str, Box<dyn SegmentMetric>)> = vec![
        ("bleu", Box::new(Bleu::new(BleuConfig::default())?)),
        ("chrf", Box::new(Chrf::new(ChrfConfig::default())?)),
        (
            "rougeL+rougeLsum",
            Box::new(Rouge::new(RougeConfig {
                types: vec![RougeType::L, RougeType::Lsum],
                ..Default::default()
            })?),
        ),
    ];
    for (name, m) in metrics {
        let t = Instant::now();
        let st = stats_of(m.as_ref(), &hyp, &rf, common.quiet, name)?;
        let values = m.values(&st.totals(), st.len());
        let secs = t.elapsed().as_secs_f64();
        doc.results.push(ResultRow {
            metric: format!("bench.{name}.seconds"),
            value: secs,
            ci_low: None,
            ci_high: None,
            n: segments,
            details: json!({
                "segments_per_s": segments as f64 / secs, "scores": values, "threads": rayon::current_num_threads(),
                "note": format!("{:.0} segments/s", segments as f64 / secs),
            }),
        });
    }
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}

/// Seeded standard-normal-ish f32 features (a sum of uniforms: cheap and smooth enough), f32
/// as feature extractors write them.
fn random_features(
    rows: usize,
    dim: usize,
    seed: u64,
    shift: f32,
) -> assay_metrics::distribution::Features {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let data = (0..rows * dim)
        .map(|_| shift + (0..4).map(|_| rng.random::<f32>()).sum::<f32>() - 2.0)
        .collect();
    assay_metrics::distribution::Features::from_f32(rows, dim, data).expect("finite")
}

/// `assay bench features`: stats accumulation, FD from stats, and PRDC on synthetic features.
pub fn features(
    dim: usize,
    stats_rows: usize,
    prdc_rows: usize,
    seed: u64,
    device: &str,
) -> CliResult<ResultsDoc> {
    use assay_metrics::distribution::device::{device_name, parse_device};
    use assay_metrics::distribution::frechet::frechet_distance_of;
    use assay_metrics::distribution::gaussian::GaussianStats;
    use assay_metrics::distribution::prdc::{prdc_on, PrdcConfig};
    let device = parse_device(device).map_err(|e| CliError::Usage(e.to_string()))?;
    let internal = |e: assay_metrics::MetricError| CliError::Internal(e.to_string());
    let started = Instant::now();
    let mut doc = ResultsDoc::new("bench features", started);
    doc.seed = Some(seed);
    doc.device = device_name(&device);
    let mut row = |metric: &str, secs: f64, n: usize, details: serde_json::Value| {
        doc.results.push(ResultRow {
            metric: metric.into(),
            value: secs,
            ci_low: None,
            ci_high: None,
            n,
            details,
        });
    };
    // Stats accumulation, batch by batch as a feature extractor would deliver them.
    let batch = 4096.min(stats_rows.max(1));
    let feats = random_features(batch, dim, seed, 0.0);
    let t = Instant::now();
    let mut acc = GaussianStats::new(dim);
    let mut done = 0;
    while done < stats_rows {
        acc.update_on(&feats, &device).map_err(internal)?;
        done += batch;
    }
    let secs = t.elapsed().as_secs_f64();
    let gb = (done * dim * 4) as f64 / 1e9;
    // Σ(x-μ)(x-μ)ᵀ in f64 is n·d² multiply-adds: compute-bound on a CPU, far from bandwidth.
    let gflop = 2.0 * done as f64 * (dim * dim) as f64 / 1e9;
    row(
        "bench.stats.seconds",
        secs,
        done,
        json!({"dim": dim, "gb_per_s": gb / secs, "gflop_per_s": gflop / secs,
               "note": format!("{:.2} GB/s of f32 features, {:.0} GFLOP/s (f64 XᵀX)", gb / secs, gflop / secs)}),
    );
    // FD from two stats.
    let a = GaussianStats::of_on(&random_features(dim + 100, dim, seed + 1, 0.0), &device)
        .map_err(internal)?;
    let b = GaussianStats::of_on(&random_features(dim + 100, dim, seed + 2, 0.1), &device)
        .map_err(internal)?;
    let t = Instant::now();
    let fd = frechet_distance_of(&a, &b).map_err(internal)?;
    row(
        "bench.fd.seconds",
        t.elapsed().as_secs_f64(),
        1,
        json!({"dim": dim, "fd": fd.value, "route": fd.route, "backend": fd.backend}),
    );
    // PRDC.
    let r = random_features(prdc_rows, dim, seed + 3, 0.0);
    let f = random_features(prdc_rows, dim, seed + 4, 0.1);
    let t = Instant::now();
    let p = prdc_on(&r, &f, &PrdcConfig::default(), &device).map_err(internal)?;
    row(
        "bench.prdc.seconds",
        t.elapsed().as_secs_f64(),
        prdc_rows,
        json!({"dim": dim, "precision": p.precision, "recall": p.recall, "density": p.density, "coverage": p.coverage}),
    );
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}
