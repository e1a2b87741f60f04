//! `assay features fd|kid|is|prdc|all|stats` and `assay stats merge`: distribution metrics
//! on features a user already has.

use crate::args::{FeaturePair, KidFlags, PrdcFlags};
use crate::error::{CliError, CliResult};
use crate::features_input::{read_features, stats_npz, FeatureData, FeatureInput};
use crate::output::{write_atomic, ResultRow, ResultsDoc};
use crate::progress;
use assay_metrics::distribution::bootstrap::bootstrap_rows;
use assay_metrics::distribution::frechet::{
    frechet_distance, frechet_distance_of, FrechetDistance,
};
use assay_metrics::distribution::gaussian::GaussianStats;
use assay_metrics::distribution::inception_score::{inception_score, ScoreInput};
use assay_metrics::distribution::kid::{kid, Kernel, KidConfig};
use assay_metrics::distribution::prdc::{prdc, PrdcConfig, PrdcVariant};
use assay_metrics::distribution::Features;
use assay_metrics::MetricError;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde_json::json;
use std::path::Path;
use std::time::Instant;

fn read_pair(p: &FeaturePair) -> CliResult<(FeatureInput, FeatureInput)> {
    let real = read_features(&p.real)?;
    let fake = read_features(&p.fake)?;
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

fn label_err(label: &str) -> impl Fn(MetricError) -> CliError + '_ {
    move |e| CliError::Input(format!("{label}: {e}"))
}

fn stats_of(
    i: &FeatureInput,
) -> CliResult<(
    GaussianStats,
    Option<(nalgebra::DVector<f64>, nalgebra::DMatrix<f64>)>,
)> {
    match &i.data {
        FeatureData::Features(f) => Ok((GaussianStats::of(f), None)),
        FeatureData::Stats { exact: Some(g), .. } => Ok((g.clone(), None)),
        FeatureData::Stats {
            mu,
            sigma,
            exact: None,
        } => Ok((
            GaussianStats::new(mu.len()),
            Some((mu.clone(), sigma.clone())),
        )),
    }
}

fn fd_of(real: &FeatureInput, fake: &FeatureInput) -> CliResult<FrechetDistance> {
    let (a, a_ms) = stats_of(real)?;
    let (b, b_ms) = stats_of(fake)?;
    let moments = |g: &GaussianStats,
                   ms: Option<(nalgebra::DVector<f64>, nalgebra::DMatrix<f64>)>,
                   label: &str|
     -> CliResult<_> {
        match ms {
            Some(x) => Ok(x),
            None => Ok((g.mean.clone(), g.covariance().map_err(label_err(label))?)),
        }
    };
    if a_ms.is_none() && b_ms.is_none() {
        return frechet_distance_of(&a, &b).map_err(|e| CliError::Input(e.to_string()));
    }
    let (m1, s1) = moments(&a, a_ms, &real.label)?;
    let (m2, s2) = moments(&b, b_ms, &fake.label)?;
    frechet_distance(&m1, &s1, &m2, &s2).map_err(|e| CliError::Input(e.to_string()))
}

