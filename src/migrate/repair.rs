//! `migrate --repair`: rewrites the destination's damaged index nodes from
//! the source. An index node's key is the digest of its bytes, so the key
//! proves what the node must hold: bytes stored under it that do not digest
//! to it are damage, and the source's bytes that do are the repair. This is
//! the one case where a stored node is replaced — by compare-and-set on the
//! damaged bytes, so nothing written since is overwritten.
//!
//! Tx-log entries, the head and database-info are not keyed by their
//! content; damage there is reported by `verify`, not repaired here.

use serde::Serialize;

use crate::db::{DbError, read_node};
use crate::model::{self, Node};
use crate::store::ValueStore;

use super::MigrateError;

/// Keys read per scan page.
const PAGE: usize = 1000;

/// What a repair found and did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RepairReport {
    /// Index nodes read in the destination.
    pub nodes_scanned: u64,
    /// Index nodes whose bytes do not match their key.
    pub damaged: u64,
    /// Damaged nodes replaced with the source's bytes.
    pub repaired: Vec<String>,
    /// Damaged nodes the source cannot repair (it lacks the node or holds
    /// damaged bytes too), with why; the first few.
    pub unrepairable: Vec<(String, String)>,
}

impl RepairReport {
    /// True when every damaged node was repaired.
    pub fn is_complete(&self) -> bool {
        self.unrepairable.is_empty()
    }
}

/// Scans the index nodes of database `id` in `dst` and replaces each one
/// whose bytes are not what its key names with the source's bytes for
/// that key, when the source's bytes are.
pub async fn repair(
    src: &dyn ValueStore,
    dst: &dyn ValueStore,
    id: &str,
) -> Result<RepairReport, MigrateError> {
    // The tx-log head is stored under a UUID too; it is not repaired here.
    let tx_log = match read_node(src, id, id).await.map_err(MigrateError::Source)? {
        Some(Node::DatabaseInfo(info)) => info.tx_log,
        _ => {
            return Err(MigrateError::Source(DbError::UnknownDatabase {
                id: id.to_string(),
                url: src.url().to_string(),
            }));
        }
    };
    let mut report = RepairReport::default();
    let mut after: Option<String> = None;
    loop {
        let page = dst
            .scan(id, after.as_deref(), PAGE)
            .await
            .map_err(MigrateError::destination_store)?;
        let Some((last, _)) = page.last() else {
            break;
        };
        after = Some(last.clone());
        for (key, bytes) in page {
            // The head, and database-info when the id itself is a UUID.
            if key == tx_log || key == id || !is_index_node_key(&key) {
                continue;
            }
            report.nodes_scanned += 1;
            if holds_its_index_node(&key, &bytes) {
                continue;
            }
            report.damaged += 1;
            match repair_one(src, dst, id, &key, &bytes).await? {
                Ok(()) => report.repaired.push(key),
                Err(why) => {
                    tracing::warn!(key = %key, %why, "cannot repair");
                    if report.unrepairable.len() < 20 {
                        report.unrepairable.push((key, why));
                    }
                }
            }
        }
    }
    Ok(report)
}

/// Replaces the damaged `bad` bytes at `key` with the source's, if the
/// source's are the node the key names; the inner error says why not.
async fn repair_one(
    src: &dyn ValueStore,
    dst: &dyn ValueStore,
    id: &str,
    key: &str,
    bad: &[u8],
) -> Result<Result<(), String>, MigrateError> {
    let good = src.get(id, key).await.map_err(MigrateError::source_store)?;
    let Some(good) = good else {
        return Ok(Err(
            "the source does not hold this node (it was written through a plugin, or the source is another database)".to_string(),
        ));
    };
    if !holds_its_index_node(key, &good) {
        return Ok(Err(
            "the source's bytes at this key are damaged too".to_string()
        ));
    }
    let outcome = dst
        .replace(id, key, Some(bad), &good)
        .await
        .map_err(MigrateError::destination_store)?;
    Ok(if outcome.replaced() {
        tracing::info!(key = %key, "repaired from the source");
        Ok(())
    } else {
        Err("it changed during the repair; run the repair again".to_string())
    })
}

/// Index nodes are stored under UUIDs (docs/format.md), and so is the
/// tx-log head, which the caller leaves out.
fn is_index_node_key(key: &str) -> bool {
    key.len() == 36 && uuid::Uuid::try_parse(key).is_ok()
}

/// Whether `bytes` are an index node that digests to `key`.
fn holds_its_index_node(key: &str, bytes: &[u8]) -> bool {
    match model::decode_at(key, bytes) {
        Ok(node) => matches!(node, Node::IndexInner(_) | Node::IndexLeaf(_)),
        Err(_) => false,
    }
}
