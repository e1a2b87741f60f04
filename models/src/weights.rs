//! Where weight files are found. Never downloaded: in order, the path the user gave
//! (`--weights FILE` or a folder), `$ASSAY_HOME/models/NAME/`, then the Hugging Face hub cache
//! (`$HF_HOME/hub/models--ORG--NAME/snapshots/*/`, `HF_HOME` defaulting to
//! `~/.cache/huggingface`). A miss is an error that says what to put where.

use crate::error::{ModelError, Result};
use std::path::{Path, PathBuf};

/// A model's files and where a user gets them.
pub struct ModelSpec {
    /// Folder name under `$ASSAY_HOME/models/`.
    pub name: &'static str,
    /// Accepted file names, best first.
    pub files: &'static [&'static str],
    /// `ORG/NAME` on the Hugging Face hub, when the model lives there.
    pub hf_repo: Option<&'static str>,
    /// Where to download it (said in the error, never fetched).
    pub source: &'static str,
}

/// pytorch-fid's Inception weights (the TF 2015-12-05 graph).
pub const FID_INCEPTION: ModelSpec = ModelSpec {
    name: "pt_inception-2015-12-05",
    files: &[
        "pt_inception-2015-12-05-6726825d.safetensors",
        "model.safetensors",
        "pt_inception-2015-12-05-6726825d.pth",
    ],
    hf_repo: None,
    source: "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
};

fn hf_hub() -> Option<PathBuf> {
    if let Some(h) = std::env::var_os("HF_HUB_CACHE") {
        return Some(PathBuf::from(h));
    }
    if let Some(h) = std::env::var_os("HF_HOME") {
        return Some(PathBuf::from(h).join("hub"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/huggingface/hub"))
}

/// The folders searched for `spec`, in order (the explicit one excluded).
pub fn search_dirs(spec: &ModelSpec) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(home) = std::env::var_os("ASSAY_HOME") {
        dirs.push(PathBuf::from(home).join("models").join(spec.name));
    }
    if let (Some(hub), Some(repo)) = (hf_hub(), spec.hf_repo) {
        let snapshots = hub
            .join(format!("models--{}", repo.replace('/', "--")))
            .join("snapshots");
        if let Ok(entries) = std::fs::read_dir(&snapshots) {
            let mut snaps: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            snaps.sort();
            dirs.extend(snaps);
        } else {
            dirs.push(snapshots.join("<revision>"));
        }
    }
    dirs
}

fn first_file_in(dir: &Path, spec: &ModelSpec) -> Option<PathBuf> {
    spec.files.iter().map(|f| dir.join(f)).find(|p| p.is_file())
}

/// Resolve the weight file for `spec`.
pub fn resolve(spec: &ModelSpec, explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        if p.is_file() {
            return Ok(p.to_path_buf());
        }
        if p.is_dir() {
            return first_file_in(p, spec).ok_or_else(|| ModelError::MissingWeights {
                what: format!("{} weights", spec.name),
                tried: p.display().to_string(),
                hint: format!("That folder should hold one of: {}.", spec.files.join(", ")),
            });
        }
        return Err(ModelError::Input(format!(
            "{}: no such file or folder",
            p.display()
        )));
    }
    let dirs = search_dirs(spec);
    if let Some(found) = dirs.iter().find_map(|d| first_file_in(d, spec)) {
        return Ok(found);
    }
    let tried = if dirs.is_empty() {
        "nowhere: ASSAY_HOME is not set".to_string()
    } else {
        dirs.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(ModelError::MissingWeights {
        what: format!("{} weights", spec.name),
        tried,
        hint: format!(
            "Download {} (Assay never downloads) and pass it with --weights FILE, or put it in \
             $ASSAY_HOME/models/{}/.",
            spec.source, spec.name
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_folder_without_the_file_says_what_it_needs() {
        let dir = tempfile::tempdir().unwrap();
        let e = resolve(&FID_INCEPTION, Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("pt_inception-2015-12-05-6726825d.pth"), "{e}");
        std::fs::write(dir.path().join("model.safetensors"), b"x").unwrap();
        let p = resolve(&FID_INCEPTION, Some(dir.path())).unwrap();
        assert!(p.ends_with("model.safetensors"));
    }
}
