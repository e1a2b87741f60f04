//! The FID Inception-v3: torchvision's Inception3 with pytorch-fid's FIDInceptionA/C/E blocks,
//! i.e. the TF 2015-12-05 graph that every published FID is computed with.
//!
//! Differences from torchvision's network, all in pooling: the average pools of the A, C and
//! E_1 blocks divide by the number of real pixels in the window (`count_include_pad=False`,
//! 4 at corners, 6 on edges); the pool branch of the last block (E_2) is a 3x3 *max* pool.
//! Batch norm (eps 1e-3, eval mode) is folded into each convolution when the weights load.
//!
//! Weights use torchvision's names (`Mixed_6b.branch7x7_2.conv.weight`, ...), as in
//! pytorch-fid's `pt_inception-2015-12-05-6726825d.pth`. Channel widths are read from the
//! weights: a network whose every width is the reference's divided by 2, 4 or 8 (the tests'
//! small random networks) loads and runs the same code.

use crate::conv_cpu::{conv_bias_relu, ConvShape, HostKernel};
use crate::error::{ModelError, Result};
use crate::host::with_host;
use candle_core::{DType, Device, Tensor, D};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Inputs are 3 x 299 x 299.
pub const INPUT_SIZE: usize = 299;
const BN_EPS: f64 = 1e-3;

/// Named tensors from a weight file, checked by shape as the network takes them.
pub struct WeightMap {
    pub path: PathBuf,
    pub tensors: HashMap<String, Tensor>,
}

impl WeightMap {
    fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let t = self
            .tensors
            .get(name)
            .ok_or_else(|| ModelError::BadWeights {
                path: self.path.clone(),
                msg: format!("no tensor '{name}' (is this the FID Inception weight file?)"),
            })?;
        if t.dims() != shape {
            return Err(ModelError::BadWeights {
                path: self.path.clone(),
                msg: format!("'{name}' has shape {:?}, expected {shape:?}", t.dims()),
            });
        }
        Ok(t.to_dtype(DType::F32)?)
    }
}

/// Concatenate NCHW tensors along channels; on the CPU in parallel over images (candle's
/// concatenation copies on one thread).
fn cat_channels(parts: &[Tensor]) -> Result<Tensor> {
    if !parts[0].device().is_cpu() {
        return Ok(Tensor::cat(parts, 1)?);
    }
    use rayon::prelude::*;
    let (n, _, h, w) = parts[0].dims4()?;
    let sizes: Vec<usize> = parts
        .iter()
        .map(|p| p.dim(1).map(|c| c * h * w))
        .collect::<candle_core::Result<_>>()?;
    let per_image: usize = sizes.iter().sum();
    let mut out = vec![0f32; n * per_image];
    let mut offset = 0;
    for (p, &size) in parts.iter().zip(&sizes) {
        with_host(p, |src| {
            out.par_chunks_mut(per_image)
                .zip(src.par_chunks(size))
                .for_each(|(dst, s)| dst[offset..offset + size].copy_from_slice(s));
        })?;
        offset += size;
    }
    Ok(Tensor::from_vec(
        out,
        (n, per_image / (h * w), h, w),
        parts[0].device(),
    )?)
}

/// Conv (no bias) + batch norm + ReLU, with the norm folded into the kernel and a bias.
struct BasicConv {
    weight: Tensor,
    bias: Tensor,
    stride: usize,
    /// (rows, columns) of zero padding; candle's conv2d pads both axes alike.
    pad: (usize, usize),
    shape: ConvShape,
    /// Kernel and bias as host vectors, for the CPU route.
    host: Option<HostKernel>,
}

