//! Subtree summaries: a subtree's index, first and last datom, and its
//! height measured down its leftmost and down its rightmost path (leaves
//! are 0). N4 bounds every child of a checked inner node by its summary, so
//! a child shared with earlier trees is bounded without being walked.
//!
//! A summary is two *edges*, one per side, each computed from the node's
//! first (or last) child's edge on that side and cached by key and side:
//! keys are content hashes, so an edge never changes, and a cold summary
//! costs one path per side, not the subtree. Edges of many keys are
//! computed together, one store round trip per level.

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::model::{Datom, Index, IndexInner};

use super::super::DbError;
use super::node_rules::wrong_index;
use super::nodes::{IndexNode, Reader};
use super::problem::{Fault, Rule};
use crate::db::lru::Lru;

/// Deeper than this, a tree is reported rather than followed: a B+tree of
/// fan-out 2 this deep would hold more datoms than any store.
pub(super) const MAX_HEIGHT: u32 = 64;

/// What N4 needs to know of a subtree it does not walk.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Summary {
    /// The index its root node says it belongs to.
    pub index: Index,
    /// Levels above the leaves along the leftmost path.
    pub left_height: u32,
    /// Levels above the leaves along the rightmost path.
    pub right_height: u32,
    /// Its first datom in order (`None`: it holds none).
    pub first: Option<Datom>,
    /// Its last datom in order.
    pub last: Option<Datom>,
}

impl Summary {
    /// The height, when both paths agree on it (always, in a balanced tree).
    pub fn height(&self) -> Option<u32> {
        (self.left_height == self.right_height).then_some(self.left_height)
    }
}

/// A summary, or the fault of the node that stopped it.
pub(super) type Summarized = Result<Summary, Fault>;

/// Which path an edge follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    /// The leftmost path: the first datom.
    Left,
    /// The rightmost path: the last datom.
    Right,
}

/// One side of a subtree: its root's index, the length of the path down
/// that side, and the datom at its end.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Edge {
    index: Index,
    height: u32,
    datom: Option<Datom>,
}

type EdgeResult = Result<Arc<Edge>, Fault>;

