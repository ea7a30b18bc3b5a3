//! Group commit: transactions built one after another, each on the one
//! before it, then stored together and made visible by one head move. A
//! writer pays one flush and one compare-and-set per batch instead of per
//! transaction; `db generate` commits in batches. Until [`Batch::commit`],
//! nothing of a batch is visible, and a batch dropped uncommitted leaves
//! nothing but index nodes no entry names.

use tokio::sync::OwnedMutexGuard;

use crate::model::{self, Node, Schema, TxLogEntry};

use super::tree::NewNode;
use super::tx_build::TxBuilder;
use super::writer::{SCHEMA_ATTRIBUTES, TreeShape};
use super::{Database, DbError, Snapshot, TxOp, TxReport};

/// A group of transactions being written. See the module documentation.
pub struct Batch {
    db: Database,
    /// The snapshot of the last transaction built (the writer's, kept for
    /// the next batch once this one commits).
    last: OwnedMutexGuard<Option<Snapshot>>,
    /// The head count when the batch began: its first transaction's number.
    first: u64,
    /// The entries built and not yet stored, in order.
    pending: Vec<NewNode>,
}

impl Database {
    /// Starts a batch on the latest transaction. One batch at a time runs
    /// through a database handle and its clones (a `transact` meanwhile
    /// waits until the batch is dropped, so never call one while holding a
    /// batch); the snapshot the last one left is used again while the head
    /// still names it.
    pub async fn batch(&self) -> Result<Batch, DbError> {
        let mut last = self.last.clone().lock_owned().await;
        let count = self.head().await?.count;
        let tx = count
            .checked_sub(1)
            .ok_or(DbError::NoSuchTransaction { tx: 0, count })?;
        if last.as_ref().is_none_or(|s| s.entry.tx != tx) {
            let entry = self.entry(tx).await?;
            *last = Some(self.detached().snapshot_of(entry).await?);
        }
        Ok(Batch {
            db: self.clone(),
            last,
            first: count,
            pending: Vec::new(),
        })
    }
}

impl Batch {
    /// Builds `ops` as the next transaction, stamped `instant_ms`, in
    /// `shape` (by default the default of the database's format), storing
    /// its index nodes; it becomes visible at [`Batch::commit`]. On error
    /// the batch is as it was.
    pub async fn transact(
        &mut self,
        ops: Vec<TxOp>,
        instant_ms: i64,
        shape: Option<TreeShape>,
    ) -> Result<TxReport, DbError> {
        let Some(snapshot) = self.last.as_ref() else {
            return Err(DbError::ConcurrentWrite {
                id: self.db.id().to_string(),
                what: "this batch's commit failed; start a new batch".to_string(),
            });
        };
        let t = snapshot.entry.tx + 1;
        let built = TxBuilder::new(snapshot, t).build(ops, instant_ms).await?;
        let shape = shape.unwrap_or_else(|| TreeShape::of_format(snapshot.entry.format()));
        let indexed = self
            .db
            .index_next(snapshot, t, &built.datoms, shape)
            .await?;
        let entry = TxLogEntry {
            tx: t,
            instant: instant_ms,
            datoms: built.datoms,
            roots: indexed.roots,
            next_entity: built.next_entity,
            lag: indexed.lag,
        };
        let key = model::entry_key(&self.db.info().tx_log, t);
        let bytes = model::encode_at(&key, &Node::TxLogEntry(entry.clone()));
        let datoms = entry.datoms.clone();
        let changes_schema = datoms.iter().any(|d| SCHEMA_ATTRIBUTES.contains(&d.a));
        // The next snapshot is this one plus the transaction, in memory:
        // the batch's entries are not stored yet.
        let mut next = Snapshot {
            db: self.db.detached(),
            entry,
            schema: snapshot.schema.clone(),
            lagging: indexed.lagging,
        };
        if changes_schema {
            next.schema = Schema::from_current_datoms(&next.schema_datoms().await?);
        }
        *self.last = Some(next);
        self.pending.push((key, bytes));
        Ok(TxReport {
            tx: t,
            tempids: built.tempids,
            datoms,
        })
    }

    /// Transactions built and not yet committed.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Stores the pending entries and moves the head over them: they are
    /// visible once this returns. [`DbError::ConcurrentWrite`] when another
    /// writer committed first; then none of them is visible, and the
    /// writer's snapshot is dropped.
    pub async fn commit(&mut self) -> Result<(), DbError> {
        let pending = std::mem::take(&mut self.pending);
        let result = self.db.append_entries(self.first, &pending).await;
        match result {
            Ok(()) => self.first += pending.len() as u64,
            Err(_) => *self.last = None,
        }
        result
    }
}
