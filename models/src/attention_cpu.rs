//! Causal multi-head self-attention on the CPU, read straight from the fused query/key/value
//! projection, one (sequence, head) per task and faer GEMMs per block of queries.
//!
//! candle's path (split heads, transpose, batched `matmul`, add a (b, 1, t, t) mask, softmax)
//! ran its batched 512 x 64 x 512 products at about 26 GFLOP/s on two cores and formed every
//! score above the diagonal only to mask it: with GPT-2 6 x 512 at 8 x 512 tokens, a third of
//! a scoring run. Here a block of queries [q0, q1) scores only keys [0, q1) (keys past the
//! query, or past the sequence's length, are never read), the softmax runs over each row's
//! visible keys, and no mask or score tensor of the whole batch is ever allocated.

use rayon::prelude::*;

/// Queries per block: a 64 x 512 score block (128 KiB) stays in L2, and causal blocks of 64
/// form 56% of the full score matrix at 512 tokens.
const QUERY_BLOCK: usize = 64;

/// Attention output (b, t, d) of `qkv` (b, t, 3d) row-major: queries in columns [0, d) (already
/// scaled), keys in [d, 2d), values in [2d, 3d), head h in columns h·d/n_head.. of each.
/// Row i of the batch attends causally to its first `lengths[i]` positions; its rows past
/// that length (padding) come out as zeros.
pub fn causal_attention(
    qkv: &[f32],
    (b, t, d): (usize, usize, usize),
    n_head: usize,
    lengths: &[usize],
) -> Vec<f32> {
    assert_eq!(qkv.len(), b * t * 3 * d, "qkv must be (b, t, 3d)");
    assert_eq!(lengths.len(), b, "one length per row");
    assert_eq!(d % n_head, 0, "width must split into heads");
    let hd = d / n_head;
    let heads: Vec<Vec<f32>> = (0..b * n_head)
        .into_par_iter()
        .map(|job| {
            let (row, head) = (job / n_head, job % n_head);
            let seq = &qkv[row * t * 3 * d..(row + 1) * t * 3 * d];
            one_head(seq, t, d, hd, head, lengths[row].min(t))
        })
        .collect();
    let mut out = vec![0f32; b * t * d];
    out.par_chunks_mut(t * d)
        .zip(heads.par_chunks(n_head))
        .for_each(|(dst, heads)| {
            for (h, src) in heads.iter().enumerate() {
                for (dst_row, src_row) in dst.chunks_exact_mut(d).zip(src.chunks_exact(hd)) {
                    dst_row[h * hd..(h + 1) * hd].copy_from_slice(src_row);
                }
            }
        });
    out
}

/// One head of one sequence: (t, hd) row-major, rows from `len` on left zero.
fn one_head(seq: &[f32], t: usize, d: usize, hd: usize, head: usize, len: usize) -> Vec<f32> {
    let stride = 3 * d;
    // A (rows x hd) view of part `part` (0 = Q, 1 = K, 2 = V) of this head, from `first`.
    let view = |part: usize, first: usize, rows: usize| {
        let start = first * stride + part * d + head * hd;
        let end = if rows == 0 {
            start
        } else {
            start + (rows - 1) * stride + hd
        };
        faer::MatRef::from_row_major_slice_with_stride(&seq[start..end], rows, hd, stride)
    };
    let mut out = vec![0f32; t * hd];
    let mut scores = vec![0f32; QUERY_BLOCK * len.max(1)];
    for q0 in (0..len).step_by(QUERY_BLOCK) {
        let q1 = (q0 + QUERY_BLOCK).min(len);
        let (rows, keys) = (q1 - q0, q1);
        let s = &mut scores[..rows * keys];
        faer::linalg::matmul::matmul(
            faer::MatMut::from_row_major_slice_mut(s, rows, keys),
            faer::Accum::Replace,
            view(0, q0, rows),
            view(1, 0, keys).transpose(),
            1.0f32,
            faer::Par::Seq,
        );
        for (i, row) in s.chunks_exact_mut(keys).enumerate() {
            // Query q0 + i sees keys 0..=q0 + i; the rest of the block's columns weigh zero.
            let (visible, hidden) = row.split_at_mut(q0 + i + 1);
            softmax_in_place(visible);
            hidden.fill(0.0);
        }
        faer::linalg::matmul::matmul(
            faer::MatMut::from_row_major_slice_mut(&mut out[q0 * hd..q1 * hd], rows, hd),
            faer::Accum::Replace,
            faer::MatRef::from_row_major_slice(s, rows, keys),
            view(2, 0, keys),
            1.0f32,
            faer::Par::Seq,
        );
    }
    out
}

/// exp(x − max) / Σ exp(x − max), as candle's `softmax_last_dim` computes it, vectorised
/// (rten-vecmath: exponentials within 1 ulp of `f32::exp`).
fn softmax_in_place(xs: &mut [f32]) {
    use rten_simd::SimdOp;
    rten_vecmath::Softmax::new_mut(xs).dispatch();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, in f64: softmax over the visible keys of q·k, weights times v.
    fn reference(
        qkv: &[f32],
        (b, t, d): (usize, usize, usize),
        nh: usize,
        lengths: &[usize],
    ) -> Vec<f64> {
        let hd = d / nh;
        let at = |r: usize, p: usize, c: usize| f64::from(qkv[(r * t + p) * 3 * d + c]);
        let mut out = vec![0f64; b * t * d];
        for r in 0..b {
            for h in 0..nh {
                for q in 0..lengths[r] {
                    let s: Vec<f64> = (0..=q)
                        .map(|k| {
                            (0..hd)
                                .map(|j| at(r, q, h * hd + j) * at(r, k, d + h * hd + j))
                                .sum()
                        })
                        .collect();
                    let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let z: f64 = s.iter().map(|v| (v - m).exp()).sum();
                    for j in 0..hd {
                        out[(r * t + q) * d + h * hd + j] = s
                            .iter()
                            .enumerate()
                            .map(|(k, v)| (v - m).exp() / z * at(r, k, 2 * d + h * hd + j))
                            .sum();
                    }
                }
            }
        }
        out
    }

    #[test]
    fn matches_the_definition_across_blocks_heads_and_padding() {
        // 150 positions span three query blocks (the last one partial); row 1 is padded.
        let (b, t, d, nh) = (2, 150, 12, 3);
        let qkv: Vec<f32> = (0..b * t * 3 * d)
            .map(|i| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * 2.0)
            .collect();
        let lengths = [150, 97];
        let got = causal_attention(&qkv, (b, t, d), nh, &lengths);
        let want = reference(&qkv, (b, t, d), nh, &lengths);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let (r, p) = (i / (t * d), i / d % t);
            if p >= lengths[r] {
                assert_eq!(*g, 0.0, "padding row {r} position {p}");
            } else {
                assert!(
                    (f64::from(*g) - w).abs() < 1e-5,
                    "row {r} pos {p}: {g} vs {w}"
                );
            }
        }
    }
}
