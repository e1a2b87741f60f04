//! `assay text bleu|chrf|rouge|compare`.

use crate::args::{
    BleuFlags, ChrfFlags, Common, CompareArgs, RougeFlags, TestKind, TextInputs, TextMetricName,
};
use crate::error::{CliError, CliResult};
use crate::input::{check_same_length, read_segments, Segments};
use crate::output::{table_bytes, write_atomic, ResultRow, ResultsDoc};
use crate::progress;
use assay_metrics::stats::bootstrap::{bootstrap_ci, BootstrapConfig};
use assay_metrics::stats::paired::{paired_test, PairedTest};
use assay_metrics::text::bleu::{Bleu, BleuConfig};
use assay_metrics::text::chrf::{Chrf, ChrfConfig};
use assay_metrics::text::rouge::{Rouge, RougeConfig};
use assay_metrics::text::{corpus_stats_with_progress, SegmentMetric, StatsTable};
use polars::prelude::*;
use rayon::prelude::*;
use serde_json::{json, Value};
use std::time::Instant;

pub fn bleu_config(f: &BleuFlags) -> BleuConfig {
    BleuConfig {
        tokenizer: f.tokenize,
        lowercase: f.lowercase,
        smooth_method: f.smooth_method,
        smooth_value: f.smooth_value,
        max_ngram_order: f.max_ngram_order,
        effective_order: f.effective_order,
    }
}

pub fn chrf_config(f: &ChrfFlags) -> ChrfConfig {
    ChrfConfig {
        char_order: f.char_order,
        word_order: f.word_order,
        beta: f.beta,
        lowercase: f.lowercase,
        whitespace: f.whitespace,
        eps_smoothing: f.eps_smoothing,
    }
}

pub fn rouge_config(f: &RougeFlags) -> RougeConfig {
    RougeConfig {
        types: f.types.clone(),
        use_stemmer: f.stemmer,
        tokenizer: f.tokenizer,
    }
}

/// Extra details for each value of a metric, from its corpus totals and segment count.
pub type DetailsFn = Box<dyn Fn(&[f64], usize) -> Vec<Value>>;

/// A text metric as the CLI drives it: how to score, and what to say about a score.
pub struct TextMetric {
    pub metric: Box<dyn SegmentMetric>,
    /// Scores single segments (BLEU's sentence form turns effective order on).
    pub sentence: Box<dyn SegmentMetric>,
    /// Extra details for each value, from the corpus totals.
    pub details: DetailsFn,
}

pub fn bleu_metric(cfg: BleuConfig) -> CliResult<TextMetric> {
    let bleu = Bleu::new(cfg.clone())?;
    let sentence = Bleu::new(BleuConfig {
        effective_order: true,
        ..cfg.clone()
    })?;
    let scorer = Bleu::new(cfg)?;
    Ok(TextMetric {
        metric: Box::new(bleu),
        sentence: Box::new(sentence),
        details: Box::new(move |t, _| {
            let s = scorer.score_from_stats(t);
            vec![json!({
                "precisions": s.precisions, "counts": s.counts, "totals": s.totals, "bp": s.bp,
                "ratio": s.ratio, "hyp_len": s.sys_len, "ref_len": s.ref_len,
                "verbose": s.to_string(),
            })]
        }),
    })
}

pub fn chrf_metric(cfg: ChrfConfig) -> CliResult<TextMetric> {
    let name = Chrf::new(cfg.clone())?.name();
    Ok(TextMetric {
        metric: Box::new(Chrf::new(cfg.clone())?),
        sentence: Box::new(Chrf::new(cfg)?),
        details: Box::new(move |_, _| vec![json!({ "name": name })]),
    })
}

pub fn rouge_metric(cfg: RougeConfig) -> CliResult<TextMetric> {
    let k = cfg.types.len();
    Ok(TextMetric {
        metric: Box::new(Rouge::new(cfg.clone())?),
        sentence: Box::new(Rouge::new(cfg)?),
        details: Box::new(move |t, n| {
            (0..k)
                .map(|i| json!({ "precision": t[3 * i] / n as f64, "recall": t[3 * i + 1] / n as f64, "fmeasure": t[3 * i + 2] / n as f64 }))
                .collect()
        }),
    })
}

/// Read hypotheses and references, checking that their counts agree.
pub fn read_text_inputs(hyp: &str, refs: &[String]) -> CliResult<(Segments, Vec<Segments>)> {
    // Files are read (and hashed) in parallel; errors are reported in argument order.
    let specs: Vec<&str> = std::iter::once(hyp)
        .chain(refs.iter().map(String::as_str))
        .collect();
    let mut read: Vec<Segments> = specs
        .par_iter()
        .map(|s| read_segments(s))
        .collect::<Vec<_>>()
        .into_iter()
        .collect::<CliResult<_>>()?;
    let refs = read.split_off(1);
    let hyp = read.pop().expect("the hypothesis was read");
    check_same_length(&hyp, &refs.iter().collect::<Vec<_>>())?;
    Ok((hyp, refs))
}

