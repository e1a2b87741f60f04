//! `assay demo`: the full audit on bundled data, offline: every text metric on a small
//! bundled sample with two references; the reference domain's truths (the bundled glyph
//! classifier reading fresh glyphs, the real-vs-real FD on its features, the true perplexity
//! of texts from the bundled HMM); and every bundled generator sampled and measured against
//! those truths (see `demo_generators.rs`). Writes `results.json` and `report.md` to `--out`.

use crate::args::DemoArgs;
use crate::commands::text::{bleu_metric, chrf_metric, rouge_metric, score_into};
use crate::error::{CliError, CliResult};
use crate::input::{text_lines, Segments};
use crate::output::{ResultRow, ResultsDoc};
use assay_metrics::distribution::frechet::frechet_distance_of;
use assay_metrics::distribution::gaussian::GaussianStats;
use assay_metrics::distribution::Features;
use assay_metrics::stats::bootstrap::bootstrap_items;
use assay_metrics::text::bleu::BleuConfig;
use assay_metrics::text::chrf::ChrfConfig;
use assay_metrics::text::rouge::RougeConfig;
use assay_provenance::InputRecord;
use assay_reference::data::glyphs::{self, CLASS_PROBABILITIES};
use assay_reference::data::hmm_text::{text_rng, Hmm};
use assay_reference::families::classifier::{self, GlyphClassifier};
use candle_core::Device;
use serde_json::json;
use std::time::Instant;

const HYP: &str = include_str!("../demo/hyp.txt");
const REF: &str = include_str!("../demo/ref.txt");
const REF2: &str = include_str!("../demo/ref2.txt");

fn bundled(name: &str, text: &str) -> CliResult<Segments> {
    let label = format!("bundled:demo/{name}");
    Ok(Segments {
        lines: text_lines(text.as_bytes(), &label)?,
        record: InputRecord::of_bytes(label.clone(), text.as_bytes()),
        label,
    })
}

pub fn run(a: &DemoArgs) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    let hyp = bundled("hyp.txt", HYP)?;
    let refs = vec![bundled("ref.txt", REF)?, bundled("ref2.txt", REF2)?];
    let mut doc = ResultsDoc::new("demo", started);
    let rouge = RougeConfig {
        use_stemmer: true,
        ..Default::default()
    };
    for tm in [
        bleu_metric(BleuConfig::default())?,
        chrf_metric(ChrfConfig::default())?,
        chrf_metric(ChrfConfig::plus_plus())?,
        rouge_metric(rouge)?,
    ] {
        score_into(&mut doc, &tm, &hyp, &refs, 1000, a.seed, a.common.quiet)?;
    }
    let pb = crate::progress::bar(3, "demo", a.common.quiet);
    reference_domain(&mut doc, a.seed)?;
    pb.inc(1);
    let mut samples = Vec::new();
    super::demo_generators::image_generators(&mut doc, a.seed, &pb, &mut samples)?;
    pb.inc(1);
    super::demo_generators::text_generators(&mut doc, a.seed)?;
    pb.inc(1);
    pb.finish_and_clear();
    std::fs::create_dir_all(&a.out)
        .map_err(|e| CliError::Input(format!("{}: cannot create: {e}", a.out.display())))?;
    super::demo_provenance::sign_samples(&mut doc, &samples, &a.out)?;
    doc.elapsed_s = started.elapsed().as_secs_f64();
    crate::output::write_atomic(
        &a.out.join("results.json"),
        (doc.to_json() + "\n").as_bytes(),
        &[],
    )?;
    crate::output::write_atomic(
        &a.out.join("report.md"),
        report_markdown(&doc).as_bytes(),
        &[],
    )?;
    Ok(doc)
}

/// The demo's results as Markdown: the table, then how to reproduce it.
fn report_markdown(doc: &ResultsDoc) -> String {
    let mut md = String::from(
        "# Assay demo\n\nEvery number below was computed offline from bundled data and weights; \
        `assay demo --json` prints the same results as one JSON document.\n\n",
    );
    md.push_str("| metric | value | 95% CI | n | note |\n|---|---|---|---|---|\n");
    for r in &doc.results {
        let ci = match (r.ci_low, r.ci_high) {
            (Some(l), Some(h)) => format!("[{l:.4}, {h:.4}]"),
            _ => "".into(),
        };
        let note = r.details.get("note").and_then(|v| v.as_str()).unwrap_or("");
        md.push_str(&format!(
            "| {} | {:.4} | {ci} | {} | {} |\n",
            r.metric,
            r.value,
            r.n,
            note.replace('|', "/")
        ));
    }
    md.push_str(&format!(
        "\nAssay {}, seed {}, {:.1} s.\n\n## Inputs\n\n",
        doc.assay_version,
        doc.seed.map(|s| s.to_string()).unwrap_or_default(),
        doc.elapsed_s
    ));
    for i in &doc.inputs {
        md.push_str(&format!("- `{}` sha256 `{}`\n", i.path, i.sha256));
    }
    md
}

