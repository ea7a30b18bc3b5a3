//! The rules the copier enforces on node-level transforms, checked with
//! small native transforms (the same rules apply to WebAssembly plugins,
//! whose own tests are in `plugins.rs`).

use std::sync::Arc;

use eva_admin::db::{Database, DatomQuery, EntityRef, InputValue, TxOp};
use eva_admin::migrate::{
    self, KeyedNode, MigrateError, MigrateOptions, NoObserver, NodeXform, XformFailure,
};
use eva_admin::model::{self, Index, Node};
use eva_admin::store::{MemStore, ValueStore};

const DB: &str = "demo";

/// What a test transform does to each batch.
type Hook = Box<dyn FnMut(Vec<KeyedNode>) -> Result<Vec<KeyedNode>, XformFailure> + Send>;

struct Native {
    name: &'static str,
    read: Option<Hook>,
    write: Option<Hook>,
}

impl NodeXform for Native {
    fn name(&self) -> &str {
        self.name
    }
    fn has_read(&self) -> bool {
        self.read.is_some()
    }
    fn has_write(&self) -> bool {
        self.write.is_some()
    }
    fn read(&mut self, batch: Vec<KeyedNode>) -> Result<Vec<KeyedNode>, XformFailure> {
        self.read.as_mut().map_or(Ok(batch.clone()), |h| h(batch))
    }
    fn write(&mut self, batch: Vec<KeyedNode>) -> Result<Vec<KeyedNode>, XformFailure> {
        self.write.as_mut().map_or(Ok(batch.clone()), |h| h(batch))
    }
    fn finish(&mut self) -> Result<String, XformFailure> {
        Ok(String::new())
    }
}

fn writer(
    name: &'static str,
    hook: impl FnMut(Vec<KeyedNode>) -> Result<Vec<KeyedNode>, XformFailure> + Send + 'static,
) -> Box<dyn NodeXform> {
    Box::new(Native {
        name,
        read: None,
        write: Some(Box::new(hook)),
    })
}

async fn source(txs: usize) -> (Arc<dyn ValueStore>, u64) {
    let store: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
    let db = Database::create(store.clone(), DB).await.unwrap();
    let attr = |name: &str, ty: &str| {
        vec![
            TxOp::Add {
                e: EntityRef::Temp(name.into()),
                a: ":db/ident".into(),
                v: InputValue::Keyword(name.into()),
            },
            TxOp::Add {
                e: EntityRef::Temp(name.into()),
                a: ":db/valueType".into(),
                v: InputValue::Keyword(ty.into()),
            },
        ]
    };
    db.transact_at(
        [
            attr(":p/name", ":db.type/string"),
            attr(":p/secret", ":db.type/string"),
        ]
        .concat(),
        1,
    )
    .await
    .unwrap();
    for i in 0..txs {
        let e = EntityRef::Temp("e".into());
        let ops = vec![
            TxOp::Add {
                e: e.clone(),
                a: ":p/name".into(),
                v: InputValue::String(format!("n{i}")),
            },
            TxOp::Add {
                e,
                a: ":p/secret".into(),
                v: InputValue::String(format!("s{i}")),
            },
        ];
        db.transact_at(ops, 10 + i as i64).await.unwrap();
    }
    let secret = db
        .snapshot()
        .await
        .unwrap()
        .schema()
        .by_ident(":p/secret")
        .unwrap()
        .id;
    (store, secret)
}

async fn run(
    src: Arc<dyn ValueStore>,
    dst: Arc<dyn ValueStore>,
    xforms: &mut [Box<dyn NodeXform>],
) -> Result<migrate::MigrationReport, MigrateError> {
    let options = MigrateOptions {
        batch_size: 16,
        ..MigrateOptions::default()
    };
    migrate::migrate(src, dst, DB, &options, xforms, &mut NoObserver).await
}

fn drop_attribute(
    a: u64,
) -> impl FnMut(Vec<KeyedNode>) -> Result<Vec<KeyedNode>, XformFailure> + Send {
    move |mut batch: Vec<KeyedNode>| {
        for (_, node) in &mut batch {
            match node {
                Node::IndexLeaf(leaf) => leaf.datoms.retain(|d| d.a != a),
                Node::TxLogEntry(entry) => entry.datoms.retain(|d| d.a != a),
                _ => {}
            }
        }
        Ok(batch)
    }
}

fn reader(
    name: &'static str,
    hook: impl FnMut(Vec<KeyedNode>) -> Result<Vec<KeyedNode>, XformFailure> + Send + 'static,
) -> Box<dyn NodeXform> {
    Box::new(Native {
        name,
        read: Some(Box::new(hook)),
        write: None,
    })
}

