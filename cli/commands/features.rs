//! `assay features fd|kid|is|prdc|all|stats` and `assay stats merge`: distribution metrics
//! on features a user already has.

use crate::args::{Common, DeviceFlag, FeaturePair, KidFlags, PrdcFlags, ShuffleFlags};
use crate::error::{CliError, CliResult};
use crate::features_input::{read_features, read_subsets, stats_npz, FeatureData, FeatureInput};
use crate::output::{write_atomic, ResultRow, ResultsDoc};
use crate::progress;
use assay_metrics::distribution::bootstrap::bootstrap_rows;
use assay_metrics::distribution::device::{device_name, parse_device, Device};
use assay_metrics::distribution::frechet::{
    frechet_distance, frechet_distance_of, FrechetDistance,
};
use assay_metrics::distribution::gaussian::GaussianStats;
use assay_metrics::distribution::inception_score::{inception_score, ScoreInput};
use assay_metrics::distribution::kid::{kid_on, kid_with_subsets_on, Kernel, KidConfig};
use assay_metrics::distribution::prdc::{prdc_on, PrdcConfig, PrdcVariant};
use assay_metrics::distribution::Features;
use assay_metrics::MetricError;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde_json::json;
use std::borrow::Cow;
use std::path::Path;
use std::time::Instant;

/// What every feature command shares: resampling, seed, progress and device.
pub struct Run {
    pub bootstrap: usize,
    pub seed: u64,
    pub quiet: bool,
    pub device: Device,
}

impl Run {
    pub fn new(bootstrap: usize, seed: u64, d: &DeviceFlag, c: &Common) -> CliResult<Run> {
        Ok(Run {
            bootstrap,
            seed,
            quiet: c.quiet,
            device: parse_device(&d.device).map_err(|e| CliError::Usage(e.to_string()))?,
        })
    }

    fn doc(&self, command: &str, started: Instant, inputs: &[&FeatureInput]) -> ResultsDoc {
        let mut doc = ResultsDoc::new(command, started);
        for i in inputs {
            doc.add_input(&i.record);
        }
        doc.device = device_name(&self.device);
        doc
    }
}

/// A metric's error as the CLI reports it: bad input is exit 2, a failing device exit 3.
fn metric_err(e: MetricError) -> CliError {
    match e {
        MetricError::Device(_) => CliError::Internal(e.to_string()),
        e => CliError::Input(e.to_string()),
    }
}

fn read_pair(p: &FeaturePair) -> CliResult<(FeatureInput, FeatureInput)> {
    // Both files are read, hashed and decoded at once (each is a single-threaded pass).
    let (real, fake) = rayon::join(|| read_features(&p.real), || read_features(&p.fake));
    let (real, fake) = (real?, fake?);
    if real.dim() != fake.dim() {
        return Err(CliError::Input(format!(
            "{} has {}-dimensional features but {} has {}",
            real.label,
            real.dim(),
            fake.label,
            fake.dim()
        )));
    }
    Ok((real, fake))
}

/// Like [`metric_err`], with the input's name in front.
fn label_err(label: &str) -> impl Fn(MetricError) -> CliError + '_ {
    move |e| match e {
        MetricError::Device(_) => CliError::Internal(format!("{label}: {e}")),
        e => CliError::Input(format!("{label}: {e}")),
    }
}

/// Mean and covariance of an input: computed from features (on the device), or as a stats
/// file stores them.
/// Stats files lend theirs (a 2048-d covariance is 32 MB).
type Moments<'a> = (
    Cow<'a, nalgebra::DVector<f64>>,
    Cow<'a, nalgebra::DMatrix<f64>>,
);

fn moments_of<'a>(i: &'a FeatureInput, device: &Device) -> CliResult<Moments<'a>> {
    match &i.data {
        FeatureData::Features(f) => {
            let g = GaussianStats::of_on(f, device).map_err(label_err(&i.label))?;
            let sigma = g.covariance().map_err(label_err(&i.label))?;
            Ok((Cow::Owned(g.mean), Cow::Owned(sigma)))
        }
        FeatureData::Stats { mu, sigma, .. } => Ok((Cow::Borrowed(mu), Cow::Borrowed(sigma))),
    }
}

