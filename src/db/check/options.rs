//! How much memory the checker may use, and what it counts.

use serde::Serialize;

/// The checker's memory bounds. Both caches hold a bounded number of
/// entries, whatever the database's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckOptions {
    /// Decoded index nodes kept (shared by both sides of the diff: most
    /// nodes read as the previous tree were read as new one entry earlier).
    pub node_cache: usize,
    /// Subtree summaries kept, by key: each side (height and first datom
    /// down the leftmost path, height and last datom down the rightmost)
    /// is kept apart, up to this many of each.
    pub summary_cache: usize,
    /// [`super::check_database`] keeps at most this many problems (it
    /// counts them all).
    pub max_problems: usize,
}

impl Default for CheckOptions {
    /// 4,096 nodes (a few tens of MiB of full leaves), 65,536 summaries
    /// (the siblings of the nodes transactions rewrite, for most
    /// databases), 20 problems.
    fn default() -> Self {
        CheckOptions {
            node_cache: 4096,
            summary_cache: 65_536,
            max_problems: 20,
        }
    }
}

/// What checking has done so far, for reports and for cost tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CheckStats {
    /// Entries checked.
    pub entries_checked: u64,
    /// Index nodes read from the store (cache misses).
    pub nodes_read: u64,
    /// Bytes of those nodes.
    pub bytes_read: u64,
    /// `get_many` round trips for index nodes.
    pub read_batches: u64,
    /// Index node reads answered by the node cache.
    pub node_cache_hits: u64,
    /// Nodes of a checked entry's trees expanded and checked (N1–N4).
    pub nodes_checked: u64,
    /// Nodes of the previous entry's trees expanded by the diff.
    pub old_nodes_expanded: u64,
    /// Subtrees skipped because both trees share them at the same place.
    pub subtrees_shared: u64,
    /// Summary sides (edges) computed from nodes.
    pub edges_computed: u64,
    /// Summary sides answered by the summary cache.
    pub edge_cache_hits: u64,
    /// Datoms compared by the diff.
    pub datoms_compared: u64,
}
