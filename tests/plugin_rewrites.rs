//! Rewrites a hostile plugin may try that look fine node by node but would
//! change what readers of the destination see, keys it may try to write
//! at, and a failed run followed by a run through another chain: each is
//! refused naming the plugin, and the destination's roots stay untouched.
//! Real compiled guests (`plugins/rust/hostile`), real stores.

mod common;

use std::sync::Arc;

use eva_admin::db::Database;
use eva_admin::migrate::{self, MigrateError, VerifyOptions};
use eva_admin::store::{self, MemStore, ValueStore};

use common::plugin_fixtures::{DB, load, load_with, options, run, source};
use eva_admin::plugin::PluginOptions;

/// The destination holds no root of the database: no database-info, no head.
async fn roots_untouched(src: &Arc<dyn ValueStore>, dst: &Arc<dyn ValueStore>, what: &str) {
    let info = Database::open(src.clone(), DB)
        .await
        .unwrap()
        .info()
        .clone();
    assert!(
        dst.get(DB, DB).await.unwrap().is_none(),
        "{what}: database-info untouched"
    );
    assert!(
        dst.get(DB, &info.tx_log).await.unwrap().is_none(),
        "{what}: tx-log head untouched"
    );
}

/// Each mode rewrites one node so that it still looks like a node of its
/// kind, but the database it belongs to no longer reads as its log says.
#[tokio::test(flavor = "multi_thread")]
async fn rewrites_that_change_what_readers_see_are_refused() {
    let (src, idents) = source(60).await;
    // Room for the guest to build a leaf of a million datoms.
    let roomy = PluginOptions {
        memory_bytes: 1 << 30,
        timeout: std::time::Duration::from_secs(30),
        ..options()
    };
    for mode in [
        "changed-value",
        "attr-retarget",
        "tx-change",
        "entity-change",
        "invent",
        "swap-children",
        "cross-index",
        "roots-swap",
        "roots-drop",
        "huge-leaf",
    ] {
        let dst: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
        let mut xforms = load_with("hostile", &[("mode", mode)], &idents, &roomy);
        let err = run(&src, &dst, &mut xforms).await.unwrap_err();
        let text = err.to_string();
        println!("{mode}: {text}");
        assert!(text.contains("hostile"), "{mode}: {text}");
        assert!(
            matches!(
                err,
                MigrateError::Rejected { .. } | MigrateError::Inconsistent { .. }
            ),
            "{mode}: {text}"
        );
        roots_untouched(&src, &dst, mode).await;
    }
}

/// A write hook cannot place a node at the database-info key, the head key,
/// the next tx-log entry's key, an empty key or a 100 MiB key: an index
/// node's key is the digest of its content.
#[tokio::test(flavor = "multi_thread")]
async fn a_write_hook_cannot_choose_where_a_node_is_written() {
    let (src, idents) = source(30).await;
    let info = Database::open(src.clone(), DB)
        .await
        .unwrap()
        .info()
        .clone();
    let next_entry = format!("{}.{}", info.tx_log, 30);
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("database-info", vec![("mode", "key-at"), ("target", DB)]),
        (
            "head",
            vec![("mode", "key-at"), ("target", info.tx_log.as_str())],
        ),
        (
            "next entry",
            vec![("mode", "key-at"), ("target", next_entry.as_str())],
        ),
        ("rename", vec![("mode", "rename-key")]),
        ("empty", vec![("mode", "key-empty")]),
        ("100 MiB", vec![("mode", "key-huge")]),
    ];
    // Room for the guest to build a 100 MiB key.
    let roomy = PluginOptions {
        memory_bytes: 512 << 20,
        ..options()
    };
    for (what, config) in cases {
        let dst: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
        let mut xforms = load_with("hostile", &config, &idents, &roomy);
        let err = run(&src, &dst, &mut xforms).await.unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, MigrateError::Rejected { .. }),
            "{what}: {text}"
        );
        assert!(
            text.contains("plugin `hostile`") && text.contains("not the digest of its content"),
            "{what}: {text}"
        );
        assert!(text.len() < 2000, "{what}: the message is bounded");
        roots_untouched(&src, &dst, what).await;
        // Nothing was written at the key the hook asked for.
        if let Some((_, target)) = config.iter().find(|(k, _)| *k == "target") {
            assert!(
                dst.get(DB, target).await.unwrap().is_none(),
                "{what}: nothing at `{target}`"
            );
        }
        // A plain run into the same destination is refused, not mixed.
        let err = run(&src, &dst, &mut []).await.unwrap_err();
        assert!(
            matches!(err, MigrateError::ChainChanged { .. }),
            "{what}: {err}"
        );
    }
}

/// A failed run's nodes are never mixed with another chain's: the status
/// record names the chain from the start, and a later run through another
/// chain (here: none) is refused, saying how to start over. The same chain
/// resumes.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_run_is_not_mixed_with_a_run_through_another_chain() {
    let (src, idents) = source(200).await;
    let dir = tempfile::tempdir().unwrap();
    for hook in ["fail-after", "read-fail-after"] {
        let path = dir.path().join(format!("{hook}.db"));
        let dst = store::open(&format!("sqlite:{}", path.display()))
            .await
            .unwrap();
        let mut xforms = load("hostile", &[("mode", hook), ("after", "5")], &idents);
        let err = run(&src, &dst, &mut xforms).await.unwrap_err();
        assert!(
            err.to_string().contains("plugin `hostile`"),
            "{hook}: {err}"
        );
        roots_untouched(&src, &dst, hook).await;

        let err = run(&src, &dst, &mut []).await.unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, MigrateError::ChainChanged { .. }),
            "{hook}: {text}"
        );
        assert!(
            text.contains("hostile")
                && text.contains("no plugin")
                && text.contains("fresh destination"),
            "{hook}: {text}"
        );
        roots_untouched(&src, &dst, hook).await;

        // Starting over in a fresh destination gives the source back.
        let fresh: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
        run(&src, &fresh, &mut []).await.unwrap();
        let report = migrate::verify(src.clone(), fresh, DB, &VerifyOptions::default())
            .await
            .unwrap();
        assert!(report.is_equal(), "{hook}: {:?}", report.differences);
    }
}

/// A read hook that points a node at a key the source lacks is named as the
/// cause — not reported as damage in the source.
#[tokio::test(flavor = "multi_thread")]
async fn a_read_hook_pointing_at_a_missing_node_is_named() {
    let (src, idents) = source(30).await;
    let dst: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
    let mut xforms = load("hostile", &[("mode", "read-dangling")], &idents);
    let err = run(&src, &dst, &mut xforms).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, MigrateError::Rejected { .. }), "{text}");
    assert!(
        text.contains("plugin `hostile`") && text.contains("no-such-node"),
        "{text}"
    );
    assert!(!text.starts_with("source"), "{text}");
    roots_untouched(&src, &dst, "read-dangling").await;
}
