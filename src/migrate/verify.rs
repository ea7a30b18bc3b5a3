//! `verify`: does the destination hold the same database as the source?
//! Compares the datoms of all four indexes, current and history, as of one
//! transaction, each entry's novelty, and walks every node reachable from
//! the destination's roots (present, decodes, right kind).

use std::collections::HashSet;
use std::sync::Arc;

use serde::Serialize;

use crate::db::{Database, DatomQuery, DbError};
use crate::model::{Datom, Index, Node};
use crate::store::{MemStore, ValueStore};

use super::{MigrateError, MigrateOptions, NoObserver, NodeXform, TxXform, migrate, rebuild};

/// What to verify.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Compare as of this transaction (default: the destination's latest).
    pub as_of: Option<u64>,
    /// Stop collecting differences after this many.
    pub max_differences: usize,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            as_of: None,
            max_differences: 20,
        }
    }
}

/// The outcome of a verify run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// The transaction compared as of.
    pub tx: u64,
    /// Entries in the source's log.
    pub source_entries: u64,
    /// Entries in the destination's log.
    pub destination_entries: u64,
    /// Datoms compared (summed over indexes, current and history).
    pub datoms_compared: u64,
    /// Distinct destination nodes walked by the structural pass.
    pub nodes_checked: u64,
    /// The first differences found, in words; empty when equal.
    pub differences: Vec<String>,
}

impl VerifyReport {
    /// True when no difference was found.
    pub fn is_equal(&self) -> bool {
        self.differences.is_empty()
    }

    fn note(&mut self, max: usize, what: impl FnOnce() -> String) {
        if self.differences.len() < max {
            self.differences.push(what());
        }
    }
}

/// Compares database `id` in `src` and `dst`.
pub async fn verify(
    src: Arc<dyn ValueStore>,
    dst: Arc<dyn ValueStore>,
    id: &str,
    options: &VerifyOptions,
) -> Result<VerifyReport, MigrateError> {
    let source = Database::open(src, id)
        .await
        .map_err(MigrateError::Source)?;
    let destination = Database::open(dst, id)
        .await
        .map_err(MigrateError::Destination)?;
    let source_entries = source.head().await.map_err(MigrateError::Source)?.count;
    let destination_entries = destination
        .head()
        .await
        .map_err(MigrateError::Destination)?
        .count;
    let tx = options
        .as_of
        .unwrap_or(destination_entries.saturating_sub(1));
    for (side, count) in [
        ("the source", source_entries),
        ("the destination", destination_entries),
    ] {
        if tx >= count {
            return Err(MigrateError::AsOfOutOfRange { tx, side, count });
        }
    }
    let mut report = VerifyReport {
        tx,
        source_entries,
        destination_entries,
        ..VerifyReport::default()
    };
    let max = options.max_differences.max(1);
    compare_datoms(&source, &destination, tx, max, &mut report).await?;
    compare_entries(&source, &destination, tx, max, &mut report).await?;
    walk_structure(&destination, max, &mut report).await?;
    Ok(report)
}

/// Verifies `dst` against the source passed through `xforms` (the plugins
/// a migration ran with): the source is migrated through them into memory,
/// then compared with the destination as [`verify`] does. Transforms are
/// deterministic (sandboxed, no clock or randomness), so a faithful
/// migration gives an equal result.
pub async fn verify_through(
    src: Arc<dyn ValueStore>,
    dst: Arc<dyn ValueStore>,
    id: &str,
    xforms: &mut [Box<dyn NodeXform>],
    options: &VerifyOptions,
) -> Result<VerifyReport, MigrateError> {
    if xforms.is_empty() {
        return verify(src, dst, id, options).await;
    }
    let expected: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
    migrate(
        src,
        expected.clone(),
        id,
        &MigrateOptions::default(),
        xforms,
        &mut NoObserver,
    )
    .await?;
    verify(expected, dst, id, options).await
}

