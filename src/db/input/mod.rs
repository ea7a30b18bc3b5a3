//! Transaction input: EDN and JSON text into [`TxOp`]s.
//!
//! EDN, a vector of statements:
//!
//! ```edn
//! [[:db/add "alice" :person/name "Alice"]      ; "alice" is a temp id
//!  {:db/id "bob", :person/name "Bob", :person/tags [:a :b]}
//!  [:db/retract 4398046511105 :person/age 41]]
//! ```
//!
//! JSON, an array of the same statements (attribute names with or without
//! their leading colon; strings are converted to the attribute's type by
//! the writer, e.g. an RFC 3339 instant):
//!
//! ```json
//! [["add", "alice", ":person/name", "Alice"],
//!  {"db/id": "bob", "person/name": "Bob", "person/tags": [":a", ":b"]}]
//! ```
//!
//! Errors carry the line and column of the offending form.

mod cursor;
mod edn;
mod form;
mod json;
mod statements;

use std::fmt;

pub use form::{Form, FormKind, Pos};

use super::{InputValue, TxOp};

/// A transaction input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Extensible Data Notation, as Datomic and Eva take transactions.
    Edn,
    /// JSON, for tools that do not speak EDN.
    Json,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Edn => "EDN",
            Format::Json => "JSON",
        })
    }
}

/// Transaction input that cannot be read or is not a valid transaction.
/// The message starts with `line:column`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InputError {
    /// The text is not well-formed EDN or JSON.
    #[error("{pos}: invalid {format}: {problem}")]
    Syntax {
        /// The format being read.
        format: Format,
        /// Where the problem is.
        pos: Pos,
        /// What is wrong, and what was expected.
        problem: String,
    },
    /// The text reads, but a statement is not one a transaction allows.
    #[error("{pos}: invalid statement: {problem}")]
    Statement {
        /// Where the statement or its bad part starts.
        pos: Pos,
        /// What is wrong, and what was expected.
        problem: String,
    },
}

impl InputError {
    /// Where the problem is.
    pub fn pos(&self) -> Pos {
        match self {
            InputError::Syntax { pos, .. } | InputError::Statement { pos, .. } => *pos,
        }
    }
}

/// Guesses the format of `text`: JSON when the first token inside the
/// opening brackets is a string (`[["add", …`, `[{"db/id": …`), else EDN
/// (`[[:db/add …`, `[{:db/id …`, comments with `;`).
pub fn detect(text: &str) -> Format {
    let first = text
        .chars()
        .find(|c| !(c.is_whitespace() || *c == ',' || *c == '[' || *c == '{'));
    match first {
        Some('"') => Format::Json,
        _ => Format::Edn,
    }
}

/// Parses a transaction in `format` (or the detected one when `None`).
pub fn parse(text: &str, format: Option<Format>) -> Result<Vec<TxOp>, InputError> {
    match format.unwrap_or_else(|| detect(text)) {
        Format::Edn => statements::from_edn(&edn::read_document(text)?),
        Format::Json => statements::from_json(&json::read_document(text)?),
    }
}

/// Parses a transaction in EDN.
pub fn parse_edn(text: &str) -> Result<Vec<TxOp>, InputError> {
    parse(text, Some(Format::Edn))
}

/// Parses a transaction in JSON.
pub fn parse_json(text: &str) -> Result<Vec<TxOp>, InputError> {
    parse(text, Some(Format::Json))
}

/// Reads exactly one EDN form (e.g. a datom component given on the
/// command line: `42`, `:person/name`, `"Alice"`, `#inst "2024-01-01T00:00:00Z"`).
pub fn read_edn_form(text: &str) -> Result<Form, InputError> {
    edn::read_document(text)
}

/// The scalar value an EDN literal stands for, as transaction input would
/// take it; collections, `nil` and symbols are refused.
pub fn edn_literal(text: &str) -> Result<InputValue, InputError> {
    statements::scalar(&read_edn_form(text)?)
}

/// Test helper: asserts that an error message contains `needle`, showing it if not.
#[cfg(test)]
fn assert_has(message: &str, needle: &str) {
    assert!(message.contains(needle), "`{needle}` not in: {message}");
}
