//! `assay provenance` end to end: test keys, C2PA signing of PNG, JPEG and WAV files made here,
//! verification (valid but untrusted; trusted with our CA as anchor), tampering caught in the
//! media bytes and in the manifest (exit 1), a signed file signed again keeping its manifest
//! as parent, watermark-then-sign, and `check` of a results document whose input changed.

mod common;
use common::{assay, json_of, metric};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn run(line: &str) -> Value {
    json_of(&assay(&line.split_whitespace().collect::<Vec<_>>()))
}

fn code_of(line: &str) -> (Option<i32>, Value, String) {
    let out = assay(&line.split_whitespace().collect::<Vec<_>>());
    let doc = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code(),
        doc,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A PNG, a JPEG and a WAV written here.
fn media(dir: &Path) -> Vec<PathBuf> {
    let photo = image::open(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/parity/watermark/images/host_china_300x220.png"),
    )
    .unwrap()
    .to_rgb8();
    let png = dir.join("gen.png");
    photo.save(&png).unwrap();
    let jpg = dir.join("gen.jpg");
    photo.save(&jpg).unwrap();
    let wav = dir.join("gen.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&wav, spec).unwrap();
    for i in 0..16_000 {
        w.write_sample(((i as f32 * 0.05).sin() * 8000.0) as i16)
            .unwrap();
    }
    w.finalize().unwrap();
    vec![png, jpg, wav]
}

fn rows(doc: &Value) -> Vec<&Value> {
    doc["results"].as_array().unwrap().iter().collect()
}

#[test]
fn sign_verify_tamper_and_resign() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let files = media(d);
    let keys = d.join("keys");
    run(&format!("provenance keygen -o {} --json -q", s(&keys)));
    let (chain, key, ca) = (
        s(&keys.join("chain.pem")),
        s(&keys.join("signer.key.pem")),
        s(&keys.join("ca.pem")),
    );
    let out = d.join("signed");
    let inputs: Vec<String> = files.iter().map(|f| s(f)).collect();
    let before: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let signed = run(&format!(
        "provenance sign {} -o {} --cert {chain} --key {key} --model reference-gan --model-version 1 --json -q",
        inputs.join(" "),
        s(&out)
    ));
    assert_eq!(rows(&signed).len(), 3);
    for (f, b) in files.iter().zip(&before) {
        assert_eq!(&std::fs::read(f).unwrap(), b, "input untouched");
    }
    let signed_files: Vec<String> = ["gen.png", "gen.jpg", "gen.wav"]
        .iter()
        .map(|n| s(&out.join(n)))
        .collect();

    // Valid, untrusted without anchors; the manifest says what made the file.
    let v = run(&format!(
        "provenance verify {} --json -q",
        signed_files.join(" ")
    ));
    for r in rows(&v) {
        let d = &r["details"];
        assert_eq!(r["value"], 1.0, "{r}");
        assert_eq!(d["trust"], "untrusted", "{r}");
        assert_eq!(d["signature_valid"], true);
        assert_eq!(d["content_hash_valid"], true);
        assert_eq!(d["actions"][0], "c2pa.created");
        assert_eq!(
            d["digital_source_type"],
            "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
        );
        assert_eq!(d["claim_generator"], "Assay");
    }
    // The C2PA Python bindings read the same kind of files the same way
    // (tests/parity/c2pa_interop.py; c2pa-python 0.38.1 on SDK 0.91.3).
    let golden: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/parity/provenance/c2pa_python.json"),
        )
        .unwrap(),
    )
    .unwrap();
    for (r, name) in rows(&v).iter().zip(["gen.png", "gen.jpg", "gen.wav"]) {
        let theirs = &golden["files"][name];
        assert_eq!(r["details"]["state"], theirs["validation_state"], "{name}");
        assert_eq!(r["details"]["actions"], theirs["actions"], "{name}");
        assert_eq!(
            theirs["codes"],
            serde_json::json!(["signingCredential.untrusted"]),
            "{name}"
        );
        assert_eq!(theirs["assay_assertion"], true);
    }
    // Trusted with our CA as anchor, and required.
    let t = run(&format!(
        "provenance verify {} --trust-anchors {ca} --require-trusted --json -q",
        signed_files.join(" ")
    ));
    assert!(
        rows(&t).iter().all(|r| r["details"]["trust"] == "trusted"),
        "{t}"
    );
    // Untrusted fails when trust is required against another CA.
    let other = d.join("other");
    run(&format!("provenance keygen -o {} --json -q", s(&other)));
    let (code, _, _) = code_of(&format!(
        "provenance verify {} --trust-anchors {} --require-trusted --json -q",
        signed_files[0],
        s(&other.join("ca.pem"))
    ));
    assert_eq!(code, Some(1));

    // One flipped byte in the media data of each format.
    for (i, f) in signed_files.iter().enumerate() {
        let mut bytes = std::fs::read(f).unwrap();
        let at = match i {
            0 => bytes.windows(4).rposition(|w| w == b"IDAT").unwrap() + 20,
            1 => bytes.len() - 200, // JPEG: the manifest is in APP11 up front, scan data last
            _ => bytes.windows(4).position(|w| w == b"data").unwrap() + 1000, // WAV samples
        };
        bytes[at] ^= 0x01;
        let tampered = d.join(format!(
            "tampered_{}",
            Path::new(f).file_name().unwrap().to_string_lossy()
        ));
        std::fs::write(&tampered, &bytes).unwrap();
        let (code, doc, err) = code_of(&format!("provenance verify {} --json -q", s(&tampered)));
        assert_eq!(code, Some(1), "{f}: {err}");
        let r = &doc["results"][0]["details"];
        assert!(
            r["failures"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c.as_str().unwrap().contains("mismatch")),
            "{f}: {r}"
        );
    }
    // One flipped byte inside the manifest (its claim signature).
    let mut bytes = std::fs::read(&signed_files[0]).unwrap();
    let at = bytes.windows(9).position(|w| w == b"c2pa.hash").unwrap() + 4;
    bytes[at] ^= 0x01;
    let broken = d.join("broken_manifest.png");
    std::fs::write(&broken, &bytes).unwrap();
    let (code, _, _) = code_of(&format!("provenance verify {} --json -q", s(&broken)));
    assert_eq!(code, Some(1));

    // Signing a signed file keeps its manifest as the parent ingredient.
    let again = d.join("again");
    run(&format!(
        "provenance sign {} -o {} --cert {chain} --key {key} --json -q",
        signed_files[0],
        s(&again)
    ));
    let v2 = run(&format!(
        "provenance verify {} --json -q",
        s(&again.join("gen.png"))
    ));
    let r = &v2["results"][0]["details"];
    assert_eq!(r["manifests"], 2, "{r}");
    assert!(
        r["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "c2pa.opened"),
        "{r}"
    );
    let inspect = run(&format!(
        "provenance inspect {} --json -q",
        s(&again.join("gen.png"))
    ));
    assert_eq!(metric(&inspect, "provenance.manifests")["value"], 2.0);
}

