//! Command-line flags, kept apart from what the commands do.

use assay_metrics::text::bleu::SmoothMethod;
use assay_metrics::text::rouge::{RougeTokenizer, RougeType};
use assay_metrics::text::tokenizers::TokenizerKind;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "assay",
    version,
    about = "Evaluate, audit and mark the output of generative models",
    long_about = "Evaluate, audit and mark the output of generative models.\n\n\
                  Every command prints a table, or one JSON results document with --json.\n\
                  Exit codes: 0 ok, 1 gate failed, 2 usage or input error, 3 internal error."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Text metrics: BLEU, chrF, ROUGE, and paired significance tests.
    #[command(subcommand)]
    Text(TextCommand),
    /// Distribution metrics on feature sets: FD, KID, IS, precision/recall/density/coverage.
    #[command(subcommand)]
    Features(FeaturesCommand),
    /// Image metrics on folders of images: FID, KID, IS, PRDC through the FID Inception.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Feature statistics files.
    #[command(subcommand)]
    Stats(StatsCommand),
    /// Reference data whose true distribution is known (and, later, the bundled generators).
    #[command(subcommand)]
    Reference(ReferenceCommand),
    /// Watermarks: generate watermarked text, detect watermarks.
    #[command(subcommand)]
    Watermark(WatermarkCommand),
    /// C2PA manifests for generated media (sign, verify, inspect, test keys), and checks of
    /// results documents against their inputs.
    #[command(subcommand)]
    Provenance(ProvenanceCommand),
    /// Model files: convert PyTorch weights to safetensors.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Run a full audit on the bundled data, offline.
    Demo(DemoArgs),
    /// Time Assay's metrics on a large synthetic input.
    #[command(subcommand)]
    Bench(BenchCommand),
}

/// Flags every command takes.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Print one JSON results document instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// No progress bars.
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

/// Hypotheses, references and resampling, shared by the text metrics.
#[derive(Args, Debug, Clone)]
pub struct TextInputs {
    /// Hypotheses: a text file (one segment per line) or FILE:COLUMN of a .jsonl/.csv/.parquet.
    #[arg(long, value_name = "FILE[:COLUMN]")]
    pub hyp: String,
    /// References, same forms; repeat for several references per segment.
    #[arg(long = "ref", value_name = "FILE[:COLUMN]", required = true)]
    pub refs: Vec<String>,
    /// Bootstrap resamples for the confidence interval (0: no interval).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub bootstrap: usize,
    /// Seed of every random step.
    #[arg(long, default_value_t = assay_metrics::stats::DEFAULT_SEED)]
    pub seed: u64,
    /// Score every segment too; with --out, write the scores there.
    #[arg(long)]
    pub sentence: bool,
    /// Where per-segment scores go (.parquet, .csv or .jsonl); needs --sentence.
    #[arg(long, value_name = "FILE", requires = "sentence")]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct BleuFlags {
    /// Tokenizer, by sacrebleu's names.
    #[arg(long = "tokenize", default_value = "13a", value_parser = parse_tokenizer)]
    pub tokenize: TokenizerKind,
    /// Smoothing method: exp, floor, add-k or none.
    #[arg(long, default_value = "exp", value_parser = parse_smooth)]
    pub smooth_method: SmoothMethod,
    /// Smoothing value (floor: 0.1, add-k: 1 by default).
    #[arg(long)]
    pub smooth_value: Option<f64>,
    /// Lowercase hypotheses and references.
    #[arg(long)]
    pub lowercase: bool,
    /// Use the effective n-gram order (on by default for --sentence, as sacrebleu's sentence_bleu).
    #[arg(long)]
    pub effective_order: bool,
    #[arg(long, default_value_t = 4)]
    pub max_ngram_order: usize,
}

#[derive(Args, Debug, Clone)]
pub struct ChrfFlags {
    #[arg(long, default_value_t = 6)]
    pub char_order: usize,
    /// Word n-gram order: 0 for chrF, 2 for chrF++.
    #[arg(long, default_value_t = 0)]
    pub word_order: usize,
    #[arg(long, default_value_t = 2)]
    pub beta: u32,
    #[arg(long)]
    pub lowercase: bool,
    /// Keep whitespace in character n-grams.
    #[arg(long)]
    pub whitespace: bool,
    /// chrF++.py epsilon smoothing instead of effective-order averaging.
    #[arg(long)]
    pub eps_smoothing: bool,
}

#[derive(Args, Debug, Clone)]
pub struct RougeFlags {
    /// ROUGE types, comma-separated: rouge1..rouge9, rougeL, rougeLsum (sentences split on newlines).
    #[arg(long, value_delimiter = ',', default_value = "rouge1,rouge2,rougeL,rougeLsum", value_parser = parse_rouge_type)]
    pub types: Vec<RougeType>,
    /// Porter-stem tokens longer than 3 characters (rouge_score's use_stemmer).
    #[arg(long)]
    pub stemmer: bool,
    /// default: rouge_score's tokenizer, which keeps only [a-z0-9] and so scores text in other
    /// scripts (CJK, Cyrillic, Arabic, ...) as 0. unicode: keeps letters of every script, one
    /// token per Han/kana/Thai character.
    #[arg(long, default_value = "default", value_parser = parse_rouge_tokenizer)]
    pub tokenizer: RougeTokenizer,
}

