//! `13a`: the mteval-v13a tokenizer that WMT uses, sacrebleu's default.

use super::{RegexpPost, Tokenize};

pub struct Tokenizer13a {
    post: RegexpPost,
}

impl Tokenizer13a {
    pub fn new() -> Self {
        Tokenizer13a {
            post: RegexpPost::new(),
        }
    }
}

impl Default for Tokenizer13a {
    fn default() -> Self {
        Self::new()
    }
}

impl Tokenizer13a {
    /// mteval-v13a's language-independent part, padded with a space on each side.
    fn prepare(line: &str) -> String {
        // The language-independent part of mteval-v13a, in its order. Most segments contain
        // none of these, so each replacement runs only when its pattern is present.
        let mut s = std::borrow::Cow::Borrowed(line);
        for (pat, rep) in [("<skipped>", ""), ("-\n", ""), ("\n", " ")] {
            if s.contains(pat) {
                s = std::borrow::Cow::Owned(s.replace(pat, rep));
            }
        }
        if s.contains('&') {
            s = std::borrow::Cow::Owned(
                s.replace("&quot;", "\"")
                    .replace("&amp;", "&")
                    .replace("&lt;", "<")
                    .replace("&gt;", ">"),
            );
        }
        // Padding with spaces lets the period/comma rules see the segment's ends.
        format!(" {s} ")
    }
}

impl Tokenize for Tokenizer13a {
    fn signature(&self) -> &'static str {
        "13a"
    }

    fn tokenize(&self, line: &str) -> String {
        self.post.apply(&Self::prepare(line))
    }

    fn tokenize_raw(&self, line: &str) -> String {
        self.post.apply_raw(&Self::prepare(line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(s: &str) -> String {
        Tokenizer13a::new().tokenize(s)
    }

    #[test]
    fn splits_punctuation_but_keeps_numbers_whole() {
        assert_eq!(tok("Hello, world!"), "Hello , world !");
        assert_eq!(tok("It costs $3,000.50."), "It costs $ 3,000.50 .");
        assert_eq!(tok("1990-2000"), "1990 - 2000");
        assert_eq!(tok("e-mail"), "e-mail");
        assert_eq!(
            tok("&quot;quoted&quot; &amp; &lt;b&gt;"),
            "\" quoted \" & < b >"
        );
        assert_eq!(tok("year 2019."), "year 2019 .");
    }
}
