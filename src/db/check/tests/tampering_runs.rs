//! Damage to format 2's index (its entries' lags, index sets and runs) is
//! caught at the entry it was made in, under R1 or R2.

use std::sync::Arc;

use crate::db::TreeShape;
use crate::model::{IndexSet, Node, Run};
use crate::store::ValueStore;

use super::super::Rule;
use super::tamper::Tamper;
use super::{ID, SMALL_V2, at, check_all, mem, mixed_db};

/// A format 2 database of `shape`, opened for tampering.
async fn setup(shape: TreeShape) -> (Arc<dyn ValueStore>, Tamper) {
    let store = mem();
    mixed_db(store.clone(), shape, 50, 6).await;
    let t = Tamper::open(store.clone(), ID).await;
    (store, t)
}

async fn set_of(t: &Tamper, k: u64) -> IndexSet {
    let lag = t.entry(k).await.lag.expect("a format 2 entry");
    match t.node(&lag.set).await {
        Node::IndexSet(set) => set,
        other => panic!("{other:?}"),
    }
}

/// The one entry whose check finds problems, and their rules.
async fn problems(store: Arc<dyn ValueStore>) -> (u64, Vec<Rule>) {
    let report = check_all(store).await;
    let entries: Vec<u64> = report.problems.iter().map(|p| p.entry).collect();
    let first = *entries.first().expect("the damage is found");
    assert!(
        entries.iter().all(|&e| e == first),
        "{:#?}",
        report.problems
    );
    let rules = at(&report, first).iter().map(|p| p.code).collect();
    (first, rules)
}

/// An entry between two indexings that names another index set than the
/// entry before it: R1 at that entry.
#[tokio::test]
async fn an_entry_naming_another_index_set_is_caught() {
    let (store, t) = setup(SMALL_V2).await;
    let count = t.db.head().await.unwrap().count;
    let k = (1..count)
        .rev()
        .find(|&k| {
            let lag = futures::executor::block_on(t.entry(k)).lag.unwrap();
            lag.basis < k && lag.basis > 0
        })
        .expect("a lagging entry");
    let mut entry = t.entry(k).await;
    let other = t.entry(0).await.lag.unwrap();
    entry.lag = Some(other);
    t.set_entry(k, &entry).await;
    let (found, rules) = problems(store).await;
    assert!(found == k || found == k + 1, "{found} for {k}");
    assert!(rules.contains(&Rule::R1), "{rules:?}");
}

/// A run whose tree of one index is another run's: the datoms it holds
/// are not its transactions', R2 at the entry that names it.
#[tokio::test]
async fn a_run_holding_other_datoms_is_caught() {
    let every = TreeShape {
        novelty_threshold: 1,
        ..SMALL_V2
    };
    let (store, t) = setup(every).await;
    let count = t.db.head().await.unwrap().count;
    let k = (2..count)
        .find(|&k| {
            let set = futures::executor::block_on(set_of(&t, k));
            set.runs.len() >= 2
        })
        .expect("an index set of two runs");
    let mut set = set_of(&t, k).await;
    let swapped: Vec<Run> = set.runs.iter().rev().cloned().collect();
    set.runs[0].roots.eavt = swapped[0].roots.eavt.clone();
    let forged = t.put(&Node::IndexSet(set)).await;
    let mut entry = t.entry(k).await;
    entry.lag.as_mut().unwrap().set = forged;
    t.set_entry(k, &entry).await;
    let (found, rules) = problems(store).await;
    assert_eq!(found, k);
    assert!(rules.iter().all(|&r| r == Rule::R2), "{rules:?}");
}

/// An index set whose runs leave a transaction out: R1.
#[tokio::test]
async fn runs_that_leave_a_gap_are_caught() {
    let every = TreeShape {
        novelty_threshold: 1,
        ..SMALL_V2
    };
    let (store, t) = setup(every).await;
    let k = 30;
    let mut set = set_of(&t, k).await;
    let last = set.runs.last_mut().unwrap();
    last.first_tx += 1;
    let forged = t.put(&Node::IndexSet(set)).await;
    let mut entry = t.entry(k).await;
    entry.lag.as_mut().unwrap().set = forged;
    t.set_entry(k, &entry).await;
    let (found, rules) = problems(store).await;
    assert_eq!((found, rules), (k, vec![Rule::R1]));
}
