//! The fixed suite of distortions the robustness report applies to watermarked media.
//!
//! Every attack is deterministic given its seed. Images: lossy JPEG (the `image` crate's
//! encoder), downscaling, centred crops, rotation about the centre with black corners
//! (`imageproc`), brightness and contrast scaling, Gaussian noise and Gaussian blur. Text (token
//! ids): random substitution, deletion and insertion of a fraction of the tokens.

use image::{imageops, Rgb, RgbImage};
use imageproc::geometric_transformations::{rotate_about_center, Interpolation};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rand_distr::{Distribution, Normal};

/// One image distortion.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ImageAttack {
    /// No change: the clean detection rate.
    Identity,
    /// Re-encode as JPEG at this quality.
    Jpeg(u8),
    /// Downscale both sides by this factor (Triangle filter).
    Resize(f64),
    /// Remove this fraction of each side, keeping the centre (0.1: keep the central 90 %).
    Crop(f64),
    /// Rotate clockwise about the centre by this many degrees, same canvas, black corners.
    Rotate(f64),
    /// Multiply every value by this factor (1.2: 20 % brighter), clamped.
    Brightness(f64),
    /// Scale deviations from the mean grey level by this factor.
    Contrast(f64),
    /// Add Gaussian noise of this standard deviation (grey levels).
    Noise(f64),
    /// Gaussian blur of this standard deviation (pixels).
    Blur(f64),
}

impl ImageAttack {
    /// The suite of the robustness report, in its order.
    pub fn suite() -> Vec<ImageAttack> {
        use ImageAttack::*;
        vec![
            Identity,
            Jpeg(90),
            Jpeg(75),
            Jpeg(50),
            Resize(0.75),
            Resize(0.5),
            Crop(0.10),
            Crop(0.25),
            Rotate(2.0),
            Rotate(5.0),
            Brightness(1.2),
            Brightness(0.8),
            Contrast(0.7),
            Noise(5.0),
            Blur(1.0),
        ]
    }

    pub fn name(&self) -> String {
        match self {
            ImageAttack::Identity => "none".into(),
            ImageAttack::Jpeg(q) => format!("jpeg{q}"),
            ImageAttack::Resize(f) => format!("resize{:.0}%", f * 100.0),
            ImageAttack::Crop(f) => format!("crop{:.0}%", f * 100.0),
            ImageAttack::Rotate(d) => format!("rotate{d}°"),
            ImageAttack::Brightness(f) => format!("brightness{:+.0}%", (f - 1.0) * 100.0),
            ImageAttack::Contrast(f) => format!("contrast×{f}"),
            ImageAttack::Noise(s) => format!("noise σ{s}"),
            ImageAttack::Blur(s) => format!("blur σ{s}"),
        }
    }

    /// Applies the attack; `seed` drives the noise.
    pub fn apply(&self, image: &RgbImage, seed: u64) -> RgbImage {
        let (w, h) = image.dimensions();
        match *self {
            ImageAttack::Identity => image.clone(),
            ImageAttack::Jpeg(quality) => jpeg_round_trip(image, quality),
            ImageAttack::Resize(f) => {
                let (nw, nh) = (scaled(w, f), scaled(h, f));
                imageops::resize(image, nw, nh, imageops::FilterType::Triangle)
            }
            ImageAttack::Crop(f) => {
                let (nw, nh) = (scaled(w, 1.0 - f), scaled(h, 1.0 - f));
                imageops::crop_imm(image, (w - nw) / 2, (h - nh) / 2, nw, nh).to_image()
            }
            ImageAttack::Rotate(deg) => rotate_about_center(
                image,
                (deg as f32).to_radians(),
                Interpolation::Bilinear,
                Rgb([0, 0, 0]),
            ),
            ImageAttack::Brightness(f) => map_values(image, |v| v * f),
            ImageAttack::Contrast(f) => {
                let mean = image.as_raw().iter().map(|&v| f64::from(v)).sum::<f64>()
                    / image.as_raw().len() as f64;
                map_values(image, |v| mean + (v - mean) * f)
            }
            ImageAttack::Noise(sigma) => {
                let mut rng = ChaCha20Rng::seed_from_u64(seed);
                let normal = Normal::new(0.0, sigma).expect("finite sigma");
                let mut out = image.clone();
                for v in out.iter_mut() {
                    *v = (f64::from(*v) + normal.sample(&mut rng))
                        .round()
                        .clamp(0.0, 255.0) as u8;
                }
                out
            }
            ImageAttack::Blur(sigma) => imageops::blur(image, sigma as f32),
        }
    }
}

fn scaled(side: u32, f: f64) -> u32 {
    ((f64::from(side) * f).round() as u32).max(1)
}

