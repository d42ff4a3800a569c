//! Text for a terminal: transcripts are untrusted (web pages, file contents), so every control
//! character but newline and tab, every escape, C1 control and bidi override is shown visibly
//! (`\e[31m`, `\x07`, `\u{202e}`) instead of reaching the terminal; lengths are counted, and text
//! cut, on what is shown.

use std::borrow::Cow;

/// How `c` is shown, when it is not shown as itself.
fn replacement(c: char) -> Option<Cow<'static, str>> {
    Some(match c {
        '\n' | '\t' => return None,
        '\u{1b}' => Cow::Borrowed("\\e"),
        '\r' => Cow::Borrowed("\\r"),
        '\u{0}'..='\u{1f}' | '\u{7f}' => Cow::Owned(format!("\\x{:02x}", u32::from(c))),
        // C1 controls (CSI, OSC, ...), and the bidi embeddings, overrides and isolates that make
        // text read in an order other than its bytes'.
        '\u{80}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
            Cow::Owned(format!("\\u{{{:x}}}", u32::from(c)))
        }
        _ => return None,
    })
}

/// `text` as it may be shown on a terminal.
pub fn shown(text: &str) -> Cow<'_, str> {
    let Some(first) = text.char_indices().find(|&(_, c)| replacement(c).is_some()).map(|(index, _)| index) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 16);
    out.push_str(&text[..first]);
    for c in text[first..].chars() {
        match replacement(c) {
            Some(shown) => out.push_str(&shown),
            None => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `text` as shown, also with newlines and tabs visible (`\n`, `\t`): one line of a table.
pub fn shown_on_one_line(text: &str) -> Cow<'_, str> {
    if !text.contains(['\n', '\t']) {
        return shown(text);
    }
    Cow::Owned(shown(text).replace('\n', "\\n").replace('\t', "\\t"))
}

/// The first `limit` characters of `text` as shown, never splitting what one character is shown
/// as; `None` when all of it fits. The second value counts the characters of `text` left out.
pub fn shown_prefix(text: &str, limit: usize) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut shown_chars = 0;
    for (taken, c) in text.chars().enumerate() {
        let piece = replacement(c);
        let width = piece.as_ref().map_or(1, |piece| piece.chars().count());
        if shown_chars + width > limit {
            return Some((out, text.chars().count() - taken));
        }
        shown_chars += width;
        match piece {
            Some(piece) => out.push_str(&piece),
            None => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        assert_eq!(shown(input), expected, "{input:?}");
    }

    #[test]
    fn controls_escapes_and_bidi_overrides_are_shown_visibly() {
        check("plain text, émoji ✓", "plain text, émoji ✓");
        check("line\nand\ttab", "line\nand\ttab");
        check("\u{1b}[31mRED\u{1b}[0m", "\\e[31mRED\\e[0m");
        check("\u{1b}]0;pwned-title\u{7}/x", "\\e]0;pwned-title\\x07/x");
        check("clear \u{1b}[2J screen\r", "clear \\e[2J screen\\r");
        check("nul \u{0} del \u{7f}", "nul \\x00 del \\x7f");
        check("csi \u{9b}31m", "csi \\u{9b}31m");
        check("evil\u{202e}txt.exe \u{2066}x\u{2069}", "evil\\u{202e}txt.exe \\u{2066}x\\u{2069}");
        assert_eq!(shown_on_one_line("a\nb\tc\u{1b}"), "a\\nb\\tc\\e");
    }

    #[test]
    fn a_prefix_is_counted_on_what_is_shown_and_never_splits_an_escape() {
        assert_eq!(shown_prefix("short", 10), None);
        assert_eq!(shown_prefix("abcdef", 3), Some(("abc".into(), 3)));
        // `\e` is two characters shown: with room for three, the escape does not fit after "ab".
        assert_eq!(shown_prefix("ab\u{1b}[31m", 3), Some(("ab".into(), 5)));
        assert_eq!(shown_prefix("ab\u{1b}[31m", 4), Some(("ab\\e".into(), 4)));
        assert_eq!(shown_prefix("ééé", 2), Some(("éé".into(), 1)));
    }
}
