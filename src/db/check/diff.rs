//! T1 and T2 for one index of one entry: the tree of entry `k` is the tree
//! of entry `k - 1` plus exactly the novelty of entry `k` that the index
//! holds. Both trees are walked together in index order, each side a stack
//! of pending subtrees (with their heights, from their summaries) and leaf
//! cursors. A subtree whose key is equal on both sides at the same height
//! and place is skipped whole (same key, same stored bytes); otherwise the
//! higher side is expanded (both at equal heights), a subtree whose two
//! sides differ in height is expanded at once, and a datom against a
//! subtree expands the subtree. So only the nodes on changed paths are
//! read. Every node expanded on the new side is checked (N1–N4, see
//! `node_rules`); the walk stops at the first fault of an index, since what
//! follows it would only repeat it.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::model::{Datom, Index};

use super::super::DbError;
use super::node_rules::{
    check_children, check_index as check_index_of, check_inner, check_leaf, check_level, upper,
};
use super::nodes::{IndexNode, Reader};
use super::problem::{Fault, Rule, show};

/// One index of one entry to check.
pub(super) struct IndexCheck<'a> {
    /// The index.
    pub index: Index,
    /// The entry's number.
    pub entry: u64,
    /// The entry's key (named when no node is at fault).
    pub entry_key: &'a str,
    /// The previous entry's root of this index.
    pub old_root: Option<&'a str>,
    /// This entry's root of this index.
    pub new_root: Option<&'a str>,
    /// The entry's novelty that the index holds, sorted in its order, once each.
    pub novelty: &'a [Datom],
}

/// T1 and T2 (and N1–N4 on the nodes the walk expands) for one index.
pub(super) async fn check_index(
    reader: &mut Reader,
    check: IndexCheck<'_>,
) -> Result<Vec<Fault>, DbError> {
    let name = upper(check.index);
    let t1 = |key: &str, text: String| Ok(vec![Fault::new(Rule::T1, key, text)]);
    let (old_root, new_root) = match (check.old_root, check.new_root) {
        (Some(_), None) => {
            return t1(
                check.entry_key,
                format!(
                    "the entry names no {name} root, but the index holds the datoms of earlier entries"
                ),
            );
        }
        (None, None) if !check.novelty.is_empty() => {
            return t1(
                check.entry_key,
                format!(
                    "the entry names no {name} root, but its novelty has {} datoms for that index",
                    check.novelty.len()
                ),
            );
        }
        (None, None) => return Ok(Vec::new()),
        (None, Some(new)) if check.novelty.is_empty() => {
            return t1(
                new,
                format!("the entry names a {name} root, but the index holds no datom"),
            );
        }
        (old, Some(new)) => (old, new),
    };
    let mut keys = vec![new_root.to_string()];
    keys.extend(old_root.map(str::to_string));
    let mut summaries = reader.summaries(&keys).await?.into_iter();
    let new = match summaries.next() {
        Some(Ok(s)) => s,
        Some(Err(fault)) => return Ok(vec![fault]),
        None => return Ok(Vec::new()),
    };
    if new.index != check.index {
        return t1(
            new_root,
            format!(
                "the entry's {name} root is a node of index {}",
                upper(new.index)
            ),
        );
    }
    let mut walk = Walk {
        reader,
        index: check.index,
        entry: check.entry,
        entry_key: check.entry_key,
        old: Side::default(),
        new: Side::default(),
        novelty: check.novelty,
        next_novel: 0,
        last_new_leaf: None,
    };
    if let Some(old_root) = old_root {
        match summaries.next() {
            Some(Ok(old)) => walk.old.push_sub(old_root, old.height()),
            Some(Err(fault)) => return Ok(vec![fault]),
            None => {}
        }
    }
    walk.new.push_sub(new_root, new.height());
    walk.run().await
}

/// A pending part of one side of the walk.
enum Frame {
    /// A subtree not read yet, `height` levels above the leaves (`None`:
    /// its leftmost and rightmost paths differ, so it is walked first).
    Sub { key: String, height: Option<u32> },
    /// A leaf being read, from datom `pos` on.
    Leaf {
        key: Arc<str>,
        node: Arc<IndexNode>,
        pos: usize,
    },
}

/// What is next on one side.
enum Top<'a> {
    /// Nothing: the side is done.
    End,
    /// A subtree and its height.
    Sub(&'a str, Option<u32>),
    /// A datom, and the key of its leaf.
    Datom(&'a Datom, &'a Arc<str>),
}

/// One side of the walk: a stack whose top is what comes next in order.
#[derive(Default)]
struct Side {
    frames: Vec<Frame>,
}

impl Side {
    fn push_sub(&mut self, key: &str, height: Option<u32>) {
        self.frames.push(Frame::Sub {
            key: key.to_string(),
            height,
        });
    }

