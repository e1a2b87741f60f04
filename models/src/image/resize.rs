//! The three resize conventions of the FID tools, on one channel plane (row-major h x w
//! floats). Each follows its reference's arithmetic (precision, rounding of indices, order of
//! the two passes), because FID on 299 x 299 inputs moves by points between them.

/// torch `F.interpolate(mode="bilinear", align_corners=False, antialias=False)` on float32:
/// source coordinate max((i + 0.5)·in/out − 0.5, 0) in f32, the upper neighbour clamped to the
/// edge. No antialiasing: shrinking skips pixels, as it does in pytorch-fid.
pub fn bilinear_torch(src: &[f32], h: usize, w: usize, oh: usize, ow: usize) -> Vec<f32> {
    let taps = |input: usize, output: usize| -> Vec<(usize, usize, f32, f32)> {
        let scale = input as f32 / output as f32;
        (0..output)
            .map(|i| {
                let real = (scale * (i as f32 + 0.5) - 0.5).max(0.0);
                let i0 = real as usize;
                let l1 = (real - i0 as f32).clamp(0.0, 1.0);
                let i1 = if i0 < input - 1 { i0 + 1 } else { i0 };
                (i0, i1, 1.0 - l1, l1)
            })
            .collect()
    };
    let (ty, tx) = (taps(h, oh), taps(w, ow));
    let mut out = Vec::with_capacity(oh * ow);
    for &(y0, y1, hy0, hy1) in &ty {
        let (r0, r1) = (&src[y0 * w..(y0 + 1) * w], &src[y1 * w..(y1 + 1) * w]);
        for &(x0, x1, wx0, wx1) in &tx {
            out.push(hy0 * (wx0 * r0[x0] + wx1 * r0[x1]) + hy1 * (wx0 * r1[x0] + wx1 * r1[x1]));
        }
    }
    out
}

/// torch-fidelity's `interpolate_bilinear_2d_like_tensorflow1x` ("slow", align_corners=False),
/// bit-exact with TF 1.x on the CPU: source coordinate i·(in/out) with no half-pixel offset,
/// the fraction and both lerps in f32, x before y.
pub fn bilinear_tf1(src: &[f32], h: usize, w: usize, oh: usize, ow: usize) -> Vec<f32> {
    let taps = |input: usize, output: usize| -> Vec<(usize, usize, f32)> {
        // The scale is a Python float (f64) turned into a float32 tensor.
        let scale = (input as f64 / output as f64) as f32;
        (0..output)
            .map(|i| {
                let g = i as f32 * scale;
                let lo = g as usize;
                (lo, (lo + 1).min(input - 1), g - lo as f32)
            })
            .collect()
    };
    let (ty, tx) = (taps(h, oh), taps(w, ow));
    let mut out = Vec::with_capacity(oh * ow);
    for &(y0, y1, dy) in &ty {
        let (r0, r1) = (&src[y0 * w..(y0 + 1) * w], &src[y1 * w..(y1 + 1) * w]);
        for &(x0, x1, dx) in &tx {
            let top = r0[x0] + (r0[x1] - r0[x0]) * dx;
            let bottom = r1[x0] + (r1[x1] - r1[x0]) * dx;
            out.push(top + (bottom - top) * dy);
        }
    }
    out
}

/// PIL's bicubic (a = −0.5) kernel.
fn pil_bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// One output pixel's window in PIL's resampler: first source index and normalised weights.
struct Window {
    start: usize,
    weights: Vec<f64>,
}

/// PIL's `precompute_coeffs` for the bicubic filter: the support widens by the shrink factor
/// (this is PIL's antialiasing), windows are clipped to the image and renormalised.
fn pil_windows(input: usize, output: usize) -> Vec<Window> {
    let scale = input as f64 / output as f64;
    let filter_scale = scale.max(1.0);
    let support = 2.0 * filter_scale;
    (0..output)
        .map(|i| {
            let center = (i as f64 + 0.5) * scale;
            // C's (int) truncates toward zero; the clamps make that equal to flooring here.
            let lo = ((center - support + 0.5) as i64).max(0) as usize;
            let hi = ((center + support + 0.5) as i64).min(input as i64) as usize;
            // PIL multiplies by the reciprocal rather than dividing: the same last bit matters
            // once weights become 22-bit integers (`bicubic_pil_rgb8`).
            let inv_scale = 1.0 / filter_scale;
            let mut weights: Vec<f64> = (lo..hi)
                .map(|x| pil_bicubic((x as f64 - center + 0.5) * inv_scale))
                .collect();
            let total: f64 = weights.iter().sum();
            if total != 0.0 {
                weights.iter_mut().for_each(|w| *w /= total);
            }
            Window { start: lo, weights }
        })
        .collect()
}

/// PIL `Image.resize(..., Image.BICUBIC)` of a mode-"F" (float32) image, as clean-fid calls it
/// per channel: sums in f64, each pass stored as f32, horizontal pass first, a pass skipped
/// when its side keeps its size.
pub fn bicubic_pil(src: &[f32], h: usize, w: usize, oh: usize, ow: usize) -> Vec<f32> {
    let mut plane = src.to_vec();
    let mut width = w;
    if ow != w {
        let windows = pil_windows(w, ow);
        let mut next = Vec::with_capacity(h * ow);
        for row in plane.chunks_exact(w) {
            for win in &windows {
                let s: f64 = win
                    .weights
                    .iter()
                    .zip(&row[win.start..])
                    .map(|(k, &v)| v as f64 * k)
                    .sum();
                next.push(s as f32);
            }
        }
        plane = next;
        width = ow;
    }
    if oh != h {
        let windows = pil_windows(h, oh);
        let mut next = Vec::with_capacity(oh * width);
        for win in &windows {
            for x in 0..width {
                let s: f64 = win
                    .weights
                    .iter()
                    .enumerate()
                    .map(|(j, k)| plane[(win.start + j) * width + x] as f64 * k)
                    .sum();
                next.push(s as f32);
            }
        }
        plane = next;
    }
    plane
}

