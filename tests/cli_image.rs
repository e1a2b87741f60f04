//! End-to-end tests of `assay image ...` on the committed goldens (tests/parity/images, written
//! by tests/parity/image_goldens.py with pytorch-fid and torch-fidelity on a narrowed random
//! FID Inception).

mod common;

use common::{assay, json_of, metric};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn images() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/parity/images")
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn golden() -> Value {
    serde_json::from_str(&std::fs::read_to_string(images().join("goldens.json")).unwrap()).unwrap()
}

fn weights() -> String {
    s(&images().join("fid_inception_w8.safetensors"))
}

/// `assay image ARGS --weights W --json -q`, with no ASSAY_HOME or HF cache to fall back on.
fn image(args: &[&str]) -> Output {
    let mut full = vec!["image"];
    full.extend_from_slice(args);
    let w = weights();
    full.extend_from_slice(&["--weights", &w, "--json", "-q"]);
    assay(&full)
}

#[test]
fn fid_between_folders_matches_pytorch_fid() {
    let g = golden();
    let (a, b) = (s(&images().join("set_a")), s(&images().join("set_b")));
    let doc = json_of(&image(&["fid", &a, &b, "--dims", "64", "--bootstrap", "0"]));
    let want = g["fid"]["64"]["value"].as_f64().unwrap();
    let got = metric(&doc, "fd")["value"].as_f64().unwrap();
    assert!(
        (got - want).abs() <= 1e-4 * want,
        "FID {got} vs pytorch-fid {want}"
    );
    assert_eq!(metric(&doc, "images.real")["n"], 72);
    // The weights and both folders are recorded.
    let inputs = doc["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 3, "{inputs:?}");
    assert!(inputs
        .iter()
        .all(|i| i["sha256"].as_str().unwrap().len() == 64));

    // A stats file written from one folder stands in for it, giving the same FID.
    let dir = tempfile::tempdir().unwrap();
    let stats = dir.path().join("a.npz");
    json_of(&image(&["stats", &a, "-o", &s(&stats), "--dims", "64"]));
    let doc = json_of(&image(&[
        "fid",
        &s(&stats),
        &b,
        "--dims",
        "64",
        "--bootstrap",
        "0",
    ]));
    let from_stats = metric(&doc, "fd")["value"].as_f64().unwrap();
    assert!(
        (from_stats - got).abs() <= 1e-9 * got,
        "{from_stats} vs {got}"
    );
}

#[test]
fn inception_score_of_a_folder_matches_torch_fidelity() {
    let g = golden();
    let a = s(&images().join("set_a"));
    let doc = json_of(&image(&["is", &a, "--resize", "tf1"]));
    let want = g["isc_set_a_tf1"]["mean"].as_f64().unwrap();
    let got = metric(&doc, "is")["value"].as_f64().unwrap();
    // IS is near 1 on random logits: compare the excess over 1.
    assert!(
        ((got - 1.0) - (want - 1.0)).abs() <= 1e-3 * (want - 1.0),
        "IS {got} vs torch-fidelity {want}"
    );
}

#[test]
fn inception_score_with_torch_fidelitys_default_shuffle() {
    let g = golden();
    let a = s(&images().join("set_a"));
    let doc = json_of(&image(&[
        "is",
        &a,
        "--resize",
        "tf1",
        "--torch-fidelity-shuffle",
    ]));
    let want = &g["isc_set_a_tf1_default_shuffle"];
    let unshuffled = g["isc_set_a_tf1"]["std"].as_f64().unwrap();
    let row = metric(&doc, "is");
    for (got, want) in [
        (
            row["value"].as_f64().unwrap() - 1.0,
            want["mean"].as_f64().unwrap() - 1.0,
        ),
        (
            row["details"]["std"].as_f64().unwrap(),
            want["std"].as_f64().unwrap(),
        ),
    ] {
        assert!(
            (got - want).abs() <= 1e-3 * want.abs(),
            "{got} vs torch-fidelity {want}"
        );
    }
    // The shuffle changes the splits, so the spread differs from the unshuffled run's.
    assert!((want["std"].as_f64().unwrap() - unshuffled).abs() > 1e-6);
}

#[test]
fn all_saves_features_that_assay_features_reads_back() {
    let (a, b) = (s(&images().join("set_a")), s(&images().join("set_b")));
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("f.safetensors");
    let doc = json_of(&image(&[
        "all",
        &a,
        &b,
        "--dims",
        "64",
        "--save-features",
        &s(&saved),
    ]));
    for m in [
        "fd",
        "kid",
        "precision",
        "recall",
        "density",
        "coverage",
        "is",
    ] {
        assert!(
            metric(&doc, m)["value"].as_f64().unwrap().is_finite(),
            "{m}"
        );
    }
    let fd = metric(&doc, "fd")["value"].as_f64().unwrap();
    let out = assay(&[
        "features",
        "fd",
        "--real",
        &format!("{}:real", s(&saved)),
        "--fake",
        &format!("{}:fake", s(&saved)),
        "--bootstrap",
        "0",
        "--json",
    ]);
    let again = metric(&json_of(&out), "fd")["value"].as_f64().unwrap();
    assert_eq!(again, fd);
}

#[test]
fn bad_images_stop_the_run_unless_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("imgs");
    std::fs::create_dir(&d).unwrap();
    for i in 0..4 {
        std::fs::copy(
            images().join(format!("set_a/{i:03}.png")),
            d.join(format!("{i}.png")),
        )
        .unwrap();
    }
    // Truncated PNG.
    let good = std::fs::read(images().join("set_a/010.png")).unwrap();
    std::fs::write(d.join("broken.png"), &good[..good.len() / 2]).unwrap();
    let out = image(&["stats", &s(&d), "-o", &s(&dir.path().join("x.npz"))]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("broken.png"), "{err}");
    assert!(
        !dir.path().join("x.npz").exists(),
        "nothing is written after a bad image"
    );

    let doc = json_of(&image(&[
        "stats",
        &s(&d),
        "-o",
        &s(&dir.path().join("x.npz")),
        "--skip-bad",
    ]));
    let row = metric(&doc, "images.images");
    assert_eq!(row["n"], 4);
    assert_eq!(row["details"]["skipped_count"], 1);
    assert!(row["details"]["skipped"][0]["path"]
        .as_str()
        .unwrap()
        .ends_with("broken.png"));
    assert_eq!(metric(&doc, "samples")["n"], 4);

    // A zero-byte file, a PNG claiming 40000 x 40000 pixels (a decompression bomb), an empty folder.
    let e = dir.path().join("e");
    std::fs::create_dir(&e).unwrap();
    std::fs::write(e.join("zero.png"), b"").unwrap();
    let out = image(&["is", &s(&e)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("zero.png") && err.contains("empty"), "{err}");

    let bomb = dir.path().join("bomb");
    std::fs::create_dir(&bomb).unwrap();
    let mut png = good[..33].to_vec(); // signature + IHDR
    png[16..20].copy_from_slice(&40000u32.to_be_bytes());
    png[20..24].copy_from_slice(&40000u32.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png.extend_from_slice(&good[33..]);
    std::fs::write(bomb.join("big.png"), &png).unwrap();
    let out = image(&["is", &s(&bomb)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("big.png"), "{err}");

    let empty = dir.path().join("none");
    std::fs::create_dir(&empty).unwrap();
    let out = image(&["is", &s(&empty)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no images"), "{err}");

    let out = image(&["is", &s(&d), "--resize", "lanczos"]);
    assert_eq!(out.status.code(), Some(2));
}

/// PNG chunk CRC (CRC-32/ISO-HDLC), for the test's hand-edited header.
fn crc32(bytes: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in bytes {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

#[test]
fn weights_are_found_in_assay_home_and_a_miss_says_what_to_do() {
    let home = tempfile::tempdir().unwrap();
    let a = s(&images().join("set_a"));
    let run = |assay_home: Option<&Path>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_assay"));
        c.args(["image", "is", &a, "--json", "-q"])
            .env_remove("ASSAY_HOME")
            .env("HF_HOME", home.path().join("hf"));
        if let Some(h) = assay_home {
            c.env("ASSAY_HOME", h);
        }
        c.output().unwrap()
    };
    let out = run(None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("pt_inception-2015-12-05-6726825d.pth")
            && err.contains("--weights")
            && err.contains("ASSAY_HOME"),
        "{err}"
    );
    let dir = home.path().join("models/pt_inception-2015-12-05");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(weights(), dir.join("model.safetensors")).unwrap();
    let doc = json_of(&run(Some(home.path())));
    assert!(metric(&doc, "is")["value"].as_f64().unwrap() > 1.0);
}

#[test]
fn models_convert_writes_every_tensor_with_its_values_and_dtype() {
    let g = golden();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("legacy.safetensors");
    let doc = json_of(&assay(&[
        "models",
        "convert",
        &s(&images().join("legacy_small.pth")),
        "-o",
        &s(&out),
        "--json",
    ]));
    assert_eq!(metric(&doc, "tensors")["n"], 5);
    let bytes = std::fs::read(&out).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for (name, want) in g["legacy_small"].as_object().unwrap() {
        let t = st.tensor(name).unwrap();
        let shape: Vec<usize> = want["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(t.shape(), shape.as_slice(), "{name}");
        let values: Vec<f64> = match t.dtype() {
            safetensors::Dtype::F32 => t
                .data()
                .chunks(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            safetensors::Dtype::F64 => t
                .data()
                .chunks(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
            safetensors::Dtype::I64 => t
                .data()
                .chunks(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            other => panic!("{name}: unexpected dtype {other:?}"),
        };
        for (a, b) in values.iter().zip(want["values"].as_array().unwrap()) {
            assert!(
                (a - b.as_f64().unwrap()).abs() <= 1e-6 * (1.0 + a.abs()),
                "{name}: {a} vs {b}"
            );
        }
    }
    assert_eq!(
        st.tensor("double").unwrap().dtype(),
        safetensors::Dtype::F64
    );
    // The input is never the output.
    let pth = s(&images().join("legacy_small.pth"));
    let out = assay(&["models", "convert", &pth, "-o", &pth]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn converted_weights_give_the_same_fid() {
    let dir = tempfile::tempdir().unwrap();
    let converted = dir.path().join("w8.safetensors");
    json_of(&assay(&[
        "models",
        "convert",
        &weights(),
        "-o",
        &s(&converted),
        "--json",
    ]));
    let (a, b) = (s(&images().join("set_a")), s(&images().join("set_b")));
    let fid = |w: &str| {
        let doc = json_of(&assay(&[
            "image",
            "fid",
            &a,
            &b,
            "--dims",
            "64",
            "--bootstrap",
            "0",
            "--weights",
            w,
            "--json",
            "-q",
        ]));
        metric(&doc, "fd")["value"].as_f64().unwrap()
    };
    assert_eq!(fid(&weights()), fid(&s(&converted)));
}

#[test]
fn features_do_not_depend_on_the_batch_size() {
    let a = s(&images().join("set_a"));
    let dir = tempfile::tempdir().unwrap();
    // Pool3 features of set_a with `--batch-size batch` (None: the default).
    let features = |batch: Option<&str>| -> Vec<f32> {
        let tag = batch.unwrap_or("default");
        let saved = dir.path().join(format!("f{tag}.safetensors"));
        let stats = dir.path().join(format!("s{tag}.npz"));
        let (saved_s, stats_s) = (s(&saved), s(&stats));
        let mut args = vec!["stats", &a, "-o", &stats_s, "--save-features", &saved_s];
        if let Some(b) = batch {
            args.extend(["--batch-size", b]);
        }
        json_of(&image(&args));
        let bytes = std::fs::read(&saved).unwrap();
        let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        tensors
            .tensor("images")
            .unwrap()
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect()
    };
    let default = features(None);
    let largest = default.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(largest > 0.0);
    // One image per batch runs each GEMM on all threads instead of one image per thread, so
    // the sums may round differently, by float rounding only.
    for batch in ["1", "3", "50"] {
        let other = features(Some(batch));
        assert_eq!(other.len(), default.len(), "batch {batch}");
        let worst = other
            .iter()
            .zip(&default)
            .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(
            worst <= 1e-5 * largest,
            "batch {batch}: {worst} of {largest}"
        );
    }
}