/// Verifies a rebuilt `dst` against the source passed through `xforms`
/// (the transaction-level transforms the rebuild ran with): the source is
/// rebuilt through them into memory, then compared with the destination as
/// [`verify`] does. Transforms are deterministic, so a faithful rebuild
/// gives an equal result.
pub async fn verify_rebuild(
    src: Arc<dyn ValueStore>,
    dst: Arc<dyn ValueStore>,
    id: &str,
    xforms: &mut [Box<dyn TxXform>],
    options: &VerifyOptions,
) -> Result<VerifyReport, MigrateError> {
    let expected: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
    rebuild(
        src,
        expected.clone(),
        id,
        &MigrateOptions::default(),
        xforms,
        &mut NoObserver,
    )
    .await?;
    verify(expected, dst, id, options).await
}

async fn compare_datoms(
    source: &Database,
    destination: &Database,
    tx: u64,
    max: usize,
    report: &mut VerifyReport,
) -> Result<(), MigrateError> {
    let ours = source.as_of(tx).await.map_err(MigrateError::Source)?;
    let theirs = destination
        .as_of(tx)
        .await
        .map_err(MigrateError::Destination)?;
    for index in Index::ALL {
        for history in [false, true] {
            let query = DatomQuery {
                history,
                ..DatomQuery::default()
            };
            let a = ours
                .datoms(index, &query)
                .await
                .map_err(MigrateError::Source)?;
            let b = theirs
                .datoms(index, &query)
                .await
                .map_err(MigrateError::Destination)?;
            report.datoms_compared += a.len() as u64;
            let view = if history { "history" } else { "current" };
            if let Some(diff) = first_difference(&a, &b) {
                report.note(max, || {
                    format!("{} {view}: {diff}", index.name().to_uppercase())
                });
            }
        }
    }
    Ok(())
}

fn first_difference(a: &[Datom], b: &[Datom]) -> Option<String> {
    let position = a.iter().zip(b).position(|(x, y)| x != y);
    match position {
        Some(i) => Some(format!(
            "datom {i} differs: source {:?}, destination {:?}",
            a[i], b[i]
        )),
        None if a.len() != b.len() => Some(format!(
            "source has {} datoms, destination {}",
            a.len(),
            b.len()
        )),
        None => None,
    }
}

async fn compare_entries(
    source: &Database,
    destination: &Database,
    tx: u64,
    max: usize,
    report: &mut VerifyReport,
) -> Result<(), MigrateError> {
    for i in 0..=tx {
        let a = source.entry(i).await.map_err(MigrateError::Source)?;
        let b = destination
            .entry(i)
            .await
            .map_err(MigrateError::Destination)?;
        if a.instant != b.instant || a.datoms != b.datoms || a.tx != b.tx {
            report.note(max, || {
                format!("tx-log entry {i}: number, instant or datoms differ")
            });
        }
    }
    Ok(())
}

/// Walks every node reachable from the destination's database-info: each
/// must be present, decode, and be of the kind its parent expects.
async fn walk_structure(
    destination: &Database,
    max: usize,
    report: &mut VerifyReport,
) -> Result<(), MigrateError> {
    let count = destination
        .head()
        .await
        .map_err(MigrateError::Destination)?
        .count;
    let mut seen: HashSet<String> = HashSet::new();
    let mut stack: Vec<String> = Vec::new();
    for i in 0..count {
        let entry = destination
            .entry(i)
            .await
            .map_err(MigrateError::Destination)?;
        report.nodes_checked += 1;
        for root in entry.roots.keys() {
            stack.push(root.to_string());
        }
        while let Some(key) = stack.pop() {
            if !seen.insert(key.clone()) {
                continue;
            }
            report.nodes_checked += 1;
            match destination.expect_node(&key).await {
                Ok(Node::IndexInner(inner)) => {
                    stack.extend(inner.children);
                }
                Ok(Node::IndexLeaf(_)) => {}
                Ok(other) => report.note(max, || {
                    format!(
                        "node `{key}` is a {} inside an index tree",
                        other.kind().name()
                    )
                }),
                Err(e @ (DbError::MissingNode { .. } | DbError::Codec { .. })) => {
                    report.note(max, || e.to_string())
                }
                Err(e) => return Err(MigrateError::Destination(e)),
            }
        }
    }
    Ok(())
}