fn fd_of(real: &FeatureInput, fake: &FeatureInput, device: &Device) -> CliResult<FrechetDistance> {
    let (m1, s1) = moments_of(real, device)?;
    let (m2, s2) = moments_of(fake, device)?;
    let (m1, s1, m2, s2) = (m1.as_ref(), s1.as_ref(), m2.as_ref(), s2.as_ref());
    frechet_distance(m1, s1, m2, s2).map_err(|e| CliError::Input(e.to_string()))
}

/// Bootstrap intervals for `values` (what `f` gives on the full sets), shifted by the
/// bootstrap bias. Resampling with replacement duplicates rows, which moves FD up (a smaller
/// effective sample) and PRDC's k-NN radii down (duplicates are 0 apart), so the raw percentile
/// interval can miss the estimate altogether; shifting it by (bootstrap mean - estimate)
/// keeps the resampling spread and centres it where the estimate is.
fn ci(
    doc_seed: &mut Option<u64>,
    real: &Features,
    fake: &Features,
    values: &[f64],
    run: &Run,
    f: impl Fn(&Features, &Features) -> Result<Vec<f64>, MetricError> + Sync,
) -> CliResult<Option<Vec<(f64, f64, f64)>>> {
    if run.bootstrap == 0 {
        return Ok(None);
    }
    let pb = progress::bar(run.bootstrap as u64, "bootstrap", run.quiet);
    pb.tick();
    let r = bootstrap_rows(real, fake, run.bootstrap, run.seed, |x, y| {
        let v = f(x, y);
        pb.inc(1);
        v
    })
    .map_err(metric_err)?;
    pb.finish_and_clear();
    *doc_seed = Some(run.seed);
    Ok(Some(
        r.into_iter()
            .zip(values)
            .map(|(i, &v)| {
                let bias = i.mean - v;
                (i.low - bias, i.high - bias, bias)
            })
            .collect(),
    ))
}

pub(crate) fn push_fd(
    doc: &mut ResultsDoc,
    real: &FeatureInput,
    fake: &FeatureInput,
    run: &Run,
) -> CliResult<()> {
    let fd = fd_of(real, fake, &run.device)?;
    let (bootstrap, seed) = (run.bootstrap, run.seed);
    let interval = match (&real.data, &fake.data) {
        (FeatureData::Features(a), FeatureData::Features(b)) => {
            ci(&mut doc.seed, a, b, &[fd.value], run, |x, y| {
                let (gx, gy) = (
                    GaussianStats::of_on(x, &run.device)?,
                    GaussianStats::of_on(y, &run.device)?,
                );
                Ok(vec![frechet_distance_of(&gx, &gy)?.value])
            })?
        }
        _ => None,
    };
    let n = match (&real.data, &fake.data) {
        (FeatureData::Features(a), FeatureData::Features(b)) => a.rows.min(b.rows),
        _ => 0,
    };
    let mut details = json!({
        "mean_term": fd.mean_term, "covariance_term": fd.covariance_term, "route": fd.route, "backend": fd.backend,
        "warnings": fd.warnings, "clamped_from": fd.clamped_from, "dim": real.dim(),
    });
    if !fd.warnings.is_empty() {
        details["note"] = json!(fd.warnings.join("; "));
    }
    if let Some(iv) = &interval {
        details["bootstrap"] = json!({"resamples": bootstrap, "seed": seed, "confidence": 0.95, "bias": iv[0].2, "interval": "percentile, shifted by the bootstrap bias"});
    } else if bootstrap > 0 {
        details["note"] = json!("no interval: a stats file has no rows to resample");
    }
    doc.results.push(ResultRow {
        metric: "fd".into(),
        value: fd.value,
        ci_low: interval.as_ref().map(|v| v[0].0),
        ci_high: interval.as_ref().map(|v| v[0].1),
        n,
        details,
    });
    Ok(())
}

fn kid_config(k: &KidFlags, seed: u64) -> CliResult<KidConfig> {
    let kernel = match k.kernel.as_str() {
        "poly" => Kernel::default(),
        "rbf" => Kernel::Rbf {
            sigma: k
                .rbf_sigma
                .ok_or_else(|| CliError::Usage("--kernel rbf needs --rbf-sigma".into()))?,
        },
        other => {
            return Err(CliError::Usage(format!(
                "unknown kernel '{other}' (poly, rbf)"
            )))
        }
    };
    Ok(KidConfig {
        subsets: k.subsets,
        subset_size: k.subset_size,
        kernel,
        seed,
        whole_set_if_small: k.whole_set,
    })
}

