//! End-to-end tests of `assay reference data`: what is written is what the library's
//! generative process gives, and what the results say about it is true of the files.

mod common;

use assay_reference::data::glyphs;
use assay_reference::data::hmm_text::Hmm;
use common::{assay, json_of, metric};
use serde_json::Value;
use std::path::Path;

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn glyph_folders_hold_the_generated_images_and_their_labels() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("glyphs");
    let doc = json_of(&assay(&[
        "reference",
        "data",
        "glyphs",
        "-n",
        "300",
        "-o",
        &s(&out),
        "--seed",
        "9",
        "--json",
    ]));
    let row = metric(&doc, "glyphs");
    assert_eq!(row["n"], 300);
    let counted: u64 = row["details"]["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["count"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, 300);
    let labels = std::fs::read_to_string(out.join("labels.csv")).unwrap();
    let lines: Vec<&str> = labels.lines().skip(1).collect();
    assert_eq!(lines.len(), 300);
    for (i, line) in lines.iter().enumerate().step_by(37) {
        let g = glyphs::glyph(9, i as u64);
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields[1].parse::<usize>().unwrap(), g.params.class);
        let img = image::open(out.join(fields[0])).unwrap().to_luma8();
        assert_eq!(img.dimensions(), (28, 28));
        assert_eq!(img.into_raw(), g.pixels, "{}", fields[0]);
    }
    // A folder that holds something is never written into.
    let again = assay(&["reference", "data", "glyphs", "-n", "3", "-o", &s(&out)]);
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(out.join("labels.csv")).unwrap(),
        labels
    );
}

#[test]
fn hmm_texts_carry_their_exact_log_probabilities() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("texts.jsonl");
    let doc = json_of(&assay(&[
        "reference",
        "data",
        "hmm-text",
        "-n",
        "200",
        "-o",
        &s(&out),
        "--json",
    ]));
    let hmm = Hmm::default_model();
    let (mut nll, mut tokens) = (0.0, 0u64);
    for line in std::fs::read_to_string(&out).unwrap().lines() {
        let rec: Value = serde_json::from_str(line).unwrap();
        let ids = hmm.encode(rec["text"].as_str().unwrap()).unwrap();
        let lp = hmm.log_prob(&ids).unwrap();
        assert!((lp - rec["log_prob"].as_f64().unwrap()).abs() < 1e-9);
        assert_eq!(rec["tokens"].as_u64().unwrap(), ids.len() as u64);
        nll -= lp;
        tokens += ids.len() as u64;
    }
    let row = metric(&doc, "true_perplexity");
    let want = (nll / tokens as f64).exp();
    assert!((row["value"].as_f64().unwrap() - want).abs() < 1e-9 * want);
    assert_eq!(row["n"], tokens);
    // Plain text: the same texts, one per line.
    let txt = dir.path().join("texts.txt");
    json_of(&assay(&[
        "reference",
        "data",
        "hmm-text",
        "-n",
        "200",
        "-o",
        &s(&txt),
        "--json",
    ]));
    let first: Value = serde_json::from_str(
        std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(&txt)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
        first["text"].as_str().unwrap()
    );
}

#[test]
fn planted_bias_texts_are_labelled_with_their_group_and_attribute() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bias.jsonl");
    let doc = json_of(&assay(&[
        "reference",
        "data",
        "hmm-text",
        "-n",
        "400",
        "-o",
        &s(&out),
        "--planted-bias",
        "--json",
    ]));
    let d = &metric(&doc, "planted_attribute_rate")["details"];
    let (mut n, mut with) = ([0u64; 2], [0u64; 2]);
    for line in std::fs::read_to_string(&out).unwrap().lines() {
        let rec: Value = serde_json::from_str(line).unwrap();
        let g = if rec["group"] == "A" { 0 } else { 1 };
        n[g] += 1;
        with[g] += !rec["attribute"].is_null() as u64;
        let text = rec["text"].as_str().unwrap();
        assert!(text.starts_with(rec["name"].as_str().unwrap()));
    }
    assert_eq!(d["texts"]["A"], n[0]);
    assert_eq!(d["with_attribute"]["B"], with[1]);
    // 400 texts: the planted gap (0.6 vs 0.2) shows.
    assert!(with[0] as f64 / n[0] as f64 > with[1] as f64 / n[1] as f64 + 0.2);
}