pub fn stats_of(
    m: &dyn SegmentMetric,
    hyp: &Segments,
    refs: &[Segments],
    quiet: bool,
    what: &str,
) -> CliResult<StatsTable> {
    let pb = progress::bar(hyp.lines.len() as u64, what, quiet);
    let streams: Vec<&Vec<String>> = refs.iter().map(|r| &r.lines).collect();
    let streams: Vec<Vec<&str>> = streams
        .iter()
        .map(|s| s.iter().map(String::as_str).collect())
        .collect();
    let st = corpus_stats_with_progress(m, &hyp.lines, &streams, &|k| pb.inc(k))?;
    pb.finish_and_clear();
    Ok(st)
}

/// Score one metric on already-read inputs and append its rows to `doc`.
pub fn score_into(
    doc: &mut ResultsDoc,
    tm: &TextMetric,
    hyp: &Segments,
    refs: &[Segments],
    bootstrap: usize,
    seed: u64,
    quiet: bool,
) -> CliResult<StatsTable> {
    let m = tm.metric.as_ref();
    let names = m.value_names();
    let stats = stats_of(m, hyp, refs, quiet, &names[0])?;
    let n = stats.len();
    let totals = stats.totals();
    let values = m.values(&totals, n);
    let details = (tm.details)(&totals, n);
    let cis = if bootstrap > 0 {
        let pb = progress::bar(bootstrap as u64, "bootstrap", quiet);
        let cfg = BootstrapConfig {
            n_resamples: bootstrap,
            seed,
            ..Default::default()
        };
        let r = bootstrap_ci(m, &stats, &cfg)?;
        pb.finish_and_clear();
        doc.seed = Some(seed);
        Some(r)
    } else {
        None
    };
    let signature = m.signature(refs.len());
    for (i, name) in names.iter().enumerate() {
        let mut d = details.get(i).cloned().unwrap_or_else(|| json!({}));
        d["signature"] = json!(signature);
        if let Some(c) = &cis {
            d["bootstrap"] = json!({ "resamples": bootstrap, "mean": c[i].mean, "confidence": 0.95, "seed": seed });
        }
        doc.results.push(ResultRow {
            metric: name.clone(),
            value: values[i],
            ci_low: cis.as_ref().map(|c| c[i].low),
            ci_high: cis.as_ref().map(|c| c[i].high),
            n,
            details: d,
        });
    }
    doc.add_input(&hyp.record);
    for r in refs {
        doc.add_input(&r.record);
    }
    Ok(stats)
}

/// Per-segment values as a table: `segment` (1-based), then one column per value.
fn sentence_frame(tm: &TextMetric, stats: &StatsTable) -> CliResult<DataFrame> {
    let names = tm.sentence.value_names();
    let mut cols: Vec<Vec<f64>> = vec![Vec::with_capacity(stats.len()); names.len()];
    for i in 0..stats.len() {
        for (c, v) in cols.iter_mut().zip(tm.sentence.values(stats.row(i), 1)) {
            c.push(v);
        }
    }
    let mut columns: Vec<Column> = vec![Column::new(
        "segment".into(),
        (1..=stats.len() as u32).collect::<Vec<u32>>(),
    )];
    for (name, c) in names.iter().zip(cols) {
        columns.push(Column::new(name.as_str().into(), c));
    }
    DataFrame::new_infer_height(columns)
        .map_err(|e| CliError::Internal(format!("per-segment table: {e}")))
}

fn run_metric(
    command: &str,
    tm: TextMetric,
    inputs: &TextInputs,
    common: &Common,
) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    let (hyp, refs) = read_text_inputs(&inputs.hyp, &inputs.refs)?;
    if let Some(out) = &inputs.out {
        // Fail before the work, not after it.
        table_bytes(&mut DataFrame::empty(), out)?;
    }
    let mut doc = ResultsDoc::new(command, started);
    let stats = score_into(
        &mut doc,
        &tm,
        &hyp,
        &refs,
        inputs.bootstrap,
        inputs.seed,
        common.quiet,
    )?;
    if inputs.sentence {
        let mut df = sentence_frame(&tm, &stats)?;
        let first = &mut doc.results[0].details;
        first["sentence_signature"] = json!(tm.sentence.signature(refs.len()));
        match &inputs.out {
            Some(out) => {
                let bytes = table_bytes(&mut df, out)?;
                write_atomic(out, &bytes, &doc.inputs)?;
                first["sentence_scores"] = json!(out.display().to_string());
                first["note"] = json!(format!("per-segment scores in {}", out.display()));
            }
            None => {
                let names = tm.sentence.value_names();
                let per: Vec<Value> = (0..df.height())
                    .map(|i| {
                        json!(tm
                            .sentence
                            .values(stats.row(i), 1)
                            .into_iter()
                            .zip(&names)
                            .map(|(v, n)| (n.clone(), json!(v)))
                            .collect::<serde_json::Map<_, _>>())
                    })
                    .collect();
                first["sentence_scores"] = Value::Array(per);
            }
        }
    }
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}

