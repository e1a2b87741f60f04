//! BLEU tokenizers, one file each, named and behaving as sacrebleu's.
//!
//! Each tokenizer turns a raw segment into a string whose whitespace-separated pieces are
//! the tokens (sacrebleu's contract), so that n-gram extraction is shared by all of them.

mod char;
mod intl;
mod none;
mod t13a;
mod zh;

pub use self::char::TokenizerChar;
pub use intl::TokenizerIntl;
pub use none::TokenizerNone;
pub use t13a::Tokenizer13a;
pub use zh::TokenizerZh;

use std::fmt;
use std::str::FromStr;

/// A BLEU tokenizer: raw segment in, space-separated tokens out.
pub trait Tokenize: Send + Sync {
    /// The name recorded in the signature (`tok:…`).
    fn signature(&self) -> &'static str;
    fn tokenize(&self, line: &str) -> String;
    /// A string with the same whitespace-separated tokens as [`Tokenize::tokenize`], whose
    /// whitespace may not be normalised; cheaper where only the tokens matter.
    fn tokenize_raw(&self, line: &str) -> String {
        self.tokenize(line)
    }
}

/// The tokenizers Assay knows, by their sacrebleu names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum TokenizerKind {
    #[default]
    #[serde(rename = "13a")]
    T13a,
    #[serde(rename = "intl")]
    Intl,
    #[serde(rename = "zh")]
    Zh,
    #[serde(rename = "char")]
    Char,
    #[serde(rename = "none")]
    None,
}

impl TokenizerKind {
    pub const ALL: [TokenizerKind; 5] = [
        TokenizerKind::T13a,
        TokenizerKind::Intl,
        TokenizerKind::Zh,
        TokenizerKind::Char,
        TokenizerKind::None,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TokenizerKind::T13a => "13a",
            TokenizerKind::Intl => "intl",
            TokenizerKind::Zh => "zh",
            TokenizerKind::Char => "char",
            TokenizerKind::None => "none",
        }
    }

    /// Build the tokenizer (compiles its regular expressions once).
    pub fn build(self) -> Box<dyn Tokenize> {
        match self {
            TokenizerKind::T13a => Box::new(Tokenizer13a::new()),
            TokenizerKind::Intl => Box::new(TokenizerIntl::new()),
            TokenizerKind::Zh => Box::new(TokenizerZh::new()),
            TokenizerKind::Char => Box::new(TokenizerChar),
            TokenizerKind::None => Box::new(TokenizerNone),
        }
    }
}

impl fmt::Display for TokenizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown tokenizer name; the message lists the known ones.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown tokenizer '{0}' (known: 13a, intl, zh, char, none)")]
pub struct UnknownTokenizer(pub String);

impl FromStr for TokenizerKind {
    type Err = UnknownTokenizer;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TokenizerKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| UnknownTokenizer(s.to_string()))
    }
}

/// The regular-expression part shared by `13a` and `zh` (sacrebleu's `TokenizerRegexp`):
///
/// 1. `([\{-~\[-`\x20-&\(-\+:-@/])` → ` \1 ` (most ASCII punctuation and symbols),
/// 2. `([^0-9])([\.,])` → `\1 \2 ` (period and comma not after a digit),
/// 3. `([\.,])([^0-9])` → ` \1 \2` (period and comma not before a digit),
/// 4. `([0-9])(-)` → `\1 \2 ` (a dash after a digit),
///
/// then whitespace collapsed. Each rule is a byte scanner with the regex engine's semantics
/// (leftmost, non-overlapping matches, applied rule after rule); this is exact on UTF-8
/// because every byte the rules look at is ASCII, and several times faster than four regex
/// passes. The regex form is kept in the tests as the oracle.
pub(crate) struct RegexpPost;

/// Bytes that rule 1 surrounds with spaces: `{|}~`, `[\]^_\``, space to `&`, `(` to `+`,
/// `:` to `@`, and `/`.
const RULE1: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] =
            matches!(c, b'{'..=b'~' | b'['..=b'`' | b' '..=b'&' | b'('..=b'+' | b':'..=b'@' | b'/');
        b += 1;
    }
    t
};

impl RegexpPost {
    pub(crate) fn new() -> Self {
        RegexpPost
    }

    fn rule1(src: &[u8], out: &mut Vec<u8>) {
        out.clear();
        let mut last = 0;
        for (i, &b) in src.iter().enumerate() {
            if RULE1[b as usize] {
                out.extend_from_slice(&src[last..i]);
                out.extend_from_slice(&[b' ', b, b' ']);
                last = i + 1;
            }
        }
        out.extend_from_slice(&src[last..]);
    }

