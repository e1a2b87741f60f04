//! The bundled networks of the reference domain, trained here from seeds.

pub mod classifier;
