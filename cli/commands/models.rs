//! `assay models convert`: PyTorch weight files to safetensors, once, so that later runs map
//! the weights instead of unpickling them.

use crate::error::{CliError, CliResult};
use crate::input::record_file;
use crate::output::{write_atomic, ResultRow, ResultsDoc};
use assay_models::inception::load_weight_map;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

pub fn convert(input: &Path, out: &Path) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    let record = record_file(input)?;
    let map = load_weight_map(input)?;
    if map.tensors.is_empty() {
        return Err(CliError::Input(format!("{}: no tensors", input.display())));
    }
    // Sorted by name, as safetensors writes them.
    let tensors: BTreeMap<&String, &candle_core::Tensor> = map.tensors.iter().collect();
    let mut dtypes: BTreeMap<String, usize> = BTreeMap::new();
    let mut elements = 0usize;
    for t in tensors.values() {
        *dtypes
            .entry(format!("{:?}", t.dtype()).to_lowercase())
            .or_default() += 1;
        elements += t.elem_count();
    }
    let bytes = safetensors::serialize(tensors.iter().map(|(k, v)| (k.as_str(), *v)), None)
        .map_err(|e| CliError::Internal(format!("safetensors: {e}")))?;
    write_atomic(out, &bytes, std::slice::from_ref(&record))?;
    let mut doc = ResultsDoc::new("models convert", started);
    doc.add_input(&record);
    doc.results.push(ResultRow {
        metric: "tensors".into(),
        value: tensors.len() as f64,
        ci_low: None,
        ci_high: None,
        n: tensors.len(),
        details: json!({"output": out.display().to_string(), "elements": elements,
                        "bytes": bytes.len(), "dtypes": dtypes}),
    });
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}
