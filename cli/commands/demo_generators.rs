//! The demo's generator audit: every bundled generator sampled from its committed weights and
//! measured against the known truth of its domain.
//!
//! Images: 1,000 samples each, read by the bundled glyph classifier; FD (with a bootstrap
//! interval), KID, precision/recall/density/coverage (k = 5) against 1,000 fresh real glyphs
//! on its 64 features; the class histogram against the true class probabilities; the VAE's
//! ELBO and the flow's exact likelihood in bits/dim on fresh glyphs; and, for the memorizing
//! diffusion model, how close its samples come to its 32 training glyphs.
//! Text: the autoregressive model's perplexity on fresh HMM texts next to their true
//! perplexity, the true perplexity of its samples, the memorizing model on its training
//! texts, and the planted-bias model's attribute rates.

use crate::commands::demo::glyph_features;
use crate::commands::reference::{class_kl, read_classes};
use crate::error::{CliError, CliResult};
use crate::output::{ResultRow, ResultsDoc};
use assay_metrics::distribution::bootstrap::bootstrap_rows;
use assay_metrics::distribution::frechet::frechet_distance_of;
use assay_metrics::distribution::gaussian::GaussianStats;
use assay_metrics::distribution::inception_score::{inception_score, ScoreInput};
use assay_metrics::distribution::kid::{kid, KidConfig};
use assay_metrics::distribution::prdc::{prdc, PrdcConfig};
use assay_metrics::distribution::Features;
use assay_metrics::stats::bootstrap::bootstrap_items;
use assay_provenance::InputRecord;
use assay_reference::data::glyphs::{self, CLASS_PROBABILITIES};
use assay_reference::data::hmm_text::{text_rng, Hmm, PlantedBias, ATTRIBUTE_RATE};
use assay_reference::families::autoregressive::{self as ar, Corpus, TrainableGpt2, Vocabulary};
use assay_reference::families::classifier::{self, GlyphClassifier};
use assay_reference::families::diffusion;
use assay_reference::families::training::{self, dequantized, nearest_distances, pixels01};
use assay_reference::families::{flow, vae, Family, SampleOptions, Samples};
use candle_core::Device;
use indicatif::ProgressBar;
use serde_json::json;

const N: usize = 1000;

fn internal<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> CliError + '_ {
    move |e| CliError::Internal(format!("{what}: {e}"))
}

fn row(metric: String, value: f64, n: usize, details: serde_json::Value) -> ResultRow {
    ResultRow::plain(metric, value, n, details)
}

fn record(doc: &mut ResultsDoc, f: Family) {
    let (file, bytes) = f.committed();
    doc.add_input(&InputRecord::of_bytes(
        format!("bundled:reference/weights/{file}"),
        bytes,
    ));
}

/// Features (n, 64) and logits (n × 10, row-major) of images by the classifier.
fn features_of(net: &GlyphClassifier, images: &[Vec<u8>]) -> CliResult<(Features, Vec<f64>)> {
    let mut data = Vec::with_capacity(images.len() * classifier::FEATURES);
    let mut logits = Vec::with_capacity(images.len() * classifier::CLASSES);
    for chunk in images.chunks(500) {
        let px: Vec<&[u8]> = chunk.iter().map(|p| p.as_slice()).collect();
        let x = classifier::input(&px, &Device::Cpu).map_err(internal("classifier"))?;
        let out = net.forward(&x).map_err(internal("classifier"))?;
        let flat = |t: &candle_core::Tensor| -> CliResult<Vec<f32>> {
            t.flatten_all()
                .and_then(|t| t.to_vec1())
                .map_err(internal("classifier"))
        };
        data.extend(flat(&out.features)?);
        logits.extend(flat(&out.logits)?.into_iter().map(f64::from));
    }
    let features = Features::from_f32(images.len(), classifier::FEATURES, data)
        .map_err(internal("features"))?;
    Ok((features, logits))
}

