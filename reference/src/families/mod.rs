//! The bundled networks of the reference domain, trained here from seeds: one file per
//! family, the glyph classifier that reads their samples, and [`Family`], the registry that
//! the CLI lists, trains and samples.

pub mod autoregressive;
pub mod classifier;
pub mod diffusion;
pub mod ebm;
pub mod flow;
pub mod gan;
pub mod training;
pub mod vae;

use crate::data::hmm_text::Hmm;
use candle_core::{DType, Device, Result};
use candle_nn::VarBuilder;
use std::path::PathBuf;

/// Every bundled network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Classifier,
    Autoregressive,
    AutoregressiveMemorizing,
    AutoregressivePlantedBias,
    Vae,
    Gan,
    GanCollapsed,
    Flow,
    Ebm,
    Diffusion,
    DiffusionMemorizing,
}

/// What a generator produces.
pub enum Samples {
    /// 28 x 28 grey images, row-major bytes.
    Images(Vec<Vec<u8>>),
    Texts(Vec<String>),
}

/// Sampling settings that only some families read.
#[derive(Debug, Clone, Copy)]
pub struct SampleOptions {
    pub diffusion: diffusion::Sampler,
    /// The flow's base standard deviation.
    pub temperature: f64,
}

impl Default for SampleOptions {
    fn default() -> Self {
        SampleOptions {
            diffusion: diffusion::Sampler::Ddpm,
            temperature: 1.0,
        }
    }
}

macro_rules! weights {
    ($file:literal) => {
        (
            $file,
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/weights/", $file)) as &[u8],
        )
    };
}

