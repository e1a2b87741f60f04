//! Image–text alignment metrics on embeddings a joint encoder (CLIP) produced.

pub mod clip_score;