pub(crate) fn push_kid(
    doc: &mut ResultsDoc,
    real: &Features,
    fake: &Features,
    k: &KidFlags,
    run: &Run,
) -> CliResult<()> {
    let cfg = kid_config(k, run.seed)?;
    let given = match (&k.subset_indices, k.torch_fidelity_subsets) {
        (Some(_), Some(_)) => {
            return Err(CliError::Usage(
                "--subset-indices and --torch-fidelity-subsets both choose the subsets: give one"
                    .into(),
            ))
        }
        (Some(path), None) => {
            let (subsets, record) = read_subsets(path, real.rows, fake.rows)?;
            doc.add_input(&record);
            Some(subsets)
        }
        (None, Some(seed)) => {
            let size = cfg.subset_size;
            if real.rows < size || fake.rows < size {
                return Err(CliError::Input(format!(
                    "--torch-fidelity-subsets: subsets of {size} need at least {size} rows on each side ({} and {})",
                    real.rows, fake.rows
                )));
            }
            let mut rng = assay_metrics::stats::numpy_random::RandomState::new(seed);
            let subsets: Vec<(Vec<usize>, Vec<usize>)> = (0..cfg.subsets)
                .map(|_| {
                    let a = rng.choice_without_replacement(real.rows, size);
                    (a, rng.choice_without_replacement(fake.rows, size))
                })
                .collect();
            doc.seed = Some(seed as u64);
            Some(subsets)
        }
        (None, None) => None,
    };
    // Resampled sets keep their row counts, so given subsets index them as well.
    let kid_of = |x: &Features, y: &Features| match &given {
        Some(subsets) => kid_with_subsets_on(x, y, subsets, cfg.kernel, &run.device),
        None => kid_on(x, y, &cfg, &run.device),
    };
    let r = kid_of(real, fake).map_err(metric_err)?;
    if given.is_none() {
        doc.seed = Some(run.seed);
    }
    let subsets_from = match (&k.subset_indices, k.torch_fidelity_subsets) {
        (Some(p), _) => Some(p.display().to_string()),
        (None, Some(seed)) => Some(format!("numpy RandomState({seed}), as torch-fidelity")),
        _ => None,
    };
    let interval = ci(&mut doc.seed, real, fake, &[r.mean], run, |x, y| {
        Ok(vec![kid_of(x, y)?.mean])
    })?;
    let subset_size = given.as_ref().map_or(cfg.subset_size, |s| s[0].0.len());
    let note = if r.subset_values.len() == 1 && given.is_none() {
        format!("whole sets: fewer than {} samples", cfg.subset_size)
    } else {
        format!(
            "± {:.3e} (std over {} subsets)",
            r.std,
            r.subset_values.len()
        )
    };
    doc.results.push(ResultRow {
        metric: "kid".into(),
        value: r.mean,
        ci_low: interval.as_ref().map(|v| v[0].0),
        ci_high: interval.as_ref().map(|v| v[0].1),
        n: real.rows.min(fake.rows),
        details: json!({"std": r.std, "subsets": r.subset_values.len(), "subset_size": subset_size,
                         "kernel": cfg.kernel, "subsets_from": subsets_from,
                         "bootstrap": interval.as_ref().map(|v| json!({"resamples": run.bootstrap, "seed": run.seed, "bias": v[0].2})),
                         "note": note}),
    });
    Ok(())
}

