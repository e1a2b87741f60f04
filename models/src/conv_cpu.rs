//! Convolution + bias + ReLU on the CPU as a patch matrix and one faer GEMM per image, images
//! in parallel. candle's CPU convolution reached ~50 GFLOP/s on this network's shapes on two
//! cores, where faer's single-threaded f32 GEMM alone does ~80 per core; padding is applied
//! while gathering (no padded copy, asymmetric pads included) and bias and ReLU in one pass
//! over each image's output while it is in cache.
//!
//! Two patch layouts, chosen per layer by [`ConvShape::route`]: one patch per column (im2col,
//! `K x P`), which needs no copy at all for 1 x 1 kernels, and one patch per row (`P x K`,
//! gathered from a pixel-major copy of the image), which the GEMM reads at 1.4-1.7x the rate
//! when the map is large and the kernel spatial (measured single-threaded, faer 0.24:
//! 64 x 288 x 21609 went from 43 to 63 GFLOP/s, 64 x 1200 x 1225 from 41 to 71), because each
//! step along K then reads one contiguous row instead of K rows a whole map apart.

use rayon::prelude::*;
use std::ops::Range;

/// Shape of one convolution: `cout x cin x kh x kw` kernel, stride, zero padding per axis.
#[derive(Clone, Copy, Debug)]
pub struct ConvShape {
    pub cin: usize,
    pub cout: usize,
    pub k: (usize, usize),
    pub stride: usize,
    pub pad: (usize, usize),
}

impl ConvShape {
    pub fn out_size(&self, h: usize, w: usize) -> (usize, usize) {
        (
            (h + 2 * self.pad.0 - self.k.0) / self.stride + 1,
            (w + 2 * self.pad.1 - self.k.1) / self.stride + 1,
        )
    }

    /// Which patch layout this layer runs with on a `h x w` input.
    pub fn route(&self, h: usize, w: usize) -> Route {
        let (oh, ow) = self.out_size(h, w);
        // Spatial kernels over maps of 32 x 32 and more, with enough channels that each
        // gathered run is a real copy (the 3-channel first layer gains nothing).
        if self.k != (1, 1) && oh * ow >= 1024 && self.cin >= 16 {
            Route::PatchRows
        } else {
            Route::PatchColumns
        }
    }

    /// Writes the image's patches into `cols` as a (cin·kh·kw) x (oh·ow) row-major matrix,
    /// rows ordered as the OIHW kernel's columns, so that kernel · patches is the output.
    /// Every element is written (padding as zeros), so `cols` may hold a previous image's
    /// patches.
    fn im2col_into(&self, img: &[f32], h: usize, w: usize, cols: &mut [f32]) {
        let (kh, kw) = self.k;
        let (oh, ow) = self.out_size(h, w);
        let (ph, pw) = (self.pad.0 as isize, self.pad.1 as isize);
        for (row, dst) in cols.chunks_exact_mut(oh * ow).enumerate() {
            let (c, ki, kj) = (row / (kh * kw), row / kw % kh, row % kw);
            let plane = &img[c * h * w..(c + 1) * h * w];
            // Output columns whose source column x = ox·stride + kj − pw lies in the image.
            let shift = kj as isize - pw;
            let first = if shift >= 0 {
                0
            } else {
                ((-shift) as usize).div_ceil(self.stride)
            };
            let last = ((w as isize - 1 - shift).div_euclid(self.stride as isize) + 1)
                .clamp(0, ow as isize) as usize;
            for oy in 0..oh {
                let y = (oy * self.stride + ki) as isize - ph;
                let out = &mut dst[oy * ow..(oy + 1) * ow];
                if y < 0 || y >= h as isize || first >= last {
                    out.fill(0.0); // padding
                    continue;
                }
                let src = &plane[y as usize * w..(y as usize + 1) * w];
                out[..first].fill(0.0);
                out[last..].fill(0.0);
                let x0 = (first * self.stride) as isize + shift;
                if self.stride == 1 {
                    out[first..last]
                        .copy_from_slice(&src[x0 as usize..x0 as usize + (last - first)]);
                } else {
                    for (o, x) in out[first..last]
                        .iter_mut()
                        .zip((x0 as usize..).step_by(self.stride))
                    {
                        *o = src[x];
                    }
                }
            }
        }
    }

