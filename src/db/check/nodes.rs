//! Reading index nodes for the checker: in batches, through a bounded cache
//! of decoded nodes, each checked on its way in against its key (N1) and
//! for being an index node at all (N2). A node that fails is a [`Fault`],
//! never an error: only the store failing is an error.

use std::sync::Arc;

use crate::model::{self, CodecError, Index, IndexInner, IndexLeaf, Node};
use crate::store::ValueStore;

use super::super::DbError;
use super::options::{CheckOptions, CheckStats};
use super::problem::{Fault, Rule};
use super::summary::Edge;
use crate::db::lru::Lru;

/// A decoded index node.
#[derive(Debug)]
pub(super) enum IndexNode {
    /// An inner node.
    Inner(IndexInner),
    /// A leaf.
    Leaf(IndexLeaf),
}

impl IndexNode {
    /// The index the node says it belongs to.
    pub fn index(&self) -> Index {
        match self {
            IndexNode::Inner(n) => n.index,
            IndexNode::Leaf(n) => n.index,
        }
    }
}

/// A node as read: decoded, or the fault that stops it being used.
pub(super) type Loaded = Result<Arc<IndexNode>, Fault>;

/// The store and caches the checker reads index nodes through.
pub(super) struct Reader {
    store: Arc<dyn ValueStore>,
    namespace: String,
    nodes: Lru<Arc<IndexNode>>,
    /// Left edges of subtrees by key (see `summary`).
    pub(super) left_edges: Lru<Arc<Edge>>,
    /// Right edges of subtrees by key.
    pub(super) right_edges: Lru<Arc<Edge>>,
    /// Counters.
    pub(super) stats: CheckStats,
}

impl Reader {
    /// A reader of the namespace `namespace` of `store`.
    pub fn new(store: Arc<dyn ValueStore>, namespace: &str, options: &CheckOptions) -> Reader {
        Reader {
            store,
            namespace: namespace.to_string(),
            nodes: Lru::new(options.node_cache),
            left_edges: Lru::new(options.summary_cache),
            right_edges: Lru::new(options.summary_cache),
            stats: CheckStats::default(),
        }
    }

    /// The store read from.
    pub fn store(&self) -> &Arc<dyn ValueStore> {
        &self.store
    }

    /// The namespace read from.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The node stored at `key`, decoded and checked against its key
    /// (`None` when absent): for entries and index sets, which the index
    /// node cache does not hold.
    pub async fn read_node(&self, key: &str) -> Result<Option<Result<Node, CodecError>>, DbError> {
        let bytes = self.store.get(&self.namespace, key).await?;
        Ok(bytes.map(|bytes| model::decode_at(key, &bytes)))
    }

    /// One node.
    pub async fn load(&mut self, key: &str) -> Result<Loaded, DbError> {
        let mut loaded = self.load_many(&[key.to_string()]).await?;
        Ok(loaded.pop().unwrap_or_else(|| Err(missing(key))))
    }

    /// Several nodes, the cache misses in one store round trip; one answer
    /// per key, in order.
    pub async fn load_many(&mut self, keys: &[String]) -> Result<Vec<Loaded>, DbError> {
        let mut out: Vec<Option<Loaded>> = Vec::with_capacity(keys.len());
        let mut misses: Vec<String> = Vec::new();
        for key in keys {
            match self.nodes.get(key) {
                Some(node) => {
                    self.stats.node_cache_hits += 1;
                    out.push(Some(Ok(node)));
                }
                None => {
                    if !misses.contains(key) {
                        misses.push(key.clone());
                    }
                    out.push(None);
                }
            }
        }
        if !misses.is_empty() {
            let values = self.store.get_many(&self.namespace, &misses).await?;
            self.stats.read_batches += 1;
            let mut read: Vec<(String, Loaded)> = Vec::with_capacity(misses.len());
            for (key, value) in misses.into_iter().zip(values) {
                let loaded = match value {
                    None => Err(missing(&key)),
                    Some(bytes) => {
                        self.stats.nodes_read += 1;
                        self.stats.bytes_read += bytes.len() as u64;
                        decode_index_node(&key, &bytes).map(Arc::new)
                    }
                };
                if let Ok(node) = &loaded {
                    self.nodes.insert(&key, node.clone());
                }
                read.push((key, loaded));
            }
            for (slot, key) in out.iter_mut().zip(keys) {
                if slot.is_none() {
                    *slot = read.iter().find(|(k, _)| k == key).map(|(_, l)| l.clone());
                }
            }
        }
        Ok(out
            .into_iter()
            .zip(keys)
            .map(|(slot, key)| slot.unwrap_or_else(|| Err(missing(key))))
            .collect())
    }
}

/// N1 for an absent key.
fn missing(key: &str) -> Fault {
    Fault::new(Rule::N1, key, "the node is missing from the store")
}

/// N1 and the kind part of N2: the bytes hash to the key, decode, and are
/// an index node.
fn decode_index_node(key: &str, bytes: &[u8]) -> Result<IndexNode, Fault> {
    if model::index_node_key(bytes) != key {
        return Err(Fault::new(
            Rule::N1,
            key,
            "the node's bytes do not hash to its key: its content is not what its parent refers to",
        ));
    }
    match model::decode(bytes) {
        Err(e) => Err(Fault::new(
            Rule::N1,
            key,
            format!("the node cannot be decoded: {e}"),
        )),
        Ok(Node::IndexInner(inner)) => Ok(IndexNode::Inner(inner)),
        Ok(Node::IndexLeaf(leaf)) => Ok(IndexNode::Leaf(leaf)),
        Ok(other) => Err(Fault::new(
            Rule::N2,
            key,
            format!(
                "a {} stands where an index node belongs",
                other.kind().name()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Datom, Value, encode};
    use crate::store::MemStore;

    fn leaf() -> (String, Vec<u8>) {
        let node = Node::IndexLeaf(IndexLeaf {
            format: crate::model::Format::V1,
            index: Index::Eavt,
            datoms: vec![Datom {
                e: 1,
                a: 1,
                v: Value::Long(1),
                tx: 0,
                added: true,
            }],
        });
        let bytes = encode(&node);
        (model::index_node_key(&bytes), bytes)
    }

    #[tokio::test]
    async fn reads_through_the_cache_and_names_bad_nodes() {
        let store: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
        let (key, bytes) = leaf();
        let mut flipped = bytes.clone();
        if let Some(b) = flipped.last_mut() {
            *b ^= 1;
        }
        store
            .create_many("ns", &[(key.clone(), bytes), ("bad".to_string(), flipped)])
            .await
            .unwrap();
        let mut reader = Reader::new(store, "ns", &CheckOptions::default());
        let keys = vec![key.clone(), "bad".to_string(), "gone".to_string(), key];
        let loaded = reader.load_many(&keys).await.unwrap();
        assert!(loaded[0].is_ok() && loaded[3].is_ok());
        assert_eq!(loaded[1].as_ref().unwrap_err().code, Rule::N1);
        assert!(loaded[2].as_ref().unwrap_err().text.contains("missing"));
        assert_eq!(reader.stats.nodes_read, 2);
        assert_eq!(reader.stats.read_batches, 1);
        reader.load(&keys[0]).await.unwrap().unwrap();
        assert_eq!(reader.stats.node_cache_hits, 1);
        assert_eq!(reader.stats.nodes_read, 2);
    }
}