impl BasicConv {
    #[allow(clippy::too_many_arguments)]
    fn load(
        w: &WeightMap,
        dev: &Device,
        name: &str,
        cin: usize,
        cout: usize,
        k: (usize, usize),
        stride: usize,
        pad: (usize, usize),
    ) -> Result<BasicConv> {
        let kernel = w.get(&format!("{name}.conv.weight"), &[cout, cin, k.0, k.1])?;
        let bn = |p: &str| w.get(&format!("{name}.bn.{p}"), &[cout]);
        let (gamma, beta, mean, var) = (
            bn("weight")?,
            bn("bias")?,
            bn("running_mean")?,
            bn("running_var")?,
        );
        let scale = gamma.div(&(var + BN_EPS)?.sqrt()?)?;
        let weight = kernel.broadcast_mul(&scale.reshape((cout, 1, 1, 1))?)?;
        let bias = (beta - mean.mul(&scale)?)?;
        let shape = ConvShape {
            cin,
            cout,
            k,
            stride,
            pad,
        };
        let host = if dev.is_cpu() {
            Some(HostKernel::new(
                weight.flatten_all()?.to_vec1::<f32>()?,
                bias.to_vec1::<f32>()?,
            ))
        } else {
            None
        };
        Ok(BasicConv {
            weight: weight.to_device(dev)?,
            bias: bias.reshape((1, cout, 1, 1))?.to_device(dev)?,
            stride,
            pad,
            shape,
            host,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match &self.host {
            Some(kernel) if x.device().is_cpu() => {
                let (n, c, h, wd) = x.dims4()?;
                if c != self.shape.cin {
                    return Err(candle_core::Error::Msg(format!(
                        "convolution expects {} channels, got {c}",
                        self.shape.cin
                    ))
                    .into());
                }
                let (out, oh, ow) = with_host(x, |data| {
                    conv_bias_relu(data, (n, h, wd), &self.shape, kernel)
                })?;
                Ok(Tensor::from_vec(
                    out,
                    (n, self.shape.cout, oh, ow),
                    x.device(),
                )?)
            }
            _ => self.forward_candle(x),
        }
    }

    /// The same layer from candle ops, for devices other than the CPU.
    fn forward_candle(&self, x: &Tensor) -> Result<Tensor> {
        let pointwise = self.shape.k == (1, 1) && self.stride == 1 && self.pad == (0, 0);
        let y = if pointwise && POINTWISE_AS_GEMM.load(std::sync::atomic::Ordering::Relaxed) {
            // A 1x1 convolution is a product of the kernel with each image's (cin x h·w)
            // plane: one batched cuBLAS GEMM. These are 40 of the network's 94 layers; on an
            // H200 at batch 50 they ran at 2-5 TFLOP/s through cuDNN or candle's im2col (fixed
            // costs per call), a GEMM of their size at 25-30, and the network went from 695
            // to 834 images/s. Open question: at batch 200 the all-cuDNN network measured
            // 1,624 images/s and this one 1,167, on two different machines; compare them on
            // one. The kernel is copied per image so that every operand is contiguous.
            let (n, c, h, w) = x.dims4()?;
            let cout = self.shape.cout;
            let k = self
                .weight
                .reshape((1, cout, c))?
                .broadcast_as((n, cout, c))?
                .contiguous()?;
            k.matmul(&x.reshape((n, c, h * w))?)?
                .reshape((n, cout, h, w))?
        } else if self.pad.0 == self.pad.1 {
            x.conv2d(&self.weight, self.pad.0, self.stride, 1, 1)?
        } else {
            x.pad_with_zeros(2, self.pad.0, self.pad.0)?
                .pad_with_zeros(3, self.pad.1, self.pad.1)?
                .conv2d(&self.weight, 0, self.stride, 1, 1)?
        };
        Ok(y.broadcast_add(&self.bias)?.relu()?)
    }
}

/// Whether 1x1 convolutions off the CPU run as batched GEMMs (the default) or through
/// candle's convolution (cuDNN in a `cudnn` build); see [`BasicConv::forward_candle`].
static POINTWISE_AS_GEMM: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Route 1x1 convolutions on GPUs through batched GEMMs (`true`, the default) or through
/// candle's convolution, for a device check to compare the two on one machine. Features agree
/// either way to float rounding.
pub fn set_pointwise_as_gemm(on: bool) {
    POINTWISE_AS_GEMM.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// The three pools of the network, over each (image, channel) plane. On the CPU they run here,
/// in parallel over planes: candle's CPU pools are scalar single-threaded loops (one average
/// pool of 10 x 288 x 35 x 35 took 58 ms, more than the convolution after it). On other
/// devices they are composed from candle ops.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Pool {
    /// 3x3, stride 1, padding 1, average over the real pixels of each window
    /// (`count_include_pad=False`: 4 at corners, 6 on edges, 9 inside).
    AvgSame,
    /// 3x3, stride 1, padding 1, max over the real pixels.
    MaxSame,
    /// 3x3, stride 2, no padding (floor mode).
    MaxStride2,
}

impl Pool {
    fn out_size(self, h: usize, w: usize) -> (usize, usize) {
        match self {
            Pool::AvgSame | Pool::MaxSame => (h, w),
            Pool::MaxStride2 => ((h - 3) / 2 + 1, (w - 3) / 2 + 1),
        }
    }

    /// One plane, separably: each row's 3-wide windows first (into `rows`), then 3-tall
    /// windows of those. Sums and maxima of a rectangle split by rows that way; the scalar
    /// window loop this replaced was a tenth of an Inception pass.
    fn plane(self, src: &[f32], dst: &mut [f32], h: usize, w: usize, rows: &mut Vec<f32>) {
        let avg = self == Pool::AvgSame;
        let op = |a: f32, b: f32| if avg { a + b } else { a.max(b) };
        let (oh, ow) = self.out_size(h, w);
        rows.clear();
        rows.resize(h * ow, 0.0);
        for (s, r) in src.chunks_exact(w).zip(rows.chunks_exact_mut(ow)) {
            if self == Pool::MaxStride2 {
                for (j, r) in r.iter_mut().enumerate() {
                    *r = s[2 * j].max(s[2 * j + 1]).max(s[2 * j + 2]);
                }
            } else if w == 1 {
                r[0] = s[0];
            } else {
                r[0] = op(s[0], s[1]);
                for (r, win) in r[1..w - 1].iter_mut().zip(s.windows(3)) {
                    *r = op(op(win[0], win[1]), win[2]);
                }
                r[w - 1] = op(s[w - 2], s[w - 1]);
            }
        }
        // Real pixels per window along one axis (count_include_pad=False).
        let count = |n: usize, i: usize| (3 - usize::from(i == 0) - usize::from(i + 1 == n)).min(n);
        for (i, d) in dst.chunks_exact_mut(ow).enumerate().take(oh) {
            let (r0, r1) = match self {
                Pool::MaxStride2 => (2 * i, 2 * i + 3),
                _ => (i.saturating_sub(1), (i + 2).min(h)),
            };
            d.copy_from_slice(&rows[r0 * ow..(r0 + 1) * ow]);
            for r in r0 + 1..r1 {
                for (d, &v) in d.iter_mut().zip(&rows[r * ow..(r + 1) * ow]) {
                    *d = op(*d, v);
                }
            }
            if avg {
                let ci = count(h, i);
                for (j, d) in d.iter_mut().enumerate() {
                    *d /= (ci * count(w, j)) as f32;
                }
            }
        }
    }

    fn apply(self, x: &Tensor) -> Result<Tensor> {
        if x.device().is_cpu() {
            use rayon::prelude::*;
            let (n, c, h, w) = x.dims4()?;
            let (oh, ow) = self.out_size(h, w);
            let mut dst = vec![0f32; n * c * oh * ow];
            with_host(x, |src| {
                dst.par_chunks_mut(oh * ow)
                    .zip(src.par_chunks(h * w))
                    .for_each_init(Vec::new, |rows, (d, s)| self.plane(s, d, h, w, rows))
            })?;
            return Ok(Tensor::from_vec(dst, (n, c, oh, ow), x.device())?);
        }
        self.with_candle(x)
    }

    /// The same pools from candle ops (no padding argument there): zero-pad, pool, and for
    /// the average rescale by 9 / (real pixels). Zero padding equals −∞ padding for the max
    /// pool here: its input is a concatenation of ReLU outputs (≥ 0) and every window holds a
    /// real pixel.
    fn with_candle(self, x: &Tensor) -> Result<Tensor> {
        let padded =
            || -> Result<Tensor> { Ok(x.pad_with_zeros(2, 1, 1)?.pad_with_zeros(3, 1, 1)?) };
        match self {
            Pool::MaxStride2 => Ok(x.max_pool2d_with_stride((3, 3), (2, 2))?),
            Pool::MaxSame => Ok(padded()?.max_pool2d_with_stride((3, 3), (1, 1))?),
            Pool::AvgSame => {
                let (_, _, h, w) = x.dims4()?;
                let count = |n: usize, i: usize| {
                    (3 - usize::from(i == 0) - usize::from(i + 1 == n)).max(1) as f32
                };
                let counts: Vec<f32> = (0..h)
                    .flat_map(|i| (0..w).map(move |j| count(h, i) * count(w, j)))
                    .collect();
                let counts = Tensor::from_vec(counts, (1, 1, h, w), x.device())?;
                let sums = (padded()?.avg_pool2d_with_stride((3, 3), (1, 1))? * 9.0)?;
                Ok(sums.broadcast_div(&counts)?)
            }
        }
    }
}

/// 3x3 average pool, stride 1, padding 1, dividing by the real pixels in each window.
pub fn avg_pool_3x3_exclude_pad(x: &Tensor) -> Result<Tensor> {
    Pool::AvgSame.apply(x)
}

fn max_pool_3x3_same(x: &Tensor) -> Result<Tensor> {
    Pool::MaxSame.apply(x)
}

fn max_pool_3x3_s2(x: &Tensor) -> Result<Tensor> {
    Pool::MaxStride2.apply(x)
}

/// Builds convolutions with widths divided by the network's width divisor.
struct Builder<'a> {
    w: &'a WeightMap,
    dev: &'a Device,
    div: usize,
}

impl Builder<'_> {
    fn c(
        &self,
        name: &str,
        cin: usize,
        cout: usize,
        k: (usize, usize),
        stride: usize,
        pad: (usize, usize),
    ) -> Result<BasicConv> {
        let cin = if cin == 3 { 3 } else { cin / self.div };
        BasicConv::load(self.w, self.dev, name, cin, cout / self.div, k, stride, pad)
    }
    fn c1(&self, name: &str, cin: usize, cout: usize) -> Result<BasicConv> {
        self.c(name, cin, cout, (1, 1), 1, (0, 0))
    }
}

