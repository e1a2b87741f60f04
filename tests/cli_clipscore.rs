//! End-to-end tests of `assay image clipscore` on the committed goldens (tests/parity/clip,
//! written by tests/parity/clip_goldens.py with transformers' CLIPModel and torchmetrics on a
//! small random CLIP), over the test images of tests/parity/images.

mod common;

use common::{assay, json_of, metric};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn parity() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/parity")
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn golden() -> Value {
    serde_json::from_str(&std::fs::read_to_string(parity().join("clip/goldens.json")).unwrap())
        .unwrap()
}

/// `assay image clipscore --images tests/parity/images --model M ARGS --json -q`.
fn clipscore(args: &[&str]) -> Output {
    let (images, model) = (s(&parity().join("images")), s(&parity().join("clip/model")));
    let mut full = vec!["image", "clipscore", "--images", &images, "--model", &model];
    full.extend_from_slice(args);
    full.extend_from_slice(&["--json", "-q"]);
    assay(&full)
}

fn captions() -> String {
    s(&parity().join("clip/captions.jsonl"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn clip_s_and_ref_clip_s_match_hessel_on_transformers_embeddings() {
    let g = golden();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("per_image.jsonl");
    let refs = s(&parity().join("clip/references.jsonl"));
    let doc = json_of(&clipscore(&[
        "--captions",
        &captions(),
        "--references",
        &refs,
        "--out",
        &s(&out),
    ]));
    let cs = metric(&doc, "clip_score");
    let want = g["clip_s"]["mean"].as_f64().unwrap();
    let got = cs["value"].as_f64().unwrap();
    assert!((got - want).abs() <= 1e-5 * want, "CLIP-S {got} vs {want}");
    assert_eq!(cs["n"], 10);
    assert_eq!(cs["details"]["prefix"], "A photo depicts ");
    let sig = cs["details"]["signature"].as_str().unwrap();
    assert!(
        sig.starts_with("conv:hessel|w:2.5|prefix:\"A photo depicts \"|model:"),
        "{sig}"
    );
    let (lo, hi) = (
        cs["ci_low"].as_f64().unwrap(),
        cs["ci_high"].as_f64().unwrap(),
    );
    assert!(lo < got && got < hi, "{lo} {got} {hi}");
    let rs = metric(&doc, "ref_clip_score");
    let want = g["ref_clip_s"]["mean"].as_f64().unwrap();
    let got = rs["value"].as_f64().unwrap();
    assert!(
        (got - want).abs() <= 1e-5 * want,
        "RefCLIP-S {got} vs {want}"
    );
    // Model files, the folder, captions and references are all recorded.
    let inputs: Vec<&str> = doc["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    for want in [
        "model.safetensors",
        "tokenizer.json",
        "captions.jsonl",
        "references.jsonl",
    ] {
        assert!(
            inputs.iter().any(|p| p.ends_with(want)),
            "{want} not in {inputs:?}"
        );
    }
    // Per image: every CLIP-S and RefCLIP-S as Hessel's code computes them, one clamped to 0.
    let text = std::fs::read_to_string(&out).unwrap();
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 10);
    let mut zeros = 0;
    for r in &rows {
        let name = r["image"].as_str().unwrap();
        let want = g["clip_s"]["per_image"][name].as_f64().unwrap();
        let got = r["clip_score"].as_f64().unwrap();
        assert!((got - want).abs() < 1e-5, "{name}: CLIP-S {got} vs {want}");
        let want = g["ref_clip_s"]["per_image"][name].as_f64().unwrap();
        let got = r["ref_clip_score"].as_f64().unwrap();
        assert!(
            (got - want).abs() < 1e-5,
            "{name}: RefCLIP-S {got} vs {want}"
        );
        zeros += (r["clip_score"].as_f64().unwrap() == 0.0) as usize;
        assert_eq!(
            r["cosine"].as_f64().unwrap() < 0.0,
            r["clip_score"].as_f64().unwrap() == 0.0
        );
    }
    assert_eq!(zeros, 1);
}

#[test]
fn scale_100_matches_torchmetrics() {
    let g = golden();
    let doc = json_of(&clipscore(&[
        "--captions",
        &captions(),
        "--scale",
        "100",
        "--bootstrap",
        "0",
    ]));
    let cs = metric(&doc, "clip_score");
    let want = g["torchmetrics_clip_score"].as_f64().unwrap();
    let got = cs["value"].as_f64().unwrap();
    assert!(
        (got - want).abs() <= 1e-5 * want,
        "{got} vs torchmetrics {want}"
    );
    assert_eq!(cs["details"]["prefix"], "");
    assert_eq!(cs["details"]["convention"], "torchmetrics");
    assert!(cs["ci_low"].is_null());
}

#[test]
fn hessel_json_with_image_ids_gives_the_same_scores_as_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    // Hessel's format: image ids are file stems.
    let mut map = serde_json::Map::new();
    for line in std::fs::read_to_string(captions()).unwrap().lines() {
        let row: Value = serde_json::from_str(line).unwrap();
        let stem = row["image"]
            .as_str()
            .unwrap()
            .trim_end_matches(".png")
            .to_string();
        map.insert(stem, row["caption"].clone());
    }
    let json = dir.path().join("candidates.json");
    std::fs::write(&json, serde_json::to_string(&map).unwrap()).unwrap();
    let a = json_of(&clipscore(&["--captions", &captions(), "--bootstrap", "0"]));
    let b = json_of(&clipscore(&["--captions", &s(&json), "--bootstrap", "0"]));
    // The JSON object's keys come sorted, so the mean sums in another order: equal to rounding.
    let (va, vb) = (
        metric(&a, "clip_score")["value"].as_f64().unwrap(),
        metric(&b, "clip_score")["value"].as_f64().unwrap(),
    );
    assert!((va - vb).abs() < 1e-12, "{va} vs {vb}");
    assert_eq!(metric(&b, "clip_score")["n"], 10);
}

#[test]
fn captions_naming_missing_images_are_listed_then_skipped_only_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("caps.csv");
    std::fs::write(
        &caps,
        "image,caption\nchina_299.png,a roof\nnot_there.png,nothing\ntiny_17x20.png,tiny\ngone,also nothing\n",
    )
    .unwrap();
    let out = clipscore(&["--captions", &s(&caps)]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("2 captions name images")
            && err.contains("row 2: no image 'not_there.png'")
            && err.contains("row 4: no image 'gone'"),
        "{err}"
    );
    let doc = json_of(&clipscore(&[
        "--captions",
        &s(&caps),
        "--skip-bad",
        "--bootstrap",
        "0",
    ]));
    let cs = metric(&doc, "clip_score");
    assert_eq!(cs["n"], 2);
    assert_eq!(cs["details"]["skipped_count"], 2);
    let listed = cs["details"]["skipped"].to_string();
    assert!(
        listed.contains("not_there.png") && listed.contains("row 4"),
        "{listed}"
    );
}

