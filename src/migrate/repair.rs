//! `migrate --repair`: rewrites the destination's damaged index nodes and
//! tx-log entries from the source. An index node's key is the digest of its
//! bytes, so the key proves what the node must hold: bytes stored under it
//! that do not digest to it are damage, and the source's bytes that do are
//! the repair. An entry is sealed with a checksum of its key (docs/format.md),
//! which proves bytes belong at that key but not to which history: the
//! source's entry repairs the destination's only when the status record's
//! digest of the last entry copied still matches the source (the histories
//! are one up to it) and the migration ran without plugins (which rewrite
//! entries by design). This is the one case where a stored node is replaced
//! — by compare-and-set on the damaged bytes, so nothing written since is
//! overwritten.
//!
//! The head and database-info are not repaired here: `verify` reports them.

use serde::Serialize;

use crate::db::{DbError, read_node};
use crate::model::{self, DatabaseInfo, Node};
use crate::store::ValueStore;

use super::MigrateError;
use super::continuity::digest_source_entry;
use super::status::read_status;

/// Keys read per scan page.
const PAGE: usize = 1000;

/// What a repair found and did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RepairReport {
    /// Index nodes and tx-log entries read in the destination.
    pub nodes_scanned: u64,
    /// Those whose bytes are not what their key names.
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

/// Scans the index nodes and tx-log entries of database `id` in `dst`
/// (its migration status record at suffix `status_suffix`) and replaces
/// each one whose bytes are not what its key names with the source's bytes
/// for that key, when those are provably what belongs there.
pub async fn repair(
    src: &dyn ValueStore,
    dst: &dyn ValueStore,
    id: &str,
    status_suffix: &str,
) -> Result<RepairReport, MigrateError> {
    let info = match read_node(src, id, id).await.map_err(MigrateError::Source)? {
        Some(Node::DatabaseInfo(info)) => info,
        _ => {
            return Err(MigrateError::Source(DbError::UnknownDatabase {
                id: id.to_string(),
                url: src.url().to_string(),
            }));
        }
    };
    let entries = EntryRepair::proven(src, dst, &info, status_suffix).await?;
    // The tx-log head is stored under a UUID too; it is not repaired here.
    let tx_log = info.tx_log.clone();
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
            let entry = entry_number(&tx_log, &key);
            // The head, and database-info when the id itself is a UUID.
            let index_node = key != tx_log && key != id && is_index_node_key(&key);
            if !index_node && entry.is_none() {
                continue;
            }
            report.nodes_scanned += 1;
            let outcome = match entry {
                Some(n) if holds_entry(&key, n, &bytes) => continue,
                Some(n) => match entries.why_not(n) {
                    Some(why) => Ok(Err(why)),
                    None => {
                        repair_one(src, dst, id, &key, &bytes, |good| {
                            holds_entry(&key, n, good)
                                && matches!(
                                    good.first(),
                                    Some(&(model::SEALED_VERSION | model::SEALED_V2))
                                )
                        })
                        .await
                    }
                },
                None if holds_its_index_node(&key, &bytes) => continue,
                None => {
                    repair_one(src, dst, id, &key, &bytes, |good| {
                        holds_its_index_node(&key, good)
                    })
                    .await
                }
            };
            report.damaged += 1;
            match outcome? {
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

/// Which damaged entries the source may repair: those up to the last
/// entry copied, when the source still holds that entry as it was copied
/// and no plugin rewrote entries on the way.
struct EntryRepair {
    /// Entries `0..=through` are the source's as copied; `Err`: why none is.
    through: Result<u64, String>,
}

impl EntryRepair {
    async fn proven(
        src: &dyn ValueStore,
        dst: &dyn ValueStore,
        info: &DatabaseInfo,
        status_suffix: &str,
    ) -> Result<EntryRepair, MigrateError> {
        let status = read_status(dst, &info.database_id, status_suffix).await?;
        let through = match status.map(|(s, _)| s) {
            None => Err("the destination has no migration status record to prove which history it holds".to_string()),
            Some(s) if s.rebuild.is_some() || s.transforms.as_ref().is_some_and(|t| !t.is_empty()) => {
                Err("the destination was written through plugins: its entries are not the source's bytes".to_string())
            }
            Some(s) => match s.source_entry {
                None => Err("the status record notes no digest of the last entry copied (written by an earlier version)".to_string()),
                Some(noted) => {
                    let now = digest_source_entry(src, info, noted.tx).await;
                    match now {
                        Ok(now) if now == noted => Ok(noted.tx),
                        _ => Err(format!(
                            "the source's entry {} is no longer the one copied (a forked or damaged source)",
                            noted.tx
                        )),
                    }
                }
            },
        };
        Ok(EntryRepair { through })
    }

    /// Why entry `n` cannot be repaired from the source, if it cannot.
    fn why_not(&self, n: u64) -> Option<String> {
        match &self.through {
            Ok(through) if n <= *through => None,
            Ok(through) => Some(format!(
                "entry {n} is past the last one the status record proves copied ({through})"
            )),
            Err(why) => Some(why.clone()),
        }
    }
}

/// Replaces the damaged `bad` bytes at `key` with the source's, if
/// `proven` says the source's are what the key names; the inner error says
/// why not.
async fn repair_one(
    src: &dyn ValueStore,
    dst: &dyn ValueStore,
    id: &str,
    key: &str,
    bad: &[u8],
    proven: impl Fn(&[u8]) -> bool,
) -> Result<Result<(), String>, MigrateError> {
    let good = src.get(id, key).await.map_err(MigrateError::source_store)?;
    let Some(good) = good else {
        return Ok(Err(
            "the source does not hold this node (it was written through a plugin, or the source is another database)".to_string(),
        ));
    };
    if !proven(&good) {
        return Ok(Err(
            "the source's bytes at this key are damaged too, or carry no checksum".to_string(),
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

/// The number of the tx-log entry `key` names in the log `tx_log`, if it
/// names one.
fn entry_number(tx_log: &str, key: &str) -> Option<u64> {
    let n = key.strip_prefix(tx_log)?.strip_prefix('.')?;
    if n.starts_with('+') {
        return None;
    }
    n.parse().ok()
}

/// Whether `bytes` read from `key` are tx-log entry `n`, checked.
fn holds_entry(key: &str, n: u64, bytes: &[u8]) -> bool {
    matches!(model::decode_at(key, bytes), Ok(Node::TxLogEntry(e)) if e.tx == n)
}

/// Whether `bytes` are an index node that digests to `key`.
fn holds_its_index_node(key: &str, bytes: &[u8]) -> bool {
    match model::decode_at(key, bytes) {
        Ok(node) => matches!(
            node,
            Node::IndexInner(_) | Node::IndexLeaf(_) | Node::IndexSet(_)
        ),
        Err(_) => false,
    }
}
