//! The `dwtDct` and `dwtDctSvd` schemes of the `invisible-watermark` package (`imwatermark`),
//! bit-compatible both ways with its released version 0.2.0.
//!
//! What the released code does, quirks included (they are what must be matched, and the
//! reason its `dwtDct` differs from its README):
//! - Only the U plane of OpenCV's YUV is marked: the channel loop runs over `range(2)` and
//!   the Y scale is 0, so the V scale (36 in `dwtDct`) is never used.
//! - The plane is cropped to multiples of 4 and one Haar level is taken; the approximation
//!   band is cut into 4×4 blocks and block `n` carries message bit `n mod len`.
//! - `dwtDct` applies no DCT at all: it quantises the largest-magnitude non-DC coefficient
//!   of the Haar block itself to `(⌊|v|/36⌋ + 0.25 + 0.5·bit)·36`, sign kept.
//!   `dwtDctSvd` quantises the largest singular value of the block's 4×4 DCT the same way.
//! - The inverse transform is given the horizontal and vertical detail bands swapped, so
//!   every 2×2 cell of the U plane comes back transposed, marked or not.
//! - The float plane is stored back into `uint8` by a C cast (truncation, wrapping outside
//!   0..=255), and converted back with OpenCV's 8-bit YUV→BGR.
//! - The decoder votes each bit over its blocks and reports `mean·255 > 127`.
//!
//! The colour conversion ([`super::opencv_yuv`]) and the Haar transform
//! ([`super::pywt_haar`]) reproduce OpenCV's and PyWavelets' arithmetic exactly, so the
//! decoder returns imwatermark's bits, errors included (`tests/parity/watermark/`).

use image::RgbImage;
use nalgebra::{Matrix4, SVD};

use super::opencv_yuv::{rgb_to_yuv, yuv_to_rgb};
use super::pywt_haar::{dwt2, idwt2, HaarBands, Plane};

/// imwatermark's quantisation step for both schemes.
pub const SCALE: f64 = 36.0;
/// Side of the blocks of the approximation band that each carry one bit.
const BLOCK: usize = 4;
/// imwatermark refuses images with fewer pixels than 256 × 256.
pub const MIN_PIXELS: u64 = 256 * 256;

/// Which of imwatermark's frequency-domain schemes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImwatermarkMethod {
    /// `method='dwtDct'`, what the Stable Diffusion scripts use.
    DwtDct,
    /// `method='dwtDctSvd'`.
    DwtDctSvd,
}

impl ImwatermarkMethod {
    pub fn name(self) -> &'static str {
        match self {
            ImwatermarkMethod::DwtDct => "dwtDct",
            ImwatermarkMethod::DwtDctSvd => "dwtDctSvd",
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ImwatermarkError {
    #[error(
        "image is {width}x{height}: invisible-watermark needs at least 256x256 = 65536 pixels"
    )]
    TooSmall { width: u32, height: u32 },
    #[error("the message is empty: give at least one bit")]
    EmptyMessage,
    #[error(
        "the message has {bits} bits but a {width}x{height} image has only {blocks} blocks to carry them"
    )]
    MessageTooLong {
        bits: usize,
        blocks: usize,
        width: u32,
        height: u32,
    },
}

/// The fixed messages that reference generation pipelines embed with `dwtDct`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnownMessage {
    /// CompVis/stable-diffusion `scripts/txt2img.py`: the bytes `StableDiffusionV1` (136 bits).
    StableDiffusionV1,
    /// Stability-AI/stablediffusion (SD 2.x) `scripts/txt2img.py`: the bytes `SDV2` (32 bits).
    StableDiffusionV2,
    /// SDXL (Stability-AI/generative-models and diffusers' `StableDiffusionXLWatermarker`):
    /// the 48 bits of `0b101100111110110010010000011110111011000110011110`.
    Sdxl,
}

impl KnownMessage {
    pub fn bits(self) -> Vec<bool> {
        match self {
            KnownMessage::StableDiffusionV1 => bits_of_bytes(b"StableDiffusionV1"),
            KnownMessage::StableDiffusionV2 => bits_of_bytes(b"SDV2"),
            KnownMessage::Sdxl => {
                let message: u64 = 0b1011_0011_1110_1100_1001_0000_0111_1011_1011_0001_1001_1110;
                (0..48).rev().map(|i| (message >> i) & 1 == 1).collect()
            }
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            KnownMessage::StableDiffusionV1 => "sd1",
            KnownMessage::StableDiffusionV2 => "sd2",
            KnownMessage::Sdxl => "sdxl",
        }
    }
}

/// Most significant bit first, as `numpy.unpackbits` orders them.
pub fn bits_of_bytes(bytes: &[u8]) -> Vec<bool> {
    bytes
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| (b >> i) & 1 == 1))
        .collect()
}