#[derive(Subcommand, Debug)]
pub enum TextCommand {
    /// BLEU, identical to sacrebleu's corpus_bleu (sentence_bleu with --sentence).
    Bleu {
        #[command(flatten)]
        inputs: TextInputs,
        #[command(flatten)]
        flags: BleuFlags,
        #[command(flatten)]
        common: Common,
    },
    /// chrF / chrF++, identical to sacrebleu's CHRF.
    Chrf {
        #[command(flatten)]
        inputs: TextInputs,
        #[command(flatten)]
        flags: ChrfFlags,
        #[command(flatten)]
        common: Common,
    },
    /// ROUGE-N, ROUGE-L and ROUGE-Lsum, identical to rouge_score (mean over segments).
    Rouge {
        #[command(flatten)]
        inputs: TextInputs,
        #[command(flatten)]
        flags: RougeFlags,
        #[command(flatten)]
        common: Common,
    },
    /// Paired significance tests of systems against a baseline (sacrebleu --paired-bs/--paired-ar).
    Compare(CompareArgs),
    /// Perplexity of texts under a causal language model (GPT-2 family), per-token log-probs.
    Perplexity(PerplexityArgs),
}

/// Where a model runs and how its scores' intervals are drawn.
#[derive(Args, Debug, Clone)]
pub struct ModelRunFlags {
    /// cpu, cuda or cuda:N (a build with `--features cuda`), or auto (cuda when present).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Bootstrap resamples of the items scored (texts, images) for the intervals (0: none).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub bootstrap: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = assay_metrics::stats::DEFAULT_SEED)]
    pub seed: u64,
}

