//! Decoding to 8-bit RGB the way PIL's `Image.open(p).convert("RGB")` does, which is what
//! pytorch-fid, clean-fid and torch-fidelity all call: grey is replicated, alpha is dropped
//! (not composited), 16-bit colour keeps its high byte, 16-bit grey is clipped at 255.

use crate::error::{ModelError, Result};
use image::{DynamicImage, ImageReader, Limits};
use std::io::Cursor;
use std::path::Path;

/// An 8-bit RGB image, rows top to bottom, pixels interleaved (HWC).
#[derive(Debug, Clone, PartialEq)]
pub struct Rgb8 {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

/// Largest side accepted, and the most memory one decode may take: a small file that claims
/// a huge canvas (a decompression bomb) is refused before it is expanded.
pub const MAX_SIDE: u32 = 1 << 15;
pub const MAX_DECODE_BYTES: u64 = 1 << 30;

/// Decode an image file's bytes; `path` is for messages. The format is read from the bytes,
/// not from the file name.
pub fn decode_rgb8(path: &Path, bytes: &[u8]) -> Result<Rgb8> {
    let bad = |msg: String| ModelError::BadImage {
        path: path.to_path_buf(),
        msg,
    };
    if bytes.is_empty() {
        return Err(bad("empty file".into()));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| bad(format!("cannot read: {e}")))?;
    if reader.format().is_none() {
        return Err(bad(
            "not an image in a supported format (png, jpeg, bmp, gif, tiff, webp, pnm)".into(),
        ));
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| bad(format!("cannot decode: {e}")))?;
    pil_rgb(img).map_err(bad)
}

fn pil_rgb(img: DynamicImage) -> std::result::Result<Rgb8, String> {
    let (width, height) = (img.width() as usize, img.height() as usize);
    let grey = |v: &mut dyn Iterator<Item = u8>| v.flat_map(|g| [g, g, g]).collect::<Vec<u8>>();
    let data = match img {
        DynamicImage::ImageRgb8(b) => b.into_raw(),
        DynamicImage::ImageRgba8(b) => b
            .into_raw()
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect(),
        DynamicImage::ImageLuma8(b) => grey(&mut b.into_raw().into_iter()),
        DynamicImage::ImageLumaA8(b) => grey(&mut b.into_raw().into_iter().step_by(2)),
        // PIL reads 16-bit grey PNGs as mode "I;16"; its conversion to RGB clips at 255.
        DynamicImage::ImageLuma16(b) => {
            grey(&mut b.into_raw().into_iter().map(|v| v.min(255) as u8))
        }
        // 16-bit colour and grey-with-alpha are unpacked to 8 bits by keeping the high byte.
        DynamicImage::ImageLumaA16(b) => {
            grey(&mut b.into_raw().into_iter().step_by(2).map(|v| (v >> 8) as u8))
        }
        DynamicImage::ImageRgb16(b) => b.into_raw().into_iter().map(|v| (v >> 8) as u8).collect(),
        DynamicImage::ImageRgba16(b) => b
            .into_raw()
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]].map(|v| (v >> 8) as u8))
            .collect(),
        other => {
            return Err(format!(
                "unsupported pixel type {:?} (8- or 16-bit grey or colour expected)",
                other.color()
            ))
        }
    };
    Ok(Rgb8 {
        width,
        height,
        data,
    })
}
