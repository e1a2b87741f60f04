//! Python `str` semantics that the reference tools rely on.
//!
//! sacrebleu and rouge_score split on whitespace with Python's `str.split()` and trim with
//! `str.rstrip()`. Python's idea of whitespace is Unicode `White_Space` *plus* the four
//! information separators U+001C..U+001F (they have bidi class B/S). Using Rust's
//! `split_whitespace` instead would disagree with the references on those characters.

/// Python's `str.isspace()` for one character.
#[inline]
pub fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's whitespace among ASCII bytes: \t \n \v \f \r, U+001C..U+001F and space.
#[inline]
fn is_py_space_byte(b: u8) -> bool {
    matches!(b, 9..=13 | 28..=32)
}

/// Python's `s.split()` (no argument): runs of whitespace separate, empty pieces dropped.
/// ASCII text (the common case) is split on bytes, without decoding characters.
#[inline]
pub fn split(s: &str) -> impl Iterator<Item = &str> {
    let ascii = s.is_ascii();
    s.split(move |c: char| {
        if ascii {
            is_py_space_byte(c as u8)
        } else {
            is_py_space(c)
        }
    })
    .filter(|t| !t.is_empty())
}

/// Python's `s.rstrip()` (no argument).
#[inline]
pub fn rstrip(s: &str) -> &str {
    s.trim_end_matches(is_py_space)
}

/// Python's `' '.join(s.split())`: collapse whitespace runs to one space and trim.
pub fn collapse_spaces(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for tok in split(s) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(tok);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn information_separators_are_python_whitespace() {
        let s = "a\u{1c}b\u{1f} c\u{a0}d\u{3000}e\u{200b}f";
        let got: Vec<&str> = split(s).collect();
        // U+200B (zero width space) is *not* whitespace in Python.
        assert_eq!(got, vec!["a", "b", "c", "d", "e\u{200b}f"]);
    }

    #[test]
    fn rstrip_and_collapse() {
        assert_eq!(rstrip("ab \t\u{1e}\n"), "ab");
        assert_eq!(rstrip(" ab"), " ab");
        assert_eq!(collapse_spaces("  a   b\tc  "), "a b c");
        assert_eq!(collapse_spaces("   "), "");
    }
}
