//! The principle behind every rule on node-level rewrites, as a property:
//! a random rewrite of a random node is either refused, or the destination,
//! read as a database, is exactly what the transform declared — every
//! index, with history, as of every transaction, holds exactly the datoms
//! of the destination's own tx-log up to it. Never accepted and different.

mod common;

use std::cmp::Ordering;
use std::sync::Arc;

use proptest::prelude::*;

use common::plugin_fixtures::{DB, source_seeded};

use eva_admin::db::{Database, DatomQuery};
use eva_admin::migrate::{
    self, KeyedNode, MigrateError, MigrateOptions, NoObserver, NodeXform, XformFailure,
};
use eva_admin::model::{Datom, Index, Node, Value};
use eva_admin::store::{MemStore, ValueStore};

/// The rewrites tried; each is applied once, to the `target`-th node it
/// applies to.
#[derive(Debug, Clone, Copy)]
enum Rewrite {
    /// A leaf datom's value changed (same type).
    Value,
    /// A leaf datom removed.
    DropFromLeaf,
    /// A datom added to a leaf, after its last one.
    Invent,
    /// A leaf datom's entity moved by one.
    Entity,
    /// A leaf datom's transaction moved by one.
    Tx,
    /// A leaf datom's attribute changed to the next attribute id.
    Attribute,
    /// Two children of an inner node swapped.
    SwapChildren,
    /// An inner node's separator raised past its child's first datom.
    Separator,
    /// A datom removed from an entry's novelty.
    DropFromEntry,
    /// An entry's instant moved.
    Instant,
    /// Two roots of an entry swapped.
    SwapRoots,
    /// An entry's user entity counter lowered.
    Counter,
    /// Nothing: the node re-encoded as it is (must be accepted).
    Nothing,
}

const REWRITES: [Rewrite; 13] = [
    Rewrite::Value,
    Rewrite::DropFromLeaf,
    Rewrite::Invent,
    Rewrite::Entity,
    Rewrite::Tx,
    Rewrite::Attribute,
    Rewrite::SwapChildren,
    Rewrite::Separator,
    Rewrite::DropFromEntry,
    Rewrite::Instant,
    Rewrite::SwapRoots,
    Rewrite::Counter,
    Rewrite::Nothing,
];

/// A write hook that rewrites one node.
struct Rewriter {
    rewrite: Rewrite,
    target: usize,
    seen: usize,
    done: bool,
}

impl Rewriter {
    /// Applies the rewrite to `node` if it is of a kind it applies to;
    /// true when it did (or would have, for `Nothing`).
    fn apply(&self, node: &mut Node) -> bool {
        let bump = |v: &mut Value| {
            let bumped = match &*v {
                Value::Long(n) => Value::Long(n.wrapping_add(1)),
                Value::String(s) => Value::String(format!("{s}~")),
                Value::Ref(r) => Value::Ref(*r + 1),
                Value::Boolean(b) => Value::Boolean(!*b),
                Value::Double(x) => Value::Double(x + 1.0),
                Value::Instant(t) => Value::Instant(t + 1),
                Value::Keyword(k) => Value::Keyword(format!("{k}x")),
                other => other.clone(),
            };
            *v = bumped;
        };
        match (self.rewrite, node) {
            (Rewrite::Value, Node::IndexLeaf(l)) if !l.datoms.is_empty() => {
                let i = l.datoms.len() / 2;
                bump(&mut l.datoms[i].v);
                true
            }
            (Rewrite::DropFromLeaf, Node::IndexLeaf(l)) if !l.datoms.is_empty() => {
                l.datoms.remove(l.datoms.len() / 2);
                true
            }
            (Rewrite::Invent, Node::IndexLeaf(l)) if !l.datoms.is_empty() => {
                let mut d = l.datoms[l.datoms.len() - 1].clone();
                d.tx += 1;
                l.datoms.push(d);
                true
            }
            (Rewrite::Entity, Node::IndexLeaf(l)) if !l.datoms.is_empty() => {
                let i = l.datoms.len() / 2;
                l.datoms[i].e += 1;
                true
            }
            (Rewrite::Tx, Node::IndexLeaf(l)) if !l.datoms.is_empty() => {
                let i = l.datoms.len() / 2;
                l.datoms[i].tx += 1;
                true
            }
            (Rewrite::Attribute, Node::IndexLeaf(l)) if !l.datoms.is_empty() => {
                let i = l.datoms.len() / 2;
                l.datoms[i].a += 1;
                true
            }
            (Rewrite::SwapChildren, Node::IndexInner(n)) if n.children.len() >= 2 => {
                n.children.swap(0, 1);
                true
            }
            (Rewrite::Separator, Node::IndexInner(n)) if !n.separators.is_empty() => {
                n.separators[0].tx += 1;
                true
            }
            (Rewrite::DropFromEntry, Node::TxLogEntry(e)) if !e.datoms.is_empty() => {
                e.datoms.pop();
                true
            }
            (Rewrite::Instant, Node::TxLogEntry(e)) => {
                e.instant += 1;
                true
            }
            (Rewrite::SwapRoots, Node::TxLogEntry(e)) if e.roots.eavt.is_some() => {
                std::mem::swap(&mut e.roots.eavt, &mut e.roots.avet);
                true
            }
            (Rewrite::Counter, Node::TxLogEntry(e)) if e.next_entity[2] > 0 => {
                e.next_entity[2] -= 1;
                true
            }
            (Rewrite::Nothing, Node::IndexLeaf(_) | Node::IndexInner(_) | Node::TxLogEntry(_)) => {
                true
            }
            _ => false,
        }
    }
}

