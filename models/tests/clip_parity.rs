//! Parity of Assay's CLIP with transformers' `CLIPModel`, its `CLIPTokenizer` and its
//! PIL-backend image processor, on the goldens `tests/parity/clip_goldens.py` wrote (a small
//! random CLIP with CLIP's own, truncated, BPE vocabulary).

use assay_models::clip::Clip;
use assay_models::image::decode_rgb8;
use candle_core::Device;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

fn parity_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/parity")
}

fn golden() -> Value {
    let p = parity_dir().join("clip/goldens.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// Largest absolute difference relative to the golden's largest magnitude.
fn rel_err(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0f32, |m, x| m.max(x.abs()));
    got.iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max)
        / scale
}

fn model() -> Clip {
    Clip::load(&parity_dir().join("clip/model"), &Device::Cpu).unwrap()
}

#[test]
fn crops_match_the_pil_backend_processor_byte_for_byte() {
    let g = golden();
    let clip = model();
    for (name, want) in g["images"].as_object().unwrap() {
        let path = parity_dir().join("images").join(name);
        let img = decode_rgb8(&path, &std::fs::read(&path).unwrap()).unwrap();
        let crop = clip.preprocess.crop_rgb8(&img);
        let sums: Vec<u64> = (0..3)
            .map(|c| crop.data[c..].iter().step_by(3).map(|&v| v as u64).sum())
            .collect();
        let want_sums: Vec<u64> = want["crop_channel_sums"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(sums, want_sums, "{name}: channel sums");
        assert_eq!(
            hex::encode(Sha256::digest(&crop.data)),
            want["crop_sha256"].as_str().unwrap(),
            "{name}: crop bytes"
        );
    }
}

#[test]
fn image_embeddings_match_transformers() {
    let g = golden();
    let clip = model();
    let mut pixels = Vec::new();
    let mut wants = Vec::new();
    for (name, want) in g["images"].as_object().unwrap() {
        let path = parity_dir().join("images").join(name);
        let img = decode_rgb8(&path, &std::fs::read(&path).unwrap()).unwrap();
        pixels.extend(clip.preprocess.pixel_values(&img));
        wants.push((name.clone(), floats(&want["embedding"])));
    }
    let got = clip.embed_pixels(pixels, wants.len()).unwrap();
    let mut worst = 0f32;
    for ((name, want), got) in wants.iter().zip(&got) {
        let e = rel_err(got, want);
        assert!(e < 1e-4, "{name}: relative error {e}");
        worst = worst.max(e);
    }
    eprintln!("image embeddings: largest relative error {worst:e}");
}

#[test]
fn token_ids_and_text_embeddings_match_transformers() {
    let g = golden();
    let clip = model();
    let texts: Vec<String> = g["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["text"].as_str().unwrap().to_string())
        .collect();
    let tokens = clip.tokenize(&texts).unwrap();
    let mut truncated = 0;
    for (t, want) in tokens.iter().zip(g["texts"].as_array().unwrap()) {
        assert_eq!(t.ids, ids(&want["ids"]), "{}", want["text"]);
        truncated += t.truncated as usize;
    }
    // The two long captions (with and without the prefix) are cut to 77 tokens.
    assert_eq!(truncated, 2);
    assert!(tokens.iter().all(|t| t.ids.len() <= 77));
    // Batches of mixed lengths: the padding must not reach the pooled token.
    let mut worst = 0f32;
    for chunk in tokens
        .chunks(7)
        .zip(g["texts"].as_array().unwrap().chunks(7))
    {
        let got = clip.embed_tokens(chunk.0).unwrap();
        for (e, want) in got.iter().zip(chunk.1) {
            let err = rel_err(e, &floats(&want["embedding"]));
            assert!(err < 1e-4, "{}: relative error {err}", want["text"]);
            worst = worst.max(err);
        }
    }
    eprintln!("text embeddings: largest relative error {worst:e}");
}

#[test]
fn a_tokenizer_built_from_vocab_and_merges_gives_the_same_ids() {
    let g = golden();
    let src = parity_dir().join("clip/model");
    let tmp = tempfile::tempdir().unwrap();
    for f in [
        "config.json",
        "model.safetensors",
        "vocab.json",
        "merges.txt",
        "preprocessor_config.json",
    ] {
        std::fs::copy(src.join(f), tmp.path().join(f)).unwrap();
    }
    let clip = Clip::load(tmp.path(), &Device::Cpu).unwrap();
    assert!(clip.files.iter().any(|f| f.ends_with("merges.txt")));
    for want in g["texts"].as_array().unwrap() {
        let text = want["text"].as_str().unwrap().to_string();
        let got = clip.tokenize(&[text]).unwrap();
        assert_eq!(got[0].ids, ids(&want["ids"]), "{}", want["text"]);
    }
}

#[test]
fn a_folder_without_weights_says_what_a_clip_folder_holds() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        parity_dir().join("clip/model/config.json"),
        tmp.path().join("config.json"),
    )
    .unwrap();
    let msg = match Clip::load(tmp.path(), &Device::Cpu) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("loaded a folder without weights"),
    };
    assert!(
        msg.contains("model.safetensors") && msg.contains("tokenizer.json"),
        "{msg}"
    );
}
