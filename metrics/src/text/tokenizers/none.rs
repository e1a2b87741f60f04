//! `none`: the segment is used as it is (tokens are its whitespace-separated pieces).

use super::Tokenize;

pub struct TokenizerNone;

impl Tokenize for TokenizerNone {
    fn signature(&self) -> &'static str {
        "none"
    }

    fn tokenize(&self, line: &str) -> String {
        line.to_string()
    }
}
