//! Database statistics: the tx-log's length, and how many nodes of each
//! kind the database's namespace holds and how many bytes they take, found
//! by scanning the namespace page by page and decoding every value.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::model::{self, CodecError, Node, NodeKind};
use crate::store::ValueStore;

use super::{Database, DbError};

/// Keys read per scan page.
const PAGE: usize = 1000;

/// A count of stored values and their size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// How many values.
    pub count: u64,
    /// Their total size in bytes (values only, keys not counted).
    pub bytes: u64,
}

impl Tally {
    fn add(&mut self, bytes: usize) {
        self.count += 1;
        self.bytes += bytes as u64;
    }
}

/// What a database's namespace holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbStats {
    /// The database id.
    pub database: String,
    /// The store's URL (password masked).
    pub store: String,
    /// Entries in the tx-log (its head's count; transaction 0 included).
    pub entries: u64,
    /// Datoms in those entries: every assertion and retraction ever made
    /// (the history), what per-datom sizes divide by.
    pub datoms: u64,
    /// Nodes by kind; every kind is present, with zero when absent.
    pub nodes: BTreeMap<NodeKind, Tally>,
    /// Values that do not decode as nodes (e.g. a migration status record).
    pub other: Tally,
    /// Everything in the namespace.
    pub total: Tally,
}

/// Every node kind, in the order statistics list them.
pub const KINDS: [NodeKind; 6] = [
    NodeKind::DatabaseInfo,
    NodeKind::TxLogHead,
    NodeKind::TxLogEntry,
    NodeKind::IndexSet,
    NodeKind::IndexInner,
    NodeKind::IndexLeaf,
];

/// Counts what database `db_id` in `store` holds;
/// [`DbError::UnknownDatabase`] when there is no such database.
pub async fn stats(store: Arc<dyn ValueStore>, db_id: &str) -> Result<DbStats, DbError> {
    let db = Database::open(store.clone(), db_id).await?;
    let entries = db.head().await?.count;
    let mut stats = DbStats {
        database: db_id.to_string(),
        store: store.url().to_string(),
        entries,
        datoms: 0,
        nodes: KINDS.into_iter().map(|k| (k, Tally::default())).collect(),
        other: Tally::default(),
        total: Tally::default(),
    };
    let mut after: Option<String> = None;
    loop {
        let page = store.scan(db_id, after.as_deref(), PAGE).await?;
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        for (key, value) in &page {
            stats.total.add(value.len());
            match model::decode_at(key, value) {
                Ok(node) => {
                    if let Node::TxLogEntry(entry) = &node
                        && entry.tx < entries
                    {
                        stats.datoms += entry.datoms.len() as u64;
                    }
                    stats.nodes.entry(node.kind()).or_default().add(value.len());
                }
                Err(err @ CodecError::KeyMismatch { .. }) => {
                    return Err(DbError::Codec {
                        key: key.clone(),
                        source: err,
                    });
                }
                Err(err) => {
                    tracing::debug!(key = %key, %err, "not a node; counted as other");
                    stats.other.add(value.len());
                }
            }
        }
        tracing::trace!(scanned = stats.total.count, "stats page");
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        DatabaseInfo, Datom, IndexRoots, Node, TxLogEntry, TxLogHead, Value, encode, entry_key,
    };

    async fn put(store: &Arc<dyn ValueStore>, key: &str, node: Node) {
        store.create("d", key, &encode(&node)).await.unwrap();
    }

    /// A hand-built one-entry database, so stats can be checked without the writer.
    async fn tiny_database() -> Arc<dyn ValueStore> {
        let store = crate::store::open("mem:").await.unwrap();
        put(
            &store,
            "d",
            Node::DatabaseInfo(DatabaseInfo {
                database_id: "d".into(),
                tx_log: "log".into(),
                identity: "i".into(),
            }),
        )
        .await;
        put(&store, "log", Node::TxLogHead(TxLogHead { count: 1 })).await;
        // Entry 0 holds two datoms; entry 1, past the head, is not counted.
        for (tx, datoms) in [(0, 2), (1, 1)] {
            let datom = |e| Datom {
                e,
                a: 1,
                v: Value::Long(0),
                tx,
                added: true,
            };
            put(
                &store,
                &entry_key("log", tx),
                Node::TxLogEntry(TxLogEntry {
                    lag: None,
                    tx,
                    instant: 0,
                    datoms: (0..datoms).map(datom).collect(),
                    roots: IndexRoots::default(),
                    next_entity: [64, 1, 1],
                }),
            )
            .await;
        }
        store
            .create("d", "d.migration-status", b"{}")
            .await
            .unwrap();
        store
    }

    #[tokio::test]
    async fn counts_nodes_by_kind_and_other_values() {
        let store = tiny_database().await;
        let stats = stats(store, "d").await.unwrap();
        assert_eq!(stats.entries, 1);
        assert_eq!(stats.datoms, 2, "the datoms of entries below the head");
        assert_eq!(stats.nodes[&NodeKind::DatabaseInfo].count, 1);
        assert_eq!(stats.nodes[&NodeKind::TxLogHead].count, 1);
        assert_eq!(stats.nodes[&NodeKind::TxLogEntry].count, 2);
        assert_eq!(stats.nodes[&NodeKind::IndexLeaf].count, 0);
        assert_eq!(stats.other, Tally { count: 1, bytes: 2 });
        assert_eq!(stats.total.count, 5);
        let node_bytes: u64 = stats.nodes.values().map(|t| t.bytes).sum();
        assert_eq!(stats.total.bytes, node_bytes + 2);
    }

    #[tokio::test]
    async fn unknown_database_is_named() {
        let store = tiny_database().await;
        let err = stats(store, "nope").await.unwrap_err().to_string();
        assert!(err.contains("no database `nope`"), "{err}");
    }
}
