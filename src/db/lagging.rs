//! Format 2's index (docs/design.md §9, docs/format.md "Format 2"): an
//! index set of sorted runs holding every transaction up to its basis,
//! and the novelty of the entries after it, held in memory. A reader
//! merges the runs and the novelty; the writer adds each transaction to
//! the novelty and, once it holds [`TreeShape::novelty_threshold`] datoms,
//! writes it as a new run and merges the newest runs while `fan_in` of
//! them are of one size tier (size-tiered, as log-structured stores do),
//! up to [`TreeShape::run_cap`] datoms a run. So a datom is written a
//! bounded number of times whatever the database's size.

use std::sync::Arc;

use crate::model::{
    self, Datom, Format, Index, IndexRoots, IndexSet, Lag, Node, NodeKind, Run, TxLogEntry,
};

use super::entry_batches::for_each_entry;
use super::mem_index::MemIndex;
use super::tree::{DatomRange, NewNode, Tree};
use super::writer::{TreeShape, WriteCounts};
use super::{Database, DbError};

/// The most entries a reader merges onto an index set. A writer indexes
/// every [`TreeShape::novelty_threshold`] datoms (32,768 by default, so at
/// most that many entries); an entry claiming a far older basis is damaged
/// or hostile, and reading it would mean holding much of the log in memory.
pub(crate) const MAX_LAG_ENTRIES: u64 = 1 << 20;

/// A format 2 database's index as of one transaction. See the module
/// documentation.
#[derive(Clone)]
pub(crate) struct Lagging {
    set_key: String,
    set: Arc<IndexSet>,
    novelty: MemIndex,
}

impl Lagging {
    /// The index of format 2 entry `entry` (whose index is `lag`): its
    /// index set, and the novelty of the entries after the set's basis up
    /// to `entry`, read from the log.
    pub(crate) async fn load(
        db: &Database,
        entry: &TxLogEntry,
        lag: &Lag,
    ) -> Result<Lagging, DbError> {
        let corrupt = |key: String, reason: String| DbError::CorruptNode { key, reason };
        let entry_key = |tx| model::entry_key(&db.info().tx_log, tx);
        if lag.basis > entry.tx {
            return Err(corrupt(
                entry_key(entry.tx),
                format!("its index set's basis {} is after it", lag.basis),
            ));
        }
        if entry.tx - lag.basis > MAX_LAG_ENTRIES {
            return Err(corrupt(
                entry_key(entry.tx),
                format!(
                    "it lags its index set by {} entries, more than the {MAX_LAG_ENTRIES} a reader merges",
                    entry.tx - lag.basis
                ),
            ));
        }
        let set = read_set(db, &lag.set).await?;
        if set.basis != lag.basis {
            return Err(corrupt(
                lag.set.clone(),
                format!(
                    "the index set holds transactions up to {}, the entry naming it says {}",
                    set.basis, lag.basis
                ),
            ));
        }
        let mut novelty = MemIndex::default();
        let range = lag.basis + 1..entry.tx;
        for_each_entry(
            db.store().as_ref(),
            db.id(),
            &db.info().tx_log,
            range,
            |e| {
                let (t, key) = (e.tx, e.key.clone());
                let before = e.decode()?;
                if before.lag.as_ref() != Some(lag) {
                    return Err(corrupt(
                        key,
                        format!("entry {t} must be on the index set of entry {}", entry.tx),
                    ));
                }
                novelty.add(&before.datoms);
                Ok(())
            },
        )
        .await?;
        if entry.tx > lag.basis {
            novelty.add(&entry.datoms);
        }
        Ok(Lagging {
            set_key: lag.set.clone(),
            set: Arc::new(set),
            novelty,
        })
    }

    /// The index holding transaction 0's `datoms` alone, written as the
    /// first run: its nodes are stored, the entry is the caller's.
    pub(crate) async fn bootstrap(
        db: &Database,
        datoms: &[Datom],
        shape: TreeShape,
    ) -> Result<(Lagging, Lag, WriteCounts), DbError> {
        let mut novelty = MemIndex::default();
        novelty.add(datoms);
        index_novelty(db, &[], &novelty, 0, 0, shape).await
    }

    /// The datoms of `index` inside `range`, in index order: the runs'
    /// and the novelty's, merged.
    pub(crate) async fn read(
        &self,
        db: &Database,
        index: Index,
        range: &dyn DatomRange,
    ) -> Result<Vec<Datom>, DbError> {
        let mut out = Vec::new();
        for root in self.set.runs.iter().filter_map(|r| r.roots.get(index)) {
            let tree = Tree::new(db.store().as_ref(), db.id(), index).cached(db.cache());
            out.extend(tree.read(Some(root), range).await?);
        }
        out.extend(self.novelty.read(index, range));
        out.sort_by(|x, y| index.cmp(x, y));
        Ok(out)
    }

    /// The index after transaction `tx` (the one after this index's)
    /// adds `datoms`: the same index set with more novelty, or, past the
    /// threshold, a new index set holding it all (stored before this
    /// returns; the entry naming it is the caller's to store).
    pub(crate) async fn advance(
        &self,
        db: &Database,
        tx: u64,
        datoms: &[Datom],
        shape: TreeShape,
    ) -> Result<(Lagging, Lag, WriteCounts), DbError> {
        let mut novelty = self.novelty.clone();
        novelty.add(datoms);
        if novelty.len() < shape.sane().novelty_threshold {
            let lag = Lag {
                basis: self.set.basis,
                set: self.set_key.clone(),
            };
            let next = Lagging {
                novelty,
                ..self.clone()
            };
            return Ok((next, lag, WriteCounts::default()));
        }
        let first = self.set.basis + 1;
        index_novelty(db, &self.set.runs, &novelty, first, tx, shape).await
    }
}

