//! The demo schema: one `:person/*` attribute per value type, plus a
//! cardinality-many keyword, a cardinality-many ref and a unique identity.

use crate::db::{EntityRef, InputValue, TxOp};
use crate::model::{Cardinality, Unique, ValueType};

/// One attribute of the demo schema.
pub(super) struct DemoAttribute {
    /// The ident.
    pub ident: &'static str,
    /// Its value type.
    pub value_type: ValueType,
    /// Its cardinality.
    pub cardinality: Cardinality,
    /// Its uniqueness.
    pub unique: Option<Unique>,
    /// What it means, as `:db/doc`.
    pub doc: &'static str,
}

const fn attr(
    ident: &'static str,
    value_type: ValueType,
    cardinality: Cardinality,
    unique: Option<Unique>,
    doc: &'static str,
) -> DemoAttribute {
    DemoAttribute {
        ident,
        value_type,
        cardinality,
        unique,
        doc,
    }
}

use Cardinality::{Many, One};

/// The identity attribute: every generated person has one email.
pub(super) const EMAIL: &str = ":person/email";
/// Cardinality-many keywords.
pub(super) const TAGS: &str = ":person/tags";
/// Cardinality-many refs to other people.
pub(super) const FRIENDS: &str = ":person/friends";
/// A cardinality-one ref to another person.
pub(super) const MANAGER: &str = ":person/manager";

/// Every attribute of the demo schema.
pub(super) const ATTRIBUTES: [DemoAttribute; 14] = [
    attr(
        EMAIL,
        ValueType::String,
        One,
        Some(Unique::Identity),
        "A person's email; identifies them.",
    ),
    attr(":person/name", ValueType::String, One, None, "Full name."),
    attr(":person/age", ValueType::Long, One, None, "Age in years."),
    attr(
        ":person/score",
        ValueType::Double,
        One,
        None,
        "A score between 0 and 100.",
    ),
    attr(
        ":person/active",
        ValueType::Boolean,
        One,
        None,
        "Whether the account is active.",
    ),
    attr(
        ":person/status",
        ValueType::Keyword,
        One,
        None,
        "One of :status/active, :status/away, :status/gone.",
    ),
    attr(
        ":person/born",
        ValueType::Instant,
        One,
        None,
        "Date of birth.",
    ),
    attr(
        ":person/uuid",
        ValueType::Uuid,
        One,
        None,
        "An external id.",
    ),
    attr(
        ":person/avatar",
        ValueType::Bytes,
        One,
        None,
        "A tiny picture.",
    ),
    attr(
        ":person/followers",
        ValueType::BigInt,
        One,
        None,
        "Followers, a big number.",
    ),
    attr(
        ":person/balance",
        ValueType::BigDec,
        One,
        None,
        "Account balance, two decimals.",
    ),
    attr(MANAGER, ValueType::Ref, One, None, "Another person."),
    attr(FRIENDS, ValueType::Ref, Many, None, "Other people."),
    attr(TAGS, ValueType::Keyword, Many, None, "Free-form tags."),
];

/// The statements that define the demo schema.
pub(super) fn schema_ops() -> Vec<TxOp> {
    let mut ops = Vec::new();
    for a in &ATTRIBUTES {
        let e = EntityRef::Temp(format!("attribute {}", a.ident));
        let mut add = |attribute: &str, v: InputValue| {
            ops.push(TxOp::Add {
                e: e.clone(),
                a: attribute.to_string(),
                v,
            })
        };
        add(":db/ident", InputValue::Keyword(a.ident.into()));
        add(
            ":db/valueType",
            InputValue::Keyword(a.value_type.keyword().into()),
        );
        add(
            ":db/cardinality",
            InputValue::Keyword(a.cardinality.keyword().into()),
        );
        if let Some(u) = a.unique {
            add(":db/unique", InputValue::Keyword(u.keyword().into()));
        }
        add(":db/doc", InputValue::String(a.doc.into()));
    }
    ops
}

/// The cardinality-one attributes a generated update may change (not the
/// identity, so people keep who they are; not refs, which need a partner).
pub(super) fn updatable() -> impl Iterator<Item = &'static DemoAttribute> {
    ATTRIBUTES
        .iter()
        .filter(|a| a.cardinality == One && a.unique.is_none() && a.value_type != ValueType::Ref)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_covers_every_value_type_and_the_required_shapes() {
        for t in ValueType::ALL {
            assert!(ATTRIBUTES.iter().any(|a| a.value_type == t), "{t} missing");
        }
        assert!(ATTRIBUTES.iter().any(|a| a.cardinality == Many));
        assert!(
            ATTRIBUTES
                .iter()
                .any(|a| a.unique == Some(Unique::Identity))
        );
        assert!(schema_ops().len() > ATTRIBUTES.len() * 4);
    }
}