fn map_values(image: &RgbImage, f: impl Fn(f64) -> f64) -> RgbImage {
    let mut out = image.clone();
    for v in out.iter_mut() {
        *v = f(f64::from(*v)).round().clamp(0.0, 255.0) as u8;
    }
    out
}

/// Encodes as baseline JPEG at `quality` and decodes again.
pub fn jpeg_round_trip(image: &RgbImage, quality: u8) -> RgbImage {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality)
        .encode_image(image)
        .expect("JPEG encoding into memory");
    image::load_from_memory(&bytes)
        .expect("our own JPEG decodes")
        .to_rgb8()
}

/// One distortion of a token sequence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TextAttack {
    Identity,
    /// Replace this fraction of tokens by uniformly random vocabulary tokens.
    Substitute(f64),
    /// Delete this fraction of tokens.
    Delete(f64),
    /// Insert this fraction (of the length) of random tokens at random places.
    Insert(f64),
}

impl TextAttack {
    pub fn suite() -> Vec<TextAttack> {
        use TextAttack::*;
        vec![
            Identity,
            Substitute(0.1),
            Substitute(0.3),
            Delete(0.1),
            Insert(0.1),
        ]
    }

    pub fn name(&self) -> String {
        match self {
            TextAttack::Identity => "none".into(),
            TextAttack::Substitute(f) => format!("substitute{:.0}%", f * 100.0),
            TextAttack::Delete(f) => format!("delete{:.0}%", f * 100.0),
            TextAttack::Insert(f) => format!("insert{:.0}%", f * 100.0),
        }
    }

    /// Applies the attack to token ids drawn from a vocabulary of `vocab` tokens.
    pub fn apply(&self, tokens: &[u32], vocab: u32, seed: u64) -> Vec<u32> {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        match *self {
            TextAttack::Identity => tokens.to_vec(),
            TextAttack::Substitute(f) => tokens
                .iter()
                .map(|&t| {
                    if rng.random::<f64>() < f {
                        rng.random_range(0..vocab)
                    } else {
                        t
                    }
                })
                .collect(),
            TextAttack::Delete(f) => tokens
                .iter()
                .copied()
                .filter(|_| rng.random::<f64>() >= f)
                .collect(),
            TextAttack::Insert(f) => {
                let mut out = Vec::with_capacity(tokens.len() * 2);
                for &t in tokens {
                    if rng.random::<f64>() < f {
                        out.push(rng.random_range(0..vocab));
                    }
                    out.push(t);
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_of_the_image_attacks() {
        let image = RgbImage::from_fn(200, 100, |x, y| Rgb([x as u8, y as u8, 100]));
        assert_eq!(
            ImageAttack::Resize(0.5).apply(&image, 0).dimensions(),
            (100, 50)
        );
        let crop = ImageAttack::Crop(0.1).apply(&image, 0);
        assert_eq!(crop.dimensions(), (180, 90));
        assert_eq!(crop.get_pixel(0, 0).0, [10, 5, 100]);
        assert_eq!(
            ImageAttack::Brightness(1.2)
                .apply(&image, 0)
                .get_pixel(100, 50)
                .0,
            [120, 60, 120]
        );
        let rotated = ImageAttack::Rotate(5.0).apply(&image, 0);
        assert_eq!(
            rotated.get_pixel(0, 0).0,
            [0, 0, 0],
            "corners are filled black"
        );
        let noisy = ImageAttack::Noise(5.0).apply(&image, 1);
        let diffs: Vec<f64> = noisy
            .iter()
            .zip(image.iter())
            .map(|(a, b)| f64::from(*a) - f64::from(*b))
            .collect();
        let sd = (diffs.iter().map(|d| d * d).sum::<f64>() / diffs.len() as f64).sqrt();
        assert!((sd - 5.0).abs() < 0.2, "noise sd {sd}");
        assert_eq!(noisy, ImageAttack::Noise(5.0).apply(&image, 1), "seeded");
    }

    #[test]
    fn text_attacks_change_the_expected_share() {
        let tokens: Vec<u32> = (0..10_000).map(|i| i % 7).collect();
        let sub = TextAttack::Substitute(0.3).apply(&tokens, 50_000, 3);
        let changed = sub.iter().zip(&tokens).filter(|(a, b)| a != b).count();
        assert!((2800..3200).contains(&changed), "{changed}");
        let del = TextAttack::Delete(0.1).apply(&tokens, 50_000, 3).len();
        assert!((8800..9200).contains(&del), "{del}");
        let ins = TextAttack::Insert(0.1).apply(&tokens, 50_000, 3).len();
        assert!((10_800..11_200).contains(&ins), "{ins}");
    }
}