/// Glyph features and the classes the classifier reads, for glyphs 0..n of data set `seed`.
pub(crate) fn glyph_features(
    net: &GlyphClassifier,
    seed: u64,
    n: u64,
) -> CliResult<(Features, Vec<usize>, Vec<usize>)> {
    let internal = |e: candle_core::Error| CliError::Internal(format!("glyph classifier: {e}"));
    let gs: Vec<glyphs::Glyph> = (0..n).map(|i| glyphs::glyph(seed, i)).collect();
    let pixels: Vec<&[u8]> = gs.iter().map(|g| g.pixels.as_slice()).collect();
    let out = net
        .forward(&classifier::input(&pixels, &Device::Cpu).map_err(internal)?)
        .map_err(internal)?;
    let feats: Vec<f32> = out
        .features
        .flatten_all()
        .and_then(|t| t.to_vec1())
        .map_err(internal)?;
    let read: Vec<u32> = out
        .logits
        .argmax(1)
        .and_then(|t| t.to_vec1())
        .map_err(internal)?;
    let features = Features::from_f32(n as usize, classifier::FEATURES, feats)
        .map_err(|e| CliError::Internal(e.to_string()))?;
    Ok((
        features,
        read.into_iter().map(|c| c as usize).collect(),
        gs.iter().map(|g| g.params.class).collect(),
    ))
}

fn reference_domain(doc: &mut ResultsDoc, seed: u64) -> CliResult<()> {
    let internal = |e: String| CliError::Internal(e);
    let net = GlyphClassifier::committed(&Device::Cpu).map_err(|e| internal(e.to_string()))?;
    let n = 1000u64;
    let (fa, read_a, true_a) = glyph_features(&net, seed, n)?;
    let (fb, read_b, true_b) = glyph_features(&net, seed + 1, n)?;
    let right = read_a
        .iter()
        .zip(&true_a)
        .chain(read_b.iter().zip(&true_b))
        .filter(|(r, t)| r == t)
        .count();
    doc.results.push(ResultRow {
        metric: "glyphs.classifier_accuracy".into(),
        value: right as f64 / (2 * n) as f64,
        ci_low: None,
        ci_high: None,
        n: 2 * n as usize,
        details: json!({"note": "the bundled glyph classifier on fresh glyphs of the known process"}),
    });
    let mut counts = [0f64; 10];
    read_a.iter().chain(&read_b).for_each(|&c| counts[c] += 1.0);
    let total = (2 * n) as f64;
    let kl: f64 = CLASS_PROBABILITIES
        .iter()
        .zip(&counts)
        .map(|(p, c)| {
            if *c > 0.0 {
                p * (p / (c / total)).ln()
            } else {
                f64::INFINITY
            }
        })
        .sum();
    doc.results.push(ResultRow {
        metric: "glyphs.class_kl".into(),
        value: kl,
        ci_low: None,
        ci_high: None,
        n: 2 * n as usize,
        details: json!({"definition": "KL(true class probabilities || classes the classifier reads), nats",
                        "counts": counts, "true_probabilities": CLASS_PROBABILITIES}),
    });
    let fd = frechet_distance_of(&GaussianStats::of(&fa), &GaussianStats::of(&fb))
        .map_err(|e| internal(e.to_string()))?;
    doc.results.push(ResultRow {
        metric: "glyphs.fd_real_vs_real".into(),
        value: fd.value,
        ci_low: None,
        ci_high: None,
        n: n as usize,
        details: json!({"note": "FD between two independent glyph sets on the classifier's 64 features: the floor a generator is measured against",
                        "route": fd.route}),
    });
    let hmm = Hmm::default_model();
    let texts: Vec<(f64, usize)> = (0..500u64)
        .map(|i| {
            let ids = hmm.sample(&mut text_rng(seed, i));
            let lp = hmm.log_prob(&ids).map_err(|e| internal(e.to_string()))?;
            Ok((-lp, ids.len()))
        })
        .collect::<CliResult<_>>()?;
    let ppl = |s: &[&(f64, usize)]| {
        let (a, b) = s.iter().fold((0.0, 0usize), |(a, b), t| (a + t.0, b + t.1));
        (a / b as f64).exp()
    };
    let all: Vec<&(f64, usize)> = texts.iter().collect();
    let ci = bootstrap_items(&texts, 1000, seed, ppl).map_err(|e| internal(e.to_string()))?;
    doc.results.push(ResultRow {
        metric: "hmm.true_perplexity".into(),
        value: ppl(&all),
        ci_low: Some(ci.low),
        ci_high: Some(ci.high),
        n: texts.iter().map(|t| t.1).sum(),
        details: json!({"note": "500 texts of the bundled HMM scored by the forward algorithm: the perplexity no model of this text can beat"}),
    });
    Ok(())
}
