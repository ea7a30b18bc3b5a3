//! A small EDN reader: the subset transactions use (no sets, characters or
//! custom tags), positions kept on every form.

use std::str::FromStr;

use base64::Engine;
use bigdecimal::BigDecimal;
use num_bigint::BigInt;

use super::cursor::{Cursor, unicode_escape};
use super::{Form, FormKind, Format, InputError, Pos};

/// Reads a text holding exactly one form (comments and whitespace around it allowed).
pub(super) fn read_document(text: &str) -> Result<Form, InputError> {
    let mut cursor = Cursor::new(text, Format::Edn);
    skip_blank(&mut cursor);
    if cursor.peek().is_none() {
        return Err(
            cursor.error("the input is empty: expected a form, e.g. a vector of statements")
        );
    }
    let form = read_form(&mut cursor)?;
    skip_blank(&mut cursor);
    if cursor.peek().is_some() {
        let found = cursor.found();
        return Err(cursor.error(format!(
            "expected end of input after the form that starts at {}, found {found} \
             (put all statements inside one vector)",
            form.pos
        )));
    }
    Ok(form)
}

/// Skips whitespace, commas and `;` comments.
fn skip_blank(cursor: &mut Cursor<'_>) {
    while let Some(c) = cursor.peek() {
        if c.is_whitespace() || c == ',' {
            cursor.bump();
        } else if c == ';' {
            cursor.take_while(|c| c != '\n');
        } else {
            break;
        }
    }
}

fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || matches!(c, ',' | '[' | ']' | '(' | ')' | '{' | '}' | '"' | ';')
}

fn read_form(cursor: &mut Cursor<'_>) -> Result<Form, InputError> {
    skip_blank(cursor);
    let pos = cursor.pos();
    let Some(c) = cursor.peek() else {
        return Err(cursor.error("expected a form, found end of input"));
    };
    let kind = match c {
        '[' | '(' => {
            cursor.bump();
            cursor.nest(pos)?;
            let items = read_seq(cursor, pos, if c == '[' { ']' } else { ')' })?;
            cursor.unnest();
            FormKind::Vector(items)
        }
        '{' => {
            cursor.bump();
            cursor.nest(pos)?;
            let map = read_map(cursor, pos)?;
            cursor.unnest();
            map
        }
        '"' => FormKind::String(read_string(cursor)?),
        ':' => read_keyword(cursor)?,
        '#' => return read_dispatch(cursor, pos),
        ']' | ')' | '}' => {
            return Err(cursor.error(format!("unexpected `{c}`: nothing is open here to close")));
        }
        '\\' => {
            return Err(cursor.error("character literals (`\\c`) are not supported; use a string"));
        }
        _ => {
            let token = cursor.take_while(|c| !is_delimiter(c));
            let starts_number = token.starts_with(|c: char| c.is_ascii_digit())
                || ((token.starts_with('-') || token.starts_with('+'))
                    && token[1..].starts_with(|c: char| c.is_ascii_digit()));
            if starts_number {
                number(&token).ok_or_else(|| {
                    cursor.error_at(
                        pos,
                        format!("invalid number `{token}` (e.g. 42, -7, 1.5, 1e3, 12N, 1.50M)"),
                    )
                })?
            } else {
                match token.as_str() {
                    "true" => FormKind::Boolean(true),
                    "false" => FormKind::Boolean(false),
                    "nil" => FormKind::Nil,
                    _ => FormKind::Symbol(token),
                }
            }
        }
    };
    Ok(Form { pos, kind })
}

fn read_seq(cursor: &mut Cursor<'_>, open: Pos, close: char) -> Result<Vec<Form>, InputError> {
    let mut items = Vec::new();
    loop {
        skip_blank(cursor);
        match cursor.peek() {
            Some(c) if c == close => {
                cursor.bump();
                return Ok(items);
            }
            Some(']' | ')' | '}') => {
                let found = cursor.found();
                return Err(cursor.error(format!(
                    "expected `{close}` to close the collection opened at {open}, found {found}"
                )));
            }
            None => {
                return Err(cursor.error(format!(
                    "expected `{close}` to close the collection opened at {open}, found end of input"
                )));
            }
            Some(_) => items.push(read_form(cursor)?),
        }
    }
}

fn read_map(cursor: &mut Cursor<'_>, open: Pos) -> Result<FormKind, InputError> {
    let items = read_seq(cursor, open, '}')?;
    if items.len() % 2 != 0 {
        let last = &items[items.len() - 1];
        return Err(cursor.error_at(
            last.pos,
            format!("the map opened at {open} has a key without a value"),
        ));
    }
    let mut pairs = Vec::with_capacity(items.len() / 2);
    let mut items = items.into_iter();
    while let (Some(k), Some(v)) = (items.next(), items.next()) {
        pairs.push((k, v));
    }
    Ok(FormKind::Map(pairs))
}