impl NodeXform for Rewriter {
    fn name(&self) -> &str {
        "random-rewrite"
    }
    fn has_read(&self) -> bool {
        false
    }
    fn has_write(&self) -> bool {
        true
    }
    fn read(&mut self, batch: Vec<KeyedNode>) -> Result<Vec<KeyedNode>, XformFailure> {
        Ok(batch)
    }
    fn write(&mut self, mut batch: Vec<KeyedNode>) -> Result<Vec<KeyedNode>, XformFailure> {
        for (_, node) in &mut batch {
            if self.done {
                break;
            }
            let mut candidate = node.clone();
            if self.apply(&mut candidate) {
                if self.seen == self.target {
                    *node = candidate;
                    self.done = true;
                }
                self.seen += 1;
            }
        }
        Ok(batch)
    }
    fn finish(&mut self) -> Result<String, XformFailure> {
        Ok(String::new())
    }
}

/// Every index's history as of every transaction equals the datoms of the
/// destination's own log up to it (the naive model).
async fn reads_as_its_log(dst: Arc<dyn ValueStore>) -> Result<(), String> {
    let db = Database::open(dst, DB).await.map_err(|e| e.to_string())?;
    let count = db.head().await.map_err(|e| e.to_string())?.count;
    let mut log: Vec<Datom> = Vec::new();
    let all = DatomQuery {
        history: true,
        ..DatomQuery::default()
    };
    for tx in 0..count {
        log.extend(db.entry(tx).await.map_err(|e| e.to_string())?.datoms);
        let view = db.as_of(tx).await.map_err(|e| e.to_string())?;
        for index in Index::ALL {
            let mut expected: Vec<Datom> = log.iter().filter(|d| index.holds(d)).cloned().collect();
            expected.sort_by(|x, y| index.cmp(x, y));
            expected.dedup_by(|x, y| index.cmp(x, y) == Ordering::Equal);
            let found = view.datoms(index, &all).await.map_err(|e| e.to_string())?;
            if found != expected {
                return Err(format!(
                    "{} as of {tx}: {} datoms read, {} in the log",
                    index.name(),
                    found.len(),
                    expected.len()
                ));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn a_random_rewrite_is_refused_or_reads_as_declared(
        which in 0..REWRITES.len(),
        target in 0usize..25,
        seed in 0u64..4,
    ) {
        let rewrite = REWRITES[which];
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let outcome: Result<(), String> = runtime.block_on(async move {
            let (src, _) = source_seeded(25, seed).await;
            let dst: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
            let mut xforms: Vec<Box<dyn NodeXform>> = vec![Box::new(Rewriter {
                rewrite,
                target,
                seen: 0,
                done: false,
            })];
            let options = MigrateOptions { batch_size: 32, ..MigrateOptions::default() };
            let result =
                migrate::migrate(src, dst.clone(), DB, &options, &mut xforms, &mut NoObserver).await;
            match result {
                Ok(_) => reads_as_its_log(dst).await,
                Err(MigrateError::Rejected { plugin, .. } | MigrateError::Inconsistent { plugins: plugin, .. }) => {
                    if plugin != "random-rewrite" {
                        return Err(format!("refused, but naming `{plugin}`"));
                    }
                    match dst.get(DB, DB).await {
                        Ok(None) => Ok(()),
                        _ => Err("refused, but database-info was written".to_string()),
                    }
                }
                Err(other) => Err(format!("failed otherwise: {other}")),
            }
        });
        prop_assert!(outcome.is_ok(), "{:?} of node {}: {:?}", rewrite, target, outcome);
    }
}
