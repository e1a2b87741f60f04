//! Corpus BLEU, chrF and ROUGE-L/Lsum throughput (`cargo bench -p assay-metrics`).
//! `assay bench text` times the same on 100,000 segments from the command line.

use assay_metrics::text::bleu::{Bleu, BleuConfig};
use assay_metrics::text::chrf::{Chrf, ChrfConfig};
use assay_metrics::text::corpus_stats;
use assay_metrics::text::rouge::{Rouge, RougeConfig, RougeType};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// A deterministic corpus without a random crate: words picked by a linear congruence.
fn corpus(n: usize) -> (Vec<String>, Vec<Vec<String>>) {
    const WORDS: &[&str] = &[
        "the",
        "a",
        "of",
        "model",
        "data",
        "results",
        "system",
        "score",
        "quick",
        "brown",
        "fox",
        "jumps",
        "over",
        "lazy",
        "dog",
        "running",
        "2,000",
        "12.5%",
        "state-of-the-art",
        "café",
        ",",
        ".",
    ];
    let mut x: u64 = 12345;
    let mut next = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) as usize
    };
    let mut hyps = Vec::new();
    let mut refs = Vec::new();
    for _ in 0..n {
        let len = 5 + next() % 40;
        let r: Vec<&str> = (0..len).map(|_| WORDS[next() % WORDS.len()]).collect();
        let h: Vec<&str> = r
            .iter()
            .map(|w| {
                if next() % 7 == 0 {
                    WORDS[next() % WORDS.len()]
                } else {
                    w
                }
            })
            .collect();
        refs.push(r.join(" "));
        hyps.push(h.join(" "));
    }
    (hyps, vec![refs])
}

fn text_metrics(c: &mut Criterion) {
    let n = 10_000;
    let (hyps, refs) = corpus(n);
    let mut g = c.benchmark_group("corpus_10k_segments");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(10);
    let bleu = Bleu::new(BleuConfig::default()).unwrap();
    g.bench_function("bleu", |b| {
        b.iter(|| corpus_stats(&bleu, &hyps, &refs).unwrap().totals())
    });
    let chrf = Chrf::new(ChrfConfig::default()).unwrap();
    g.bench_function("chrf", |b| {
        b.iter(|| corpus_stats(&chrf, &hyps, &refs).unwrap().totals())
    });
    let rouge = Rouge::new(RougeConfig {
        types: vec![RougeType::L, RougeType::Lsum],
        ..Default::default()
    })
    .unwrap();
    g.bench_function("rougeL_lsum", |b| {
        b.iter(|| corpus_stats(&rouge, &hyps, &refs).unwrap().totals())
    });
    g.finish();
}

criterion_group!(benches, text_metrics);
criterion_main!(benches);
