//! Caption and reference files for `assay image clipscore`, and matching their image names to
//! the files of a folder.
//!
//! Accepted forms: JSONL, CSV or Parquet with an image column (`image`, `file`, `filename`,
//! `file_name`, `image_id`, `path` or `id`) and a text column (`caption`/`text`/`candidate`,
//! or for references `reference`/`references`, which may hold a list of strings); or the JSON
//! object of Hessel et al.'s clipscore.py (`{"image id": "caption"}`,
//! `{"image id": ["reference", ...]}`). An image is named by its file name, its path under the
//! folder, or its file stem (Hessel's image ids).

use crate::error::{CliError, CliResult};
use crate::input::{format_of, read_all_hashed, read_frame, Format};
use assay_provenance::InputRecord;
use polars::prelude::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const IMAGE_COLUMNS: &[&str] = &[
    "image",
    "file",
    "filename",
    "file_name",
    "image_id",
    "path",
    "id",
];
pub const CAPTION_COLUMNS: &[&str] = &["caption", "text", "candidate"];
pub const REFERENCE_COLUMNS: &[&str] = &["reference", "references", "caption", "text"];

/// One text of the file and where it was.
#[derive(Debug, Clone, PartialEq)]
pub struct TextRow {
    /// The image as the file names it.
    pub image: String,
    pub text: String,
    /// "line N" (JSONL), "row N" (CSV, Parquet; data rows from 1) or "key 'K'" (JSON).
    pub place: String,
}

pub struct TextFile {
    pub label: String,
    pub rows: Vec<TextRow>,
    pub record: InputRecord,
}

fn place_of(format: Format, i: usize) -> String {
    match format {
        Format::JsonLines => format!("line {}", i + 1),
        _ => format!("row {}", i + 1),
    }
}

/// The first of `wanted` that `df` has.
fn pick<'a>(df: &DataFrame, wanted: &[&'a str], label: &str, what: &str) -> CliResult<&'a str> {
    wanted
        .iter()
        .find(|w| df.column(w).is_ok())
        .copied()
        .ok_or_else(|| {
            let names: Vec<String> = df
                .get_column_names()
                .iter()
                .map(|s| s.to_string())
                .collect();
            CliError::Input(format!(
                "{label}: no {what} column (one of {}; columns: {})",
                wanted.join(", "),
                names.join(", ")
            ))
        })
}

fn json_rows(bytes: &[u8], label: &str) -> CliResult<Vec<TextRow>> {
    let doc: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| CliError::Input(format!("{label}: not valid JSON: {e}")))?;
    let obj = doc.as_object().ok_or_else(|| {
        CliError::Input(format!(
            "{label}: expected an object mapping image ids to captions (or to lists of references)"
        ))
    })?;
    let mut rows = Vec::new();
    for (k, v) in obj {
        let place = format!("key '{k}'");
        let texts: Vec<&serde_json::Value> = match v {
            serde_json::Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        for t in texts {
            let text = t.as_str().ok_or_else(|| {
                CliError::Input(format!("{label}: {place}: expected a string, found {t}"))
            })?;
            rows.push(TextRow {
                image: k.clone(),
                text: text.to_string(),
                place: place.clone(),
            });
        }
    }
    Ok(rows)
}

fn table_rows(
    df: &DataFrame,
    format: Format,
    text_columns: &[&str],
    label: &str,
) -> CliResult<Vec<TextRow>> {
    let image_col = pick(df, IMAGE_COLUMNS, label, "image")?;
    let text_col = pick(df, text_columns, label, "text")?;
    let images = df
        .column(image_col)
        .and_then(|c| c.cast(&DataType::String))
        .map_err(|e| CliError::Input(format!("{label}: column '{image_col}': {e}")))?;
    let images = images
        .str()
        .map_err(|e| CliError::Internal(e.to_string()))?;
    let texts = df
        .column(text_col)
        .map_err(|e| CliError::Internal(e.to_string()))?;
    let null = |i: usize, col: &str| {
        CliError::Input(format!(
            "{label}: {}: '{col}' is empty (null)",
            place_of(format, i)
        ))
    };
    let mut rows = Vec::new();
    match texts.dtype() {
        DataType::String => {
            let t = texts.str().map_err(|e| CliError::Internal(e.to_string()))?;
            for (i, (im, tx)) in images.iter().zip(t.iter()).enumerate() {
                rows.push(TextRow {
                    image: im.ok_or_else(|| null(i, image_col))?.to_string(),
                    text: tx.ok_or_else(|| null(i, text_col))?.to_string(),
                    place: place_of(format, i),
                });
            }
        }
        DataType::List(inner) if **inner == DataType::String => {
            let lists = texts
                .list()
                .map_err(|e| CliError::Internal(e.to_string()))?;
            for (i, (im, list)) in images.iter().zip(lists.amortized_iter()).enumerate() {
                let im = im.ok_or_else(|| null(i, image_col))?;
                let list = list.ok_or_else(|| null(i, text_col))?;
                let strs = list
                    .as_ref()
                    .str()
                    .map_err(|e| CliError::Internal(e.to_string()))?;
                for tx in strs.iter() {
                    rows.push(TextRow {
                        image: im.to_string(),
                        text: tx.ok_or_else(|| null(i, text_col))?.to_string(),
                        place: place_of(format, i),
                    });
                }
            }
        }
        other => {
            return Err(CliError::Input(format!(
                "{label}: column '{text_col}' holds {other} values, not strings"
            )))
        }
    }
    Ok(rows)
}

