//! The consistency checker: proves that a stored database, read as a
//! database, is exactly what its tx-log declares, entry by entry, in time
//! proportional to the nodes each entry changed.
//!
//! [`Checker::check_entry`] checks entry `k` against entry `k - 1`:
//!
//! - the entry itself (E1–E4, `entry_rules`): its number, its instant
//!   asserted as the transaction entity's `:db/txInstant`, its novelty
//!   stamped `k` and free of repeated facts, attributes of the schema with
//!   values of their type, entity counters that only grow and cover every
//!   entity used;
//! - each index tree (T1–T2, `diff`): a root is absent exactly when the
//!   index is empty and is of its index; walking entry `k - 1`'s tree and
//!   entry `k`'s together, skipping the subtrees both share at the same
//!   place and height, no datom of the old tree is missing and the datoms
//!   only in the new tree are exactly the entry's novelty the index holds;
//! - every node that walk expands in the new tree (N1–N4, `nodes` and
//!   `node_rules`): stored under the digest of its bytes, decodable, an
//!   index node of its tree's index, leaves of at most
//!   [`super::LEAF_CAPACITY`] datoms strictly sorted and held by the index,
//!   inner nodes of 1 to [`super::INNER_CAPACITY`] children of one height
//!   with sorted separators bounding each child (a child not walked is
//!   bounded by its cached *summary*: height, first and last datom).
//!
//! Why this proves every as-of view, by induction on `k`: assume the trees
//! of entry `k - 1` are sorted, balanced, separator-bounded and hold
//! exactly the novelty of entries `0..k` that their index holds (nothing
//! before entry 0). Every node of entry `k`'s tree is either shared with
//! entry `k - 1`'s tree at the same place and height (so it is a valid
//! subtree by the assumption; equal keys read equal bytes) or expanded by
//! the walk and checked. Bottom-up over the expanded nodes: a leaf is
//! sorted (N3); an inner node's children are valid subtrees whose first and
//! last datoms lie within `[separator i-1, separator i)` with separators
//! strictly sorted (N4), so its datoms in order are sorted and each child
//! holds exactly the datoms its separators route to it; all children are
//! balanced and of one height, so the node is balanced. Hence entry `k`'s tree is
//! sorted and every separator-guided lookup (the reader's, and the
//! writer's next insert) finds what the tree holds. The walk compares the
//! two trees' datoms in order, which is a merge because both are sorted:
//! no old datom is lost and the new ones are exactly the novelty (T2),
//! and an absent root stands for an empty index (T1). So entry `k`'s trees
//! hold exactly the novelty of entries `0..=k`. The reader reads an as-of
//! view from one entry's roots alone, so two databases whose entries are
//! equal (number, instant, novelty) and which both pass, have equal views
//! as of every transaction: current and history, in all four indexes.
//!
//! Cost: the walk reads only the nodes on the paths an entry changed, on
//! both sides; the old side's were the new side's one entry earlier and
//! come from the node cache. Memory is bounded by [`CheckOptions`]: a
//! least-recently-used cache of decoded nodes and one of summaries, and
//! stacks as deep as the trees.

mod diff;
mod entry_rules;
mod node_rules;
mod nodes;
mod options;
mod problem;
mod run;
mod runs;
mod summary;
#[cfg(test)]
pub(crate) mod tests;

pub use options::{CheckOptions, CheckStats};
pub use problem::{Problem, Rule};
pub use run::{CheckReport, check_database};

use std::cmp::Ordering;
use std::collections::HashSet;
use std::sync::Arc;

use crate::model::{Datom, Index, IndexRoots, Node, TxLogEntry, entry_key};
use crate::store::ValueStore;

use super::entry_batches::EntryReadAhead;
use super::replay::{SchemaState, is_schema_attribute};
use super::{Database, DbError, read_entry};
use diff::{IndexCheck, check_index};
use entry_rules::Before;
use nodes::Reader;
use problem::Fault;
use runs::SetState;

/// Checks the entries of one database in order, each against the one
/// before it, keeping only that entry's roots, counters and schema.
pub struct Checker {
    reader: Reader,
    tx_log: String,
    next: u64,
    /// The previous entry's roots and counters; `None` once an entry could
    /// not be read (the ones after it cannot be checked against it).
    prev: Option<Previous>,
    schema: SchemaState,
    /// The entries after the one checked, read ahead in batches.
    ahead: EntryReadAhead,
}

