//! Parity with sacrebleu 2.x and rouge_score 0.1.x on the committed corpus.
//!
//! The goldens in tests/parity/text/goldens were written by tests/parity/text_goldens.py with
//! the reference tools (their versions are recorded in each file). Scores must agree to 1e-9
//! relative; every per-segment value is checked, not only corpus totals.

use assay_metrics::text::bleu::{self, Bleu, BleuConfig, SmoothMethod};
use assay_metrics::text::chrf::{Chrf, ChrfConfig};
use assay_metrics::text::rouge::{porter, Rouge, RougeConfig, RougeType};
use assay_metrics::text::tokenizers::TokenizerKind;
use assay_metrics::text::{corpus_stats, SegmentMetric};
use serde_json::Value;
use std::path::PathBuf;

fn parity_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/parity/text")
}

struct Row {
    hyp: String,
    ref1: String,
    ref2: String,
}

fn corpus() -> Vec<Row> {
    let text = std::fs::read_to_string(parity_dir().join("corpus.jsonl")).unwrap();
    text.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let s = |k: &str| v[k].as_str().unwrap().to_string();
            Row {
                hyp: s("hyp"),
                ref1: s("ref1"),
                ref2: s("ref2"),
            }
        })
        .collect()
}

fn golden(name: &str) -> Value {
    let text = std::fs::read_to_string(parity_dir().join("goldens").join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn close(got: f64, want: f64) -> bool {
    if want == 0.0 {
        got.abs() < 1e-12
    } else {
        ((got - want) / want).abs() <= 1e-9
    }
}

fn refs_of(rows: &[Row], which: &str) -> Vec<Vec<String>> {
    let r1: Vec<String> = rows.iter().map(|r| r.ref1.clone()).collect();
    match which {
        "1ref" => vec![r1],
        "2ref" => vec![r1, rows.iter().map(|r| r.ref2.clone()).collect()],
        other => panic!("unknown ref set {other}"),
    }
}

fn bleu_config(cfg: &Value) -> BleuConfig {
    let mut c = BleuConfig::default();
    if let Some(t) = cfg.get("tokenize") {
        c.tokenizer = t.as_str().unwrap().parse::<TokenizerKind>().unwrap();
    }
    if let Some(s) = cfg.get("smooth_method") {
        c.smooth_method = s.as_str().unwrap().parse::<SmoothMethod>().unwrap();
    }
    if let Some(v) = cfg.get("smooth_value") {
        c.smooth_value = v.as_f64();
    }
    if let Some(v) = cfg.get("lowercase") {
        c.lowercase = v.as_bool().unwrap();
    }
    if let Some(v) = cfg.get("effective_order") {
        c.effective_order = v.as_bool().unwrap();
    }
    if let Some(v) = cfg.get("max_ngram_order") {
        c.max_ngram_order = v.as_u64().unwrap() as usize;
    }
    c
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn bleu_corpus_scores_match_sacrebleu() {
    let rows = corpus();
    let hyps: Vec<String> = rows.iter().map(|r| r.hyp.clone()).collect();
    let g = golden("bleu.json");
    let cases = g["corpus"].as_array().unwrap();
    assert!(cases.len() >= 20);
    for case in cases {
        let cfg = bleu_config(&case["config"]);
        let refs = refs_of(&rows, case["refs"].as_str().unwrap());
        let s = bleu::corpus_score(&hyps, &refs, &cfg).unwrap();
        let what = format!("{} {}", case["config"], case["refs"]);
        assert!(
            close(s.score, case["score"].as_f64().unwrap()),
            "{what}: {} vs {}",
            s.score,
            case["score"]
        );
        assert_eq!(s.counts, floats(&case["counts"]), "{what}");
        assert_eq!(s.totals, floats(&case["totals"]), "{what}");
        for (a, b) in s.precisions.iter().zip(floats(&case["precisions"])) {
            assert!(close(*a, b), "{what}: precision {a} vs {b}");
        }
        assert!(close(s.bp, case["bp"].as_f64().unwrap()), "{what}: bp");
        assert_eq!(s.sys_len, case["sys_len"].as_u64().unwrap(), "{what}");
        assert_eq!(s.ref_len, case["ref_len"].as_u64().unwrap(), "{what}");
        // Same signature but for the version field.
        let want_sig = case["signature"].as_str().unwrap();
        let got_sig = Bleu::new(cfg).unwrap().signature(refs.len());
        assert_eq!(
            got_sig.rsplit_once("|version:").unwrap().0,
            want_sig.rsplit_once("|version:").unwrap().0,
            "{what}"
        );
    }
}

#[test]
fn bleu_sentence_scores_match_sacrebleu() {
    let rows = corpus();
    let g = golden("bleu.json");
    for case in g["sentence"].as_array().unwrap() {
        let bleu = Bleu::new(bleu_config(&case["config"])).unwrap();
        let want = floats(&case["scores"]);
        assert_eq!(want.len(), rows.len());
        let mut row = vec![0.0; bleu.n_stats()];
        for (i, (r, w)) in rows.iter().zip(&want).enumerate() {
            bleu.segment_stats(&r.hyp, &[&r.ref1, &r.ref2], &mut row);
            let got = bleu.score_from_stats(&row).score;
            assert!(
                close(got, *w),
                "{} segment {i}: {got} vs {w}",
                case["config"]
            );
        }
    }
}

fn chrf_config(cfg: &Value) -> ChrfConfig {
    let mut c = ChrfConfig::default();
    let u = |k: &str| cfg.get(k).map(|v| v.as_u64().unwrap() as usize);
    let b = |k: &str| cfg.get(k).map(|v| v.as_bool().unwrap());
    c.char_order = u("char_order").unwrap_or(c.char_order);
    c.word_order = u("word_order").unwrap_or(c.word_order);
    c.beta = u("beta").map(|x| x as u32).unwrap_or(c.beta);
    c.lowercase = b("lowercase").unwrap_or(false);
    c.whitespace = b("whitespace").unwrap_or(false);
    c.eps_smoothing = b("eps_smoothing").unwrap_or(false);
    c
}

#[test]
fn chrf_scores_match_sacrebleu() {
    let rows = corpus();
    let hyps: Vec<String> = rows.iter().map(|r| r.hyp.clone()).collect();
    let g = golden("chrf.json");
    for case in g["corpus"].as_array().unwrap() {
        let chrf = Chrf::new(chrf_config(&case["config"])).unwrap();
        let refs = refs_of(&rows, case["refs"].as_str().unwrap());
        let st = corpus_stats(&chrf, &hyps, &refs).unwrap();
        let got = chrf.f_score(&st.totals());
        let want = case["score"].as_f64().unwrap();
        assert!(
            close(got, want),
            "{} {}: {got} vs {want}",
            case["config"],
            case["refs"]
        );
        let want_sig = case["signature"].as_str().unwrap();
        assert_eq!(
            chrf.signature(refs.len())
                .rsplit_once("|version:")
                .unwrap()
                .0,
            want_sig.rsplit_once("|version:").unwrap().0
        );
    }
    for case in g["sentence"].as_array().unwrap() {
        let chrf = Chrf::new(chrf_config(&case["config"])).unwrap();
        let mut row = vec![0.0; chrf.n_stats()];
        for (i, (r, w)) in rows.iter().zip(floats(&case["scores"])).enumerate() {
            chrf.segment_stats(&r.hyp, &[&r.ref1, &r.ref2], &mut row);
            let got = chrf.f_score(&row);
            assert!(
                close(got, w),
                "{} segment {i}: {got} vs {w}",
                case["config"]
            );
        }
    }
}

#[test]
fn rouge_scores_match_rouge_score() {
    let rows = corpus();
    let g = golden("rouge.json");
    let types: Vec<RougeType> = g["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().parse().unwrap())
        .collect();
    for run in g["runs"].as_array().unwrap() {
        let rouge = Rouge::new(RougeConfig {
            types: types.clone(),
            use_stemmer: run["use_stemmer"].as_bool().unwrap(),
            ..Default::default()
        })
        .unwrap();
        let two = run["refs"].as_str().unwrap() == "2ref";
        let mut row = vec![0.0; rouge.n_stats()];
        let mut sums = vec![0.0; rouge.n_stats()];
        for (i, r) in rows.iter().enumerate() {
            let refs: Vec<&str> = if two {
                vec![&r.ref1, &r.ref2]
            } else {
                vec![&r.ref1]
            };
            rouge.segment_stats(&r.hyp, &refs, &mut row);
            for (k, t) in types.iter().enumerate() {
                let seg = &run["segments"][t.to_string()];
                for (j, field) in ["precision", "recall", "fmeasure"].iter().enumerate() {
                    let want = seg[field][i].as_f64().unwrap();
                    let got = row[3 * k + j];
                    assert!(
                        close(got, want),
                        "stem={} {} {t} {field} segment {i}: {got} vs {want}",
                        run["use_stemmer"],
                        run["refs"]
                    );
                }
            }
            for (a, b) in sums.iter_mut().zip(&row) {
                *a += b;
            }
        }
        let means = rouge.values(&sums, rows.len());
        for (k, t) in types.iter().enumerate() {
            let want = run["mean"][t.to_string()]["fmeasure"].as_f64().unwrap();
            assert!(close(means[k], want), "{t} mean: {} vs {want}", means[k]);
        }
    }
}

#[test]
fn porter_stems_match_nltk() {
    let g = golden("porter.json");
    assert_eq!(g["mode"], "NLTK_EXTENSIONS");
    let stems = g["stems"].as_object().unwrap();
    assert!(stems.len() > 1000);
    let mut bad = Vec::new();
    for (w, s) in stems {
        let got = porter::stem(w);
        if got != s.as_str().unwrap() {
            bad.push(format!("{w}: {got} vs {s}"));
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} stems differ, e.g. {:?}",
        bad.len(),
        stems.len(),
        &bad[..bad.len().min(10)]
    );
}
