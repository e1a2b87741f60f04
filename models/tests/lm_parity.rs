//! Parity of Assay's log-probability scorer with transformers, on the goldens
//! `tests/parity/lm_goldens.py` wrote (small random GPT-2 and Qwen2 models and a byte-level
//! BPE tokenizer).

use assay_models::lm::{guide_perplexity, LogProbScorer, ScoreOptions};
use candle_core::{DType, Device};
use serde_json::Value;
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/parity/lm")
}

/// Each model with its goldens.
fn models() -> Vec<(LogProbScorer, Value)> {
    [("gpt2", "goldens.json"), ("qwen2", "goldens_qwen2.json")]
        .iter()
        .map(|(m, g)| {
            let lm = LogProbScorer::load(&dir().join(m), &Device::Cpu, DType::F32).unwrap();
            let g = serde_json::from_str(&std::fs::read_to_string(dir().join(g)).unwrap()).unwrap();
            (lm, g)
        })
        .collect()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn opts(add_bos: bool, max_length: usize, stride: usize, batch_size: usize) -> ScoreOptions {
    ScoreOptions {
        add_bos,
        max_length,
        stride,
        batch_size,
    }
}

#[test]
fn token_ids_match_the_tokenizer() {
    let (lm, g) = models().remove(0);
    for t in g["texts"].as_array().unwrap() {
        assert_eq!(
            lm.tokenize(t["text"].as_str().unwrap()).unwrap(),
            ids(&t["ids"]),
            "{}",
            t["text"]
        );
    }
}

#[test]
fn per_token_logprobs_and_per_text_perplexity_match_transformers() {
    for (lm, g) in models() {
        let mut worst = 0f64;
        for add_bos in [true, false] {
            let key = if add_bos { "bos" } else { "no_bos" };
            let texts: Vec<&Value> = g["texts"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| t.get(key).is_some())
                .collect();
            let seqs: Vec<Vec<u32>> = texts
                .iter()
                .map(|t| {
                    lm.ids_for(t["text"].as_str().unwrap(), &opts(add_bos, 64, 64, 3))
                        .unwrap()
                })
                .collect();
            // Batches of 3 mix lengths: padding must not change any score.
            let scored = lm
                .score_ids(&seqs, &opts(add_bos, 64, 64, 3), &|_, _| {})
                .unwrap();
            for (t, s) in texts.iter().zip(&scored) {
                let want: Vec<f64> = t[key]["logprobs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap())
                    .collect();
                assert_eq!(s.tokens.len(), want.len(), "{}", t["text"]);
                for (tok, w) in s.tokens.iter().zip(&want) {
                    worst = worst.max((tok.logprob - w).abs());
                    assert!(
                        (tok.logprob - w).abs() < 1e-4,
                        "{}: {} vs {w}",
                        t["text"],
                        tok.logprob
                    );
                    assert!(tok.rank >= 1 && tok.entropy > 0.0);
                }
                let want = t[key]["evaluate_perplexity"].as_f64().unwrap();
                let got = s.perplexity();
                assert!(
                    (got - want).abs() <= 1e-5 * want,
                    "{}: ppl {got} vs {want}",
                    t["text"]
                );
            }
        }
        eprintln!("{}: largest log-prob difference {worst:e}", g["model"]);
    }
}

#[test]
fn sliding_windows_match_the_guide() {
    for (lm, g) in models() {
        let texts = g["texts"].as_array().unwrap();
        for w in g["windows"].as_array().unwrap() {
            let (ml, st) = (
                w["max_length"].as_u64().unwrap() as usize,
                w["stride"].as_u64().unwrap() as usize,
            );
            let o = opts(true, ml, st, 4);
            for (i, want) in w["texts"].as_object().unwrap() {
                let text = texts[i.parse::<usize>().unwrap()]["text"].as_str().unwrap();
                let seq = lm.ids_for(text, &o).unwrap();
                let s = &lm.score_ids(&[seq], &o, &|_, _| {}).unwrap()[0];
                let want: Vec<(usize, f64)> = want
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| (p[0].as_u64().unwrap() as usize, p[1].as_f64().unwrap()))
                    .collect();
                let got: Vec<usize> = s.tokens.iter().map(|t| t.position).collect();
                assert_eq!(
                    got,
                    want.iter().map(|p| p.0).collect::<Vec<_>>(),
                    "({ml}, {st}) text {i}: positions"
                );
                for (tok, (_, lp)) in s.tokens.iter().zip(&want) {
                    assert!(
                        (tok.logprob - lp).abs() < 1e-4,
                        "({ml}, {st}) text {i} pos {}",
                        tok.position
                    );
                }
            }
            // The corpus joined by "\n\n" (one sequence, no BOS), as the guide scores it.
            let joined = ids(&w["joined_ids"]);
            let s = &lm
                .score_ids(&[joined], &opts(false, ml, st, 4), &|_, _| {})
                .unwrap()[0];
            let want = w["joined_token_perplexity"].as_f64().unwrap();
            assert!(
                (s.perplexity() - want).abs() <= 1e-5 * want,
                "({ml}, {st}): {} vs {want}",
                s.perplexity()
            );
            if let Some(want) = w["joined_guide_perplexity"].as_f64() {
                if want.is_finite() {
                    let got = guide_perplexity(&s.windows);
                    assert!(
                        (got - want).abs() <= 1e-5 * want,
                        "({ml}, {st}) guide: {got} vs {want}"
                    );
                }
            }
        }
    }
}

#[test]
fn half_precision_scores_stay_close_to_f32() {
    for m in ["gpt2", "qwen2"] {
        let o = opts(true, 64, 32, 4);
        let f32_lm = LogProbScorer::load(&dir().join(m), &Device::Cpu, DType::F32).unwrap();
        let seq = f32_lm
            .ids_for("The quick brown fox jumps over the lazy dog.", &o)
            .unwrap();
        let want = &f32_lm
            .score_ids(std::slice::from_ref(&seq), &o, &|_, _| {})
            .unwrap()[0];
        for dtype in [DType::BF16, DType::F16] {
            let lm = LogProbScorer::load(&dir().join(m), &Device::Cpu, dtype).unwrap();
            let got = &lm
                .score_ids(std::slice::from_ref(&seq), &o, &|_, _| {})
                .unwrap()[0];
            let worst = got
                .tokens
                .iter()
                .zip(&want.tokens)
                .map(|(a, b)| (a.logprob - b.logprob).abs())
                .fold(0f64, f64::max);
            eprintln!("{m} {dtype:?}: largest log-prob difference from f32 {worst:.4}");
            // bf16 keeps 8 bits of mantissa (measured: 0.012 at most), f16 11 (0.001).
            assert!(worst < 0.05, "{m} {dtype:?}: {worst}");
            assert!(worst > 0.0, "{m} {dtype:?} computed in f32?");
        }
    }
}
