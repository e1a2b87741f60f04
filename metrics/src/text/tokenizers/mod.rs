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

/// The regular-expression part shared by `13a` and `zh` (sacrebleu's `TokenizerRegexp`).
pub(crate) struct RegexpPost {
    rules: [(regex::Regex, &'static str); 4],
}

impl RegexpPost {
    pub(crate) fn new() -> Self {
        let re = |p: &str| regex::Regex::new(p).expect("static regex");
        RegexpPost {
            rules: [
                // Symbols and most ASCII punctuation become their own tokens.
                (re(r"([\{-~\[-`\x20-&\(-\+:-@/])"), " ${1} "),
                // Period and comma, unless preceded by a digit.
                (re(r"([^0-9])([\.,])"), "${1} ${2} "),
                // Period and comma, unless followed by a digit.
                (re(r"([\.,])([^0-9])"), " ${1} ${2}"),
                // A dash after a digit.
                (re(r"([0-9])(-)"), "${1} ${2} "),
            ],
        }
    }

    pub(crate) fn apply(&self, line: &str) -> String {
        let mut cur = std::borrow::Cow::Borrowed(line);
        for (re, rep) in &self.rules {
            if let std::borrow::Cow::Owned(s) = re.replace_all(&cur, *rep) {
                cur = std::borrow::Cow::Owned(s);
            }
        }
        crate::text::pystr::collapse_spaces(&cur)
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
}
