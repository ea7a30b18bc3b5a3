//! Copy-on-write B+tree operations over stored index nodes: inserting a
//! sorted batch (new nodes on the changed paths only; untouched subtrees keep
//! their keys and are shared with earlier trees) and reading a range of
//! datoms in index order.

use std::cmp::Ordering;

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::model::{self, Datom, Format, Index, IndexInner, IndexLeaf, Node, NodeKind};
use crate::store::ValueStore;

use super::DbError;
use super::node_cache::NodeCache;
use super::writer::TreeShape;

/// A node to store: its key and encoded bytes.
pub(crate) type NewNode = (String, Vec<u8>);

/// One child slot while rebuilding an inner level: the child's first datom
/// (`None` for a first slot, whose lower bound its parent already knows)
/// and the child's key.
type Slot = (Option<Datom>, String);

/// A decoded index node of the expected index.
pub(crate) enum TreeNode {
    Inner(IndexInner),
    Leaf(IndexLeaf),
}

/// A contiguous range of an index, given by two monotone predicates: the
/// datoms before it and the datoms after it.
pub(crate) trait DatomRange: Sync {
    /// True for datoms that sort before the range.
    fn below(&self, d: &Datom) -> bool;
    /// True for datoms that sort after the range.
    fn past(&self, d: &Datom) -> bool;
}

/// One index tree of one database namespace.
pub(crate) struct Tree<'a> {
    store: &'a dyn ValueStore,
    namespace: &'a str,
    index: Index,
    /// The format new nodes are written in.
    format: Format,
    /// Decoded nodes read before, shared by the readers of a database.
    cache: Option<&'a NodeCache>,
}

impl<'a> Tree<'a> {
    /// The tree of `index` stored in `namespace`, writing format 1 nodes
    /// and caching nothing.
    pub(crate) fn new(store: &'a dyn ValueStore, namespace: &'a str, index: Index) -> Self {
        Tree {
            store,
            namespace,
            index,
            format: Format::V1,
            cache: None,
        }
    }

    /// The same tree writing nodes in `format`.
    pub(crate) fn in_format(self, format: Format) -> Self {
        Tree { format, ..self }
    }

    /// The same tree reading through `cache`.
    pub(crate) fn cached(self, cache: &'a NodeCache) -> Self {
        Tree {
            cache: Some(cache),
            ..self
        }
    }

    /// Inserts `datoms` (sorted by this index's order) into the tree at
    /// `root`. Returns the new root and the new nodes, children before
    /// parents. Datoms already in the tree are kept once.
    pub(crate) async fn insert(
        &self,
        root: Option<&str>,
        datoms: &[Datom],
        shape: TreeShape,
    ) -> Result<(Option<String>, Vec<NewNode>), DbError> {
        let shape = shape.sane();
        if datoms.is_empty() {
            return Ok((root.map(str::to_string), Vec::new()));
        }
        let mut out = Vec::new();
        let mut slots = match root {
            None => self.write_leaves(datoms.to_vec(), shape, &mut out),
            Some(key) => {
                let node = self.load_many(&[key.to_string()]).await?.pop();
                let node = node.ok_or_else(|| DbError::MissingNode {
                    key: key.to_string(),
                })?;
                self.insert_into(node, datoms, shape, &mut out).await?
            }
        };
        while slots.len() > 1 {
            slots = self.write_inners(slots, shape, &mut out);
        }
        Ok((slots.pop().map(|(_, key)| key), out))
    }

    /// The datoms of the tree at `root` inside `range`, in index order.
    pub(crate) async fn read(
        &self,
        root: Option<&str>,
        range: &dyn DatomRange,
    ) -> Result<Vec<Datom>, DbError> {
        let mut out = Vec::new();
        if let Some(key) = root {
            let mut nodes = self.load_many(&[key.to_string()]).await?;
            if let Some(node) = nodes.pop() {
                self.collect(node, range, &mut out).await?;
            }
        }
        Ok(out)
    }