pub(crate) fn push_prdc(
    doc: &mut ResultsDoc,
    real: &Features,
    fake: &Features,
    p: &PrdcFlags,
    run: &Run,
) -> CliResult<()> {
    let (bootstrap, seed) = (run.bootstrap, run.seed);
    let cfg = PrdcConfig {
        k: p.k.unwrap_or(if p.kynkaanniemi { 3 } else { 5 }),
        variant: if p.kynkaanniemi {
            PrdcVariant::Kynkaanniemi
        } else {
            PrdcVariant::Naeem
        },
        ..Default::default()
    };
    let r = prdc_on(real, fake, &cfg, &run.device).map_err(metric_err)?;
    let values = [r.precision, r.recall, r.density, r.coverage];
    let interval = ci(&mut doc.seed, real, fake, &values, run, |x, y| {
        let q = prdc_on(x, y, &cfg, &run.device)?;
        Ok(vec![q.precision, q.recall, q.density, q.coverage])
    })?;
    let names: &[&str] = if p.kynkaanniemi {
        &["precision", "recall"]
    } else {
        &["precision", "recall", "density", "coverage"]
    };
    for (i, name) in names.iter().enumerate() {
        let v = values[i];
        doc.results.push(ResultRow {
            metric: name.to_string(),
            value: v,
            ci_low: interval.as_ref().map(|c| c[i].0),
            ci_high: interval.as_ref().map(|c| c[i].1),
            n: real.rows.min(fake.rows),
            details: json!({"k": cfg.k, "variant": cfg.variant, "n_real": real.rows, "n_fake": fake.rows,
                             "bootstrap": interval.as_ref().map(|c| json!({"resamples": bootstrap, "seed": seed, "bias": c[i].2}))}),
        });
    }
    Ok(())
}

pub fn fd(p: &FeaturePair, run: &Run) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    let (real, fake) = read_pair(p)?;
    let mut doc = run.doc("features fd", started, &[&real, &fake]);
    push_fd(&mut doc, &real, &fake, run)?;
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}

pub fn kid_cmd(p: &FeaturePair, k: &KidFlags, run: &Run) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    let (real, fake) = read_pair(p)?;
    let mut doc = run.doc("features kid", started, &[&real, &fake]);
    push_kid(
        &mut doc,
        real.features("KID")?,
        fake.features("KID")?,
        k,
        run,
    )?;
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}

pub fn prdc_cmd(p: &FeaturePair, f: &PrdcFlags, run: &Run) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    let (real, fake) = read_pair(p)?;
    let mut doc = run.doc("features prdc", started, &[&real, &fake]);
    push_prdc(
        &mut doc,
        real.features("PRDC")?,
        fake.features("PRDC")?,
        f,
        run,
    )?;
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}

pub fn all(p: &FeaturePair, k: &KidFlags, f: &PrdcFlags, run: &Run) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    let (real, fake) = read_pair(p)?;
    let mut doc = run.doc("features all", started, &[&real, &fake]);
    push_fd(&mut doc, &real, &fake, run)?;
    if let (FeatureData::Features(a), FeatureData::Features(b)) = (&real.data, &fake.data) {
        let small = a.rows.min(b.rows) < k.subset_size && k.subset_indices.is_none();
        let kid_flags = KidFlags {
            whole_set: k.whole_set || small,
            ..k.clone()
        };
        push_kid(&mut doc, a, b, &kid_flags, run)?;
        push_prdc(&mut doc, a, b, f, run)?;
    }
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}

/// How Inception Score rows are ordered before splitting.
#[derive(Debug, Clone, Copy)]
pub enum Shuffle {
    None,
    /// Assay's generator (ChaCha8) with this seed.
    Seeded(u64),
    /// numpy's RandomState(seed).permutation, as torch-fidelity shuffles by default.
    TorchFidelity(u32),
}

impl Shuffle {
    pub fn from_flags(f: &ShuffleFlags) -> Shuffle {
        match (f.shuffle_seed, f.torch_fidelity_shuffle) {
            (_, Some(s)) => Shuffle::TorchFidelity(s),
            (Some(s), None) => Shuffle::Seeded(s),
            (None, None) => Shuffle::None,
        }
    }

    fn order(self, n: usize) -> Option<Vec<usize>> {
        match self {
            Shuffle::None => None,
            Shuffle::Seeded(s) => {
                let mut v: Vec<usize> = (0..n).collect();
                v.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(s));
                Some(v)
            }
            Shuffle::TorchFidelity(s) => {
                Some(assay_metrics::stats::numpy_random::RandomState::new(s).permutation(n))
            }
        }
    }

    fn seed(self) -> Option<u64> {
        match self {
            Shuffle::None => None,
            Shuffle::Seeded(s) => Some(s),
            Shuffle::TorchFidelity(s) => Some(s as u64),
        }
    }

    fn describe(self) -> String {
        match self {
            Shuffle::None => "no".into(),
            Shuffle::Seeded(s) => format!("seed {s} (ChaCha8)"),
            Shuffle::TorchFidelity(s) => format!("numpy RandomState({s}), as torch-fidelity"),
        }
    }
}

