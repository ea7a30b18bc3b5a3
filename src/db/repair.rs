//! `db repair`: takes back the tx-log entries a writer left past the head.
//!
//! A writer stores a transaction's index nodes, then its entry, then moves
//! the head over it by compare-and-set: the head move is the commit. A
//! writer that stopped in between (a crash, a lost race, a migration run
//! stopped before it moved the destination's head) leaves entry `n` stored
//! while the head still says `n`, and every later writer finds "its" entry
//! taken. Those entries were never committed — no reader sees them — so
//! repairing rolls them back: each is removed by compare-and-delete on the
//! bytes read, the last first, so a repair stopped midway leaves a shorter
//! run right after the head and can simply be run again. Index nodes they
//! name stay: they are keyed by their content, harmless, and a later
//! transaction holding the same content reuses them.

use serde::Serialize;

use crate::model;
use crate::store::ReplaceOutcome;

use super::{Database, DbError};

/// What `db repair` found past the head, and what it did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LogRepair {
    /// The head count: entries `0..head` are committed.
    pub head: u64,
    /// Keys of the uncommitted entries found right after the head, in order.
    pub left_behind: Vec<String>,
    /// Those removed (all of them unless this was a dry run).
    pub removed: Vec<String>,
}

/// Finds the entries stored at `head, head + 1, …` (until the first
/// absent one) and, unless `dry_run`, removes them, the last first.
/// Run it only while no writer is committing to this database: a writer
/// between storing its entry and moving the head would lose the entry
/// (the writer stores it again after its head move, see
/// `src/db/writer.rs`, but a reader may meanwhile find it missing).
pub async fn take_back_uncommitted(db: &Database, dry_run: bool) -> Result<LogRepair, DbError> {
    let head = db.head().await?.count;
    let mut found = Vec::new();
    for tx in head.. {
        let key = model::entry_key(&db.info.tx_log, tx);
        match db.store.get(db.id(), &key).await? {
            Some(bytes) => found.push((key, bytes)),
            None => break,
        }
    }
    let mut report = LogRepair {
        head,
        left_behind: found.iter().map(|(k, _)| k.clone()).collect(),
        removed: Vec::new(),
    };
    if dry_run {
        return Ok(report);
    }
    for (key, bytes) in found.iter().rev() {
        match db.store.remove(db.id(), key, bytes).await? {
            ReplaceOutcome::Replaced => report.removed.push(key.clone()),
            ReplaceOutcome::Mismatch(_) => {
                return Err(DbError::ConcurrentWrite {
                    id: db.id().to_string(),
                    what: format!(
                        "entry `{key}` changed while it was being taken back: a writer is running; stop it and repair again"
                    ),
                });
            }
        }
    }
    // Reported in log order.
    report.removed.reverse();
    Ok(report)
}