    fn insert_into<'s>(
        &'s self,
        node: Arc<TreeNode>,
        datoms: &'s [Datom],
        shape: TreeShape,
        out: &'s mut Vec<NewNode>,
    ) -> BoxFuture<'s, Result<Vec<Slot>, DbError>> {
        Box::pin(async move {
            let inner = match node.as_ref() {
                TreeNode::Leaf(leaf) => {
                    let merged = merge(self.index, leaf.datoms.clone(), datoms);
                    return Ok(self.write_leaves(merged, shape, out));
                }
                TreeNode::Inner(inner) => inner,
            };
            // Which child receives which run of the batch.
            let mut runs: Vec<(usize, &[Datom])> = Vec::new();
            let mut rest = datoms;
            while let Some(first) = rest.first() {
                let i = inner
                    .separators
                    .partition_point(|s| self.index.cmp(s, first) != Ordering::Greater);
                let n = match inner.separators.get(i) {
                    Some(sep) => rest.partition_point(|d| self.index.cmp(d, sep) == Ordering::Less),
                    None => rest.len(),
                };
                runs.push((i, &rest[..n]));
                rest = &rest[n..];
            }
            let keys: Vec<String> = runs
                .iter()
                .filter_map(|(i, _)| inner.children.get(*i).cloned())
                .collect();
            let children = self.load_many(&keys).await?;
            let mut replaced: Vec<Option<Vec<Slot>>> = vec![None; inner.children.len()];
            for ((i, run), child) in runs.into_iter().zip(children) {
                let slots = self.insert_into(child, run, shape, out).await?;
                if let Some(slot) = replaced.get_mut(i) {
                    *slot = Some(slots);
                }
            }
            let mut slots = Vec::with_capacity(inner.children.len() + 1);
            for (i, (child, new)) in inner.children.iter().cloned().zip(replaced).enumerate() {
                let first = i
                    .checked_sub(1)
                    .and_then(|j| inner.separators.get(j).cloned());
                match new {
                    None => slots.push((first, child)),
                    Some(new) => {
                        let mut new = new.into_iter();
                        if let Some((_, key)) = new.next() {
                            slots.push((first, key));
                        }
                        slots.extend(new);
                    }
                }
            }
            Ok(self.write_inners(slots, shape, out))
        })
    }

    /// Stores `datoms` as one or more near-even leaves.
    fn write_leaves(
        &self,
        datoms: Vec<Datom>,
        shape: TreeShape,
        out: &mut Vec<NewNode>,
    ) -> Vec<Slot> {
        even_chunks(datoms, shape.leaf_capacity)
            .into_iter()
            .enumerate()
            .map(|(i, datoms)| {
                let first = if i == 0 {
                    None
                } else {
                    datoms.first().cloned()
                };
                let node = Node::IndexLeaf(IndexLeaf {
                    format: self.format,
                    index: self.index,
                    datoms,
                });
                (first, push_node(&node, out))
            })
            .collect()
    }

    /// Stores `slots` as one or more near-even inner nodes.
    fn write_inners(
        &self,
        slots: Vec<Slot>,
        shape: TreeShape,
        out: &mut Vec<NewNode>,
    ) -> Vec<Slot> {
        even_chunks(slots, shape.inner_capacity)
            .into_iter()
            .map(|group| {
                let mut group = group.into_iter();
                let (first, key0) = group.next().unwrap_or_default();
                let (separators, mut children): (Vec<Datom>, Vec<String>) = group
                    .filter_map(|(sep, key)| sep.map(|sep| (sep, key)))
                    .unzip();
                children.insert(0, key0);
                let node = Node::IndexInner(IndexInner {
                    format: self.format,
                    index: self.index,
                    separators,
                    children,
                });
                (first, push_node(&node, out))
            })
            .collect()
    }

    fn collect<'s>(
        &'s self,
        node: Arc<TreeNode>,
        range: &'s dyn DatomRange,
        out: &'s mut Vec<Datom>,
    ) -> BoxFuture<'s, Result<(), DbError>> {
        Box::pin(async move {
            let inner = match node.as_ref() {
                TreeNode::Leaf(leaf) => {
                    let start = leaf.datoms.partition_point(|d| range.below(d));
                    let inside = leaf.datoms[start..]
                        .iter()
                        .take_while(|d| !range.past(d))
                        .cloned();
                    out.extend(inside);
                    return Ok(());
                }
                TreeNode::Inner(inner) => inner,
            };
            let seps = &inner.separators;
            // Child i holds [seps[i-1], seps[i]): skip children that end
            // before the range and stop at the first that starts past it.
            let lo = seps.partition_point(|s| range.below(s));
            let hi = lo + seps[lo..].partition_point(|s| !range.past(s));
            let keys = inner.children.get(lo..=hi).unwrap_or_default();
            for child in self.load_many(keys).await? {
                self.collect(child, range, out).await?;
            }
            Ok(())
        })
    }

    /// Reads and checks several nodes of this tree in one round trip (the
    /// ones the cache holds are not read again).
    async fn load_many(&self, keys: &[String]) -> Result<Vec<Arc<TreeNode>>, DbError> {
        let mut found: Vec<Option<Arc<TreeNode>>> = match self.cache {
            Some(cache) => keys.iter().map(|k| cache.get(k)).collect(),
            None => vec![None; keys.len()],
        };
        let missing: Vec<String> = keys
            .iter()
            .zip(&found)
            .filter(|(_, hit)| hit.is_none())
            .map(|(k, _)| k.clone())
            .collect();
        if !missing.is_empty() {
            let values = self.store.get_many(self.namespace, &missing).await?;
            let mut read = missing.iter().zip(values);
            for slot in found.iter_mut().filter(|slot| slot.is_none()) {
                let Some((key, value)) = read.next() else {
                    break;
                };
                let bytes = value.ok_or_else(|| DbError::MissingNode { key: key.clone() })?;
                let node = Arc::new(self.decode(key, &bytes)?);
                if let Some(cache) = self.cache {
                    cache.insert(key, node.clone());
                }
                *slot = Some(node);
            }
        }
        keys.iter()
            .zip(found)
            .map(|(key, node)| node.ok_or_else(|| DbError::MissingNode { key: key.clone() }))
            .collect()
    }

    fn decode(&self, key: &str, bytes: &[u8]) -> Result<TreeNode, DbError> {
        let node = model::decode_at(key, bytes).map_err(|source| DbError::Codec {
            key: key.to_string(),
            source,
        })?;
        let corrupt = |reason: String| DbError::CorruptNode {
            key: key.to_string(),
            reason,
        };
        let (index, node) = match node {
            Node::IndexInner(inner) => {
                if inner.children.len() != inner.separators.len() + 1 {
                    return Err(corrupt(format!(
                        "{} children but {} separators",
                        inner.children.len(),
                        inner.separators.len()
                    )));
                }
                (inner.index, TreeNode::Inner(inner))
            }
            Node::IndexLeaf(leaf) => (leaf.index, TreeNode::Leaf(leaf)),
            other => {
                return Err(DbError::UnexpectedKind {
                    key: key.to_string(),
                    expected: NodeKind::IndexLeaf,
                    found: other.kind(),
                });
            }
        };
        if index != self.index {
            return Err(corrupt(format!(
                "it belongs to index {} but is reached from index {}",
                index.name(),
                self.index.name()
            )));
        }
        Ok(node)
    }
}

