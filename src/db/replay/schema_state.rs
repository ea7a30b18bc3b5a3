//! The schema as a sequence of transactions evolves it, kept in memory so
//! that replaying a log does not reread the schema for every transaction.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{Datom, EntityId, Schema, Value, builtin};

use super::super::{DbError, Snapshot};

/// Whether `a` is one of the attributes that define attributes
/// (`:db/ident`, `:db/valueType`, `:db/cardinality`, `:db/unique`).
pub fn is_schema_attribute(a: EntityId) -> bool {
    (builtin::IDENT..=builtin::UNIQUE).contains(&a)
}

/// The current datoms of the schema attributes and the [`Schema`] they
/// define, as of one transaction. [`SchemaState::apply`] moves it to the
/// next transaction; cloning it gives "the schema before" while the next is
/// worked out.
#[derive(Debug, Clone, Default)]
pub struct SchemaState {
    /// Current values of (entity, schema attribute).
    current: BTreeMap<(EntityId, EntityId), BTreeSet<Value>>,
    schema: Schema,
}

impl SchemaState {
    /// The schema state as of `snapshot` (one read of the schema datoms).
    pub async fn load(snapshot: &Snapshot) -> Result<SchemaState, DbError> {
        let mut state = SchemaState::default();
        for d in snapshot.schema_datoms().await? {
            state.current.entry((d.e, d.a)).or_default().insert(d.v);
        }
        state.rebuild();
        Ok(state)
    }

    /// The schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The current values of schema attribute `a` of entity `e`.
    pub fn current(&self, e: EntityId, a: EntityId) -> impl Iterator<Item = &Value> {
        self.current.get(&(e, a)).into_iter().flatten()
    }

    /// Applies one transaction's datoms (its novelty: retractions of current
    /// values, assertions of new ones): the retractions first, then the
    /// assertions; datoms of other attributes are ignored. Returns whether
    /// the schema attributes changed.
    pub fn apply(&mut self, datoms: &[Datom]) -> bool {
        let mut changed = false;
        for added in [false, true] {
            for d in datoms
                .iter()
                .filter(|d| d.added == added && is_schema_attribute(d.a))
            {
                let values = self.current.entry((d.e, d.a)).or_default();
                changed |= if added {
                    values.insert(d.v.clone())
                } else {
                    values.remove(&d.v)
                };
            }
        }
        if changed {
            self.current.retain(|_, values| !values.is_empty());
            self.rebuild();
        }
        changed
    }

    fn rebuild(&mut self) {
        let datoms: Vec<Datom> = self
            .current
            .iter()
            .flat_map(|((e, a), values)| {
                values.iter().map(|v| Datom {
                    e: *e,
                    a: *a,
                    v: v.clone(),
                    tx: 0,
                    added: true,
                })
            })
            .collect();
        self.schema = Schema::from_current_datoms(&datoms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ValueType;

    fn d(e: EntityId, a: EntityId, k: &str, added: bool) -> Datom {
        Datom {
            e,
            a,
            v: Value::Keyword(k.into()),
            tx: 1,
            added,
        }
    }

    #[test]
    fn applies_retractions_before_assertions() {
        let mut state = SchemaState::default();
        state.apply(&builtin::bootstrap_datoms());
        assert!(state.apply(&[
            d(64, builtin::IDENT, ":a/x", true),
            d(64, builtin::VALUE_TYPE, ":db.type/long", true),
        ]));
        assert_eq!(
            state.schema().by_ident(":a/x").map(|a| a.value_type),
            Some(ValueType::Long)
        );
        // A rename: the new ident asserted, the old retracted, in either order.
        state.apply(&[
            d(64, builtin::IDENT, ":a/y", true),
            d(64, builtin::IDENT, ":a/x", false),
        ]);
        assert!(state.schema().by_ident(":a/x").is_none());
        assert_eq!(state.schema().by_ident(":a/y").map(|a| a.id), Some(64));
        assert!(!state.apply(&[d(65, 70, ":not/schema", true)]));
    }
}
