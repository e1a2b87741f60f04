//! `assay text perplexity`: a causal LM scores every token of every text
//! (`assay_models::lm::LogProbScorer`), then perplexity's maths (`assay_metrics::lm`) sum up.

use crate::args::PerplexityArgs;
use crate::commands::image::device_of;
use crate::error::{CliError, CliResult};
use crate::input::read_segments;
use crate::input::record_file;
use crate::output::{table_bytes, write_atomic, ResultRow, ResultsDoc};
use crate::progress;
use assay_metrics::distribution::device::device_name;
use assay_metrics::lm::perplexity::{
    bootstrap, signature, PerplexityAccumulator, ScoringConfig, TextNll,
};
use assay_models::lm::{guide_perplexity, LogProbScorer, ScoreOptions};
use assay_models::weights::{resolve_dir, GPT2};
use polars::prelude::*;
use serde_json::json;
use std::path::Path;
use std::time::Instant;

pub fn run(a: &PerplexityArgs) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    if a.batch_size == 0 {
        return Err(CliError::Usage("--batch-size must be at least 1".into()));
    }
    let texts = read_segments(&a.input)?;
    let device = device_of(&a.run.device)?;
    let is_model = |d: &Path| d.join("config.json").is_file();
    let dir = resolve_dir(&GPT2, Some(&a.model), &is_model)?;
    let dtype = match a.dtype.as_str() {
        "f32" => candle_core::DType::F32,
        "bf16" => candle_core::DType::BF16,
        "f16" => candle_core::DType::F16,
        other => {
            return Err(CliError::Usage(format!(
                "--dtype {other}: use f32, bf16 or f16"
            )))
        }
    };
    let lm = LogProbScorer::load(&dir, &device, dtype)?;
    let max_length = a.max_length.unwrap_or(lm.context);
    let stride = a.stride.unwrap_or((max_length / 2).max(1));
    let opts = ScoreOptions {
        add_bos: a.add_bos,
        max_length,
        stride,
        batch_size: a.batch_size,
    };

    // Empty texts and texts of one token have nothing to predict: counted and listed, not
    // scored as zero.
    let (mut seqs, mut kept) = (Vec::new(), Vec::new());
    let (mut empty, mut single) = (Vec::new(), Vec::new());
    for (i, t) in texts.lines.iter().enumerate() {
        if t.is_empty() {
            empty.push(i + 1);
            continue;
        }
        let ids = lm
            .ids_for(t, &opts)
            .map_err(|e| CliError::Input(format!("{}: line {}: {e}", texts.label, i + 1)))?;
        if ids.len() < 2 {
            single.push(i + 1);
            continue;
        }
        seqs.push(ids);
        kept.push(i);
    }
    if seqs.is_empty() {
        return Err(CliError::Input(format!(
            "{}: no text has two tokens to score ({} empty, {} of one token)",
            texts.label,
            empty.len(),
            single.len()
        )));
    }
    let windows: usize = seqs
        .iter()
        .map(|s| assay_models::lm::windows(s.len(), max_length, stride).len())
        .sum();
    let pb = progress::bar(windows as u64, "windows", a.common.quiet);
    let scored = lm.score_ids(&seqs, &opts, &|done, _| pb.set_position(done as u64))?;
    pb.finish_and_clear();

    let mut acc = PerplexityAccumulator::default();
    let mut per_text = Vec::with_capacity(scored.len());
    for (s, &i) in scored.iter().zip(&kept) {
        let t = TextNll {
            nll: s.nll(),
            tokens: s.tokens.len(),
        };
        acc.update(t)
            .map_err(|e| CliError::Input(format!("{}: line {}: {e}", texts.label, i + 1)))?;
        per_text.push(t);
    }
    let corpus = acc
        .corpus_perplexity()
        .map_err(|e| CliError::Internal(e.to_string()))?;
    let mean = acc
        .mean_text_perplexity()
        .map_err(|e| CliError::Internal(e.to_string()))?;
    let ci = if a.run.bootstrap > 0 {
        Some(
            bootstrap(&per_text, a.run.bootstrap, a.run.seed)
                .map_err(|e| CliError::Internal(e.to_string()))?,
        )
    } else {
        None
    };
    let windows_all: Vec<_> = scored
        .iter()
        .flat_map(|s| s.windows.iter().copied())
        .collect();
    let long = scored.iter().filter(|s| s.windows.len() > 1).count();

    let mut doc = ResultsDoc::new("text perplexity", started);
    doc.device = device_name(&device);
    doc.seed = (a.run.bootstrap > 0).then_some(a.run.seed);
    for f in &lm.files {
        doc.add_input(&record_file(f)?);
    }
    doc.add_input(&texts.record);
    let signature = signature(&ScoringConfig {
        model: a.model.clone(),
        add_bos: a.add_bos,
        max_length,
        stride,
        dtype: a.dtype.clone(),
    });
    let common = json!({
        "signature": signature,
        "model": a.model, "model_type": lm.model_type, "dtype": a.dtype, "add_bos": a.add_bos,
        "max_length": max_length, "stride": stride, "context": lm.context,
        "texts_scored": scored.len(), "texts_in_windows": long,
        "skipped_empty": empty.len(), "skipped_empty_lines": empty,
        "skipped_one_token": single.len(), "skipped_one_token_lines": single,
    });
    let mut details = common.clone();
    details["definition"] = json!("exp(total NLL / total scored tokens) over all texts");
    details["tokens"] = json!(acc.tokens);
    details["nll_nats"] = json!(acc.nll);
    details["hf_guide_formula"] = json!(guide_perplexity(&windows_all));
    doc.results.push(ResultRow {
        metric: "perplexity".into(),
        value: corpus,
        ci_low: ci.map(|c| c.0.low),
        ci_high: ci.map(|c| c.0.high),
        n: acc.tokens,
        details,
    });
    let mut details = common;
    details["definition"] =
        json!("mean over texts of exp(text NLL / text tokens) (HF evaluate's mean_perplexity)");
    doc.results.push(ResultRow {
        metric: "mean_text_perplexity".into(),
        value: mean,
        ci_low: ci.map(|c| c.1.low),
        ci_high: ci.map(|c| c.1.high),
        n: acc.texts,
        details,
    });

    if let Some(out) = &a.out {
        let n: usize = scored.iter().map(|s| s.tokens.len()).sum();
        let (mut text, mut pos, mut id, mut tok) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut lp, mut rank, mut ent) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for (s, &i) in scored.iter().zip(&kept) {
            for t in &s.tokens {
                text.push(i as u64);
                pos.push(t.position as u64);
                id.push(t.token_id);
                tok.push(lm.tokenizer.id_to_token(t.token_id).unwrap_or_default());
                lp.push(t.logprob);
                rank.push(t.rank as u64);
                ent.push(t.entropy);
            }
        }
        let cols = vec![
            Column::new("text_id".into(), text),
            Column::new("position".into(), pos),
            Column::new("token_id".into(), id),
            Column::new("token".into(), tok),
            Column::new("logprob".into(), lp),
            Column::new("rank".into(), rank),
            Column::new("entropy".into(), ent),
        ];
        let mut df = DataFrame::new(n, cols).map_err(|e| CliError::Internal(e.to_string()))?;
        write_atomic(out, &table_bytes(&mut df, out)?, &doc.inputs)?;
    }
    if let Some(out) = &a.texts_out {
        let n = scored.len();
        let cols = vec![
            Column::new(
                "text_id".into(),
                kept.iter().map(|&i| i as u64).collect::<Vec<_>>(),
            ),
            Column::new(
                "tokens_scored".into(),
                per_text.iter().map(|t| t.tokens as u64).collect::<Vec<_>>(),
            ),
            Column::new(
                "nll".into(),
                per_text.iter().map(|t| t.nll).collect::<Vec<_>>(),
            ),
            Column::new(
                "perplexity".into(),
                per_text.iter().map(|t| t.perplexity()).collect::<Vec<_>>(),
            ),
        ];
        let mut df = DataFrame::new(n, cols).map_err(|e| CliError::Internal(e.to_string()))?;
        write_atomic(out, &table_bytes(&mut df, out)?, &doc.inputs)?;
    }
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}
