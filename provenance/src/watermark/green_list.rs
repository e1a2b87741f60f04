//! The green-list text watermark of Kirchenbauer et al. 2023 ("A Watermark for Large Language
//! Models"), bit-compatible with their reference code (`jwkirchenbauer/lm-watermarking`,
//! `watermark_processor.py`, seeding scheme `simple_1`):
//!
//! - the green list after token `prev` is the first ⌊γ·V⌋ entries of
//!   `torch.randperm(V, generator)` with the generator seeded by `key · prev` (key 15485863 in
//!   the reference), reproduced here exactly ([`torch_randperm`]);
//! - generation adds δ to the green tokens' logits before sampling;
//! - detection counts green tokens among every token after the first (each judged by its
//!   predecessor) and reports z = (g − γT)/√(Tγ(1 − γ)) and the one-sided p-value P(Z ≥ z).
//!
//! Detection needs the tokenizer and the key only, never the model.

use rand_mt::Mt;
use statrs::distribution::{ContinuousCDF, Normal};

/// The reference implementation's hash key.
pub const REFERENCE_KEY: u64 = 15_485_863;

/// `torch.randperm(n, generator=g)` on the CPU after `g.manual_seed(seed)`: MT19937 seeded
/// with the low 32 bits of the seed, then Fisher–Yates from the front, swapping entry i with
/// entry i + (next 32-bit draw mod (n − i)). Checked against torch in `tests/parity/`.
pub fn torch_randperm(seed: u64, n: usize) -> Vec<u32> {
    let mut mt = Mt::new(seed as u32);
    let mut r: Vec<u32> = (0..n as u32).collect();
    for i in 0..n.saturating_sub(1) {
        let z = mt.next_u32() as usize % (n - i);
        r.swap(i, i + z);
    }
    r
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GreenListConfig {
    /// Fraction of the vocabulary that is green.
    pub gamma: f64,
    /// Logit bias added to green tokens while generating.
    pub delta: f64,
    /// Seeds the green list (`key · previous token`).
    pub key: u64,
    /// z above which a text is called watermarked.
    pub z_threshold: f64,
}

impl Default for GreenListConfig {
    /// The paper's main setting (γ = 0.25, δ = 2) with the reference key and threshold 4.
    fn default() -> Self {
        GreenListConfig {
            gamma: 0.25,
            delta: 2.0,
            key: REFERENCE_KEY,
            z_threshold: 4.0,
        }
    }
}

impl GreenListConfig {
    pub fn signature(&self) -> String {
        format!(
            "kgw|seeding:simple_1|gamma:{}|delta:{}|key:{}|z:{}",
            self.gamma, self.delta, self.key, self.z_threshold
        )
    }
}

/// The green lists of one vocabulary and configuration, computed on demand.
pub struct GreenList {
    pub config: GreenListConfig,
    pub vocab_size: usize,
}

/// The detection statistics of one token sequence (or window).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub tokens_scored: usize,
    pub green: usize,
    pub green_fraction: f64,
    pub z: f64,
    /// P(Z ≥ z) under the null of no watermark.
    pub p_value: f64,
    pub watermarked: bool,
}

impl GreenList {
    pub fn new(config: GreenListConfig, vocab_size: usize) -> Result<GreenList, String> {
        if !(config.gamma > 0.0 && config.gamma < 1.0) {
            return Err(format!("gamma must lie in (0, 1), not {}", config.gamma));
        }
        if vocab_size < 2 {
            return Err(format!(
                "a vocabulary of {vocab_size} token(s) has no green list"
            ));
        }
        Ok(GreenList { config, vocab_size })
    }

    fn green_len(&self) -> usize {
        (self.vocab_size as f64 * self.config.gamma) as usize
    }

