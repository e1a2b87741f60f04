//! `char`: every character is a token.

use super::Tokenize;

pub struct TokenizerChar;

impl Tokenize for TokenizerChar {
    fn signature(&self) -> &'static str {
        "char"
    }

    fn tokenize(&self, line: &str) -> String {
        // sacrebleu joins *all* characters with spaces, whitespace included; the later
        // whitespace split then drops the whitespace characters.
        let mut out = String::with_capacity(line.len() * 2);
        for (i, c) in line.chars().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push(c);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_become_tokens() {
        assert_eq!(TokenizerChar.tokenize("ab c"), "a b   c");
        let spaced = TokenizerChar.tokenize("ab c");
        let toks: Vec<&str> = crate::text::pystr::split(&spaced).collect();
        assert_eq!(toks, vec!["a", "b", "c"]);
    }
}
