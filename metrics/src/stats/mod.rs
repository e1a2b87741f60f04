//! Resampling statistics shared by every metric: bootstrap confidence intervals and the
//! paired significance tests of sacrebleu (`--paired-bs`, `--paired-ar`).

pub mod bootstrap;
pub mod numpy_random;
pub mod paired;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The default seed of every resampling step (sacrebleu's default `SACREBLEU_SEED`).
pub const DEFAULT_SEED: u64 = 12345;

/// The random stream of resample `index` under `seed`: each resample has its own stream,
/// so results do not depend on how the work is split across threads.
pub fn rng_for(seed: u64, index: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index as u64);
    rng
}