    /// The green token ids after `prev`, in the reference's order.
    pub fn green_ids(&self, prev: u32) -> Vec<u32> {
        let seed = self.config.key.wrapping_mul(prev as u64);
        let mut perm = torch_randperm(seed, self.vocab_size);
        perm.truncate(self.green_len());
        perm
    }

    /// Adds δ to the green entries of `logits` (the next token's, after `prev`).
    pub fn bias(&self, prev: u32, logits: &mut [f32]) {
        for id in self.green_ids(prev) {
            if let Some(l) = logits.get_mut(id as usize) {
                *l += self.config.delta as f32;
            }
        }
    }

    /// Whether each token after the first is green given its predecessor.
    pub fn green_flags(&self, ids: &[u32]) -> Vec<bool> {
        ids.windows(2)
            .map(|w| self.green_ids(w[0]).contains(&w[1]))
            .collect()
    }

    /// z and p-value from `green` of `scored` tokens.
    pub fn score(&self, green: usize, scored: usize) -> Detection {
        let g = self.config.gamma;
        let t = scored as f64;
        let z = if scored == 0 {
            0.0
        } else {
            (green as f64 - g * t) / (t * g * (1.0 - g)).sqrt()
        };
        let p_value = Normal::new(0.0, 1.0).expect("unit normal").sf(z);
        Detection {
            tokens_scored: scored,
            green,
            green_fraction: if scored == 0 { 0.0 } else { green as f64 / t },
            z,
            p_value,
            watermarked: scored > 0 && z > self.config.z_threshold,
        }
    }

    /// Detection over the whole sequence (the reference detector's, without its options to
    /// ignore repeated bigrams).
    pub fn detect(&self, ids: &[u32]) -> Detection {
        let flags = self.green_flags(ids);
        self.score(flags.iter().filter(|&&f| f).count(), flags.len())
    }

    /// The window of `window` scored tokens with the largest z: for a watermarked span inside
    /// unwatermarked text. Its p-value is Bonferroni-corrected for the number of windows tried,
    /// since the largest of many z-scores is not one z-score. `None` when the text has fewer
    /// scored tokens than the window.
    pub fn detect_window(&self, ids: &[u32], window: usize) -> Option<(usize, Detection)> {
        let flags = self.green_flags(ids);
        if window == 0 || flags.len() < window {
            return None;
        }
        let mut green = flags[..window].iter().filter(|&&f| f).count();
        let (mut best, mut at) = (green, 0);
        for start in 1..=flags.len() - window {
            green = green + flags[start + window - 1] as usize - flags[start - 1] as usize;
            if green > best {
                best = green;
                at = start;
            }
        }
        let mut d = self.score(best, window);
        let tries = (flags.len() - window + 1) as f64;
        d.p_value = (d.p_value * tries).min(1.0);
        d.watermarked = d.p_value < self.score_threshold_p();
        Some((at, d))
    }

