//! Distribution metrics on feature sets: Fréchet distance, KID, Inception Score, and
//! precision/recall/density/coverage. They take features from any extractor (Inception,
//! CLIP, DINOv2, audio embeddings), as row-major matrices.

pub mod bootstrap;
pub mod device;
pub mod features;
pub mod frechet;
pub mod gaussian;
pub mod inception_score;
pub mod kid;
pub mod prdc;
#[cfg(feature = "lapack")]
pub mod system_lapack;

pub use features::Features;
