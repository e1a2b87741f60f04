//! `assay`: evaluate, audit and mark the output of generative models.
//!
//! The binary only maps flags to library calls and renders the results document; every
//! computation lives in the library crates.

// Network passes allocate and free large tensors op after op; glibc returns such blocks to the
// system and faults them in again each time (a fifth of a GPT-2 pass), mimalloc keeps them.
// mimalloc is built without its transparent-huge-page requests (the `no_thp` feature): with
// them, each first touch zeroed 2 MiB and purged blocks were split and faulted in again. Five
// interleaved pairs of runs, 40 Inception images: 6.57 s (1.88 s in the kernel) without the
// feature, 6.00 s (0.98 s) with it; a GPT-2 pass, three pairs: 6.89 s (0.89 s), 6.77 s (0.45 s).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod args;
mod captions_input;
mod commands;
mod error;
mod features_input;
mod input;
mod output;
mod progress;

use args::{
    BenchCommand, Cli, Command, FeaturesCommand, ImageCommand, ModelsCommand, ProvenanceCommand,
    ReferenceCommand, ReferenceData, StatsCommand, TextCommand, WatermarkCommand,
};
use clap::Parser;
use error::CliResult;
use output::ResultsDoc;
use std::process::ExitCode;

fn run(cli: Cli) -> CliResult<(ResultsDoc, bool)> {
    Ok(match cli.command {
        Command::Text(t) => match t {
            TextCommand::Bleu {
                inputs,
                flags,
                common,
            } => (commands::text::bleu(&inputs, &flags, &common)?, common.json),
            TextCommand::Chrf {
                inputs,
                flags,
                common,
            } => (commands::text::chrf(&inputs, &flags, &common)?, common.json),
            TextCommand::Rouge {
                inputs,
                flags,
                common,
            } => (
                commands::text::rouge(&inputs, &flags, &common)?,
                common.json,
            ),
            TextCommand::Compare(a) => (commands::text::compare(&a)?, a.common.json),
            TextCommand::Perplexity(a) => (commands::perplexity::run(&a)?, a.common.json),
        },
        Command::Features(f) => match f {
            FeaturesCommand::Fd {
                pair,
                bootstrap,
                seed,
                device,
                common,
            } => {
                let run = commands::features::Run::new(bootstrap, seed, &device, &common)?;
                (commands::features::fd(&pair, &run)?, common.json)
            }
            FeaturesCommand::Kid {
                pair,
                kid,
                bootstrap,
                seed,
                device,
                common,
            } => {
                let run = commands::features::Run::new(bootstrap, seed, &device, &common)?;
                (commands::features::kid_cmd(&pair, &kid, &run)?, common.json)
            }
            FeaturesCommand::Is {
                logits,
                splits,
                probabilities,
                shuffle,
                common,
            } => (
                commands::features::is(
                    &logits,
                    splits,
                    probabilities,
                    commands::features::Shuffle::from_flags(&shuffle),
                )?,
                common.json,
            ),
            FeaturesCommand::Prdc {
                pair,
                prdc,
                bootstrap,
                seed,
                device,
                common,
            } => {
                let run = commands::features::Run::new(bootstrap, seed, &device, &common)?;
                (
                    commands::features::prdc_cmd(&pair, &prdc, &run)?,
                    common.json,
                )
            }
            FeaturesCommand::All {
                pair,
                kid,
                prdc,
                bootstrap,
                seed,
                device,
                common,
            } => {
                let run = commands::features::Run::new(bootstrap, seed, &device, &common)?;
                (
                    commands::features::all(&pair, &kid, &prdc, &run)?,
                    common.json,
                )
            }
            FeaturesCommand::Stats {
                input,
                out,
                device,
                common,
            } => {
                let run = commands::features::Run::new(0, 0, &device, &common)?;
                (commands::features::stats(&input, &out, &run)?, common.json)
            }
        },
        Command::Image(i) => {
            use commands::image::{compare, Which};
            match i {
                ImageCommand::Fid {
                    pair,
                    image,
                    bootstrap,
                    seed,
                    common,
                } => (
                    compare(Which::Fid, &pair, &image, bootstrap, seed, common.quiet)?,
                    common.json,
                ),
                ImageCommand::Kid {
                    pair,
                    image,
                    kid,
                    bootstrap,
                    seed,
                    common,
                } => (
                    compare(
                        Which::Kid(&kid),
                        &pair,
                        &image,
                        bootstrap,
                        seed,
                        common.quiet,
                    )?,
                    common.json,
                ),
                ImageCommand::Prdc {
                    pair,
                    image,
                    prdc,
                    bootstrap,
                    seed,
                    common,
                } => (
                    compare(
                        Which::Prdc(&prdc),
                        &pair,
                        &image,
                        bootstrap,
                        seed,
                        common.quiet,
                    )?,
                    common.json,
                ),
                ImageCommand::All {
                    pair,
                    image,
                    kid,
                    prdc,
                    bootstrap,
                    seed,
                    common,
                } => (
                    compare(
                        Which::All(&kid, &prdc),
                        &pair,
                        &image,
                        bootstrap,
                        seed,
                        common.quiet,
                    )?,
                    common.json,
                ),
                ImageCommand::Is {
                    dir,
                    image,
                    splits,
                    shuffle,
                    common,
                } => (
                    commands::image::is(
                        &dir,
                        &image,
                        splits,
                        commands::features::Shuffle::from_flags(&shuffle),
                        common.quiet,
                    )?,
                    common.json,
                ),
                ImageCommand::Clipscore(a) => (commands::clipscore::run(&a)?, a.common.json),
                ImageCommand::Stats {
                    dir,
                    out,
                    image,
                    common,
                } => (
                    commands::image::stats(&dir, &out, &image, common.quiet)?,
                    common.json,
                ),
            }
        }
        Command::Stats(StatsCommand::Merge {
            inputs,
            out,
            common,
        }) => (commands::features::merge(&inputs, &out)?, common.json),
        Command::Reference(ReferenceCommand::List { common }) => {
            (commands::reference::list()?, common.json)
        }
        Command::Reference(ReferenceCommand::Sample(a)) => {
            (commands::reference::sample(&a)?, a.common.json)
        }
        Command::Reference(ReferenceCommand::Train {
            family,
            out,
            steps,
            common,
        }) => (
            commands::reference::train(&family, &out, steps)?,
            common.json,
        ),
        Command::Reference(ReferenceCommand::Data(d)) => match d {
            ReferenceData::Glyphs {
                n,
                out,
                seed,
                common,
            } => (commands::reference::glyphs(n, &out, seed)?, common.json),
            ReferenceData::HmmText {
                n,
                out,
                seed,
                planted_bias,
                common,
            } => (
                commands::reference::hmm_text(n, &out, seed, planted_bias)?,
                common.json,
            ),
        },
        Command::Watermark(WatermarkCommand::Generate(a)) => {
            (commands::watermark::generate(&a)?, a.common.json)
        }
        Command::Watermark(WatermarkCommand::DetectText(a)) => {
            (commands::watermark::detect_text(&a)?, a.common.json)
        }
        Command::Provenance(ProvenanceCommand::Sign(a)) => {
            (commands::provenance::sign(&a)?, a.common.json)
        }
        Command::Provenance(ProvenanceCommand::Verify(a)) => {
            (commands::provenance::verify(&a)?, a.common.json)
        }
        Command::Provenance(ProvenanceCommand::Inspect { input, common }) => {
            (commands::provenance::inspect(&input)?, common.json)
        }
        Command::Provenance(ProvenanceCommand::Keygen {
            out,
            alg,
            days,
            common,
        }) => (commands::provenance::keygen(&out, alg, days)?, common.json),
        Command::Provenance(ProvenanceCommand::Check(a)) => {
            (commands::provenance::check(&a)?, a.common.json)
        }
        Command::Provenance(ProvenanceCommand::SignResults(a)) => {
            (commands::provenance::sign_results(&a)?, a.common.json)
        }
        Command::Watermark(WatermarkCommand::Embed(a)) => {
            (commands::watermark_image::embed(&a)?, a.common.json)
        }
        Command::Watermark(WatermarkCommand::Detect(a)) => {
            (commands::watermark_image::detect(&a)?, a.common.json)
        }
        Command::Watermark(WatermarkCommand::Robustness(a)) => {
            (commands::watermark_robustness::run(&a)?, a.common.json)
        }
        Command::Models(ModelsCommand::Convert { input, out, common }) => {
            (commands::models::convert(&input, &out)?, common.json)
        }
        Command::Demo(a) => (commands::demo::run(&a)?, a.common.json),
        Command::Bench(BenchCommand::Features {
            dim,
            stats_rows,
            prdc_rows,
            seed,
            device,
            common,
        }) => (
            commands::bench::features(dim, stats_rows, prdc_rows, seed, &device.device)?,
            common.json,
        ),
        Command::Bench(BenchCommand::Watermark {
            images,
            repeat,
            common,
        }) => (
            commands::bench_watermark::run(&images, repeat)?,
            common.json,
        ),
        Command::Bench(BenchCommand::Text {
            segments,
            write_corpus,
            seed,
            common,
        }) => (
            commands::bench::text(segments, write_corpus.as_deref(), seed, &common)?,
            common.json,
        ),
    })
}