#[tokio::test]
async fn an_order_preserving_rewrite_removes_exactly_its_datoms_in_either_hook() {
    let (src, secret) = source(300).await;
    for (hook, xform) in [
        ("write", writer("drop-secret", drop_attribute(secret))),
        ("read", reader("drop-secret", drop_attribute(secret))),
    ] {
        let dst: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
        run(src.clone(), dst.clone(), &mut [xform]).await.unwrap();
        let (s, d) = (
            Database::open(src.clone(), DB).await.unwrap(),
            Database::open(dst, DB).await.unwrap(),
        );
        let (s, d) = (s.snapshot().await.unwrap(), d.snapshot().await.unwrap());
        for index in Index::ALL {
            let all = DatomQuery {
                history: true,
                ..DatomQuery::default()
            };
            let mut expected = s.datoms(index, &all).await.unwrap();
            let before = expected.len();
            expected.retain(|x| x.a != secret);
            // VAET holds refs only; the secret is a string.
            assert!(
                index == Index::Vaet || expected.len() < before,
                "{hook} {index:?}: nothing to drop"
            );
            assert_eq!(
                d.datoms(index, &all).await.unwrap(),
                expected,
                "{hook} hook, {index:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_read_xform_may_not_rename_a_node_or_change_a_transaction_number() {
    let (src, _) = source(20).await;
    let rename = |mut batch: Vec<KeyedNode>| {
        for (key, node) in &mut batch {
            if matches!(node, Node::IndexLeaf(_)) {
                key.push_str("-moved");
            }
        }
        Ok(batch)
    };
    let renumber = |mut batch: Vec<KeyedNode>| {
        for (_, node) in &mut batch {
            if let Node::TxLogEntry(entry) = node {
                entry.tx += 1;
            }
        }
        Ok(batch)
    };
    for (xform, rule) in [
        (
            reader("rename", rename),
            "a read-xform may not change keys or invent nodes",
        ),
        (
            reader("renumber", renumber),
            "the transaction number changed",
        ),
    ] {
        let dst: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
        let name = xform.name().to_string();
        let err = run(src.clone(), dst.clone(), &mut [xform])
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, MigrateError::Rejected { .. }), "{text}");
        assert!(text.contains(&name) && text.contains(rule), "{text}");
        assert!(
            dst.get(DB, DB).await.unwrap().is_none(),
            "{name}: database-info not written"
        );
    }
}

/// A rewritten index node is stored under the digest of its new bytes, the
/// old key remapped; a continuing run (after the source grew) finds the
/// earlier remaps in the destination and its parents follow them.
#[tokio::test]
async fn a_rewritten_index_node_is_keyed_by_its_content_and_parents_follow_it() {
    let (src, secret) = source(200).await;
    let dst: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
    let drop = || writer("drop-secret", drop_attribute(secret));
    let report = run(src.clone(), dst.clone(), &mut [drop()]).await.unwrap();
    assert!(report.stats.keys_remapped > 0);
    let expected: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
    run(src.clone(), expected.clone(), &mut [drop()])
        .await
        .unwrap();
    // Every index node of the destination sits at the digest of its bytes.
    let mut after = None;
    let mut index_nodes = 0;
    loop {
        let page = dst.scan(DB, after.as_deref(), 500).await.unwrap();
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        for (key, bytes) in page {
            if let Ok(Node::IndexInner(_) | Node::IndexLeaf(_)) = model::decode(&bytes) {
                index_nodes += 1;
                assert_eq!(key, model::index_node_key(&bytes), "key of its content");
            }
        }
    }
    assert!(index_nodes > 0);
    // A continuing run finds the earlier remaps in the destination.
    let db = Database::open(src.clone(), DB).await.unwrap();
    db.transact_at(
        vec![TxOp::Add {
            e: EntityRef::Temp("x".into()),
            a: ":p/name".into(),
            v: InputValue::String("late".into()),
        }],
        9999,
    )
    .await
    .unwrap();
    run(src.clone(), dst.clone(), &mut [drop()]).await.unwrap();
    run(src.clone(), expected.clone(), &mut [drop()])
        .await
        .unwrap();
    let all = migrate::verify(expected, dst, DB, &Default::default())
        .await
        .unwrap();
    assert!(all.is_equal(), "{:?}", all.differences);
}

/// A write hook may not pick an index node's key: only the key it was
/// given, or the digest of what it returns.
#[tokio::test]
async fn a_key_that_is_not_the_digest_of_the_content_is_refused() {
    let (src, _) = source(50).await;
    let dst: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
    let rename = |mut batch: Vec<KeyedNode>| {
        for (key, node) in &mut batch {
            if matches!(node, Node::IndexLeaf(_)) {
                key.push_str("-moved");
            }
        }
        Ok(batch)
    };
    let err = run(src, dst.clone(), &mut [writer("rename", rename)])
        .await
        .unwrap_err();
    assert!(matches!(err, MigrateError::Rejected { .. }), "{err}");
    assert!(err.to_string().contains("not the digest"), "{err}");
    assert!(dst.get(DB, DB).await.unwrap().is_none());
}

#[tokio::test]
async fn an_unsorted_leaf_is_rejected_and_the_roots_stay_untouched() {
    let (src, _) = source(50).await;
    let dst: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
    let unsort = |mut batch: Vec<KeyedNode>| {
        for (_, node) in &mut batch {
            if let Node::IndexLeaf(leaf) = node
                && leaf.datoms.len() > 1
            {
                leaf.datoms.reverse();
                break;
            }
        }
        Ok(batch)
    };
    let err = run(src, dst.clone(), &mut [writer("unsort", unsort)])
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, MigrateError::Rejected { .. }), "{text}");
    assert!(
        text.contains("unsort") && text.contains("not sorted") && text.contains("rebuild"),
        "{text}"
    );
    assert!(
        dst.get(DB, DB).await.unwrap().is_none(),
        "database-info not written"
    );
}

