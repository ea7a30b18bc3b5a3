//! The transaction engine the writer (`tx_build`) and the replayer
//! (`replay`) share: one transaction's novelty worked out against the
//! database before it. An assertion of a value that is current and a
//! retraction of one that is not are dropped (no-ops); asserting a
//! cardinality-one attribute retracts the values it replaces; an assertion
//! and a retraction of the same fact in one transaction cancel out. So the
//! history stored holds one datom per fact and transaction, whichever path
//! wrote it, and the reader's notion of "current" follows from it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::model::{Datom, EntityId, Value, builtin};

use super::{DbError, Snapshot};

/// Where the values of an (entity, attribute) before the transaction come
/// from, when the engine has not seen the pair yet.
pub(crate) enum Before {
    /// Read them from the snapshot.
    Stored,
    /// The entity was issued by this transaction: it has none.
    Nothing,
    /// The caller knows them (the replayer keeps schema attributes in memory).
    Known(Vec<Value>),
}

/// The novelty of one transaction on `snap`. See the module documentation.
pub(crate) struct Novelty<'s> {
    snap: &'s Snapshot,
    /// Current values of (e, a), loaded on demand and kept up to date.
    current: HashMap<(EntityId, EntityId), BTreeSet<Value>>,
    /// The datoms so far, by (e, a, v) → added.
    eav: BTreeMap<(EntityId, EntityId, Value), bool>,
    /// The same datoms by (a, v, e), for uniqueness.
    ave: BTreeMap<(EntityId, Value, EntityId), bool>,
    /// Idents asserted (`Some`) or retracted (`None`) so far.
    idents: HashMap<String, Option<EntityId>>,
}

impl<'s> Novelty<'s> {
    /// Empty novelty on `snap`.
    pub(crate) fn new(snap: &'s Snapshot) -> Self {
        Novelty {
            snap,
            current: HashMap::new(),
            eav: BTreeMap::new(),
            ave: BTreeMap::new(),
            idents: HashMap::new(),
        }
    }

    /// The snapshot this transaction builds on.
    pub(crate) fn snapshot(&self) -> &'s Snapshot {
        self.snap
    }

    /// Asserts `v` for (e, a): nothing when it is current; a cardinality-one
    /// attribute (`one`) retracts the values it replaces.
    pub(crate) async fn assert(
        &mut self,
        e: EntityId,
        a: EntityId,
        v: Value,
        one: bool,
        before: impl FnOnce() -> Before,
    ) -> Result<(), DbError> {
        let current = self.current_of(e, a, before).await?;
        if current.contains(&v) {
            return Ok(());
        }
        if one {
            for old in current {
                self.emit(e, a, old, false);
            }
        }
        self.emit(e, a, v, true);
        Ok(())
    }

    /// Retracts `v` of (e, a): nothing when it is not current.
    pub(crate) async fn retract(
        &mut self,
        e: EntityId,
        a: EntityId,
        v: Value,
        before: impl FnOnce() -> Before,
    ) -> Result<(), DbError> {
        if self.current_of(e, a, before).await?.contains(&v) {
            self.emit(e, a, v, false);
        }
        Ok(())
    }

    /// Records a datom; an opposite datom of the same (e, a, v) earlier in
    /// this transaction cancels out instead.
    pub(crate) fn emit(&mut self, e: EntityId, a: EntityId, v: Value, added: bool) {
        if a == builtin::IDENT
            && let Some(k) = v.as_keyword()
        {
            self.idents.insert(k.to_string(), added.then_some(e));
        }
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

    /// The current values of (e, a), this transaction's changes included.
    async fn current_of(
        &mut self,
        e: EntityId,
        a: EntityId,
        before: impl FnOnce() -> Before,
    ) -> Result<Vec<Value>, DbError> {
        if let Some(values) = self.current.get(&(e, a)) {
            return Ok(values.iter().cloned().collect());
        }
        let values = match before() {
            Before::Stored => self.snap.current_values(e, a).await?,
            Before::Nothing => Vec::new(),
            Before::Known(values) => values,
        };
        self.current
            .insert((e, a), values.iter().cloned().collect());
        Ok(values)
    }

    /// The (e, a) pairs this transaction touched, with their values after it.
    pub(crate) fn touched(
        &self,
    ) -> impl Iterator<Item = (&(EntityId, EntityId), &BTreeSet<Value>)> {
        self.current.iter()
    }

    /// What this transaction did to ident `k`: `Some(Some(e))` asserted for
    /// `e`, `Some(None)` retracted, `None` untouched.
    pub(crate) fn ident(&self, k: &str) -> Option<Option<EntityId>> {
        self.idents.get(k).copied()
    }

    /// Whether this transaction asserts `v` of (e, a).
    pub(crate) fn asserts(&self, e: EntityId, a: EntityId, v: &Value) -> bool {
        self.eav.get(&(e, a, v.clone())) == Some(&true)
    }

    /// The (a, v, e) this transaction asserts, in that order.
    pub(crate) fn assertions_by_value(&self) -> impl Iterator<Item = &(EntityId, Value, EntityId)> {
        self.ave
            .iter()
            .filter(|(_, added)| **added)
            .map(|(key, _)| key)
    }

    /// An entity other than `e` that holds `v` of attribute `a` after this
    /// transaction: a stored holder it does not retract, or one it asserts.
    pub(crate) async fn other_holder(
        &self,
        a: EntityId,
        v: &Value,
        e: EntityId,
    ) -> Result<Option<EntityId>, DbError> {
        let stored = self.snap.holders(a, v).await?;
        let still_held = stored
            .into_iter()
            .filter(|h| self.ave.get(&(a, v.clone(), *h)) != Some(&false));
        let added_here = self
            .ave
            .range((a, v.clone(), 0)..=(a, v.clone(), EntityId::MAX))
            .filter(|(_, added)| **added)
            .map(|((_, _, h), _)| *h);
        Ok(still_held.chain(added_here).find(|h| *h != e))
    }

    /// The datoms so far whose attribute passes `keep`, stamped with `tx`.
    pub(crate) fn datoms_of(&self, tx: u64, keep: impl Fn(EntityId) -> bool) -> Vec<Datom> {
        self.eav
            .iter()
            .filter(|((_, a, _), _)| keep(*a))
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
    pub(crate) fn into_datoms(self, tx: u64) -> Vec<Datom> {
        self.eav
            .into_iter()
            .map(|((e, a, v), added)| Datom { e, a, v, tx, added })
            .collect()
    }
}
