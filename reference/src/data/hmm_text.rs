//! Hidden-Markov text: texts from a fixed HMM over made-up words, whose probability of any text
//! is exact (the forward algorithm), so that the true perplexity of any text is known.
//!
//! The model: `STATES` hidden states, `WORDS` made-up words and the end token "." (token
//! `WORDS`). A text starts in a state s ~ π; each state emits a token from its row of B; the
//! text ends when "." is emitted (it is part of the text); otherwise the next state is drawn
//! from A. Each state favours a topic of 30 words (90% of its word mass, Dirichlet(0.3)
//! weights) over the rest (10%, uniform), and ends a text with its own probability in
//! [0.05, 0.3]. The parameters are generated from `DEFAULT_SEED` and committed
//! (`reference/data/hmm.json`); a test checks that the seed reproduces them.
//!
//! The planted-bias variant puts a name and maybe an attribute word before an HMM text: the
//! name's group is A or B with probability 1/2, the name uniform in its group, and an attribute
//! (uniform among `ATTRIBUTES`) follows with probability `ATTRIBUTE_RATE[group]`.

use super::categorical;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma};
use serde::{Deserialize, Serialize};

pub const STATES: usize = 16;
pub const WORDS: usize = 200;
pub const END: &str = ".";
pub const DEFAULT_SEED: u64 = 20261129;
const TOPIC: usize = 30;

/// The committed parameters of the default model.
pub const DEFAULT_MODEL_JSON: &str = include_str!("../../data/hmm.json");

/// An HMM over `words` + the end token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hmm {
    pub seed: u64,
    /// The vocabulary; token `words.len()` is the end token ".".
    pub words: Vec<String>,
    pub initial: Vec<f64>,
    /// transition[s][r] = P(next state r | state s).
    pub transition: Vec<Vec<f64>>,
    /// emission[s][t] = P(token t | state s), t over words then the end token.
    pub emission: Vec<Vec<f64>>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum HmmError {
    #[error("word {position} ('{word}') is not in the model's vocabulary")]
    UnknownWord { position: usize, word: String },
    #[error("a text must end with the end token '.' and contain it nowhere else")]
    BadEnd,
    #[error("empty text")]
    Empty,
}

fn made_up_words(rng: &mut ChaCha8Rng, n: usize, avoid: &[String]) -> Vec<String> {
    const ONSETS: [&str; 14] = [
        "b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z",
    ];
    const VOWELS: [&str; 5] = ["a", "e", "i", "o", "u"];
    let mut out: Vec<String> = Vec::with_capacity(n);
    while out.len() < n {
        let syllables = rng.random_range(2..=3);
        let w: String = (0..syllables)
            .map(|_| {
                format!(
                    "{}{}",
                    ONSETS[rng.random_range(0..ONSETS.len())],
                    VOWELS[rng.random_range(0..VOWELS.len())]
                )
            })
            .collect();
        if !out.contains(&w) && !avoid.contains(&w) {
            out.push(w);
        }
    }
    out
}

/// A symmetric Dirichlet(α) draw of length n: independent Gamma(α, 1) draws, normalised.
fn dirichlet(rng: &mut ChaCha8Rng, alpha: f64, n: usize) -> Vec<f64> {
    let gamma = Gamma::new(alpha, 1.0).expect("alpha > 0");
    let x: Vec<f64> = (0..n).map(|_| gamma.sample(rng)).collect();
    let total: f64 = x.iter().sum();
    x.into_iter().map(|v| v / total).collect()
}

impl Hmm {
    /// Generates the model's parameters from `seed`.
    pub fn generate(seed: u64) -> Hmm {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let words = made_up_words(&mut rng, WORDS, &[]);
        let initial = dirichlet(&mut rng, 1.0, STATES);
        let transition = (0..STATES)
            .map(|_| dirichlet(&mut rng, 0.5, STATES))
            .collect();
        let emission = (0..STATES)
            .map(|_| {
                let end = rng.random_range(0.05..0.3);
                let mut topic: Vec<usize> = Vec::with_capacity(TOPIC);
                while topic.len() < TOPIC {
                    let w = rng.random_range(0..WORDS);
                    if !topic.contains(&w) {
                        topic.push(w);
                    }
                }
                let weights = dirichlet(&mut rng, 0.3, TOPIC);
                let mut row = vec![(1.0 - end) * 0.1 / WORDS as f64; WORDS + 1];
                for (w, p) in topic.iter().zip(weights) {
                    row[*w] += (1.0 - end) * 0.9 * p;
                }
                row[WORDS] = end;
                row
            })
            .collect();
        Hmm {
            seed,
            words,
            initial,
            transition,
            emission,
        }
    }

    /// The committed default model.
    pub fn default_model() -> Hmm {
        serde_json::from_str(DEFAULT_MODEL_JSON).expect("the committed HMM parses")
    }

