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

/// The storage format a node is written in (docs/format.md): format 1
/// stores every transaction's index trees whole; format 2 indexes in
/// batches, in sorted runs, with compact nodes. A node keeps the format it
/// was read in, so it is written back in it (its key depends on it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// Format 1: full index trees in every entry.
    #[default]
    V1,
    /// Format 2: index roots that lag the log.
    V2,
}

impl Format {
    /// The format's number, as docs and messages give it.
    pub fn number(self) -> u8 {
        match self {
            Format::V1 => 1,
            Format::V2 => 2,
        }
    }
}

/// Where a format 2 entry's index is: the index set holding every
/// transaction up to `basis` (at most the entry's own); a reader merges
/// the novelty of entries `basis + 1 ..= tx` onto it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lag {
    /// The last transaction the index set holds.
    pub basis: u64,
    /// The key of the [`IndexSet`] node.
    pub set: String,
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
    /// Format 1: the index trees as of this transaction (all history up
    /// to it). Empty in format 2, whose entries name their index by `lag`.
    pub roots: IndexRoots,
    /// The next unused entity counter of each partition (Db, Tx, User).
    pub next_entity: [u64; 3],
    /// Format 2: the index set this entry's index lags behind; `None` in
    /// format 1 (not part of the format 1 encoding).
    #[serde(skip)]
    pub lag: Option<Lag>,
}

impl TxLogEntry {
    /// The format this entry is written in.
    pub fn format(&self) -> Format {
        if self.lag.is_some() {
            Format::V2
        } else {
            Format::V1
        }
    }
}

/// One sorted run of a format 2 index set: the datoms of transactions
/// `first_tx ..= last_tx`, as four immutable B+trees (one per index).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Run {
    /// The first transaction the run holds.
    pub first_tx: u64,
    /// The last transaction the run holds.
    pub last_tx: u64,
    /// How many datoms those transactions hold (EAVT's count).
    pub datoms: u64,
    /// The run's tree roots; `None` for an index the run has no datom of.
    pub roots: IndexRoots,
}

/// A format 2 index set, keyed by its digest: the runs holding every
/// transaction `0 ..= basis`, oldest first, over contiguous transaction
/// ranges. Entries between two indexings share it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexSet {
    /// The last transaction the runs hold.
    pub basis: u64,
    /// The runs, oldest first.
    pub runs: Vec<Run>,
}

/// An inner node of an index tree: `children[i]` holds the datoms `d` with
/// `separators[i-1] <= d < separators[i]` in the index's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexInner {
    /// The format it is written in (not part of the format 1 encoding).
    #[serde(skip)]
    pub format: Format,
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
    /// The format it is written in (not part of the format 1 encoding).
    #[serde(skip)]
    pub format: Format,
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
    /// See [`IndexSet`] (format 2 only; never encoded in format 1).
    #[serde(skip)]
    IndexSet(IndexSet),
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
    /// format 2 index set.
    IndexSet,
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
            NodeKind::IndexSet => "index set",
        }
    }
}

impl Node {
    /// The format this node is written in (database-info and the head
    /// are the same in both and written as format 1).
    pub fn format(&self) -> Format {
        match self {
            Node::DatabaseInfo(_) | Node::TxLogHead(_) => Format::V1,
            Node::TxLogEntry(entry) => entry.format(),
            Node::IndexInner(inner) => inner.format,
            Node::IndexLeaf(leaf) => leaf.format,
            Node::IndexSet(_) => Format::V2,
        }
    }

    /// This node's kind.
    pub fn kind(&self) -> NodeKind {
        match self {
            Node::DatabaseInfo(_) => NodeKind::DatabaseInfo,
            Node::TxLogHead(_) => NodeKind::TxLogHead,
            Node::TxLogEntry(_) => NodeKind::TxLogEntry,
            Node::IndexInner(_) => NodeKind::IndexInner,
            Node::IndexLeaf(_) => NodeKind::IndexLeaf,
            Node::IndexSet(_) => NodeKind::IndexSet,
        }
    }

    /// Keys of the immutable nodes this node points at (the head's entries
    /// are not listed: they follow from its count and the log key).
    pub fn child_keys(&self) -> Vec<&str> {
        match self {
            Node::DatabaseInfo(info) => vec![info.tx_log.as_str()],
            Node::TxLogHead(_) | Node::IndexLeaf(_) => Vec::new(),
            Node::TxLogEntry(entry) => match &entry.lag {
                Some(lag) => vec![lag.set.as_str()],
                None => entry.roots.keys().collect(),
            },
            Node::IndexInner(inner) => inner.children.iter().map(String::as_str).collect(),
            Node::IndexSet(set) => set.runs.iter().flat_map(|r| r.roots.keys()).collect(),
        }
    }
}

/// The key of tx-log entry `i` of the log whose head is at `tx_log`.
pub fn entry_key(tx_log: &str, i: u64) -> String {
    format!("{tx_log}.{i}")
}