/// Assay's numbers on a GPU are FP32 unless the user asks otherwise: cuDNN runs FP32
/// convolutions on TF32 tensor cores by default, and on an H200 that moved pool3 features
/// 4.4e-4 (relative) from the CPU's; with NVIDIA's override set to 0, 6.2e-7. Set
/// `NVIDIA_TF32_OVERRIDE=1` yourself to trade those digits for speed. Runs before any thread
/// or CUDA library starts.
fn fp32_on_gpus() {
    if std::env::var_os("NVIDIA_TF32_OVERRIDE").is_none() {
        std::env::set_var("NVIDIA_TF32_OVERRIDE", "0");
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse(); // clap exits with 2 on usage errors
    fp32_on_gpus();
    // A panic is our bug, never the user's input: report it as an internal error (exit 3).
    match std::panic::catch_unwind(|| run(cli)) {
        Ok(Ok((doc, json))) => {
            doc.print(json);
            match &doc.failed {
                Some(why) => {
                    eprintln!("assay: failed: {why}");
                    ExitCode::from(1)
                }
                None => ExitCode::SUCCESS,
            }
        }
        Ok(Err(e)) => {
            eprintln!("assay: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
        Err(_) => {
            eprintln!("assay: internal error (a bug: please report it with the command line)");
            ExitCode::from(3)
        }
    }
}