pub fn bleu(inputs: &TextInputs, flags: &BleuFlags, common: &Common) -> CliResult<ResultsDoc> {
    run_metric(
        "text bleu",
        bleu_metric(bleu_config(flags))?,
        inputs,
        common,
    )
}

pub fn chrf(inputs: &TextInputs, flags: &ChrfFlags, common: &Common) -> CliResult<ResultsDoc> {
    run_metric(
        "text chrf",
        chrf_metric(chrf_config(flags))?,
        inputs,
        common,
    )
}

pub fn rouge(inputs: &TextInputs, flags: &RougeFlags, common: &Common) -> CliResult<ResultsDoc> {
    run_metric(
        "text rouge",
        rouge_metric(rouge_config(flags))?,
        inputs,
        common,
    )
}

pub fn compare(a: &CompareArgs) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    let baseline = read_segments(&a.baseline)?;
    let systems: Vec<Segments> = a
        .hyps
        .iter()
        .map(|h| read_segments(h))
        .collect::<CliResult<_>>()?;
    let refs: Vec<Segments> = a
        .refs
        .iter()
        .map(|r| read_segments(r))
        .collect::<CliResult<_>>()?;
    let others: Vec<&Segments> = systems.iter().chain(&refs).collect();
    check_same_length(&baseline, &others)?;
    let test = match a.test {
        TestKind::Bs => PairedTest::Bootstrap,
        TestKind::Ar => PairedTest::Randomization,
    };
    let samples = a.samples.unwrap_or(test.default_samples());
    let mut doc = ResultsDoc::new("text compare", started);
    doc.seed = Some(a.seed);
    for name in &a.metrics {
        let tm = match name {
            TextMetricName::Bleu => bleu_metric(bleu_config(&a.bleu))?,
            TextMetricName::Chrf => chrf_metric(ChrfConfig::default())?,
            TextMetricName::Rouge => rouge_metric(RougeConfig::default())?,
        };
        let m = tm.metric.as_ref();
        let names = m.value_names();
        let bl = stats_of(
            m,
            &baseline,
            &refs,
            a.common.quiet,
            &format!("{} base", names[0]),
        )?;
        let bl_values = m.values(&bl.totals(), bl.len());
        let signature = m.signature(refs.len());
        for (i, vn) in names.iter().enumerate() {
            doc.results.push(ResultRow {
                metric: vn.clone(),
                value: bl_values[i],
                ci_low: None,
                ci_high: None,
                n: bl.len(),
                details: json!({ "system": baseline.label, "role": "baseline", "signature": signature, "note": format!("baseline {}", baseline.label) }),
            });
        }
        for sys in &systems {
            let st = stats_of(m, sys, &refs, a.common.quiet, &names[0])?;
            let pb = progress::bar(samples as u64, test_name(test), a.common.quiet);
            let res = paired_test(m, &bl, &st, test, samples, a.seed)?;
            pb.finish_and_clear();
            for (i, vn) in names.iter().enumerate() {
                let r = &res[i];
                doc.results.push(ResultRow {
                    metric: vn.clone(),
                    value: r.system,
                    ci_low: r.system_interval.map(|c| c.low),
                    ci_high: r.system_interval.map(|c| c.high),
                    n: st.len(),
                    details: json!({
                        "system": sys.label, "role": "system", "baseline": r.baseline,
                        "delta": r.system - r.baseline, "p_value": r.p_value,
                        "significant": r.p_value < 0.05, "test": test_name(test), "samples": samples,
                        "signature": signature,
                        "note": format!("{} p = {:.4}{}", sys.label, r.p_value, if r.p_value < 0.05 { " *" } else { "" }),
                    }),
                });
            }
        }
    }
    for s in std::iter::once(&baseline).chain(&systems).chain(&refs) {
        doc.add_input(&s.record);
    }
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}

fn test_name(t: PairedTest) -> &'static str {
    match t {
        PairedTest::Bootstrap => "paired-bs",
        PairedTest::Randomization => "paired-ar",
    }
}
