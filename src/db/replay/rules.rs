//! The rules a replayed transaction must keep, and the checks that need no
//! stored state: entity ids issued by the partition rules, attributes that
//! exist, values of the attribute's type, one value per cardinality-one
//! attribute and entity.

use std::collections::BTreeMap;

use crate::model::{
    Cardinality, EntityId, NamedDatom, Partition, Schema, Value, ValueType, entity_id,
    partition_of, tx_entity,
};

use super::super::DbError;
use super::super::tx_build::schema_value_ok;

/// A rule of the data model that a datom of a replayed transaction breaks.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReplayRule {
    /// The attribute's ident names no attribute.
    #[error(
        "attribute `{ident}` is not defined, neither before this transaction nor by a datom of it"
    )]
    UnknownAttribute {
        /// The ident given.
        ident: String,
    },
    /// The value is not of the attribute's type.
    #[error("attribute `{attribute}` takes {expected} values, got a {found} value")]
    WrongValueType {
        /// The attribute's ident.
        attribute: String,
        /// Its type.
        expected: ValueType,
        /// The value's type.
        found: ValueType,
    },
    /// A schema attribute given a keyword it does not understand.
    #[error("`{value}` is not a valid value of `{attribute}`")]
    InvalidSchemaValue {
        /// The schema attribute's ident.
        attribute: String,
        /// The value, rendered.
        value: String,
    },
    /// An entity id (the entity or a reference) the partitions never issued
    /// as of this transaction.
    #[error("entity id {entity} was never issued as of this transaction: {reason}")]
    UnissuedEntity {
        /// The id.
        entity: EntityId,
        /// Which partition rule it breaks.
        reason: String,
    },
    /// A datom stating the transaction's own instant.
    #[error(
        "the transaction entity's `:db/txInstant` is written from the transaction's instant and may not be stated"
    )]
    TxInstant,
    /// Several values asserted for a cardinality-one attribute of one entity.
    #[error(
        "attribute `{attribute}` has cardinality one, but the transaction asserts {count} values of it for entity {entity}"
    )]
    CardinalityOne {
        /// The attribute's ident.
        attribute: String,
        /// The entity.
        entity: EntityId,
        /// How many distinct values are asserted.
        count: usize,
    },
    /// A unique attribute's value held by two entities.
    #[error(
        "attribute `{attribute}` is unique and value {value} is already held by entity {holder}"
    )]
    Unique {
        /// The attribute's ident.
        attribute: String,
        /// The value, rendered.
        value: String,
        /// The entity holding it.
        holder: EntityId,
    },
}

/// A datom of a replayed transaction that breaks a rule of the model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("transaction {tx}: {datom} breaks a rule: {rule}")]
pub struct Violation {
    /// The transaction number.
    pub tx: u64,
    /// The datom at fault, as given.
    pub datom: NamedDatom,
    /// The rule it breaks.
    pub rule: ReplayRule,
}

impl Violation {
    /// The violation as an error.
    pub(super) fn error(tx: u64, datom: NamedDatom, rule: ReplayRule) -> ReplayError {
        ReplayError::Violation(Box::new(Violation { tx, datom, rule }))
    }
}

/// Why a transaction could not be replayed. Nothing of it is reachable: its
/// entry was not stored (nodes below it may be, content-addressed and
/// unreferenced).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A datom breaks a rule of the model.
    #[error(transparent)]
    Violation(Box<Violation>),
    /// The transaction does not follow the last one replayed.
    #[error("transaction {tx} cannot be replayed here: {reason}")]
    OutOfOrder {
        /// The transaction number.
        tx: u64,
        /// What is out of order.
        reason: String,
    },
    /// Reading or writing the database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The checks that need only the transaction: every entity id the datom
/// names (its entity, a reference value) was issued by its partition as of
/// transaction `tx`, whose entity counters after it are `next_entity`
/// (Db, Tx, User); and the datom does not state the transaction's own
/// `:db/txInstant`. A transform can run these on its output before the
/// writer sees it.
pub fn check_issued(tx: u64, next_entity: [u64; 3], datom: &NamedDatom) -> Result<(), ReplayRule> {
    if datom.e == tx_entity(tx) && datom.a == ":db/txInstant" {
        return Err(ReplayRule::TxInstant);
    }
    issued(tx, next_entity, datom.e)?;
    match datom.v {
        Value::Ref(id) => issued(tx, next_entity, id),
        _ => Ok(()),
    }
}

/// `id` if its partition has handed it out by transaction `tx`.
fn issued(tx: u64, next_entity: [u64; 3], id: EntityId) -> Result<(), ReplayRule> {
    let unissued = |reason: String| ReplayRule::UnissuedEntity { entity: id, reason };
    let Some(p) = partition_of(id) else {
        return Err(unissued(format!(
            "its partition {} is none of db (0), tx (1), user (2)",
            id >> 42
        )));
    };
    let counter = id - entity_id(p, 0);
    let (name, next) = match p {
        Partition::Db => ("db", next_entity[0]),
        Partition::Tx => ("tx", tx + 1),
        Partition::User => ("user", next_entity[2]),
    };
    if counter < next {
        Ok(())
    } else {
        Err(unissued(format!(
            "the {name} partition had issued counters 0..{next} by then, and rebuilt ids come from the source, never invented"
        )))
    }
}

