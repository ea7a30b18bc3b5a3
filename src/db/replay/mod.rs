//! Replaying a transaction given as explicit datoms: its number, instant,
//! entity counters and datoms (entities by id, attributes by ident) are
//! fixed by the caller, as when a log is rebuilt from another database's
//! log through transforms.
//!
//! For each transaction the [`Replayer`] checks the datoms against the
//! model's rules ([`ReplayRule`]): entity ids issued by their partitions,
//! attributes that exist as of the transaction (those it defines included),
//! values of the attribute's type, one value per cardinality-one attribute,
//! unique values held once. It works out the novelty against the database
//! before it, as the transaction writer does (no-ops dropped, replaced
//! cardinality-one values retracted), adds `:db/txInstant`, grows the four
//! index trees copy-on-write and stores the new nodes and the tx-log entry,
//! create-only, children before parents. It never moves the tx-log head or
//! database-info: the caller does, once a whole run is stored.
//!
//! Replaying is deterministic: the same transactions on the same entry give
//! the same bytes and keys, so a run that stopped part-way can be replayed
//! again over what it left (equal nodes are fine, a differing one is
//! [`DbError::NodeConflict`]).

mod novelty;
mod rules;
mod schema_state;
#[cfg(test)]
pub(crate) mod tests;

pub use rules::{ReplayError, ReplayRule, Violation, check_issued};
pub use schema_state::{SchemaState, is_schema_attribute};

use std::sync::Arc;

use crate::model::{
    self, DatabaseInfo, NamedDatom, Node, Schema, TxLogEntry, Value, builtin, tx_entity,
};
use crate::store::{CreateOutcome, ValueStore};

use super::writer::{BOOTSTRAP_NEXT_ENTITY, TreeShape, WriteCounts, bootstrap_tx_datoms};
use super::{Database, DbError, Snapshot, read_entry};
use novelty::Replayed;
use rules::{check_cardinality, resolve};

/// One transaction to replay.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayTx {
    /// Its number: the entry after the last one replayed.
    pub tx: u64,
    /// Its instant (milliseconds since the epoch), stored as the entry's
    /// instant and as the transaction entity's `:db/txInstant`.
    pub instant: i64,
    /// The entity counters after it (Db, Tx, User), e.g. the source
    /// entry's: an id at or above them was never issued and is refused.
    pub next_entity: [u64; 3],
    /// Its datoms, without the transaction's own `:db/txInstant`.
    pub datoms: Vec<NamedDatom>,
}

/// Builds a database's log one explicit transaction at a time, on top of
/// the last entry it stored. See the module documentation.
pub struct Replayer {
    db: Database,
    shape: TreeShape,
    last: Snapshot,
    schema: SchemaState,
}

impl Replayer {
    /// Stores transaction 0 of the database `info` names (the built-in
    /// attributes, committed at `instant_ms`) in `store` and returns a
    /// replayer for transaction 1 on. The head and database-info are not
    /// written.
    pub async fn bootstrap(
        store: Arc<dyn ValueStore>,
        info: DatabaseInfo,
        instant_ms: i64,
        shape: TreeShape,
    ) -> Result<(Replayer, WriteCounts), DbError> {
        let db = Database::new(store, info);
        let (entry, mut counts) = db.bootstrap_entry(instant_ms, shape).await?;
        counts.add(store_entry(&db, &entry).await?);
        Ok((Replayer::on(db, entry, shape).await?, counts))
    }

    /// A replayer continuing after entry `tx`, already stored in `store`
    /// under the tx-log `info` names (the head need not reach it).
    pub async fn resume(
        store: Arc<dyn ValueStore>,
        info: DatabaseInfo,
        tx: u64,
        shape: TreeShape,
    ) -> Result<Replayer, DbError> {
        let key = model::entry_key(&info.tx_log, tx);
        let entry = read_entry(store.as_ref(), &info.database_id, &key, tx).await?;
        Replayer::on(Database::new(store, info), entry, shape).await
    }

    async fn on(db: Database, entry: TxLogEntry, shape: TreeShape) -> Result<Replayer, DbError> {
        // A database keeps the format it was created in.
        let shape = if shape.format == entry.format() {
            shape
        } else {
            TreeShape::of_format(entry.format())
        };
        let mut last = db.bare_snapshot(entry).await?;
        let schema = SchemaState::load(&last).await?;
        last.schema = schema.schema().clone();
        Ok(Replayer {
            db,
            shape,
            last,
            schema,
        })
    }

    /// The last entry stored: the database the next transaction builds on.
    pub fn last_entry(&self) -> &TxLogEntry {
        &self.last.entry
    }

