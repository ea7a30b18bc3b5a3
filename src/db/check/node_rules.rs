//! The rules on one index node the diff expands in a checked tree: N2 (it
//! belongs to the tree's index), N3 (leaves) and N4 (inner nodes, with
//! their children's summaries: one height, within the separators).

use std::cmp::Ordering;

use crate::model::{Format, Index, IndexInner, IndexLeaf};

use super::super::writer::LEAF_CAPACITY_V2;
use super::super::{INNER_CAPACITY, LEAF_CAPACITY};
use super::nodes::IndexNode;
use super::problem::{Fault, Rule, show};
use super::summary::Summarized;

/// N2: `node`, reached from `index`'s tree, is of that index.
pub(super) fn check_index(index: Index, key: &str, node: &IndexNode) -> Option<Fault> {
    (node.index() != index).then(|| wrong_index(index, key, node.index()))
}

/// For a node of a trusted tree, `height` levels above the leaves as its
/// parent's height says: it is a leaf exactly when `height` is 0.
pub(super) fn check_level(key: &str, node: &IndexNode, height: u32) -> Option<Fault> {
    let what = match (node, height) {
        (IndexNode::Leaf(_), h) if h > 0 => {
            format!("a leaf stands where a node {h} levels above the leaves belongs")
        }
        (IndexNode::Inner(_), 0) => "an inner node stands where a leaf belongs".to_string(),
        _ => return None,
    };
    Some(Fault::new(
        Rule::N4,
        key,
        format!("the tree is unbalanced: {what}"),
    ))
}

/// N2 for a node of `found`'s index reached from `index`'s tree.
pub(super) fn wrong_index(index: Index, key: &str, found: Index) -> Fault {
    Fault::new(
        Rule::N2,
        key,
        format!(
            "a node of index {} is reached from the {} tree",
            upper(found),
            upper(index)
        ),
    )
}

/// N3: at most [`LEAF_CAPACITY`] datoms ([`LEAF_CAPACITY_V2`] in format
/// 2), strictly sorted, each one the index holds. An empty leaf is allowed.
pub(super) fn check_leaf(index: Index, key: &str, leaf: &IndexLeaf) -> Vec<Fault> {
    let mut faults = Vec::new();
    let fault = |text: String| Fault::new(Rule::N3, key, text);
    let capacity = match leaf.format {
        Format::V1 => LEAF_CAPACITY,
        Format::V2 => LEAF_CAPACITY_V2,
    };
    if leaf.datoms.len() > capacity {
        faults.push(fault(format!(
            "the leaf holds {} datoms, more than {capacity}",
            leaf.datoms.len()
        )));
    }
    if let Some(i) = index.first_unsorted(&leaf.datoms) {
        faults.push(fault(format!(
            "datoms {i} and {} of the leaf are not in strictly increasing {} order",
            i + 1,
            upper(index)
        )));
    }
    if let Some(d) = leaf.datoms.iter().find(|d| !index.holds(d)) {
        faults.push(fault(format!(
            "datom {} does not belong in {}, which holds ref values only",
            show(d),
            upper(index)
        )));
    }
    faults
}

/// N4 without the children: 1 to [`INNER_CAPACITY`] children, one
/// separator fewer, separators strictly sorted.
pub(super) fn check_inner(index: Index, key: &str, inner: &IndexInner) -> Vec<Fault> {
    let mut faults = Vec::new();
    let fault = |text: String| Fault::new(Rule::N4, key, text);
    let n = inner.children.len();
    if n == 0 || n > INNER_CAPACITY {
        faults.push(fault(format!(
            "the inner node has {n} children (1 to {INNER_CAPACITY} allowed)"
        )));
    }
    if inner.separators.len() + 1 != n {
        faults.push(fault(format!(
            "the inner node has {n} children but {} separators: it needs one fewer than children",
            inner.separators.len()
        )));
    }
    if let Some(i) = index.first_unsorted(&inner.separators) {
        faults.push(fault(format!(
            "separators {i} and {} are not in strictly increasing {} order",
            i + 1,
            upper(index)
        )));
    }
    faults
}