/// Encodes a node, records it for writing and returns its key.
fn push_node(node: &Node, out: &mut Vec<NewNode>) -> String {
    let bytes = model::encode(node);
    let key = model::index_node_key(&bytes);
    out.push((key.clone(), bytes));
    key
}

/// Merges two sorted runs, keeping one of equal datoms.
fn merge(index: Index, old: Vec<Datom>, new: &[Datom]) -> Vec<Datom> {
    let mut out = Vec::with_capacity(old.len() + new.len());
    let mut new = new.iter().peekable();
    for d in old {
        while let Some(n) = new.next_if(|n| index.cmp(n, &d) == Ordering::Less) {
            out.push(n.clone());
        }
        if new
            .peek()
            .is_some_and(|n| index.cmp(n, &d) == Ordering::Equal)
        {
            new.next();
        }
        out.push(d);
    }
    out.extend(new.cloned());
    out
}

/// Splits `items` into the fewest near-even pieces of at most `cap` each.
fn even_chunks<T>(items: Vec<T>, cap: usize) -> Vec<Vec<T>> {
    let n = items.len();
    let k = n.div_ceil(cap.max(1)).max(1);
    let (base, extra) = (n / k, n % k);
    let mut items = items.into_iter();
    (0..k)
        .map(|i| items.by_ref().take(base + usize::from(i < extra)).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Value;

    fn d(e: u64, tx: u64) -> Datom {
        Datom {
            e,
            a: 1,
            v: Value::Long(0),
            tx,
            added: true,
        }
    }

    #[test]
    fn even_chunks_are_near_even_and_bounded() {
        let sizes = |n: usize, cap| {
            even_chunks((0..n).collect(), cap)
                .iter()
                .map(Vec::len)
                .collect::<Vec<_>>()
        };
        assert_eq!(sizes(129, 128), vec![65, 64]);
        assert_eq!(sizes(10, 4), vec![4, 3, 3]);
        assert_eq!(sizes(3, 4), vec![3]);
    }

    #[test]
    fn merge_interleaves_and_dedupes() {
        let merged = merge(
            Index::Eavt,
            vec![d(1, 0), d(3, 0)],
            &[d(0, 1), d(2, 1), d(3, 0)],
        );
        let es: Vec<u64> = merged.iter().map(|d| d.e).collect();
        assert_eq!(es, vec![0, 1, 2, 3]);
    }
}
