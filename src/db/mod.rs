//! Reading and writing a database: the transaction writer, the replayer of
//! explicit transactions (rebuilds), the reader, and the demo-data generator.
//! Trees are copy-on-write B+trees (see `tree`).

mod batch;
pub mod check;
mod coerce;
mod entry_batches;
mod error;
pub mod generate;
pub mod input;
mod lagging;
mod lru;
mod mem_index;
mod node_cache;
mod novelty;
mod reader;
mod repair;
mod replay;
pub mod stats;
mod tree;
mod tx_build;
mod tx_data;
mod writer;

pub use batch::Batch;
pub(crate) use entry_batches::read_entries;
pub use error::DbError;
pub use node_cache::NODE_CACHE_NODES;
pub use reader::{Component, DatomQuery, Snapshot};
pub use repair::{LogRepair, take_back_uncommitted};
pub use replay::{
    ReplayError, ReplayRule, ReplayTx, Replayer, SchemaState, Violation, check_issued,
    is_bootstrap, is_schema_attribute,
};
pub use tx_data::{EntityRef, InputValue, TxOp, TxReport};
pub use writer::{INNER_CAPACITY, LEAF_CAPACITY, LEAF_CAPACITY_V2, TreeShape, WriteCounts};

use std::sync::Arc;

use crate::model::{self, DatabaseInfo, Node, TxLogEntry, TxLogHead};
use crate::store::ValueStore;

/// An open database: a store, the namespace and database-info it lives
/// under. Cheap to clone; clones share a cache of decoded index nodes
/// (immutable, so never stale) and the writer's last snapshot (used only
/// while the tx-log head still names it). Everything else is read from
/// the store each time.
#[derive(Clone)]
pub struct Database {
    store: Arc<dyn ValueStore>,
    info: DatabaseInfo,
    cache: Arc<node_cache::NodeCache>,
    last: Arc<tokio::sync::Mutex<Option<Snapshot>>>,
}

impl Database {
    /// The database `info` describes in `store`, with empty caches.
    pub(crate) fn new(store: Arc<dyn ValueStore>, info: DatabaseInfo) -> Database {
        Database {
            store,
            info,
            cache: Arc::new(node_cache::NodeCache::new(NODE_CACHE_NODES)),
            last: Arc::new(tokio::sync::Mutex::new(None)),
        }
    }

    /// A handle on the same store, database-info and node cache without
    /// the writer's snapshot: what snapshots hold, so the writer's cached
    /// snapshot never holds the cache it is kept in.
    pub(crate) fn detached(&self) -> Database {
        Database {
            last: Arc::new(tokio::sync::Mutex::new(None)),
            ..self.clone()
        }
    }

    /// The decoded index nodes this database's readers share.
    pub(crate) fn cache(&self) -> &node_cache::NodeCache {
        &self.cache
    }

    /// The store this database lives in.
    pub fn store(&self) -> &Arc<dyn ValueStore> {
        &self.store
    }

    /// The database id (also its namespace in the store).
    pub fn id(&self) -> &str {
        &self.info.database_id
    }

    /// The database-info node as read when opened.
    pub fn info(&self) -> &DatabaseInfo {
        &self.info
    }

    /// Opens an existing database; [`DbError::UnknownDatabase`] when the
    /// store holds no database with that id.
    pub async fn open(store: Arc<dyn ValueStore>, id: &str) -> Result<Database, DbError> {
        let node =
            read_node(store.as_ref(), id, id)
                .await?
                .ok_or_else(|| DbError::UnknownDatabase {
                    id: id.to_string(),
                    url: store.url().to_string(),
                })?;
        match node {
            Node::DatabaseInfo(info) => Ok(Database::new(store, info)),
            other => Err(DbError::UnexpectedKind {
                key: id.to_string(),
                expected: model::NodeKind::DatabaseInfo,
                found: other.kind(),
            }),
        }
    }

    /// Reads the tx-log head (the number of committed transactions).
    pub async fn head(&self) -> Result<TxLogHead, DbError> {
        match self.expect_node(&self.info.tx_log).await? {
            Node::TxLogHead(head) => Ok(head),
            other => Err(self.wrong_kind(&self.info.tx_log, model::NodeKind::TxLogHead, &other)),
        }
    }

    /// Reads tx-log entry `tx`.
    pub async fn entry(&self, tx: u64) -> Result<TxLogEntry, DbError> {
        let key = model::entry_key(&self.info.tx_log, tx);
        match self.expect_node(&key).await? {
            Node::TxLogEntry(entry) => Ok(entry),
            other => Err(self.wrong_kind(&key, model::NodeKind::TxLogEntry, &other)),
        }
    }

    /// Reads any node of this database; [`DbError::MissingNode`] when absent.
    pub async fn expect_node(&self, key: &str) -> Result<Node, DbError> {
        read_node(self.store.as_ref(), self.id(), key)
            .await?
            .ok_or_else(|| DbError::MissingNode {
                key: key.to_string(),
            })
    }

    fn wrong_kind(&self, key: &str, expected: model::NodeKind, found: &Node) -> DbError {
        DbError::UnexpectedKind {
            key: key.to_string(),
            expected,
            found: found.kind(),
        }
    }
}

/// Reads tx-log entry `tx` stored at `key`: absent, another kind of node,
/// or an entry that says it is another transaction are errors naming the key.
pub async fn read_entry(
    store: &dyn ValueStore,
    namespace: &str,
    key: &str,
    tx: u64,
) -> Result<TxLogEntry, DbError> {
    let bytes = store.get(namespace, key).await?;
    let key = key.to_string();
    entry_batches::StoredEntry { tx, key, bytes }.decode()
}

/// Reads and decodes one node from a namespace; `None` when absent.
pub async fn read_node(
    store: &dyn ValueStore,
    namespace: &str,
    key: &str,
) -> Result<Option<Node>, DbError> {
    match store.get(namespace, key).await? {
        None => Ok(None),
        Some(bytes) => model::decode_at(key, &bytes)
            .map(Some)
            .map_err(|source| DbError::Codec {
                key: key.to_string(),
                source,
            }),
    }
}