struct BlockA {
    b1: BasicConv,
    b5: [BasicConv; 2],
    b3: [BasicConv; 3],
    pool: BasicConv,
}

impl BlockA {
    fn load(b: &Builder, n: &str, cin: usize, pool_features: usize) -> Result<Self> {
        Ok(BlockA {
            b1: b.c1(&format!("{n}.branch1x1"), cin, 64)?,
            b5: [
                b.c1(&format!("{n}.branch5x5_1"), cin, 48)?,
                b.c(&format!("{n}.branch5x5_2"), 48, 64, (5, 5), 1, (2, 2))?,
            ],
            b3: [
                b.c1(&format!("{n}.branch3x3dbl_1"), cin, 64)?,
                b.c(&format!("{n}.branch3x3dbl_2"), 64, 96, (3, 3), 1, (1, 1))?,
                b.c(&format!("{n}.branch3x3dbl_3"), 96, 96, (3, 3), 1, (1, 1))?,
            ],
            pool: b.c1(&format!("{n}.branch_pool"), cin, pool_features)?,
        })
    }
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let parts = [
            self.b1.forward(x)?,
            chain(x, &self.b5)?,
            chain(x, &self.b3)?,
            self.pool.forward(&avg_pool_3x3_exclude_pad(x)?)?,
        ];
        cat_channels(&parts)
    }
}