/// What the next entry is checked against.
struct Previous {
    roots: IndexRoots,
    next_entity: [u64; 3],
    /// Format 2: the index set the entry names, when it could be read.
    set: Option<SetState>,
}

impl Checker {
    /// A checker of entry `from` on of database `id` in `store`, whose
    /// database-info names the tx-log `tx_log`. Entries before `from` are
    /// trusted: entry `from - 1` is read for its roots and counters, and the
    /// schema as of it (nothing when `from` is 0).
    pub async fn starting_at(
        store: Arc<dyn ValueStore>,
        id: &str,
        tx_log: &str,
        from: u64,
        options: CheckOptions,
    ) -> Result<Checker, DbError> {
        let mut checker = Checker {
            reader: Reader::new(store.clone(), id, &options),
            tx_log: tx_log.to_string(),
            next: from,
            prev: Some(Previous {
                roots: IndexRoots::default(),
                next_entity: [0; 3],
                set: None,
            }),
            schema: SchemaState::default(),
            ahead: EntryReadAhead::default(),
        };
        let Some(last) = from.checked_sub(1) else {
            return Ok(checker);
        };
        let key = entry_key(tx_log, last);
        let entry = read_entry(store.as_ref(), id, &key, last).await?;
        let info = crate::model::DatabaseInfo {
            database_id: id.to_string(),
            tx_log: tx_log.to_string(),
            identity: String::new(),
        };
        let snapshot = Database::new(store, info).bare_snapshot(entry).await?;
        checker.schema = SchemaState::load(&snapshot).await?;
        let set = checker.set_of(&snapshot.entry, None).await?;
        checker.prev = Some(Previous {
            roots: snapshot.entry.roots,
            next_entity: snapshot.entry.next_entity,
            set,
        });
        Ok(checker)
    }

    /// The entry [`Checker::check_entry`] checks next.
    pub fn next_entry(&self) -> u64 {
        self.next
    }

    /// Whether the entries from [`Checker::next_entry`] on can be checked:
    /// false once an entry could not be read.
    pub fn can_continue(&self) -> bool {
        self.prev.is_some()
    }

    /// Counters (nodes read, nodes checked, cache hits…) for reports.
    pub fn stats(&self) -> &CheckStats {
        &self.reader.stats
    }

    /// Checks entry `tx`, which must be [`Checker::next_entry`], as stored;
    /// returns the problems found (empty when it holds). Only the store
    /// failing is an error; a missing or malformed node is a problem.
    pub async fn check_entry(&mut self, tx: u64) -> Result<Vec<Problem>, DbError> {
        if tx != self.next {
            return Err(DbError::CheckOrder {
                expected: self.next,
                asked: tx,
            });
        }
        self.next += 1;
        self.reader.stats.entries_checked += 1;
        let key = entry_key(&self.tx_log, tx);
        let Some(prev) = self.prev.take() else {
            let fault = Fault::new(
                problem::Rule::E1,
                key,
                "the entry was not checked: an entry before it could not be read",
            );
            return Ok(vec![fault.at(tx)]);
        };
        let entry = match self.read_entry(tx, &key).await? {
            Ok(entry) => entry,
            Err(fault) => return Ok(vec![fault.at(tx)]),
        };
        let after = self.schema_after(&entry);
        let before = Before {
            next_entity: prev.next_entity,
            schema: self.schema.schema(),
        };
        let schema_after = after.as_ref().unwrap_or(&self.schema).schema();
        let mut faults = entry_rules::check(tx, &key, &entry, &before, schema_after);
        let mut set = None;
        match (&entry.lag, &prev.set) {
            (Some(lag), prev_set) => {
                if tx > 0 && prev_set.is_none() && prev.roots.keys().next().is_some() {
                    faults.push(Fault::new(
                        Rule::R1,
                        key.as_str(),
                        "a format 2 entry follows a format 1 entry: a database is written in one format",
                    ));
                }
                let at = (tx, key.as_str());
                let reader = &mut self.reader;
                let (found, state) =
                    runs::check_lag(reader, &self.tx_log, at, lag, prev_set.as_ref()).await?;
                faults.extend(found);
                set = state;
            }
            (None, Some(_)) => faults.push(Fault::new(
                Rule::R1,
                key.as_str(),
                "a format 1 entry follows a format 2 entry: a database is written in one format",
            )),
            (None, None) => {
                for index in Index::ALL {
                    let mut novelty: Vec<Datom> = entry
                        .datoms
                        .iter()
                        .filter(|d| index.holds(d))
                        .cloned()
                        .collect();
                    novelty.sort_by(|x, y| index.cmp(x, y));
                    novelty.dedup_by(|x, y| index.cmp(x, y) == Ordering::Equal);
                    let check = IndexCheck {
                        index,
                        entry: tx,
                        entry_key: &key,
                        old_root: prev.roots.get(index),
                        new_root: entry.roots.get(index),
                        novelty: &novelty,
                    };
                    faults.extend(check_index(&mut self.reader, check).await?);
                }
            }
        }
        self.prev = Some(Previous {
            roots: entry.roots,
            next_entity: entry.next_entity,
            set,
        });
        if let Some(after) = after {
            self.schema = after;
        }
        let mut seen = HashSet::new();
        Ok(faults
            .into_iter()
            .filter(|f| seen.insert(f.clone()))
            .map(|f| f.at(tx))
            .collect())
    }

