//! GPT-2's `gelu_new` (the tanh approximation of GELU) on the CPU, in parallel.
//!
//! candle's `gelu` computes 0.5·x·(1 + tanh(u)) one element at a time on one thread; with
//! glibc's `tanhf` it took about a sixth of a GPT-2 scoring run on two cores. The same function
//! is x·σ(2u) = x / (1 + e^(−2u)), u = √(2/π)(x + 0.044715x³): one `expf` per element, no
//! cancellation where x is negative, and the elements split across threads. Other devices and
//! dtypes keep candle's op. The sigmoid is rten-vecmath's vectorised one (AVX2/AVX-512/NEON
//! chosen at run time, within 4 ulp of 1/(1+e^(−x))): glibc's scalar `expf` had made
//! activations and attention softmaxes about a tenth of a GPT-2 scoring run.

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Shape, Tensor};
use rayon::prelude::*;
use rten_simd::ops::{BitOps, NumOps};
use rten_simd::{Isa, SimdUnaryOp};
use rten_vecmath::Sigmoid;

const SQRT_2_OVER_PI: f32 = 0.797_884_6;

/// x·σ(2u), u = √(2/π)(x + 0.044715x³), lane by lane.
struct GeluNewLanes;

impl SimdUnaryOp<f32> for GeluNewLanes {
    #[inline(always)]
    fn eval<I: Isa>(&self, isa: I, x: I::F32) -> I::F32 {
        let ops = isa.f32();
        let cubic = ops.mul_add(ops.mul(ops.mul(x, x), x), ops.splat(0.044_715), x);
        let two_u = ops.mul(cubic, ops.splat(2.0 * SQRT_2_OVER_PI));
        ops.mul(x, Sigmoid::apply(isa, two_u))
    }
}

/// Elements per task: large enough that the split costs nothing next to the work.
const CHUNK: usize = 1 << 14;

struct GeluNewF32;

impl CustomOp1 for GeluNewF32 {
    fn name(&self) -> &'static str {
        "gelu-new-f32"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(data) = storage else {
            candle_core::bail!("gelu_new: f32 input expected")
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("gelu_new: contiguous input expected")
        };
        let mut out = data[start..end].to_vec();
        gelu_new_in_place(&mut out);
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

/// `gelu_new` of every element of a host buffer, in place and in parallel (for layers whose
/// output the caller owns: no second activation-sized allocation).
pub fn gelu_new_in_place(xs: &mut [f32]) {
    xs.par_chunks_mut(CHUNK)
        .for_each(|chunk| GeluNewLanes.map_mut(chunk));
}

/// `gelu_new` of every element.
pub fn gelu_new(x: &Tensor) -> candle_core::Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 {
        x.contiguous()?.apply_op1_no_bwd(&GeluNewF32)
    } else {
        x.gelu()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn matches_the_tanh_form_to_float_rounding() {
        let xs: Vec<f32> = (-4000..=4000).map(|i| i as f32 * 0.005).collect();
        let t = Tensor::new(xs.as_slice(), &Device::Cpu).unwrap();
        let fast: Vec<f32> = gelu_new(&t).unwrap().to_vec1().unwrap();
        let mut in_place = xs.clone();
        gelu_new_in_place(&mut in_place);
        assert_eq!(in_place, fast);
        for (x, y) in xs.iter().zip(&fast) {
            let x64 = f64::from(*x);
            let u = (2.0 / std::f64::consts::PI).sqrt() * (x64 + 0.044715 * x64.powi(3));
            let exact = 0.5 * x64 * (1.0 + u.tanh());
            assert!(
                (f64::from(*y) - exact).abs() <= 1e-6 * exact.abs().max(1e-3),
                "x {x}: {y} vs {exact}"
            );
        }
        // Far tails: x itself, and zero, without overflow.
        let tails = Tensor::new(&[-200f32, 200.0], &Device::Cpu).unwrap();
        assert_eq!(
            gelu_new(&tails).unwrap().to_vec1::<f32>().unwrap(),
            vec![-0.0, 200.0]
        );
    }
}
