//! The Porter stemmer exactly as rouge_score applies it: NLTK's `PorterStemmer` in its
//! default `NLTK_EXTENSIONS` mode (Porter 1980 plus Martin Porter's and NLTK's changes).
//!
//! It works on ASCII lowercase words, which is all rouge_score's tokenizer can produce.
//! Words with other characters are returned unchanged.

/// Irregular forms NLTK maps before running the steps.
const IRREGULAR: &[(&str, &str)] = &[
    ("sky", "sky"),
    ("skies", "sky"),
    ("dying", "die"),
    ("lying", "lie"),
    ("tying", "tie"),
    ("news", "news"),
    ("innings", "inning"),
    ("inning", "inning"),
    ("outings", "outing"),
    ("outing", "outing"),
    ("cannings", "canning"),
    ("canning", "canning"),
    ("howe", "howe"),
    ("proceed", "proceed"),
    ("exceed", "exceed"),
    ("succeed", "succeed"),
];

fn is_vowel(b: u8) -> bool {
    matches!(b, b'a' | b'e' | b'i' | b'o' | b'u')
}

/// Consonant flag of every letter: 'y' is a consonant at the start or after a vowel.
fn consonant_flags(w: &[u8]) -> Vec<bool> {
    let mut flags: Vec<bool> = Vec::with_capacity(w.len());
    for (i, &b) in w.iter().enumerate() {
        let c = if is_vowel(b) {
            false
        } else if b == b'y' {
            i == 0 || !flags[i - 1]
        } else {
            true
        };
        flags.push(c);
    }
    flags
}

fn is_consonant(w: &[u8], i: usize) -> bool {
    consonant_flags(&w[..=i])[i]
}

/// m in [C](VC){m}[V]: the number of vowel-to-consonant transitions.
fn measure(w: &[u8]) -> usize {
    let f = consonant_flags(w);
    f.windows(2).filter(|p| !p[0] && p[1]).count()
}

fn contains_vowel(w: &[u8]) -> bool {
    consonant_flags(w).iter().any(|&c| !c)
}

fn ends_double_consonant(w: &[u8]) -> bool {
    let n = w.len();
    n >= 2 && w[n - 1] == w[n - 2] && is_consonant(w, n - 1)
}

/// *o: ends consonant-vowel-consonant, the last not w, x or y; NLTK also accepts a
/// two-letter vowel-consonant word.
fn ends_cvc(w: &[u8]) -> bool {
    let n = w.len();
    (n >= 3
        && is_consonant(w, n - 3)
        && !is_consonant(w, n - 2)
        && is_consonant(w, n - 1)
        && !matches!(w[n - 1], b'w' | b'x' | b'y'))
        || (n == 2 && !is_consonant(w, 0) && is_consonant(w, 1))
}

enum Cond {
    Always,
    MeasureGt0,
    MeasureGt1,
    /// step 4's ION rule: m > 1 and the stem ends in s or t.
    MeasureGt1EndsST,
    /// step 2's LOGI rule: m > 0 for the stem followed by "l".
    LogiStem,
}

impl Cond {
    fn holds(&self, stem: &[u8]) -> bool {
        match self {
            Cond::Always => true,
            Cond::MeasureGt0 => measure(stem) > 0,
            Cond::MeasureGt1 => measure(stem) > 1,
            Cond::MeasureGt1EndsST => measure(stem) > 1 && matches!(stem.last(), Some(b's' | b't')),
            Cond::LogiStem => measure(&[stem, b"l"].concat()) > 0,
        }
    }
}

/// The first rule whose suffix matches decides: it applies if its condition holds,
/// otherwise the word is left as it is (later rules are not tried).
fn apply_rules(w: Vec<u8>, rules: &[(&str, &str, Cond)]) -> Vec<u8> {
    for (suffix, repl, cond) in rules {
        if w.ends_with(suffix.as_bytes()) {
            let stem = &w[..w.len() - suffix.len()];
            if cond.holds(stem) {
                let mut out = stem.to_vec();
                out.extend_from_slice(repl.as_bytes());
                return out;
            }
            return w;
        }
    }
    w
}

fn replace_suffix(w: &[u8], suffix_len: usize, repl: &str) -> Vec<u8> {
    let mut out = w[..w.len() - suffix_len].to_vec();
    out.extend_from_slice(repl.as_bytes());
    out
}

fn step1a(w: Vec<u8>) -> Vec<u8> {
    if w.ends_with(b"ies") && w.len() == 4 {
        return replace_suffix(&w, 3, "ie");
    }
    apply_rules(
        w,
        &[
            ("sses", "ss", Cond::Always),
            ("ies", "i", Cond::Always),
            ("ss", "ss", Cond::Always),
            ("s", "", Cond::Always),
        ],
    )
}

fn step1b(w: Vec<u8>) -> Vec<u8> {
    if w.ends_with(b"ied") {
        return replace_suffix(&w, 3, if w.len() == 4 { "ie" } else { "i" });
    }
    if w.ends_with(b"eed") {
        let stem = &w[..w.len() - 3];
        return if measure(stem) > 0 {
            replace_suffix(&w, 3, "ee")
        } else {
            w
        };
    }
    let mut stem = None;
    for suffix in [&b"ed"[..], &b"ing"[..]] {
        if w.ends_with(suffix) {
            let s = &w[..w.len() - suffix.len()];
            if contains_vowel(s) {
                stem = Some(s.to_vec());
                break;
            }
        }
    }
    let Some(stem) = stem else { return w };
    for (suffix, repl) in [("at", "ate"), ("bl", "ble"), ("iz", "ize")] {
        if stem.ends_with(suffix.as_bytes()) {
            return replace_suffix(&stem, suffix.len(), repl);
        }
    }
    if ends_double_consonant(&stem) {
        let last = stem[stem.len() - 1];
        return if matches!(last, b'l' | b's' | b'z') {
            stem
        } else {
            stem[..stem.len() - 1].to_vec()
        };
    }
    if measure(&stem) == 1 && ends_cvc(&stem) {
        let mut out = stem;
        out.push(b'e');
        return out;
    }
    stem
}