    /// Takes the entries from [`Checker::next_entry`] through `last` as
    /// they are, without walking their trees: the caller knows they hold
    /// exactly what was already trusted (a migration whose transforms kept
    /// every node of them as the source had it). Each is read for its
    /// roots, counters and schema changes, so later entries are checked
    /// against the right state. An entry that cannot be read ends the trust
    /// there: the next [`Checker::check_entry`] reports it.
    pub async fn trust_through(&mut self, last: u64) -> Result<(), DbError> {
        while self.next <= last && self.prev.is_some() {
            let key = entry_key(&self.tx_log, self.next);
            let Ok(entry) = self.read_entry(self.next, &key).await? else {
                return Ok(());
            };
            if let Some(after) = self.schema_after(&entry) {
                self.schema = after;
            }
            let prev_set = self.prev.as_mut().and_then(|p| p.set.take());
            let set = self.set_of(&entry, prev_set).await?;
            self.prev = Some(Previous {
                roots: entry.roots,
                next_entity: entry.next_entity,
                set,
            });
            self.next += 1;
        }
        Ok(())
    }

    /// The index set a format 2 `entry` names, read unless `prev` (the
    /// entry before's) is the same; `None` in format 1 or when it cannot
    /// be read (the next entry's check then says so).
    async fn set_of(
        &mut self,
        entry: &TxLogEntry,
        prev: Option<SetState>,
    ) -> Result<Option<SetState>, DbError> {
        let Some(lag) = &entry.lag else {
            return Ok(None);
        };
        if let Some(prev) = prev.filter(|p| p.lag == *lag) {
            return Ok(Some(prev));
        }
        Ok(runs::read_set(&mut self.reader, &lag.set)
            .await?
            .ok()
            .map(|set| SetState {
                lag: lag.clone(),
                set,
            }))
    }

    /// Reads entry `tx` at `key`; E1 when it is absent or not an entry.
    async fn read_entry(
        &mut self,
        tx: u64,
        key: &str,
    ) -> Result<Result<TxLogEntry, Fault>, DbError> {
        let e1 = |text: String| Ok(Err(Fault::new(problem::Rule::E1, key, text)));
        let store = self.reader.store().clone();
        let namespace = self.reader.namespace();
        let stored = self
            .ahead
            .entry(store.as_ref(), namespace, &self.tx_log, tx)
            .await?;
        let Some(bytes) = stored.bytes else {
            return e1(format!("entry {tx} is missing from the store"));
        };
        match crate::model::decode_at(key, &bytes) {
            Ok(Node::TxLogEntry(entry)) => Ok(Ok(entry)),
            Ok(other) => e1(format!(
                "a {} stands where tx-log entry {tx} belongs",
                other.kind().name()
            )),
            Err(e) => e1(format!("entry {tx} cannot be decoded: {e}")),
        }
    }

    /// The schema after `entry`, when its datoms change it.
    fn schema_after(&self, entry: &TxLogEntry) -> Option<SchemaState> {
        if !entry.datoms.iter().any(|d| is_schema_attribute(d.a)) {
            return None;
        }
        let mut after = self.schema.clone();
        after.apply(&entry.datoms).then_some(after)
    }
}
