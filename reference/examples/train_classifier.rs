//! Trains the glyph classifier from its seed and writes reference/weights/glyph_classifier.safetensors:
//! `cargo run --release -p assay-reference --example train_classifier`.

use assay_reference::families::classifier::{
    accuracy, committed_weights, train, GlyphClassifier, TrainConfig,
};
use candle_core::Device;

fn main() -> candle_core::Result<()> {
    let cfg = TrainConfig::default();
    let start = std::time::Instant::now();
    let (vars, losses) = train(&cfg, None, &Device::Cpu)?;
    println!(
        "{cfg:?}: epoch losses {losses:?} in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let path = committed_weights();
    vars.save(&path)?;
    let net = GlyphClassifier::load(&path, &Device::Cpu)?;
    println!(
        "held-out accuracy {:.4}",
        accuracy(&net, 77, 0, 4000, &Device::Cpu)?
    );
    println!("wrote {}", path.display());
    Ok(())
}