fn step1c(w: Vec<u8>) -> Vec<u8> {
    // NLTK: y -> i only after a consonant, and not when the stem is that consonant alone.
    if w.ends_with(b"y") {
        let stem = &w[..w.len() - 1];
        if stem.len() > 1 && is_consonant(stem, stem.len() - 1) {
            return replace_suffix(&w, 1, "i");
        }
    }
    w
}

fn step2(w: Vec<u8>) -> Vec<u8> {
    if w.ends_with(b"alli") && measure(&w[..w.len() - 4]) > 0 {
        return step2(replace_suffix(&w, 4, "al"));
    }
    let mut rules: Vec<(&str, &str, Cond)> = STEP2
        .iter()
        .map(|&(s, r)| (s, r, Cond::MeasureGt0))
        .collect();
    rules.push(("fulli", "ful", Cond::MeasureGt0));
    // NLTK tests `logi` on the word less "ogi" (the stem plus its "l").
    rules.push(("logi", "log", Cond::LogiStem));
    apply_rules(w, &rules)
}

const STEP2: &[(&str, &str)] = &[
    ("ational", "ate"),
    ("tional", "tion"),
    ("enci", "ence"),
    ("anci", "ance"),
    ("izer", "ize"),
    ("bli", "ble"),
    ("alli", "al"),
    ("entli", "ent"),
    ("eli", "e"),
    ("ousli", "ous"),
    ("ization", "ize"),
    ("ation", "ate"),
    ("ator", "ate"),
    ("alism", "al"),
    ("iveness", "ive"),
    ("fulness", "ful"),
    ("ousness", "ous"),
    ("aliti", "al"),
    ("iviti", "ive"),
    ("biliti", "ble"),
];

fn step3(w: Vec<u8>) -> Vec<u8> {
    apply_rules(
        w,
        &[
            ("icate", "ic", Cond::MeasureGt0),
            ("ative", "", Cond::MeasureGt0),
            ("alize", "al", Cond::MeasureGt0),
            ("iciti", "ic", Cond::MeasureGt0),
            ("ical", "ic", Cond::MeasureGt0),
            ("ful", "", Cond::MeasureGt0),
            ("ness", "", Cond::MeasureGt0),
        ],
    )
}

fn step4(w: Vec<u8>) -> Vec<u8> {
    use Cond::{MeasureGt1 as M, MeasureGt1EndsST as Ion};
    apply_rules(
        w,
        &[
            ("al", "", M),
            ("ance", "", M),
            ("ence", "", M),
            ("er", "", M),
            ("ic", "", M),
            ("able", "", M),
            ("ible", "", M),
            ("ant", "", M),
            ("ement", "", M),
            ("ment", "", M),
            ("ent", "", M),
            ("ion", "", Ion),
            ("ou", "", M),
            ("ism", "", M),
            ("ate", "", M),
            ("iti", "", M),
            ("ous", "", M),
            ("ive", "", M),
            ("ize", "", M),
        ],
    )
}

fn step5a(w: Vec<u8>) -> Vec<u8> {
    if w.ends_with(b"e") {
        let stem = &w[..w.len() - 1];
        let m = measure(stem);
        if m > 1 || (m == 1 && !ends_cvc(stem)) {
            return stem.to_vec();
        }
    }
    w
}

fn step5b(w: Vec<u8>) -> Vec<u8> {
    if w.ends_with(b"ll") && measure(&w[..w.len() - 1]) > 1 {
        return w[..w.len() - 1].to_vec();
    }
    w
}

/// Stem one lowercase ASCII word as `nltk.stem.porter.PorterStemmer().stem(word)` does.
pub fn stem(word: &str) -> String {
    if !word
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return word.to_string();
    }
    if let Some(&(_, s)) = IRREGULAR.iter().find(|(w, _)| *w == word) {
        return s.to_string();
    }
    if word.len() <= 2 {
        return word.to_string();
    }
    let mut w = word.as_bytes().to_vec();
    for step in [step1a, step1b, step1c, step2, step3, step4, step5a, step5b] {
        w = step(w);
    }
    String::from_utf8(w).expect("ASCII in, ASCII out")
}

#[cfg(test)]
mod tests {
    use super::stem;

    #[test]
    fn the_papers_examples() {
        for (w, s) in [
            ("caresses", "caress"),
            ("ponies", "poni"),
            ("cats", "cat"),
            ("agreed", "agre"),
            ("plastered", "plaster"),
            ("motoring", "motor"),
            ("hopping", "hop"),
            ("falling", "fall"),
            ("filing", "file"),
            ("happy", "happi"),
            ("relational", "relat"),
            ("generalizations", "gener"),
            ("controll", "control"),
            ("running", "run"),
        ] {
            assert_eq!(stem(w), s, "{w}");
        }
    }

    #[test]
    fn nltk_extensions() {
        assert_eq!(stem("dying"), "die");
        assert_eq!(stem("ties"), "tie");
        assert_eq!(stem("enjoy"), "enjoy");
        assert_eq!(stem("cried"), "cri");
        assert_eq!(stem("analogi"), "analog");
    }
}
