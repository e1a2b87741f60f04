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

impl RegexpPost {
    pub(crate) fn new() -> Self {
        RegexpPost
    }

    fn is_rule1(b: u8) -> bool {
        matches!(b, b'{'..=b'~' | b'['..=b'`' | b' '..=b'&' | b'('..=b'+' | b':'..=b'@' | b'/')
    }

    /// Apply a two-byte rule `(first)(second)` everywhere, leftmost and non-overlapping.
    fn pair_rule(
        src: &[u8],
        out: &mut Vec<u8>,
        first: impl Fn(u8) -> bool,
        second: impl Fn(u8) -> bool,
        lead_space: bool,
    ) {
        out.clear();
        let mut i = 0;
        while i < src.len() {
            if i + 1 < src.len() && first(src[i]) && second(src[i + 1]) {
                if lead_space {
                    out.extend_from_slice(&[b' ', src[i], b' ', src[i + 1]]);
                } else {
                    out.extend_from_slice(&[src[i], b' ', src[i + 1], b' ']);
                }
                i += 2;
            } else {
                out.push(src[i]);
                i += 1;
            }
        }
    }

    pub(crate) fn apply(&self, line: &str) -> String {
        let src = line.as_bytes();
        let mut a = Vec::with_capacity(src.len() * 2);
        for &b in src {
            if Self::is_rule1(b) {
                a.extend_from_slice(&[b' ', b, b' ']);
            } else {
                a.push(b);
            }
        }
        let mut b = Vec::with_capacity(a.len() + 16);
        let digit = |c: u8| c.is_ascii_digit();
        let dot_comma = |c: u8| c == b'.' || c == b',';
        Self::pair_rule(&a, &mut b, |c| !digit(c), dot_comma, false);
        Self::pair_rule(&b, &mut a, dot_comma, |c| !digit(c), true);
        Self::pair_rule(&a, &mut b, digit, |c| c == b'-', false);
        // Only ASCII bytes were inserted, next to ASCII bytes: still valid UTF-8.
        let s = String::from_utf8(b).expect("ASCII edits keep UTF-8 valid");
        crate::text::pystr::collapse_spaces(&s)
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