/// The Inception Score of `f` (rows of logits or probabilities), as a result row.
pub(crate) fn push_is(
    doc: &mut ResultsDoc,
    f: &Features,
    label: &str,
    kind: ScoreInput,
    splits: usize,
    shuffle: Shuffle,
) -> CliResult<()> {
    let order = shuffle.order(f.rows);
    let s = inception_score(
        &f.rows_f64(0, f.rows),
        f.rows,
        f.dim,
        kind,
        splits,
        order.as_deref(),
    )
    .map_err(label_err(label))?;
    if let Some(seed) = shuffle.seed() {
        doc.seed = Some(seed);
    }
    doc.results.push(ResultRow {
        metric: "is".into(),
        value: s.mean,
        ci_low: None,
        ci_high: None,
        n: f.rows,
        details: json!({"std": s.std, "splits": splits, "split_scores": s.split_scores, "shuffled": shuffle.describe(),
                         "note": format!("± {:.4} (std over splits)", s.std)}),
    });
    Ok(())
}

pub fn is(
    logits: &str,
    splits: usize,
    probabilities: bool,
    shuffle: Shuffle,
) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    let input = read_features(logits)?;
    let f = input.features("the Inception Score")?;
    let kind = if probabilities {
        ScoreInput::Probabilities
    } else {
        ScoreInput::Logits
    };
    let mut doc = ResultsDoc::new("features is", started);
    doc.add_input(&input.record);
    push_is(&mut doc, f, &input.label, kind, splits, shuffle)?;
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}

/// The row of a command that wrote a stats file: how many samples it summarises.
pub(crate) fn stats_written(g: &GaussianStats, out: &Path) -> ResultRow {
    ResultRow {
        metric: "samples".into(),
        value: g.n as f64,
        ci_low: None,
        ci_high: None,
        n: g.n,
        details: json!({"dim": g.dim(), "out": out.display().to_string(), "note": format!("stats written to {}", out.display())}),
    }
}

pub fn stats(input: &str, out: &Path, run: &Run) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    let i = read_features(input)?;
    let g = match &i.data {
        FeatureData::Features(f) => GaussianStats::of_on(f, &run.device).map_err(metric_err)?,
        FeatureData::Stats { n: Some(_), .. } => i.data.mergeable().expect("has n"),
        FeatureData::Stats { n: None, .. } => {
            return Err(CliError::Input(format!(
                "{}: already a stats file",
                i.label
            )))
        }
    };
    let bytes = stats_npz(&g)?;
    write_atomic(out, &bytes, std::slice::from_ref(&i.record))?;
    let mut doc = run.doc("features stats", started, &[&i]);
    doc.results.push(stats_written(&g, out));
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}

pub fn merge(inputs: &[String], out: &Path) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    let mut acc: Option<GaussianStats> = None;
    let mut read = Vec::new();
    for spec in inputs {
        let i = read_features(spec)?;
        let g = match &i.data {
            FeatureData::Stats { n: Some(_), .. } => i.data.mergeable().expect("has n"),
            FeatureData::Features(f) => GaussianStats::of(f),
            FeatureData::Stats { n: None, .. } => {
                return Err(CliError::Input(format!(
                    "{spec}: has mu/sigma but not n/sum/outer, so it cannot be merged exactly (write stats with `assay features stats`)"
                )))
            }
        };
        match &mut acc {
            None => acc = Some(g),
            Some(a) => a.merge(&g).map_err(label_err(spec))?,
        }
        read.push(i);
    }
    let g = acc.ok_or_else(|| CliError::Usage("nothing to merge".into()))?;
    let records: Vec<_> = read.iter().map(|i| i.record.clone()).collect();
    write_atomic(out, &stats_npz(&g)?, &records)?;
    let mut doc = ResultsDoc::new("stats merge", started);
    for i in &read {
        doc.add_input(&i.record);
    }
    doc.results.push(ResultRow {
        metric: "samples".into(),
        value: g.n as f64,
        ci_low: None,
        ci_high: None,
        n: g.n,
        details: json!({"dim": g.dim(), "files": inputs.len(), "out": out.display().to_string()}),
    });
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}
