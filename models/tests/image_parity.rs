//! Parity of the image pipeline and the FID Inception with the reference tools, on the goldens
//! `tests/parity/image_goldens.py` wrote (PIL decode, torch / torch-fidelity / clean-fid resizes,
//! pytorch-fid's and torch-fidelity's networks on the same random narrowed weights).

use assay_models::image::{decode_rgb8, preprocess, ResizeMode};
use assay_models::inception::{load_weight_map, FidInception, INPUT_SIZE};
use candle_core::{Device, Tensor};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/parity/images")
}

fn golden() -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join("goldens.json")).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn images(g: &Value) -> Vec<(String, Value)> {
    g["images"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn decode(name: &str) -> assay_models::image::Rgb8 {
    let p = dir().join(name);
    decode_rgb8(&p, &std::fs::read(&p).unwrap()).unwrap()
}

#[test]
fn decoding_matches_pil_convert_rgb() {
    let g = golden();
    for (name, e) in images(&g) {
        let img = decode(&name);
        assert_eq!(
            (img.height, img.width),
            (
                e["height"].as_u64().unwrap() as usize,
                e["width"].as_u64().unwrap() as usize
            ),
            "{name}"
        );
        if let Some(reference) = e.get("rgb_jpeg") {
            // JPEG decoders (PIL's libjpeg-turbo, the image crate's) may round the inverse DCT
            // and chroma upsampling differently: bounded, not exact.
            let worst = floats(reference)
                .iter()
                .zip(&img.data)
                .map(|(r, &v)| (r - v as f64).abs())
                .fold(0.0, f64::max);
            assert!(
                worst <= 8.0,
                "{name}: largest pixel difference from PIL {worst}"
            );
            continue;
        }
        let digest = hex::encode(Sha256::digest(&img.data));
        assert_eq!(
            digest,
            e["rgb_sha256"].as_str().unwrap(),
            "{name}: RGB bytes differ from PIL's"
        );
    }
}

#[test]
fn every_resize_mode_matches_its_reference() {
    let g = golden();
    for (name, e) in images(&g) {
        if name.ends_with(".jpg") {
            continue; // decoded differently; see above
        }
        let img = decode(&name);
        for (mode, key) in [
            (ResizeMode::PytorchFid, "pytorch-fid"),
            (ResizeMode::Tf1, "tf1"),
            (ResizeMode::Clean, "clean"),
        ] {
            let r = &e["resize"][key];
            let small = preprocess(&img, mode, 23);
            let want = floats(&r["size23"]);
            assert_eq!(small.len(), want.len());
            for (i, (a, b)) in small.iter().zip(&want).enumerate() {
                assert!(
                    (*a as f64 - b).abs() <= 1e-5,
                    "{name} {key} size 23, value {i}: {a} vs {b}"
                );
            }
            let full = preprocess(&img, mode, INPUT_SIZE);
            for (i, b) in floats(&r["size299_sample_index"])
                .iter()
                .zip(floats(&r["size299_sample"]))
            {
                let a = full[*i as usize] as f64;
                assert!(
                    (a - b).abs() <= 1e-5,
                    "{name} {key} size 299, value {i}: {a} vs {b}"
                );
            }
            let sum: f64 = full.iter().map(|&v| v as f64).sum();
            let want_sum = r["size299_sum"].as_f64().unwrap();
            assert!(
                (sum - want_sum).abs() <= 1e-5 * full.len() as f64,
                "{name} {key}: sum {sum} vs {want_sum}"
            );
        }
    }
}

fn close(name: &str, what: &str, got: &Tensor, want: &Value) {
    let got: Vec<f32> = got.flatten_all().unwrap().to_vec1().unwrap();
    let want = floats(want);
    assert_eq!(got.len(), want.len(), "{name} {what}");
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(scale > 0.0, "{name} {what}: all-zero reference features");
    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
        assert!(
            (*a as f64 - b).abs() <= 1e-4 * scale,
            "{name} {what}[{i}]: {a} vs {b} (scale {scale})"
        );
    }
}

#[test]
fn fid_inception_matches_pytorch_fid_and_torch_fidelity() {
    let g = golden();
    let w = load_weight_map(&dir().join(g["weights"].as_str().unwrap())).unwrap();
    let net = FidInception::from_weights(&w, &Device::Cpu).unwrap();
    assert_eq!(
        net.width_divisor,
        g["width_divisor"].as_u64().unwrap() as usize
    );
    for (name, e) in images(&g) {
        if name.ends_with(".jpg") {
            continue;
        }
        let img = decode(&name);
        for (mode, reference) in [
            (ResizeMode::PytorchFid, "pytorch_fid"),
            (ResizeMode::Tf1, "torch_fidelity"),
        ] {
            let x = Tensor::from_vec(
                preprocess(&img, mode, INPUT_SIZE),
                (1, 3, INPUT_SIZE, INPUT_SIZE),
                &Device::Cpu,
            )
            .unwrap();
            let y = net.forward(&x).unwrap();
            let r = &e[reference];
            close(&name, &format!("{reference} 2048"), &y.pool3, &r["2048"]);
            if reference == "pytorch_fid" {
                close(&name, "64", &y.block64, &r["64"]);
                close(&name, "192", &y.block192, &r["192"]);
                close(&name, "768", &y.block768, &r["768"]);
            } else {
                close(
                    &name,
                    "logits_unbiased",
                    &y.logits_unbiased,
                    &r["logits_unbiased"],
                );
            }
        }
    }
}

#[test]
fn legacy_torch_files_read_as_torch_wrote_them() {
    let g = golden();
    let w = load_weight_map(&dir().join("legacy_small.pth")).unwrap();
    let want = g["legacy_small"].as_object().unwrap();
    assert_eq!(w.tensors.len(), want.len());
    for (name, e) in want {
        let t = &w.tensors[name];
        let shape: Vec<usize> = floats(&e["shape"]).iter().map(|&d| d as usize).collect();
        assert_eq!(t.dims(), shape.as_slice(), "{name}");
        let got: Vec<f64> = t
            .to_dtype(candle_core::DType::F64)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        // The goldens keep 10 significant digits.
        for (a, b) in got.iter().zip(floats(&e["values"])) {
            assert!(
                (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                "{name}: {a} vs {b}"
            );
        }
    }
    // A file cut short is refused with its name, not read as zeros.
    let bytes = std::fs::read(dir().join("legacy_small.pth")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cut = tmp.path().join("cut.pth");
    std::fs::write(&cut, &bytes[..bytes.len() - 20]).unwrap();
    let e = load_weight_map(&cut)
        .err()
        .expect("a truncated file fails")
        .to_string();
    assert!(e.contains("cut.pth") && e.contains("ends early"), "{e}");
}