#[test]
fn two_captions_for_one_image_and_a_corrupt_image_are_input_errors() {
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("caps.jsonl");
    std::fs::write(
        &caps,
        "{\"image\": \"china_299.png\", \"caption\": \"one\"}\n{\"image\": \"china_299\", \"caption\": \"two\"}\n",
    )
    .unwrap();
    let out = clipscore(&["--captions", &s(&caps)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("line 1 and line 2 both caption"),
        "{}",
        stderr(&out)
    );

    let images = dir.path().join("imgs");
    std::fs::create_dir(&images).unwrap();
    std::fs::copy(parity().join("images/china_299.png"), images.join("ok.png")).unwrap();
    std::fs::write(images.join("bad.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let caps = dir.path().join("two.csv");
    std::fs::write(&caps, "file,text\nok.png,a roof\nbad.png,broken\n").unwrap();
    let model = s(&parity().join("clip/model"));
    let run = |extra: &[&str]| {
        let mut args = vec![
            "image",
            "clipscore",
            "--images",
            images.to_str().unwrap(),
            "--captions",
            caps.to_str().unwrap(),
            "--model",
            &model,
            "--json",
            "-q",
            "--bootstrap",
            "0",
        ];
        args.extend_from_slice(extra);
        assay(&args)
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bad.png"), "{}", stderr(&out));
    let doc = json_of(&run(&["--skip-bad"]));
    assert_eq!(metric(&doc, "clip_score")["n"], 1);
    assert!(metric(&doc, "clip_score")["details"]["skipped"]
        .to_string()
        .contains("bad.png"));
}

#[test]
fn a_missing_model_says_where_to_put_it() {
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_assay"))
        .args([
            "image",
            "clipscore",
            "--images",
            &s(&parity().join("images")),
            "--captions",
            &captions(),
        ])
        .env_remove("ASSAY_HOME")
        .env_remove("HF_HUB_CACHE")
        .env("HF_HOME", empty.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("openai/clip-vit-base-patch32")
            && err.contains("$ASSAY_HOME/models/clip-vit-base-patch32/")
            && err.contains("--model DIR"),
        "{err}"
    );
    // ASSAY_HOME/models/NAME is where it is looked for.
    let home = tempfile::tempdir().unwrap();
    let dest = home.path().join("models/clip-vit-base-patch32");
    std::fs::create_dir_all(&dest).unwrap();
    for f in std::fs::read_dir(parity().join("clip/model")).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, dest.join(f.file_name().unwrap())).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_assay"))
        .args([
            "image",
            "clipscore",
            "--images",
            &s(&parity().join("images")),
            "--captions",
            &captions(),
        ])
        .args(["--json", "-q", "--bootstrap", "0"])
        .env("ASSAY_HOME", home.path())
        .env("HF_HOME", empty.path())
        .output()
        .unwrap();
    let doc = json_of(&out);
    assert_eq!(metric(&doc, "clip_score")["n"], 10);
}

#[test]
fn the_output_file_is_never_an_input() {
    let out = clipscore(&["--captions", &captions(), "--out", &captions()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("one of the inputs"),
        "{}",
        stderr(&out)
    );
    assert!(std::fs::read_to_string(captions())
        .unwrap()
        .starts_with("{\"image\""));
}
