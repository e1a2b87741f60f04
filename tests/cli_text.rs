//! End-to-end tests of the `assay` binary: text metrics, the results document, exit codes
//! and bad input. Values are cross-checked against the library (itself checked against the
//! reference tools' goldens), so these tests pin what the CLI adds: reading, wiring, output.

mod common;

use common::{assay, json_of};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn sha256_hex(bytes: &[u8]) -> String {
    // Checked against an independent implementation: the `sha256sum` tool, where present.
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), bytes).unwrap();
    let out = Command::new("sha256sum")
        .arg(tmp.path())
        .output()
        .expect("sha256sum");
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

fn parity_corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/parity/text/corpus.jsonl")
}

fn golden(name: &str) -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/parity/text/goldens")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn rel_close(a: f64, b: f64) -> bool {
    if b == 0.0 {
        a.abs() < 1e-12
    } else {
        ((a - b) / b).abs() < 1e-9
    }
}

#[test]
fn bleu_from_jsonl_columns_matches_the_sacrebleu_golden() {
    let corpus = parity_corpus().display().to_string();
    let out = assay(&[
        "text",
        "bleu",
        "--hyp",
        &format!("{corpus}:hyp"),
        "--ref",
        &format!("{corpus}:ref1"),
        "--ref",
        &format!("{corpus}:ref2"),
        "--json",
        "--bootstrap",
        "100",
    ]);
    let doc = json_of(&out);
    let g = golden("bleu.json");
    let want = g["corpus"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["refs"] == "2ref" && c["config"] == serde_json::json!({"tokenize": "13a"}))
        .unwrap();
    let r = &doc["results"][0];
    assert_eq!(r["metric"], "bleu");
    assert!(rel_close(
        r["value"].as_f64().unwrap(),
        want["score"].as_f64().unwrap()
    ));
    assert_eq!(r["n"], 2400);
    assert_eq!(r["details"]["hyp_len"], want["sys_len"]);
    assert!(r["details"]["signature"]
        .as_str()
        .unwrap()
        .starts_with("nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:assay-"));
    let (lo, hi, v) = (
        r["ci_low"].as_f64().unwrap(),
        r["ci_high"].as_f64().unwrap(),
        r["value"].as_f64().unwrap(),
    );
    assert!(lo < v && v < hi, "{lo} {v} {hi}");
    // The output contract.
    for key in [
        "assay_version",
        "command",
        "results",
        "inputs",
        "seed",
        "device",
        "elapsed_s",
    ] {
        assert!(doc.get(key).is_some(), "missing {key}");
    }
    assert_eq!(doc["command"], "text bleu");
    assert_eq!(doc["seed"], 12345);
    let inputs = doc["inputs"].as_array().unwrap();
    assert_eq!(
        inputs.len(),
        1,
        "one file, read for three columns, is one input"
    );
    assert_eq!(
        inputs[0]["sha256"],
        sha256_hex(&std::fs::read(parity_corpus()).unwrap())
    );
}