/// Reads the index set at `key`.
async fn read_set(db: &Database, key: &str) -> Result<IndexSet, DbError> {
    match db.expect_node(key).await? {
        Node::IndexSet(set) => Ok(set),
        other => Err(DbError::UnexpectedKind {
            key: key.to_string(),
            expected: NodeKind::IndexSet,
            found: other.kind(),
        }),
    }
}

/// What a run of the new index set is made of: a run kept as it is, or
/// the merge of stored runs and (at most once) the novelty.
struct Planned {
    first_tx: u64,
    last_tx: u64,
    datoms: u64,
    kept: Option<Run>,
    parts: Vec<Part>,
}

#[derive(Clone)]
enum Part {
    Stored(IndexRoots),
    Novelty,
}

impl Planned {
    fn kept(run: &Run) -> Planned {
        Planned {
            first_tx: run.first_tx,
            last_tx: run.last_tx,
            datoms: run.datoms,
            kept: Some(run.clone()),
            parts: vec![Part::Stored(run.roots.clone())],
        }
    }
}

/// The size tier of a run of `datoms`: 0 below `base × fan_in`, one more
/// for each further factor of `fan_in`.
fn tier(datoms: u64, shape: TreeShape) -> u32 {
    let fan_in = shape.fan_in as u64;
    let mut bound = (shape.novelty_threshold as u64).saturating_mul(fan_in);
    let mut tier = 0;
    while datoms >= bound && bound < u64::MAX {
        tier += 1;
        bound = bound.saturating_mul(fan_in);
    }
    tier
}

/// Which runs the index set after an indexing holds: `runs`, the
/// novelty as a new run, and the merges of the newest `fan_in` runs while
/// they are of one tier and under the cap.
fn plan(runs: &[Run], novelty: u64, first_tx: u64, last_tx: u64, shape: TreeShape) -> Vec<Planned> {
    let mut planned: Vec<Planned> = runs.iter().map(Planned::kept).collect();
    planned.push(Planned {
        first_tx,
        last_tx,
        datoms: novelty,
        kept: None,
        parts: vec![Part::Novelty],
    });
    let (fan_in, cap) = (shape.fan_in, shape.run_cap as u64);
    while planned.len() >= fan_in {
        let tail = &planned[planned.len() - fan_in..];
        let newest = tier(tail[fan_in - 1].datoms, shape);
        if tail
            .iter()
            .any(|p| p.datoms >= cap || tier(p.datoms, shape) != newest)
        {
            break;
        }
        let merged = Planned {
            first_tx: tail[0].first_tx,
            last_tx: tail[fan_in - 1].last_tx,
            datoms: tail.iter().map(|p| p.datoms).sum(),
            kept: None,
            parts: tail.iter().flat_map(|p| p.parts.clone()).collect(),
        };
        planned.truncate(planned.len() - fan_in);
        planned.push(merged);
    }
    planned
}

/// Writes the index set holding `runs` and the novelty of transactions
/// `first_tx ..= last_tx`, merging runs as [`plan`] says, one index at a
/// time (so at most one merged run of one index is in memory).
async fn index_novelty(
    db: &Database,
    runs: &[Run],
    novelty: &MemIndex,
    first_tx: u64,
    last_tx: u64,
    shape: TreeShape,
) -> Result<(Lagging, Lag, WriteCounts), DbError> {
    let shape = TreeShape {
        format: Format::V2,
        ..shape.sane()
    };
    let planned = plan(runs, novelty.len() as u64, first_tx, last_tx, shape);
    let mut built: Vec<Run> = planned
        .iter()
        .map(|p| {
            p.kept.clone().unwrap_or(Run {
                first_tx: p.first_tx,
                last_tx: p.last_tx,
                datoms: p.datoms,
                roots: IndexRoots::default(),
            })
        })
        .collect();
    let mut counts = WriteCounts::default();
    for index in Index::ALL {
        let mut nodes: Vec<NewNode> = Vec::new();
        for (p, run) in planned.iter().zip(built.iter_mut()) {
            if p.kept.is_some() {
                continue;
            }
            let mut datoms = Vec::new();
            for part in &p.parts {
                match part {
                    Part::Novelty => datoms.extend(novelty.sorted(index)),
                    Part::Stored(roots) => {
                        let tree = Tree::new(db.store().as_ref(), db.id(), index);
                        datoms.extend(tree.read(roots.get(index), &Everything).await?);
                    }
                }
            }
            datoms.sort_by(|x, y| index.cmp(x, y));
            let tree = Tree::new(db.store().as_ref(), db.id(), index).in_format(Format::V2);
            let (root, new) = tree.insert(None, &datoms, shape).await?;
            run.roots.set(index, root);
            nodes.extend(new);
        }
        counts.add(db.write_nodes(nodes).await?);
    }
    let set = IndexSet {
        basis: last_tx,
        runs: built,
    };
    let bytes = model::encode(&Node::IndexSet(set.clone()));
    let set_key = model::index_node_key(&bytes);
    counts.add(db.write_nodes(vec![(set_key.clone(), bytes)]).await?);
    let lag = Lag {
        basis: last_tx,
        set: set_key.clone(),
    };
    let index = Lagging {
        set_key,
        set: Arc::new(set),
        novelty: MemIndex::default(),
    };
    Ok((index, lag, counts))
}

/// The whole of an index.
struct Everything;

impl DatomRange for Everything {
    fn below(&self, _: &Datom) -> bool {
        false
    }

    fn past(&self, _: &Datom) -> bool {
        false
    }
}