/// PIL's fixed-point precision for 8-bit resampling: 32 bits less 8 for the value and 2 for
/// the overshoot of negative lobes.
const PIL_PRECISION_BITS: u32 = 22;

/// A window's weights as PIL's `normalize_coeffs_8bpc` rounds them (half away from zero).
fn pil_fixed_weights(windows: &[Window]) -> Vec<(usize, Vec<i32>)> {
    let one = (1i64 << PIL_PRECISION_BITS) as f64;
    windows
        .iter()
        .map(|w| {
            let k = w
                .weights
                .iter()
                .map(|&k| {
                    if k < 0.0 {
                        (-0.5 + k * one) as i32
                    } else {
                        (0.5 + k * one) as i32
                    }
                })
                .collect();
            (w.start, k)
        })
        .collect()
}

/// PIL's `clip8`: the sum shifted back to 8 bits (an arithmetic shift, so flooring) and clamped.
fn pil_clip8(acc: i32) -> u8 {
    (acc >> PIL_PRECISION_BITS).clamp(0, 255) as u8
}

/// PIL `Image.resize(..., Image.BICUBIC)` of an 8-bit RGB image (interleaved rows), as
/// transformers' PIL-backend CLIP processor and OpenAI's CLIP preprocessing call it: weights as
/// 22-bit integers, a rounding bias of half a unit, the horizontal pass first and stored as
/// 8 bits, then the vertical; a pass is skipped when its side keeps its size.
pub fn bicubic_pil_rgb8(src: &[u8], h: usize, w: usize, oh: usize, ow: usize) -> Vec<u8> {
    const HALF: i32 = 1 << (PIL_PRECISION_BITS - 1);
    let mut plane = src.to_vec();
    let mut width = w;
    if ow != w {
        let windows = pil_fixed_weights(&pil_windows(w, ow));
        let mut next = Vec::with_capacity(h * ow * 3);
        for row in plane.chunks_exact(w * 3) {
            for (start, k) in &windows {
                let mut acc = [HALF; 3];
                for (j, &kj) in k.iter().enumerate() {
                    let px = &row[(start + j) * 3..(start + j) * 3 + 3];
                    for c in 0..3 {
                        acc[c] += px[c] as i32 * kj;
                    }
                }
                next.extend(acc.map(pil_clip8));
            }
        }
        plane = next;
        width = ow;
    }
    if oh != h {
        let windows = pil_fixed_weights(&pil_windows(h, oh));
        let stride = width * 3;
        let mut next = Vec::with_capacity(oh * stride);
        for (start, k) in &windows {
            for x in 0..stride {
                let mut acc = HALF;
                for (j, &kj) in k.iter().enumerate() {
                    acc += plane[(start + j) * stride + x] as i32 * kj;
                }
                next.push(pil_clip8(acc));
            }
        }
        plane = next;
    }
    plane
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(h: usize, w: usize) -> Vec<f32> {
        (0..h * w).map(|k| ((k * 7919) % 256) as f32).collect()
    }

    #[test]
    fn same_size_is_the_identity_in_every_mode() {
        let x = ramp(5, 7);
        assert_eq!(bilinear_torch(&x, 5, 7, 5, 7), x);
        assert_eq!(bilinear_tf1(&x, 5, 7, 5, 7), x);
        assert_eq!(bicubic_pil(&x, 5, 7, 5, 7), x);
    }

    #[test]
    fn doubling_interpolates_halfway_between_pixel_centres() {
        // One row [0, 4] to 4 pixels. torch maps output i to (i + 0.5)/2 − 0.5, clamped to
        // [0, 1]: 0, 0.25, 0.75, 1 (clamped). TF1 maps it to i/2: 0, 0.5, 1, 1.5 (past the
        // last pixel, which is repeated).
        let x = [0.0f32, 4.0];
        assert_eq!(bilinear_torch(&x, 1, 2, 1, 4), vec![0.0, 1.0, 3.0, 4.0]);
        assert_eq!(bilinear_tf1(&x, 1, 2, 1, 4), vec![0.0, 2.0, 4.0, 4.0]);
    }

    #[test]
    fn pil_weights_sum_to_one_and_widen_when_shrinking() {
        for (i, o) in [(10, 3), (3, 10), (299, 299), (640, 299)] {
            for win in pil_windows(i, o) {
                let s: f64 = win.weights.iter().sum();
                assert!((s - 1.0).abs() < 1e-12, "{i}->{o}: {s}");
                assert!(win.start + win.weights.len() <= i);
            }
        }
        // Shrinking 640 -> 299 spans ~4 * 2.14 source pixels per output pixel.
        assert!(pil_windows(640, 299)[100].weights.len() >= 8);
        assert!(pil_windows(299, 640)[100].weights.len() <= 5);
    }
}