/// Bootstrap intervals for `values` (what `f` gives on the full sets), shifted by the
/// bootstrap bias. Resampling with replacement duplicates rows, which moves FD up (a smaller
/// effective sample) and PRDC's k-NN radii down (duplicates are 0 apart), so the raw percentile
/// interval can miss the estimate altogether; shifting it by (bootstrap mean - estimate)
/// keeps the resampling spread and centres it where the estimate is.
#[allow(clippy::too_many_arguments)]
fn ci(
    doc_seed: &mut Option<u64>,
    real: &Features,
    fake: &Features,
    values: &[f64],
    resamples: usize,
    seed: u64,
    quiet: bool,
    f: impl Fn(&Features, &Features) -> Result<Vec<f64>, MetricError> + Sync,
) -> CliResult<Option<Vec<(f64, f64, f64)>>> {
    if resamples == 0 {
        return Ok(None);
    }
    let pb = progress::bar(resamples as u64, "bootstrap", quiet);
    pb.tick();
    let r = bootstrap_rows(real, fake, resamples, seed, f)
        .map_err(|e| CliError::Input(e.to_string()))?;
    pb.finish_and_clear();
    *doc_seed = Some(seed);
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

fn push_fd(
    doc: &mut ResultsDoc,
    real: &FeatureInput,
    fake: &FeatureInput,
    bootstrap: usize,
    seed: u64,
    quiet: bool,
) -> CliResult<()> {
    let fd = fd_of(real, fake)?;
    let interval = match (&real.data, &fake.data) {
        (FeatureData::Features(a), FeatureData::Features(b)) => ci(
            &mut doc.seed,
            a,
            b,
            &[fd.value],
            bootstrap,
            seed,
            quiet,
            |x, y| {
                Ok(vec![
                    frechet_distance_of(&GaussianStats::of(x), &GaussianStats::of(y))?.value,
                ])
            },
        )?,
        _ => None,
    };
    let n = match (&real.data, &fake.data) {
        (FeatureData::Features(a), FeatureData::Features(b)) => a.rows.min(b.rows),
        _ => 0,
    };
    let mut details = json!({
        "mean_term": fd.mean_term, "covariance_term": fd.covariance_term, "route": fd.route,
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

fn push_kid(
    doc: &mut ResultsDoc,
    real: &Features,
    fake: &Features,
    k: &KidFlags,
    seed: u64,
) -> CliResult<()> {
    let cfg = kid_config(k, seed)?;
    let r = kid(real, fake, &cfg).map_err(|e| CliError::Input(e.to_string()))?;
    doc.seed = Some(seed);
    doc.results.push(ResultRow {
        metric: "kid".into(),
        value: r.mean,
        ci_low: None,
        ci_high: None,
        n: real.rows.min(fake.rows),
        details: json!({"std": r.std, "subsets": r.subset_values.len(), "subset_size": cfg.subset_size, "kernel": cfg.kernel,
                         "note": if r.subset_values.len() == 1 {
                             format!("whole sets: fewer than {} samples", cfg.subset_size)
                         } else {
                             format!("± {:.3e} (std over {} subsets)", r.std, r.subset_values.len())
                         }}),
    });
    Ok(())
}

fn push_prdc(
    doc: &mut ResultsDoc,
    real: &Features,
    fake: &Features,
    p: &PrdcFlags,
    bootstrap: usize,
    seed: u64,
    quiet: bool,
) -> CliResult<()> {
    let cfg = PrdcConfig {
        k: p.k.unwrap_or(if p.kynkaanniemi { 3 } else { 5 }),
        variant: if p.kynkaanniemi {
            PrdcVariant::Kynkaanniemi
        } else {
            PrdcVariant::Naeem
        },
        ..Default::default()
    };
    let r = prdc(real, fake, &cfg).map_err(|e| CliError::Input(e.to_string()))?;
    let values = [r.precision, r.recall, r.density, r.coverage];
    let interval = ci(
        &mut doc.seed,
        real,
        fake,
        &values,
        bootstrap,
        seed,
        quiet,
        |x, y| {
            let q = prdc(x, y, &cfg)?;
            Ok(vec![q.precision, q.recall, q.density, q.coverage])
        },
    )?;
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

fn new_doc(command: &str, started: Instant, inputs: &[&FeatureInput]) -> ResultsDoc {
    let mut doc = ResultsDoc::new(command, started);
    for i in inputs {
        doc.add_input(&i.record);
    }
    doc
}

pub fn fd(p: &FeaturePair, bootstrap: usize, seed: u64, quiet: bool) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    let (real, fake) = read_pair(p)?;
    let mut doc = new_doc("features fd", started, &[&real, &fake]);
    push_fd(&mut doc, &real, &fake, bootstrap, seed, quiet)?;
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}

pub fn kid_cmd(p: &FeaturePair, k: &KidFlags, seed: u64) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    let (real, fake) = read_pair(p)?;
    let mut doc = new_doc("features kid", started, &[&real, &fake]);
    push_kid(
        &mut doc,
        real.features("KID")?,
        fake.features("KID")?,
        k,
        seed,
    )?;
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}

pub fn prdc_cmd(
    p: &FeaturePair,
    f: &PrdcFlags,
    bootstrap: usize,
    seed: u64,
    quiet: bool,
) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    let (real, fake) = read_pair(p)?;
    let mut doc = new_doc("features prdc", started, &[&real, &fake]);
    push_prdc(
        &mut doc,
        real.features("PRDC")?,
        fake.features("PRDC")?,
        f,
        bootstrap,
        seed,
        quiet,
    )?;
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}

pub fn all(
    p: &FeaturePair,
    k: &KidFlags,
    f: &PrdcFlags,
    bootstrap: usize,
    seed: u64,
    quiet: bool,
) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    let (real, fake) = read_pair(p)?;
    let mut doc = new_doc("features all", started, &[&real, &fake]);
    push_fd(&mut doc, &real, &fake, bootstrap, seed, quiet)?;
    if let (FeatureData::Features(a), FeatureData::Features(b)) = (&real.data, &fake.data) {
        push_kid(
            &mut doc,
            a,
            b,
            &KidFlags {
                whole_set: k.whole_set || a.rows.min(b.rows) < k.subset_size,
                ..k.clone()
            },
            seed,
        )?;
        push_prdc(&mut doc, a, b, f, bootstrap, seed, quiet)?;
    }
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}

pub fn is(
    logits: &str,
    splits: usize,
    probabilities: bool,
    shuffle_seed: Option<u64>,
) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    let input = read_features(logits)?;
    let f = input.features("the Inception Score")?;
    let order: Option<Vec<usize>> = shuffle_seed.map(|s| {
        let mut v: Vec<usize> = (0..f.rows).collect();
        v.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(s));
        v
    });
    let kind = if probabilities {
        ScoreInput::Probabilities
    } else {
        ScoreInput::Logits
    };
    let s = inception_score(&f.data, f.rows, f.dim, kind, splits, order.as_deref())
        .map_err(label_err(&input.label))?;
    let mut doc = new_doc("features is", started, &[&input]);
    doc.seed = shuffle_seed;
    doc.results.push(ResultRow {
        metric: "is".into(),
        value: s.mean,
        ci_low: None,
        ci_high: None,
        n: f.rows,
        details: json!({"std": s.std, "splits": splits, "split_scores": s.split_scores, "shuffled": shuffle_seed.is_some(),
                         "note": format!("± {:.4} (std over splits)", s.std)}),
    });
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}

pub fn stats(input: &str, out: &Path) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    let i = read_features(input)?;
    let g = match &i.data {
        FeatureData::Features(f) => GaussianStats::of(f),
        FeatureData::Stats { exact: Some(g), .. } => g.clone(),
        FeatureData::Stats { exact: None, .. } => {
            return Err(CliError::Input(format!(
                "{}: already a stats file",
                i.label
            )))
        }
    };
    let bytes = stats_npz(&g)?;
    write_atomic(out, &bytes, std::slice::from_ref(&i.record))?;
    let mut doc = new_doc("features stats", started, &[&i]);
    doc.results.push(ResultRow {
        metric: "samples".into(),
        value: g.n as f64,
        ci_low: None,
        ci_high: None,
        n: g.n,
        details: json!({"dim": g.dim(), "out": out.display().to_string(), "note": format!("stats written to {}", out.display())}),
    });
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
            FeatureData::Stats { exact: Some(g), .. } => g.clone(),
            FeatureData::Features(f) => GaussianStats::of(f),
            FeatureData::Stats { exact: None, .. } => {
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
    let mut doc = new_doc("stats merge", started, &read.iter().collect::<Vec<_>>());
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