#[test]
fn chrf_and_rouge_match_their_goldens_through_the_cli() {
    let corpus = parity_corpus().display().to_string();
    let h = format!("{corpus}:hyp");
    let r1 = format!("{corpus}:ref1");
    let doc = json_of(&assay(&[
        "text",
        "chrf",
        "--hyp",
        &h,
        "--ref",
        &r1,
        "--word-order",
        "2",
        "--json",
        "--bootstrap",
        "0",
    ]));
    let g = golden("chrf.json");
    let want = g["corpus"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["refs"] == "1ref" && c["config"] == serde_json::json!({"word_order": 2}))
        .unwrap();
    assert_eq!(doc["results"][0]["metric"], "chrf++");
    assert!(rel_close(
        doc["results"][0]["value"].as_f64().unwrap(),
        want["score"].as_f64().unwrap()
    ));
    assert!(
        doc["results"][0]["ci_low"].is_null(),
        "--bootstrap 0 gives no interval"
    );

    let doc = json_of(&assay(&[
        "text",
        "rouge",
        "--hyp",
        &h,
        "--ref",
        &r1,
        "--stemmer",
        "--json",
        "--bootstrap",
        "50",
    ]));
    let g = golden("rouge.json");
    let run = g["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["use_stemmer"] == true && r["refs"] == "1ref")
        .unwrap();
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    for r in results {
        let t = r["metric"].as_str().unwrap();
        assert!(
            rel_close(
                r["value"].as_f64().unwrap(),
                run["mean"][t]["fmeasure"].as_f64().unwrap()
            ),
            "{t}"
        );
        assert!(
            rel_close(
                r["details"]["recall"].as_f64().unwrap(),
                run["mean"][t]["recall"].as_f64().unwrap()
            ),
            "{t}"
        );
    }
}

#[test]
fn sentence_scores_go_to_parquet_jsonl_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let hyp = write(dir.path(), "hyp.txt", "the cat sat on the mat\n\na b c\n");
    let rf = write(
        dir.path(),
        "ref.txt",
        "the cat sat on the mat\nnot empty\nx y z\n",
    );
    for ext in ["parquet", "jsonl", "csv"] {
        let out = dir.path().join(format!("scores.{ext}"));
        let doc = json_of(&assay(&[
            "text",
            "bleu",
            "--hyp",
            &hyp,
            "--ref",
            &rf,
            "--sentence",
            "--out",
            out.to_str().unwrap(),
            "--json",
            "-q",
        ]));
        assert_eq!(
            doc["results"][0]["details"]["sentence_scores"],
            out.display().to_string()
        );
        assert!(out.exists());
        // Read it back through the same readers a user would use: the bleu column.
        let back = assay(&[
            "text",
            "chrf",
            "--hyp",
            &format!("{}:bleu", out.display()),
            "--ref",
            &format!("{}:bleu", out.display()),
            "--json",
        ]);
        // A float column is not text: a clear error, exit 2.
        assert_eq!(back.status.code(), Some(2), "{ext}");
        assert!(
            String::from_utf8_lossy(&back.stderr).contains("not strings"),
            "{ext}"
        );
    }
    let doc = json_of(&assay(&[
        "text",
        "bleu",
        "--hyp",
        &hyp,
        "--ref",
        &rf,
        "--sentence",
        "--json",
    ]));
    let per = doc["results"][0]["details"]["sentence_scores"]
        .as_array()
        .unwrap();
    assert_eq!(per.len(), 3);
    assert!((per[0]["bleu"].as_f64().unwrap() - 100.0).abs() < 1e-9);
    assert_eq!(per[1]["bleu"].as_f64().unwrap(), 0.0);
    assert_eq!(per[2]["bleu"].as_f64().unwrap(), 0.0);
}

#[test]
fn compare_finds_a_better_system_and_not_a_copy() {
    let corpus = parity_corpus().display().to_string();
    let c = |k: &str| format!("{corpus}:{k}");
    let doc = json_of(&assay(&[
        "text",
        "compare",
        "--baseline",
        &c("sys2"),
        "--hyp",
        &c("ref2"),
        "--ref",
        &c("ref1"),
        "--metrics",
        "bleu",
        "--samples",
        "200",
        "--json",
        "-q",
    ]));
    let rows = doc["results"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["details"]["role"], "baseline");
    let sys = &rows[1];
    assert!(sys["details"]["delta"].as_f64().unwrap() > 0.0);
    assert!(sys["details"]["p_value"].as_f64().unwrap() < 0.01);
    for test in ["bs", "ar"] {
        let doc = json_of(&assay(&[
            "text",
            "compare",
            "--baseline",
            &c("hyp"),
            "--hyp",
            &c("sys2"),
            "--ref",
            &c("ref1"),
            "--metrics",
            "bleu,chrf",
            "--test",
            test,
            "--samples",
            "100",
            "--json",
            "-q",
        ]));
        assert_eq!(doc["results"].as_array().unwrap().len(), 4, "{test}");
        assert_eq!(doc["seed"], 12345);
    }
}

