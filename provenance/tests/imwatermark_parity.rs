//! Parity with invisible-watermark 0.2.0 on the goldens written by
//! `tests/parity/watermark_image_goldens.py`: Assay's decoder returns exactly imwatermark's
//! bits (errors included) on marked, JPEG-compressed, noisy and unmarked images, and Assay's
//! embedding reproduces imwatermark's pixels.

use std::path::{Path, PathBuf};

use assay_provenance::watermark::imwatermark::{embed, extract, ImwatermarkMethod};
use assay_provenance::watermark::opencv_yuv::{rgb_to_yuv, yuv_to_rgb};
use image::RgbImage;
use serde_json::Value;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/parity/watermark")
}

fn load(name: &str) -> RgbImage {
    let path = golden_dir().join("images").join(name);
    image::open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8()
}

fn method(name: &str) -> ImwatermarkMethod {
    match name {
        "dwtDct" => ImwatermarkMethod::DwtDct,
        "dwtDctSvd" => ImwatermarkMethod::DwtDctSvd,
        other => panic!("unknown method {other}"),
    }
}

fn bits(v: &Value) -> Vec<bool> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_u64().unwrap() == 1)
        .collect()
}

fn goldens() -> Value {
    let text = std::fs::read_to_string(golden_dir().join("imwatermark.json")).unwrap();
    let golden: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(golden["reference"]["invisible-watermark"], "0.2.0");
    golden
}

#[test]
fn decoder_returns_imwatermarks_bits_errors_included() {
    let golden = goldens();
    let mut compared = 0;
    let mut wrong_bits_reproduced = 0;
    for case in golden["cases"].as_array().unwrap() {
        let method = method(case["method"].as_str().unwrap());
        let message = bits(&case["bits"]);
        for (label, decode) in case["decodes"].as_object().unwrap() {
            let file = decode["file"].as_str().unwrap();
            let expected = bits(&decode["bits"]);
            let got = extract(&load(file), expected.len(), method).unwrap().bits();
            assert_eq!(got, expected, "{file} ({label}, {})", method.name());
            compared += 1;
            wrong_bits_reproduced += got.iter().zip(&message).filter(|(a, b)| a != b).count();
        }
    }
    assert_eq!(compared, 28, "decodes compared");
    // The goldens include heavy damage (JPEG 75, unmarked hosts): agreeing on hundreds of
    // wrong bits is what shows the decoders are the same function.
    assert!(wrong_bits_reproduced > 300, "{wrong_bits_reproduced}");
}

/// The U level a marked pixel carries, given that the scheme wrote only U: search the U that
/// OpenCV's YUV→RGB maps, with the host's Y and V, to the marked pixel.
fn marked_u(marked: [u8; 3], host: [u8; 3]) -> u8 {
    let [y, _, v] = rgb_to_yuv(host);
    (0..=255u8)
        .find(|&u| yuv_to_rgb([y, u, v]) == marked)
        .expect("pixel from host Y, V")
}

#[test]
fn embedding_reproduces_imwatermarks_pixels() {
    let golden = goldens();
    for case in golden["cases"].as_array().unwrap() {
        let method = method(case["method"].as_str().unwrap());
        let host = load(case["host"].as_str().unwrap());
        let expected = load(case["marked"].as_str().unwrap());
        let ours = embed(&host, &bits(&case["bits"]), method).unwrap();
        // A differing pixel must be the host's Y and V with our U one level off, i.e. one
        // rounding apart in the only plane the scheme writes.
        let mut differing = 0;
        for ((a, b), h) in ours.pixels().zip(expected.pixels()).zip(host.pixels()) {
            if a == b {
                continue;
            }
            differing += 1;
            let [y, _, v] = rgb_to_yuv(h.0);
            let u = marked_u(a.0, h.0);
            let one_level_off = [u.wrapping_sub(1), u.wrapping_add(1)]
                .iter()
                .any(|&u| yuv_to_rgb([y, u, v]) == b.0);
            assert!(
                one_level_off,
                "{}: pixel {:?} vs {:?}",
                case["marked"], a.0, b.0
            );
        }
        let what = format!(
            "{} {}: {differing} pixels differ",
            case["marked"],
            method.name()
        );
        match method {
            // Integer arithmetic and exactly reproduced float arithmetic: identical.
            ImwatermarkMethod::DwtDct => assert_eq!(differing, 0, "{what}"),
            // LAPACK's and nalgebra's SVDs differ in the last bits, which can move a rounding.
            ImwatermarkMethod::DwtDctSvd => {
                assert!(
                    differing * 1000 < (ours.width() * ours.height()) as usize,
                    "{what}"
                )
            }
        }
    }
}
