//! `assay demo`: the full audit on bundled data, offline. Until the reference generators
//! exist, that is every text metric on a small bundled sample with two references.

use crate::args::DemoArgs;
use crate::commands::text::{bleu_metric, chrf_metric, rouge_metric, score_into};
use crate::error::CliResult;
use crate::input::{text_lines, Segments};
use crate::output::ResultsDoc;
use assay_metrics::text::bleu::BleuConfig;
use assay_metrics::text::chrf::ChrfConfig;
use assay_metrics::text::rouge::RougeConfig;
use assay_provenance::InputRecord;
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
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}