struct BlockB {
    b3: BasicConv,
    dbl: [BasicConv; 3],
}

impl BlockB {
    fn load(b: &Builder, n: &str, cin: usize) -> Result<Self> {
        Ok(BlockB {
            b3: b.c(&format!("{n}.branch3x3"), cin, 384, (3, 3), 2, (0, 0))?,
            dbl: [
                b.c1(&format!("{n}.branch3x3dbl_1"), cin, 64)?,
                b.c(&format!("{n}.branch3x3dbl_2"), 64, 96, (3, 3), 1, (1, 1))?,
                b.c(&format!("{n}.branch3x3dbl_3"), 96, 96, (3, 3), 2, (0, 0))?,
            ],
        })
    }
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let parts = [
            self.b3.forward(x)?,
            chain(x, &self.dbl)?,
            max_pool_3x3_s2(x)?,
        ];
        cat_channels(&parts)
    }
}

struct BlockC {
    b1: BasicConv,
    b7: [BasicConv; 3],
    dbl: [BasicConv; 5],
    pool: BasicConv,
}

impl BlockC {
    fn load(b: &Builder, n: &str, cin: usize, c7: usize) -> Result<Self> {
        let (row, col) = (((1, 7), (0, 3)), ((7, 1), (3, 0)));
        let k = |name: &str, i: usize, o: usize, (kk, p): ((usize, usize), (usize, usize))| {
            b.c(&format!("{n}.{name}"), i, o, kk, 1, p)
        };
        Ok(BlockC {
            b1: b.c1(&format!("{n}.branch1x1"), cin, 192)?,
            b7: [
                b.c1(&format!("{n}.branch7x7_1"), cin, c7)?,
                k("branch7x7_2", c7, c7, row)?,
                k("branch7x7_3", c7, 192, col)?,
            ],
            dbl: [
                b.c1(&format!("{n}.branch7x7dbl_1"), cin, c7)?,
                k("branch7x7dbl_2", c7, c7, col)?,
                k("branch7x7dbl_3", c7, c7, row)?,
                k("branch7x7dbl_4", c7, c7, col)?,
                k("branch7x7dbl_5", c7, 192, row)?,
            ],
            pool: b.c1(&format!("{n}.branch_pool"), cin, 192)?,
        })
    }
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let parts = [
            self.b1.forward(x)?,
            chain(x, &self.b7)?,
            chain(x, &self.dbl)?,
            self.pool.forward(&avg_pool_3x3_exclude_pad(x)?)?,
        ];
        cat_channels(&parts)
    }
}

