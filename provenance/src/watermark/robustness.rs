//! The robustness report: each scheme embeds into every host, each attack of the suite is
//! applied, and the detector's verdicts are counted, on the marked images and on the unmarked
//! hosts under the same attack (false positives).
//!
//! A reading is "detected" when its p-value is below [`DETECTION_ALPHA`]: for Assay's scheme
//! the p-value is the decoder's bound (hypotheses × 2⁻³²); for imwatermark's schemes, which
//! carry no check, it is the binomial tail of the bits that agree with the known message
//! (the way the Stable Diffusion marks are read, since the reference decoder often recovers
//! only part of a message).

use image::RgbImage;
use statrs::distribution::{Binomial, DiscreteCDF};

use super::attacks::{ImageAttack, TextAttack};
use super::green_list::GreenList;
use super::imwatermark::{self, ImwatermarkMethod};
use super::spread_spectrum::{self, SpreadSpectrumKey, PAYLOAD_BYTES};

/// p-value below which an image reading counts as a detection.
pub const DETECTION_ALPHA: f64 = 1e-6;

/// One-sided binomial p-value of at least `agree` of `n` fair coin flips agreeing.
pub fn binomial_p_value(agree: usize, n: usize) -> f64 {
    if agree == 0 {
        return 1.0;
    }
    let b = Binomial::new(0.5, n as u64).expect("valid binomial");
    b.sf(agree as u64 - 1).clamp(0.0, 1.0)
}

/// An image watermarking scheme with its secret and message.
#[derive(Debug, Clone)]
pub enum ImageScheme {
    /// Assay's keyed spread-spectrum scheme.
    Assay {
        key: SpreadSpectrumKey,
        payload: [u8; PAYLOAD_BYTES],
        psnr_db: f64,
    },
    /// An imwatermark scheme with a known message.
    Imwatermark {
        method: ImwatermarkMethod,
        bits: Vec<bool>,
    },
}

/// What a detector read from one image.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageReading {
    pub detected: bool,
    /// Fraction of message bits read correctly (Assay: raw coded bits against the codeword).
    pub bit_accuracy: Option<f64>,
    pub p_value: f64,
}

impl ImageScheme {
    pub fn name(&self) -> String {
        match self {
            ImageScheme::Assay { .. } => "assay".into(),
            ImageScheme::Imwatermark { method, .. } => method.name().into(),
        }
    }

    pub fn embed(&self, image: &RgbImage) -> Result<RgbImage, String> {
        match self {
            ImageScheme::Assay {
                key,
                payload,
                psnr_db,
            } => spread_spectrum::embed(image, key, payload, *psnr_db)
                .map(|e| e.image)
                .map_err(|e| e.to_string()),
            ImageScheme::Imwatermark { method, bits } => {
                imwatermark::embed(image, bits, *method).map_err(|e| e.to_string())
            }
        }
    }

    /// Reads an image; an image the detector cannot take (too small after an attack) reads
    /// as not detected.
    pub fn read(&self, image: &RgbImage) -> ImageReading {
        match self {
            ImageScheme::Assay { key, payload, .. } => {
                match spread_spectrum::detect(image, key, Some(payload)) {
                    Ok(d) => ImageReading {
                        detected: d.detected && d.p_value < DETECTION_ALPHA,
                        bit_accuracy: d.bit_accuracy,
                        p_value: d.p_value,
                    },
                    Err(_) => ImageReading {
                        detected: false,
                        bit_accuracy: None,
                        p_value: 1.0,
                    },
                }
            }
            ImageScheme::Imwatermark { method, bits } => {
                match imwatermark::extract(image, bits.len(), *method) {
                    Ok(votes) => {
                        let agree = votes
                            .bits()
                            .iter()
                            .zip(bits)
                            .filter(|(a, b)| a == b)
                            .count();
                        let p_value = binomial_p_value(agree, bits.len());
                        ImageReading {
                            detected: p_value < DETECTION_ALPHA,
                            bit_accuracy: Some(agree as f64 / bits.len() as f64),
                            p_value,
                        }
                    }
                    Err(_) => ImageReading {
                        detected: false,
                        bit_accuracy: None,
                        p_value: 1.0,
                    },
                }
            }
        }
    }
}

/// One line of the image table.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageAttackRow {
    pub scheme: String,
    pub attack: String,
    /// Marked images read.
    pub images: usize,
    pub detected: usize,
    /// Mean bit accuracy over the marked images that could be read.
    pub mean_bit_accuracy: Option<f64>,
    /// Unmarked hosts under the same attack that were called marked.
    pub false_positives: usize,
    pub unmarked: usize,
}

impl ImageAttackRow {
    pub fn detection_rate(&self) -> f64 {
        self.detected as f64 / self.images.max(1) as f64
    }
}