#[test]
fn watermark_then_sign_and_bad_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let files = media(d);
    let keys = d.join("keys");
    run(&format!("provenance keygen -o {} --json -q", s(&keys)));
    let (chain, key) = (s(&keys.join("chain.pem")), s(&keys.join("signer.key.pem")));
    let out = d.join("marked");
    run(&format!(
        "provenance sign {} -o {} --cert {chain} --key {key} --watermark --watermark-key key-for-test --watermark-payload 0badf00d --json -q",
        s(&files[0]),
        s(&out)
    ));
    let marked = s(&out.join("gen.png"));
    let v = run(&format!("provenance verify {marked} --json -q"));
    assert_eq!(
        v["results"][0]["details"]["assay"]["watermark"]["payload"],
        "0badf00d"
    );
    let found = run(&format!(
        "watermark detect {marked} --key key-for-test --json -q"
    ));
    assert_eq!(
        found["results"][1]["details"]["payload"], "0badf00d",
        "{found}"
    );

    // A key that is not the certificate's, an unsupported type, keygen over existing files.
    let other = d.join("other");
    run(&format!("provenance keygen -o {} --json -q", s(&other)));
    let (code, _, err) = code_of(&format!(
        "provenance sign {} -o {} --cert {chain} --key {}",
        s(&files[0]),
        s(&d.join("x")),
        s(&other.join("signer.key.pem"))
    ));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("gen.png"), "{err}");
    let txt = d.join("notes.txt");
    std::fs::write(&txt, "hello").unwrap();
    let (code, _, err) = code_of(&format!(
        "provenance sign {} -o {} --cert {chain} --key {key}",
        s(&txt),
        s(&d.join("y"))
    ));
    assert_eq!(code, Some(2));
    assert!(err.contains("unsupported file type"), "{err}");
    let (code, _, err) = code_of(&format!("provenance keygen -o {}", s(&keys)));
    assert_eq!(code, Some(2));
    assert!(err.contains("exists"), "{err}");
}

#[test]
fn check_reports_changed_and_missing_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let hyp = d.join("hyp.txt");
    let reference = d.join("ref.txt");
    std::fs::write(&hyp, "the cat sat on the mat\n").unwrap();
    std::fs::write(&reference, "the cat sat on a mat\n").unwrap();
    let out = assay(&[
        "text",
        "bleu",
        "--hyp",
        &s(&hyp),
        "--ref",
        &s(&reference),
        "--json",
        "-q",
    ]);
    let doc = json_of(&out);
    assert!(
        doc["command_line"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "bleu"),
        "{doc}"
    );
    let results = d.join("results.json");
    std::fs::write(&results, &out.stdout).unwrap();
    let ok = run(&format!("provenance check {} --json -q", s(&results)));
    assert_eq!(metric(&ok, "provenance.inputs_matching")["value"], 2.0);
    std::fs::write(&hyp, "the dog sat on the mat\n").unwrap();
    std::fs::remove_file(&reference).unwrap();
    let (code, doc, _) = code_of(&format!("provenance check {} --json -q", s(&results)));
    assert_eq!(code, Some(1));
    let summary = metric(&doc, "provenance.inputs_matching");
    assert_eq!(summary["details"]["changed"], 1);
    assert_eq!(summary["details"]["missing"], 1);
}