    fn top(&self) -> Top<'_> {
        match self.frames.last() {
            None => Top::End,
            Some(Frame::Sub { key, height }) => Top::Sub(key, *height),
            Some(Frame::Leaf { key, node, pos }) => match datoms(node).get(*pos) {
                Some(d) => Top::Datom(d, key),
                None => Top::End,
            },
        }
    }

    /// Takes the top subtree off, for expanding or skipping it.
    fn pop_sub(&mut self) -> Option<(String, Option<u32>)> {
        match self.frames.pop() {
            Some(Frame::Sub { key, height }) => Some((key, height)),
            Some(other) => {
                self.frames.push(other);
                None
            }
            None => None,
        }
    }

    /// Moves past the top datom.
    fn advance(&mut self) {
        if let Some(Frame::Leaf { node, pos, .. }) = self.frames.last_mut() {
            *pos += 1;
            if *pos >= datoms(node).len() {
                self.frames.pop();
            }
        }
    }

    /// Puts a read node's content on top: its children, of `heights`, or
    /// its datoms.
    fn open(&mut self, key: &str, node: Arc<IndexNode>, heights: &[Option<u32>]) {
        match node.as_ref() {
            IndexNode::Inner(inner) => {
                for (i, child) in inner.children.iter().enumerate().rev() {
                    self.push_sub(child, heights.get(i).copied().flatten());
                }
            }
            IndexNode::Leaf(leaf) if leaf.datoms.is_empty() => {}
            IndexNode::Leaf(_) => self.frames.push(Frame::Leaf {
                key: Arc::from(key),
                node,
                pos: 0,
            }),
        }
    }
}

fn datoms(node: &IndexNode) -> &[Datom] {
    match node {
        IndexNode::Leaf(leaf) => &leaf.datoms,
        IndexNode::Inner(_) => &[],
    }
}

/// What to do next, decided from both sides' tops.
enum Step {
    Done,
    SkipBoth,
    ExpandOld,
    ExpandNew,
    ExpandBoth,
    Same,
    NewOnly,
    Lost,
}

struct Walk<'r, 'a> {
    reader: &'r mut Reader,
    index: Index,
    entry: u64,
    entry_key: &'a str,
    old: Side,
    new: Side,
    novelty: &'a [Datom],
    next_novel: usize,
    /// The leaf of the last new-side datom matched since the last skip.
    last_new_leaf: Option<Arc<str>>,
}

impl Walk<'_, '_> {
    async fn run(&mut self) -> Result<Vec<Fault>, DbError> {
        loop {
            let step = self.step();
            let faults = match step {
                Step::Done => return Ok(self.finish()),
                Step::SkipBoth => {
                    self.old.pop_sub();
                    self.new.pop_sub();
                    self.last_new_leaf = None;
                    self.reader.stats.subtrees_shared += 1;
                    Vec::new()
                }
                Step::ExpandOld => self.expand_old().await?,
                Step::ExpandNew => self.expand_new().await?,
                Step::ExpandBoth => {
                    let mut faults = self.expand_old().await?;
                    if faults.is_empty() {
                        faults = self.expand_new().await?;
                    }
                    faults
                }
                Step::Same => {
                    self.reader.stats.datoms_compared += 1;
                    self.take_new();
                    self.old.advance();
                    Vec::new()
                }
                Step::NewOnly => {
                    self.reader.stats.datoms_compared += 1;
                    self.new_only()
                }
                Step::Lost => self.lost(),
            };
            if !faults.is_empty() {
                return Ok(faults);
            }
        }
    }

    fn step(&self) -> Step {
        match (self.old.top(), self.new.top()) {
            (Top::End, Top::End) => Step::Done,
            (Top::Sub(a, ha), Top::Sub(b, hb)) => match (ha, hb) {
                (_, None) => Step::ExpandNew,
                (None, _) => Step::ExpandOld,
                (Some(ha), Some(hb)) => match ha.cmp(&hb) {
                    Ordering::Equal if a == b => Step::SkipBoth,
                    Ordering::Equal => Step::ExpandBoth,
                    Ordering::Greater => Step::ExpandOld,
                    Ordering::Less => Step::ExpandNew,
                },
            },
            (Top::Sub(..), _) => Step::ExpandOld,
            (_, Top::Sub(..)) => Step::ExpandNew,
            (Top::Datom(o, _), Top::Datom(n, _)) => match self.index.cmp(o, n) {
                Ordering::Equal => Step::Same,
                Ordering::Greater => Step::NewOnly,
                Ordering::Less => Step::Lost,
            },
            (Top::End, Top::Datom(..)) => Step::NewOnly,
            (Top::Datom(..), Top::End) => Step::Lost,
        }
    }

    /// Moves past the new side's top datom, remembering its leaf.
    fn take_new(&mut self) {
        if let Top::Datom(_, leaf) = self.new.top() {
            self.last_new_leaf = Some(leaf.clone());
        }
        self.new.advance();
    }