impl Family {
    pub const ALL: [Family; 11] = [
        Family::Classifier,
        Family::Autoregressive,
        Family::AutoregressiveMemorizing,
        Family::AutoregressivePlantedBias,
        Family::Vae,
        Family::Gan,
        Family::GanCollapsed,
        Family::Flow,
        Family::Ebm,
        Family::Diffusion,
        Family::DiffusionMemorizing,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Family::Classifier => "classifier",
            Family::Autoregressive => "ar",
            Family::AutoregressiveMemorizing => "ar-memorizing",
            Family::AutoregressivePlantedBias => "ar-planted-bias",
            Family::Vae => "vae",
            Family::Gan => "gan",
            Family::GanCollapsed => "gan-collapsed",
            Family::Flow => "flow",
            Family::Ebm => "ebm",
            Family::Diffusion => "diffusion",
            Family::DiffusionMemorizing => "diffusion-memorizing",
        }
    }

    pub fn from_name(name: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.name() == name)
    }

    pub fn names() -> Vec<&'static str> {
        Family::ALL.iter().map(|f| f.name()).collect()
    }

    pub fn describe(self) -> &'static str {
        match self {
            Family::Classifier => "glyph classifier (features and logits for the glyph domain's FID/KID/IS/PRDC)",
            Family::Autoregressive => "autoregressive: GPT-2 (2 layers, width 64) on HMM text, a Hugging Face folder",
            Family::AutoregressiveMemorizing => "flawed autoregressive: the GPT-2 trained long on 64 HMM texts (memorizes them)",
            Family::AutoregressivePlantedBias => "flawed autoregressive: the GPT-2 trained on the planted-bias text",
            Family::Vae => "VAE (16-d latent, MLP) on glyphs; ELBO in bits/dim",
            Family::Gan => "GAN (MLP generator and discriminator) on glyphs",
            Family::GanCollapsed => "flawed GAN: trained on rings only: mode-collapsed",
            Family::Flow => "normalizing flow (RealNVP, 6 affine couplings) on dequantized glyphs; exact bits/dim",
            Family::Ebm => "energy-based model (MLP energy) on glyphs, short-run Langevin sampling",
            Family::Diffusion => "diffusion (DDPM, 200 steps, MLP denoiser) on glyphs; DDPM or DDIM sampling",
            Family::DiffusionMemorizing => "flawed diffusion: the denoiser trained long on 32 glyphs (memorizes them)",
        }
    }

    pub fn is_text(self) -> bool {
        matches!(
            self,
            Family::Autoregressive
                | Family::AutoregressiveMemorizing
                | Family::AutoregressivePlantedBias
        )
    }

    /// The committed weights: path under `reference/weights/`, and the bytes built into the
    /// binary.
    pub fn committed(self) -> (&'static str, &'static [u8]) {
        match self {
            Family::Classifier => weights!("glyph_classifier.safetensors"),
            Family::Autoregressive => weights!("ar/model.safetensors"),
            Family::AutoregressiveMemorizing => weights!("ar-memorizing/model.safetensors"),
            Family::AutoregressivePlantedBias => weights!("ar-planted-bias/model.safetensors"),
            Family::Vae => weights!("vae.safetensors"),
            Family::Gan => weights!("gan.safetensors"),
            Family::GanCollapsed => weights!("gan-collapsed.safetensors"),
            Family::Flow => weights!("flow.safetensors"),
            Family::Ebm => weights!("ebm.safetensors"),
            Family::Diffusion => weights!("diffusion.safetensors"),
            Family::DiffusionMemorizing => weights!("diffusion-memorizing.safetensors"),
        }
    }

    /// The committed weights' path in the source tree.
    pub fn committed_path(self) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("weights")
            .join(self.committed().0)
    }

    /// How the committed weights were trained.
    pub fn train_config(self) -> String {
        match self {
            Family::Classifier => classifier::TrainConfig::default().describe(),
            Family::Autoregressive => format!("{:?}", autoregressive::TrainConfig::good()),
            Family::AutoregressiveMemorizing => {
                format!("{:?}", autoregressive::TrainConfig::memorizing())
            }
            Family::AutoregressivePlantedBias => {
                format!("{:?}", autoregressive::TrainConfig::planted_bias())
            }
            Family::Vae => format!("{:?}", vae::config()),
            Family::Gan => format!("{:?}", gan::config()),
            Family::GanCollapsed => format!("{:?}", gan::collapsed_config()),
            Family::Flow => format!("{:?}", flow::config()),
            Family::Ebm => format!("{:?}", ebm::config()),
            Family::Diffusion => format!("{:?}", diffusion::config()),
            Family::DiffusionMemorizing => format!("{:?}", diffusion::memorizing_config()),
        }
    }

    /// The seed the committed weights were trained from.
    pub fn train_seed(self) -> u64 {
        match self {
            Family::Classifier => classifier::TrainConfig::default().seed,
            Family::Autoregressive => autoregressive::TrainConfig::good().seed,
            Family::AutoregressiveMemorizing => autoregressive::TrainConfig::memorizing().seed,
            Family::AutoregressivePlantedBias => autoregressive::TrainConfig::planted_bias().seed,
            Family::Vae => vae::config().seed,
            Family::Gan => gan::config().seed,
            Family::GanCollapsed => gan::collapsed_config().seed,
            Family::Flow => flow::config().seed,
            Family::Ebm => ebm::config().seed,
            Family::Diffusion => diffusion::config().seed,
            Family::DiffusionMemorizing => diffusion::memorizing_config().seed,
        }
    }

    /// Trains from the seed (`steps` stops early); returns the weights as safetensors bytes
    /// and the losses the family logs.
    pub fn train(self, steps: Option<usize>, device: &Device) -> Result<(Vec<u8>, Vec<f64>)> {
        let (vars, losses) = match self {
            Family::Classifier => {
                classifier::train(&classifier::TrainConfig::default(), steps, device)?
            }
            Family::Autoregressive => {
                autoregressive::train(&autoregressive::TrainConfig::good(), steps, device)?
            }
            Family::AutoregressiveMemorizing => {
                autoregressive::train(&autoregressive::TrainConfig::memorizing(), steps, device)?
            }
            Family::AutoregressivePlantedBias => {
                autoregressive::train(&autoregressive::TrainConfig::planted_bias(), steps, device)?
            }
            Family::Vae => vae::train(&vae::config(), steps, device)?,
            Family::Gan => gan::train(&gan::config(), steps, device)?,
            Family::GanCollapsed => gan::train(&gan::collapsed_config(), steps, device)?,
            Family::Flow => flow::train(&flow::config(), steps, device)?,
            Family::Ebm => ebm::train(&ebm::config(), steps, device)?,
            Family::Diffusion => diffusion::train(&diffusion::config(), steps, device)?,
            Family::DiffusionMemorizing => {
                diffusion::train(&diffusion::memorizing_config(), steps, device)?
            }
        };
        Ok((training::varmap_bytes(&vars)?, losses))
    }

    /// A builder over safetensors bytes (the committed weights or a trained file).
    pub fn builder<'a>(bytes: &'a [u8], device: &Device) -> Result<VarBuilder<'a>> {
        VarBuilder::from_slice_safetensors(bytes, DType::F32, device)
    }

    /// `n` samples from the weights in `bytes`, seeded.
    pub fn sample(
        self,
        bytes: &[u8],
        n: usize,
        seed: u64,
        opts: &SampleOptions,
        device: &Device,
    ) -> Result<Samples> {
        let vb = Self::builder(bytes, device)?;
        let images = |x: candle_core::Tensor| Ok(Samples::Images(training::to_bytes(&x)?));
        match self {
            Family::Classifier => candle_core::bail!("the classifier is not a generator"),
            Family::Autoregressive
            | Family::AutoregressiveMemorizing
            | Family::AutoregressivePlantedBias => {
                let vocab = autoregressive::Vocabulary::new(&Hmm::default_model());
                let net = autoregressive::TrainableGpt2::new(vb, vocab.tokens.len());
                Ok(Samples::Texts(autoregressive::sample(
                    &net, &vocab, n, seed, device,
                )?))
            }
            Family::Vae => images(vae::sample(&vae::Vae::new(vb)?, n, seed, device)?),
            Family::Gan | Family::GanCollapsed => {
                images(gan::sample(&gan::Generator::new(vb)?, n, seed, device)?)
            }
            Family::Flow => images(flow::sample(
                &flow::Flow::new(vb)?,
                n,
                opts.temperature,
                seed,
                device,
            )?),
            Family::Ebm => images(ebm::sample(&ebm::Ebm::new(vb)?, n, seed, device)?),
            Family::Diffusion | Family::DiffusionMemorizing => images(diffusion::sample(
                &diffusion::Denoiser::new(vb)?,
                n,
                opts.diffusion,
                seed,
                device,
            )?),
        }
    }
}

/// The Hugging Face folder files of an autoregressive variant beside its weights:
/// `config.json` and `tokenizer.json`.
pub fn autoregressive_folder_files() -> std::result::Result<Vec<(&'static str, String)>, String> {
    let vocab = autoregressive::Vocabulary::new(&Hmm::default_model());
    Ok(vec![
        ("config.json", vocab.config_json()),
        ("tokenizer.json", vocab.tokenizer_json()?),
    ])
}
