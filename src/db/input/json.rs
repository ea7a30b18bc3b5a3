//! A small JSON reader that keeps the position of every value (serde_json
//! does not, and statement errors need one).

use std::str::FromStr;

use num_bigint::BigInt;

use super::cursor::{Cursor, unicode_escape};
use super::{Form, FormKind, Format, InputError, Pos};

/// Reads a text holding exactly one JSON value.
pub(super) fn read_document(text: &str) -> Result<Form, InputError> {
    let mut cursor = Cursor::new(text, Format::Json);
    skip_blank(&mut cursor);
    if cursor.peek().is_none() {
        return Err(cursor.error("the input is empty: expected an array of statements"));
    }
    let form = read_value(&mut cursor)?;
    skip_blank(&mut cursor);
    if cursor.peek().is_some() {
        let found = cursor.found();
        return Err(cursor.error(format!(
            "expected end of input after the value that starts at {}, found {found} \
             (put all statements inside one array)",
            form.pos
        )));
    }
    Ok(form)
}

fn skip_blank(cursor: &mut Cursor<'_>) {
    cursor.take_while(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
}

fn expected(cursor: &mut Cursor<'_>, what: &str) -> InputError {
    let found = cursor.found();
    cursor.error(format!("expected {what}, found {found}"))
}

fn read_value(cursor: &mut Cursor<'_>) -> Result<Form, InputError> {
    skip_blank(cursor);
    let pos = cursor.pos();
    let kind = match cursor.peek() {
        Some('[') => {
            cursor.bump();
            cursor.nest(pos)?;
            let items = read_array(cursor, pos)?;
            cursor.unnest();
            FormKind::Vector(items)
        }
        Some('{') => {
            cursor.bump();
            cursor.nest(pos)?;
            let pairs = read_object(cursor, pos)?;
            cursor.unnest();
            FormKind::Map(pairs)
        }
        Some('"') => FormKind::String(read_string(cursor)?),
        Some(c) if c == '-' || c.is_ascii_digit() => read_number(cursor, pos)?,
        Some(c) if c.is_ascii_alphabetic() => {
            let word = cursor.take_while(|c| c.is_ascii_alphanumeric());
            match word.as_str() {
                "true" => FormKind::Boolean(true),
                "false" => FormKind::Boolean(false),
                "null" => FormKind::Nil,
                _ => {
                    return Err(cursor.error_at(
                        pos,
                        format!("unexpected word `{word}` (strings need double quotes)"),
                    ));
                }
            }
        }
        _ => return Err(expected(cursor, "a value")),
    };
    Ok(Form { pos, kind })
}

fn read_array(cursor: &mut Cursor<'_>, open: Pos) -> Result<Vec<Form>, InputError> {
    let mut items = Vec::new();
    skip_blank(cursor);
    if cursor.peek() == Some(']') {
        cursor.bump();
        return Ok(items);
    }
    loop {
        items.push(read_value(cursor)?);
        skip_blank(cursor);
        match cursor.peek() {
            Some(',') => {
                cursor.bump();
            }
            Some(']') => {
                cursor.bump();
                return Ok(items);
            }
            _ => {
                return Err(expected(
                    cursor,
                    &format!("`,` or `]` to close the array opened at {open}"),
                ));
            }
        }
    }
}

fn read_object(cursor: &mut Cursor<'_>, open: Pos) -> Result<Vec<(Form, Form)>, InputError> {
    let mut pairs = Vec::new();
    skip_blank(cursor);
    if cursor.peek() == Some('}') {
        cursor.bump();
        return Ok(pairs);
    }
    loop {
        skip_blank(cursor);
        let key_pos = cursor.pos();
        if cursor.peek() != Some('"') {
            return Err(expected(cursor, "a string key"));
        }
        let key = Form {
            pos: key_pos,
            kind: FormKind::String(read_string(cursor)?),
        };
        skip_blank(cursor);
        if cursor.peek() != Some(':') {
            return Err(expected(cursor, "`:` after the key"));
        }
        cursor.bump();
        pairs.push((key, read_value(cursor)?));
        skip_blank(cursor);
        match cursor.peek() {
            Some(',') => {
                cursor.bump();
            }
            Some('}') => {
                cursor.bump();
                return Ok(pairs);
            }
            _ => {
                return Err(expected(
                    cursor,
                    &format!("`,` or `}}` to close the object opened at {open}"),
                ));
            }
        }
    }
}

fn read_string(cursor: &mut Cursor<'_>) -> Result<String, InputError> {
    let start = cursor.pos();
    cursor.bump();
    let mut out = String::new();
    loop {
        let escape_pos = cursor.pos();
        match cursor.bump() {
            None | Some('\n') => {
                return Err(cursor.error_at(
                    escape_pos,
                    format!("the string opened at {start} is not closed (expected `\"`)"),
                ));
            }
            Some('"') => return Ok(out),
            Some('\\') => out.push(match cursor.bump() {
                Some('n') => '\n',
                Some('t') => '\t',
                Some('r') => '\r',
                Some('b') => '\u{8}',
                Some('f') => '\u{c}',
                Some('/') => '/',
                Some('\\') => '\\',
                Some('"') => '"',
                Some('u') => unicode_escape(cursor, escape_pos)?,
                other => {
                    let shown = other.map(|c| c.to_string()).unwrap_or_default();
                    return Err(cursor.error_at(escape_pos, format!("unknown escape `\\{shown}`")));
                }
            }),
            Some(c) => out.push(c),
        }
    }
}

fn read_number(cursor: &mut Cursor<'_>, pos: Pos) -> Result<FormKind, InputError> {
    let token =
        cursor.take_while(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'));
    let bad = || cursor_error(pos, &token);
    if token.contains(['.', 'e', 'E']) {
        return f64::from_str(&token)
            .ok()
            .filter(|x| x.is_finite())
            .map(FormKind::Double)
            .ok_or_else(bad);
    }
    let digits = token.strip_prefix('-').unwrap_or(&token);
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    Ok(match i64::from_str(&token) {
        Ok(n) => FormKind::Long(n),
        Err(_) => FormKind::BigInt(BigInt::from_str(&token).map_err(|_| bad())?),
    })
}

fn cursor_error(pos: Pos, token: &str) -> InputError {
    InputError::Syntax {
        format: Format::Json,
        pos,
        problem: format!("invalid number `{token}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::input::assert_has;

    fn err(text: &str) -> String {
        read_document(text).unwrap_err().to_string()
    }

    #[test]
    fn reads_values_with_positions() {
        let form =
            read_document("[1, -2.5, \"a\\u00e9\", true, null,\n {\"k\": [18446744073709551616]}]")
                .unwrap();
        let FormKind::Vector(items) = form.kind else {
            panic!("not an array")
        };
        assert_eq!(items[0].kind, FormKind::Long(1));
        assert_eq!(items[1].kind, FormKind::Double(-2.5));
        assert_eq!(items[2].kind, FormKind::String("aé".into()));
        assert_eq!(items[4].kind, FormKind::Nil);
        assert_eq!(items[5].pos, Pos { line: 2, column: 2 });
        let FormKind::Map(pairs) = &items[5].kind else {
            panic!("not an object")
        };
        assert!(
            matches!(&pairs[0].1.kind, FormKind::Vector(v) if matches!(v[0].kind, FormKind::BigInt(_)))
        );
    }

    #[test]
    fn hostile_nesting_is_an_error_not_a_stack_overflow() {
        for text in ["[".repeat(100_000), "{\"a\":".repeat(100_000)] {
            let e = err(&text);
            assert!(e.contains("nesting deeper than"), "{e}");
        }
    }

    #[test]
    fn malformed_input_names_line_column_and_expectation() {
        assert_has(&err("[1 2]"), "1:4: invalid JSON: expected `,` or `]`");
        assert_has(
            &err("[\n  {\"a\" 1}]"),
            "2:8: invalid JSON: expected `:` after the key",
        );
        assert_has(&err("{1: 2}"), "expected a string key");
        assert_has(&err("[nope]"), "unexpected word `nope`");
        assert_has(&err("[\"abc"), "not closed");
        assert_has(&err("[1.2.3]"), "invalid number");
        assert_has(&err("[] 1"), "expected end of input");
        assert_has(&err(""), "empty");
    }
}