#[tokio::test]
async fn a_read_xform_may_skip_only_what_the_destination_holds() {
    let (src, _) = source(20).await;
    let dst: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
    let skip_leaves = |batch: Vec<KeyedNode>| {
        Ok(batch
            .into_iter()
            .filter(|(_, n)| !matches!(n, Node::IndexLeaf(_)))
            .collect())
    };
    let err = run(src, dst, &mut [reader("skipper", skip_leaves)])
        .await
        .unwrap_err();
    assert!(
        matches!(err, MigrateError::DanglingReference { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("skipper"));
}

#[tokio::test]
async fn a_failing_transform_stops_the_run_naming_it() {
    let (src, _) = source(20).await;
    let dst: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
    let fail = |batch: Vec<KeyedNode>| {
        Err(XformFailure {
            key: batch.first().map(|(k, _)| k.clone()),
            reason: "guest trapped".into(),
        })
    };
    let err = run(src.clone(), dst.clone(), &mut [writer("boom", fail)])
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("boom") && err.to_string().contains("guest trapped"),
        "{err}"
    );
    // A later run without the transform is refused: the destination was
    // written through `boom` (its nodes would be mixed in) ...
    let err = run(src.clone(), dst.clone(), &mut []).await.unwrap_err();
    assert!(matches!(err, MigrateError::ChainChanged { .. }), "{err}");
    // ... and a fresh destination takes it.
    let fresh: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
    run(src.clone(), fresh.clone(), &mut []).await.unwrap();
    assert!(
        migrate::verify(src, fresh, DB, &Default::default())
            .await
            .unwrap()
            .is_equal()
    );
}

/// A read hook that points a node at a key the source lacks is named as
/// the cause, not reported as damage in the source.
#[tokio::test]
async fn a_read_hook_pointing_at_a_missing_node_is_named() {
    let (src, _) = source(50).await;
    let dst: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
    let mut done = false;
    let point_away = move |mut batch: Vec<KeyedNode>| {
        for (_, node) in &mut batch {
            if let Node::IndexInner(inner) = node
                && !done
            {
                inner.children[0] = "no-such-node".into();
                done = true;
            }
        }
        Ok(batch)
    };
    let err = run(src, dst.clone(), &mut [reader("pointer", point_away)])
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, MigrateError::Rejected { .. }), "{text}");
    assert!(
        text.contains("pointer") && text.contains("no-such-node") && !text.starts_with("source"),
        "{text}"
    );
    assert!(dst.get(DB, DB).await.unwrap().is_none());
}

/// A transform that rewrites early entries and then stops (here: drops an
/// attribute from the first batches only) leaves later entries that keep
/// datoms the earlier ones lost: refused, even though the later entries'
/// nodes are exactly the source's.
#[tokio::test]
async fn a_rewrite_that_stops_half_way_is_refused() {
    let (src, secret) = source(200).await;
    let dst: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
    let mut drop = drop_attribute(secret);
    let mut batches = 0;
    let fickle = move |batch: Vec<KeyedNode>| {
        batches += 1;
        if batches <= 3 { drop(batch) } else { Ok(batch) }
    };
    let options = MigrateOptions {
        batch_size: 16,
        log_every: 5,
        checkpoint_interval: std::time::Duration::ZERO,
        ..MigrateOptions::default()
    };
    let err = migrate::migrate(
        src,
        dst.clone(),
        DB,
        &options,
        &mut [writer("fickle", fickle)],
        &mut NoObserver,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, MigrateError::Inconsistent { .. }), "{err}");
    assert!(err.to_string().contains("fickle"), "{err}");
    assert!(dst.get(DB, DB).await.unwrap().is_none());
}

/// A rewrite of more nodes than the copier remembers remaps for (the cache
/// turns its generations many times within the run, also in the middle of
/// a batch): every parent still follows its children's new keys.
#[tokio::test]
async fn a_rewrite_past_the_remap_cache_keeps_every_reference() {
    let (src, secret) = source(300).await;
    let options = MigrateOptions {
        batch_size: 64,
        cache_keys: 64,
        ..MigrateOptions::default()
    };
    let drop = || writer("drop-secret", drop_attribute(secret));
    let mut results = Vec::new();
    for _ in 0..2 {
        let dst: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
        let report = migrate::migrate(
            src.clone(),
            dst.clone(),
            DB,
            &options,
            &mut [drop()],
            &mut NoObserver,
        )
        .await
        .unwrap();
        assert!(report.stats.keys_remapped > 64, "{:?}", report.stats);
        results.push(dst);
    }
    let all = migrate::verify(
        results[0].clone(),
        results[1].clone(),
        DB,
        &Default::default(),
    )
    .await
    .unwrap();
    assert!(all.is_equal(), "{:?}", all.differences);
}
