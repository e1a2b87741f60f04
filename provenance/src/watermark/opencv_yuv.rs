//! OpenCV's 8-bit `COLOR_BGR2YUV` and `COLOR_YUV2BGR`, bit for bit.
//!
//! invisible-watermark converts with `cv2.cvtColor` on `uint8` images, and its decoder thresholds
//! the result, so a conversion that differs by one level flips bits. OpenCV converts 8-bit
//! images in 14-bit fixed point (BT.601 luma, U = 0.492 (B − Y), V = 0.877 (R − Y)), rounding
//! half up and saturating; these are its integer coefficients. Checked against OpenCV 5.0 on all
//! 2^24 inputs in both directions (`tests/parity/watermark_image_goldens.py` relies on it).

const SHIFT: u32 = 14;
const HALF: i32 = 1 << (SHIFT - 1);
const R2Y: i32 = 4899;
const G2Y: i32 = 9617;
const B2Y: i32 = 1868;
const B2U: i32 = 8061;
const R2V: i32 = 14369;
const U2B: i32 = 33292;
const U2G: i32 = -6472;
const V2G: i32 = -9519;
const V2R: i32 = 18678;

fn saturate(x: i32) -> u8 {
    x.clamp(0, 255) as u8
}

/// One pixel from (R, G, B) to (Y, U, V).
pub fn rgb_to_yuv([r, g, b]: [u8; 3]) -> [u8; 3] {
    let (r, g, b) = (r as i32, g as i32, b as i32);
    let y = (r * R2Y + g * G2Y + b * B2Y + HALF) >> SHIFT;
    let u = ((b - y) * B2U + (128 << SHIFT) + HALF) >> SHIFT;
    let v = ((r - y) * R2V + (128 << SHIFT) + HALF) >> SHIFT;
    [saturate(y), saturate(u), saturate(v)]
}

/// One pixel from (Y, U, V) back to (R, G, B).
pub fn yuv_to_rgb([y, u, v]: [u8; 3]) -> [u8; 3] {
    let (y, cb, cr) = (y as i32, u as i32 - 128, v as i32 - 128);
    let b = y + ((cb * U2B + HALF) >> SHIFT);
    let g = y + ((cb * U2G + cr * V2G + HALF) >> SHIFT);
    let r = y + ((cr * V2R + HALF) >> SHIFT);
    [saturate(r), saturate(g), saturate(b)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_from_opencv() {
        // cv2.cvtColor(np.uint8([[[B, G, R]]]), cv2.COLOR_BGR2YUV) and back, in OpenCV 5.0.
        assert_eq!(rgb_to_yuv([255, 0, 0]), [76, 91, 255]);
        assert_eq!(rgb_to_yuv([0, 0, 255]), [29, 239, 103]);
        assert_eq!(rgb_to_yuv([128, 128, 128]), [128, 128, 128]);
        assert_eq!(yuv_to_rgb([29, 239, 103]), [0, 0, 255]);
        assert_eq!(yuv_to_rgb([76, 91, 255]), [221, 17, 1]);
        assert_eq!(yuv_to_rgb([200, 10, 250]), [255, 176, 0]);
    }
}
