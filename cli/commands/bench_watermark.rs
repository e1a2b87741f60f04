//! `assay bench watermark`: embedding and detection speed of each image scheme, in megapixels
//! per second, on the user's images (compare `tests/parity/bench_watermark.py`, which times
//! imwatermark on the same files). Speed is measured here, never asserted in tests.

use crate::commands::watermark_image::{collect_images, load_image};
use crate::error::{CliError, CliResult};
use crate::output::{ResultRow, ResultsDoc};
use assay_provenance::watermark::imwatermark::ImwatermarkMethod;
use assay_provenance::watermark::robustness::ImageScheme;
use assay_provenance::watermark::spread_spectrum::{SpreadSpectrumKey, DEFAULT_PSNR_DB};
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

pub fn run(inputs: &[PathBuf], repeat: usize) -> CliResult<ResultsDoc> {
    if repeat == 0 {
        return Err(CliError::Usage("--repeat must be at least 1".into()));
    }
    let started = Instant::now();
    let mut doc = ResultsDoc::new("bench watermark", started);
    let mut hosts = Vec::new();
    for f in collect_images(inputs)? {
        let img = load_image(&f)?;
        doc.add_input(&img.record);
        hosts.push(img.rgb);
    }
    let megapixels: f64 = hosts
        .iter()
        .map(|h| f64::from(h.width() * h.height()) / 1e6)
        .sum();
    // The same 32 bits for every scheme.
    let payload = [0xa5, 0xc3, 0xe1, 0x0f];
    let bits = assay_provenance::watermark::imwatermark::bits_of_bytes(&payload);
    let schemes = [
        ImageScheme::Assay {
            key: SpreadSpectrumKey::new("bench-key-0001"),
            payload,
            psnr_db: DEFAULT_PSNR_DB,
        },
        ImageScheme::Imwatermark {
            method: ImwatermarkMethod::DwtDct,
            bits: bits.clone(),
        },
        ImageScheme::Imwatermark {
            method: ImwatermarkMethod::DwtDctSvd,
            bits,
        },
    ];
    for scheme in &schemes {
        let t = Instant::now();
        let mut marked = Vec::new();
        for _ in 0..repeat {
            marked = hosts
                .iter()
                .map(|h| scheme.embed(h))
                .collect::<Result<Vec<_>, _>>()
                .map_err(CliError::Input)?;
        }
        let embed_s = t.elapsed().as_secs_f64() / repeat as f64;
        let t = Instant::now();
        let mut found = 0;
        for _ in 0..repeat {
            found = marked.iter().filter(|m| scheme.read(m).detected).count();
        }
        let detect_s = t.elapsed().as_secs_f64() / repeat as f64;
        for (what, secs) in [("embed", embed_s), ("detect", detect_s)] {
            doc.results.push(ResultRow::plain(
                format!("bench.{}.{what}.megapixels_per_s", scheme.name()),
                megapixels / secs,
                hosts.len(),
                json!({"seconds_per_pass": secs, "megapixels": megapixels, "repeat": repeat,
                       "detected": found, "threads": rayon::current_num_threads(),
                       "note": format!("{:.2} MP/s", megapixels / secs)}),
            ));
        }
    }
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}
