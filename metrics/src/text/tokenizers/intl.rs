//! `intl`: mteval-v14's international tokenizer (Unicode punctuation and symbols).

use super::Tokenize;
use regex::Regex;

pub struct TokenizerIntl {
    rules: [(Regex, &'static str); 3],
}

impl TokenizerIntl {
    pub fn new() -> Self {
        let re = |p: &str| Regex::new(p).expect("static regex");
        TokenizerIntl {
            rules: [
                // Punctuation preceded by a non-digit.
                (re(r"(\P{N})(\p{P})"), "${1} ${2} "),
                // Punctuation followed by a non-digit.
                (re(r"(\p{P})(\P{N})"), " ${1} ${2}"),
                // Every symbol.
                (re(r"(\p{S})"), " ${1} "),
            ],
        }
    }
}

impl Default for TokenizerIntl {
    fn default() -> Self {
        Self::new()
    }
}

impl Tokenize for TokenizerIntl {
    fn signature(&self) -> &'static str {
        "intl"
    }

    fn tokenize(&self, line: &str) -> String {
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
    fn unicode_punctuation_and_symbols() {
        let t = TokenizerIntl::new();
        assert_eq!(t.tokenize("«Bonjour», dit-il."), "« Bonjour » , dit - il .");
        assert_eq!(t.tokenize("1,000.5 €"), "1,000.5 €");
        assert_eq!(t.tokenize("a+b"), "a + b");
    }
}