#[test]
fn the_classifier_is_listed_and_its_training_runs_from_the_cli() {
    let doc = json_of(&assay(&["reference", "list", "--json"]));
    let committed = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("reference/weights/glyph_classifier.safetensors"),
    )
    .unwrap();
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&committed))
    };
    assert_eq!(
        metric(&doc, "classifier")["details"]["sha256"],
        sha.as_str()
    );

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c.safetensors");
    let doc = json_of(&assay(&[
        "reference",
        "train",
        "classifier",
        "-o",
        &s(&out),
        "--steps",
        "5",
        "--json",
    ]));
    let row = metric(&doc, "classifier.held_out_accuracy");
    let acc = row["value"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc));
    assert_eq!(row["details"]["losses"].as_array().unwrap().len(), 1);
    assert!(
        safetensors::SafeTensors::deserialize(&std::fs::read(&out).unwrap())
            .unwrap()
            .tensor("fc2.weight")
            .is_ok()
    );
    // Never over an existing file; unknown families named.
    let again = assay(&[
        "reference",
        "train",
        "classifier",
        "-o",
        &s(&out),
        "--steps",
        "1",
    ]);
    assert_eq!(again.status.code(), Some(2));
    let other = assay(&[
        "reference",
        "train",
        "nope",
        "-o",
        &s(&dir.path().join("v.safetensors")),
    ]);
    assert_eq!(other.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&other.stderr).contains("available: classifier, ar,"));
}

#[test]
fn every_bundled_network_is_listed_with_the_sha256_of_its_committed_file() {
    let doc = json_of(&assay(&["reference", "list", "--json"]));
    let rows = doc["results"].as_array().unwrap();
    assert_eq!(rows.len(), 11);
    for r in rows {
        let rel = r["details"]["weights"].as_str().unwrap();
        let bytes = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap();
        assert!(
            bytes.len() <= 5 << 20,
            "{rel}: {} bytes (the limit is 5 MB)",
            bytes.len()
        );
        use sha2::Digest;
        assert_eq!(
            r["details"]["sha256"],
            hex::encode(sha2::Sha256::digest(&bytes)).as_str(),
            "{rel}"
        );
    }
}

