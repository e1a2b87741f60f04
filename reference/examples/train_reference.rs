//! Trains bundled networks from their seeds and writes their committed weights:
//! `cargo run --release -p assay-reference --example train_reference -- FAMILY...` (`all` for
//! every one). Autoregressive variants get their Hugging Face folder's config and tokenizer.

use assay_reference::families::{autoregressive_folder_files, Family};
use candle_core::Device;

// glibc unmaps and re-faults every large tensor; training allocates thousands.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let steps: Option<usize> = std::env::var("STEPS").ok().and_then(|s| s.parse().ok());
    let families: Vec<Family> = if args.iter().any(|a| a == "all") {
        Family::ALL.to_vec()
    } else {
        args.iter()
            .map(|a| {
                Family::from_name(a).ok_or(format!("unknown family {a}: {:?}", Family::names()))
            })
            .collect::<Result<_, _>>()?
    };
    for f in families {
        let start = std::time::Instant::now();
        let (bytes, losses) = f.train(steps, &Device::Cpu)?;
        let path = f.committed_path();
        std::fs::create_dir_all(path.parent().expect("a weights folder"))?;
        std::fs::write(&path, &bytes)?;
        if f.is_text() {
            for (name, text) in autoregressive_folder_files()? {
                std::fs::write(path.with_file_name(name), text)?;
            }
        }
        println!(
            "{}: {:.1} s, {} bytes, losses {:?} -> {}",
            f.name(),
            start.elapsed().as_secs_f64(),
            bytes.len(),
            losses.iter().map(|l| format!("{l:.4}")).collect::<Vec<_>>(),
            path.display()
        );
    }
    Ok(())
}
