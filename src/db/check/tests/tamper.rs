//! Tampering with a stored database the way a faulty plugin or a damaged
//! store would: replace one node and rehash the path up to an entry, write
//! an entry, overwrite a value in place.

use std::sync::Arc;

use crate::db::{Database, TreeShape};
use crate::model::{
    Datom, Index, IndexInner, IndexLeaf, IndexRoots, Node, TxLogEntry, encode, encode_at,
    entry_key, index_node_key,
};
use crate::store::ValueStore;

/// A database to tamper with.
pub(crate) struct Tamper {
    pub store: Arc<dyn ValueStore>,
    pub db: Database,
}

impl Tamper {
    /// Database `id` of `store`.
    pub async fn open(store: Arc<dyn ValueStore>, id: &str) -> Tamper {
        let db = Database::open(store.clone(), id).await.unwrap();
        Tamper { store, db }
    }

    /// Entry `k`.
    pub async fn entry(&self, k: u64) -> TxLogEntry {
        self.db.entry(k).await.unwrap()
    }

    /// The key of entry `k`.
    pub fn entry_key(&self, k: u64) -> String {
        entry_key(&self.db.info().tx_log, k)
    }

    /// Replaces entry `k` by `entry`.
    pub async fn set_entry(&self, k: u64, entry: &TxLogEntry) {
        // Sealed again for its key: tampering that knows the format.
        let key = self.entry_key(k);
        let bytes = encode_at(&key, &Node::TxLogEntry(entry.clone()));
        self.overwrite(&key, &bytes).await;
    }

    /// The node at `key`.
    pub async fn node(&self, key: &str) -> Node {
        self.db.expect_node(key).await.unwrap()
    }

    /// Stores `node` under the digest of its bytes; returns the key.
    pub async fn put(&self, node: &Node) -> String {
        let bytes = encode(node);
        let key = index_node_key(&bytes);
        self.store.create(self.db.id(), &key, &bytes).await.unwrap();
        key
    }

    /// Overwrites the value at `key` (present) with `bytes`.
    pub async fn overwrite(&self, key: &str, bytes: &[u8]) {
        let old = self.store.get(self.db.id(), key).await.unwrap();
        let outcome = self
            .store
            .replace(self.db.id(), key, old.as_deref(), bytes)
            .await
            .unwrap();
        assert!(outcome.replaced());
    }

    /// The keys from entry `k`'s root of `index` down to the first node, in
    /// pre-order, that `pick` accepts (empty when none does).
    pub async fn path(&self, k: u64, index: Index, pick: impl Fn(&Node) -> bool) -> Vec<String> {
        let Some(root) = self.entry(k).await.roots.get(index).map(str::to_string) else {
            return Vec::new();
        };
        let mut stack = vec![vec![root]];
        while let Some(path) = stack.pop() {
            let node = self.node(path.last().unwrap()).await;
            if pick(&node) {
                return path;
            }
            if let Node::IndexInner(inner) = node {
                for child in inner.children.iter().rev() {
                    let mut longer = path.clone();
                    longer.push(child.clone());
                    stack.push(longer);
                }
            }
        }
        Vec::new()
    }

    /// Replaces the last node of `path` (from entry `k`'s root of `index`)
    /// by `node`, rewrites its ancestors to point at the new keys and entry
    /// `k` at the new root. Returns the new keys along the path.
    pub async fn replace(&self, k: u64, index: Index, path: &[String], node: Node) -> Vec<String> {
        let mut new_keys = vec![self.put(&node).await];
        for pair in path.windows(2).rev() {
            let (parent, old_child) = (&pair[0], &pair[1]);
            let Node::IndexInner(mut inner) = self.node(parent).await else {
                panic!("a path's parents are inner nodes");
            };
            let child = new_keys.last().unwrap().clone();
            for c in inner
                .children
                .iter_mut()
                .filter(|c| c.as_str() == old_child.as_str())
            {
                *c = child.clone();
            }
            new_keys.push(self.put(&Node::IndexInner(inner)).await);
        }
        new_keys.reverse();
        let mut entry = self.entry(k).await;
        entry.roots.set(index, new_keys.first().cloned());
        self.set_entry(k, &entry).await;
        new_keys
    }

    /// Rewrites entry `k` with novelty `stored` in the log and the trees of
    /// `indexes` grown from entry `k - 1`'s with `indexed` instead (the
    /// other trees stay as they are).
    pub async fn regrow(
        &self,
        k: u64,
        indexes: &[Index],
        stored: Vec<Datom>,
        indexed: &[Datom],
        shape: TreeShape,
    ) -> IndexRoots {
        let prev = self.entry(k - 1).await;
        let (grown, _) = self
            .db
            .grow_trees(&prev.roots, indexed, shape)
            .await
            .unwrap();
        let mut entry = self.entry(k).await;
        for index in indexes {
            entry
                .roots
                .set(*index, grown.get(*index).map(str::to_string));
        }
        entry.datoms = stored;
        self.set_entry(k, &entry).await;
        entry.roots
    }
}

/// The leaf of `node`, if it is one.
pub(crate) fn leaf(node: &Node) -> Option<&IndexLeaf> {
    match node {
        Node::IndexLeaf(leaf) => Some(leaf),
        _ => None,
    }
}

/// The inner node `node`, if it is one.
pub(crate) fn inner(node: &Node) -> Option<&IndexInner> {
    match node {
        Node::IndexInner(inner) => Some(inner),
        _ => None,
    }
}
