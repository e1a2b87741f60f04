//! `assay provenance` end to end: test keys, C2PA signing of PNG, JPEG and WAV files made here,
//! verification (valid but untrusted; trusted with our CA as anchor), tampering caught in the
//! media bytes and in the manifest (exit 1), a signed file signed again keeping its manifest
//! as parent, watermark-then-sign, and `check` of a results document whose input changed.
//! PS256 (RSA) keys sign WebP; expired certificates and short RSA keys are refused (exit 2);
//! `sign-results` writes a detached signature that `check` verifies.

mod common;
use assay_provenance::content_credentials::SignatureAlg;
use assay_provenance::signing_credentials::{generate_test_credentials_with, TestCredentialSpec};
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

/// What the C2PA Python bindings and an independent COSE check made of Assay's signatures
/// (tests/parity/c2pa_interop.py; c2pa-python 0.38.1 on SDK 0.91.3).
fn interop_golden() -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/parity/provenance/c2pa_python.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
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
    let signed_rows = rows(&signed);
    assert_eq!(signed_rows.len(), 4, "the signer, then one row per file");
    assert_eq!(signed_rows[0]["metric"], "provenance.signer");
    assert_eq!(signed_rows[0]["details"]["key"], "EC P-256");
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
    let golden = interop_golden();
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

/// `assay provenance keygen` into `dir`: the chain, key and CA paths.
fn keygen(dir: &Path, alg: &str) -> (String, String, String) {
    run(&format!(
        "provenance keygen -o {} --alg {alg} --json -q",
        s(dir)
    ));
    (
        s(&dir.join("chain.pem")),
        s(&dir.join("signer.key.pem")),
        s(&dir.join("ca.pem")),
    )
}

/// Writes credentials made by `spec` into `dir` as `chain.pem` and `signer.key.pem`.
fn write_credentials(dir: &Path, spec: &TestCredentialSpec) -> (String, String) {
    let keys = generate_test_credentials_with(spec).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("chain.pem"), &keys.chain_pem).unwrap();
    std::fs::write(dir.join("signer.key.pem"), &keys.signer_key_pem).unwrap();
    (s(&dir.join("chain.pem")), s(&dir.join("signer.key.pem")))
}

#[test]
fn ps256_signs_webp_and_weak_or_expired_credentials_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let webp = d.join("gen.webp");
    image::open(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/parity/watermark/images/host_china_300x220.png"),
    )
    .unwrap()
    .to_rgb8()
    .save(&webp)
    .unwrap();
    let (chain, key, ca) = keygen(&d.join("rsa"), "ps256");
    let out = d.join("signed");
    let signed = run(&format!(
        "provenance sign {} -o {} --cert {chain} --key {key} --alg ps256 --json -q",
        s(&webp),
        s(&out)
    ));
    let signer = metric(&signed, "provenance.signer");
    assert_eq!(signer["details"]["key"], "RSA 2048-bit", "{signed}");
    let marked = out.join("gen.webp");
    let v = run(&format!(
        "provenance verify {} --trust-anchors {ca} --require-trusted --json -q",
        s(&marked)
    ));
    assert_eq!(v["results"][0]["details"]["trust"], "trusted", "{v}");
    assert_eq!(v["results"][0]["details"]["state"], "Trusted", "{v}");
    // Without anchors: what the C2PA Python bindings saw for PS256 and for WebP
    // (tests/parity/c2pa_interop.py).
    let golden = interop_golden();
    let plain = run(&format!("provenance verify {} --json -q", s(&marked)));
    for name in ["gen.webp", "gen_ps256.png"] {
        let theirs = &golden["files"][name];
        assert_eq!(
            plain["results"][0]["details"]["state"], theirs["validation_state"],
            "{name}"
        );
        assert_eq!(
            plain["results"][0]["details"]["actions"], theirs["actions"],
            "{name}"
        );
    }
    assert_eq!(golden["files"]["gen_ps256.png"]["alg"], "Ps256");
    // A flipped byte in the VP8L image data.
    let mut bytes = std::fs::read(&marked).unwrap();
    let at = bytes.windows(4).position(|w| w == b"VP8L").unwrap() + 40;
    bytes[at] ^= 0x08;
    let tampered = d.join("tampered.webp");
    std::fs::write(&tampered, &bytes).unwrap();
    let (code, doc, _) = code_of(&format!("provenance verify {} --json -q", s(&tampered)));
    assert_eq!(code, Some(1), "{doc}");
    assert_eq!(doc["results"][0]["details"]["content_hash_valid"], false);

    // An RSA certificate asked to sign ES256.
    let (code, _, err) = code_of(&format!(
        "provenance sign {} -o {} --cert {chain} --key {key} --alg es256",
        s(&webp),
        s(&d.join("x"))
    ));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--alg ps256"), "{err}");

    // A 1024-bit RSA key: refused, the certificate file named, nothing written.
    let weak = d.join("weak");
    let (weak_chain, weak_key) = write_credentials(
        &weak,
        &TestCredentialSpec {
            rsa_bits: 1024,
            ..TestCredentialSpec::valid_for_days(SignatureAlg::Ps256, 30)
        },
    );
    let refused = d.join("refused");
    // Signing with these is refused: exit 2, the message and the certificate file named, and
    // no output folder made.
    let sign_refused = |chain: &str, key: &str, alg: &str, message: &str| {
        let (code, _, err) = code_of(&format!(
            "provenance sign {} -o {} --cert {chain} --key {key} --alg {alg}",
            s(&webp),
            s(&refused)
        ));
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains(message) && err.contains(chain), "{err}");
        assert!(!refused.exists());
    };
    sign_refused(&weak_chain, &weak_key, "ps256", "1024-bit RSA key");

    // A certificate that expired ten days ago.
    let now = time::OffsetDateTime::now_utc();
    let expired = d.join("expired");
    let (old_chain, old_key) = write_credentials(
        &expired,
        &TestCredentialSpec {
            not_before: now - time::Duration::days(40),
            not_after: now - time::Duration::days(10),
            ..TestCredentialSpec::valid_for_days(SignatureAlg::Es256, 30)
        },
    );
    sign_refused(&old_chain, &old_key, "es256", "expired on");
    let results = d.join("r.json");
    std::fs::write(&results, serde_json::to_vec(&v).unwrap()).unwrap();
    let (code, _, err) = code_of(&format!(
        "provenance sign-results {} --cert {old_chain} --key {old_key}",
        s(&results)
    ));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("expired on"), "{err}");
}