#[derive(Args, Debug, Clone)]
pub struct PerplexityArgs {
    /// Language model: a Hugging Face folder (config.json, model.safetensors, tokenizer.json),
    /// or a hub id ORG/NAME found in $ASSAY_HOME/models/NAME/ or the hub cache.
    #[arg(long, value_name = "DIR|ORG/NAME")]
    pub model: String,
    /// Texts: a text file (one per line) or FILE:COLUMN of a .jsonl/.csv/.parquet.
    #[arg(long, value_name = "FILE[:COLUMN]")]
    pub input: String,
    /// Put the model's BOS token before every text, as HF evaluate's perplexity does (true).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "true|false")]
    pub add_bos: bool,
    /// Tokens per window (default: the model's context).
    #[arg(long)]
    pub max_length: Option<usize>,
    /// Tokens between window starts, for texts longer than --max-length (default: half of it).
    #[arg(long)]
    pub stride: Option<usize>,
    /// Windows per forward pass.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// Weights and activations in f32, bf16 or f16 (log-softmax statistics are f64 always).
    #[arg(long, default_value = "f32", value_name = "f32|bf16|f16")]
    pub dtype: String,
    /// One row per scored token (text, position, token id, token, logprob, rank, entropy) to
    /// .parquet, .csv or .jsonl.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// One row per text (tokens scored, NLL, perplexity) to .parquet, .csv or .jsonl.
    #[arg(long, value_name = "FILE")]
    pub texts_out: Option<PathBuf>,
    #[command(flatten)]
    pub run: ModelRunFlags,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TestKind {
    /// Paired bootstrap resampling.
    Bs,
    /// Paired approximate randomization.
    Ar,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TextMetricName {
    Bleu,
    Chrf,
    Rouge,
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// The baseline system's output.
    #[arg(long, value_name = "FILE[:COLUMN]")]
    pub baseline: String,
    /// Systems to compare with the baseline; repeat for several.
    #[arg(long = "hyp", value_name = "FILE[:COLUMN]", required = true)]
    pub hyps: Vec<String>,
    /// References; repeat for several per segment.
    #[arg(long = "ref", value_name = "FILE[:COLUMN]", required = true)]
    pub refs: Vec<String>,
    /// Metrics to test, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "bleu,chrf")]
    pub metrics: Vec<TextMetricName>,
    /// bs: paired bootstrap (1000 resamples); ar: approximate randomization (10000 trials).
    #[arg(long, value_enum, default_value = "bs")]
    pub test: TestKind,
    /// Resamples or trials (default: 1000 for bs, 10000 for ar).
    #[arg(long)]
    pub samples: Option<usize>,
    #[arg(long, default_value_t = assay_metrics::stats::DEFAULT_SEED)]
    pub seed: u64,
    #[command(flatten)]
    pub bleu: BleuFlags,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    #[command(flatten)]
    pub common: Common,
    #[arg(long, default_value_t = assay_metrics::stats::DEFAULT_SEED)]
    pub seed: u64,
    /// Where results.json and report.md go (created if missing; the two files are replaced).
    #[arg(long, default_value = "demo", value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Stats accumulation, FD from stats and PRDC on synthetic features.
    Features {
        #[arg(long, default_value_t = 2048)]
        dim: usize,
        /// Rows accumulated into stats.
        #[arg(long, default_value_t = 100_000)]
        stats_rows: usize,
        /// Rows in each PRDC set.
        #[arg(long, default_value_t = 10_000)]
        prdc_rows: usize,
        #[arg(long, default_value_t = assay_metrics::stats::DEFAULT_SEED)]
        seed: u64,
        #[command(flatten)]
        device: DeviceFlag,
        #[command(flatten)]
        common: Common,
    },
    /// Image watermarks: embed and detect, megapixels per second, for each scheme.
    Watermark {
        /// Images or folders (decoded once, before timing).
        #[arg(required = true, value_name = "IN")]
        images: Vec<PathBuf>,
        /// Times each scheme goes over the images.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        #[command(flatten)]
        common: Common,
    },
    /// Corpus BLEU, chrF and ROUGE-L/Lsum on a synthetic corpus.
    Text {
        /// Number of segments.
        #[arg(long, default_value_t = 100_000)]
        segments: usize,
        /// Write the corpus used (hyp.txt, ref.txt) to this folder, to time other tools on it.
        #[arg(long, value_name = "DIR")]
        write_corpus: Option<PathBuf>,
        #[arg(long, default_value_t = assay_metrics::stats::DEFAULT_SEED)]
        seed: u64,
        #[command(flatten)]
        common: Common,
    },
}

fn parse_tokenizer(s: &str) -> Result<TokenizerKind, String> {
    s.parse()
        .map_err(|e: assay_metrics::text::tokenizers::UnknownTokenizer| e.to_string())
}

fn parse_smooth(s: &str) -> Result<SmoothMethod, String> {
    s.parse()
        .map_err(|e: assay_metrics::MetricError| e.to_string())
}

fn parse_rouge_type(s: &str) -> Result<RougeType, String> {
    s.parse()
        .map_err(|e: assay_metrics::MetricError| e.to_string())
}

fn parse_rouge_tokenizer(s: &str) -> Result<RougeTokenizer, String> {
    s.parse()
        .map_err(|e: assay_metrics::MetricError| e.to_string())
}

/// Two feature sets: FILE[:NAME] as .npy, .npz (array or mu/sigma stats), .safetensors, .parquet.
#[derive(Args, Debug, Clone)]
pub struct FeaturePair {
    #[arg(long, value_name = "FILE[:NAME]")]
    pub real: String,
    #[arg(long, value_name = "FILE[:NAME]")]
    pub fake: String,
}

/// Where the products (covariances, distances, kernels) run.
#[derive(Args, Debug, Clone)]
pub struct DeviceFlag {
    /// cpu, or cuda / cuda:N in a build with `--features cuda`.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

#[derive(Args, Debug, Clone)]
pub struct KidFlags {
    #[arg(long, default_value_t = 100)]
    pub subsets: usize,
    #[arg(long, default_value_t = 1000)]
    pub subset_size: usize,
    /// poly: (x.y/d + 1)^3; rbf: exp(-|x-y|^2 / (2 sigma^2)).
    #[arg(long, default_value = "poly")]
    pub kernel: String,
    #[arg(long)]
    pub rbf_sigma: Option<f64>,
    /// Use each whole set once when a set is smaller than the subset size.
    #[arg(long)]
    pub whole_set: bool,
    /// Use these subsets instead of drawing them: an .npz with integer arrays `real` and
    /// `fake`, one row of row indices per subset (as torch-fidelity's RandomState draws them).
    #[arg(long, value_name = "FILE.npz")]
    pub subset_indices: Option<PathBuf>,
    /// Draw the subsets as torch-fidelity does: numpy's RandomState(SEED), default 2020 (its
    /// `kid_subset_rng_seed`), real then fake for each subset; gives its KID exactly.
    #[arg(long, value_name = "SEED", num_args = 0..=1, default_missing_value = "2020")]
    pub torch_fidelity_subsets: Option<u32>,
}

#[derive(Args, Debug, Clone)]
pub struct PrdcFlags {
    /// Nearest neighbours (default 5; 3 with --kynkaanniemi).
    #[arg(long)]
    pub k: Option<usize>,
    /// Kynkäänniemi et al. 2019 precision/recall (<= radius) instead of prdc's (< radius).
    #[arg(long)]
    pub kynkaanniemi: bool,
}

#[derive(Subcommand, Debug)]
pub enum FeaturesCommand {
    /// Fréchet distance (FID on Inception features).
    Fd {
        #[command(flatten)]
        pair: FeaturePair,
        /// Bootstrap resamples of the rows for the interval (0: none).
        #[arg(long, default_value_t = 200)]
        bootstrap: usize,
        #[arg(long, default_value_t = assay_metrics::stats::DEFAULT_SEED)]
        seed: u64,
        #[command(flatten)]
        device: DeviceFlag,
        #[command(flatten)]
        common: Common,
    },
    /// Kernel Inception Distance (unbiased MMD^2 over random subsets).
    Kid {
        #[command(flatten)]
        pair: FeaturePair,
        #[command(flatten)]
        kid: KidFlags,
        /// Bootstrap resamples of the rows for an interval (0: none; each one is a full KID).
        #[arg(long, default_value_t = 0)]
        bootstrap: usize,
        #[arg(long, default_value_t = assay_metrics::stats::DEFAULT_SEED)]
        seed: u64,
        #[command(flatten)]
        device: DeviceFlag,
        #[command(flatten)]
        common: Common,
    },
    /// Inception Score from logits (or probabilities) of a classifier.
    Is {
        #[arg(long, value_name = "FILE[:NAME]")]
        logits: String,
        #[arg(long, default_value_t = 10)]
        splits: usize,
        /// Rows are probabilities, not logits.
        #[arg(long)]
        probabilities: bool,
        #[command(flatten)]
        shuffle: ShuffleFlags,
        #[command(flatten)]
        common: Common,
    },
    /// Precision, recall, density and coverage.
    Prdc {
        #[command(flatten)]
        pair: FeaturePair,
        #[command(flatten)]
        prdc: PrdcFlags,
        /// Bootstrap resamples for the intervals (0: none).
        #[arg(long, default_value_t = 0)]
        bootstrap: usize,
        #[arg(long, default_value_t = assay_metrics::stats::DEFAULT_SEED)]
        seed: u64,
        #[command(flatten)]
        device: DeviceFlag,
        #[command(flatten)]
        common: Common,
    },
    /// Every metric that applies, reading each file once.
    All {
        #[command(flatten)]
        pair: FeaturePair,
        #[command(flatten)]
        kid: KidFlags,
        #[command(flatten)]
        prdc: PrdcFlags,
        #[arg(long, default_value_t = 0)]
        bootstrap: usize,
        #[arg(long, default_value_t = assay_metrics::stats::DEFAULT_SEED)]
        seed: u64,
        #[command(flatten)]
        device: DeviceFlag,
        #[command(flatten)]
        common: Common,
    },
    /// Write mean/covariance stats (pytorch-fid/clean-fid npz, plus mergeable n/sum/outer).
    Stats {
        #[arg(value_name = "FILE[:NAME]")]
        input: String,
        #[arg(short, long, value_name = "OUT.npz")]
        out: PathBuf,
        #[command(flatten)]
        device: DeviceFlag,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand, Debug)]
pub enum ReferenceCommand {
    /// Write a synthetic data set.
    #[command(subcommand)]
    Data(ReferenceData),
    /// The bundled reference networks, with the sha256 of their committed weights.
    List {
        #[command(flatten)]
        common: Common,
    },
    /// Sample a bundled generator (seeded).
    Sample(ReferenceSampleArgs),
    /// Train a bundled network from its seed (reproduces the committed weights).
    Train {
        /// A name from `assay reference list` (classifier, ar, vae, gan, flow, ebm, diffusion, …).
        #[arg(value_name = "FAMILY")]
        family: String,
        /// Where to write the weights: a .safetensors file, or for the autoregressive models a
        /// new folder (config.json, model.safetensors, tokenizer.json). Never over existing files.
        #[arg(short, long, value_name = "PATH")]
        out: PathBuf,
        /// Stop after this many optimiser steps (a smoke run); default: the full training.
        #[arg(long)]
        steps: Option<usize>,
        #[command(flatten)]
        common: Common,
    },
}

/// `assay reference sample`.
#[derive(Args, Debug)]
pub struct ReferenceSampleArgs {
    /// A generator from `assay reference list` (ar, vae, gan, flow, ebm, diffusion, and the
    /// flawed variants).
    #[arg(value_name = "FAMILY")]
    pub family: String,
    #[arg(short, long)]
    pub n: usize,
    /// Images: a new folder of PNGs. Texts: a file, one text per line (.txt) or .jsonl.
    #[arg(short, long, value_name = "PATH")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Weights trained with `assay reference train` instead of the committed ones (a
    /// .safetensors file, or an autoregressive model's folder).
    #[arg(long, value_name = "PATH")]
    pub weights: Option<PathBuf>,
    /// Diffusion sampler: ddpm (all 200 steps) or ddim:K (deterministic, K steps).
    #[arg(long, default_value = "ddpm", value_parser = parse_sampler)]
    pub sampler: assay_reference::families::diffusion::Sampler,
    /// The flow's sampling temperature (standard deviation of its base).
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f64,
    #[command(flatten)]
    pub common: Common,
}

fn parse_sampler(s: &str) -> Result<assay_reference::families::diffusion::Sampler, String> {
    use assay_reference::families::diffusion::{Sampler, STEPS};
    match s {
        "ddpm" => Ok(Sampler::Ddpm),
        _ => match s.strip_prefix("ddim:").map(str::parse::<usize>) {
            Some(Ok(k)) if (1..=STEPS).contains(&k) => Ok(Sampler::Ddim(k)),
            _ => Err(format!(
                "'{s}': expected ddpm or ddim:K with K in 1..={STEPS}"
            )),
        },
    }
}

#[derive(Subcommand, Debug)]
pub enum ReferenceData {
    /// 28 x 28 grey glyphs of ten shape classes (PNGs and labels.csv in a new folder).
    Glyphs {
        #[arg(short, long)]
        n: u64,
        /// A folder that does not exist yet (or is empty).
        #[arg(short, long, value_name = "DIR")]
        out: PathBuf,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[command(flatten)]
        common: Common,
    },
    /// Texts from the bundled hidden Markov model, with their exact log-probabilities.
    HmmText {
        #[arg(short, long)]
        n: u64,
        /// .txt (one text per line) or .jsonl (text, log_prob, tokens, and the planted labels).
        #[arg(short, long, value_name = "FILE")]
        out: PathBuf,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The planted-bias variant: a name of group A or B, and maybe an attribute word, first.
        #[arg(long)]
        planted_bias: bool,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand, Debug)]
pub enum ModelsCommand {
    /// Convert a PyTorch weight file (zip or legacy .pth, pytorch_model.bin) to safetensors,
    /// every tensor with its name, shape and dtype, so later runs load without unpickling.
    Convert {
        #[arg(value_name = "IN")]
        input: PathBuf,
        #[arg(short, long, value_name = "OUT.safetensors")]
        out: PathBuf,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand, Debug)]
pub enum StatsCommand {
    /// Merge stats files (or feature files) exactly into one stats file.
    Merge {
        #[arg(required = true, value_name = "FILE")]
        inputs: Vec<String>,
        #[arg(short, long, value_name = "OUT.npz")]
        out: PathBuf,
        #[command(flatten)]
        common: Common,
    },
}

/// How images become features: the network, its weights, the preprocessing and batching.
#[derive(Args, Debug, Clone)]
pub struct ImageFlags {
    /// FID Inception weights: a .safetensors or zip-format .pth file, or a folder holding one
    /// (default: $ASSAY_HOME/models/pt_inception-2015-12-05/).
    #[arg(long, value_name = "FILE|DIR")]
    pub weights: Option<PathBuf>,
    /// pytorch-fid (torch bilinear, its default), clean (clean-fid's PIL bicubic), or tf1
    /// (torch-fidelity's TF1 bilinear).
    #[arg(long, default_value = "pytorch-fid")]
    pub resize: String,
    /// Which features: 2048 (pool3, as every published FID), or the 64/192/768 blocks.
    #[arg(long, default_value_t = 2048)]
    pub dims: usize,
    /// Images per network batch (default: 8 on the CPU, where it ran 14% faster than 50 in
    /// 40% less memory; 50, pytorch-fid's default, on a GPU; 200 in a build with cuDNN).
    /// Features do not depend on it.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Threads that decode and resize images (default: all cores).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Leave out images that cannot be decoded (they are listed in the output) instead of
    /// stopping with exit 2.
    #[arg(long)]
    pub skip_bad: bool,
    /// Also write the features (and logits) to this .safetensors file, for `assay features`.
    #[arg(long, value_name = "FILE.safetensors")]
    pub save_features: Option<PathBuf>,
    /// cpu, cuda or cuda:N (a build with `--features cuda`), or auto (cuda when present).
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// Two image sets: each a folder of images, or a feature/stats file as `assay features` reads.
#[derive(Args, Debug, Clone)]
pub struct ImagePair {
    /// Reference images: a folder, or FILE[:NAME] (.npz stats, .npy/.safetensors features).
    #[arg(value_name = "REAL")]
    pub real: String,
    /// Generated images, same forms.
    #[arg(value_name = "FAKE")]
    pub fake: String,
}

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// FID between two folders (or a folder and a stats file).
    Fid {
        #[command(flatten)]
        pair: ImagePair,
        #[command(flatten)]
        image: ImageFlags,
        /// Bootstrap resamples for the interval (0: none; each is a covariance and an eigen-problem).
        #[arg(long, default_value_t = 200)]
        bootstrap: usize,
        #[arg(long, default_value_t = assay_metrics::stats::DEFAULT_SEED)]
        seed: u64,
        #[command(flatten)]
        common: Common,
    },
    /// KID between two folders.
    Kid {
        #[command(flatten)]
        pair: ImagePair,
        #[command(flatten)]
        image: ImageFlags,
        #[command(flatten)]
        kid: KidFlags,
        #[arg(long, default_value_t = 0)]
        bootstrap: usize,
        #[arg(long, default_value_t = assay_metrics::stats::DEFAULT_SEED)]
        seed: u64,
        #[command(flatten)]
        common: Common,
    },
    /// Inception Score of one folder (torch-fidelity's logits_unbiased, 10 splits).
    Is {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        #[command(flatten)]
        image: ImageFlags,
        #[arg(long, default_value_t = 10)]
        splits: usize,
        #[command(flatten)]
        shuffle: ShuffleFlags,
        #[command(flatten)]
        common: Common,
    },
    /// Precision, recall, density and coverage between two folders.
    Prdc {
        #[command(flatten)]
        pair: ImagePair,
        #[command(flatten)]
        image: ImageFlags,
        #[command(flatten)]
        prdc: PrdcFlags,
        #[arg(long, default_value_t = 0)]
        bootstrap: usize,
        #[arg(long, default_value_t = assay_metrics::stats::DEFAULT_SEED)]
        seed: u64,
        #[command(flatten)]
        common: Common,
    },
    /// Every metric that applies, one pass of the network over each folder.
    All {
        #[command(flatten)]
        pair: ImagePair,
        #[command(flatten)]
        image: ImageFlags,
        #[command(flatten)]
        kid: KidFlags,
        #[command(flatten)]
        prdc: PrdcFlags,
        #[arg(long, default_value_t = 0)]
        bootstrap: usize,
        #[arg(long, default_value_t = assay_metrics::stats::DEFAULT_SEED)]
        seed: u64,
        #[command(flatten)]
        common: Common,
    },
    /// CLIPScore of captions against their images: Hessel et al.'s CLIP-S (default) and
    /// RefCLIP-S with --references, or torchmetrics' 100·cos with --scale 100.
    Clipscore(ClipScoreArgs),
    /// Write a folder's FID stats (pytorch-fid/clean-fid npz, mergeable).
    Stats {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        #[arg(short, long, value_name = "OUT.npz")]
        out: PathBuf,
        #[command(flatten)]
        image: ImageFlags,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Args, Debug, Clone)]
pub struct ClipScoreArgs {
    /// Folder of the images the captions describe.
    #[arg(long, value_name = "DIR")]
    pub images: PathBuf,
    /// Captions: .jsonl/.csv/.parquet with an image column (image, file, filename, image_id, …)
    /// and a caption column (caption, text, candidate), or Hessel's .json {"image id": "caption"}.
    #[arg(long, value_name = "FILE")]
    pub captions: PathBuf,
    /// References for RefCLIP-S: same forms, one row per reference (or a list column), or
    /// Hessel's .json {"image id": ["reference", …]}.
    #[arg(long, value_name = "FILE")]
    pub references: Option<PathBuf>,
    /// CLIP model: a Hugging Face model folder, or a hub id ORG/NAME found in
    /// $ASSAY_HOME/models/NAME/ or the hub cache (default: openai/clip-vit-base-patch32).
    #[arg(long, value_name = "DIR|ORG/NAME")]
    pub model: Option<String>,
    /// 2.5: Hessel et al.'s CLIP-S, 2.5·max(cos, 0) per image, averaged; 100: torchmetrics'
    /// CLIPScore, 100·cos per image, the average clamped at 0.
    #[arg(long, default_value = "2.5", value_name = "2.5|100")]
    pub scale: String,
    /// Text put before every caption and reference (default: "A photo depicts " with
    /// --scale 2.5, as Hessel et al.; nothing with --scale 100, as torchmetrics).
    #[arg(long)]
    pub prefix: Option<String>,
    /// Write one row per image (file, caption, cosine, scores) to .parquet, .csv or .jsonl.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Images (and captions) per network batch.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Threads that decode and resize images (default: all cores).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Leave out images that cannot be decoded and captions naming images that are not in the
    /// folder (both are listed in the output) instead of stopping with exit 2.
    #[arg(long)]
    pub skip_bad: bool,
    #[command(flatten)]
    pub run: ModelRunFlags,
    #[command(flatten)]
    pub common: Common,
}

/// How Inception Score rows are ordered before splitting (in order unless asked).
#[derive(Args, Debug, Clone)]
pub struct ShuffleFlags {
    /// Shuffle with this seed (Assay's generator) before splitting.
    #[arg(long, conflicts_with = "torch_fidelity_shuffle")]
    pub shuffle_seed: Option<u64>,
    /// Shuffle as torch-fidelity does by default: numpy's RandomState(SEED), default 2020.
    #[arg(long, value_name = "SEED", num_args = 0..=1, default_missing_value = "2020")]
    pub torch_fidelity_shuffle: Option<u32>,
}

#[derive(Subcommand, Debug)]
pub enum WatermarkCommand {
    /// Generate text with the green-list watermark (Kirchenbauer et al. 2023) from a causal LM.
    Generate(WatermarkGenerateArgs),
    /// Detect the green-list watermark in texts (needs the tokenizer and the key, not the model).
    DetectText(WatermarkDetectTextArgs),
    /// Embed an invisible watermark into images (files or folders; PNG, JPEG, WebP, …).
    Embed(WatermarkEmbedArgs),
    /// Detect image watermarks: Assay's (with its key), imwatermark's, or the fixed Stable
    /// Diffusion / SDXL messages.
    Detect(WatermarkDetectArgs),
    /// Robustness report: every scheme through a fixed suite of attacks, with detection rates,
    /// bit accuracy, false positives on unmarked inputs, and PSNR/SSIM of the embedding.
    Robustness(WatermarkRobustnessArgs),
}

/// Image watermarking schemes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageSchemeArg {
    /// Assay's keyed, error-corrected scheme (needs --key).
    Assay,
    /// invisible-watermark's `dwtDct` (what the Stable Diffusion scripts use).
    #[value(name = "dwtDct", alias = "dwt-dct")]
    DwtDct,
    /// invisible-watermark's `dwtDctSvd`.
    #[value(name = "dwtDctSvd", alias = "dwt-dct-svd")]
    DwtDctSvd,
    /// Detect only: the bytes "StableDiffusionV1" of CompVis' scripts (dwtDct).
    Sd1,
    /// Detect only: the bytes "SDV2" of Stability's SD 2 scripts (dwtDct).
    Sd2,
    /// Detect only: SDXL's 48-bit message (dwtDct), read in both channel orders.
    Sdxl,
}

#[derive(Args, Debug)]
pub struct WatermarkEmbedArgs {
    /// Images, or folders of images (their images directly inside, sorted).
    #[arg(required = true, value_name = "IN")]
    pub inputs: Vec<std::path::PathBuf>,
    /// Folder for the marked copies (created; same file names; nothing is written over).
    #[arg(short, long, value_name = "OUTDIR")]
    pub out: std::path::PathBuf,
    #[arg(long, value_enum, default_value = "assay")]
    pub scheme: ImageSchemeArg,
    /// The secret key of the assay scheme (at least 8 characters).
    #[arg(long)]
    pub key: Option<String>,
    /// The message, in hex: exactly 8 digits (32 bits) for assay; any whole number of bytes
    /// for dwtDct/dwtDctSvd.
    #[arg(long, value_name = "HEX")]
    pub payload: String,
    /// Target PSNR of the assay scheme, dB.
    #[arg(long, default_value_t = assay_provenance::watermark::spread_spectrum::DEFAULT_PSNR_DB)]
    pub psnr: f64,
    /// Where the assay mark would not read back from an image at --psnr (small or busy
    /// images), it is embedded 1.5 dB stronger at a time, down to this PSNR (equal to --psnr:
    /// never).
    #[arg(long, default_value_t = assay_provenance::watermark::spread_spectrum::DEFAULT_MIN_PSNR_DB)]
    pub min_psnr: f64,
    /// Quality of JPEG outputs (a JPEG input is written as JPEG).
    #[arg(long, default_value_t = 95, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub jpeg_quality: u8,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug)]
pub struct WatermarkDetectArgs {
    /// Images, or folders of images.
    #[arg(required = true, value_name = "IN")]
    pub inputs: Vec<std::path::PathBuf>,
    #[arg(long, value_enum, default_value = "assay")]
    pub scheme: ImageSchemeArg,
    /// The secret key of the assay scheme.
    #[arg(long)]
    pub key: Option<String>,
    /// The expected message in hex: gives bit accuracy and, for dwtDct/dwtDctSvd, the verdict.
    #[arg(long, value_name = "HEX")]
    pub payload: Option<String>,
    /// dwtDct/dwtDctSvd without --payload: how many bits to read (no verdict without a message).
    #[arg(long)]
    pub bits: Option<usize>,
    /// p-value below which an image is called marked.
    #[arg(long, default_value_t = assay_provenance::watermark::robustness::DETECTION_ALPHA)]
    pub alpha: f64,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug)]
pub struct WatermarkRobustnessArgs {
    /// Host images, or folders of them.
    #[arg(long, num_args = 1.., value_name = "IN")]
    pub images: Vec<std::path::PathBuf>,
    /// Also use this many montages of 10 × 10 bundled glyphs (280 × 280, flat graphics) as hosts.
    #[arg(long, default_value_t = 0)]
    pub glyph_montages: usize,
    /// Image schemes to compare.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "assay,dwtDct,dwtDctSvd"
    )]
    pub schemes: Vec<ImageSchemeArg>,
    /// Key of the assay image scheme (--key is the text watermark's).
    #[arg(long, default_value = "assay-robustness-key")]
    pub image_key: String,
    /// 32-bit message (hex) every scheme embeds.
    #[arg(long, default_value = "a5c3e10f")]
    pub payload: String,
    #[arg(long, default_value_t = assay_provenance::watermark::spread_spectrum::DEFAULT_PSNR_DB)]
    pub psnr: f64,
    /// A causal LM folder for the text part (e.g. reference/weights/ar): it generates
    /// watermarked and unwatermarked texts from BOS.
    #[arg(long, value_name = "DIR")]
    pub text_model: Option<std::path::PathBuf>,
    /// Watermarked texts to generate.
    #[arg(long, default_value_t = 20)]
    pub texts: usize,
    /// Unwatermarked texts to generate (false positives).
    #[arg(long, default_value_t = 100)]
    pub unmarked_texts: usize,
    /// Tokens per generated text.
    #[arg(long, default_value_t = 200)]
    pub text_tokens: usize,
    #[command(flatten)]
    pub green: GreenListFlags,
    /// Seed of the attacks' randomness and of text sampling.
    #[arg(long, default_value_t = assay_metrics::stats::DEFAULT_SEED)]
    pub seed: u64,
    /// Also write the tables as Markdown here.
    #[arg(short, long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub common: Common,
}

