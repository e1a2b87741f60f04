//! `assay watermark generate|detect-text` end to end on the bundled autoregressive model: the
//! green-list watermark is found in what it marks, not in what it does not, and its parts
//! match the reference code (provenance's parity tests).

mod common;
use assay_reference::data::hmm_text::{text_rng, Hmm};
use common::{assay, json_of, metric};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn ar() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("reference/weights/ar")
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn generate(dir: &Path, name: &str, extra: &[&str]) -> (Value, Vec<Value>) {
    let prompts = dir.join("prompts.txt");
    std::fs::write(&prompts, "\n".repeat(20)).unwrap();
    let out = dir.join(name);
    let mut args = vec![
        "watermark",
        "generate",
        "--model",
        &s(&ar()),
        "--prompts",
        &s(&prompts),
        "-o",
        &s(&out),
        "--max-new-tokens",
        "200",
        "--json",
        "-q",
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    args.extend(extra.iter().map(|a| a.to_string()));
    let doc = json_of(&assay(&args.iter().map(String::as_str).collect::<Vec<_>>()));
    let rows = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (doc, rows)
}

fn detect(input: &str, extra: &[&str]) -> Value {
    let mut args = vec!["watermark", "detect-text", "--tokenizer"];
    let tok = s(&ar());
    args.push(&tok);
    args.extend(["--input", input, "--json"]);
    args.extend(extra);
    json_of(&assay(&args))
}

/// Unwatermarked documents of about 200 tokens: HMM texts run together.
fn hmm_documents(n: u64, seed: u64) -> Vec<String> {
    let hmm = Hmm::default_model();
    let mut i = 0;
    (0..n)
        .map(|_| {
            let (mut texts, mut tokens) = (Vec::new(), 0);
            while tokens < 200 {
                let ids = hmm.sample(&mut text_rng(seed, i));
                tokens += ids.len();
                texts.push(hmm.decode(&ids));
                i += 1;
            }
            texts.join(" ")
        })
        .collect()
}

#[test]
fn watermarked_generations_are_detected_and_unwatermarked_text_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let (doc, rows) = generate(dir.path(), "marked.jsonl", &[]);
    assert_eq!(rows.len(), 20);
    assert!(rows.iter().all(|r| r["tokens"] == 200));
    let row = metric(&doc, "watermark.detected_fraction");
    assert!(row["value"].as_f64().unwrap() >= 0.95, "{row}");
    assert_eq!(doc["seed"], assay_metrics::stats::DEFAULT_SEED);

    // From the text alone (tokenizer and key): z ≥ 4 on at least 95% of the 200-token texts.
    let marked = format!("{}:text", s(&dir.path().join("marked.jsonl")));
    let found = detect(&marked, &[]);
    let d = metric(&found, "watermark.detected_fraction");
    assert!(d["value"].as_f64().unwrap() >= 0.95 && d["n"] == 20, "{d}");
    // The wrong key finds nothing.
    let wrong = detect(&marked, &["--key", "7"]);
    assert_eq!(metric(&wrong, "watermark.detected_fraction")["value"], 0.0);

    // The same model without the watermark, and 1,000 documents of true HMM text: no false positive.
    let (plain_doc, _) = generate(dir.path(), "plain.jsonl", &["--no-watermark"]);
    assert_eq!(
        metric(&plain_doc, "watermark.detected_fraction")["value"],
        0.0
    );
    let plain = format!("{}:text", s(&dir.path().join("plain.jsonl")));
    assert_eq!(
        metric(&detect(&plain, &[]), "watermark.detected_fraction")["value"],
        0.0
    );
    let human = dir.path().join("human.txt");
    std::fs::write(&human, hmm_documents(1000, 77).join("\n")).unwrap();
    let h = detect(&s(&human), &["--window", "0"]);
    let hd = metric(&h, "watermark.detected_fraction");
    assert!(hd["value"] == 0.0 && hd["n"] == 1000, "{hd}");

    // A watermarked span of 60 tokens inside 300 tokens of human text: the windowed detector
    // finds it (its p-value corrected for the windows tried).
    let span: Vec<String> = rows[0]["text"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .take(60)
        .map(String::from)
        .collect();
    let docs = hmm_documents(2, 78);
    let mixed = format!("{} {} {}", docs[0], span.join(" "), docs[1]);
    let mixed_file = dir.path().join("mixed.txt");
    std::fs::write(&mixed_file, mixed).unwrap();
    let m = detect(&s(&mixed_file), &["--window", "60"]);
    let line = &m["results"][1]["details"];
    assert_eq!(line["window"]["detection"]["watermarked"], true, "{line}");
    let start = line["window"]["start_token"].as_u64().unwrap();
    let first = docs[0].split_whitespace().count() as u64;
    assert!(
        start + 10 >= first && start <= first + 10,
        "window at {start}, span at {first}: {line}"
    );
}

#[test]
fn short_texts_get_no_verdict_and_bad_settings_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("t.txt");
    let long = hmm_documents(1, 5).remove(0);
    std::fs::write(&f, format!("rimova zobive .\n{long}\n")).unwrap();
    let doc = detect(&s(&f), &[]);
    let summary = metric(&doc, "watermark.detected_fraction");
    assert_eq!(summary["n"], 1);
    assert_eq!(
        summary["details"]["too_short_lines"],
        serde_json::json!([1])
    );
    assert!(doc["results"][1]["details"]["watermarked"].is_null());

    std::fs::write(&f, "rimova zobive .\n").unwrap();
    let out = assay(&[
        "watermark",
        "detect-text",
        "--tokenizer",
        &s(&ar()),
        "--input",
        &s(&f),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--min-tokens"));
    let out = assay(&[
        "watermark",
        "detect-text",
        "--tokenizer",
        &s(&ar()),
        "--input",
        &s(&f),
        "--gamma",
        "1.5",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let out = assay(&[
        "watermark",
        "detect-text",
        "--tokenizer",
        &s(dir.path()),
        "--input",
        &s(&f),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tokenizer.json"));
}