    /// A two-byte rule whose match is anchored on a trigger byte at offset `at` (0 or 1) of
    /// the pair. Matches are found leftmost-first and do not overlap, as the regex engine's;
    /// triggers are found with memchr and untouched runs are copied whole.
    fn pair_rule(
        src: &[u8],
        out: &mut Vec<u8>,
        triggers: (u8, u8),
        at: usize,
        other: impl Fn(u8) -> bool,
        emit: impl Fn(u8, u8, &mut Vec<u8>),
    ) {
        out.clear();
        let (mut last, mut pos) = (0, 0);
        for p in memchr::memchr2_iter(triggers.0, triggers.1, src) {
            if p < at {
                continue;
            }
            let i = p - at; // start of the candidate pair
            if i < pos || i + 1 >= src.len() {
                continue;
            }
            let (a, b) = (src[i], src[i + 1]);
            if other(if at == 0 { b } else { a }) {
                out.extend_from_slice(&src[last..i]);
                emit(a, b, out);
                last = i + 2;
                pos = i + 2;
            }
        }
        out.extend_from_slice(&src[last..]);
    }

    /// The four rules without the final whitespace normalisation: the same tokens under a
    /// whitespace split, one pass fewer (what BLEU itself uses).
    pub(crate) fn apply_raw(&self, line: &str) -> String {
        let src = line.as_bytes();
        let mut a = Vec::with_capacity(src.len() * 2);
        let mut b = Vec::with_capacity(src.len() * 2);
        let non_digit = |c: u8| !c.is_ascii_digit();
        Self::rule1(src, &mut a);
        // 2: ([^0-9])([\.,]) -> "\1 \2 "
        Self::pair_rule(&a, &mut b, (b'.', b','), 1, non_digit, |x, y, o| {
            o.extend_from_slice(&[x, b' ', y, b' '])
        });
        // 3: ([\.,])([^0-9]) -> " \1 \2"
        Self::pair_rule(&b, &mut a, (b'.', b','), 0, non_digit, |x, y, o| {
            o.extend_from_slice(&[b' ', x, b' ', y])
        });
        // 4: ([0-9])(-) -> "\1 \2 "
        Self::pair_rule(
            &a,
            &mut b,
            (b'-', b'-'),
            1,
            |c| c.is_ascii_digit(),
            |x, y, o| o.extend_from_slice(&[x, b' ', y, b' ']),
        );
        // Only ASCII bytes were inserted, next to ASCII bytes: still valid UTF-8.
        String::from_utf8(b).expect("ASCII edits keep UTF-8 valid")
    }

    pub(crate) fn apply(&self, line: &str) -> String {
        crate::text::pystr::collapse_spaces(&self.apply_raw(line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_is_an_error() {
        for k in TokenizerKind::ALL {
            assert_eq!(k.name().parse::<TokenizerKind>().unwrap(), k);
            assert_eq!(k.build().signature(), k.name());
        }
        let err = "spm".parse::<TokenizerKind>().unwrap_err();
        assert!(err.to_string().contains("'spm'"));
    }

    /// sacrebleu's four regexes, literally, as the oracle for the byte scanners.
    fn regex_post(line: &str) -> String {
        let rules = [
            (r"([\{-~\[-`\x20-&\(-\+:-@/])", " ${1} "),
            (r"([^0-9])([\.,])", "${1} ${2} "),
            (r"([\.,])([^0-9])", " ${1} ${2}"),
            (r"([0-9])(-)", "${1} ${2} "),
        ];
        let mut cur = line.to_string();
        for (p, rep) in rules {
            cur = regex::Regex::new(p)
                .unwrap()
                .replace_all(&cur, rep)
                .into_owned();
        }
        crate::text::pystr::collapse_spaces(&cur)
    }

    #[test]
    fn byte_scanners_equal_the_regexes() {
        let post = RegexpPost::new();
        let cases = [
            "a.,b",
            "1.,2",
            ".,.,",
            "1-2-3",
            "-1--2",
            "x.y",
            "3.14.",
            "é.ü,ñ",
            "日本.語,",
            ".5",
            "5.",
            "a..b",
            ",,1",
            "1,,",
            "$3,000.50.",
            "{[(<tag>)]}",
            "e-mail 1990-2000 --",
            "😀.😀,1",
            " . , ",
            "a&b|c~d^e_f`g",
            "'quote' \"dq\"",
            "1.-2",
            "9-.",
            "",
            "   ",
            "\u{a0}.\u{a0}",
        ];
        for c in cases {
            assert_eq!(post.apply(c), regex_post(c), "{c:?}");
        }
        // Every string of up to 4 characters over a small alphabet that exercises all rules.
        let alpha = ['a', '1', '.', ',', '-', ' ', '/', 'é'];
        let mut n = 0;
        for len in 1..=4u32 {
            for code in 0..alpha.len().pow(len) {
                let mut c = code;
                let s: String = (0..len)
                    .map(|_| {
                        let ch = alpha[c % alpha.len()];
                        c /= alpha.len();
                        ch
                    })
                    .collect();
                assert_eq!(post.apply(&s), regex_post(&s), "{s:?}");
                n += 1;
            }
        }
        assert_eq!(n, 8 + 64 + 512 + 4096);
    }
}
