//! Glyphs: 28 x 28 grey images of ten shape classes, drawn by an explicit generative process.
//!
//! An image is made as follows (every draw from the seeded stream, in this order):
//! 1. the class k ~ Categorical(`CLASS_PROBABILITIES`);
//! 2. the centre (cx, cy) ~ U(11, 17)², the size s ~ U(6, 9.5) (half-extent, pixels), the
//!    rotation θ ~ U(−π/12, π/12), the stroke width w ~ U(1.5, 3) (rotations stay small: a plus
//!    turned by 45° is a cross, a square a diamond, and classes must stay identifiable);
//! 3. the shape is drawn anti-aliased: a pixel's ink is clamp(w/2 + 0.5 − d, 0, 1), d being the
//!    distance from the pixel centre to the shape's outline (for the dot, w = 0 and d is the
//!    signed distance to its disk, so that it is filled);
//! 4. grey = 255 · ink + N(0, `NOISE_SIGMA`²) per pixel, rounded and clipped to [0, 255].
//!
//! The class probabilities are deliberately unequal, so that a generator that drops or
//! over-produces a class shows in the class histogram.

use super::categorical;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::f64::consts::PI;

pub const SIZE: usize = 28;

/// Shape classes, in label order.
pub const CLASS_NAMES: [&str; 10] = [
    "ring", "square", "triangle", "plus", "bar", "arc", "cross", "diamond", "chevron", "dot",
];

/// P(class): unequal on purpose; sums to 1.
pub const CLASS_PROBABILITIES: [f64; 10] =
    [0.16, 0.14, 0.12, 0.11, 0.10, 0.09, 0.08, 0.08, 0.07, 0.05];

/// Standard deviation of the pixel noise, in grey levels.
pub const NOISE_SIGMA: f64 = 8.0;

/// The parameters one glyph was drawn with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GlyphParams {
    pub class: usize,
    pub cx: f64,
    pub cy: f64,
    pub size: f64,
    pub rotation: f64,
    pub width: f64,
}

/// One glyph: its pixels (row-major, 28 x 28) and parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Glyph {
    pub pixels: Vec<u8>,
    pub params: GlyphParams,
}

/// Distance from p to the segment a–b.
fn segment_distance(p: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
    let (vx, vy) = (b.0 - a.0, b.1 - a.1);
    let (wx, wy) = (p.0 - a.0, p.1 - a.1);
    let len2 = vx * vx + vy * vy;
    let t = if len2 == 0.0 {
        0.0
    } else {
        ((wx * vx + wy * vy) / len2).clamp(0.0, 1.0)
    };
    let (dx, dy) = (wx - t * vx, wy - t * vy);
    (dx * dx + dy * dy).sqrt()
}

fn polyline_distance(p: (f64, f64), pts: &[(f64, f64)], closed: bool) -> f64 {
    let mut d = f64::INFINITY;
    for i in 0..pts.len() - 1 {
        d = d.min(segment_distance(p, pts[i], pts[i + 1]));
    }
    if closed {
        d = d.min(segment_distance(p, pts[pts.len() - 1], pts[0]));
    }
    d
}

fn regular_polygon(n: usize, r: f64, phase: f64) -> Vec<(f64, f64)> {
    (0..n)
        .map(|i| {
            let a = phase + 2.0 * PI * i as f64 / n as f64;
            (r * a.cos(), r * a.sin())
        })
        .collect()
}

/// Distance from the point q (in the shape's own frame: centred, unrotated, unit = pixel) to
/// the outline of class `class` of half-extent `s`; for the dot, signed, to its disk.
fn shape_distance(class: usize, q: (f64, f64), s: f64) -> f64 {
    let r = (q.0 * q.0 + q.1 * q.1).sqrt();
    match class {
        0 => (r - s).abs(),
        1 => polyline_distance(q, &[(-s, -s), (s, -s), (s, s), (-s, s)], true),
        2 => polyline_distance(q, &regular_polygon(3, s, -PI / 2.0), true),
        3 => segment_distance(q, (-s, 0.0), (s, 0.0)).min(segment_distance(q, (0.0, -s), (0.0, s))),
        4 => segment_distance(q, (-s, 0.0), (s, 0.0)),
        5 => {
            // The upper half of a ring: the ring where the angle is in [0, π], else the ends.
            if q.1 <= 0.0 {
                (r - s).abs()
            } else {
                segment_distance(q, (s, 0.0), (s, 0.0)).min(segment_distance(
                    q,
                    (-s, 0.0),
                    (-s, 0.0),
                ))
            }
        }
        6 => segment_distance(q, (-s, -s), (s, s)).min(segment_distance(q, (-s, s), (s, -s))),
        7 => polyline_distance(q, &regular_polygon(4, s, 0.0), true),
        8 => polyline_distance(q, &[(-s, -0.6 * s), (0.0, 0.6 * s), (s, -0.6 * s)], false),
        // The dot: signed distance to its disk (negative inside).
        _ => r - 0.55 * s,
    }
}