#[test]
fn image_generators_sample_reproducibly_into_new_folders() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, seed: &str| {
        let out = dir.path().join(name);
        let doc = json_of(&assay(&[
            "reference",
            "sample",
            "gan",
            "-n",
            "12",
            "-o",
            &s(&out),
            "--seed",
            seed,
            "--json",
        ]));
        let mut files: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let bytes: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
        (doc, bytes)
    };
    let (doc, a) = run("a", "3");
    let (_, b) = run("b", "3");
    let (_, c) = run("c", "4");
    assert_eq!(a.len(), 12);
    assert_eq!(a, b, "the seed fixes the samples");
    assert_ne!(a, c);
    let img = image::load_from_memory(&a[0]).unwrap();
    assert_eq!((img.width(), img.height()), (28, 28));
    let row = metric(&doc, "gan.class_kl");
    let counts: u64 = row["details"]["class_counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(counts, 12);
    assert_eq!(doc["seed"], 3);
    assert!(doc["inputs"][0]["path"]
        .as_str()
        .unwrap()
        .contains("gan.safetensors"));
    // Never over an existing folder; the classifier is not a generator.
    let again = assay(&[
        "reference",
        "sample",
        "gan",
        "-n",
        "2",
        "-o",
        &s(&dir.path().join("a")),
    ]);
    assert_eq!(again.status.code(), Some(2));
    let cls = assay(&[
        "reference",
        "sample",
        "classifier",
        "-n",
        "2",
        "-o",
        &s(&dir.path().join("x")),
    ]);
    assert_eq!(cls.status.code(), Some(2));
    let bad = assay(&[
        "reference",
        "sample",
        "diffusion",
        "-n",
        "2",
        "-o",
        &s(&dir.path().join("y")),
        "--sampler",
        "ddim:0",
    ]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn text_samples_are_scored_by_the_true_model() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ar.jsonl");
    let doc = json_of(&assay(&[
        "reference",
        "sample",
        "ar",
        "-n",
        "40",
        "-o",
        &s(&out),
        "--json",
    ]));
    let lines: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 40);
    let scored: Vec<f64> = lines
        .iter()
        .filter_map(|l| l["hmm_log_prob"].as_f64())
        .collect();
    assert!(scored.len() >= 35, "{} of 40 well formed", scored.len());
    let row = metric(&doc, "ar.true_hmm_perplexity_of_samples");
    let tokens: usize = lines
        .iter()
        .filter(|l| l["hmm_log_prob"].is_f64())
        .map(|l| l["text"].as_str().unwrap().split_whitespace().count())
        .sum();
    let expect = (-scored.iter().sum::<f64>() / tokens as f64).exp();
    assert!((row["value"].as_f64().unwrap() / expect - 1.0).abs() < 1e-9);
}

/// The committed AR folder loads with the Hugging Face loader of `assay text perplexity`, and
/// on fresh HMM texts it cannot beat their true perplexity, which it comes close to.
#[test]
fn the_bundled_ar_model_scores_above_the_truth_through_text_perplexity() {
    let dir = tempfile::tempdir().unwrap();
    let texts = dir.path().join("h.txt");
    let truth = json_of(&assay(&[
        "reference",
        "data",
        "hmm-text",
        "-n",
        "300",
        "-o",
        &s(&texts),
        "--seed",
        "91",
        "--json",
    ]));
    let true_ppl = metric(&truth, "true_perplexity")["value"].as_f64().unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("reference/weights/ar");
    let doc = json_of(&assay(&[
        "text",
        "perplexity",
        "--model",
        &s(&model),
        "--input",
        &s(&texts),
        "--json",
        "-q",
    ]));
    let ppl = doc["results"][0]["value"].as_f64().unwrap();
    assert_eq!(
        doc["results"][0]["n"].as_u64().unwrap(),
        metric(&truth, "true_perplexity")["n"].as_u64().unwrap(),
        "every token is scored (BOS in front)"
    );
    assert!(
        ppl >= true_ppl && ppl < 1.1 * true_ppl,
        "model {ppl} vs truth {true_ppl}"
    );
}

#[test]
fn training_an_autoregressive_variant_writes_a_loadable_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ar-small");
    let doc = json_of(&assay(&[
        "reference",
        "train",
        "ar",
        "-o",
        &s(&out),
        "--steps",
        "3",
        "--json",
    ]));
    let row = metric(&doc, "ar.final_loss");
    assert!(row["value"].as_f64().unwrap() > 0.0);
    assert!(
        row["details"]["max_abs_difference_from_committed"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let texts = dir.path().join("h.txt");
    std::fs::write(&texts, "rimova zobive .\n").unwrap();
    let doc = json_of(&assay(&[
        "text",
        "perplexity",
        "--model",
        &s(&out),
        "--input",
        &s(&texts),
        "--json",
        "-q",
    ]));
    assert!(doc["results"][0]["value"].as_f64().unwrap() > 1.0);
    let samples = dir.path().join("s.txt");
    json_of(&assay(&[
        "reference",
        "sample",
        "ar",
        "-n",
        "3",
        "-o",
        &s(&samples),
        "--weights",
        &s(&out),
        "--json",
    ]));
    assert_eq!(
        std::fs::read_to_string(&samples).unwrap().lines().count(),
        3
    );
}
