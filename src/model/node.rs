//! The stored node kinds (docs/design.md §4, docs/format.md) and how their keys are formed.

use serde::{Deserialize, Serialize};

use super::datom::{Datom, Index};

/// database-info, stored at the database id: names the tx-log head.
/// Mutable by compare-and-set only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseInfo {
    /// The database id (also this node's key).
    pub database_id: String,
    /// The key of the tx-log head.
    pub tx_log: String,
    /// A UUID made when the database was created; a migration stamps it on
    /// the destination and refuses a destination holding another identity.
    pub identity: String,
}

/// The tx-log head, stored at `DatabaseInfo::tx_log`: how many entries the
/// log has. Mutable by compare-and-set only; it only ever grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxLogHead {
    /// Entries `0..count` exist and are reachable.
    pub count: u64,
}

/// The roots of the four index trees after a transaction; `None` for an
/// index that holds no datom yet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexRoots {
    /// Root of EAVT.
    pub eavt: Option<String>,
    /// Root of AEVT.
    pub aevt: Option<String>,
    /// Root of AVET.
    pub avet: Option<String>,
    /// Root of VAET.
    pub vaet: Option<String>,
}

impl IndexRoots {
    /// The root of one index.
    pub fn get(&self, index: Index) -> Option<&str> {
        match index {
            Index::Eavt => self.eavt.as_deref(),
            Index::Aevt => self.aevt.as_deref(),
            Index::Avet => self.avet.as_deref(),
            Index::Vaet => self.vaet.as_deref(),
        }
    }

    /// Sets the root of one index.
    pub fn set(&mut self, index: Index, root: Option<String>) {
        match index {
            Index::Eavt => self.eavt = root,
            Index::Aevt => self.aevt = root,
            Index::Avet => self.avet = root,
            Index::Vaet => self.vaet = root,
        }
    }

    /// The present roots, in EAVT, AEVT, AVET, VAET order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        Index::ALL.into_iter().filter_map(|i| self.get(i))
    }
}

/// Entry `tx` of the tx-log, stored at [`entry_key`]: the transaction's
/// novelty and the index roots that include it. Immutable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxLogEntry {
    /// The transaction number (= position in the log).
    pub tx: u64,
    /// When it was committed, in milliseconds since the epoch.
    pub instant: i64,
    /// The datoms this transaction asserted and retracted.
    pub datoms: Vec<Datom>,
    /// The index trees as of this transaction (all history up to it).
    pub roots: IndexRoots,
    /// The next unused entity counter of each partition (Db, Tx, User).
    pub next_entity: [u64; 3],
}

/// An inner node of an index tree: `children[i]` holds the datoms `d` with
/// `separators[i-1] <= d < separators[i]` in the index's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexInner {
    /// Which index this tree belongs to.
    pub index: Index,
    /// `children.len() - 1` separators: the first datom of each child but the first.
    pub separators: Vec<Datom>,
    /// Keys of the child nodes.
    pub children: Vec<String>,
}

/// A leaf of an index tree: datoms sorted in the index's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexLeaf {
    /// Which index this tree belongs to.
    pub index: Index,
    /// The datoms, sorted, no duplicates.
    pub datoms: Vec<Datom>,
}

/// Any stored node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Node {
    /// See [`DatabaseInfo`].
    DatabaseInfo(DatabaseInfo),
    /// See [`TxLogHead`].
    TxLogHead(TxLogHead),
    /// See [`TxLogEntry`].
    TxLogEntry(TxLogEntry),
    /// See [`IndexInner`].
    IndexInner(IndexInner),
    /// See [`IndexLeaf`].
    IndexLeaf(IndexLeaf),
}

/// The kind of a node, for counting and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum NodeKind {
    /// database-info.
    DatabaseInfo,
    /// tx-log head.
    TxLogHead,
    /// tx-log entry.
    TxLogEntry,
    /// index inner node.
    IndexInner,
    /// index leaf.
    IndexLeaf,
}

impl NodeKind {
    /// Human name, as `db stats` prints it.
    pub fn name(self) -> &'static str {
        match self {
            NodeKind::DatabaseInfo => "database-info",
            NodeKind::TxLogHead => "tx-log head",
            NodeKind::TxLogEntry => "tx-log entry",
            NodeKind::IndexInner => "index inner",
            NodeKind::IndexLeaf => "index leaf",
        }
    }
}

impl Node {
    /// This node's kind.
    pub fn kind(&self) -> NodeKind {
        match self {
            Node::DatabaseInfo(_) => NodeKind::DatabaseInfo,
            Node::TxLogHead(_) => NodeKind::TxLogHead,
            Node::TxLogEntry(_) => NodeKind::TxLogEntry,
            Node::IndexInner(_) => NodeKind::IndexInner,
            Node::IndexLeaf(_) => NodeKind::IndexLeaf,
        }
    }

    /// Keys of the immutable nodes this node points at (the head's entries
    /// are not listed: they follow from its count and the log key).
    pub fn child_keys(&self) -> Vec<&str> {
        match self {
            Node::DatabaseInfo(info) => vec![info.tx_log.as_str()],
            Node::TxLogHead(_) | Node::IndexLeaf(_) => Vec::new(),
            Node::TxLogEntry(entry) => entry.roots.keys().collect(),
            Node::IndexInner(inner) => inner.children.iter().map(String::as_str).collect(),
        }
    }
}

/// The key of tx-log entry `i` of the log whose head is at `tx_log`.
pub fn entry_key(tx_log: &str, i: u64) -> String {
    format!("{tx_log}.{i}")
}
