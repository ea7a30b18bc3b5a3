//! The decoded index nodes a database's readers and writer read before.
//! Index nodes are immutable and keyed by their digest, so a cached node
//! is never stale; the cache only saves reading and decoding it again.
//! Format 2 readers merge several runs per lookup and depend on it.

use std::sync::{Arc, Mutex};

use super::lru::Lru;
use super::tree::TreeNode;

/// How many decoded index nodes a database keeps by default: at format
/// 2's 512 datoms a leaf, a few hundred MB at most.
pub const NODE_CACHE_NODES: usize = 4096;

/// A bounded cache of decoded index nodes, shared by the clones of a
/// [`Database`](super::Database).
pub(crate) struct NodeCache {
    nodes: Mutex<Lru<Arc<TreeNode>>>,
}

impl NodeCache {
    /// A cache of at most `capacity` nodes (0: caches nothing).
    pub(crate) fn new(capacity: usize) -> NodeCache {
        NodeCache {
            nodes: Mutex::new(Lru::new(capacity)),
        }
    }

    /// The node at `key`, when cached.
    pub(crate) fn get(&self, key: &str) -> Option<Arc<TreeNode>> {
        self.nodes.lock().ok()?.get(key)
    }

    /// Keeps `node` as the one at `key`.
    pub(crate) fn insert(&self, key: &str, node: Arc<TreeNode>) {
        if let Ok(mut nodes) = self.nodes.lock() {
            nodes.insert(key, node);
        }
    }
}