/// Embedding quality of one scheme over the hosts.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingQuality {
    pub scheme: String,
    pub mean_psnr_db: f64,
    pub min_psnr_db: f64,
    /// Mean SSIM (8×8 windows, the `image-compare` crate's MSSIM; the lowest of R, G, B).
    pub mean_ssim: f64,
    /// Hosts the scheme refused (too small), skipped in every row.
    pub refused: Vec<(usize, String)>,
}

/// Runs every scheme over every host and attack.
pub fn image_robustness(
    schemes: &[ImageScheme],
    hosts: &[RgbImage],
    attacks: &[ImageAttack],
    seed: u64,
) -> (Vec<ImageAttackRow>, Vec<EmbeddingQuality>) {
    let mut rows = Vec::new();
    let mut quality = Vec::new();
    for scheme in schemes {
        let mut marked = Vec::new();
        let mut refused = Vec::new();
        for (i, host) in hosts.iter().enumerate() {
            match scheme.embed(host) {
                Ok(m) => marked.push((i, m)),
                Err(e) => refused.push((i, e)),
            }
        }
        let psnrs: Vec<f64> = marked
            .iter()
            .map(|(i, m)| spread_spectrum::psnr(&hosts[*i], m))
            .collect();
        let ssims: Vec<f64> = marked
            .iter()
            .map(|(i, m)| {
                image_compare::rgb_similarity_structure(
                    &image_compare::Algorithm::MSSIMSimple,
                    &hosts[*i],
                    m,
                )
                .map(|s| s.score)
                .unwrap_or(f64::NAN)
            })
            .collect();
        let n = psnrs.len().max(1) as f64;
        quality.push(EmbeddingQuality {
            scheme: scheme.name(),
            mean_psnr_db: psnrs.iter().sum::<f64>() / n,
            min_psnr_db: psnrs.iter().copied().fold(f64::INFINITY, f64::min),
            mean_ssim: ssims.iter().sum::<f64>() / n,
            refused,
        });
        for (a, attack) in attacks.iter().enumerate() {
            let attack_seed = seed.wrapping_add(a as u64);
            let mut row = ImageAttackRow {
                scheme: scheme.name(),
                attack: attack.name(),
                images: 0,
                detected: 0,
                mean_bit_accuracy: None,
                false_positives: 0,
                unmarked: 0,
            };
            let mut accuracies = Vec::new();
            for (i, m) in &marked {
                let reading = scheme.read(&attack.apply(m, attack_seed.wrapping_add(*i as u64)));
                row.images += 1;
                row.detected += usize::from(reading.detected);
                accuracies.extend(reading.bit_accuracy);
                let clean =
                    scheme.read(&attack.apply(&hosts[*i], attack_seed.wrapping_add(*i as u64)));
                row.unmarked += 1;
                row.false_positives += usize::from(clean.detected);
            }
            if !accuracies.is_empty() {
                row.mean_bit_accuracy =
                    Some(accuracies.iter().sum::<f64>() / accuracies.len() as f64);
            }
            rows.push(row);
        }
    }
    (rows, quality)
}

/// One line of the text table.
#[derive(Debug, Clone, PartialEq)]
pub struct TextAttackRow {
    pub attack: String,
    pub texts: usize,
    pub detected: usize,
    pub mean_z: f64,
    pub false_positives: usize,
    pub unmarked: usize,
}

/// Runs the text attacks on watermarked and unwatermarked token sequences.
pub fn text_robustness(
    green: &GreenList,
    marked: &[Vec<u32>],
    unmarked: &[Vec<u32>],
    attacks: &[TextAttack],
    seed: u64,
) -> Vec<TextAttackRow> {
    let vocab = green.vocab_size as u32;
    attacks
        .iter()
        .enumerate()
        .map(|(a, attack)| {
            let s = seed.wrapping_add(1000 * a as u64);
            let zs: Vec<f64> = marked
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    green
                        .detect(&attack.apply(t, vocab, s.wrapping_add(i as u64)))
                        .z
                })
                .collect();
            let threshold = green.config.z_threshold;
            let false_positives = unmarked
                .iter()
                .enumerate()
                .filter(|(i, t)| {
                    green
                        .detect(&attack.apply(t, vocab, s.wrapping_add(*i as u64)))
                        .z
                        > threshold
                })
                .count();
            TextAttackRow {
                attack: attack.name(),
                texts: marked.len(),
                detected: zs.iter().filter(|z| **z > threshold).count(),
                mean_z: zs.iter().sum::<f64>() / zs.len().max(1) as f64,
                false_positives,
                unmarked: unmarked.len(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binomial_tail() {
        assert_eq!(binomial_p_value(0, 10), 1.0);
        assert!((binomial_p_value(10, 10) - 1.0 / 1024.0).abs() < 1e-15);
        assert!((binomial_p_value(9, 10) - 11.0 / 1024.0).abs() < 1e-15);
        assert!((binomial_p_value(5, 10) - 638.0 / 1024.0).abs() < 1e-12);
    }
}
