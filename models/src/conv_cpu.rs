//! Convolution + bias + ReLU on the CPU as im2col and one faer GEMM per image, images in
//! parallel. candle's CPU convolution reached ~50 GFLOP/s on this network's shapes on two
//! cores, where faer's single-threaded f32 GEMM alone does ~80 per core; padding is applied
//! while gathering (no padded copy, asymmetric pads included) and bias and ReLU in one pass
//! over each image's output while it is in cache.

use rayon::prelude::*;

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
    /// written into this thread's reusable buffer. Reusing it matters: a fresh buffer of tens
    /// of megabytes per image and layer went back to the system and was faulted in and zeroed
    /// again each time (an eighth of the run in the kernel's page clearing).
    fn with_patches<R>(&self, img: &[f32], h: usize, w: usize, f: impl FnOnce(&[f32]) -> R) -> R {
        let (kh, kw) = self.k;
        if kh == 1 && kw == 1 && self.stride == 1 && self.pad == (0, 0) {
            return f(img);
        }
        let (oh, ow) = self.out_size(h, w);
        let len = self.cin * kh * kw * oh * ow;
        PATCHES.with(|buf| {
            let mut buf = buf.borrow_mut();
            if buf.len() < len {
                buf.resize(len, 0.0);
            }
            self.im2col_into(img, h, w, &mut buf[..len]);
            f(&buf[..len])
        })
    }
}

thread_local! {
    /// Each thread's im2col buffer, grown to the largest patch matrix it has needed.
    static PATCHES: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// relu(conv(x, weight) + bias) for a batch in NCHW layout; returns the output and its
/// spatial size. `weight` is OIHW, row-major.
pub fn conv_bias_relu(
    x: &[f32],
    (n, h, w): (usize, usize, usize),
    shape: &ConvShape,
    weight: &[f32],
    bias: &[f32],
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
    out.par_chunks_mut(shape.cout * p)
        .zip(x.par_chunks(shape.cin * h * w))
        .for_each(|(o, img)| {
            shape.with_patches(img, h, w, |cols| {
                let a = faer::MatRef::from_row_major_slice(weight, shape.cout, k);
                let b = faer::MatRef::from_row_major_slice(cols, k, p);
                let c = faer::MatMut::from_row_major_slice_mut(o, shape.cout, p);
                faer::linalg::matmul::matmul(c, faer::Accum::Replace, a, b, 1.0f32, inner);
            });
            for (row, &b) in o.chunks_exact_mut(p).zip(bias) {
                row.iter_mut().for_each(|v| *v = (*v + b).max(0.0));
            }
        });
    (out, oh, ow)
}
