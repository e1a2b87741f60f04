//! Reading a CPU tensor's values in place, for the layers that run outside candle's ops.

use candle_core::Tensor;

/// Run `f` on a CPU f32 tensor's values in row-major order, without copying when the tensor is
/// contiguous (each layer would otherwise copy its input once more).
pub(crate) fn with_host<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> candle_core::Result<R> {
    {
        let (storage, layout) = t.storage_and_layout();
        if let (candle_core::Storage::Cpu(cpu), Some((a, b))) =
            (&*storage, layout.contiguous_offsets())
        {
            return Ok(f(&cpu.as_slice::<f32>()?[a..b]));
        }
    }
    Ok(f(&t.flatten_all()?.to_vec1::<f32>()?))
}
