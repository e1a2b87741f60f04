//! Input readers shared by every command: text segments from plain text (one per line) or
//! from a column of a JSONL, CSV or Parquet file (`FILE:COLUMN`). Each file is hashed while
//! it is read, so the sha256 in the results costs no second pass.

use crate::error::{CliError, CliResult};
use assay_provenance::{HashingReader, InputRecord};
use polars::prelude::*;
use std::fs::File;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

/// The segments of one input, with the record of the file they came from.
pub struct Segments {
    /// What the user typed (`FILE` or `FILE:COLUMN`), for messages.
    pub label: String,
    pub lines: Vec<String>,
    pub record: InputRecord,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Format {
    Text,
    JsonLines,
    Csv,
    Parquet,
}

pub(crate) fn format_of(path: &Path) -> Format {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .as_deref()
    {
        Some("jsonl" | "ndjson") => Format::JsonLines,
        Some("csv") => Format::Csv,
        Some("parquet" | "pq") => Format::Parquet,
        _ => Format::Text,
    }
}

/// Split `FILE:COLUMN`. A path that exists as typed is a file, even with a colon in it.
fn parse_spec(spec: &str) -> CliResult<(PathBuf, Option<String>)> {
    let whole = PathBuf::from(spec);
    if whole.exists() {
        return Ok((whole, None));
    }
    if let Some((file, col)) = spec.rsplit_once(':') {
        let p = PathBuf::from(file);
        if p.exists() && !col.is_empty() {
            return Ok((p, Some(col.to_string())));
        }
    }
    Err(CliError::Input(format!("{spec}: no such file")))
}

pub(crate) fn read_all_hashed(path: &Path) -> CliResult<(Vec<u8>, InputRecord)> {
    let file = File::open(path)
        .map_err(|e| CliError::Input(format!("{}: cannot open: {e}", path.display())))?;
    let mut reader = HashingReader::new(file);
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::Input(format!("{}: cannot read: {e}", path.display())))?;
    let record = reader
        .finish(path)
        .map_err(|e| CliError::Input(format!("{}: cannot read: {e}", path.display())))?;
    Ok((bytes, record))
}

/// The record of a whole file, hashed through a map (model weights run to gigabytes).
pub(crate) fn record_file(path: &Path) -> CliResult<InputRecord> {
    let cannot =
        |e: std::io::Error| CliError::Input(format!("{}: cannot read: {e}", path.display()));
    let file = File::open(path).map_err(cannot)?;
    if file.metadata().map_err(cannot)?.len() == 0 {
        return Ok(InputRecord::of_bytes(path.display().to_string(), b""));
    }
    // SAFETY: read-only map, dropped at once; a file changed meanwhile is the only hazard.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(cannot)?;
    Ok(InputRecord::of_bytes(path.display().to_string(), &map))
}

/// Lines of a UTF-8 text file: split on '\n' (a trailing '\r' is dropped), the final
/// newline ends the last line rather than starting an empty one.
pub fn text_lines(bytes: &[u8], label: &str) -> CliResult<Vec<String>> {
    if bytes.is_empty() {
        return Err(CliError::Input(format!("{label}: file is empty")));
    }
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    body.split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, line)| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            std::str::from_utf8(line).map(str::to_owned).map_err(|e| {
                CliError::Input(format!(
                    "{label}: line {}: invalid UTF-8 at byte {} of the line",
                    i + 1,
                    e.valid_up_to()
                ))
            })
        })
        .collect()
}

pub(crate) fn read_frame(bytes: Vec<u8>, format: Format, label: &str) -> CliResult<DataFrame> {
    let cur = Cursor::new(bytes);
    let res = match format {
        Format::JsonLines => JsonReader::new(cur)
            .with_json_format(JsonFormat::JsonLines)
            .finish(),
        Format::Csv => CsvReadOptions::default()
            .with_has_header(true)
            .into_reader_with_file_handle(cur)
            .finish(),
        Format::Parquet => ParquetReader::new(cur).finish(),
        Format::Text => unreachable!("text is not tabular"),
    };
    res.map_err(|e| CliError::Input(format!("{label}: cannot parse as {format:?}: {e}")))
}

