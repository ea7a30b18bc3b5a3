//! A character cursor that knows its line and column.

use super::{Format, InputError, Pos};

/// How deep collections (and EDN's `#_` discards) may nest. Transactions
/// nest a few levels; the readers recurse once per level, and so does
/// dropping what they read, so a limit keeps hostile input (`[` ten
/// thousand times) from exhausting the stack.
pub(super) const MAX_NESTING: u32 = 128;

/// Reads characters one by one, tracking the position and the nesting.
pub(super) struct Cursor<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    pos: Pos,
    format: Format,
    depth: u32,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `text`, past a byte-order mark if the text
    /// starts with one (editors on some systems write it).
    pub(super) fn new(text: &'a str, format: Format) -> Self {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        Cursor {
            chars: text.chars().peekable(),
            pos: Pos { line: 1, column: 1 },
            format,
            depth: 0,
        }
    }

    /// Enters one more level of nesting, opened at `open`; an error past
    /// [`MAX_NESTING`].
    pub(super) fn nest(&mut self, open: Pos) -> Result<(), InputError> {
        if self.depth >= MAX_NESTING {
            return Err(self.error_at(
                open,
                format!(
                    "nesting deeper than {MAX_NESTING} levels; a transaction needs a few, so this input is not one"
                ),
            ));
        }
        self.depth += 1;
        Ok(())
    }

    /// Leaves the level [`Cursor::nest`] entered.
    pub(super) fn unnest(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// The position of the next character.
    pub(super) fn pos(&self) -> Pos {
        self.pos
    }

    /// The next character, not consumed.
    pub(super) fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }

    /// Consumes the next character.
    pub(super) fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.pos.line += 1;
            self.pos.column = 1;
        } else {
            self.pos.column += 1;
        }
        Some(c)
    }

    /// Consumes characters while `keep` holds, returning them.
    pub(super) fn take_while(&mut self, keep: impl Fn(char) -> bool) -> String {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if !keep(c) {
                break;
            }
            out.push(c);
            self.bump();
        }
        out
    }

    /// A syntax error at `pos`.
    pub(super) fn error_at(&self, pos: Pos, problem: impl Into<String>) -> InputError {
        InputError::Syntax {
            format: self.format,
            pos,
            problem: problem.into(),
        }
    }

    /// A syntax error at the next character.
    pub(super) fn error(&self, problem: impl Into<String>) -> InputError {
        self.error_at(self.pos, problem)
    }

    /// How the next character reads in a message: `` `x` `` or "end of input".
    pub(super) fn found(&mut self) -> String {
        match self.peek() {
            Some(c) => format!("`{}`", c.escape_debug()),
            None => "end of input".into(),
        }
    }

    /// Reads the four hex digits of a `\uXXXX` escape (the `\u` consumed).
    pub(super) fn hex4(&mut self) -> Result<u32, InputError> {
        let start = self.pos;
        let digits = self.take_while_max(4, |c| c.is_ascii_hexdigit());
        if digits.len() != 4 {
            return Err(self.error_at(start, "expected four hex digits after `\\u`"));
        }
        u32::from_str_radix(&digits, 16)
            .map_err(|_| self.error_at(start, "expected four hex digits after `\\u`"))
    }

    fn take_while_max(&mut self, max: usize, keep: impl Fn(char) -> bool) -> String {
        let mut out = String::new();
        while out.len() < max {
            match self.peek() {
                Some(c) if keep(c) => {
                    out.push(c);
                    self.bump();
                }
                _ => break,
            }
        }
        out
    }
}

/// Combines a `\u` escape (and, for a UTF-16 surrogate pair, the following
/// `\uXXXX`) into a character.
pub(super) fn unicode_escape(cursor: &mut Cursor<'_>, start: Pos) -> Result<char, InputError> {
    let high = cursor.hex4()?;
    let code = if (0xD800..0xDC00).contains(&high) {
        if cursor.bump() != Some('\\') || cursor.bump() != Some('u') {
            return Err(cursor.error_at(
                start,
                "a high surrogate `\\u` escape must be followed by a low one",
            ));
        }
        let low = cursor.hex4()?;
        if !(0xDC00..0xE000).contains(&low) {
            return Err(cursor.error_at(start, "invalid UTF-16 surrogate pair"));
        }
        0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
    } else {
        high
    };
    char::from_u32(code).ok_or_else(|| cursor.error_at(start, "escape is not a valid character"))
}
