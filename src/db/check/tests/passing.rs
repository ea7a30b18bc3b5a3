//! Every database our writers make passes, entry by entry from 0.

use std::sync::Arc;

use crate::db::generate::{GenerateOptions, generate_shaped};
use crate::db::{Database, DbError, Replayer, TreeShape};
use crate::model::{Index, Node, TxLogHead, encode_at};
use crate::store::ValueStore;

use super::super::{CheckOptions, Checker};
use super::tamper::{Tamper, inner};
use super::{ID, SMALL, SMALL_V2, check_all, mem, mixed_db};
use crate::db::replay::tests::as_replay;

/// Levels above the leaves of entry `k`'s tree of `index`.
async fn height(t: &Tamper, k: u64, index: Index) -> usize {
    let path = t.path(k, index, |n| inner(n).is_none()).await;
    path.len() - 1
}

#[tokio::test]
async fn every_entry_of_deep_mixed_databases_passes() {
    for seed in 1..=3 {
        let store = mem();
        let db = mixed_db(store.clone(), SMALL, 60, seed).await;
        let count = db.head().await.unwrap().count;
        let t = Tamper::open(store.clone(), ID).await;
        assert!(
            height(&t, count - 1, Index::Eavt).await >= 4,
            "trees are deep"
        );
        assert!(
            height(&t, count - 1, Index::Vaet).await >= 2,
            "refs reach VAET"
        );
        let report = check_all(store).await;
        assert_eq!(report.problems, vec![], "seed {seed}");
        assert_eq!(report.entries_checked, count);
        assert!(report.stats.nodes_checked > count, "{:?}", report.stats);
        assert!(report.stats.subtrees_shared > 0, "{:?}", report.stats);
    }
}

#[tokio::test]
async fn generated_databases_pass_in_small_and_default_shapes() {
    let cases = [
        (SMALL, 40, 6),
        (TreeShape::default(), 120, 30),
        (SMALL_V2, 60, 6),
        (TreeShape::format2(), 120, 30),
    ];
    for (shape, txs, per_tx) in cases {
        let store = mem();
        let db = Database::create_with(store.clone(), ID, 0, shape)
            .await
            .unwrap();
        let opts = GenerateOptions {
            txs,
            datoms_per_tx: per_tx,
            seed: 7,
        };
        generate_shaped(&db, &opts, shape, |_| {}).await.unwrap();
        let report = check_all(store).await;
        assert_eq!(report.problems, vec![], "{shape:?}");
        assert_eq!(report.entries_checked, txs + 2);
    }
}

#[tokio::test]
async fn mixed_format_2_databases_pass() {
    for seed in 1..=3 {
        let store = mem();
        let db = mixed_db(store.clone(), SMALL_V2, 60, seed).await;
        let count = db.head().await.unwrap().count;
        let report = check_all(store).await;
        assert_eq!(report.problems, vec![], "seed {seed}");
        assert_eq!(report.entries_checked, count);
        assert!(report.stats.nodes_checked > count, "{:?}", report.stats);
    }
}

#[tokio::test]
async fn replayed_databases_pass() {
    for shape in [SMALL, SMALL_V2] {
        replayed_database_passes(shape).await;
    }
}

async fn replayed_database_passes(shape: TreeShape) {
    let source = mixed_db(mem(), SMALL, 27, 5).await;
    let count = source.head().await.unwrap().count;
    let store: Arc<dyn ValueStore> = mem();
    let info = source.info().clone();
    let instant = source.entry(0).await.unwrap().instant;
    let (mut replayer, _) = Replayer::bootstrap(store.clone(), info.clone(), instant, shape)
        .await
        .unwrap();
    for t in 1..count {
        replayer.apply(as_replay(&source, t).await).await.unwrap();
    }
    let head = Node::TxLogHead(TxLogHead { count });
    store
        .create(ID, &info.tx_log, &encode_at(&info.tx_log, &head))
        .await
        .unwrap();
    let info = Node::DatabaseInfo(info);
    store.create(ID, ID, &encode_at(ID, &info)).await.unwrap();
    let report = check_all(store).await;
    assert_eq!(report.problems, vec![]);
    assert_eq!(report.entries_checked, count);
}

#[tokio::test]
async fn checking_can_start_at_any_entry_and_goes_in_order() {
    for shape in [SMALL, SMALL_V2] {
        checking_starts_anywhere(shape).await;
    }
}

async fn checking_starts_anywhere(shape: TreeShape) {
    let store = mem();
    let db = mixed_db(store.clone(), shape, 40, 2).await;
    let count = db.head().await.unwrap().count;
    let tx_log = db.info().tx_log.clone();
    let mut checker = Checker::starting_at(store.clone(), ID, &tx_log, 25, CheckOptions::default())
        .await
        .unwrap();
    assert!(matches!(
        checker.check_entry(26).await,
        Err(DbError::CheckOrder {
            expected: 25,
            asked: 26
        })
    ));
    for k in 25..count {
        assert_eq!(checker.check_entry(k).await.unwrap(), vec![], "entry {k}");
    }
    assert_eq!(checker.stats().entries_checked, count - 25);
    // Tiny caches cost reads, not correctness.
    let tiny = CheckOptions {
        node_cache: 1,
        summary_cache: 1,
        max_problems: 5,
    };
    let report = super::super::check_database(store, ID, Some(3..count), tiny)
        .await
        .unwrap();
    assert!(report.is_consistent(), "{:?}", report.problems);
    assert_eq!(report.entries, 3..count);
}