fn read_string(cursor: &mut Cursor<'_>) -> Result<String, InputError> {
    let start = cursor.pos();
    cursor.bump();
    let mut out = String::new();
    loop {
        let escape_pos = cursor.pos();
        match cursor.bump() {
            None => {
                return Err(cursor.error(format!(
                    "the string opened at {start} is not closed (expected `\"`)"
                )));
            }
            Some('"') => return Ok(out),
            Some('\\') => out.push(match cursor.bump() {
                Some('n') => '\n',
                Some('t') => '\t',
                Some('r') => '\r',
                Some('b') => '\u{8}',
                Some('f') => '\u{c}',
                Some('\\') => '\\',
                Some('"') => '"',
                Some('u') => unicode_escape(cursor, escape_pos)?,
                Some(other) => {
                    return Err(cursor.error_at(
                        escape_pos,
                        format!(
                            "unknown escape `\\{other}` (use \\n \\t \\r \\b \\f \\\\ \\\" or \\uXXXX)"
                        ),
                    ));
                }
                None => return Err(cursor.error("unfinished escape at end of input")),
            }),
            Some(c) => out.push(c),
        }
    }
}

fn read_keyword(cursor: &mut Cursor<'_>) -> Result<FormKind, InputError> {
    let start = cursor.pos();
    cursor.bump();
    let name = cursor.take_while(|c| !is_delimiter(c));
    if name.is_empty() {
        return Err(cursor.error_at(start, "a keyword needs a name after `:`, e.g. :person/name"));
    }
    if let Some(rest) = name.strip_prefix(':') {
        return Err(cursor.error_at(
            start,
            format!("auto-resolved keywords (`::{rest}`) are not supported; write the namespace"),
        ));
    }
    Ok(FormKind::Keyword(format!(":{name}")))
}

fn read_dispatch(cursor: &mut Cursor<'_>, pos: Pos) -> Result<Form, InputError> {
    cursor.bump();
    match cursor.peek() {
        Some('_') => {
            cursor.bump();
            cursor.nest(pos)?;
            read_form(cursor)?;
            cursor.unnest();
            read_form(cursor)
        }
        Some('{') => Err(cursor.error_at(
            pos,
            "sets (`#{…}`) are not supported; use a vector for several values",
        )),
        _ => {
            let tag = cursor.take_while(|c| !is_delimiter(c));
            skip_blank(cursor);
            let arg_pos = cursor.pos();
            let arg = match cursor.peek() {
                Some('"') => read_string(cursor)?,
                _ => {
                    let found = cursor.found();
                    return Err(
                        cursor.error(format!("expected a string after `#{tag}`, found {found}"))
                    );
                }
            };
            let bad = |what: &str, why: String| {
                cursor.error_at(arg_pos, format!("invalid {what} {arg:?}: {why}"))
            };
            let kind = match tag.as_str() {
                "inst" => FormKind::Instant(instant(&arg).map_err(|why| bad("#inst", why))?),
                "uuid" => FormKind::Uuid(
                    uuid::Uuid::parse_str(&arg).map_err(|e| bad("#uuid", e.to_string()))?,
                ),
                "base64" => FormKind::Bytes(base64(&arg).map_err(|why| bad("#base64", why))?),
                _ => {
                    return Err(cursor.error_at(
                        pos,
                        format!("unknown tag `#{tag}` (supported: #inst, #uuid, #base64)"),
                    ));
                }
            };
            Ok(Form { pos, kind })
        }
    }
}

/// Milliseconds since the epoch of an RFC 3339 time (or a bare date, midnight UTC).
pub(super) fn instant(text: &str) -> Result<i64, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc().timestamp_millis());
    }
    Err(
        "expected an RFC 3339 time such as 2024-01-31T12:00:00Z or a date such as 2024-01-31"
            .into(),
    )
}

fn base64(text: &str) -> Result<Vec<u8>, String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    STANDARD
        .decode(text)
        .or_else(|_| STANDARD_NO_PAD.decode(text))
        .map_err(|e| e.to_string())
}

