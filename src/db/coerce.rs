//! Converting an untyped [`InputValue`] to a value of an attribute's type.

use std::str::FromStr;

use base64::Engine;
use bigdecimal::BigDecimal;
use num_bigint::BigInt;

use crate::model::{Attribute, EntityId, Value, ValueType};

use super::{DbError, InputValue};

/// A converted value; references are resolved by the writer, which knows
/// the temp ids and idents of the transaction.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Coerced {
    /// A finished value.
    Value(Value),
    /// A reference by temp id.
    TempRef(String),
    /// A reference by `:db/ident`.
    IdentRef(String),
    /// A reference by entity id (not yet checked to exist).
    IdRef(EntityId),
}

/// Converts `input` to `attr`'s value type, or says why it does not fit.
pub(crate) fn coerce(attr: &Attribute, input: &InputValue) -> Result<Coerced, DbError> {
    use InputValue as I;
    let value = match (attr.value_type, input) {
        (ValueType::Ref, I::Long(n)) if *n >= 0 => return Ok(Coerced::IdRef(n.unsigned_abs())),
        (ValueType::Ref, I::Keyword(k)) => return Ok(Coerced::IdentRef(k.clone())),
        (ValueType::Ref, I::String(s)) if s.starts_with(':') => {
            return Ok(Coerced::IdentRef(s.clone()));
        }
        (ValueType::Ref, I::String(s)) => return Ok(Coerced::TempRef(s.clone())),
        (ValueType::Long, I::Long(n)) => Some(Value::Long(*n)),
        (ValueType::Double, I::Double(x)) => Some(Value::Double(*x)),
        (ValueType::Double, I::Long(n)) => Some(Value::Double(*n as f64)),
        (ValueType::Boolean, I::Boolean(b)) => Some(Value::Boolean(*b)),
        (ValueType::String, I::String(s)) => Some(Value::String(s.clone())),
        (ValueType::Keyword, I::Keyword(k)) => Some(Value::Keyword(k.clone())),
        (ValueType::Keyword, I::String(s)) if s.starts_with(':') => Some(Value::Keyword(s.clone())),
        (ValueType::Instant, I::Instant(ms)) => Some(Value::Instant(*ms)),
        (ValueType::Instant, I::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| Value::Instant(t.timestamp_millis())),
        (ValueType::Uuid, I::Uuid(u)) => Some(Value::Uuid(*u)),
        (ValueType::Uuid, I::String(s)) => uuid::Uuid::parse_str(s).ok().map(Value::Uuid),
        (ValueType::Bytes, I::Bytes(b)) => Some(Value::Bytes(b.clone())),
        (ValueType::Bytes, I::String(s)) => base64::engine::general_purpose::STANDARD
            .decode(s)
            .ok()
            .map(Value::Bytes),
        (ValueType::BigInt, I::BigInt(n)) => Some(Value::BigInt(n.clone())),
        (ValueType::BigInt, I::Long(n)) => Some(Value::BigInt(BigInt::from(*n))),
        (ValueType::BigInt, I::String(s)) => BigInt::from_str(s).ok().map(Value::BigInt),
        (ValueType::BigDec, I::BigDec(d)) => Some(Value::bigdec(d.clone())),
        (ValueType::BigDec, I::Long(n)) => Some(Value::bigdec(BigDecimal::from(*n))),
        (ValueType::BigDec, I::Double(x)) if x.is_finite() => {
            BigDecimal::from_str(&x.to_string()).ok().map(Value::bigdec)
        }
        (ValueType::BigDec, I::String(s)) => BigDecimal::from_str(s).ok().map(Value::bigdec),
        _ => None,
    };
    value
        .map(Coerced::Value)
        .ok_or_else(|| wrong_type(attr, input))
}

/// The [`DbError::WrongValueType`] for `input` given to `attr`.
pub(crate) fn wrong_type(attr: &Attribute, input: &InputValue) -> DbError {
    DbError::WrongValueType {
        attribute: attr.ident.clone(),
        expected: attr.value_type,
        found: describe(input),
    }
}

/// An input value as written, with its literal kind, for messages.
pub(crate) fn describe(input: &InputValue) -> String {
    match input {
        InputValue::Long(n) => format!("long {n}"),
        InputValue::Double(x) => format!("double {x}"),
        InputValue::Boolean(b) => format!("boolean {b}"),
        InputValue::String(s) => format!("string {s:?}"),
        InputValue::Keyword(k) => format!("keyword {k}"),
        InputValue::Instant(ms) => format!("instant {ms}"),
        InputValue::Uuid(u) => format!("uuid {u}"),
        InputValue::Bytes(b) => format!("{} bytes", b.len()),
        InputValue::BigInt(n) => format!("bigint {n}N"),
        InputValue::BigDec(d) => format!("bigdec {d}M"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Cardinality;

    fn attr(value_type: ValueType) -> Attribute {
        Attribute {
            id: 70,
            ident: ":t/x".into(),
            value_type,
            cardinality: Cardinality::One,
            unique: None,
        }
    }

    fn ok(t: ValueType, input: InputValue) -> Coerced {
        coerce(&attr(t), &input).unwrap()
    }

    #[test]
    fn widens_and_parses_where_the_type_allows() {
        assert_eq!(
            ok(ValueType::Double, InputValue::Long(2)),
            Coerced::Value(Value::Double(2.0))
        );
        assert_eq!(
            ok(ValueType::Keyword, InputValue::String(":a/b".into())),
            Coerced::Value(Value::Keyword(":a/b".into()))
        );
        assert_eq!(
            ok(
                ValueType::Instant,
                InputValue::String("1970-01-01T00:00:01Z".into())
            ),
            Coerced::Value(Value::Instant(1000))
        );
        assert_eq!(
            ok(ValueType::BigDec, InputValue::String("1.50".into())),
            Coerced::Value(Value::bigdec(BigDecimal::from_str("1.5").unwrap()))
        );
        assert_eq!(
            ok(ValueType::Ref, InputValue::String("tmp".into())),
            Coerced::TempRef("tmp".into())
        );
        assert_eq!(
            ok(ValueType::Ref, InputValue::Keyword(":e/x".into())),
            Coerced::IdentRef(":e/x".into())
        );
    }

    #[test]
    fn refuses_what_does_not_fit_naming_the_attribute() {
        let err = coerce(&attr(ValueType::Long), &InputValue::String("x".into())).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(":t/x") && msg.contains(":db.type/long") && msg.contains("\"x\""));
        assert!(coerce(&attr(ValueType::Uuid), &InputValue::String("nope".into())).is_err());
    }
}
