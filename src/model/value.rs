//! Datom values and their types.

use std::cmp::Ordering;
use std::fmt;

use bigdecimal::BigDecimal;
use num_bigint::BigInt;
use serde::{Deserialize, Serialize};

/// The type of an attribute's values (`:db/valueType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ValueType {
    /// 64-bit signed integer (`:db.type/long`).
    Long,
    /// 64-bit float (`:db.type/double`).
    Double,
    /// `:db.type/boolean`.
    Boolean,
    /// UTF-8 text (`:db.type/string`).
    String,
    /// A namespaced name such as `:person/name` (`:db.type/keyword`).
    Keyword,
    /// A reference to another entity (`:db.type/ref`).
    Ref,
    /// Milliseconds since the Unix epoch (`:db.type/instant`).
    Instant,
    /// `:db.type/uuid`.
    Uuid,
    /// Opaque bytes (`:db.type/bytes`).
    Bytes,
    /// Arbitrary-precision integer (`:db.type/bigint`).
    BigInt,
    /// Arbitrary-precision decimal (`:db.type/bigdec`).
    BigDec,
}

impl ValueType {
    /// Every type, in tag order.
    pub const ALL: [ValueType; 11] = [
        ValueType::Long,
        ValueType::Double,
        ValueType::Boolean,
        ValueType::String,
        ValueType::Keyword,
        ValueType::Ref,
        ValueType::Instant,
        ValueType::Uuid,
        ValueType::Bytes,
        ValueType::BigInt,
        ValueType::BigDec,
    ];

    /// The schema keyword naming this type, e.g. `:db.type/long`.
    pub fn keyword(self) -> &'static str {
        match self {
            ValueType::Long => ":db.type/long",
            ValueType::Double => ":db.type/double",
            ValueType::Boolean => ":db.type/boolean",
            ValueType::String => ":db.type/string",
            ValueType::Keyword => ":db.type/keyword",
            ValueType::Ref => ":db.type/ref",
            ValueType::Instant => ":db.type/instant",
            ValueType::Uuid => ":db.type/uuid",
            ValueType::Bytes => ":db.type/bytes",
            ValueType::BigInt => ":db.type/bigint",
            ValueType::BigDec => ":db.type/bigdec",
        }
    }

    /// The type a schema keyword names, if any.
    pub fn from_keyword(keyword: &str) -> Option<ValueType> {
        ValueType::ALL.into_iter().find(|t| t.keyword() == keyword)
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// One datom value. Values order first by type, then within the type
/// (doubles by IEEE total order), so every index has one total order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Value {
    /// See [`ValueType::Long`].
    Long(i64),
    /// See [`ValueType::Double`].
    Double(f64),
    /// See [`ValueType::Boolean`].
    Boolean(bool),
    /// See [`ValueType::String`].
    String(String),
    /// See [`ValueType::Keyword`]; stored with its leading colon.
    Keyword(String),
    /// See [`ValueType::Ref`].
    Ref(u64),
    /// See [`ValueType::Instant`]: milliseconds since the epoch.
    Instant(i64),
    /// See [`ValueType::Uuid`].
    Uuid(uuid::Uuid),
    /// See [`ValueType::Bytes`].
    Bytes(Vec<u8>),
    /// See [`ValueType::BigInt`].
    BigInt(BigInt),
    /// See [`ValueType::BigDec`]; always kept normalized (no trailing zeros),
    /// so equal numbers have equal bytes. Stored as its decimal text
    /// (bigdecimal's own serde form needs `deserialize_any`, which the
    /// postcard codec does not have).
    BigDec(#[serde(with = "bigdec_text")] BigDecimal),
}

impl Value {
    /// The value's type.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Long(_) => ValueType::Long,
            Value::Double(_) => ValueType::Double,
            Value::Boolean(_) => ValueType::Boolean,
            Value::String(_) => ValueType::String,
            Value::Keyword(_) => ValueType::Keyword,
            Value::Ref(_) => ValueType::Ref,
            Value::Instant(_) => ValueType::Instant,
            Value::Uuid(_) => ValueType::Uuid,
            Value::Bytes(_) => ValueType::Bytes,
            Value::BigInt(_) => ValueType::BigInt,
            Value::BigDec(_) => ValueType::BigDec,
        }
    }

    /// A big decimal in its canonical form.
    pub fn bigdec(d: BigDecimal) -> Value {
        Value::BigDec(d.normalized())
    }

    /// The entity a ref value points at.
    pub fn as_ref_id(&self) -> Option<u64> {
        match self {
            Value::Ref(id) => Some(*id),
            _ => None,
        }
    }

    /// The text of a keyword value.
    pub fn as_keyword(&self) -> Option<&str> {
        match self {
            Value::Keyword(k) => Some(k),
            _ => None,
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Value {}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Value {
    fn cmp(&self, other: &Self) -> Ordering {
        use Value::*;
        match (self, other) {
            (Long(a), Long(b)) => a.cmp(b),
            (Double(a), Double(b)) => a.total_cmp(b),
            (Boolean(a), Boolean(b)) => a.cmp(b),
            (String(a), String(b)) | (Keyword(a), Keyword(b)) => a.cmp(b),
            (Ref(a), Ref(b)) => a.cmp(b),
            (Instant(a), Instant(b)) => a.cmp(b),
            (Uuid(a), Uuid(b)) => a.cmp(b),
            (Bytes(a), Bytes(b)) => a.cmp(b),
            (BigInt(a), BigInt(b)) => a.cmp(b),
            (BigDec(a), BigDec(b)) => a.cmp(b),
            _ => self.value_type().cmp(&other.value_type()),
        }
    }
}

impl fmt::Display for Value {
    /// EDN-like rendering, as `db datoms` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Long(v) => write!(f, "{v}"),
            Value::Double(v) if v.fract() == 0.0 && v.is_finite() => write!(f, "{v:.1}"),
            Value::Double(v) => write!(f, "{v}"),
            Value::Boolean(v) => write!(f, "{v}"),
            Value::String(v) => write!(f, "{v:?}"),
            Value::Keyword(v) => f.write_str(v),
            Value::Ref(v) => write!(f, "{v}"),
            Value::Instant(ms) => match chrono::DateTime::from_timestamp_millis(*ms) {
                Some(t) => write!(f, "#inst \"{}\"", t.format("%Y-%m-%dT%H:%M:%S%.3fZ")),
                None => write!(f, "#inst {ms}"),
            },
            Value::Uuid(u) => write!(f, "#uuid \"{u}\""),
            Value::Bytes(b) => {
                use base64::Engine;
                write!(
                    f,
                    "#base64 \"{}\"",
                    base64::engine::general_purpose::STANDARD.encode(b)
                )
            }
            Value::BigInt(v) => write!(f, "{v}N"),
            Value::BigDec(v) => write!(f, "{v}M"),
        }
    }
}