/// Reads a number token: integers (64-bit, else big), `N` big integers,
/// floats, `M` decimals.
fn number(token: &str) -> Option<FormKind> {
    let unsigned = token.strip_prefix('+').unwrap_or(token);
    if let Some(digits) = unsigned.strip_suffix('N') {
        return BigInt::from_str(digits).ok().map(FormKind::BigInt);
    }
    if let Some(digits) = unsigned.strip_suffix('M') {
        return BigDecimal::from_str(digits).ok().map(FormKind::BigDec);
    }
    if unsigned.contains(['.', 'e', 'E']) {
        return f64::from_str(unsigned)
            .ok()
            .filter(|x| x.is_finite())
            .map(FormKind::Double);
    }
    if !unsigned
        .trim_start_matches('-')
        .chars()
        .all(|c| c.is_ascii_digit())
    {
        return None;
    }
    match i64::from_str(unsigned) {
        Ok(n) => Some(FormKind::Long(n)),
        Err(_) => BigInt::from_str(unsigned).ok().map(FormKind::BigInt),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::input::assert_has;

    fn kind(text: &str) -> FormKind {
        read_document(text).unwrap().kind
    }

    fn err(text: &str) -> String {
        read_document(text).unwrap_err().to_string()
    }

    #[test]
    fn reads_every_literal() {
        assert_eq!(kind("42"), FormKind::Long(42));
        assert_eq!(kind("-7"), FormKind::Long(-7));
        assert_eq!(kind("+7"), FormKind::Long(7));
        assert_eq!(kind("12N"), FormKind::BigInt(12.into()));
        assert!(matches!(kind("99999999999999999999"), FormKind::BigInt(_)));
        assert_eq!(kind("1.5"), FormKind::Double(1.5));
        assert_eq!(kind("1e3"), FormKind::Double(1000.0));
        assert_eq!(
            kind("1.50M"),
            FormKind::BigDec(BigDecimal::from_str("1.50").unwrap())
        );
        assert_eq!(kind("true"), FormKind::Boolean(true));
        assert_eq!(kind("nil"), FormKind::Nil);
        assert_eq!(kind(":a/b"), FormKind::Keyword(":a/b".into()));
        assert_eq!(
            kind(r#""a\"b\n\u00e9""#),
            FormKind::String("a\"b\né".into())
        );
        assert_eq!(
            kind(r#"#inst "1970-01-01T00:00:01Z""#),
            FormKind::Instant(1000)
        );
        assert_eq!(kind(r#"#inst "1970-01-02""#), FormKind::Instant(86_400_000));
        assert_eq!(kind(r#"#base64 "AQID""#), FormKind::Bytes(vec![1, 2, 3]));
        assert!(matches!(
            kind(r#"#uuid "6f1a7c1e-0000-4000-8000-000000000001""#),
            FormKind::Uuid(_)
        ));
    }

    #[test]
    fn reads_collections_comments_and_commas() {
        let form = read_document("; a comment\n[1, 2 #_ 3 (4) {:a 1}] ; trailing").unwrap();
        let FormKind::Vector(items) = form.kind else {
            panic!("not a vector")
        };
        assert_eq!(items.len(), 4);
        assert_eq!(form.pos, Pos { line: 2, column: 1 });
        assert_eq!(items[1].pos, Pos { line: 2, column: 5 });
        assert!(matches!(&items[3].kind, FormKind::Map(p) if p.len() == 1));
    }

    #[test]
    fn hostile_nesting_is_an_error_not_a_stack_overflow() {
        for text in [
            "[".repeat(10_000),
            "{:a ".repeat(10_000),
            "#_".repeat(10_000) + "1",
        ] {
            let e = err(&text);
            assert!(e.contains("nesting deeper than"), "{e}");
        }
        let deep_enough = "[".repeat(100) + &"]".repeat(100);
        assert!(read_document(&deep_enough).is_ok());
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        assert!(matches!(kind("\u{feff}[1]"), FormKind::Vector(v) if v.len() == 1));
    }

    #[test]
    fn malformed_input_names_line_column_and_expectation() {
        assert_has(
            &err("[1 2"),
            "1:5: invalid EDN: expected `]` to close the collection opened at 1:1",
        );
        assert_has(&err("[1\n 2}"), "2:3");
        assert_has(&err("\"abc"), "not closed");
        assert_has(&err("{:a}"), "key without a value");
        assert_has(&err("#foo \"x\""), "unknown tag `#foo`");
        assert_has(
            &err("#inst \"yesterday\""),
            "1:7: invalid EDN: invalid #inst",
        );
        assert_has(&err("#uuid \"nope\""), "invalid #uuid");
        assert_has(&err("12abc"), "invalid number `12abc`");
        assert_has(&err("[] []"), "expected end of input");
        assert_has(&err("  "), "empty");
        assert_has(&err("]"), "unexpected `]`");
        assert_has(&err("\"\\q\""), "unknown escape");
        assert_has(&err("::a"), "auto-resolved");
        assert_has(&err("#{1}"), "sets");
    }
}
