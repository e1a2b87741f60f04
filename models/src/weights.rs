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

/// OpenAI's CLIP ViT-B/32 (CLIPScore's default model), as a Hugging Face folder.
pub const CLIP_VIT_B32: ModelSpec = ModelSpec {
    name: "clip-vit-base-patch32",
    files: &["config.json"],
    hf_repo: Some("openai/clip-vit-base-patch32"),
    source: "https://huggingface.co/openai/clip-vit-base-patch32",
};

/// OpenAI's GPT-2 (124M), as a Hugging Face folder.
pub const GPT2: ModelSpec = ModelSpec {
    name: "gpt2",
    files: &["config.json"],
    hf_repo: Some("openai-community/gpt2"),
    source: "https://huggingface.co/openai-community/gpt2",
};

/// The hub cache's snapshots of `repo` (`ORG/NAME`), newest name last; empty when absent.
fn hub_snapshots(repo: &str) -> (PathBuf, Vec<PathBuf>) {
    let Some(hub) = hf_hub() else {
        return (PathBuf::from("$HF_HOME/hub"), Vec::new());
    };
    let snapshots = hub
        .join(format!("models--{}", repo.replace('/', "--")))
        .join("snapshots");
    let mut snaps: Vec<PathBuf> = std::fs::read_dir(&snapshots)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    snaps.sort();
    (snapshots, snaps)
}

/// Resolve a model that is a folder (a Hugging Face model directory): `explicit` is a folder,
/// or a hub id `ORG/NAME` looked up in `$ASSAY_HOME/models/NAME/` and the hub cache; without
/// it, `spec`'s folder and hub repo. `is_model` says whether a folder holds a usable model.
pub fn resolve_dir(
    spec: &ModelSpec,
    explicit: Option<&str>,
    is_model: &dyn Fn(&Path) -> bool,
) -> Result<PathBuf> {
    let (name, repo, mut tried) = match explicit {
        Some(arg) if Path::new(arg).is_dir() => {
            let p = PathBuf::from(arg);
            if is_model(&p) {
                return Ok(p);
            }
            return Err(ModelError::MissingWeights {
                what: format!("a model in {arg}"),
                tried: arg.to_string(),
                hint: "A Hugging Face model folder holds config.json and model.safetensors \
                       (or pytorch_model.bin), with its tokenizer and preprocessor files."
                    .into(),
            });
        }
        Some(arg) if arg.split('/').count() == 2 && !arg.starts_with('.') => {
            let name = arg.rsplit('/').next().unwrap_or(arg).to_string();
            (name, arg.to_string(), Vec::new())
        }
        Some(arg) => {
            return Err(ModelError::Input(format!(
                "--model {arg}: no such folder (give a model folder or a hub id ORG/NAME)"
            )))
        }
        None => (
            spec.name.to_string(),
            spec.hf_repo.unwrap_or(spec.name).to_string(),
            Vec::new(),
        ),
    };
    let mut dirs = Vec::new();
    if let Some(home) = std::env::var_os("ASSAY_HOME") {
        dirs.push(PathBuf::from(home).join("models").join(&name));
    }
    let (snapshots, snaps) = hub_snapshots(&repo);
    if snaps.is_empty() {
        tried.push(snapshots.join("<revision>").display().to_string());
    }
    dirs.extend(snaps);
    if let Some(found) = dirs.iter().find(|d| is_model(d)) {
        return Ok(found.clone());
    }
    tried.splice(0..0, dirs.iter().map(|d| d.display().to_string()));
    Err(ModelError::MissingWeights {
        what: format!("model {repo}"),
        tried: tried.join(", "),
        hint: format!(
            "Assay never downloads. Put the files of https://huggingface.co/{repo} (config.json, \
             model.safetensors, tokenizer.json, preprocessor_config.json) in \
             $ASSAY_HOME/models/{name}/, or pass the folder with --model DIR \
             (`huggingface-cli download {repo}` fills the hub cache, which is searched too)."
        ),
    })
}

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
    if let Some(repo) = spec.hf_repo {
        let (snapshots, snaps) = hub_snapshots(repo);
        if snaps.is_empty() {
            dirs.push(snapshots.join("<revision>"));
        } else {
            dirs.extend(snaps);
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

    #[test]
    fn hub_ids_are_looked_up_in_the_hub_cache_layout() {
        let hub = tempfile::tempdir().unwrap();
        let snap = hub.path().join("models--org--tiny-clip/snapshots/abc123");
        std::fs::create_dir_all(&snap).unwrap();
        let is_model = |d: &Path| d.join("config.json").is_file();
        // SAFETY: the only test in this crate that sets HF_HUB_CACHE.
        unsafe { std::env::set_var("HF_HUB_CACHE", hub.path()) };
        let e = resolve_dir(&CLIP_VIT_B32, Some("org/tiny-clip"), &is_model)
            .unwrap_err()
            .to_string();
        assert!(e.contains("abc123") && e.contains("ASSAY_HOME"), "{e}");
        std::fs::write(snap.join("config.json"), b"{}").unwrap();
        let found = resolve_dir(&CLIP_VIT_B32, Some("org/tiny-clip"), &is_model).unwrap();
        assert_eq!(found, snap);
        let e = resolve_dir(&CLIP_VIT_B32, Some("no/such/thing"), &is_model).unwrap_err();
        assert!(e.to_string().contains("no such folder"), "{e}");
        unsafe { std::env::remove_var("HF_HUB_CACHE") };
    }
}