impl Reader {
    /// The summaries of the subtrees at `keys`, one per key, in order.
    pub async fn summaries(&mut self, keys: &[String]) -> Result<Vec<Summarized>, DbError> {
        let mut wanted: Vec<(String, Side)> = Vec::with_capacity(keys.len() * 2);
        for key in keys {
            wanted.push((key.clone(), Side::Left));
            wanted.push((key.clone(), Side::Right));
        }
        let mut edges = self.edges(&wanted, 0).await?.into_iter();
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(match (edges.next(), edges.next()) {
                (Some(Ok(left)), Some(Ok(right))) => Ok(Summary {
                    index: left.index,
                    left_height: left.height,
                    right_height: right.height,
                    first: left.datom.clone(),
                    last: right.datom.clone(),
                }),
                (Some(Err(f)), _) | (_, Some(Err(f))) => Err(f),
                _ => Err(missing(key)),
            });
        }
        Ok(out)
    }

    fn edges<'s>(
        &'s mut self,
        wanted: &'s [(String, Side)],
        depth: u32,
    ) -> BoxFuture<'s, Result<Vec<EdgeResult>, DbError>> {
        Box::pin(async move {
            let mut out: Vec<Option<EdgeResult>> = Vec::with_capacity(wanted.len());
            let mut misses: Vec<(String, Side)> = Vec::new();
            for (key, side) in wanted {
                match self.edge_cache(*side).get(key) {
                    Some(edge) => {
                        self.stats.edge_cache_hits += 1;
                        out.push(Some(Ok(edge)));
                    }
                    None => {
                        misses.push((key.clone(), *side));
                        out.push(None);
                    }
                }
            }
            if misses.is_empty() {
                return Ok(out.into_iter().flatten().collect());
            }
            let computed: Vec<EdgeResult> = if depth > MAX_HEIGHT {
                misses
                    .iter()
                    .map(|(key, _)| {
                        Err(Fault::new(
                            Rule::N4,
                            key,
                            format!("the tree below this node is deeper than {MAX_HEIGHT} levels"),
                        ))
                    })
                    .collect()
            } else {
                self.compute(&misses, depth).await?
            };
            let mut computed = computed.into_iter();
            Ok(out
                .into_iter()
                .zip(wanted)
                .map(|(slot, (key, _))| match slot {
                    Some(edge) => edge,
                    None => computed.next().unwrap_or_else(|| Err(missing(key))),
                })
                .collect())
        })
    }

    fn edge_cache(&mut self, side: Side) -> &mut Lru<Arc<Edge>> {
        match side {
            Side::Left => &mut self.left_edges,
            Side::Right => &mut self.right_edges,
        }
    }

    /// Edges not in the cache: the nodes in one batch, then the edges of
    /// their first (or last) children in one batch.
    async fn compute(
        &mut self,
        wanted: &[(String, Side)],
        depth: u32,
    ) -> Result<Vec<EdgeResult>, DbError> {
        let keys: Vec<String> = wanted.iter().map(|(k, _)| k.clone()).collect();
        let nodes = self.load_many(&keys).await?;
        let mut below: Vec<(String, Side)> = Vec::new();
        for (node, (_, side)) in nodes.iter().zip(wanted) {
            if let Ok(node) = node
                && let IndexNode::Inner(inner) = node.as_ref()
                && let Some(child) = end_child(inner, *side)
            {
                below.push((child.clone(), *side));
            }
        }
        let mut below = self.edges(&below, depth + 1).await?.into_iter();
        let mut out = Vec::with_capacity(wanted.len());
        for ((key, side), node) in wanted.iter().zip(nodes) {
            let edge = match node {
                Err(fault) => Err(fault),
                Ok(node) => match node.as_ref() {
                    IndexNode::Leaf(leaf) => Ok(Edge {
                        index: leaf.index,
                        height: 0,
                        datom: match side {
                            Side::Left => leaf.datoms.first().cloned(),
                            Side::Right => leaf.datoms.last().cloned(),
                        },
                    }),
                    IndexNode::Inner(inner) if end_child(inner, *side).is_none() => {
                        Err(Fault::new(Rule::N4, key, "the inner node has no children"))
                    }
                    IndexNode::Inner(inner) => match below.next() {
                        Some(child) => self.inner_edge(inner, *side, child, depth).await?,
                        None => Err(missing(key)),
                    },
                },
            };
            let edge = edge.map(Arc::new);
            if let Ok(e) = &edge {
                self.stats.edges_computed += 1;
                self.edge_cache(*side).insert(key, e.clone());
            }
            out.push(edge);
        }
        Ok(out)
    }

    /// An inner node's edge from its end child's; when that child holds no
    /// datom (an empty leaf a plugin left), the next child inwards is asked
    /// for its datom, one at a time.
    async fn inner_edge(
        &mut self,
        inner: &IndexInner,
        side: Side,
        child: EdgeResult,
        depth: u32,
    ) -> Result<Result<Edge, Fault>, DbError> {
        let child = match child {
            Ok(c) => c,
            Err(f) => return Ok(Err(f)),
        };
        let end = end_child(inner, side)
            .map(String::as_str)
            .unwrap_or_default();
        if child.index != inner.index {
            return Ok(Err(wrong_index(inner.index, end, child.index)));
        }
        let mut datom = child.datom.clone();
        let inward: Vec<&String> = match side {
            Side::Left => inner.children.iter().skip(1).collect(),
            Side::Right => inner.children.iter().rev().skip(1).collect(),
        };
        for next in inward {
            if datom.is_some() {
                break;
            }
            let wanted = [(next.clone(), side)];
            match self.edges(&wanted, depth + 1).await?.pop() {
                Some(Ok(e)) => datom = e.datom.clone(),
                Some(Err(f)) => return Ok(Err(f)),
                None => return Ok(Err(missing(next))),
            }
        }
        Ok(Ok(Edge {
            index: inner.index,
            height: child.height.saturating_add(1),
            datom,
        }))
    }
}

/// The child an edge goes down through.
fn end_child(inner: &IndexInner, side: Side) -> Option<&String> {
    match side {
        Side::Left => inner.children.first(),
        Side::Right => inner.children.last(),
    }
}

/// The fault of an edge that could not be had: the node is not there.
fn missing(key: &str) -> Fault {
    Fault::new(Rule::N1, key, "the node is missing from the store")
}