/// A datom whose attribute is resolved and checked.
#[derive(Debug, Clone)]
pub(super) struct Resolved {
    /// As given (for messages).
    pub named: NamedDatom,
    /// The attribute id.
    pub a: EntityId,
    /// The value, in canonical form.
    pub v: Value,
    /// The attribute is cardinality one.
    pub one: bool,
    /// The attribute is unique (identity or value).
    pub unique: bool,
}

/// Resolves each datom's ident in `schema`, else in `fallback` (the schema
/// before the transaction: an attribute it drops may still be named in it),
/// and checks the value's type.
pub(super) fn resolve(
    tx: u64,
    datoms: Vec<NamedDatom>,
    schema: &Schema,
    fallback: Option<&Schema>,
) -> Result<Vec<Resolved>, ReplayError> {
    datoms
        .into_iter()
        .map(|named| {
            let fail = |named: NamedDatom, rule| Violation::error(tx, named, rule);
            let found = schema
                .by_ident(&named.a)
                .or_else(|| fallback.and_then(|f| f.by_ident(&named.a)));
            let Some(attr) = found else {
                let ident = named.a.clone();
                return Err(fail(named, ReplayRule::UnknownAttribute { ident }));
            };
            let v = match &named.v {
                Value::BigDec(d) => Value::bigdec(d.clone()),
                other => other.clone(),
            };
            if v.value_type() != attr.value_type {
                let rule = ReplayRule::WrongValueType {
                    attribute: attr.ident.clone(),
                    expected: attr.value_type,
                    found: v.value_type(),
                };
                return Err(fail(named, rule));
            }
            if !schema_value_ok(attr.id, &v) {
                let rule = ReplayRule::InvalidSchemaValue {
                    attribute: attr.ident.clone(),
                    value: v.to_string(),
                };
                return Err(fail(named, rule));
            }
            Ok(Resolved {
                a: attr.id,
                v,
                one: attr.cardinality == Cardinality::One,
                unique: attr.unique.is_some(),
                named,
            })
        })
        .collect()
}

/// Fails when a cardinality-one attribute of one entity is asserted with
/// two different values in one transaction.
pub(super) fn check_cardinality(tx: u64, datoms: &[Resolved]) -> Result<(), ReplayError> {
    let mut asserted: BTreeMap<(EntityId, EntityId), Vec<&Resolved>> = BTreeMap::new();
    for d in datoms.iter().filter(|d| d.one && d.named.added) {
        let values = asserted.entry((d.named.e, d.a)).or_default();
        if !values.iter().any(|x| x.v == d.v) {
            values.push(d);
        }
    }
    match asserted.into_values().find(|values| values.len() > 1) {
        None => Ok(()),
        Some(values) => {
            let count = values.len();
            let d = values[count - 1];
            let rule = ReplayRule::CardinalityOne {
                attribute: d.named.a.clone(),
                entity: d.named.e,
                count,
            };
            Err(Violation::error(tx, d.named.clone(), rule))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::builtin;

    fn named(e: EntityId, a: &str, v: Value) -> NamedDatom {
        NamedDatom {
            e,
            a: a.into(),
            v,
            added: true,
        }
    }

    #[test]
    fn ids_must_have_been_issued_by_their_partition() {
        let next = [70, 6, 10];
        let user = |n| entity_id(Partition::User, n);
        let ok = named(user(9), ":a/b", Value::Ref(tx_entity(5)));
        assert_eq!(check_issued(5, next, &ok), Ok(()));
        for bad in [
            named(user(10), ":a/b", Value::Long(1)),
            named(user(1), ":a/b", Value::Ref(tx_entity(6))),
            named(entity_id(Partition::Db, 70), ":a/b", Value::Long(1)),
            named(7 << 42, ":a/b", Value::Long(1)),
        ] {
            assert!(
                matches!(
                    check_issued(5, next, &bad),
                    Err(ReplayRule::UnissuedEntity { .. })
                ),
                "{bad}"
            );
        }
        let instant = named(tx_entity(5), ":db/txInstant", Value::Instant(1));
        assert_eq!(check_issued(5, next, &instant), Err(ReplayRule::TxInstant));
    }

    #[test]
    fn resolves_names_and_checks_types() {
        let schema = Schema::from_current_datoms(&builtin::bootstrap_datoms());
        let ok = resolve(
            1,
            vec![named(64, ":db/ident", Value::Keyword(":a/b".into()))],
            &schema,
            None,
        )
        .unwrap();
        assert_eq!(ok[0].a, builtin::IDENT);
        let err = |d| resolve(1, vec![d], &schema, None).unwrap_err().to_string();
        let text = err(named(64, ":db/ident", Value::String(":a/b".into())));
        assert!(text.contains(":db.type/keyword") && text.contains("transaction 1"));
        assert!(err(named(64, ":no/such", Value::Long(1))).contains("`:no/such` is not defined"));
        assert!(
            err(named(
                64,
                ":db/valueType",
                Value::Keyword(":db.type/x".into())
            ))
            .contains("not a valid value")
        );
    }
}