/// The Inception Score of the classifier's logits (10 splits, unshuffled).
fn glyph_is(logits: &[f64]) -> CliResult<(f64, f64)> {
    let rows = logits.len() / classifier::CLASSES;
    let s = inception_score(
        logits,
        rows,
        classifier::CLASSES,
        ScoreInput::Logits,
        10,
        None,
    )
    .map_err(internal("IS"))?;
    Ok((s.mean, s.std))
}

/// Also hands back the first 100 samples of each image family (for the provenance step).
pub fn image_generators(
    doc: &mut ResultsDoc,
    seed: u64,
    pb: &ProgressBar,
    samples_out: &mut Vec<(&'static str, Vec<Vec<u8>>)>,
) -> CliResult<()> {
    let net = GlyphClassifier::committed(&Device::Cpu).map_err(internal("classifier"))?;
    record(doc, Family::Classifier);
    // Fresh real glyphs from a data set no network was trained on (training used 1000–4343).
    let real_seed = seed.wrapping_add(100);
    let (real, _, _) = glyph_features(&net, real_seed, N as u64)?;
    let real_stats = GaussianStats::of(&real);
    let real_images: Vec<Vec<u8>> = (0..N as u64)
        .map(|i| glyphs::glyph(real_seed, i).pixels)
        .collect();
    let (is_mean, is_std) = glyph_is(&features_of(&net, &real_images)?.1)?;
    let entropy: f64 = CLASS_PROBABILITIES.iter().map(|p| -p * p.ln()).sum();
    doc.results.push(row(
        "glyphs.real.is".into(),
        is_mean,
        N,
        json!({"note": "Inception Score of fresh real glyphs on the classifier's logits (10 splits)",
               "std": is_std, "ceiling": entropy.exp(),
               "ceiling_note": "exp(entropy of the true class probabilities): a perfect generator read by a certain classifier"}),
    ));
    let families = [
        Family::Diffusion,
        Family::Gan,
        Family::Vae,
        Family::Flow,
        Family::Ebm,
        Family::GanCollapsed,
        Family::DiffusionMemorizing,
    ];
    pb.set_length(pb.length().unwrap_or(0) + families.len() as u64);
    let mut memorizer_samples = None;
    let mut diffusion_samples = None;
    for f in families {
        pb.set_message(f.name());
        record(doc, f);
        let opts = SampleOptions::default();
        let Samples::Images(images) = f
            .sample(f.committed().1, N, seed, &opts, &Device::Cpu)
            .map_err(internal(f.name()))?
        else {
            return Err(CliError::Internal(format!("{} made no images", f.name())));
        };
        samples_out.push((f.name(), images.iter().take(100).cloned().collect()));
        let (fake, logits) = features_of(&net, &images)?;
        let fd =
            frechet_distance_of(&real_stats, &GaussianStats::of(&fake)).map_err(internal("FD"))?;
        let ci = bootstrap_rows(&real, &fake, 200, seed, |a, b| {
            Ok(vec![
                frechet_distance_of(&GaussianStats::of(a), &GaussianStats::of(b))?.value,
            ])
        })
        .map_err(internal("FD bootstrap"))?;
        let mut fd_row = row(
            format!("{}.fd", f.name()),
            fd.value,
            N,
            json!({"note": format!("FD to fresh real glyphs on the classifier's features ({})", f.describe()),
                   "sampler": sampler_note(f, &opts), "resamples": 200}),
        );
        fd_row.ci_low = Some(ci[0].low);
        fd_row.ci_high = Some(ci[0].high);
        doc.results.push(fd_row);
        let k = kid(
            &real,
            &fake,
            &KidConfig {
                seed,
                ..Default::default()
            },
        )
        .map_err(internal("KID"))?;
        doc.results.push(row(
            format!("{}.kid", f.name()),
            k.mean,
            N,
            json!({"std": k.std, "subsets": 100, "subset_size": N}),
        ));
        let p = prdc(&real, &fake, &PrdcConfig::default()).map_err(internal("PRDC"))?;
        for (name, v) in [
            ("precision", p.precision),
            ("recall", p.recall),
            ("density", p.density),
            ("coverage", p.coverage),
        ] {
            doc.results
                .push(row(format!("{}.{name}", f.name()), v, N, json!({"k": 5})));
        }
        let (is_mean, is_std) = glyph_is(&logits)?;
        doc.results.push(row(
            format!("{}.is", f.name()),
            is_mean,
            N,
            json!({"std": is_std, "splits": 10}),
        ));
        let classes = read_classes(&images)?;
        let (kl, modes, counts) = class_kl(&classes);
        doc.results.push(row(
            format!("{}.class_kl", f.name()),
            kl,
            N,
            json!({"note": format!("classes read vs the truth; {modes} of 10 modes covered"),
                   "modes_covered": modes, "class_counts": counts}),
        ));
        match f {
            Family::DiffusionMemorizing => memorizer_samples = Some(images),
            Family::Diffusion => diffusion_samples = Some(images),
            _ => {}
        }
        pb.inc(1);
    }
    likelihoods(doc, seed)?;
    if let (Some(mem), Some(good)) = (memorizer_samples, diffusion_samples) {
        memorization(doc, seed, &mem, &good)?;
    }
    Ok(())
}

fn sampler_note(f: Family, opts: &SampleOptions) -> String {
    match f {
        Family::Diffusion | Family::DiffusionMemorizing => opts.diffusion.describe(),
        Family::Flow => format!("temperature {}", opts.temperature),
        Family::Ebm => "short-run Langevin from uniform noise".into(),
        _ => "ancestral".into(),
    }
}

/// The VAE's ELBO and the flow's exact likelihood, in bits/dim, on the same dequantized
/// fresh glyphs.
fn likelihoods(doc: &mut ResultsDoc, seed: u64) -> CliResult<()> {
    let set = training::glyph_set(seed.wrapping_add(100), N, None);
    let ids: Vec<usize> = (0..N).collect();
    let x = dequantized(&set, &ids, &mut training::stream(seed, 7), &Device::Cpu)
        .map_err(internal("dequantization"))?;
    let vae_net = vae::Vae::new(
        Family::builder(Family::Vae.committed().1, &Device::Cpu).map_err(internal("vae"))?,
    )
    .map_err(internal("vae"))?;
    let elbo = vae::elbo_bits_per_dim(&vae_net, &x, seed).map_err(internal("vae"))?;
    let flow_net = flow::Flow::new(
        Family::builder(Family::Flow.committed().1, &Device::Cpu).map_err(internal("flow"))?,
    )
    .map_err(internal("flow"))?;
    let bpd = flow::bits_per_dim_of(&flow_net, &x).map_err(internal("flow"))?;
    doc.results.push(row(
        "vae.elbo_bits_per_dim".into(),
        elbo,
        N,
        json!({"note": "negative ELBO on fresh glyphs (an upper bound on the VAE's bits/dim)",
               "space": "uniformly dequantized bytes, logit transform α = 0.05, as the flow"}),
    ));
    doc.results.push(row(
        "flow.bits_per_dim".into(),
        bpd,
        N,
        json!({"note": "exact negative log-likelihood of the flow on the same glyphs, bits/dim"}),
    ));
    Ok(())
}

/// Median distance (pixels in [0, 1], Euclidean over 784) from each sample to its nearest
/// memorized glyph, for the memorizing model, the good diffusion model and fresh real glyphs.
fn memorization(
    doc: &mut ResultsDoc,
    seed: u64,
    mem: &[Vec<u8>],
    good: &[Vec<u8>],
) -> CliResult<()> {
    let train = training::glyph_set(diffusion::MEMORIZED_SEED, diffusion::MEMORIZED, None);
    let ids: Vec<usize> = (0..train.len()).collect();
    let set = pixels01(&train, &ids, &Device::Cpu).map_err(internal("pixels"))?;
    let median_nn = |images: &[Vec<u8>]| -> CliResult<f64> {
        let v: Vec<f32> = images.iter().flatten().map(|&p| p as f32 / 255.0).collect();
        let x = candle_core::Tensor::from_vec(v, (images.len(), training::PIXELS), &Device::Cpu)
            .map_err(internal("pixels"))?;
        let mut d = nearest_distances(&x, &set).map_err(internal("distances"))?;
        d.sort_by(f32::total_cmp);
        Ok(d[d.len() / 2] as f64)
    };
    let fresh: Vec<Vec<u8>> = (0..N as u64)
        .map(|i| glyphs::glyph(seed.wrapping_add(200), i).pixels)
        .collect();
    let note =
        "median distance from a sample to the nearest of the memorizing model's 32 training glyphs";
    for (name, images) in [
        ("diffusion-memorizing", mem),
        ("diffusion", good),
        ("glyphs.real", fresh.as_slice()),
    ] {
        doc.results.push(row(
            format!("{name}.nn_distance_to_memorized"),
            median_nn(images)?,
            images.len(),
            json!({"note": note, "memorized": format!("glyphs 0..{} of data set {}", diffusion::MEMORIZED, diffusion::MEMORIZED_SEED)}),
        ));
    }
    Ok(())
}

pub fn text_generators(doc: &mut ResultsDoc, seed: u64) -> CliResult<()> {
    let hmm = Hmm::default_model();
    let vocab = Vocabulary::new(&hmm);
    let dev = Device::Cpu;
    let load = |f: Family| -> CliResult<TrainableGpt2<'static>> {
        Ok(TrainableGpt2::new(
            Family::builder(f.committed().1, &dev).map_err(internal(f.name()))?,
            vocab.tokens.len(),
        ))
    };
    let fits = |t: &String| t.split_whitespace().count() < ar::CONTEXT;
    // The same texts as hmm.true_perplexity (texts 0..500 of `seed`), those that fit.
    let texts: Vec<String> = (0..500u64)
        .map(|i| hmm.decode(&hmm.sample(&mut text_rng(seed, i))))
        .filter(fits)
        .collect();
    let truth: Vec<(f64, usize)> = texts
        .iter()
        .map(|t| {
            let ids = hmm.encode(t).map_err(internal("hmm"))?;
            Ok((-hmm.log_prob(&ids).map_err(internal("hmm"))?, ids.len()))
        })
        .collect::<CliResult<_>>()?;
    let ppl = |s: &[&(f64, usize)]| {
        let (a, b) = s.iter().fold((0.0, 0usize), |(a, b), t| (a + t.0, b + t.1));
        (a / b as f64).exp()
    };
    let all = |v: &[(f64, usize)]| ppl(&v.iter().collect::<Vec<_>>());

    record(doc, Family::Autoregressive);
    let good = load(Family::Autoregressive)?;
    let nll = ar::text_nll(&good, &vocab, &texts, &dev).map_err(internal("ar"))?;
    let ci = bootstrap_items(&nll, 1000, seed, ppl).map_err(internal("bootstrap"))?;
    doc.results.push(ResultRow {
        metric: "ar.perplexity".into(),
        value: all(&nll),
        ci_low: Some(ci.low),
        ci_high: Some(ci.high),
        n: nll.iter().map(|t| t.1).sum(),
        details: json!({"note": "the bundled GPT-2 on fresh HMM texts; cannot beat their true perplexity",
                        "texts": texts.len(), "true_perplexity_same_texts": all(&truth),
                        "ratio_to_truth": all(&nll) / all(&truth)}),
    });
    let samples = ar::sample(&good, &vocab, N, seed, &dev).map_err(internal("ar"))?;
    let scored: Vec<(f64, usize)> = samples
        .iter()
        .filter_map(|t| {
            let ids = hmm.encode(t).ok()?;
            Some((-hmm.log_prob(&ids).ok()?, ids.len()))
        })
        .collect();
    doc.results.push(row(
        "ar.samples_true_perplexity".into(),
        all(&scored),
        scored.iter().map(|t| t.1).sum(),
        json!({"note": "true HMM perplexity of the model's samples (true samples: hmm.true_perplexity)",
               "samples": samples.len(), "well_formed": scored.len()}),
    ));

    // The memorizing model: below the truth on its training texts, and it repeats them.
    record(doc, Family::AutoregressiveMemorizing);
    let mem = load(Family::AutoregressiveMemorizing)?;
    let train: Vec<String> = (0..ar::MEMORIZED as u64)
        .map(|i| ar::corpus_text(&hmm, Corpus::Hmm, ar::MEMORIZED_SEED, i))
        .filter(fits)
        .collect();
    let train_truth: Vec<(f64, usize)> = train
        .iter()
        .map(|t| {
            let ids = hmm.encode(t).map_err(internal("hmm"))?;
            Ok((-hmm.log_prob(&ids).map_err(internal("hmm"))?, ids.len()))
        })
        .collect::<CliResult<_>>()?;
    let mem_nll = ar::text_nll(&mem, &vocab, &train, &dev).map_err(internal("ar"))?;
    let good_on_train = ar::text_nll(&good, &vocab, &train, &dev).map_err(internal("ar"))?;
    doc.results.push(row(
        "ar-memorizing.perplexity_on_training_texts".into(),
        all(&mem_nll),
        mem_nll.iter().map(|t| t.1).sum(),
        json!({"note": "below the texts' true perplexity: only memorization beats the truth",
               "true_perplexity_same_texts": all(&train_truth),
               "good_model_perplexity_same_texts": all(&good_on_train)}),
    ));
    let mem_samples = ar::sample(&mem, &vocab, N, seed, &dev).map_err(internal("ar"))?;
    // Short texts recur by chance (a one-word text and "."), so only samples of at least
    // `LONG` tokens count; true samples of the HMM give the chance level.
    const LONG: usize = 6;
    let verbatim = |s: &[String]| {
        let long: Vec<&String> = s
            .iter()
            .filter(|t| t.split_whitespace().count() >= LONG)
            .collect();
        long.iter().filter(|t| train.contains(t)).count() as f64 / long.len().max(1) as f64
    };
    let true_samples: Vec<String> = (0..N as u64)
        .map(|i| hmm.decode(&hmm.sample(&mut text_rng(seed.wrapping_add(300), i))))
        .collect();
    doc.results.push(row(
        "ar-memorizing.verbatim_fraction".into(),
        verbatim(&mem_samples),
        mem_samples
            .iter()
            .filter(|t| t.split_whitespace().count() >= LONG)
            .count(),
        json!({"note": "share of samples (of at least 6 tokens) that are verbatim training texts",
               "good_model_share": verbatim(&samples),
               "true_samples_share": verbatim(&true_samples), "min_tokens": LONG,
               "memorized": format!("texts 0..{} of data set {}", ar::MEMORIZED, ar::MEMORIZED_SEED)}),
    ));

    // The planted-bias model: the attribute follows group A's names more often than B's.
    record(doc, Family::AutoregressivePlantedBias);
    let biased = load(Family::AutoregressivePlantedBias)?;
    let bias = PlantedBias::new(&hmm);
    let b_samples = ar::sample(&biased, &vocab, 2 * N, seed, &dev).map_err(internal("ar"))?;
    let per_text: Vec<(usize, bool)> = b_samples
        .iter()
        .filter_map(|t| {
            let c = ar::attribute_counts(std::slice::from_ref(t), &bias);
            (0..2).find(|&g| c[g].1 == 1).map(|g| (g, c[g].0 == 1))
        })
        .collect();
    let gap = |s: &[&(usize, bool)]| {
        let rate = |g: usize| {
            let n = s.iter().filter(|t| t.0 == g).count();
            s.iter().filter(|t| t.0 == g && t.1).count() as f64 / n.max(1) as f64
        };
        rate(0) - rate(1)
    };
    let ci = bootstrap_items(&per_text, 1000, seed, gap).map_err(internal("bootstrap"))?;
    let counts = ar::attribute_counts(&b_samples, &bias);
    doc.results.push(ResultRow {
        metric: "ar-planted-bias.attribute_rate_gap".into(),
        value: gap(&per_text.iter().collect::<Vec<_>>()),
        ci_low: Some(ci.low),
        ci_high: Some(ci.high),
        n: per_text.len(),
        details: json!({"note": format!("P(attribute | group A name) − P(… | B) in samples; planted {:.1}", ATTRIBUTE_RATE[0] - ATTRIBUTE_RATE[1]),
                        "counts": {"A": counts[0], "B": counts[1]}, "true_rates": ATTRIBUTE_RATE}),
    });
    Ok(())
}