    /// A datom only in the new tree: it must be the next novelty datom.
    fn new_only(&mut self) -> Vec<Fault> {
        let Top::Datom(n, leaf) = self.new.top() else {
            return Vec::new();
        };
        match self.novelty.get(self.next_novel) {
            Some(x) if self.index.cmp(x, n) == Ordering::Equal => {
                self.next_novel += 1;
                self.take_new();
                Vec::new()
            }
            Some(x) if self.index.cmp(x, n) == Ordering::Less => self.missing(x),
            _ => vec![Fault::new(
                Rule::T2,
                leaf.as_ref(),
                format!(
                    "datom {} is in the {} tree, but neither in the previous entry's tree nor in this entry's novelty",
                    show(n),
                    upper(self.index)
                ),
            )],
        }
    }

    /// A datom of the old tree the new one lacks.
    fn lost(&self) -> Vec<Fault> {
        let Top::Datom(o, _) = self.old.top() else {
            return Vec::new();
        };
        let was = match self.entry.checked_sub(1) {
            Some(prev) => format!("entry {prev}'s"),
            None => "the previous".to_string(),
        };
        vec![Fault::new(
            Rule::T2,
            self.position(),
            format!(
                "datom {} of {was} {} tree is missing from this entry's: history never loses a datom",
                show(o),
                upper(self.index)
            ),
        )]
    }

    /// A novelty datom the new tree lacks.
    fn missing(&self, x: &Datom) -> Vec<Fault> {
        vec![Fault::new(
            Rule::T2,
            self.position(),
            format!(
                "datom {} of this entry's novelty is missing from the {} tree",
                show(x),
                upper(self.index)
            ),
        )]
    }

    /// Both sides are done: every novelty datom must have been matched.
    fn finish(&self) -> Vec<Fault> {
        match self.novelty.get(self.next_novel) {
            Some(x) => self.missing(x),
            None => Vec::new(),
        }
    }

    /// The node to name for a datom missing at the walk's position: the
    /// new leaf being read (when part-way through it), else the last new
    /// leaf matched, else what comes next, else the entry.
    fn position(&self) -> String {
        let top = self.new.top();
        if let (Some(Frame::Leaf { pos, .. }), Top::Datom(_, leaf)) = (self.new.frames.last(), &top)
            && *pos > 0
        {
            return leaf.to_string();
        }
        if let Some(leaf) = &self.last_new_leaf {
            return leaf.to_string();
        }
        match top {
            Top::Datom(_, leaf) => leaf.to_string(),
            Top::Sub(key, _) => key.to_string(),
            Top::End => self.entry_key.to_string(),
        }
    }

    /// Expands the old side's top subtree (trusted: checked as an earlier entry).
    async fn expand_old(&mut self) -> Result<Vec<Fault>, DbError> {
        let Some((key, height)) = self.old.pop_sub() else {
            return Ok(Vec::new());
        };
        let node = match self.reader.load(&key).await? {
            Ok(node) => node,
            Err(fault) => return Ok(vec![fault]),
        };
        self.reader.stats.old_nodes_expanded += 1;
        let misplaced = check_index_of(self.index, &key, &node)
            .or_else(|| height.and_then(|h| check_level(&key, &node, h)));
        if let Some(fault) = misplaced {
            return Ok(vec![fault]);
        }
        let below = height.and_then(|h| h.checked_sub(1));
        let heights = match node.as_ref() {
            IndexNode::Inner(inner) => vec![below; inner.children.len()],
            IndexNode::Leaf(_) => Vec::new(),
        };
        self.old.open(&key, node, &heights);
        Ok(Vec::new())
    }

    /// Expands the new side's top subtree, checking its node (N1–N4).
    async fn expand_new(&mut self) -> Result<Vec<Fault>, DbError> {
        let Some((key, _)) = self.new.pop_sub() else {
            return Ok(Vec::new());
        };
        let node = match self.reader.load(&key).await? {
            Ok(node) => node,
            Err(fault) => return Ok(vec![fault]),
        };
        self.reader.stats.nodes_checked += 1;
        if let Some(fault) = check_index_of(self.index, &key, &node) {
            return Ok(vec![fault]);
        }
        let (faults, heights) = match node.as_ref() {
            IndexNode::Leaf(leaf) => (check_leaf(self.index, &key, leaf), Vec::new()),
            IndexNode::Inner(inner) => {
                let faults = check_inner(self.index, &key, inner);
                if faults.is_empty() {
                    let summaries = self.reader.summaries(&inner.children).await?;
                    check_children(self.index, &key, inner, summaries)
                } else {
                    (faults, Vec::new())
                }
            }
        };
        if faults.is_empty() {
            self.new.open(&key, node, &heights);
        }
        Ok(faults)
    }
}