    /// The schema as of the last entry.
    pub fn schema(&self) -> &Schema {
        self.schema.schema()
    }

    /// Checks `tx`, stores its index nodes and entry, and makes it the last
    /// entry. On error nothing of it is reachable and the replayer is
    /// unchanged.
    pub async fn apply(&mut self, tx: ReplayTx) -> Result<WriteCounts, ReplayError> {
        let t = tx.tx;
        self.check_sequence(&tx)?;
        for d in &tx.datoms {
            check_issued(t, tx.next_entity, d)
                .map_err(|rule| Violation::error(t, d.clone(), rule))?;
        }
        // Schema datoms first: an attribute defined here is usable here.
        let before = self.schema.schema();
        let (schema_part, data_part): (Vec<NamedDatom>, Vec<NamedDatom>) =
            tx.datoms.into_iter().partition(|d| {
                before
                    .by_ident(&d.a)
                    .is_some_and(|a| is_schema_attribute(a.id))
            });
        let schema_part = resolve(t, schema_part, before, None)?;
        check_cardinality(t, &schema_part)?;
        let mut novelty = Replayed::new(&self.last, &self.schema);
        novelty.apply(&schema_part).await?;
        // The schema after this transaction (cloned only when it changes).
        let schema_datoms = novelty.schema_datoms(t);
        let after = (!schema_datoms.is_empty())
            .then(|| {
                let mut after = self.schema.clone();
                after.apply(&schema_datoms).then_some(after)
            })
            .flatten();
        let (now, fallback) = match &after {
            Some(after) => (after.schema(), Some(before)),
            None => (before, None),
        };

        let data_part = resolve(t, data_part, now, fallback)?;
        check_cardinality(t, &data_part)?;
        novelty.apply(&data_part).await?;
        novelty.check_unique(t, &schema_part).await?;
        novelty.check_unique(t, &data_part).await?;
        novelty.push(
            tx_entity(t),
            builtin::TX_INSTANT,
            Value::Instant(tx.instant),
        );
        let datoms = novelty.into_datoms(t);

        let indexed = self
            .db
            .index_next(&self.last, t, &datoms, self.shape)
            .await?;
        let entry = TxLogEntry {
            tx: t,
            instant: tx.instant,
            datoms,
            roots: indexed.roots,
            next_entity: tx.next_entity,
            lag: indexed.lag,
        };
        let mut counts = indexed.counts;
        counts.add(store_entry(&self.db, &entry).await?);
        self.last.entry = entry;
        self.last.lagging = indexed.lagging;
        if let Some(after) = after {
            self.last.schema = after.schema().clone();
            self.schema = after;
        }
        Ok(counts)
    }

    fn check_sequence(&self, tx: &ReplayTx) -> Result<(), ReplayError> {
        let last = &self.last.entry;
        let out_of_order = |reason: String| ReplayError::OutOfOrder { tx: tx.tx, reason };
        if tx.tx != last.tx + 1 {
            return Err(out_of_order(format!(
                "the last entry stored is {}, so the next is {}",
                last.tx,
                last.tx + 1
            )));
        }
        let backwards = tx
            .next_entity
            .iter()
            .zip(&last.next_entity)
            .any(|(new, old)| new < old);
        if backwards || tx.next_entity[1] != tx.tx + 1 {
            return Err(out_of_order(format!(
                "entity counters {:?} do not follow {:?} (they only grow, and the tx counter is the transaction number + 1)",
                tx.next_entity, last.next_entity
            )));
        }
        Ok(())
    }
}

/// Whether `entry` is transaction 0 as this version writes it: the built-in
/// attributes, its `:db/txInstant`, and the entity counters after them.
pub fn is_bootstrap(entry: &TxLogEntry) -> bool {
    entry.tx == 0
        && entry.next_entity == BOOTSTRAP_NEXT_ENTITY
        && entry.datoms == bootstrap_tx_datoms(entry.instant)
}

/// Stores a tx-log entry, create-only: a key holding the same bytes is
/// fine (a replay over what an earlier run left), other bytes are not.
async fn store_entry(db: &Database, entry: &TxLogEntry) -> Result<WriteCounts, DbError> {
    let key = model::entry_key(&db.info.tx_log, entry.tx);
    let bytes = model::encode_at(&key, &Node::TxLogEntry(entry.clone()));
    let outcome = db.store.create(db.id(), &key, &bytes).await?;
    let mut counts = WriteCounts {
        batches: 1,
        ..WriteCounts::default()
    };
    counts.count(&bytes, &outcome);
    match outcome {
        CreateOutcome::Existed(stored) if stored != bytes => Err(DbError::NodeConflict { key }),
        _ => Ok(counts),
    }
}
