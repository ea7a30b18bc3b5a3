//! The rules every transformed node must keep (docs/plugins.md): same kind,
//! index leaves sorted and inside their parent's bounds, inner nodes well
//! formed, entries and roots consistent with what was read.

use std::cmp::Ordering;

use crate::db::{INNER_CAPACITY, LEAF_CAPACITY, LEAF_CAPACITY_V2};
use crate::model::{Datom, Format, Index, IndexInner, Node, NodeKind};

/// The range an index node's datoms must stay in, `[lower, upper)` in its
/// index's order, as its parent's separators say.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bounds {
    lower: Option<Datom>,
    upper: Option<Datom>,
}

impl Bounds {
    /// The bounds of child `i` of `parent`, itself within `self`.
    pub fn for_child(&self, parent: &IndexInner, i: usize) -> Bounds {
        let lower = match i {
            0 => self.lower.clone(),
            _ => parent.separators.get(i - 1).cloned(),
        };
        let upper = parent
            .separators
            .get(i)
            .cloned()
            .or_else(|| self.upper.clone());
        Bounds { lower, upper }
    }

    fn admits(&self, index: Index, d: &Datom) -> bool {
        self.lower
            .as_ref()
            .is_none_or(|l| index.cmp(l, d) != Ordering::Greater)
            && self
                .upper
                .as_ref()
                .is_none_or(|u| index.cmp(d, u) == Ordering::Less)
    }
}

/// The bounds of each child of `node` (all unbounded but for inner nodes).
pub fn child_bounds(node: &Node, bounds: &Bounds) -> Vec<Bounds> {
    match node {
        Node::IndexInner(inner) => (0..inner.children.len())
            .map(|i| bounds.for_child(inner, i))
            .collect(),
        other => vec![Bounds::default(); other.child_keys().len()],
    }
}

/// What the rules compare a transform's output with: the kind of the node
/// it was given and the fields it must keep, without the datoms. Keeping
/// this instead of a copy of every node handed to a plugin spares a deep
/// clone per node and hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// database-info: all three fields must stay.
    DatabaseInfo {
        /// Its database id.
        database_id: String,
        /// Its tx-log key.
        tx_log: String,
        /// Its identity.
        identity: String,
    },
    /// The tx-log head: its count must stay.
    TxLogHead(u64),
    /// A tx-log entry: its transaction number must stay.
    TxLogEntry(u64),
    /// An inner index node of this index.
    IndexInner(Index),
    /// An index leaf of this index.
    IndexLeaf(Index),
    /// A format 2 index set: it never crosses to a transform.
    IndexSet,
}

impl Shape {
    /// The shape of `node`.
    pub fn of(node: &Node) -> Shape {
        match node {
            Node::DatabaseInfo(i) => Shape::DatabaseInfo {
                database_id: i.database_id.clone(),
                tx_log: i.tx_log.clone(),
                identity: i.identity.clone(),
            },
            Node::TxLogHead(h) => Shape::TxLogHead(h.count),
            Node::TxLogEntry(e) => Shape::TxLogEntry(e.tx),
            Node::IndexInner(n) => Shape::IndexInner(n.index),
            Node::IndexLeaf(n) => Shape::IndexLeaf(n.index),
            Node::IndexSet(_) => Shape::IndexSet,
        }
    }

    fn kind(&self) -> NodeKind {
        match self {
            Shape::DatabaseInfo { .. } => NodeKind::DatabaseInfo,
            Shape::TxLogHead(_) => NodeKind::TxLogHead,
            Shape::TxLogEntry(_) => NodeKind::TxLogEntry,
            Shape::IndexInner(_) => NodeKind::IndexInner,
            Shape::IndexLeaf(_) => NodeKind::IndexLeaf,
            Shape::IndexSet => NodeKind::IndexSet,
        }
    }
}