/// The green-list watermark's settings (the defaults: the paper's γ = 0.25, δ = 2, and the
/// reference code's hash key and z threshold).
#[derive(Args, Debug, Clone)]
pub struct GreenListFlags {
    /// The key seeding every green list (green list after token t: seeded by key · t).
    #[arg(long, default_value_t = assay_provenance::watermark::green_list::REFERENCE_KEY)]
    pub key: u64,
    /// Fraction of the vocabulary that is green.
    #[arg(long, default_value_t = 0.25)]
    pub gamma: f64,
    /// Logit bias of green tokens while generating.
    #[arg(long, default_value_t = 2.0)]
    pub delta: f64,
    /// z above which a text is called watermarked.
    #[arg(long, default_value_t = 4.0)]
    pub z_threshold: f64,
}

#[derive(Args, Debug)]
pub struct WatermarkGenerateArgs {
    /// Language model: a Hugging Face folder (e.g. the bundled `reference/weights/ar`), or a
    /// hub id ORG/NAME found in $ASSAY_HOME/models/NAME/ or the hub cache.
    #[arg(long, value_name = "DIR|ORG/NAME")]
    pub model: String,
    /// Prompts: a text file (one per line; an empty line starts from BOS alone) or
    /// FILE:COLUMN of a .jsonl/.csv/.parquet.
    #[arg(long, value_name = "FILE[:COLUMN]")]
    pub prompts: String,
    /// Where the generated texts go (.jsonl: prompt, text, tokens, z); never over a file.
    #[arg(short, long, value_name = "FILE")]
    pub out: std::path::PathBuf,
    #[arg(long, default_value_t = 200)]
    pub max_new_tokens: usize,
    /// Sampling temperature (0: greedy).
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f64,
    /// Seed of the sampling.
    #[arg(long, default_value_t = assay_metrics::stats::DEFAULT_SEED)]
    pub seed: u64,
    /// Sample without the watermark (the unwatermarked control).
    #[arg(long)]
    pub no_watermark: bool,
    /// Stop a text at the model's end-of-text token.
    #[arg(long)]
    pub stop_at_eos: bool,
    /// Put the model's BOS token in front of every prompt.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "true|false")]
    pub add_bos: bool,
    /// cpu, cuda or cuda:N (a build with `--features cuda`), or auto.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    #[command(flatten)]
    pub green: GreenListFlags,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug)]