/// Serde for big decimals as their decimal text, readable by any format.
mod bigdec_text {
    use std::str::FromStr;

    use bigdecimal::BigDecimal;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(super) fn serialize<S: Serializer>(d: &BigDecimal, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&d.to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BigDecimal, D::Error> {
        let text = String::deserialize(d)?;
        BigDecimal::from_str(&text).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_through_the_codec() {
        use crate::model::{Datom, Index, IndexLeaf, Node, decode, encode};
        use std::str::FromStr;
        let values = [
            Value::Long(-3),
            Value::Double(1.5),
            Value::Boolean(true),
            Value::String("s".into()),
            Value::Keyword(":k/w".into()),
            Value::Ref(7),
            Value::Instant(1000),
            Value::Uuid(uuid::Uuid::nil()),
            Value::Bytes(vec![0, 1]),
            Value::BigInt(BigInt::from(10).pow(30)),
            Value::bigdec(BigDecimal::from_str("-1234.50").unwrap()),
            Value::bigdec(BigDecimal::from_str("1e40").unwrap()),
        ];
        for v in values {
            let node = Node::IndexLeaf(IndexLeaf {
                format: crate::model::Format::V1,
                index: Index::Eavt,
                datoms: vec![Datom {
                    e: 1,
                    a: 2,
                    v: v.clone(),
                    tx: 0,
                    added: true,
                }],
            });
            assert_eq!(decode(&encode(&node)).unwrap(), node, "{v:?}");
        }
    }

    #[test]
    fn values_order_by_type_then_content() {
        assert!(Value::Long(5) < Value::Double(-1.0));
        assert!(Value::Double(-0.0) < Value::Double(0.0));
        assert!(Value::String("a".into()) < Value::String("b".into()));
        assert_ne!(Value::String("a".into()), Value::Keyword("a".into()));
    }

    #[test]
    fn type_keywords_round_trip() {
        for t in ValueType::ALL {
            assert_eq!(ValueType::from_keyword(t.keyword()), Some(t));
        }
    }
}