/// numpy's `divmod` for floats (`npy_divmod`): floor quotient and a remainder with the sign of
/// the divisor, computed through `fmod` exactly as numpy does, so that quantisation matches.
fn npy_divmod(a: f64, b: f64) -> (f64, f64) {
    let mut rem = a % b;
    let mut div = (a - rem) / b;
    if rem != 0.0 {
        if (b < 0.0) != (rem < 0.0) {
            rem += b;
            div -= 1.0;
        }
    } else {
        rem = 0.0f64.copysign(b);
    }
    let floordiv = if div != 0.0 {
        let f = div.floor();
        if div - f > 0.5 {
            f + 1.0
        } else {
            f
        }
    } else {
        0.0f64.copysign(a / b)
    };
    (floordiv, rem)
}

/// The quantised value imwatermark writes for `value ≥ 0` carrying `bit`.
fn quantise(value: f64, bit: bool) -> f64 {
    let (q, _) = npy_divmod(value, SCALE);
    (q + 0.25 + 0.5 * f64::from(u8::from(bit))) * SCALE
}

/// The bit imwatermark reads from `value ≥ 0`.
fn read_bit(value: f64) -> bool {
    npy_divmod(value, SCALE).1 > 0.5 * SCALE
}

/// OpenCV's orthonormal DCT-II matrix for 4 points (`cv2.dct` of a 4×4 block is `C·B·Cᵀ`).
fn dct4() -> Matrix4<f64> {
    Matrix4::from_fn(|k, n| {
        let alpha = if k == 0 {
            0.5
        } else {
            std::f64::consts::FRAC_1_SQRT_2
        };
        alpha * (std::f64::consts::PI * (2 * n + 1) as f64 * k as f64 / 8.0).cos()
    })
}

fn block_of(frame: &Plane, bi: usize, bj: usize) -> Matrix4<f64> {
    Matrix4::from_fn(|r, c| frame.at(bi * BLOCK + r, bj * BLOCK + c))
}

/// Index (row-major, 1..16) of the largest |coefficient| after the first; the first on ties,
/// as `np.argmax` picks.
fn largest_non_dc(block: &Matrix4<f64>) -> (usize, usize) {
    let mut best = (1usize, f64::NEG_INFINITY);
    for pos in 1..16 {
        let v = block[(pos / BLOCK, pos % BLOCK)].abs();
        if v > best.1 {
            best = (pos, v);
        }
    }
    (best.0 / BLOCK, best.0 % BLOCK)
}

fn largest_singular(svd: &SVD<f64, nalgebra::U4, nalgebra::U4>) -> usize {
    svd.singular_values.imax()
}

fn embed_block(block: &mut Matrix4<f64>, bit: bool, method: ImwatermarkMethod, dct: &Matrix4<f64>) {
    match method {
        ImwatermarkMethod::DwtDct => {
            let at = largest_non_dc(block);
            let v = block[at];
            block[at] = if v >= 0.0 {
                quantise(v, bit)
            } else {
                -quantise(v.abs(), bit)
            };
        }
        ImwatermarkMethod::DwtDctSvd => {
            let mut svd = (dct * *block * dct.transpose()).svd(true, true);
            let i = largest_singular(&svd);
            svd.singular_values[i] = quantise(svd.singular_values[i], bit);
            let rebuilt = svd.recompose().expect("u and v were computed");
            *block = dct.transpose() * rebuilt * dct;
        }
    }
}

fn read_block(block: &Matrix4<f64>, method: ImwatermarkMethod, dct: &Matrix4<f64>) -> bool {
    match method {
        ImwatermarkMethod::DwtDct => read_bit(block[largest_non_dc(block)].abs()),
        ImwatermarkMethod::DwtDctSvd => {
            let s = (dct * *block * dct.transpose()).singular_values();
            read_bit(s.max())
        }
    }
}

/// The U plane, cropped to multiples of 4 as imwatermark crops it.
fn u_plane(yuv: &[[u8; 3]], width: usize, height: usize) -> Plane {
    let (rows, cols) = (height / 4 * 4, width / 4 * 4);
    let mut plane = Plane::zeros(rows, cols);
    for r in 0..rows {
        for c in 0..cols {
            *plane.at_mut(r, c) = f64::from(yuv[r * width + c][1]);
        }
    }
    plane
}

fn check_size(image: &RgbImage) -> Result<(), ImwatermarkError> {
    let (width, height) = image.dimensions();
    if u64::from(width) * u64::from(height) < MIN_PIXELS {
        return Err(ImwatermarkError::TooSmall { width, height });
    }
    Ok(())
}

/// Number of 4×4 blocks of the approximation band, i.e. bit slots.
pub fn block_count(width: u32, height: u32) -> usize {
    let (rows, cols) = (height as usize / 4 * 2, width as usize / 4 * 2);
    (rows / BLOCK) * (cols / BLOCK)
}