pub struct WatermarkDetectTextArgs {
    /// The tokenizer: a model folder holding tokenizer.json, or the tokenizer.json file.
    #[arg(long, value_name = "DIR|FILE")]
    pub tokenizer: std::path::PathBuf,
    /// Texts: a text file (one per line) or FILE:COLUMN of a .jsonl/.csv/.parquet.
    #[arg(long, value_name = "FILE[:COLUMN]")]
    pub input: String,
    /// Also find the most watermarked window of this many scored tokens (0: none); its
    /// p-value is corrected for the number of windows tried.
    #[arg(long, default_value_t = 50)]
    pub window: usize,
    /// Texts with fewer scored tokens get no verdict (their z means little).
    #[arg(long, default_value_t = 16)]
    pub min_tokens: usize,
    #[command(flatten)]
    pub green: GreenListFlags,
    #[command(flatten)]
    pub common: Common,
}

/// Signature algorithms.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignAlgArg {
    Es256,
    Ps256,
    Ed25519,
}

#[derive(Subcommand, Debug)]
pub enum ProvenanceCommand {
    /// Sign copies of files with a C2PA manifest saying a trained model made them.
    Sign(Box<ProvenanceSignArgs>),
    /// Verify the C2PA manifests of files (exit 1 when any fails validation).
    Verify(ProvenanceVerifyArgs),
    /// Print a file's C2PA manifest store as JSON.
    Inspect {
        #[arg(value_name = "IN")]
        input: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Make a local TEST CA and signing certificate and key (untrusted; for trying things out).
    Keygen {
        #[arg(short, long, value_name = "DIR")]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "es256")]
        alg: SignAlgArg,
        /// Days the certificates are valid.
        #[arg(long, default_value_t = 365)]
        days: i64,
        #[command(flatten)]
        common: Common,
    },
    /// Re-hash every input of a results document (--json output) and report what changed,
    /// and verify its detached signature when it has one (exit 1 if any input changed or the
    /// signature fails).
    Check(ProvenanceCheckArgs),
    /// Sign a results document with a detached signature (COSE_Sign1, RESULTS.json.cose) that
    /// `check` verifies.
    SignResults(ProvenanceSignResultsArgs),
}

#[derive(Args, Debug)]
pub struct ProvenanceCheckArgs {
    #[arg(value_name = "RESULTS.json")]
    pub results: PathBuf,
    /// Its detached signature (default: RESULTS.json.cose when that file exists).
    #[arg(long, value_name = "SIG")]
    pub signature: Option<PathBuf>,
    #[command(flatten)]
    pub trust: TrustArgs,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug)]