/// Read a caption or reference file; `text_columns` are the text column names tried in order.
pub fn read_text_file(path: &Path, text_columns: &[&str]) -> CliResult<TextFile> {
    let label = path.display().to_string();
    let (bytes, record) = read_all_hashed(path)?;
    if bytes.is_empty() {
        return Err(CliError::Input(format!("{label}: file is empty")));
    }
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let rows = if is_json {
        json_rows(&bytes, &label)?
    } else {
        match format_of(path) {
            Format::Text => {
                return Err(CliError::Input(format!(
                    "{label}: use .jsonl, .csv, .parquet (an image and a caption column) or a \
                     .json object of image id -> caption"
                )))
            }
            f => table_rows(&read_frame(bytes, f, &label)?, f, text_columns, &label)?,
        }
    };
    if rows.is_empty() {
        return Err(CliError::Input(format!("{label}: no rows")));
    }
    Ok(TextFile {
        label,
        rows,
        record,
    })
}

/// The files of a folder by the names a caption file may use.
pub struct ImageIndex {
    dir: PathBuf,
    by_name: HashMap<String, PathBuf>,
    by_stem: HashMap<String, Vec<PathBuf>>,
}

impl ImageIndex {
    pub fn new(dir: &Path, files: &[PathBuf]) -> ImageIndex {
        let mut by_name = HashMap::new();
        let mut by_stem: HashMap<String, Vec<PathBuf>> = HashMap::new();
        for f in files {
            if let Some(n) = f.file_name() {
                by_name.insert(n.to_string_lossy().into_owned(), f.clone());
            }
            if let Some(s) = f.file_stem() {
                by_stem
                    .entry(s.to_string_lossy().into_owned())
                    .or_default()
                    .push(f.clone());
            }
        }
        ImageIndex {
            dir: dir.to_path_buf(),
            by_name,
            by_stem,
        }
    }

    /// The file `name` refers to, or why none does.
    pub fn find(&self, name: &str) -> Result<PathBuf, String> {
        if let Some(p) = self.by_name.get(name) {
            return Ok(p.clone());
        }
        let under = self.dir.join(name);
        if !name.is_empty() && under.is_file() {
            return Ok(under);
        }
        match self.by_stem.get(name).map(Vec::as_slice) {
            Some([one]) => Ok(one.clone()),
            Some(many) => Err(format!(
                "'{name}' matches {} files ({}); name the file with its extension",
                many.len(),
                many.iter()
                    .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            None => Err(format!("no image '{name}' in {}", self.dir.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_found_by_name_path_or_unique_stem() {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<PathBuf> = ["a.png", "b.jpg", "b.png", "c.webp"]
            .iter()
            .map(|n| {
                let p = dir.path().join(n);
                std::fs::write(&p, b"x").unwrap();
                p
            })
            .collect();
        let idx = ImageIndex::new(dir.path(), &files);
        assert_eq!(idx.find("a.png").unwrap(), files[0]);
        assert_eq!(idx.find("a").unwrap(), files[0]);
        assert_eq!(idx.find("c").unwrap(), files[3]);
        let e = idx.find("b").unwrap_err();
        assert!(e.contains("matches 2 files"), "{e}");
        assert!(idx
            .find("zzz.png")
            .unwrap_err()
            .contains("no image 'zzz.png'"));
    }

    #[test]
    fn hessel_json_lists_expand_to_one_row_per_reference() {
        let rows = json_rows(br#"{"x": ["one", "two"], "y": "three"}"#, "refs.json").unwrap();
        let got: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r.image.as_str(), r.text.as_str()))
            .collect();
        assert_eq!(got, vec![("x", "one"), ("x", "two"), ("y", "three")]);
        assert!(json_rows(br#"{"x": 3}"#, "c.json")
            .unwrap_err()
            .to_string()
            .contains("key 'x'"));
    }

    #[test]
    fn a_table_without_an_image_column_names_the_columns_it_has() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.csv");
        std::fs::write(&p, "name,caption\na.png,hello\n").unwrap();
        let e = read_text_file(&p, CAPTION_COLUMNS)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("no image column") && e.contains("name, caption"),
            "{e}"
        );
    }
}
