//! The one results document every command produces, its two renderings (a human table on
//! stdout, or `--json`), and atomic writing of output files.

use crate::error::{CliError, CliResult};
use assay_provenance::InputRecord;
use polars::prelude::*;
use serde::Serialize;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// One result row of the document.
#[derive(Debug, Clone, Serialize)]
pub struct ResultRow {
    pub metric: String,
    pub value: f64,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub n: usize,
    pub details: Value,
}

impl ResultRow {
    /// A row without a confidence interval.
    pub fn plain(metric: impl Into<String>, value: f64, n: usize, details: Value) -> Self {
        ResultRow {
            metric: metric.into(),
            value,
            ci_low: None,
            ci_high: None,
            n,
            details,
        }
    }
}

/// The results document (see ARCHITECTURE.md): what `gate`, `report` and provenance read.
#[derive(Debug, Clone, Serialize)]
pub struct ResultsDoc {
    pub assay_version: String,
    pub command: String,
    pub results: Vec<ResultRow>,
    pub inputs: Vec<InputRecord>,
    pub seed: Option<u64>,
    pub device: String,
    pub elapsed_s: f64,
    /// The exact command line, so the record says what was asked as well as from what.
    pub command_line: Vec<String>,
    /// Set when the command's check failed (a verification, a changed input): the document
    /// is still printed, then the process exits 1.
    #[serde(skip)]
    pub failed: Option<String>,
}

impl ResultsDoc {
    pub fn new(command: &str, started: Instant) -> Self {
        ResultsDoc {
            assay_version: env!("CARGO_PKG_VERSION").to_string(),
            command: command.to_string(),
            results: Vec::new(),
            inputs: Vec::new(),
            seed: None,
            device: "cpu".to_string(),
            elapsed_s: started.elapsed().as_secs_f64(),
            command_line: std::env::args().collect(),
            failed: None,
        }
    }

    /// Record an input once, however many results it feeds.
    pub fn add_input(&mut self, rec: &InputRecord) {
        if !self.inputs.contains(rec) {
            self.inputs.push(rec.clone());
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("results serialise")
    }

    /// The human rendering: a table of results, then signatures and inputs.
    pub fn to_table(&self) -> String {
        let fmt = |v: f64| {
            if v.is_nan() {
                "nan".to_string()
            } else if v.abs() >= 1.0 || v == 0.0 {
                format!("{v:.2}")
            } else {
                format!("{v:.4}")
            }
        };
        let mut rows = vec![[
            "metric".to_string(),
            "value".into(),
            "95% CI".into(),
            "n".into(),
            "note".into(),
        ]];
        for r in &self.results {
            let ci = match (r.ci_low, r.ci_high) {
                (Some(a), Some(b)) => format!("[{}, {}]", fmt(a), fmt(b)),
                _ => "-".into(),
            };
            let note = r
                .details
                .get("note")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            rows.push([r.metric.clone(), fmt(r.value), ci, r.n.to_string(), note]);
        }
        let widths: Vec<usize> = (0..5)
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        for (i, r) in rows.iter().enumerate() {
            let line: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(s, w)| format!("{s:<w$}"))
                .collect();
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
            if i == 0 {
                out.push_str(
                    &widths
                        .iter()
                        .map(|w| "-".repeat(*w))
                        .collect::<Vec<_>>()
                        .join("  "),
                );
                out.push('\n');
            }
        }
        let sigs: Vec<String> = self
            .results
            .iter()
            .filter_map(|r| {
                r.details
                    .get("signature")
                    .and_then(Value::as_str)
                    .map(|s| format!("  {}: {s}", r.metric))
            })
            .collect();
        if !sigs.is_empty() {
            out.push_str("\nsignatures:\n");
            out.push_str(&sigs.join("\n"));
            out.push('\n');
        }
        if !self.inputs.is_empty() {
            out.push_str("\ninputs:\n");
            for i in &self.inputs {
                out.push_str(&format!("  {}  sha256:{}\n", i.path, &i.sha256));
            }
        }
        if let Some(seed) = self.seed {
            out.push_str(&format!(
                "\nseed {seed}, device {}, {:.2} s\n",
                self.device, self.elapsed_s
            ));
        }
        out
    }

    pub fn print(&self, json: bool) {
        let text = if json {
            self.to_json() + "\n"
        } else {
            self.to_table()
        };
        let mut out = std::io::stdout().lock();
        // A closed pipe (e.g. `| head`) is not an error worth a panic.
        let _ = out.write_all(text.as_bytes());
    }
}

/// Write `bytes` to `path` atomically: a temporary file in the same folder, then a rename.
/// Refuses to replace any of `inputs`.
pub fn write_atomic(path: &Path, bytes: &[u8], inputs: &[InputRecord]) -> CliResult<()> {
    let target = std::fs::canonicalize(path).ok();
    for i in inputs {
        if let (Some(t), Ok(p)) = (&target, std::fs::canonicalize(&i.path)) {
            if *t == p {
                return Err(CliError::Usage(format!(
                    "refusing to write {}: it is one of the inputs",
                    path.display()
                )));
            }
        }
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| CliError::Usage(format!("{}: not a file path", path.display())))?;
    let tmp: PathBuf = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        CliError::Input(format!("{}: cannot write: {e}", path.display()))
    })
}

/// Serialise a per-segment table by the output file's extension: Parquet, CSV or JSONL.
pub fn table_bytes(df: &mut DataFrame, path: &Path) -> CliResult<Vec<u8>> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    let mut buf = Vec::new();
    let res = match ext.as_deref() {
        Some("parquet" | "pq") => ParquetWriter::new(&mut buf).finish(df).map(|_| ()),
        Some("csv") => CsvWriter::new(&mut buf).include_header(true).finish(df),
        Some("jsonl" | "ndjson") => JsonWriter::new(&mut buf)
            .with_json_format(JsonFormat::JsonLines)
            .finish(df),
        _ => {
            return Err(CliError::Usage(format!(
                "{}: choose the format by extension: .parquet, .csv or .jsonl",
                path.display()
            )))
        }
    };
    res.map_err(|e| CliError::Internal(format!("cannot serialise {}: {e}", path.display())))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_refuses_to_replace_an_input() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("in.txt");
        std::fs::write(&p, "keep me").unwrap();
        let rec = InputRecord::of_bytes(p.display().to_string(), b"keep me");
        assert!(write_atomic(&p, b"new", &[rec]).is_err());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "keep me");
        let out = dir.path().join("out.txt");
        write_atomic(&out, b"new", &[]).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "new");
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
