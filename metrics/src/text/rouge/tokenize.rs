//! ROUGE tokenization.

use serde::Serialize;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

/// How ROUGE splits text into tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum RougeTokenizer {
    /// rouge_score's tokenizer: lowercase, and keep only runs of `[a-z0-9]`. Text in other
    /// scripts yields no tokens at all, so it scores 0.
    #[default]
    #[serde(rename = "default")]
    Default,
    /// Assay's extension for non-Latin text: lowercase, keep runs of letters, marks and
    /// digits of any script; each Han, kana, Thai, Lao, Khmer or Myanmar character (scripts
    /// written without spaces) is a token of its own.
    #[serde(rename = "unicode")]
    Unicode,
}

impl fmt::Display for RougeTokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RougeTokenizer::Default => "default",
            RougeTokenizer::Unicode => "unicode",
        })
    }
}

impl FromStr for RougeTokenizer {
    type Err = crate::MetricError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "default" => Ok(RougeTokenizer::Default),
            "unicode" => Ok(RougeTokenizer::Unicode),
            _ => Err(crate::MetricError::InvalidConfig(format!(
                "unknown ROUGE tokenizer '{s}' (known: default, unicode)"
            ))),
        }
    }
}

fn unicode_token_re() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    RE.get_or_init(|| {
        let cont = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}";
        regex::Regex::new(&format!(r"[{cont}]|[[\p{{L}}\p{{M}}\p{{N}}]--[{cont}]]+"))
            .expect("static regex")
    })
}

/// Tokens of `text`, stemmed with Porter (tokens longer than 3 characters) if asked.
pub fn tokenize(text: &str, use_stemmer: bool, tokenizer: RougeTokenizer) -> Vec<String> {
    let mut out = Vec::new();
    for_each_token(text, use_stemmer, tokenizer, |t| out.push(t.to_string()));
    out
}

/// [`tokenize`] without allocating a string per token: `f` sees each token in order.
pub(crate) fn for_each_token(
    text: &str,
    use_stemmer: bool,
    tokenizer: RougeTokenizer,
    mut f: impl FnMut(&str),
) {
    // Python's lower() on ASCII text is ASCII lowercasing, which is much cheaper.
    let lower = if text.is_ascii() {
        text.to_ascii_lowercase()
    } else {
        text.to_lowercase()
    };
    let mut emit = |t: &str| {
        if use_stemmer && t.chars().count() > 3 {
            f(&super::porter::stem(t))
        } else {
            f(t)
        }
    };
    match tokenizer {
        RougeTokenizer::Default => lower
            .split(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit()))
            .filter(|t| !t.is_empty())
            .for_each(&mut emit),
        RougeTokenizer::Unicode => unicode_token_re()
            .find_iter(&lower)
            .for_each(|m| emit(m.as_str())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_keeps_ascii_alphanumerics_only() {
        assert_eq!(
            tokenize("Hello, World! 42x", false, RougeTokenizer::Default),
            vec!["hello", "world", "42x"]
        );
        assert!(tokenize("日本語のテキスト", false, RougeTokenizer::Default).is_empty());
        assert_eq!(
            tokenize("Café", false, RougeTokenizer::Default),
            vec!["caf"]
        );
        assert_eq!(
            tokenize("running dogs", true, RougeTokenizer::Default),
            vec!["run", "dog"]
        );
    }

    #[test]
    fn unicode_keeps_other_scripts() {
        assert_eq!(
            tokenize("Café 日本語", false, RougeTokenizer::Unicode),
            vec!["café", "日", "本", "語"]
        );
        assert_eq!(
            tokenize("Привет, мир", false, RougeTokenizer::Unicode),
            vec!["привет", "мир"]
        );
    }
}