/// Checks `after` (a transform's output) against the shape of its input
/// and the bounds the parent sets. The error is the rule broken, in words.
pub fn check(before: &Shape, after: &Node, bounds: &Bounds) -> Result<(), String> {
    if before.kind() != after.kind() {
        return Err(format!(
            "the node kind changed from {} to {}",
            before.kind().name(),
            after.kind().name()
        ));
    }
    match (before, after) {
        (Shape::IndexLeaf(index), Node::IndexLeaf(a)) => {
            same_index(*index, a.index)?;
            let capacity = match a.format {
                Format::V1 => LEAF_CAPACITY,
                Format::V2 => LEAF_CAPACITY_V2,
            };
            within_capacity("a leaf", "datoms", a.datoms.len(), capacity)?;
            sorted(a.index, &a.datoms, "leaf datoms")?;
            if let Some(d) = a.datoms.iter().find(|d| !bounds.admits(a.index, d)) {
                return Err(format!(
                    "a leaf datom {d:?} lies outside its parent's separator bounds"
                ));
            }
            if let Some(d) = a.datoms.iter().find(|d| !a.index.holds(d)) {
                return Err(format!("datom {d:?} does not belong in {}", a.index.name()));
            }
            Ok(())
        }
        (Shape::IndexInner(index), Node::IndexInner(a)) => {
            same_index(*index, a.index)?;
            within_capacity(
                "an inner node",
                "children",
                a.children.len(),
                INNER_CAPACITY,
            )?;
            if a.children.is_empty() || a.children.len() != a.separators.len() + 1 {
                return Err(format!(
                    "an inner node needs one separator fewer than children (has {} children, {} separators)",
                    a.children.len(),
                    a.separators.len()
                ));
            }
            sorted(a.index, &a.separators, "separators")?;
            match a.separators.iter().find(|d| !bounds.admits(a.index, d)) {
                Some(d) => Err(format!("separator {d:?} lies outside the parent's bounds")),
                None => Ok(()),
            }
        }
        (Shape::IndexSet, _) => Err("index sets never cross to a transform".to_string()),
        (Shape::TxLogEntry(tx), Node::TxLogEntry(a)) if *tx != a.tx => Err(format!(
            "the transaction number changed from {tx} to {}",
            a.tx
        )),
        (Shape::TxLogHead(count), Node::TxLogHead(a)) if *count != a.count => Err(format!(
            "the tx-log head count changed from {count} to {}",
            a.count
        )),
        (
            Shape::DatabaseInfo {
                database_id,
                tx_log,
                identity,
            },
            Node::DatabaseInfo(a),
        ) if *database_id != a.database_id || *tx_log != a.tx_log || *identity != a.identity => {
            Err("database-info must keep its database id, tx-log key and identity".to_string())
        }
        _ => Ok(()),
    }
}

fn within_capacity(node: &str, what: &str, has: usize, most: usize) -> Result<(), String> {
    if has > most {
        Err(format!(
            "{node} holds at most {most} {what} (docs/format.md), this one {has}"
        ))
    } else {
        Ok(())
    }
}

fn same_index(before: Index, after: Index) -> Result<(), String> {
    if before == after {
        Ok(())
    } else {
        Err(format!(
            "the index changed from {} to {}",
            before.name(),
            after.name()
        ))
    }
}

fn sorted(index: Index, datoms: &[Datom], what: &str) -> Result<(), String> {
    match index.first_unsorted(datoms) {
        Some(i) => Err(format!(
            "{what} are not sorted in {} order (position {} and {})",
            index.name(),
            i,
            i + 1
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{IndexLeaf, TxLogHead, Value};

    fn d(e: u64) -> Datom {
        Datom {
            e,
            a: 1,
            v: Value::Long(0),
            tx: 1,
            added: true,
        }
    }

    fn leaf(es: &[u64]) -> Node {
        Node::IndexLeaf(IndexLeaf {
            format: crate::model::Format::V1,
            index: Index::Eavt,
            datoms: es.iter().map(|&e| d(e)).collect(),
        })
    }

    #[test]
    fn accepts_an_order_preserving_rewrite() {
        assert_eq!(
            check(
                &Shape::of(&leaf(&[1, 2, 3])),
                &leaf(&[1, 3]),
                &Bounds::default()
            ),
            Ok(())
        );
    }

    #[test]
    fn rejects_unsorted_leaves_kind_changes_and_out_of_bounds() {
        let unsorted = check(
            &Shape::of(&leaf(&[1, 2])),
            &leaf(&[2, 1]),
            &Bounds::default(),
        )
        .unwrap_err();
        assert!(unsorted.contains("not sorted"), "{unsorted}");
        let kind = check(
            &Shape::of(&leaf(&[1])),
            &Node::TxLogHead(TxLogHead { count: 1 }),
            &Bounds::default(),
        );
        assert!(kind.unwrap_err().contains("kind changed"));
        let parent = IndexInner {
            format: crate::model::Format::V1,
            index: Index::Eavt,
            separators: vec![d(10)],
            children: vec!["a".into(), "b".into()],
        };
        let first = Bounds::default().for_child(&parent, 0);
        assert!(
            check(&Shape::of(&leaf(&[1])), &leaf(&[11]), &first)
                .unwrap_err()
                .contains("outside")
        );
        let second = Bounds::default().for_child(&parent, 1);
        assert_eq!(
            check(&Shape::of(&leaf(&[11])), &leaf(&[10, 12]), &second),
            Ok(())
        );
    }
}