struct BlockD {
    b3: [BasicConv; 2],
    b7: [BasicConv; 4],
}

impl BlockD {
    fn load(b: &Builder, n: &str, cin: usize) -> Result<Self> {
        Ok(BlockD {
            b3: [
                b.c1(&format!("{n}.branch3x3_1"), cin, 192)?,
                b.c(&format!("{n}.branch3x3_2"), 192, 320, (3, 3), 2, (0, 0))?,
            ],
            b7: [
                b.c1(&format!("{n}.branch7x7x3_1"), cin, 192)?,
                b.c(&format!("{n}.branch7x7x3_2"), 192, 192, (1, 7), 1, (0, 3))?,
                b.c(&format!("{n}.branch7x7x3_3"), 192, 192, (7, 1), 1, (3, 0))?,
                b.c(&format!("{n}.branch7x7x3_4"), 192, 192, (3, 3), 2, (0, 0))?,
            ],
        })
    }
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let parts = [
            chain(x, &self.b3)?,
            chain(x, &self.b7)?,
            max_pool_3x3_s2(x)?,
        ];
        cat_channels(&parts)
    }
}

struct BlockE {
    b1: BasicConv,
    b3_1: BasicConv,
    b3_2: [BasicConv; 2],
    dbl: [BasicConv; 2],
    dbl_3: [BasicConv; 2],
    pool: BasicConv,
    /// E_2 (Mixed_7c) pools with a max, E_1 with the padding-excluding average.
    max_pool: bool,
}

impl BlockE {
    fn load(b: &Builder, n: &str, cin: usize, max_pool: bool) -> Result<Self> {
        let pair = |a: &str, z: &str| -> Result<[BasicConv; 2]> {
            Ok([
                b.c(&format!("{n}.{a}"), 384, 384, (1, 3), 1, (0, 1))?,
                b.c(&format!("{n}.{z}"), 384, 384, (3, 1), 1, (1, 0))?,
            ])
        };
        Ok(BlockE {
            b1: b.c1(&format!("{n}.branch1x1"), cin, 320)?,
            b3_1: b.c1(&format!("{n}.branch3x3_1"), cin, 384)?,
            b3_2: pair("branch3x3_2a", "branch3x3_2b")?,
            dbl: [
                b.c1(&format!("{n}.branch3x3dbl_1"), cin, 448)?,
                b.c(&format!("{n}.branch3x3dbl_2"), 448, 384, (3, 3), 1, (1, 1))?,
            ],
            dbl_3: pair("branch3x3dbl_3a", "branch3x3dbl_3b")?,
            pool: b.c1(&format!("{n}.branch_pool"), cin, 192)?,
            max_pool,
        })
    }
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let t = self.b3_1.forward(x)?;
        let d = chain(x, &self.dbl)?;
        let pooled = if self.max_pool {
            max_pool_3x3_same(x)?
        } else {
            avg_pool_3x3_exclude_pad(x)?
        };
        let parts = [
            self.b1.forward(x)?,
            self.b3_2[0].forward(&t)?,
            self.b3_2[1].forward(&t)?,
            self.dbl_3[0].forward(&d)?,
            self.dbl_3[1].forward(&d)?,
            self.pool.forward(&pooled)?,
        ];
        cat_channels(&parts)
    }
}

