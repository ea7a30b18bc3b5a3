//! The format 2 novelty a reader or writer holds in memory: the datoms of
//! the entries after the index set's basis, in each index's order. Each
//! index is a few sorted chunks, merged two by two as they grow (the
//! last chunk is never more than half the one before it), so adding a
//! transaction costs O(log n) a datom and a lookup a binary search a
//! chunk. Chunks are shared (`Arc`), so a snapshot's copy is cheap.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::model::{Datom, Index};

use super::tree::DatomRange;

/// The unindexed datoms, by index. See the module documentation.
#[derive(Clone, Default)]
pub(crate) struct MemIndex {
    chunks: [Vec<Arc<Vec<Datom>>>; 4],
    datoms: usize,
}

impl MemIndex {
    /// How many datoms it holds (each once, whatever the indexes).
    pub(crate) fn len(&self) -> usize {
        self.datoms
    }

    /// Adds one transaction's datoms.
    pub(crate) fn add(&mut self, datoms: &[Datom]) {
        self.datoms += datoms.len();
        for (i, index) in Index::ALL.into_iter().enumerate() {
            let mut held: Vec<Datom> = datoms.iter().filter(|d| index.holds(d)).cloned().collect();
            if held.is_empty() {
                continue;
            }
            held.sort_by(|x, y| index.cmp(x, y));
            let chunks = &mut self.chunks[i];
            chunks.push(Arc::new(held));
            while let [.., older, newer] = chunks.as_slice()
                && older.len() <= 2 * newer.len()
            {
                let merged = merge_sorted(index, older, newer);
                chunks.truncate(chunks.len() - 2);
                chunks.push(Arc::new(merged));
            }
        }
    }

    /// The datoms of `index` inside `range`, in index order.
    pub(crate) fn read(&self, index: Index, range: &dyn DatomRange) -> Vec<Datom> {
        let mut out = Vec::new();
        for chunk in &self.chunks[index_slot(index)] {
            let start = chunk.partition_point(|d| range.below(d));
            out.extend(
                chunk[start..]
                    .iter()
                    .take_while(|d| !range.past(d))
                    .cloned(),
            );
        }
        out.sort_by(|x, y| index.cmp(x, y));
        out
    }

    /// Every datom of `index`, sorted: what an indexing writes as a run.
    pub(crate) fn sorted(&self, index: Index) -> Vec<Datom> {
        let mut out: Vec<Datom> = self.chunks[index_slot(index)]
            .iter()
            .flat_map(|c| c.iter().cloned())
            .collect();
        out.sort_by(|x, y| index.cmp(x, y));
        out
    }
}

fn index_slot(index: Index) -> usize {
    Index::ALL.iter().position(|&i| i == index).unwrap_or(0)
}

/// Two sorted lists merged into one, in `index`'s order.
pub(crate) fn merge_sorted(index: Index, a: &[Datom], b: &[Datom]) -> Vec<Datom> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
        if index.cmp(x, y) == Ordering::Greater {
            out.push(y.clone());
            j += 1;
        } else {
            out.push(x.clone());
            i += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}
