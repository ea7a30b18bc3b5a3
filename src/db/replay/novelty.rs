//! A replayed transaction's novelty, worked out against the database before
//! it the way the transaction writer stores novelty: a retraction of a value
//! that is not current and an assertion of one that is are dropped (no-ops);
//! asserting a cardinality-one attribute retracts the value it replaces; an
//! assertion and a retraction of the same fact cancel out. So whatever a
//! transform returns, the history stored stays one the reader understands.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::model::{Datom, EntityId, Value, entity_id, partition_of};

use super::super::{DbError, Snapshot};
use super::rules::{ReplayError, ReplayRule, Resolved, Violation};
use super::schema_state::{SchemaState, is_schema_attribute};

/// The novelty of one transaction being replayed on `snap`.
pub(super) struct Novelty<'s> {
    snap: &'s Snapshot,
    schema: &'s SchemaState,
    /// Current values of (e, a), loaded on demand and kept up to date.
    current: HashMap<(EntityId, EntityId), BTreeSet<Value>>,
    /// The datoms so far, by (e, a, v) → added.
    eav: BTreeMap<(EntityId, EntityId, Value), bool>,
    /// The same by (a, v, e), for uniqueness.
    ave: BTreeMap<(EntityId, Value, EntityId), bool>,
}

impl<'s> Novelty<'s> {
    /// Empty novelty on `snap`, whose schema attributes' values are `schema`.
    pub(super) fn new(snap: &'s Snapshot, schema: &'s SchemaState) -> Self {
        Novelty {
            snap,
            schema,
            current: HashMap::new(),
            eav: BTreeMap::new(),
            ave: BTreeMap::new(),
        }
    }

    /// Applies the retractions of `datoms`, then their assertions.
    pub(super) async fn apply(&mut self, datoms: &[Resolved]) -> Result<(), DbError> {
        for d in datoms.iter().filter(|d| !d.named.added) {
            let (e, a) = (d.named.e, d.a);
            if self.current_of(e, a).await?.contains(&d.v) {
                self.emit(e, a, d.v.clone(), false);
            }
        }
        for d in datoms.iter().filter(|d| d.named.added) {
            let (e, a) = (d.named.e, d.a);
            let current = self.current_of(e, a).await?;
            if current.contains(&d.v) {
                continue;
            }
            if d.one {
                for old in current {
                    self.emit(e, a, old, false);
                }
            }
            self.emit(e, a, d.v.clone(), true);
        }
        Ok(())
    }

    /// Records a datom the writer must store (the transaction's instant).
    pub(super) fn push(&mut self, e: EntityId, a: EntityId, v: Value) {
        self.emit(e, a, v, true);
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
            if self.eav.get(&(e, a, d.v.clone())) != Some(&true) {
                continue;
            }
            let stored = self.snap.holders(a, &d.v).await?;
            let still_held = stored
                .into_iter()
                .filter(|h| self.ave.get(&(a, d.v.clone(), *h)) != Some(&false));
            let added_here = self
                .ave
                .range((a, d.v.clone(), 0)..=(a, d.v.clone(), EntityId::MAX))
                .filter(|(_, added)| **added)
                .map(|((_, _, h), _)| *h);
            if let Some(holder) = still_held.chain(added_here).find(|h| *h != e) {
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
        self.eav
            .iter()
            .filter(|((_, a, _), _)| is_schema_attribute(*a))
            .map(|((e, a, v), added)| Datom {
                e: *e,
                a: *a,
                v: v.clone(),
                tx,
                added: *added,
            })
            .collect()
    }

    /// The datoms to store, sorted by (e, a, v), stamped with `tx`.
    pub(super) fn into_datoms(self, tx: u64) -> Vec<Datom> {
        self.eav
            .into_iter()
            .map(|((e, a, v), added)| Datom { e, a, v, tx, added })
            .collect()
    }

    /// Records a datom; an opposite datom of the same (e, a, v) earlier in
    /// this transaction cancels out instead.
    fn emit(&mut self, e: EntityId, a: EntityId, v: Value, added: bool) {
        let values = self.current.entry((e, a)).or_default();
        if added {
            values.insert(v.clone());
        } else {
            values.remove(&v);
        }
        let key = (e, a, v);
        if self.eav.get(&key) == Some(&!added) {
            self.eav.remove(&key);
            self.ave.remove(&(key.1, key.2, key.0));
        } else {
            self.ave.insert((key.1, key.2.clone(), key.0), added);
            self.eav.insert(key, added);
        }
    }

    /// The current values of (e, a), this transaction's changes included:
    /// schema attributes from memory, entities issued by this transaction
    /// have none, others are read from the snapshot.
    async fn current_of(&mut self, e: EntityId, a: EntityId) -> Result<Vec<Value>, DbError> {
        if let Some(values) = self.current.get(&(e, a)) {
            return Ok(values.iter().cloned().collect());
        }
        let values: Vec<Value> = if is_schema_attribute(a) {
            self.schema.current(e, a).cloned().collect()
        } else if self.is_new(e) {
            Vec::new()
        } else {
            self.snap.current_values(e, a).await?
        };
        self.current
            .insert((e, a), values.iter().cloned().collect());
        Ok(values)
    }

    /// Whether `e` was issued after the snapshot (it has no stored datoms).
    fn is_new(&self, e: EntityId) -> bool {
        partition_of(e).is_some_and(|p| {
            let next = self.snap.entry.next_entity[p as usize];
            e - entity_id(p, 0) >= next
        })
    }
}
