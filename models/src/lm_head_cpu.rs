//! The LM head on the CPU: logits h·Wᵀ for chosen rows of the final hidden states, made a
//! block of rows at a time and consumed while the block is still in cache.
//!
//! Scoring needs every logit of a row (the log-softmax's normaliser, the rank, the entropy)
//! but never the whole (rows × vocabulary) matrix at once. A window's logits with candle's
//! `matmul` are (tokens × vocabulary): 206 MB for GPT-2's 1,024 × 50,257, allocated per window
//! and read once. Here blocks of [`ROWS_PER_BLOCK`] rows are multiplied with faer's
//! single-threaded GEMM into a buffer that each rayon task reuses across the blocks it takes
//! (26 MB at 50,257 words), and each row is scored at once. Measured (2 layers x 256, 50,257 words, 16 windows of 1,024 tokens, batch 8,
//! three interleaved pairs of runs): peak memory 357-412 MB -> 250-259 MB, time unchanged
//! (6.45-7.46 s -> 6.59-7.04 s), perplexity identical to every printed digit.

use rayon::prelude::*;

/// Rows per GEMM. faer's single-threaded f32 GEMM of (rows x 512) by (512 x 8,000), one block
/// per thread on two cores, measured: 16 rows 67 GFLOP/s, 32 rows 103, 64 rows 130, 128 rows
/// 153, 256 rows 160. 128 keeps most of that while a block's logits (4 MB for 8,000 words)
/// stay in the last-level cache for scoring.
pub const ROWS_PER_BLOCK: usize = 128;

/// `score(i, logits, scratch)` for each hidden row of `runs` (each `(first row, rows)` of
/// `hidden` (n, d)), `i` counting the rows of all runs in order; `logits` is the row times
/// `head`ᵀ, `head` being (vocab, d) row-major (a tied embedding or an `lm_head` weight as
/// stored), and `scratch` a buffer reused across calls. Results come back in that order.
///
/// A run is cut into blocks from its own first row, so a row's logits depend only on its run
/// (a window), never on the runs batched with it: a text scores the same at any batch size.
pub fn score_rows<R: Send>(
    hidden: &[f32],
    d: usize,
    head: &[f32],
    runs: &[(usize, usize)],
    score: impl Fn(usize, &[f32], &mut Vec<f32>) -> R + Sync,
) -> Vec<R> {
    assert!(
        d > 0 && hidden.len().is_multiple_of(d),
        "hidden must be (n, d)"
    );
    assert!(head.len().is_multiple_of(d), "head must be (vocab, d)");
    let vocab = head.len() / d;
    let n = hidden.len() / d;
    // (first row, rows, index of the first row in the output).
    let mut blocks = Vec::new();
    let mut index = 0;
    for &(first, rows) in runs {
        assert!(
            first + rows <= n,
            "rows {first}..{} out of range",
            first + rows
        );
        for start in (0..rows).step_by(ROWS_PER_BLOCK) {
            let m = ROWS_PER_BLOCK.min(rows - start);
            blocks.push((first + start, m, index + start));
        }
        index += rows;
    }
    let scored: Vec<Vec<R>> = blocks
        .par_iter()
        .map_init(
            || (Vec::new(), Vec::new()),
            |(logits, scratch), &(first, m, index)| {
                logits.resize(m * vocab, 0f32);
                faer::linalg::matmul::matmul(
                    faer::MatMut::from_row_major_slice_mut(&mut logits[..m * vocab], m, vocab),
                    faer::Accum::Replace,
                    faer::MatRef::from_row_major_slice(&hidden[first * d..(first + m) * d], m, d),
                    faer::MatRef::from_row_major_slice(head, vocab, d).transpose(),
                    1.0f32,
                    faer::Par::Seq,
                );
                logits
                    .chunks_exact(vocab)
                    .take(m)
                    .enumerate()
                    .map(|(i, row)| score(index + i, row, scratch))
                    .collect()
            },
        )
        .collect();
    scored.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_row_of_each_run_gets_its_own_logits_in_order() {
        // Runs longer than a block, out of order and overlapping, so that a mix-up of blocks,
        // rows or order changes the result.
        let (n, d, vocab) = (3 * ROWS_PER_BLOCK + 5, 6, 11);
        let hidden: Vec<f32> = (0..n * d).map(|i| ((i * 7) % 17) as f32 - 8.0).collect();
        let head: Vec<f32> = (0..vocab * d)
            .map(|i| ((i * 5) % 13) as f32 * 0.5 - 3.0)
            .collect();
        let runs = [
            (ROWS_PER_BLOCK + 3, 2 * ROWS_PER_BLOCK + 2),
            (0, 0),
            (2, 7),
            (4, 1),
        ];
        let rows: Vec<usize> = runs.iter().flat_map(|&(f, m)| f..f + m).collect();
        let got = score_rows(&hidden, d, &head, &runs, |i, logits, _| {
            (i, logits.to_vec())
        });
        assert_eq!(got.len(), rows.len());
        for (k, (i, logits)) in got.iter().enumerate() {
            assert_eq!(*i, k);
            let r = rows[k];
            for (v, &got) in logits.iter().enumerate() {
                let want: f32 = (0..d).map(|j| hidden[r * d + j] * head[v * d + j]).sum();
                assert!(
                    (got - want).abs() < 1e-3,
                    "row {r}, word {v}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn a_runs_logits_do_not_depend_on_the_runs_beside_it() {
        let (n, d, vocab) = (2 * ROWS_PER_BLOCK + 40, 64, 50);
        let hidden: Vec<f32> = (0..n * d)
            .map(|i| ((i * 31) % 97) as f32 / 97.0 - 0.5)
            .collect();
        let head: Vec<f32> = (0..vocab * d)
            .map(|i| ((i * 13) % 89) as f32 / 89.0 - 0.5)
            .collect();
        let run = (ROWS_PER_BLOCK / 2, ROWS_PER_BLOCK + 30);
        let alone = score_rows(&hidden, d, &head, &[run], |_, l, _| l.to_vec());
        let beside = score_rows(&hidden, d, &head, &[(0, 7), run, (3, 50)], |_, l, _| {
            l.to_vec()
        });
        assert_eq!(alone[..], beside[7..7 + run.1]);
    }
}
