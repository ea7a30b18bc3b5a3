//! What checking costs: the nodes read follow the nodes the checked entries
//! created, not the database's size.

use std::collections::HashSet;
use std::time::Instant;

use crate::db::generate::{GenerateOptions, generate};
use crate::db::{Database, TreeShape};
use crate::model::{Index, Node};

use super::super::{CheckOptions, CheckStats, Checker, check_database};
use super::tamper::Tamper;
use super::{ID, mem, mixed_db};

/// Every index node reachable from entry `k`'s roots.
async fn reachable(t: &Tamper, k: u64) -> HashSet<String> {
    let mut seen = HashSet::new();
    let mut stack: Vec<String> = t.entry(k).await.roots.keys().map(str::to_string).collect();
    while let Some(key) = stack.pop() {
        if !seen.insert(key.clone()) {
            continue;
        }
        if let Node::IndexInner(inner) = t.node(&key).await {
            stack.extend(inner.children);
        }
    }
    seen
}

/// Levels of entry `k`'s EAVT tree, leaves included.
async fn depth(t: &Tamper, k: u64) -> u64 {
    let path = t
        .path(k, Index::Eavt, |n| matches!(n, Node::IndexLeaf(_)))
        .await;
    path.len() as u64
}

fn delta(after: &CheckStats, before: &CheckStats) -> u64 {
    after.nodes_read - before.nodes_read
}

/// Nodes created by entries `k..k + 10`, and the depth of the trees after.
async fn created(t: &Tamper, k: u64) -> (u64, u64) {
    let mut created = 0;
    let mut before = reachable(t, k - 1).await;
    for j in k..k + 10 {
        let now = reachable(t, j).await;
        created += now.difference(&before).count() as u64;
        before = now;
    }
    (created, depth(t, k + 10).await)
}

/// Nodes read checking entries `k..k + 10`, by a checker that has been
/// running since `k - 5` (warm) and by one started at `k` (cold).
async fn reads(t: &Tamper, k: u64) -> (u64, u64) {
    let tx_log = t.db.info().tx_log.clone();
    let options = CheckOptions::default();
    let mut warm = Checker::starting_at(t.store.clone(), ID, &tx_log, k - 5, options)
        .await
        .unwrap();
    for j in k - 5..k {
        assert_eq!(warm.check_entry(j).await.unwrap(), vec![]);
    }
    let start = *warm.stats();
    let mut cold = Checker::starting_at(t.store.clone(), ID, &tx_log, k, options)
        .await
        .unwrap();
    for j in k..k + 10 {
        assert_eq!(warm.check_entry(j).await.unwrap(), vec![]);
        assert_eq!(cold.check_entry(j).await.unwrap(), vec![]);
    }
    (delta(warm.stats(), &start), cold.stats().nodes_read)
}

#[tokio::test]
async fn checking_ten_entries_reads_what_they_created() {
    let shape = TreeShape::format1(8, 4);
    let store = mem();
    let db = mixed_db(store.clone(), shape, 500, 9).await;
    let count = db.head().await.unwrap().count;
    let t = Tamper::open(store, ID).await;
    let total = reachable(&t, count - 1).await.len() as u64;
    for k in [100, 400] {
        let (created, levels) = created(&t, k).await;
        let (warm, cold) = reads(&t, k).await;
        println!(
            "entries {k}..{}: created {created} nodes, {levels} levels, database {total} nodes; read warm {warm}, cold {cold}",
            k + 10
        );
        // The paths the entries changed, on both sides, and the siblings'
        // summaries; the old side's nodes were read as new one entry earlier.
        assert!(
            warm <= 3 * created + 4 * levels,
            "warm {warm}, created {created}"
        );
        // Cold, the old side's paths and the siblings' summaries are read
        // once more.
        let fanout = shape.inner_capacity as u64;
        assert!(
            cold <= 3 * created + 4 * levels * fanout,
            "cold {cold}, created {created}"
        );
    }
}

/// `cargo test` this by name with `--ignored` to time checking every entry
/// of a 1,000-transaction `db generate` database (default shape, 10
/// statements a transaction).
#[tokio::test]
#[ignore]
async fn time_checking_a_generated_database() {
    let store = mem();
    let db = Database::create_with(store.clone(), ID, 0, TreeShape::default())
        .await
        .unwrap();
    let opts = GenerateOptions {
        txs: 1000,
        datoms_per_tx: 10,
        seed: 1,
    };
    generate(&db, &opts, |_| {}).await.unwrap();
    let started = Instant::now();
    let report = check_database(store, ID, None, CheckOptions::default())
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(report.is_consistent(), "{:?}", report.problems);
    let s = report.stats;
    println!(
        "{} entries in {took:?} ({:?} an entry); nodes read {} ({:.1} an entry), checked {} ({:.1} an entry), old expanded {}, batches {}, cache hits {}, summary edges {} (+{} cached)",
        report.entries_checked,
        took / report.entries_checked as u32,
        s.nodes_read,
        s.nodes_read as f64 / report.entries_checked as f64,
        s.nodes_checked,
        s.nodes_checked as f64 / report.entries_checked as f64,
        s.old_nodes_expanded,
        s.read_batches,
        s.node_cache_hits,
        s.edges_computed,
        s.edge_cache_hits,
    );
}