    /// The image's patch matrix: the image itself for a 1 x 1 stride-1 unpadded kernel, else
    /// written into this thread's reusable buffer.
    fn with_patches<R>(&self, img: &[f32], h: usize, w: usize, f: impl FnOnce(&[f32]) -> R) -> R {
        let (kh, kw) = self.k;
        if kh == 1 && kw == 1 && self.stride == 1 && self.pad == (0, 0) {
            return f(img);
        }
        let (oh, ow) = self.out_size(h, w);
        let len = self.cin * kh * kw * oh * ow;
        PATCHES.with(|buf| {
            let mut buf = buf.borrow_mut();
            let cols = grown(&mut buf, len);
            self.im2col_into(img, h, w, cols);
            f(cols)
        })
    }
}

/// How a layer lays out its patches for the GEMM (see the module's note).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `K x P`, kernel `cout x K` on the left: output rows are channels, as NCHW wants.
    PatchColumns,
    /// `P x K`, transposed kernel on the right: output rows are pixels, transposed back to
    /// NCHW with the bias and ReLU.
    PatchRows,
}

/// A convolution's folded kernel and bias on the host, in the layouts its routes read.
pub struct HostKernel {
    /// `cout x cin x kh x kw` (OIHW), for patch columns.
    oihw: Vec<f32>,
    /// `cout x kh x kw x cin` (OHWI), for patch rows: each kernel position's channels together,
    /// as a pixel-major image holds them. Made on the first patch-row pass, so the layers that
    /// never take that route (most of the network) hold one copy of their kernel, not two.
    ohwi: std::sync::OnceLock<Vec<f32>>,
    bias: Vec<f32>,
}

impl HostKernel {
    pub fn new(oihw: Vec<f32>, bias: Vec<f32>) -> HostKernel {
        HostKernel {
            oihw,
            ohwi: std::sync::OnceLock::new(),
            bias,
        }
    }

    fn ohwi(&self, shape: &ConvShape) -> &[f32] {
        self.ohwi.get_or_init(|| {
            let taps = shape.k.0 * shape.k.1;
            let mut t = vec![0f32; self.oihw.len()];
            for o in 0..shape.cout {
                for c in 0..shape.cin {
                    for i in 0..taps {
                        t[(o * taps + i) * shape.cin + c] =
                            self.oihw[(o * shape.cin + c) * taps + i];
                    }
                }
            }
            t
        })
    }
}