fn chain(x: &Tensor, convs: &[BasicConv]) -> Result<Tensor> {
    let mut y = convs[0].forward(x)?;
    for c in &convs[1..] {
        y = c.forward(&y)?;
    }
    Ok(y)
}

/// Everything the metrics take from one batch, each `N x dim` f32 on the host device.
pub struct InceptionOutput {
    /// Spatial means after the stem's first pool, second pool and Mixed_6e (torch-fidelity's
    /// features '64', '192', '768'; pytorch-fid's blocks 0-2).
    pub block64: Tensor,
    pub block192: Tensor,
    pub block768: Tensor,
    /// The 2048-d pool3 features FID is computed on.
    pub pool3: Tensor,
    /// pool3 · fcᵀ without the bias (torch-fidelity's `logits_unbiased`, its Inception Score
    /// default) and with it.
    pub logits_unbiased: Tensor,
    pub logits: Tensor,
}

/// Which of the network's outputs are the features (pytorch-fid's `--dims`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block {
    B64,
    B192,
    B768,
    Pool3,
}

impl Block {
    /// From the reference network's dimension: 64, 192, 768 or 2048.
    pub fn from_dims(dims: usize) -> Option<Block> {
        match dims {
            64 => Some(Block::B64),
            192 => Some(Block::B192),
            768 => Some(Block::B768),
            2048 => Some(Block::Pool3),
            _ => None,
        }
    }

    pub fn of(self, out: &InceptionOutput) -> &Tensor {
        match self {
            Block::B64 => &out.block64,
            Block::B192 => &out.block192,
            Block::B768 => &out.block768,
            Block::Pool3 => &out.pool3,
        }
    }
}

pub struct FidInception {
    stem: [BasicConv; 5],
    mixed5: [BlockA; 3],
    mixed6a: BlockB,
    mixed6: [BlockC; 4],
    mixed7a: BlockD,
    mixed7: [BlockE; 2],
    fc_weight: Tensor,
    fc_bias: Tensor,
    /// 1 for the reference network; 2, 4 or 8 for narrowed test networks.
    pub width_divisor: usize,
    pub device: Device,
}

impl FidInception {
    pub fn from_weights(w: &WeightMap, dev: &Device) -> Result<FidInception> {
        let first =
            w.tensors
                .get("Conv2d_1a_3x3.conv.weight")
                .ok_or_else(|| ModelError::BadWeights {
                    path: w.path.clone(),
                    msg: "no tensor 'Conv2d_1a_3x3.conv.weight': not an FID Inception weight file"
                        .into(),
                })?;
        let out0 = first.dims().first().copied().unwrap_or(0);
        let div = match out0 {
            32 => 1,
            16 => 2,
            8 => 4,
            4 => 8,
            _ => {
                return Err(ModelError::BadWeights {
                    path: w.path.clone(),
                    msg: format!(
                        "Conv2d_1a_3x3 has {out0} output channels; the FID Inception has 32"
                    ),
                })
            }
        };
        let b = Builder { w, dev, div };
        let stem = [
            b.c("Conv2d_1a_3x3", 3, 32, (3, 3), 2, (0, 0))?,
            b.c("Conv2d_2a_3x3", 32, 32, (3, 3), 1, (0, 0))?,
            b.c("Conv2d_2b_3x3", 32, 64, (3, 3), 1, (1, 1))?,
            b.c1("Conv2d_3b_1x1", 64, 80)?,
            b.c("Conv2d_4a_3x3", 80, 192, (3, 3), 1, (0, 0))?,
        ];
        let fc_weight_raw = w
            .tensors
            .get("fc.weight")
            .ok_or_else(|| ModelError::BadWeights {
                path: w.path.clone(),
                msg: "no tensor 'fc.weight'".into(),
            })?;
        let classes = fc_weight_raw.dims().first().copied().unwrap_or(0);
        let fc_weight = w.get("fc.weight", &[classes, 2048 / div])?.to_device(dev)?;
        let fc_bias = w.get("fc.bias", &[classes])?.to_device(dev)?;
        Ok(FidInception {
            stem,
            mixed5: [
                BlockA::load(&b, "Mixed_5b", 192, 32)?,
                BlockA::load(&b, "Mixed_5c", 256, 64)?,
                BlockA::load(&b, "Mixed_5d", 288, 64)?,
            ],
            mixed6a: BlockB::load(&b, "Mixed_6a", 288)?,
            mixed6: [
                BlockC::load(&b, "Mixed_6b", 768, 128)?,
                BlockC::load(&b, "Mixed_6c", 768, 160)?,
                BlockC::load(&b, "Mixed_6d", 768, 160)?,
                BlockC::load(&b, "Mixed_6e", 768, 192)?,
            ],
            mixed7a: BlockD::load(&b, "Mixed_7a", 768)?,
            mixed7: [
                BlockE::load(&b, "Mixed_7b", 1280, false)?,
                BlockE::load(&b, "Mixed_7c", 2048, true)?,
            ],
            fc_weight,
            fc_bias,
            width_divisor: div,
            device: dev.clone(),
        })
    }