/// N4 on the children: each of the tree's index, all of one height, its
/// datoms within `[separator i-1, separator i)`. Returns the faults and
/// each child's height (`None` for a child whose leftmost and rightmost
/// paths differ in length: it is not blamed here but walked, and the node
/// below whose children differ is named).
pub(super) fn check_children(
    index: Index,
    key: &str,
    inner: &IndexInner,
    summaries: Vec<Summarized>,
) -> (Vec<Fault>, Vec<Option<u32>>) {
    let mut faults = Vec::new();
    let mut heights = Vec::with_capacity(inner.children.len());
    let mut level: Option<(usize, u32)> = None;
    for (i, (child, summary)) in inner.children.iter().zip(summaries).enumerate() {
        let s = match summary {
            Ok(s) => s,
            Err(fault) => {
                faults.push(fault);
                heights.push(None);
                continue;
            }
        };
        heights.push(s.height());
        if s.index != index {
            faults.push(wrong_index(index, child, s.index));
            continue;
        }
        let fault = |text: String| Fault::new(Rule::N4, key, text);
        match (level, s.height()) {
            (None, Some(h)) => level = Some((i, h)),
            (Some((j, hj)), Some(h)) if h != hj => faults.push(fault(format!(
                "child {i} `{child}` is {h} levels above the leaves, but child {j} is {hj}: the tree is unbalanced"
            ))),
            _ => {}
        }
        let lower = i.checked_sub(1).and_then(|j| inner.separators.get(j));
        if let (Some(sep), Some(first)) = (lower, &s.first)
            && index.cmp(first, sep) == Ordering::Less
        {
            faults.push(fault(format!(
                "child {i} `{child}` starts with {}, below separator {} {}",
                show(first),
                i - 1,
                show(sep)
            )));
        }
        if let (Some(sep), Some(last)) = (inner.separators.get(i), &s.last)
            && index.cmp(last, sep) != Ordering::Less
        {
            faults.push(fault(format!(
                "child {i} `{child}` ends with {}, not below separator {i} {}",
                show(last),
                show(sep)
            )));
        }
    }
    (faults, heights)
}

/// `EAVT`, as messages name an index.
pub(super) fn upper(index: Index) -> String {
    index.name().to_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::check::summary::Summary;
    use crate::model::{Datom, Value};

    fn d(e: u64) -> Datom {
        Datom {
            e,
            a: 1,
            v: Value::Long(0),
            tx: 1,
            added: true,
        }
    }

    fn summary(height: u32, first: u64, last: u64) -> Summarized {
        Ok(Summary {
            index: Index::Eavt,
            left_height: height,
            right_height: height,
            first: Some(d(first)),
            last: Some(d(last)),
        })
    }

    #[test]
    fn leaves_must_be_small_sorted_and_of_their_index() {
        let leaf = |es: Vec<u64>| IndexLeaf {
            format: crate::model::Format::V1,
            index: Index::Vaet,
            datoms: es.into_iter().map(d).collect(),
        };
        let codes = |f: Vec<Fault>| f.iter().map(|f| f.text.clone()).collect::<Vec<_>>();
        assert!(check_leaf(Index::Eavt, "k", &leaf(vec![1, 2])).is_empty());
        let unsorted = codes(check_leaf(Index::Eavt, "k", &leaf(vec![2, 2])));
        assert!(unsorted[0].contains("datoms 0 and 1"), "{unsorted:?}");
        let big = codes(check_leaf(Index::Eavt, "k", &leaf((0..=129).collect())));
        assert!(big[0].contains("130 datoms, more than 128"), "{big:?}");
        let vaet = codes(check_leaf(Index::Vaet, "k", &leaf(vec![1])));
        assert!(vaet[0].contains("ref values only"), "{vaet:?}");
    }

    #[test]
    fn children_must_sit_between_their_separators_at_one_height() {
        let inner = IndexInner {
            format: crate::model::Format::V1,
            index: Index::Eavt,
            separators: vec![d(10), d(20)],
            children: vec!["a".into(), "b".into(), "c".into()],
        };
        assert!(check_inner(Index::Eavt, "p", &inner).is_empty());
        let ok = vec![summary(0, 1, 9), summary(0, 12, 19), summary(0, 20, 30)];
        let (f, heights) = check_children(Index::Eavt, "p", &inner, ok);
        assert!(f.is_empty(), "{f:?}");
        assert_eq!(heights, vec![Some(0); 3]);
        let low = vec![summary(0, 1, 9), summary(0, 9, 19), summary(0, 20, 30)];
        let (f, _) = check_children(Index::Eavt, "p", &inner, low);
        assert!(f[0].text.contains("child 1 `b` starts with"), "{f:?}");
        let high = vec![summary(0, 1, 10), summary(0, 12, 19), summary(0, 20, 30)];
        let (f, _) = check_children(Index::Eavt, "p", &inner, high);
        assert!(f[0].text.contains("not below separator 0"), "{f:?}");
        let deep = vec![summary(0, 1, 9), summary(1, 12, 19), summary(0, 20, 30)];
        let (f, _) = check_children(Index::Eavt, "p", &inner, deep);
        assert!(
            f[0].text
                .contains("child 1 `b` is 1 levels above the leaves, but child 0 is 0"),
            "{f:?}"
        );
        let mut lopsided = vec![summary(1, 1, 9), summary(1, 12, 19), summary(1, 20, 30)];
        if let Ok(s) = &mut lopsided[0] {
            s.left_height = 0;
        }
        let (f, heights) = check_children(Index::Eavt, "p", &inner, lopsided);
        assert!(
            f.is_empty(),
            "a lopsided child is walked, not blamed here: {f:?}"
        );
        assert_eq!(heights, vec![None, Some(1), Some(1)]);
        let swapped = IndexInner {
            separators: vec![d(20), d(10)],
            ..inner
        };
        let f = check_inner(Index::Eavt, "p", &swapped);
        assert!(f[0].text.contains("separators 0 and 1"), "{f:?}");
    }
}
