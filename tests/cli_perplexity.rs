//! End-to-end tests of `assay text perplexity` on the committed goldens (tests/parity/lm,
//! written by tests/parity/lm_goldens.py with transformers on a small random GPT-2).

mod common;

use common::{assay, json_of, metric};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

fn lm() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/parity/lm")
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn golden() -> Value {
    serde_json::from_str(&std::fs::read_to_string(lm().join("goldens.json")).unwrap()).unwrap()
}

/// `assay text perplexity --model M --input INPUT ARGS --json -q`.
fn perplexity(input: &str, args: &[&str]) -> Output {
    let model = s(&lm().join("gpt2"));
    let mut full = vec!["text", "perplexity", "--model", &model, "--input", input];
    full.extend_from_slice(args);
    full.extend_from_slice(&["--json", "-q"]);
    assay(&full)
}

fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn corpus_and_mean_perplexity_match_transformers_and_evaluate() {
    let g = golden();
    let fits: Vec<&Value> = g["texts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t.get("bos").is_some())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("texts.txt");
    let lines: Vec<&str> = fits.iter().map(|t| t["text"].as_str().unwrap()).collect();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let tokens = dir.path().join("tokens.jsonl");
    let doc = json_of(&perplexity(&s(&input), &["--out", &s(&tokens)]));
    let (mut nll, mut n, mut mean) = (0.0, 0usize, 0.0);
    for t in &fits {
        let lp: Vec<f64> = t["bos"]["logprobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        nll -= lp.iter().sum::<f64>();
        n += lp.len();
        mean += t["bos"]["evaluate_perplexity"].as_f64().unwrap() / fits.len() as f64;
    }
    let want = (nll / n as f64).exp();
    let row = metric(&doc, "perplexity");
    let got = row["value"].as_f64().unwrap();
    assert!((got - want).abs() <= 1e-5 * want, "corpus {got} vs {want}");
    assert_eq!(row["n"], n);
    let sig = row["details"]["signature"].as_str().unwrap();
    assert!(
        sig.contains("|bos:yes|max_length:64|stride:32|dtype:f32|version:assay-"),
        "{sig}"
    );
    assert!(row["ci_low"].as_f64().unwrap() < got && got < row["ci_high"].as_f64().unwrap());
    let got = metric(&doc, "mean_text_perplexity")["value"]
        .as_f64()
        .unwrap();
    assert!(
        (got - mean).abs() <= 1e-5 * mean,
        "mean {got} vs evaluate {mean}"
    );
    // One row per scored token, in order, with the tokenizer's token strings.
    let rows = jsonl(&tokens);
    assert_eq!(rows.len(), n);
    let first = &fits[0];
    assert_eq!(rows[0]["token"], first["tokens"][0]);
    let lp0 = first["bos"]["logprobs"][0].as_f64().unwrap();
    assert!((rows[0]["logprob"].as_f64().unwrap() - lp0).abs() < 1e-4);
    assert!(rows
        .iter()
        .all(|r| r["rank"].as_u64().unwrap() >= 1 && r["entropy"].as_f64().unwrap() > 0.0));
}

#[test]
fn sliding_windows_score_the_tokens_the_guide_scores() {
    let g = golden();
    let texts = g["texts"].as_array().unwrap();
    let w = g["windows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["max_length"] == 32 && w["stride"] == 8)
        .unwrap();
    let (idx, want) = w["texts"].as_object().unwrap().iter().next().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("long.txt");
    std::fs::write(
        &input,
        texts[idx.parse::<usize>().unwrap()]["text"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let tokens = dir.path().join("tokens.jsonl");
    let doc = json_of(&perplexity(
        &s(&input),
        &["--max-length", "32", "--stride", "8", "--out", &s(&tokens)],
    ));
    assert_eq!(metric(&doc, "perplexity")["details"]["texts_in_windows"], 1);
    let rows = jsonl(&tokens);
    let want = want.as_array().unwrap();
    assert_eq!(rows.len(), want.len());
    for (r, w) in rows.iter().zip(want) {
        assert_eq!(r["position"], w[0]);
        assert!((r["logprob"].as_f64().unwrap() - w[1].as_f64().unwrap()).abs() < 1e-4);
    }
}

#[test]
fn the_joined_corpus_gives_the_guides_perplexity() {
    let g = golden();
    let w = g["windows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["max_length"] == 64 && w["stride"] == 32)
        .unwrap();
    let texts: Vec<&str> = g["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["text"].as_str().unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("corpus.jsonl");
    std::fs::write(
        &input,
        serde_json::json!({"text": texts.join("\n\n")}).to_string() + "\n",
    )
    .unwrap();
    let spec = format!("{}:text", s(&input));
    let doc = json_of(&perplexity(
        &spec,
        &[
            "--add-bos",
            "false",
            "--max-length",
            "64",
            "--stride",
            "32",
            "--bootstrap",
            "0",
        ],
    ));
    let row = metric(&doc, "perplexity");
    let want = w["joined_token_perplexity"].as_f64().unwrap();
    let got = row["value"].as_f64().unwrap();
    assert!((got - want).abs() <= 1e-5 * want, "{got} vs {want}");
    let want = w["joined_guide_perplexity"].as_f64().unwrap();
    let got = row["details"]["hf_guide_formula"].as_f64().unwrap();
    assert!((got - want).abs() <= 1e-5 * want, "guide {got} vs {want}");
}

#[test]
fn empty_and_one_token_texts_are_counted_not_scored() {
    let input = s(&lm().join("texts.txt"));
    let doc = json_of(&perplexity(
        &input,
        &["--add-bos", "false", "--bootstrap", "0"],
    ));
    let d = &metric(&doc, "perplexity")["details"];
    assert_eq!(d["skipped_empty"], 1);
    assert_eq!(d["skipped_empty_lines"], serde_json::json!([3]));
    assert_eq!(d["skipped_one_token"], 1);
    assert_eq!(d["skipped_one_token_lines"], serde_json::json!([4]));
    assert_eq!(metric(&doc, "mean_text_perplexity")["n"], 8);
    // With BOS in front, "x" has a token to predict.
    let doc = json_of(&perplexity(&input, &["--bootstrap", "0"]));
    assert_eq!(metric(&doc, "mean_text_perplexity")["n"], 9);
}

#[test]
fn unsupported_models_and_bad_inputs_are_exit_2_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("bert");
    std::fs::create_dir(&model).unwrap();
    for f in ["model.safetensors", "tokenizer.json"] {
        std::fs::copy(lm().join("gpt2").join(f), model.join(f)).unwrap();
    }
    std::fs::write(model.join("config.json"), r#"{"model_type": "bert"}"#).unwrap();
    let input = s(&lm().join("texts.txt"));
    let out = assay(&[
        "text",
        "perplexity",
        "--model",
        &s(&model),
        "--input",
        &input,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("model_type 'bert'") && err.contains("gpt2"),
        "{err}"
    );

    std::fs::copy(lm().join("gpt2/config.json"), model.join("config.json")).unwrap();
    std::fs::remove_file(model.join("tokenizer.json")).unwrap();
    let out = assay(&[
        "text",
        "perplexity",
        "--model",
        &s(&model),
        "--input",
        &input,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tokenizer.json"));

    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, b"fine\nnot \xff utf8\n").unwrap();
    let out = perplexity(&s(&bad), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2"));

    let out = perplexity(&input, &["--max-length", "65"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("context (64)"));
}

#[test]
fn qwen2_models_score_through_the_same_command() {
    let g: Value =
        serde_json::from_str(&std::fs::read_to_string(lm().join("goldens_qwen2.json")).unwrap())
            .unwrap();
    let t = g["texts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t.get("bos").is_some())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("one.txt");
    std::fs::write(&input, t["text"].as_str().unwrap()).unwrap();
    let model = s(&lm().join("qwen2"));
    let doc = json_of(&assay(&[
        "text",
        "perplexity",
        "--model",
        &model,
        "--input",
        &s(&input),
        "--json",
        "-q",
    ]));
    let want = t["bos"]["evaluate_perplexity"].as_f64().unwrap();
    let row = metric(&doc, "perplexity");
    assert!((row["value"].as_f64().unwrap() - want).abs() <= 1e-5 * want);
    assert_eq!(row["details"]["model_type"], "qwen2");
    // bf16 stays within a percent of f32 here.
    let doc = json_of(&assay(&[
        "text",
        "perplexity",
        "--model",
        &model,
        "--input",
        &s(&input),
        "--dtype",
        "bf16",
        "--json",
        "-q",
    ]));
    let got = metric(&doc, "perplexity")["value"].as_f64().unwrap();
    assert!(
        (got - want).abs() < 0.01 * want && got != want,
        "{got} vs {want}"
    );
}