    /// Dimension of the pool3 features (2048 for the reference network).
    pub fn dim(&self) -> usize {
        2048 / self.width_divisor
    }

    /// Run a batch of preprocessed images (`N x 3 x 299 x 299`, already normalised).
    pub fn forward(&self, x: &Tensor) -> Result<InceptionOutput> {
        let spatial_mean = |t: &Tensor| -> Result<Tensor> {
            Ok(t.mean(D::Minus1)?
                .mean(D::Minus1)?
                .to_device(&Device::Cpu)?)
        };
        let mut y = x.to_device(&self.device)?;
        for c in &self.stem[..3] {
            y = c.forward(&y)?;
        }
        y = max_pool_3x3_s2(&y)?;
        let block64 = spatial_mean(&y)?;
        y = self.stem[4].forward(&self.stem[3].forward(&y)?)?;
        y = max_pool_3x3_s2(&y)?;
        let block192 = spatial_mean(&y)?;
        for m in &self.mixed5 {
            y = m.forward(&y)?;
        }
        y = self.mixed6a.forward(&y)?;
        for m in &self.mixed6 {
            y = m.forward(&y)?;
        }
        let block768 = spatial_mean(&y)?;
        y = self.mixed7a.forward(&y)?;
        for m in &self.mixed7 {
            y = m.forward(&y)?;
        }
        let pool3 = y.mean(D::Minus1)?.mean(D::Minus1)?;
        let logits_unbiased = pool3.matmul(&self.fc_weight.t()?)?;
        let logits = logits_unbiased.broadcast_add(&self.fc_bias)?;
        let host = |t: Tensor| -> Result<Tensor> { Ok(t.to_device(&Device::Cpu)?) };
        Ok(InceptionOutput {
            block64,
            block192,
            block768,
            pool3: host(pool3)?,
            logits_unbiased: host(logits_unbiased)?,
            logits: host(logits)?,
        })
    }
}