pub struct ProvenanceSignResultsArgs {
    #[arg(value_name = "RESULTS.json")]
    pub results: PathBuf,
    #[command(flatten)]
    pub signer: SignerArgs,
    /// Where to write the signature (default: RESULTS.json.cose; never over a file).
    #[arg(short, long, value_name = "SIG")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug)]
pub struct ProvenanceSignArgs {
    /// Files or folders (JPEG, PNG, WebP, WAV, TIFF, GIF, MP4).
    #[arg(required = true, value_name = "IN")]
    pub inputs: Vec<PathBuf>,
    /// Folder for the signed copies (never over a file).
    #[arg(short, long, value_name = "OUTDIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub signer: SignerArgs,
    /// Name of the generating model.
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long)]
    pub model_version: Option<String>,
    /// The prompt (its sha256 goes into the manifest).
    #[arg(long, value_name = "FILE")]
    pub prompt_file: Option<PathBuf>,
    /// An evaluation results document (its sha256 goes into the manifest).
    #[arg(long, value_name = "RESULTS.json")]
    pub results: Option<PathBuf>,
    /// Watermark images first (assay scheme), then sign, so the manifest covers the marked pixels.
    #[arg(long, requires_all = ["watermark_key", "watermark_payload"])]
    pub watermark: bool,
    #[arg(long, value_name = "K")]
    pub watermark_key: Option<String>,
    #[arg(long, value_name = "HEX8")]
    pub watermark_payload: Option<String>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug)]