thread_local! {
    /// Each thread's patch matrix, grown to the largest one it has needed. Reusing it matters:
    /// a fresh buffer of tens of megabytes per image and layer went back to the system and was
    /// faulted in and zeroed again each time (an eighth of the run in the kernel's page
    /// clearing). Every element is written before it is read, so a previous image's values
    /// may stay in it.
    static PATCHES: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
    /// Each thread's pixel-major copy of an image and pixel-major GEMM output (patch rows).
    static PIXEL_MAJOR: std::cell::RefCell<(Vec<f32>, Vec<f32>)> =
        const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

fn grown(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    &mut buf[..len]
}

/// `dst` (`cols x rows`) = transpose of `src` (`rows x cols`), both row-major, in tiles that
/// keep both sides' lines in cache; `f` maps each value on the way (bias and ReLU), given its
/// row in `dst`.
fn transpose_map(
    src: &[f32],
    rows: usize,
    cols: usize,
    dst: &mut [f32],
    f: impl Fn(f32, usize) -> f32,
) {
    const TILE: usize = 32;
    for r0 in (0..rows).step_by(TILE) {
        let r1 = (r0 + TILE).min(rows);
        for c0 in (0..cols).step_by(TILE) {
            let c1 = (c0 + TILE).min(cols);
            for c in c0..c1 {
                let out = &mut dst[c * rows..(c + 1) * rows];
                for r in r0..r1 {
                    out[r] = f(src[r * cols + c], c);
                }
            }
        }
    }
}

impl ConvShape {
    /// Writes the patches of a pixel-major (`h·w x cin`) image into `rows`, one output pixel
    /// per row of `kh·kw·cin` values ordered as the OHWI kernel; padding as zeros, every
    /// element written. Along a kernel row the source pixels are adjacent, so with stride 1
    /// each kernel row is one copy of `kw·cin` values (clipped at the borders).
    fn im2row_into(&self, hwc: &[f32], h: usize, w: usize, pixels: Range<usize>, rows: &mut [f32]) {
        let (kh, kw) = self.k;
        let (_, ow) = self.out_size(h, w);
        let cin = self.cin;
        let (ph, pw) = (self.pad.0 as isize, self.pad.1 as isize);
        let k = kh * kw * cin;
        for (pix, dst) in pixels.zip(rows.chunks_exact_mut(k)) {
            let (oy, ox) = (pix / ow, pix % ow);
            let x0 = (ox * self.stride) as isize - pw;
            // Kernel columns whose source x lies in the image.
            let first = (-x0).clamp(0, kw as isize) as usize;
            let last = (w as isize - x0).clamp(0, kw as isize) as usize;
            for ki in 0..kh {
                let y = (oy * self.stride + ki) as isize - ph;
                let out = &mut dst[ki * kw * cin..(ki + 1) * kw * cin];
                if y < 0 || y >= h as isize || first >= last {
                    out.fill(0.0);
                    continue;
                }
                out[..first * cin].fill(0.0);
                out[last * cin..].fill(0.0);
                let src = (y as usize * w) as isize + x0;
                let (a, b) = (
                    (src + first as isize) as usize * cin,
                    (src + last as isize) as usize * cin,
                );
                out[first * cin..last * cin].copy_from_slice(&hwc[a..b]);
            }
        }
    }
}

/// Output pixels per GEMM on the patch-row route: patch blocks of about 512 KiB, which stay in
/// cache from the gathering to the GEMM (a whole 147 x 147 map's patches are 25 MB per image,
/// twice over with two threads, more than the 32 MiB L3 holds). Layer times, 40 images: 5.0 s
/// with whole maps, 4.7-4.8 s with 256 KiB-1 MiB blocks.
fn chunk_rows(k: usize) -> usize {
    (512 * 1024 / 4 / k).max(64)
}

/// relu(conv(x, weight) + bias) for a batch in NCHW layout; returns the output and its
/// spatial size.
pub fn conv_bias_relu(
    x: &[f32],
    (n, h, w): (usize, usize, usize),
    shape: &ConvShape,
    kernel: &HostKernel,
) -> (Vec<f32>, usize, usize) {
    conv_bias_relu_by(x, (n, h, w), shape, kernel, shape.route(h, w))
}

fn conv_bias_relu_by(
    x: &[f32],
    (n, h, w): (usize, usize, usize),
    shape: &ConvShape,
    kernel: &HostKernel,
    route: Route,
) -> (Vec<f32>, usize, usize) {
    let (oh, ow) = shape.out_size(h, w);
    let (k, p) = (shape.cin * shape.k.0 * shape.k.1, oh * ow);
    let mut out = vec![0f32; n * shape.cout * p];
    // Images in parallel, one thread per GEMM; a batch smaller than the pool lets the GEMM
    // itself use the threads instead.
    let inner = if n >= rayon::current_num_threads() {
        faer::Par::Seq
    } else {
        faer::Par::rayon(0)
    };
    let bias = &kernel.bias;
    out.par_chunks_mut(shape.cout * p)
        .zip(x.par_chunks(shape.cin * h * w))
        .for_each(|(o, img)| match route {
            Route::PatchColumns => {
                shape.with_patches(img, h, w, |cols| {
                    let a = faer::MatRef::from_row_major_slice(&kernel.oihw, shape.cout, k);
                    let b = faer::MatRef::from_row_major_slice(cols, k, p);
                    let c = faer::MatMut::from_row_major_slice_mut(o, shape.cout, p);
                    faer::linalg::matmul::matmul(c, faer::Accum::Replace, a, b, 1.0f32, inner);
                });
                for (row, &b) in o.chunks_exact_mut(p).zip(bias) {
                    row.iter_mut().for_each(|v| *v = (*v + b).max(0.0));
                }
            }
            Route::PatchRows => PIXEL_MAJOR.with(|bufs| {
                let (hwc, prod) = &mut *bufs.borrow_mut();
                let hwc = grown(hwc, h * w * shape.cin);
                transpose_map(img, shape.cin, h * w, hwc, |v, _| v);
                let prod = grown(prod, p * shape.cout);
                let chunk = chunk_rows(k);
                PATCHES.with(|buf| {
                    let mut buf = buf.borrow_mut();
                    let rows = grown(&mut buf, chunk.min(p) * k);
                    let b = faer::MatRef::from_row_major_slice(kernel.ohwi(shape), shape.cout, k);
                    for (i, c) in prod.chunks_mut(chunk * shape.cout).enumerate() {
                        let m = c.len() / shape.cout;
                        let pixels = i * chunk..i * chunk + m;
                        shape.im2row_into(hwc, h, w, pixels, &mut rows[..m * k]);
                        let a = faer::MatRef::from_row_major_slice(&rows[..m * k], m, k);
                        let c = faer::MatMut::from_row_major_slice_mut(c, m, shape.cout);
                        faer::linalg::matmul::matmul(
                            c,
                            faer::Accum::Replace,
                            a,
                            b.transpose(),
                            1.0f32,
                            inner,
                        );
                    }
                });
                transpose_map(prod, p, shape.cout, o, |v, c| (v + bias[c]).max(0.0));
            }),
        });
    (out, oh, ow)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pixel-major route gives the im2col route's output (itself checked against candle's
    /// convolution in the Inception tests) on every border case: odd sizes, stride 2, the
    /// asymmetric 1 x 7 / 7 x 1 pads, kernels wider than the image's margin.
    #[test]
    fn patch_rows_equal_patch_columns() {
        let mut seed = 7u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        };
        for (k, stride, pad, (h, w)) in [
            ((3, 3), 1, (1, 1), (9, 7)),
            ((3, 3), 2, (0, 0), (11, 9)),
            ((3, 3), 1, (0, 0), (6, 13)),
            ((1, 7), 1, (0, 3), (8, 5)),
            ((7, 1), 1, (3, 0), (5, 8)),
            ((5, 5), 1, (2, 2), (4, 3)),
            ((3, 3), 2, (1, 1), (2, 2)),
        ] {
            let shape = ConvShape {
                cin: 6,
                cout: 5,
                k,
                stride,
                pad,
            };
            let n = 3;
            let x: Vec<f32> = (0..n * shape.cin * h * w).map(|_| next()).collect();
            let kernel = HostKernel::new(
                (0..shape.cout * shape.cin * k.0 * k.1)
                    .map(|_| next())
                    .collect(),
                (0..shape.cout).map(|_| next() * 0.1).collect(),
            );
            let (cols, oh, ow) =
                conv_bias_relu_by(&x, (n, h, w), &shape, &kernel, Route::PatchColumns);
            let (rows, oh2, ow2) =
                conv_bias_relu_by(&x, (n, h, w), &shape, &kernel, Route::PatchRows);
            assert_eq!((oh, ow), (oh2, ow2));
            assert!(cols.iter().any(|&v| v > 0.0) && cols.contains(&0.0));
            for (i, (a, b)) in cols.iter().zip(&rows).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-5,
                    "{k:?} s{stride} {pad:?} [{i}]: {a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn large_spatial_layers_take_patch_rows() {
        let shape = |cin, k, stride, pad| ConvShape {
            cin,
            cout: 64,
            k,
            stride,
            pad,
        };
        // Conv2d_2b (147 x 147) and a 35 x 35 5x5 branch: rows.
        assert_eq!(
            shape(32, (3, 3), 1, (1, 1)).route(147, 147),
            Route::PatchRows
        );
        assert_eq!(shape(48, (5, 5), 1, (2, 2)).route(35, 35), Route::PatchRows);
        // 1 x 1 kernels read the image as it is; 17 x 17 maps and the 3-channel stem: columns.
        assert_eq!(
            shape(192, (1, 1), 1, (0, 0)).route(35, 35),
            Route::PatchColumns
        );
        assert_eq!(
            shape(128, (1, 7), 1, (0, 3)).route(17, 17),
            Route::PatchColumns
        );
        assert_eq!(
            shape(3, (3, 3), 2, (0, 0)).route(299, 299),
            Route::PatchColumns
        );
    }
}
