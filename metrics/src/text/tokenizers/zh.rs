//! `zh`: every Chinese character is a token; the rest goes through the 13a rules.

use super::{RegexpPost, Tokenize};

/// sacrebleu's `_UCODE_RANGES`, as they *behave*. Two of its entries are written as
/// `'\u20000'` and `'\u2f800'`, which Python reads as two-character strings ('\u2000' + '0');
/// a single character then compares inside such a range exactly when it lies in
/// (start's first char, end's first char]. We reproduce that behaviour, since it is what
/// every published sacrebleu `zh` score was computed with: U+2001..=U+2A6D and
/// U+2F81..=U+2FA1, instead of the intended supplementary-plane blocks.
const CHINESE_RANGES: &[(u32, u32)] = &[
    (0x3400, 0x4db5),
    (0x4e00, 0x9fa5),
    (0x9fa6, 0x9fbb),
    (0xf900, 0xfa2d),
    (0xfa30, 0xfa6a),
    (0xfa70, 0xfad9),
    (0x2001, 0x2a6d), // written '\u20000'..'\u2a6d6'
    (0x2f81, 0x2fa1), // written '\u2f800'..'\u2fa1d'
    (0xff00, 0xffef),
    (0x2e80, 0x2eff),
    (0x3000, 0x303f),
    (0x31c0, 0x31ef),
    (0x2f00, 0x2fdf),
    (0x2ff0, 0x2fff),
    (0x3100, 0x312f),
    (0x31a0, 0x31bf),
    (0xfe10, 0xfe1f),
    (0xfe30, 0xfe4f),
    (0x2600, 0x26ff),
    (0x2700, 0x27bf),
    (0x3200, 0x32ff),
    (0x3300, 0x33ff),
];

pub(crate) fn is_chinese_char(c: char) -> bool {
    let c = c as u32;
    CHINESE_RANGES.iter().any(|&(lo, hi)| lo <= c && c <= hi)
}

pub struct TokenizerZh {
    post: RegexpPost,
}

impl TokenizerZh {
    pub fn new() -> Self {
        TokenizerZh {
            post: RegexpPost::new(),
        }
    }
}

impl Default for TokenizerZh {
    fn default() -> Self {
        Self::new()
    }
}

impl TokenizerZh {
    /// Every Chinese character surrounded by spaces.
    fn prepare(line: &str) -> String {
        let line = line.trim_matches(crate::text::pystr::is_py_space);
        let mut spaced = String::with_capacity(line.len() * 2);
        for c in line.chars() {
            if is_chinese_char(c) {
                spaced.push(' ');
                spaced.push(c);
                spaced.push(' ');
            } else {
                spaced.push(c);
            }
        }
        spaced
    }
}

impl Tokenize for TokenizerZh {
    fn signature(&self) -> &'static str {
        "zh"
    }

    // No 13a pre-processing and no padding here: sacrebleu's zh calls only the regexps.
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

    #[test]
    fn chinese_characters_are_tokens() {
        let t = TokenizerZh::new();
        assert_eq!(t.tokenize("我爱北京2019."), "我 爱 北 京 2019.");
        assert_eq!(t.tokenize("Hi, 你好!"), "Hi , 你 好 !");
    }

    #[test]
    fn python_string_range_quirk_is_reproduced() {
        // U+2000 itself is not inside ('\u2000' '0', ...), U+2001 is; so is U+2A6D but not U+2A6E.
        assert!(!is_chinese_char('\u{2000}'));
        assert!(is_chinese_char('\u{2001}'));
        assert!(is_chinese_char('\u{201c}')); // a curly quote
        assert!(is_chinese_char('\u{2a6d}'));
        assert!(!is_chinese_char('\u{2a6e}'));
        assert!(!is_chinese_char('\u{20000}'));
    }
}
