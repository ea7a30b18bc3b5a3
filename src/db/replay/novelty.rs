//! A replayed transaction's novelty: the given datoms applied through the
//! transaction engine the writer uses (`src/db/novelty.rs`), retractions
//! first, with schema attributes' values taken from memory and entities
//! issued by the transaction known to hold nothing. So whatever a transform
//! returns, the history stored stays one the reader understands.

use crate::model::{Datom, EntityId, Value, entity_id, partition_of};

use super::super::novelty::{Before, Novelty};
use super::super::{DbError, Snapshot};
use super::rules::{ReplayError, ReplayRule, Resolved, Violation};
use super::schema_state::{SchemaState, is_schema_attribute};

/// The novelty of one transaction being replayed on a snapshot.
pub(super) struct Replayed<'s> {
    novelty: Novelty<'s>,
    schema: &'s SchemaState,
}

impl<'s> Replayed<'s> {
    /// Empty novelty on `snap`, whose schema attributes' values are `schema`.
    pub(super) fn new(snap: &'s Snapshot, schema: &'s SchemaState) -> Self {
        Replayed {
            novelty: Novelty::new(snap),
            schema,
        }
    }

    /// Applies the retractions of `datoms`, then their assertions.
    pub(super) async fn apply(&mut self, datoms: &[Resolved]) -> Result<(), DbError> {
        for d in datoms.iter().filter(|d| !d.named.added) {
            let before = self.before(d.named.e, d.a);
            let v = d.v.clone();
            self.novelty.retract(d.named.e, d.a, v, before).await?;
        }
        for d in datoms.iter().filter(|d| d.named.added) {
            let before = self.before(d.named.e, d.a);
            let v = d.v.clone();
            self.novelty
                .assert(d.named.e, d.a, v, d.one, before)
                .await?;
        }
        Ok(())
    }

    /// Records a datom the writer must store (the transaction's instant).
    pub(super) fn push(&mut self, e: EntityId, a: EntityId, v: Value) {
        self.novelty.emit(e, a, v, true);
    }

    /// Fails when an asserted value of a unique attribute is held, after
    /// this transaction, by another entity too.
    pub(super) async fn check_unique(
        &self,
        tx: u64,
        datoms: &[Resolved],
    ) -> Result<(), ReplayError> {
        for d in datoms.iter().filter(|d| d.unique && d.named.added) {
            let (e, a) = (d.named.e, d.a);
            if !self.novelty.asserts(e, a, &d.v) {
                continue;
            }
            if let Some(holder) = self.novelty.other_holder(a, &d.v, e).await? {
                let rule = ReplayRule::Unique {
                    attribute: d.named.a.clone(),
                    value: d.v.to_string(),
                    holder,
                };
                return Err(Violation::error(tx, d.named.clone(), rule));
            }
        }
        Ok(())
    }

    /// The datoms so far, stamped with `tx` (after the schema datoms are
    /// applied: what changes the schema).
    pub(super) fn schema_datoms(&self, tx: u64) -> Vec<Datom> {
        self.novelty.datoms_of(tx, is_schema_attribute)
    }

    /// The datoms to store, sorted by (e, a, v), stamped with `tx`.
    pub(super) fn into_datoms(self, tx: u64) -> Vec<Datom> {
        self.novelty.into_datoms(tx)
    }

    /// Where the values of (e, a) before this transaction come from: schema
    /// attributes from memory, entities issued after the snapshot have none,
    /// others are read from the snapshot.
    fn before(&self, e: EntityId, a: EntityId) -> impl FnOnce() -> Before + use<'s> {
        let schema = self.schema;
        let issued_here = self.is_new(e);
        move || {
            if is_schema_attribute(a) {
                Before::Known(schema.current(e, a).cloned().collect())
            } else if issued_here {
                Before::Nothing
            } else {
                Before::Stored
            }
        }
    }

    /// Whether `e` was issued after the snapshot (it has no stored datoms).
    fn is_new(&self, e: EntityId) -> bool {
        let next_entity = self.novelty.snapshot().entry.next_entity;
        partition_of(e).is_some_and(|p| e - entity_id(p, 0) >= next_entity[p as usize])
    }
}