#[test]
fn human_table_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let hyp = write(dir.path(), "h.txt", "a b c d\n");
    let rf = write(dir.path(), "r.txt", "a b c d\n");
    let out = assay(&["text", "bleu", "--hyp", &hyp, "--ref", &rf]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("metric") && text.contains("bleu") && text.contains("100.00"),
        "{text}"
    );
    assert!(text.contains("sha256:"), "{text}");
}

#[test]
fn bad_inputs_exit_2_and_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let two = write(d, "two.txt", "a\nb\n");
    let three = write(d, "three.txt", "a\nb\nc\n");
    let empty = write(d, "empty.txt", "");
    let badutf = d.join("bad.txt");
    std::fs::write(&badutf, b"fine\nbroken \xc3\x28 here\n").unwrap();
    let badutf = badutf.display().to_string();
    let jsonl = write(d, "x.jsonl", "{\"text\": \"a\"}\n{\"text\": \"b\"}\n");
    let jsonl_nope = format!("{jsonl}:nope");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["text", "bleu", "--hyp", &two, "--ref", &three],
            "has 2 segments but",
        ),
        (
            vec!["text", "bleu", "--hyp", &empty, "--ref", &two],
            "empty",
        ),
        (
            vec!["text", "bleu", "--hyp", &badutf, "--ref", &two],
            "line 2: invalid UTF-8",
        ),
        (
            vec![
                "text",
                "bleu",
                "--hyp",
                &two,
                "--ref",
                &two,
                "--tokenize",
                "klingon",
            ],
            "unknown tokenizer 'klingon'",
        ),
        (
            vec!["text", "bleu", "--hyp", "/no/such/file.txt", "--ref", &two],
            "no such file",
        ),
        (
            vec!["text", "bleu", "--hyp", &jsonl_nope, "--ref", &two],
            "no column 'nope' (columns: text)",
        ),
        (
            vec![
                "text", "rouge", "--hyp", &two, "--ref", &two, "--types", "rougeX",
            ],
            "unknown ROUGE type",
        ),
        (
            vec![
                "text",
                "bleu",
                "--hyp",
                &jsonl,
                "--ref",
                &two,
                "--sentence",
                "--out",
                &jsonl,
            ],
            "one of the inputs",
        ),
        (
            vec![
                "text",
                "bleu",
                "--hyp",
                &two,
                "--ref",
                &two,
                "--sentence",
                "--out",
                "scores.xlsx",
            ],
            ".parquet, .csv or .jsonl",
        ),
    ];
    for (args, needle) in cases {
        let out = assay(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(needle),
            "{args:?}: expected '{needle}' in: {err}"
        );
    }
    // The input that --out pointed at is untouched.
    assert_eq!(
        std::fs::read_to_string(&jsonl).unwrap(),
        "{\"text\": \"a\"}\n{\"text\": \"b\"}\n"
    );
    // A JSONL column works where a plain file would: same counts, so it runs.
    let ok = assay(&["text", "bleu", "--hyp", &jsonl, "--ref", &two, "--json"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

#[test]
fn seeds_make_intervals_reproducible() {
    let corpus = parity_corpus().display().to_string();
    let args = |seed: &str| -> Vec<String> {
        [
            "text",
            "chrf",
            "--hyp",
            &format!("{corpus}:hyp"),
            "--ref",
            &format!("{corpus}:ref1"),
            "--bootstrap",
            "100",
            "--seed",
            seed,
            "--json",
            "-q",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let run = |seed: &str| {
        let a = args(seed);
        let doc = json_of(&assay(&a.iter().map(String::as_str).collect::<Vec<_>>()));
        (
            doc["results"][0]["ci_low"].as_f64().unwrap(),
            doc["seed"].as_u64().unwrap(),
        )
    };
    assert_eq!(run("1"), run("1"));
    assert_ne!(run("1").0, run("2").0);
    assert_eq!(run("2").1, 2);
}
