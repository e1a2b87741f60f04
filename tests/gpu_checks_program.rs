//! The GPU checks' program (tests/gpu/gpu_checks.rs, built by `cargo test` as an example) must
//! compute what the `assay` commands compute, so that the figures a GPU run takes from it stand
//! for the CLI's. Checked here on the CPU, on the parity models.

mod common;

use common::{assay, json_of, metric};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo(p: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(p)
        .display()
        .to_string()
}

/// Runs `gpu_checks ARGS` (beside the `assay` binary, under examples/); its JSON document.
fn program(args: &[&str]) -> Value {
    let exe = Path::new(env!("CARGO_BIN_EXE_assay"))
        .parent()
        .unwrap()
        .join("examples")
        .join("gpu_checks");
    let out = Command::new(&exe).args(args).output().unwrap_or_else(|e| {
        // `cargo test` builds examples; a filtered run may not have.
        panic!("{}: {e} (cargo build --example gpu_checks)", exe.display())
    });
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The f32 tensor `images` of a safetensors file.
fn images_tensor(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensor("images")
        .unwrap()
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

#[test]
fn its_perplexity_is_the_perplexity_commands() {
    let (model, texts) = (
        repo("tests/parity/lm/gpt2"),
        repo("tests/parity/lm/texts.txt"),
    );
    // The command's defaults: BOS added, the model's context (64) as the window, stride 32.
    let ours = program(&[
        "lm",
        &model,
        &texts,
        "--max-length",
        "64",
        "--batch-size",
        "3",
    ]);
    let doc = json_of(&assay(&[
        "text",
        "perplexity",
        "--model",
        &model,
        "--input",
        &texts,
        "--bootstrap",
        "0",
        "--json",
        "-q",
    ]));
    let cli = metric(&doc, "perplexity");
    assert_eq!(ours["tokens"], cli["n"]);
    let (a, b) = (
        ours["perplexity"].as_f64().unwrap(),
        cli["value"].as_f64().unwrap(),
    );
    assert!((a - b).abs() <= 1e-12 * b, "{a} vs {b}");
    assert_eq!(ours["device"], "cpu");
}

#[test]
fn its_pool3_features_are_the_image_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, weights) = (
        repo("tests/parity/images"),
        repo("tests/parity/images/fid_inception_w8.safetensors"),
    );
    let mine = tmp.path().join("program.safetensors");
    let theirs = tmp.path().join("cli.safetensors");
    let ours = program(&[
        "images",
        &dir,
        "--weights",
        &weights,
        "--batch-size",
        "4",
        "--save",
        &mine.display().to_string(),
    ]);
    json_of(&assay(&[
        "image",
        "stats",
        &dir,
        "-o",
        &tmp.path().join("s.npz").display().to_string(),
        "--weights",
        &weights,
        "--save-features",
        &theirs.display().to_string(),
        "--json",
        "-q",
    ]));
    let (a, b) = (images_tensor(&mine), images_tensor(&theirs));
    assert_eq!(a.len(), b.len());
    assert_eq!(ours["images"].as_u64().unwrap() as usize * 256, a.len());
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = a
        .iter()
        .zip(&b)
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(scale > 0.0 && worst <= 1e-6 * scale, "{worst} of {scale}");
}