fn column_strings(df: &DataFrame, col: &str, label: &str) -> CliResult<Vec<String>> {
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let column = df.column(col).map_err(|_| {
        CliError::Input(format!(
            "{label}: no column '{col}' (columns: {})",
            names.join(", ")
        ))
    })?;
    let strings = column.str().map_err(|_| {
        CliError::Input(format!(
            "{label}: column '{col}' holds {} values, not strings",
            column.dtype()
        ))
    })?;
    strings
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.map(str::to_owned).ok_or_else(|| {
                CliError::Input(format!("{label}: row {} of column '{col}' is null", i + 1))
            })
        })
        .collect()
}

/// Read the segments named by `spec` (`FILE` or `FILE:COLUMN`).
pub fn read_segments(spec: &str) -> CliResult<Segments> {
    let (path, column) = parse_spec(spec)?;
    let format = format_of(&path);
    let (bytes, record) = read_all_hashed(&path)?;
    let lines = match (format, column) {
        (Format::Text, None) => text_lines(&bytes, spec)?,
        (Format::Text, Some(col)) => {
            return Err(CliError::Input(format!(
                "{spec}: '{}' is read as plain text (one segment per line), which has no column '{col}'; \
                 use a .jsonl, .csv or .parquet file to pick a column",
                path.display()
            )))
        }
        (_, col) => {
            if bytes.is_empty() {
                return Err(CliError::Input(format!("{spec}: file is empty")));
            }
            let df = read_frame(bytes, format, spec)?;
            let col = match col {
                Some(c) => c,
                None => {
                    let strs: Vec<String> = df
                        .columns()
                        .iter()
                        .filter(|c| c.dtype() == &DataType::String)
                        .map(|c| c.name().to_string())
                        .collect();
                    match strs.as_slice() {
                        [only] => only.clone(),
                        _ => {
                            return Err(CliError::Input(format!(
                                "{spec}: name the text column as {}:COLUMN (string columns: {})",
                                path.display(),
                                strs.join(", ")
                            )))
                        }
                    }
                }
            };
            let v = column_strings(&df, &col, spec)?;
            if v.is_empty() {
                return Err(CliError::Input(format!("{spec}: no rows")));
            }
            v
        }
    };
    Ok(Segments {
        label: spec.to_string(),
        lines,
        record,
    })
}

/// Every input must have as many segments as the first; the error names both files.
pub fn check_same_length(first: &Segments, others: &[&Segments]) -> CliResult<()> {
    for o in others {
        if o.lines.len() != first.lines.len() {
            return Err(CliError::Input(format!(
                "{} has {} segments but {} has {}",
                first.label,
                first.lines.len(),
                o.label,
                o.lines.len()
            )));
        }
    }
    Ok(())
}

/// Files as given, and the files `in_folder` picks from each folder, in order; a path that is
/// neither is an input error naming it.
pub fn files_and_folders(
    inputs: &[PathBuf],
    in_folder: impl Fn(&Path) -> CliResult<Vec<PathBuf>>,
) -> CliResult<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            files.extend(in_folder(input)?);
        } else if input.is_file() {
            files.push(input.clone());
        } else {
            return Err(CliError::Input(format!(
                "{}: no such file or folder",
                input.display()
            )));
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_empty_segments_and_drop_the_final_newline() {
        assert_eq!(text_lines(b"a\n\nb\r\n", "f").unwrap(), vec!["a", "", "b"]);
        assert_eq!(text_lines(b"\n", "f").unwrap(), vec![""]);
        assert_eq!(text_lines(b"x", "f").unwrap(), vec!["x"]);
    }

    #[test]
    fn bad_utf8_names_the_line() {
        let err = text_lines(b"ok\nbad \xff here\n", "hyp.txt")
            .unwrap_err()
            .to_string();
        assert!(err.contains("hyp.txt: line 2"), "{err}");
    }

    #[test]
    fn empty_file_is_an_error() {
        assert!(text_lines(b"", "f")
            .unwrap_err()
            .to_string()
            .contains("empty"));
    }
}