#[test]
fn sign_results_then_check_verifies_the_detached_signature() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let hyp = d.join("hyp.txt");
    std::fs::write(&hyp, "the cat sat on the mat\n").unwrap();
    let out = assay(&[
        "text",
        "bleu",
        "--hyp",
        &s(&hyp),
        "--ref",
        &s(&hyp),
        "--json",
        "-q",
    ]);
    let results = d.join("results.json");
    std::fs::write(&results, &out.stdout).unwrap();
    let (chain, key, ca) = keygen(&d.join("keys"), "ed25519");
    let r = s(&results);
    let signed = run(&format!(
        "provenance sign-results {r} --cert {chain} --key {key} --alg ed25519 --json -q"
    ));
    let sig = d.join("results.json.cose");
    assert!(sig.is_file());
    assert_eq!(
        metric(&signed, "provenance.results_signed")["details"]["results_sha256"],
        signed["inputs"][0]["sha256"]
    );
    // Outside Assay, each algorithm's results signature verified, and failed once edited.
    for (alg, verdict) in interop_golden()["results_signature"].as_object().unwrap() {
        assert_eq!(verdict["valid"], true, "{alg}");
        assert_eq!(verdict["valid_after_edit"], false, "{alg}");
    }
    // Unchanged: valid; trusted with our CA as anchor.
    let ok = run(&format!(
        "provenance check {r} --trust-anchors {ca} --require-trusted --json -q"
    ));
    let row = metric(&ok, "provenance.results_signature");
    assert_eq!(row["value"], 1.0, "{ok}");
    assert_eq!(row["details"]["trust"], "trusted");
    assert_eq!(row["details"]["signer"], "Assay TEST signer (untrusted)");
    // Another CA as the only anchor: valid signature, untrusted signer, fails when required.
    let other = d.join("other");
    run(&format!("provenance keygen -o {} --json -q", s(&other)));
    let (code, doc, _) = code_of(&format!(
        "provenance check {r} --trust-anchors {} --require-trusted --json -q",
        s(&other.join("ca.pem"))
    ));
    assert_eq!(code, Some(1), "{doc}");
    let row = metric(&doc, "provenance.results_signature");
    assert_eq!(row["details"]["signature_valid"], true);
    assert_eq!(row["details"]["trust"], "untrusted");
    // Signing again would overwrite the signature: refused.
    let (code, _, err) = code_of(&format!(
        "provenance sign-results {r} --cert {chain} --key {key} --alg ed25519"
    ));
    assert_eq!(code, Some(2));
    assert!(err.contains("exists"), "{err}");
    // One value edited in the document: its inputs still match, the signature does not.
    let text = std::fs::read_to_string(&results).unwrap();
    let edited = text.replacen("\"value\": ", "\"value\": 1", 1);
    assert_ne!(edited, text);
    std::fs::write(&results, edited).unwrap();
    let (code, doc, err) = code_of(&format!("provenance check {r} --json -q"));
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        metric(&doc, "provenance.inputs_matching")["details"]["changed"],
        0
    );
    let row = metric(&doc, "provenance.results_signature");
    assert_eq!(row["value"], 0.0);
    assert_eq!(row["details"]["signature_valid"], false);
    // An unsigned document with --require-trusted fails; a missing --signature is an input error.
    std::fs::remove_file(&sig).unwrap();
    let (code, _, _) = code_of(&format!(
        "provenance check {r} --trust-anchors {ca} --require-trusted --json -q"
    ));
    assert_eq!(code, Some(1));
    let (code, _, err) = code_of(&format!("provenance check {r} --signature {}", s(&sig)));
    assert_eq!(code, Some(2));
    assert!(err.contains("no such signature file"), "{err}");
}
