//! Text from an untrusted source (a plugin's name, errors, report and
//! stderr; a key a plugin returned) made safe to print: it must not be able
//! to move the cursor, clear the screen, set a window title or fake a line
//! of our own output through an escape sequence, nor flood the terminal.

/// The longest plugin name kept in messages, in bytes.
pub const MAX_NAME: usize = 64;
/// The longest guest message (error, report) kept, in bytes.
pub const MAX_MESSAGE: usize = 4096;

/// `text` with control characters (escape sequences, carriage returns,
/// bells…) shown as `\u{..}` escapes, newlines and tabs kept only when
/// `multiline`, and cut at `max` bytes with "… (N bytes more)".
pub fn clean(text: &str, max: usize, multiline: bool) -> String {
    let mut out = String::with_capacity(text.len().min(max) + 24);
    for (at, c) in text.char_indices() {
        let piece: String = match c {
            '\n' | '\t' if multiline => c.to_string(),
            '\n' | '\t' => " ".to_string(),
            c if c.is_control() || is_format_control(c) => c.escape_unicode().to_string(),
            c => c.to_string(),
        };
        if out.len() + piece.len() > max {
            out.push_str(&format!("… ({} bytes more)", text.len() - at));
            return out;
        }
        out.push_str(&piece);
    }
    out
}

/// A one-line, bounded plugin name; empty names become `fallback`.
pub fn name(text: &str, fallback: &str) -> String {
    let cleaned = clean(text.trim(), MAX_NAME, false);
    if cleaned.is_empty() {
        fallback.to_string()
    } else {
        cleaned
    }
}

/// A bounded guest message on one line.
pub fn message(text: &str) -> String {
    clean(text, MAX_MESSAGE, false)
}

/// The longest untrusted key kept in messages, in bytes.
pub const MAX_KEY: usize = 256;

/// A key from an untrusted source, bounded, on one line.
pub fn key(text: &str) -> String {
    clean(text, MAX_KEY, false)
}

/// Invisible characters that reorder or hide text (bidirectional
/// overrides and isolates, zero-width spaces and joiners, the byte-order
/// mark): as misleading as escape sequences, in guest text and in ids.
pub fn is_format_control(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_are_shown_not_sent() {
        let fake = "\x1b[2J\x1b]0;title\x07\x1b[32mverify: OK\x1b[0m";
        let shown = message(fake);
        assert!(!shown.chars().any(|c| c.is_control()), "{shown:?}");
        assert!(shown.contains("verify: OK"));
        assert!(shown.contains("\\u{1b}"));
    }

    #[test]
    fn long_text_is_cut_with_the_count_of_what_was_left_out() {
        let long = "x".repeat(100 << 20);
        let shown = message(&long);
        assert!(shown.len() < MAX_MESSAGE + 40);
        assert!(shown.ends_with(&format!("({} bytes more)", (100 << 20) - MAX_MESSAGE)));
    }

    #[test]
    fn names_are_one_line_and_never_empty() {
        assert_eq!(name("  \n", "file"), "file");
        assert_eq!(name("a\nb", "file"), "a b");
        assert!(name(&"n".repeat(1000), "f").len() < MAX_NAME + 40);
    }

    #[test]
    fn cuts_on_character_boundaries() {
        let text = "é".repeat(10);
        let shown = clean(&text, 5, false);
        assert!(shown.starts_with("éé…"), "{shown}");
    }
}