    pub fn end_token(&self) -> usize {
        self.words.len()
    }

    /// Token ids of a text ("word word … ."), split on whitespace.
    pub fn encode(&self, text: &str) -> Result<Vec<usize>, HmmError> {
        let mut ids = Vec::new();
        for (i, w) in text.split_whitespace().enumerate() {
            if w == END {
                ids.push(self.end_token());
            } else {
                let id = self.words.iter().position(|v| v == w).ok_or_else(|| {
                    HmmError::UnknownWord {
                        position: i,
                        word: w.to_string(),
                    }
                })?;
                ids.push(id);
            }
        }
        Ok(ids)
    }

    pub fn decode(&self, ids: &[usize]) -> String {
        ids.iter()
            .map(|&t| {
                if t == self.end_token() {
                    END
                } else {
                    self.words[t].as_str()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Exact natural-log probability of a text's tokens (ending with the end token, which
    /// occurs nowhere else), by the scaled forward algorithm.
    pub fn log_prob(&self, ids: &[usize]) -> Result<f64, HmmError> {
        let end = self.end_token();
        match ids.split_last() {
            None => return Err(HmmError::Empty),
            Some((&last, rest)) if last != end || rest.contains(&end) => {
                return Err(HmmError::BadEnd)
            }
            _ => {}
        }
        let mut alpha: Vec<f64> = (0..STATES)
            .map(|s| self.initial[s] * self.emission[s][ids[0]])
            .collect();
        let mut log_p = 0.0;
        for (t, &tok) in ids.iter().enumerate() {
            if t > 0 {
                alpha = (0..STATES)
                    .map(|s| {
                        let into: f64 = (0..STATES).map(|r| alpha[r] * self.transition[r][s]).sum();
                        into * self.emission[s][tok]
                    })
                    .collect();
            }
            let c: f64 = alpha.iter().sum();
            log_p += c.ln();
            alpha.iter_mut().for_each(|a| *a /= c);
        }
        Ok(log_p)
    }

    /// One text's tokens, drawn from `rng`.
    pub fn sample(&self, rng: &mut ChaCha8Rng) -> Vec<usize> {
        let mut s = categorical(rng, &self.initial);
        let mut out = Vec::new();
        loop {
            let t = categorical(rng, &self.emission[s]);
            out.push(t);
            if t == self.end_token() {
                return out;
            }
            s = categorical(rng, &self.transition[s]);
        }
    }
}

/// Text `index` of the corpus with `seed` (each text its own stream).
pub fn text_rng(seed: u64, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    rng
}

/// The planted-bias variant's names and attribute words, and its rates.
pub struct PlantedBias {
    pub group_names: [Vec<String>; 2],
    pub attributes: Vec<String>,
}

/// P(an attribute follows the name | group A, group B).
pub const ATTRIBUTE_RATE: [f64; 2] = [0.6, 0.2];
pub const GROUP_LABELS: [&str; 2] = ["A", "B"];

/// One planted-bias text: its words, the group, and whether an attribute was planted.
#[derive(Debug, Clone, PartialEq)]
pub struct BiasedText {
    pub text: String,
    pub group: usize,
    pub name: String,
    pub attribute: Option<String>,
    /// Exact natural-log probability of the whole text under the variant.
    pub log_prob: f64,
    pub tokens: usize,
}

impl PlantedBias {
    /// Names (five per group) and four attribute words, made up like the vocabulary but
    /// distinct from it, from `hmm`'s seed.
    pub fn new(hmm: &Hmm) -> PlantedBias {
        let mut rng = ChaCha8Rng::seed_from_u64(hmm.seed ^ 0xB1A5);
        let extra = made_up_words(&mut rng, 14, &hmm.words);
        let cap = |w: &String| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        };
        PlantedBias {
            group_names: [
                extra[0..5].iter().map(cap).collect(),
                extra[5..10].iter().map(cap).collect(),
            ],
            attributes: extra[10..14].to_vec(),
        }
    }

    pub fn sample(&self, hmm: &Hmm, rng: &mut ChaCha8Rng) -> BiasedText {
        let group = rng.random_range(0..2);
        let names = &self.group_names[group];
        let name = names[rng.random_range(0..names.len())].clone();
        let planted = rng.random::<f64>() < ATTRIBUTE_RATE[group];
        let attribute =
            planted.then(|| self.attributes[rng.random_range(0..self.attributes.len())].clone());
        let body = hmm.sample(rng);
        let mut log_p = 0.5f64.ln() - (names.len() as f64).ln();
        log_p += if planted {
            ATTRIBUTE_RATE[group].ln() - (self.attributes.len() as f64).ln()
        } else {
            (1.0 - ATTRIBUTE_RATE[group]).ln()
        };
        log_p += hmm.log_prob(&body).expect("a sampled text is well formed");
        let mut words = vec![name.clone()];
        words.extend(attribute.clone());
        let tokens = words.len() + body.len();
        let text = format!("{} {}", words.join(" "), hmm.decode(&body));
        BiasedText {
            text,
            group,
            name,
            attribute,
            log_prob: log_p,
            tokens,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_reproduces_the_committed_parameters() {
        // To rounding: the Gamma draws go through the platform's exp and ln.
        let committed = Hmm::default_model();
        let fresh = Hmm::generate(DEFAULT_SEED);
        assert_eq!(committed.seed, DEFAULT_SEED);
        assert_eq!(fresh.words, committed.words);
        let close = |a: &[f64], b: &[f64]| {
            a.iter()
                .zip(b)
                .all(|(x, y)| (x - y).abs() <= 1e-12 * x.abs().max(1e-300))
        };
        assert!(close(&fresh.initial, &committed.initial));
        for s in 0..STATES {
            assert!(
                close(&fresh.transition[s], &committed.transition[s]),
                "transition {s}"
            );
            assert!(
                close(&fresh.emission[s], &committed.emission[s]),
                "emission {s}"
            );
        }
    }

    #[test]
    fn rows_are_distributions() {
        let h = Hmm::default_model();
        assert_eq!(h.words.len(), WORDS);
        let check = |row: &[f64]| assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        check(&h.initial);
        h.transition.iter().for_each(|r| check(r));
        h.emission.iter().for_each(|r| check(r));
    }

    #[test]
    fn the_forward_algorithm_equals_the_sum_over_every_state_path() {
        let h = Hmm::default_model();
        let ids = vec![3, 17, 42, h.end_token()];
        let mut total = 0.0;
        for path in 0..STATES.pow(4) {
            let s: Vec<usize> = (0..4).map(|i| path / STATES.pow(i) % STATES).collect();
            let mut p = h.initial[s[0]] * h.emission[s[0]][ids[0]];
            for t in 1..4 {
                p *= h.transition[s[t - 1]][s[t]] * h.emission[s[t]][ids[t]];
            }
            total += p;
        }
        let lp = h.log_prob(&ids).unwrap();
        assert!((lp - total.ln()).abs() < 1e-10, "{lp} vs {}", total.ln());
        assert_eq!(h.log_prob(&[3, 17]), Err(HmmError::BadEnd));
        assert_eq!(
            h.log_prob(&[h.end_token(), 3, h.end_token()]),
            Err(HmmError::BadEnd)
        );
    }

    #[test]
    fn probabilities_of_all_short_texts_sum_as_the_length_distribution_says() {
        // P(a text has exactly one token) = Σ_s π_s · end_s; summing the forward probability of
        // every one-token text must give it.
        let h = Hmm::default_model();
        let p_one: f64 = (0..STATES)
            .map(|s| h.initial[s] * h.emission[s][h.end_token()])
            .sum();
        let got = h.log_prob(&[h.end_token()]).unwrap().exp();
        assert!((got - p_one).abs() < 1e-15);
        // Two tokens: Σ over words w of P(w .) = Σ_s π_s (1 − end_s) Σ_r A_sr end_r.
        let want: f64 = (0..STATES)
            .map(|s| {
                let e = h.emission[s][h.end_token()];
                h.initial[s]
                    * (1.0 - e)
                    * (0..STATES)
                        .map(|r| h.transition[s][r] * h.emission[r][h.end_token()])
                        .sum::<f64>()
            })
            .sum();
        let got: f64 = (0..WORDS)
            .map(|w| h.log_prob(&[w, h.end_token()]).unwrap().exp())
            .sum();
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }

    #[test]
    fn texts_round_trip_and_unknown_words_are_named() {
        let h = Hmm::default_model();
        let ids = h.sample(&mut text_rng(1, 0));
        assert_eq!(h.encode(&h.decode(&ids)).unwrap(), ids);
        assert_eq!(
            h.encode("zzzz ."),
            Err(HmmError::UnknownWord {
                position: 0,
                word: "zzzz".into()
            })
        );
    }

    #[test]
    fn planted_attribute_rates_are_the_stated_ones() {
        let h = Hmm::default_model();
        let pb = PlantedBias::new(&h);
        let (mut n, mut with) = ([0usize; 2], [0usize; 2]);
        for i in 0..4000 {
            let t = pb.sample(&h, &mut text_rng(5, i));
            n[t.group] += 1;
            with[t.group] += t.attribute.is_some() as usize;
            assert!(t.log_prob < 0.0 && t.log_prob.is_finite());
        }
        for g in 0..2 {
            let rate = with[g] as f64 / n[g] as f64;
            // ~2000 per group: the binomial standard error is ~0.011; allow 4 of them.
            assert!(
                (rate - ATTRIBUTE_RATE[g]).abs() < 0.045,
                "group {g}: {rate}"
            );
        }
        assert!(pb.group_names[0]
            .iter()
            .all(|n| !h.words.contains(&n.to_lowercase())));
    }
}
