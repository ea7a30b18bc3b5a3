//! The syntax tree both readers produce: literals and collections, each
//! with the position it started at, so later errors can point at it.

use std::fmt;

use bigdecimal::BigDecimal;
use num_bigint::BigInt;

/// A position in the input, both counted from 1 (columns in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    /// The line.
    pub line: usize,
    /// The column.
    pub column: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A form and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Form {
    /// Where the form starts.
    pub pos: Pos,
    /// What it is.
    pub kind: FormKind,
}

/// The kinds of form EDN and JSON share (JSON uses a subset).
#[derive(Debug, Clone, PartialEq)]
pub enum FormKind {
    /// `nil` / `null`.
    Nil,
    /// `true` / `false`.
    Boolean(bool),
    /// An integer that fits 64 bits.
    Long(i64),
    /// An `N`-suffixed or oversized integer.
    BigInt(BigInt),
    /// A floating-point number.
    Double(f64),
    /// An `M`-suffixed number.
    BigDec(BigDecimal),
    /// A string.
    String(String),
    /// A keyword, leading colon included.
    Keyword(String),
    /// A symbol (EDN only; never valid in a transaction).
    Symbol(String),
    /// `#inst "…"`: milliseconds since the epoch.
    Instant(i64),
    /// `#uuid "…"`.
    Uuid(uuid::Uuid),
    /// `#base64 "…"`.
    Bytes(Vec<u8>),
    /// `[…]`, `(…)` or a JSON array.
    Vector(Vec<Form>),
    /// `{…}`, in input order.
    Map(Vec<(Form, Form)>),
}

impl FormKind {
    /// What this form is, for "expected X, found Y" messages.
    pub fn describe(&self) -> String {
        match self {
            FormKind::Nil => "nil".into(),
            FormKind::Boolean(b) => format!("boolean {b}"),
            FormKind::Long(n) => format!("integer {n}"),
            FormKind::BigInt(n) => format!("integer {n}N"),
            FormKind::Double(x) => format!("number {x}"),
            FormKind::BigDec(d) => format!("decimal {d}M"),
            FormKind::String(s) => format!("string {s:?}"),
            FormKind::Keyword(k) => format!("keyword {k}"),
            FormKind::Symbol(s) => format!("symbol `{s}`"),
            FormKind::Instant(_) => "an #inst".into(),
            FormKind::Uuid(_) => "a #uuid".into(),
            FormKind::Bytes(_) => "a #base64".into(),
            FormKind::Vector(_) => "a vector".into(),
            FormKind::Map(_) => "a map".into(),
        }
    }
}