/// Ink in [0, 1] of every pixel for the given parameters (no noise).
pub fn render(p: &GlyphParams) -> Vec<f64> {
    let (c, sn) = (p.rotation.cos(), p.rotation.sin());
    let mut ink = vec![0.0; SIZE * SIZE];
    for y in 0..SIZE {
        for x in 0..SIZE {
            let (dx, dy) = (x as f64 + 0.5 - p.cx, y as f64 + 0.5 - p.cy);
            // Into the shape's frame: rotate by −θ.
            let q = (c * dx + sn * dy, -sn * dx + c * dy);
            let d = shape_distance(p.class, q, p.size);
            // The dot is a filled disk: full ink inside, the same soft edge outside.
            let half = if p.class == 9 { 0.0 } else { p.width / 2.0 };
            ink[y * SIZE + x] = (half + 0.5 - d).clamp(0.0, 1.0);
        }
    }
    ink
}

/// A standard normal draw (Box–Muller on two uniforms of the stream).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

/// Glyphs `first .. first + per_side²` of the data set with `seed`, tiled row by row into
/// one grey image of side `per_side · SIZE` (row-major pixels): a host large enough for image
/// watermarks, which need far more than 28 × 28.
pub fn montage(seed: u64, first: u64, per_side: usize) -> Vec<u8> {
    let side = per_side * SIZE;
    let mut pixels = vec![0u8; side * side];
    for k in 0..per_side * per_side {
        let g = glyph(seed, first + k as u64);
        let (oy, ox) = ((k / per_side) * SIZE, (k % per_side) * SIZE);
        for y in 0..SIZE {
            let row = (oy + y) * side + ox;
            pixels[row..row + SIZE].copy_from_slice(&g.pixels[y * SIZE..(y + 1) * SIZE]);
        }
    }
    pixels
}

/// Glyph `index` of the data set with `seed`: each glyph has its own stream, so any subset
/// can be regenerated without the others.
pub fn glyph(seed: u64, index: u64) -> Glyph {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    let class = categorical(&mut rng, &CLASS_PROBABILITIES);
    let params = GlyphParams {
        class,
        cx: rng.random_range(11.0..17.0),
        cy: rng.random_range(11.0..17.0),
        size: rng.random_range(6.0..9.5),
        rotation: rng.random_range(-PI / 12.0..PI / 12.0),
        width: rng.random_range(1.5..3.0),
    };
    let pixels = render(&params)
        .into_iter()
        .map(|ink| {
            (255.0 * ink + NOISE_SIGMA * normal(&mut rng))
                .round()
                .clamp(0.0, 255.0) as u8
        })
        .collect();
    Glyph { pixels, params }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_probabilities_sum_to_one_and_names_match() {
        let s: f64 = CLASS_PROBABILITIES.iter().sum();
        assert!((s - 1.0).abs() < 1e-12);
        assert_eq!(CLASS_NAMES.len(), CLASS_PROBABILITIES.len());
    }

    #[test]
    fn glyphs_are_reproducible_from_seed_and_index() {
        assert_eq!(glyph(7, 3), glyph(7, 3));
        assert_ne!(glyph(7, 3).pixels, glyph(7, 4).pixels);
        assert_ne!(glyph(7, 3).pixels, glyph(8, 3).pixels);
    }

    #[test]
    fn class_frequencies_match_the_probabilities() {
        // 20,000 draws: a chi-square test with 9 degrees of freedom; 27.9 is its 0.999 quantile.
        let n = 20_000;
        let mut counts = [0usize; 10];
        for i in 0..n {
            counts[glyph(1, i).params.class] += 1;
        }
        let chi2: f64 = counts
            .iter()
            .zip(CLASS_PROBABILITIES)
            .map(|(&c, p)| {
                let e = p * n as f64;
                (c as f64 - e).powi(2) / e
            })
            .sum();
        assert!(chi2 < 27.9, "chi-square {chi2}, counts {counts:?}");
    }

    #[test]
    fn shapes_put_ink_where_their_outline_is() {
        // An unrotated ring of radius 8 at the centre: ink on the circle, none at the centre.
        let p = GlyphParams {
            class: 0,
            cx: 14.0,
            cy: 14.0,
            size: 8.0,
            rotation: 0.0,
            width: 2.0,
        };
        let ink = render(&p);
        assert_eq!(ink[14 * SIZE + 14], 0.0);
        assert!(ink[14 * SIZE + 21] > 0.9, "{}", ink[14 * SIZE + 21]); // (21.5, 14.5): r ≈ 7.5
                                                                       // A dot is filled.
        let dot = render(&GlyphParams { class: 9, ..p });
        assert_eq!(dot[14 * SIZE + 14], 1.0);
        // Every class draws something, and distinct classes draw distinct images.
        let images: Vec<Vec<f64>> = (0..10)
            .map(|k| render(&GlyphParams { class: k, ..p }))
            .collect();
        for (k, im) in images.iter().enumerate() {
            let total: f64 = im.iter().sum();
            assert!(total > 10.0, "{}: {total}", CLASS_NAMES[k]);
            for other in &images[..k] {
                assert_ne!(im, other, "{}", CLASS_NAMES[k]);
            }
        }
    }

    #[test]
    fn montage_tiles_glyphs_in_order() {
        let m = montage(5, 10, 3);
        let side = 3 * SIZE;
        assert_eq!(m.len(), side * side);
        let fifth = glyph(5, 14).pixels; // k = 4: row 1, column 1
        for y in 0..SIZE {
            let row = (SIZE + y) * side + SIZE;
            assert_eq!(&m[row..row + SIZE], &fifth[y * SIZE..(y + 1) * SIZE]);
        }
    }
}