/// Load named tensors from a weight file: safetensors, or a PyTorch `.pth` in the zip format
/// (torch >= 1.6) or the legacy one (pytorch-fid's published file), told apart by their bytes.
pub fn load_weight_map(path: &Path) -> Result<WeightMap> {
    let bad = |msg: String| ModelError::BadWeights {
        path: path.to_path_buf(),
        msg,
    };
    let mut head = [0u8; 8];
    {
        use std::io::Read;
        let mut f = std::fs::File::open(path).map_err(|e| bad(format!("cannot open: {e}")))?;
        let n = f
            .read(&mut head)
            .map_err(|e| bad(format!("cannot read: {e}")))?;
        if n < 8 {
            return Err(bad("file too short to be a weight file".into()));
        }
    }
    let tensors: HashMap<String, Tensor> = if head.starts_with(b"PK\x03\x04") {
        candle_core::pickle::read_all(path)
            .map_err(|e| bad(format!("cannot read PyTorch weights: {e}")))?
            .into_iter()
            .collect()
    } else if crate::torch_legacy::is_legacy(&head) {
        crate::torch_legacy::read_legacy_pth(path)?
    } else {
        candle_core::safetensors::load(path, &Device::Cpu)
            .map_err(|e| bad(format!("cannot read safetensors: {e}")))?
    };
    Ok(WeightMap {
        path: path.to_path_buf(),
        tensors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_convolutions_equal_candle_ones() {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (3, 5, 11, 9), &dev).unwrap();
        for (k, stride, pad) in [
            ((1, 1), 1, (0, 0)),
            ((3, 3), 2, (0, 0)),
            ((3, 3), 1, (1, 1)),
            ((1, 7), 1, (0, 3)),
            ((7, 1), 1, (3, 0)),
            ((5, 5), 1, (2, 2)),
        ] {
            let weight = Tensor::randn(0f32, 0.3, (4, 5, k.0, k.1), &dev).unwrap();
            let bias = Tensor::randn(0f32, 0.3, 4, &dev).unwrap();
            let shape = ConvShape {
                cin: 5,
                cout: 4,
                k,
                stride,
                pad,
            };
            let conv = BasicConv {
                host: Some(HostKernel::new(
                    weight.flatten_all().unwrap().to_vec1().unwrap(),
                    bias.to_vec1().unwrap(),
                )),
                weight,
                bias: bias.reshape((1, 4, 1, 1)).unwrap(),
                stride,
                pad,
                shape,
            };
            let a: Vec<f32> = conv
                .forward(&x)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let b = conv.forward_candle(&x).unwrap();
            let b: Vec<f32> = b.flatten_all().unwrap().to_vec1().unwrap();
            assert_eq!(a.len(), b.len(), "{k:?}");
            assert!(
                a.iter().any(|&v| v > 0.0) && a.contains(&0.0),
                "{k:?}: ReLU has work"
            );
            for (i, (p, q)) in a.iter().zip(&b).enumerate() {
                assert!((p - q).abs() <= 1e-5, "{k:?} [{i}]: {p} vs {q}");
            }
        }
    }

    #[test]
    fn host_pools_equal_the_candle_compositions() {
        // ReLU-like input (>= 0), odd sizes so that every border case occurs, and planes of
        // one or two rows or columns.
        for (shape, pools) in [
            (
                (2, 3, 7, 9),
                &[Pool::AvgSame, Pool::MaxSame, Pool::MaxStride2][..],
            ),
            ((1, 2, 2, 3), &[Pool::AvgSame, Pool::MaxSame][..]),
            ((1, 1, 1, 4), &[Pool::AvgSame, Pool::MaxSame][..]),
            ((1, 1, 5, 1), &[Pool::AvgSame, Pool::MaxSame][..]),
        ] {
            let (n, c, h, w) = shape;
            let x = Tensor::arange(0f32, (n * c * h * w) as f32, &Device::Cpu)
                .unwrap()
                .reshape(shape)
                .unwrap()
                .sin()
                .unwrap()
                .relu()
                .unwrap();
            host_pool_matches_candle(&x, pools);
        }
    }

    fn host_pool_matches_candle(x: &Tensor, pools: &[Pool]) {
        for &pool in pools {
            let a: Vec<f32> = pool
                .apply(x)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let b: Vec<f32> = pool
                .with_candle(x)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            assert_eq!(a.len(), b.len(), "{pool:?}");
            for (i, (p, q)) in a.iter().zip(&b).enumerate() {
                assert!((p - q).abs() <= 1e-6, "{pool:?} [{i}]: {p} vs {q}");
            }
        }
    }

    #[test]
    fn padding_excluded_average_divides_by_real_pixels() {
        // A 1x1x3x4 map of ones averages to exactly 1 everywhere, borders included, only if
        // each window is divided by its count of real pixels (4, 6 or 9).
        let ones = Tensor::ones((1, 1, 3, 4), DType::F32, &Device::Cpu).unwrap();
        let y = avg_pool_3x3_exclude_pad(&ones).unwrap();
        let v: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
        for x in v {
            assert!((x - 1.0).abs() < 1e-6, "{x}");
        }
        // And on a ramp, the corner is the mean of its 2x2 real neighbours.
        let r = Tensor::arange(0f32, 12.0, &Device::Cpu)
            .unwrap()
            .reshape((1, 1, 3, 4))
            .unwrap();
        let y = avg_pool_3x3_exclude_pad(&r).unwrap();
        let v: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
        assert!((v[0] - (0.0 + 1.0 + 4.0 + 5.0) / 4.0).abs() < 1e-6);
        // Edge (row 0, col 1): the six pixels 0, 1, 2, 4, 5, 6.
        assert!((v[1] - 18.0 / 6.0).abs() < 1e-6);
        // Interior (row 1, col 1): all nine of 0..=2, 4..=6, 8..=10.
        assert!((v[5] - 45.0 / 9.0).abs() < 1e-6);
    }
}