/// `WatermarkEncoder().set_watermark('bits', bits); encode(bgr, method)`, on an RGB image.
pub fn embed(
    image: &RgbImage,
    bits: &[bool],
    method: ImwatermarkMethod,
) -> Result<RgbImage, ImwatermarkError> {
    check_size(image)?;
    if bits.is_empty() {
        return Err(ImwatermarkError::EmptyMessage);
    }
    let (width, height) = (image.width() as usize, image.height() as usize);
    let blocks = block_count(image.width(), image.height());
    if bits.len() > blocks {
        return Err(ImwatermarkError::MessageTooLong {
            bits: bits.len(),
            blocks,
            width: image.width(),
            height: image.height(),
        });
    }
    let mut yuv: Vec<[u8; 3]> = image.pixels().map(|p| rgb_to_yuv(p.0)).collect();
    let bands = dwt2(&u_plane(&yuv, width, height));
    let mut aa = bands.aa;
    let dct = dct4();
    let mut num = 0;
    for bi in 0..aa.rows / BLOCK {
        for bj in 0..aa.cols / BLOCK {
            let mut block = block_of(&aa, bi, bj);
            embed_block(&mut block, bits[num % bits.len()], method, &dct);
            for r in 0..BLOCK {
                for c in 0..BLOCK {
                    *aa.at_mut(bi * BLOCK + r, bj * BLOCK + c) = block[(r, c)];
                }
            }
            num += 1;
        }
    }
    // imwatermark passes (cA, (cV, cH, cD)): the detail bands swapped.
    let rebuilt = idwt2(&HaarBands {
        aa,
        da: bands.ad,
        ad: bands.da,
        dd: bands.dd,
    });
    for r in 0..rebuilt.rows {
        for c in 0..rebuilt.cols {
            // numpy's float64 → uint8 store: truncate toward zero, then wrap.
            yuv[r * width + c][1] = rebuilt.at(r, c) as i32 as u8;
        }
    }
    let mut out = RgbImage::new(image.width(), image.height());
    for (dst, src) in out.pixels_mut().zip(&yuv) {
        dst.0 = yuv_to_rgb(*src);
    }
    Ok(out)
}

/// Per-bit vote counts: for bit `i`, how many of its blocks read 1 and how many blocks it has.
#[derive(Debug, Clone, PartialEq)]
pub struct BitVotes {
    pub ones: Vec<usize>,
    pub blocks: Vec<usize>,
}

impl BitVotes {
    /// imwatermark's decision: `mean · 255 > 127` (a bit with no block reads 0).
    pub fn bits(&self) -> Vec<bool> {
        self.ones
            .iter()
            .zip(&self.blocks)
            .map(|(&ones, &n)| n > 0 && (ones as f64 / n as f64) * 255.0 > 127.0)
            .collect()
    }
}

/// Reads `n_bits` bits as `WatermarkDecoder('bits', n_bits).decode(bgr, method)` does.
pub fn extract(
    image: &RgbImage,
    n_bits: usize,
    method: ImwatermarkMethod,
) -> Result<BitVotes, ImwatermarkError> {
    check_size(image)?;
    if n_bits == 0 {
        return Err(ImwatermarkError::EmptyMessage);
    }
    let (width, height) = (image.width() as usize, image.height() as usize);
    let yuv: Vec<[u8; 3]> = image.pixels().map(|p| rgb_to_yuv(p.0)).collect();
    let aa = dwt2(&u_plane(&yuv, width, height)).aa;
    let dct = dct4();
    let mut votes = BitVotes {
        ones: vec![0; n_bits],
        blocks: vec![0; n_bits],
    };
    let mut num = 0;
    for bi in 0..aa.rows / BLOCK {
        for bj in 0..aa.cols / BLOCK {
            let bit = num % n_bits;
            votes.blocks[bit] += 1;
            votes.ones[bit] += usize::from(read_block(&block_of(&aa, bi, bj), method, &dct));
            num += 1;
        }
    }
    Ok(votes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_divmod_semantics() {
        assert_eq!(npy_divmod(54.0, 36.0), (1.0, 18.0));
        assert_eq!(npy_divmod(-1.0, 36.0), (-1.0, 35.0));
        assert_eq!(npy_divmod(0.0, 36.0), (0.0, 0.0));
        assert!(!read_bit(18.0));
        assert!(read_bit(18.000000000000004));
    }

    #[test]
    fn known_messages_have_the_published_lengths_and_bits() {
        assert_eq!(KnownMessage::StableDiffusionV1.bits().len(), 136);
        assert_eq!(KnownMessage::StableDiffusionV2.bits().len(), 32);
        let sdxl = KnownMessage::Sdxl.bits();
        assert_eq!(sdxl.len(), 48);
        let text: String = sdxl.iter().map(|&b| if b { '1' } else { '0' }).collect();
        assert_eq!(text, "101100111110110010010000011110111011000110011110");
        // 'S' = 0x53 = 01010011
        assert_eq!(
            &bits_of_bytes(b"S"),
            &[false, true, false, true, false, false, true, true]
        );
    }

    #[test]
    fn small_images_and_long_messages_are_refused() {
        let small = RgbImage::new(255, 256);
        assert_eq!(
            extract(&small, 8, ImwatermarkMethod::DwtDct).unwrap_err(),
            ImwatermarkError::TooSmall {
                width: 255,
                height: 256
            }
        );
        let image = RgbImage::new(256, 256);
        let err = embed(&image, &vec![true; 1025], ImwatermarkMethod::DwtDct).unwrap_err();
        assert!(
            matches!(err, ImwatermarkError::MessageTooLong { blocks: 1024, .. }),
            "{err}"
        );
    }
}