    /// The single-test p-value of the z threshold (the windowed call is held to it).
    fn score_threshold_p(&self) -> f64 {
        Normal::new(0.0, 1.0)
            .expect("unit normal")
            .sf(self.config.z_threshold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn green_lists_have_gamma_v_distinct_ids_and_depend_on_the_key_and_token() {
        let gl = GreenList::new(GreenListConfig::default(), 1000).unwrap();
        let a = gl.green_ids(5);
        assert_eq!(a.len(), 250);
        let mut s = a.clone();
        s.sort();
        s.dedup();
        assert_eq!(s.len(), 250);
        assert_ne!(a, gl.green_ids(6));
        let other = GreenList::new(
            GreenListConfig {
                key: 7,
                ..Default::default()
            },
            1000,
        )
        .unwrap();
        assert_ne!(a, other.green_ids(5));
    }

    #[test]
    fn z_and_p_follow_the_binomial_normal_approximation() {
        let gl = GreenList::new(GreenListConfig::default(), 100).unwrap();
        let d = gl.score(50, 100);
        // (50 − 25)/√(100 · 0.25 · 0.75) = 25/4.330127 = 5.773503
        assert!((d.z - 5.773502691896258).abs() < 1e-12);
        assert!(d.watermarked && d.p_value < 1e-8);
        let null = gl.score(25, 100);
        assert!(null.z.abs() < 1e-12 && (null.p_value - 0.5).abs() < 1e-12);
    }

    #[test]
    fn biased_sampling_of_uniform_logits_is_detected_and_unbiased_is_not() {
        use rand::SeedableRng;
        let v = 500;
        let gl = GreenList::new(GreenListConfig::default(), v).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let draw = |ids: &mut Vec<u32>, watermark: bool, rng: &mut rand_chacha::ChaCha8Rng| {
            let mut logits = vec![0f32; v];
            if watermark {
                gl.bias(*ids.last().unwrap(), &mut logits);
            }
            ids.push(crate::watermark::sampling::sample_softmax(
                &logits, 1.0, rng,
            ));
        };
        let mut marked = vec![3u32];
        let mut plain = vec![3u32];
        for _ in 0..200 {
            draw(&mut marked, true, &mut rng);
            draw(&mut plain, false, &mut rng);
        }
        let (dm, dp) = (gl.detect(&marked), gl.detect(&plain));
        assert_eq!(dm.tokens_scored, 200);
        // δ = 2 on a flat distribution: P(green) = 0.25e²/(0.25e² + 0.75) ≈ 0.71.
        assert!(dm.z > 10.0 && dm.watermarked, "{dm:?}");
        assert!(!dp.watermarked, "{dp:?}");
        // A marked span inside plain text: the window finds it, the whole text may not.
        let mut mixed = plain[..150].to_vec();
        mixed.extend_from_slice(&marked[1..61]);
        mixed.extend_from_slice(&plain[150..]);
        let (at, dw) = gl.detect_window(&mixed, 60).unwrap();
        assert!(dw.watermarked, "{dw:?}");
        assert!((140..=160).contains(&at), "window at {at}");
    }
}

#[cfg(test)]
mod parity {
    use super::*;
    use serde_json::Value;

    fn goldens() -> Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/parity/watermark/green_list.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn ids(v: &Value) -> Vec<u32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect()
    }

    #[test]
    fn randperm_is_torch_s() {
        let g = goldens();
        for p in g["randperm"].as_array().unwrap() {
            let (seed, n) = (
                p["seed"].as_u64().unwrap(),
                p["n"].as_u64().unwrap() as usize,
            );
            let ours = torch_randperm(seed, n);
            if let Some(full) = p.get("perm") {
                assert_eq!(ours, ids(full), "seed {seed}, n {n}");
            } else {
                assert_eq!(ours[..300], ids(&p["head"])[..], "seed {seed}, n {n}");
                assert_eq!(ours[n - 300..], ids(&p["tail"])[..], "seed {seed}, n {n}");
            }
        }
    }

    /// The reference detector's green counts and z on the goldens' sequences.
    #[test]
    fn detection_matches_the_reference_code() {
        let g = goldens();
        for s in g["scores"].as_array().unwrap() {
            let cfg = GreenListConfig {
                gamma: s["gamma"].as_f64().unwrap(),
                key: s["key"].as_u64().unwrap(),
                ..Default::default()
            };
            let gl = GreenList::new(cfg, s["vocab"].as_u64().unwrap() as usize).unwrap();
            let seq = ids(&s["ids"]);
            assert_eq!(gl.green_ids(seq[0])[..20], ids(&s["green_after_first"])[..]);
            let d = gl.detect(&seq);
            assert_eq!(d.green as u64, s["green"].as_u64().unwrap());
            assert_eq!(d.tokens_scored as u64, s["scored"].as_u64().unwrap());
            assert!(
                (d.z - s["z"].as_f64().unwrap()).abs() < 1e-12,
                "{} vs {}",
                d.z,
                s["z"]
            );
        }
    }
}