pub struct ProvenanceVerifyArgs {
    #[arg(required = true, value_name = "IN")]
    pub inputs: Vec<PathBuf>,
    #[command(flatten)]
    pub trust: TrustArgs,
    #[command(flatten)]
    pub common: Common,
}

/// The signing credentials, for `sign` and `sign-results`.
#[derive(Args, Debug)]
pub struct SignerArgs {
    /// Certificate chain, PEM: the signing certificate first (not self-signed).
    #[arg(long, value_name = "CHAIN.pem")]
    pub cert: PathBuf,
    /// The signing certificate's private key, PEM.
    #[arg(long, value_name = "KEY.pem")]
    pub key: PathBuf,
    #[arg(long, value_enum, default_value = "es256")]
    pub alg: SignAlgArg,
    /// A timestamp authority (none by default: no network).
    #[arg(long)]
    pub tsa_url: Option<String>,
}

/// Which signers to trust, for `verify` and `check`.
#[derive(Args, Debug)]
pub struct TrustArgs {
    /// Fail what is not signed by a signer that chains to --trust-anchors.
    #[arg(long, requires = "trust_anchors")]
    pub require_trusted: bool,
    /// PEM bundle of trusted root certificates.
    #[arg(long, value_name = "PEM")]
    pub trust_anchors: Option<PathBuf>,
}
