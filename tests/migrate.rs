//! The stateful migration, specified by its properties (docs/design.md §5,
//! docs/migration.md). Every scenario ends in `verify`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use eva_admin::db::{Database, EntityRef, InputValue, TreeShape, TxOp};
use eva_admin::migrate::{
    self, MigrateError, MigrateOptions, MigrationReport, MigrationState, NoObserver, VerifyOptions,
};
use eva_admin::model::{self, Format, Node};
use eva_admin::store::{self, Counters, InstrumentedStore, ValueStore};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const DB: &str = "demo";

/// Builds the small schema the scenarios write.
fn schema_ops() -> Vec<TxOp> {
    let attr = |name: &str, ty: &str, many: bool| {
        let e = EntityRef::Temp(name.to_string());
        let card = if many {
            ":db.cardinality/many"
        } else {
            ":db.cardinality/one"
        };
        vec![
            TxOp::Add {
                e: e.clone(),
                a: ":db/ident".into(),
                v: InputValue::Keyword(name.into()),
            },
            TxOp::Add {
                e: e.clone(),
                a: ":db/valueType".into(),
                v: InputValue::Keyword(ty.into()),
            },
            TxOp::Add {
                e,
                a: ":db/cardinality".into(),
                v: InputValue::Keyword(card.into()),
            },
        ]
    };
    [
        attr(":item/name", ":db.type/string", false),
        attr(":item/count", ":db.type/long", false),
        attr(":item/tags", ":db.type/keyword", true),
        attr(":item/parent", ":db.type/ref", false),
    ]
    .concat()
}

/// A source database that grows by `grow`.
struct Source {
    db: Database,
    shape: TreeShape,
    entities: Vec<u64>,
    rng: ChaCha8Rng,
}

/// Format 2 with small nodes, an indexing every few transactions and
/// merges of two runs up to a small cap, so that the migration meets
/// lagging entries, shared and new index sets, merged and capped runs.
const SMALL_V2: TreeShape = TreeShape {
    format: Format::V2,
    leaf_capacity: 8,
    inner_capacity: 4,
    novelty_threshold: 40,
    fan_in: 2,
    run_cap: 400,
};

/// Declares `$name::format_1` and `$name::format_2`: the scenario
/// `$name(shape)` on a format 1 source and on a format 2 one.
macro_rules! both_formats {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn format_1() {
                super::$name(eva_admin::db::TreeShape::default()).await
            }

            #[tokio::test]
            async fn format_2() {
                super::$name(super::SMALL_V2).await
            }
        }
    };
}

impl Source {
    async fn create(store: Arc<dyn ValueStore>) -> Source {
        Source::create_in(store, TreeShape::default()).await
    }

    async fn create_in(store: Arc<dyn ValueStore>, shape: TreeShape) -> Source {
        let db = Database::create_with(store, DB, 500, shape).await.unwrap();
        db.transact_with(schema_ops(), 1_000, shape).await.unwrap();
        Source {
            db,
            shape,
            entities: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(7),
        }
    }

    /// Commits `txs` transactions of about `per_tx` datoms: new entities,
    /// updates (which retract the old value), tags and refs.
    async fn grow(&mut self, txs: usize, per_tx: usize) {
        for _ in 0..txs {
            let mut ops = Vec::new();
            let mut fresh = 0;
            while ops.len() < per_tx {
                let existing = (!self.entities.is_empty() && self.rng.random_bool(0.5))
                    .then(|| self.entities[self.rng.random_range(0..self.entities.len())]);
                let e = match existing {
                    Some(id) => EntityRef::Id(id),
                    None => {
                        fresh += 1;
                        EntityRef::Temp(format!("new-{fresh}"))
                    }
                };
                let (a, v) = match self.rng.random_range(0..4) {
                    0 => (
                        ":item/name",
                        InputValue::String(format!("name-{}", self.rng.random::<u32>())),
                    ),
                    1 => (
                        ":item/count",
                        InputValue::Long(self.rng.random_range(0..1000)),
                    ),
                    2 => (
                        ":item/tags",
                        InputValue::Keyword(format!(":tag/t{}", self.rng.random_range(0..20))),
                    ),
                    _ => match self.entities.first() {
                        Some(&target) => (":item/parent", InputValue::Long(target as i64)),
                        None => (":item/count", InputValue::Long(1)),
                    },
                };
                ops.push(TxOp::Add { e, a: a.into(), v });
            }
            let instant = 2_000 + self.db.head().await.unwrap().count as i64;
            let report = self
                .db
                .transact_with(ops, instant, self.shape)
                .await
                .unwrap();
            self.entities.extend(report.tempids.values().copied());
        }
    }

    fn store(&self) -> Arc<dyn ValueStore> {
        self.db.store().clone()
    }
}

async fn migrate_with(
    src: Arc<dyn ValueStore>,
    dst: Arc<dyn ValueStore>,
    options: &MigrateOptions,
) -> Result<MigrationReport, MigrateError> {
    migrate::migrate(src, dst, DB, options, &mut [], &mut NoObserver).await
}

async fn migrate_all(src: Arc<dyn ValueStore>, dst: Arc<dyn ValueStore>) -> MigrationReport {
    migrate_with(src, dst, &MigrateOptions::default())
        .await
        .unwrap()
}

async fn assert_equivalent(src: Arc<dyn ValueStore>, dst: Arc<dyn ValueStore>) {
    let src_count = Database::open(src.clone(), DB)
        .await
        .unwrap()
        .head()
        .await
        .unwrap()
        .count;
    let dst_count = Database::open(dst.clone(), DB)
        .await
        .unwrap()
        .head()
        .await
        .unwrap()
        .count;
    assert_eq!(src_count, dst_count, "same latest transaction");
    let report = migrate::verify(src, dst, DB, &VerifyOptions::default())
        .await
        .unwrap();
    assert!(report.is_equal(), "differences: {:#?}", report.differences);
    assert!(report.entries_compared > 0 && report.nodes_checked > 0);
}

fn mem() -> Arc<dyn ValueStore> {
    Arc::new(store::MemStore::open(None))
}

fn created(counters: &Counters) -> u64 {
    Counters::get(&counters.keys_created)
}

#[tokio::test]
async fn empty_database_migrates_equivalent() {
    let src = mem();
    Database::create(src.clone(), DB).await.unwrap();
    let dst = mem();
    let report = migrate_all(src.clone(), dst.clone()).await;
    assert_eq!((report.start, report.end), (0, 1));
    assert_equivalent(src, dst).await;
}

async fn continuous_runs_copy_only_what_is_new_and_trivial_runs_write_nothing(shape: TreeShape) {
    let mut source = Source::create_in(mem(), shape).await;
    source.grow(160, 1).await;
    let dst_inner = mem();
    let dst = Arc::new(InstrumentedStore::new(dst_inner.clone()).checking_post_order());
    migrate_all(source.store(), dst.clone()).await;
    assert_equivalent(source.store(), dst_inner.clone()).await;

    for _ in 0..2 {
        let before = (
            created(&dst.counters),
            Counters::get(&dst.counters.replaces),
        );
        let report = migrate_all(source.store(), dst.clone()).await;
        assert!(report.up_to_date);
        assert_eq!(
            before,
            (
                created(&dst.counters),
                Counters::get(&dst.counters.replaces)
            ),
            "a trivial run writes nothing"
        );
    }

    source.grow(160, 1).await;
    let report = migrate_all(source.store(), dst.clone()).await;
    assert_eq!((report.start, report.end), (162, 322));
    assert_equivalent(source.store(), dst_inner.clone()).await;
    let report = migrate_all(source.store(), dst.clone()).await;
    assert!(report.up_to_date);
    assert!(
        dst.violations().is_empty(),
        "post-order violated: {:?}",
        dst.violations()
    );
}

both_formats!(continuous_runs_copy_only_what_is_new_and_trivial_runs_write_nothing);

async fn interrupted_migration_resumes_to_an_equivalent_copy(shape: TreeShape) {
    let mut source = Source::create_in(mem(), shape).await;
    source.grow(320, 2).await;
    let dst_inner = mem();
    // The destination fails after some nodes are written, as a crash would.
    let failing = Arc::new(InstrumentedStore::new(dst_inner.clone()).failing_after(700));
    let options = MigrateOptions {
        log_every: 10,
        checkpoint_interval: Duration::ZERO,
        batch_size: 32,
        ..MigrateOptions::default()
    };
    let err = migrate_with(source.store(), failing, &options)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("injected failure"), "{err}");
    let (status, _) = status_record(dst_inner.as_ref()).await;
    assert_eq!(status.state, MigrationState::InProgress);
    let resumed_from = status.last_migrated.unwrap() + 1;
    assert!(
        resumed_from > 0,
        "some entries were noted before the failure"
    );
    // The roots did not move.
    assert!(dst_inner.get(DB, DB).await.unwrap().is_none());

    let checked = Arc::new(InstrumentedStore::new(dst_inner.clone()).checking_post_order());
    let report = migrate_with(source.store(), checked.clone(), &options)
        .await
        .unwrap();
    assert_eq!(report.start, resumed_from);
    assert!(
        checked.violations().is_empty(),
        "{:?}",
        checked.violations()
    );
    assert_equivalent(source.store(), dst_inner).await;
}

both_formats!(interrupted_migration_resumes_to_an_equivalent_copy);

async fn cancelled_run_resumes_to_an_equivalent_copy(shape: TreeShape) {
    let mut source = Source::create_in(mem(), shape).await;
    source.grow(320, 2).await;
    let options = MigrateOptions {
        log_every: 5,
        checkpoint_interval: Duration::ZERO,
        batch_size: 16,
        ..MigrateOptions::default()
    };
    // How many keys a whole run creates, to cancel one half-way (counted,
    // not timed: a loaded machine makes runs' times differ).
    let probe = Arc::new(InstrumentedStore::new(mem()));
    migrate_with(source.store(), probe.clone(), &options)
        .await
        .unwrap();
    let half = created(&probe.counters) / 2;

    let dst_inner = mem();
    let dst = Arc::new(InstrumentedStore::new(dst_inner.clone()));
    let half_way = async {
        while created(&dst.counters) < half {
            tokio::task::yield_now().await;
        }
    };
    // Dropping the future mid-run is what a cancellation does.
    let finished = tokio::select! {
        biased;
        _ = half_way => false,
        _ = migrate_with(source.store(), dst.clone(), &options) => true,
    };
    assert!(!finished, "the run should still have been going half-way");
    assert!(
        created(&dst.counters) > 0,
        "something was written before the cancel"
    );
    assert!(
        dst_inner.get(DB, DB).await.unwrap().is_none(),
        "roots not moved"
    );
    let report = migrate_with(source.store(), dst.clone(), &options)
        .await
        .unwrap();
    assert!(report.start > 0, "resumed, not restarted");
    assert_equivalent(source.store(), dst_inner).await;
}

both_formats!(cancelled_run_resumes_to_an_equivalent_copy);

async fn larger_trees_migrate_and_continue(shape: TreeShape) {
    let mut source = Source::create_in(mem(), shape).await;
    source.grow(1000, 10).await;
    let dst = mem();
    let report = migrate_all(source.store(), dst.clone()).await;
    println!("1000x10: {:?}", report.stats);
    assert_equivalent(source.store(), dst.clone()).await;
    source.grow(10, 10).await;
    migrate_all(source.store(), dst.clone()).await;
    assert_equivalent(source.store(), dst).await;
}

both_formats!(larger_trees_migrate_and_continue);

async fn pruning_makes_an_incremental_run_cost_what_is_new(shape: TreeShape) {
    let mut source = Source::create_in(mem(), shape).await;
    source.grow(1000, 10).await;
    let dst_inner = mem();
    migrate_all(source.store(), dst_inner.clone()).await;
    source.grow(10, 10).await;

    // Count the nodes the ten new transactions added to the source.
    let before = store_keys(dst_inner.as_ref()).await;
    let src = Arc::new(InstrumentedStore::new(source.store()));
    let dst = Arc::new(InstrumentedStore::new(dst_inner.clone()));
    let report = migrate_all(src.clone(), dst.clone()).await;
    let new_nodes = store_keys(dst_inner.as_ref()).await - before;
    let reads = Counters::get(&src.counters.keys_read);
    let writes = Counters::get(&dst.counters.keys_offered);
    println!(
        "+1%: {new_nodes} new nodes, {reads} source reads, {writes} destination writes, {:?}",
        report.stats
    );
    assert_eq!(created(&dst.counters), new_nodes);
    assert!(
        writes <= new_nodes + 2,
        "writes {writes} for {new_nodes} new nodes"
    );
    assert!(
        reads <= 3 * new_nodes + 10,
        "reads {reads} for {new_nodes} new nodes"
    );
}

both_formats!(pruning_makes_an_incremental_run_cost_what_is_new);

async fn a_bulk_run_past_the_key_cache_asks_nothing_and_copies_each_node_once(shape: TreeShape) {
    let mut source = Source::create_in(mem(), shape).await;
    source.grow(300, 10).await;
    let nodes = store_keys(source.store().as_ref()).await;
    // A cache of 1,024 keys is evicted many times over by ~7,000 nodes.
    let small_cache = MigrateOptions {
        cache_keys: 1024,
        ..MigrateOptions::default()
    };
    let dst_inner = mem();
    let dst = Arc::new(InstrumentedStore::new(dst_inner.clone()).checking_post_order());
    let report = migrate_with(source.store(), dst.clone(), &small_cache)
        .await
        .unwrap();
    // Keys it wrote and then evicted are told from keys no one wrote by the
    // cache's filter; the keys every transaction shares stay cached. In
    // format 2, an index set names runs written long before, which may have
    // left the cache: a few of those are asked about.
    let checks = report.stats.existence_checks;
    match shape.format {
        Format::V1 => assert_eq!(checks, 0, "{:?}", report.stats),
        Format::V2 => assert!(checks * 100 <= nodes, "{:?}", report.stats),
    }
    assert_eq!(Counters::get(&dst.counters.keys_checked), checks);
    assert!(dst.violations().is_empty(), "{:?}", dst.violations());
    // Every node offered once; the roots and status record are not nodes.
    let offered = Counters::get(&dst.counters.keys_offered);
    assert_eq!(offered, created(&dst.counters), "a node was offered twice");
    assert_eq!(report.stats.nodes_written + 2, nodes, "{:?}", report.stats);
    assert_equivalent(source.store(), dst_inner.clone()).await;

    // Not bulk any more: the next run asks the destination, and prunes.
    source.grow(10, 10).await;
    let report = migrate_with(source.store(), dst_inner.clone(), &small_cache)
        .await
        .unwrap();
    assert!(report.stats.existence_checks > 0, "{:?}", report.stats);
    assert_eq!(report.stats.nodes_already_present, 0, "{:?}", report.stats);
    assert_equivalent(source.store(), dst_inner).await;
}

both_formats!(a_bulk_run_past_the_key_cache_asks_nothing_and_copies_each_node_once);

async fn store_keys(store: &dyn ValueStore) -> u64 {
    let mut after: Option<String> = None;
    let mut n = 0;
    loop {
        let page = store.scan(DB, after.as_deref(), 1000).await.unwrap();
        let Some((last, _)) = page.last() else {
            return n;
        };
        n += page.len() as u64;
        after = Some(last.clone());
    }
}

async fn never_overwrites_a_node_that_differs(shape: TreeShape) {
    let mut source = Source::create_in(mem(), shape).await;
    source.grow(20, 3).await;
    let dst = mem();
    // Pre-seed the destination with other bytes at the key of entry 5.
    let info = Database::open(source.store(), DB)
        .await
        .unwrap()
        .info()
        .clone();
    let key = model::entry_key(&info.tx_log, 5);
    let foreign = model::encode_at(&key, &Node::TxLogHead(model::TxLogHead { count: 99 }));
    dst.create(DB, &key, &foreign).await.unwrap();

    let err = migrate_all_err(source.store(), dst.clone()).await;
    assert!(
        matches!(&err, MigrateError::ForeignNode { key: k } if *k == key),
        "{err}"
    );
    assert!(err.to_string().contains(&key));
    assert_eq!(
        dst.get(DB, &key).await.unwrap(),
        Some(foreign),
        "the foreign value is untouched"
    );
    assert!(
        dst.get(DB, DB).await.unwrap().is_none(),
        "database-info not written"
    );
    assert!(
        dst.get(DB, &info.tx_log).await.unwrap().is_none(),
        "head not written"
    );
}

both_formats!(never_overwrites_a_node_that_differs);

async fn migrate_all_err(src: Arc<dyn ValueStore>, dst: Arc<dyn ValueStore>) -> MigrateError {
    migrate_with(src, dst, &MigrateOptions::default())
        .await
        .unwrap_err()
}

async fn refuses_a_destination_written_by_someone_else(shape: TreeShape) {
    let mut source = Source::create_in(mem(), shape).await;
    source.grow(10, 2).await;
    let dst = mem();
    migrate_all(source.store(), dst.clone()).await;
    // Someone transacts into the destination.
    let other = Database::open(dst.clone(), DB).await.unwrap();
    other
        .transact_at(
            vec![TxOp::Add {
                e: EntityRef::Temp("x".into()),
                a: ":item/count".into(),
                v: InputValue::Long(1),
            }],
            9,
        )
        .await
        .unwrap();
    source.grow(5, 2).await;
    let head_before = dst.get(DB, &other.info().tx_log).await.unwrap();
    let err = migrate_all_err(source.store(), dst.clone()).await;
    assert!(
        matches!(err, MigrateError::DestinationChanged { .. }),
        "{err}"
    );
    assert_eq!(
        dst.get(DB, &other.info().tx_log).await.unwrap(),
        head_before,
        "nothing written"
    );
}

both_formats!(refuses_a_destination_written_by_someone_else);

async fn refuses_another_database_with_the_same_id(shape: TreeShape) {
    let a = Source::create_in(mem(), shape).await;
    let b = Source::create_in(mem(), shape).await;
    let dst = mem();
    migrate_all(a.store(), dst.clone()).await;
    let err = migrate_all_err(b.store(), dst).await;
    assert!(
        matches!(err, MigrateError::IdentityMismatch { .. }),
        "{err}"
    );
}

both_formats!(refuses_another_database_with_the_same_id);

async fn the_head_never_moves_backwards(shape: TreeShape) {
    let mut source = Source::create_in(mem(), shape).await;
    source.grow(10, 2).await;
    let copy = mem();
    migrate_all(source.store(), copy.clone()).await;
    source.grow(5, 2).await;
    // Migrating the older copy back into the grown source: swapped arguments.
    let err = migrate_all_err(copy, source.store()).await;
    assert!(
        matches!(
            err,
            MigrateError::DestinationAhead {
                source_count: 12,
                destination_count: 17
            }
        ),
        "{err}"
    );
}

both_formats!(the_head_never_moves_backwards);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_source_copies_the_snapshot_and_the_next_run_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let src = store::open(&format!("sled:{}", dir.path().join("src").display()))
        .await
        .unwrap();
    let mut source = Source::create(src.clone()).await;
    source.grow(300, 5).await;
    let dst = mem();
    let before = source.db.head().await.unwrap().count;
    let writer = tokio::spawn(async move {
        source.grow(100, 5).await;
        source
    });
    // Start copying once the writer is under way.
    let live = Database::open(src.clone(), DB).await.unwrap();
    while live.head().await.unwrap().count == before {
        tokio::task::yield_now().await;
    }
    let report = migrate_all(src.clone(), dst.clone()).await;
    let copied = report.end;
    assert!(
        copied > before,
        "the snapshot includes what the writer committed before the start"
    );
    let dst_db = Database::open(dst.clone(), DB).await.unwrap();
    assert_eq!(dst_db.head().await.unwrap().count, copied);
    let as_of = VerifyOptions {
        as_of: Some(copied - 1),
        ..VerifyOptions::default()
    };
    let check = migrate::verify(src.clone(), dst.clone(), DB, &as_of)
        .await
        .unwrap();
    assert!(check.is_equal(), "{:?}", check.differences);
    writer.await.unwrap();
    migrate_all(src.clone(), dst.clone()).await;
    assert_equivalent(src, dst).await;
}

async fn dry_run_counts_and_writes_nothing(shape: TreeShape) {
    let mut source = Source::create_in(mem(), shape).await;
    source.grow(30, 3).await;
    let dst = mem();
    let options = MigrateOptions {
        dry_run: true,
        ..MigrateOptions::default()
    };
    let report = migrate_with(source.store(), dst.clone(), &options)
        .await
        .unwrap();
    assert!(report.stats.nodes_written > 30);
    assert_eq!(store_keys(dst.as_ref()).await, 0);
}

both_formats!(dry_run_counts_and_writes_nothing);

/// sled → PostgreSQL → MariaDB → SQLite → sled, verifying at each hop.
async fn migrates_across_every_backend(shape: TreeShape) {
    let dir = tempfile::tempdir().unwrap();
    let (Some(pg), Some(my)) = (
        common::servers::postgres_url().await,
        common::servers::mysql_url().await,
    ) else {
        return;
    };
    let urls = [
        format!("sled:{}", dir.path().join("a").display()),
        pg,
        my,
        format!("sqlite:{}", dir.path().join("c.sqlite").display()),
        format!("sled:{}", dir.path().join("d").display()),
    ];
    let first = store::open(&urls[0]).await.unwrap();
    let mut source = Source::create_in(first, shape).await;
    source.grow(100, 5).await;
    let mut from = source.store();
    for url in &urls[1..] {
        let to = store::open(url).await.unwrap();
        let report = migrate_all(from.clone(), to.clone()).await;
        assert!(
            report.stats.nodes_written > 100,
            "{url}: {:?}",
            report.stats
        );
        assert_equivalent(source.store(), to.clone()).await;
        from = to;
    }
}

both_formats!(migrates_across_every_backend);

/// Without transforms nodes are not built, only their links read; a node
/// that does not decode must still stop the run, named, before any root moves.
async fn a_corrupt_source_node_stops_the_run_naming_it(shape: TreeShape) {
    let mut source = Source::create_in(mem(), shape).await;
    source.grow(40, 3).await;
    let src = source.store();
    let mut leaves = Vec::new();
    for (key, bytes) in src.scan(DB, None, usize::MAX).await.unwrap() {
        if let Ok(Node::IndexLeaf(_)) = model::decode(&bytes) {
            leaves.push((key, bytes));
        }
    }
    // One leaf cut short, one whose datom count says more than it holds.
    let (cut_key, cut) = leaves.first().cloned().unwrap();
    let (bent_key, mut bent) = leaves.last().cloned().unwrap();
    bent[3] = 0xee;
    assert!(
        model::decode(&bent).is_err(),
        "the bent leaf must not decode"
    );
    for (key, old, new) in [
        (&cut_key, &cut, cut[..cut.len() / 2].to_vec()),
        (&bent_key, &leaves.last().unwrap().1, bent.clone()),
    ] {
        let outcome = src.replace(DB, key, Some(old), &new).await.unwrap();
        assert!(outcome.replaced());
    }
    let dst = mem();
    let err = migrate_all_err(src, dst.clone()).await;
    let message = err.to_string();
    assert!(
        message.contains("corrupt node")
            && (message.contains(&cut_key) || message.contains(&bent_key)),
        "{message}"
    );
    assert!(dst.get(DB, DB).await.unwrap().is_none(), "roots not moved");
}

both_formats!(a_corrupt_source_node_stops_the_run_naming_it);

/// A run notes the head it is moving to from its start; one stopped after
/// moving the head but before noting `complete` is accepted and completed
/// by the next run, while a head anywhere else is still refused.
async fn a_run_stopped_after_moving_the_head_is_completed_by_the_next(shape: TreeShape) {
    let mut source = Source::create_in(mem(), shape).await;
    source.grow(10, 2).await;
    let dst = mem();
    let first = migrate_all(source.store(), dst.clone()).await;
    source.grow(5, 2).await;
    let second = migrate_all(source.store(), dst.clone()).await;
    let (complete, raw) = status_record(dst.as_ref()).await;
    assert_eq!(complete.state, MigrationState::Complete);
    assert_eq!(complete.target_head, None);
    // What the store holds had the second run stopped right after the head moved.
    let stopped = migrate::MigrationStatus {
        state: MigrationState::InProgress,
        last_migrated: first.end.checked_sub(1),
        destination_head: Some(first.end),
        target_head: Some(second.end),
        ..complete.clone()
    };
    put_status(dst.as_ref(), &raw, &stopped).await;
    let report = migrate_all(source.store(), dst.clone()).await;
    assert_eq!(report.stats.nodes_written, 0, "nothing left to copy");
    let (after, _) = status_record(dst.as_ref()).await;
    assert_eq!(after.state, MigrationState::Complete);
    assert_eq!(after.destination_head, Some(second.end));
    assert_eq!(after.last_migrated, Some(second.end - 1));
    assert_equivalent(source.store(), dst.clone()).await;

    // The same record with a target the head is not at: refused.
    let (_, raw) = status_record(dst.as_ref()).await;
    let elsewhere = migrate::MigrationStatus {
        target_head: Some(second.end + 7),
        destination_head: Some(first.end),
        ..stopped
    };
    put_status(dst.as_ref(), &raw, &elsewhere).await;
    let err = migrate_all_err(source.store(), dst).await;
    assert!(
        matches!(err, MigrateError::DestinationChanged { .. }),
        "{err}"
    );
}

both_formats!(a_run_stopped_after_moving_the_head_is_completed_by_the_next);

/// A later run makes its head move and its complete record durable with one
/// barrier: the record names the head it moved from, so that a crash that
/// keeps the record but loses the move is completed by the next run. A head
/// anywhere else is still refused.
async fn a_head_move_lost_behind_its_complete_record_is_redone_by_the_next_run(shape: TreeShape) {
    let mut source = Source::create_in(mem(), shape).await;
    source.grow(10, 2).await;
    let dst = mem();
    let first = migrate_all(source.store(), dst.clone()).await;
    // The first run writes database-info after the head, with barriers.
    assert_eq!(status_record(dst.as_ref()).await.0.previous_head, None);
    source.grow(5, 2).await;
    let second = migrate_all(source.store(), dst.clone()).await;
    let (complete, _) = status_record(dst.as_ref()).await;
    assert_eq!(complete.state, MigrationState::Complete);
    assert_eq!(complete.previous_head, Some(first.end));

    let tx_log = source.db.info().tx_log.clone();
    let head = |count| model::encode_at(&tx_log, &Node::TxLogHead(model::TxLogHead { count }));
    let set_head = |from: u64, to: u64| {
        let dst = dst.clone();
        let tx_log = tx_log.clone();
        async move {
            let outcome = dst
                .replace(DB, &tx_log, Some(&head(from)), &head(to))
                .await
                .unwrap();
            assert!(outcome.replaced());
        }
    };
    // What a crash may leave: the record complete, the head where it was.
    set_head(second.end, first.end).await;
    let report = migrate_all(source.store(), dst.clone()).await;
    assert_eq!(report.start, second.end);
    assert_eq!(report.stats.nodes_written, 0, "nothing left to copy");
    let (after, _) = status_record(dst.as_ref()).await;
    assert_eq!(after.state, MigrationState::Complete);
    assert_eq!(after.destination_head, Some(second.end));
    assert_equivalent(source.store(), dst.clone()).await;

    // A head below the one the record names: refused.
    set_head(second.end, first.end - 1).await;
    let err = migrate_all_err(source.store(), dst.clone()).await;
    assert!(
        matches!(err, MigrateError::DestinationChanged { .. }),
        "{err}"
    );
}

both_formats!(a_head_move_lost_behind_its_complete_record_is_redone_by_the_next_run);

/// The status record of `DB` in `dst` and its bytes; it must exist.
async fn status_record(dst: &dyn ValueStore) -> (migrate::MigrationStatus, Vec<u8>) {
    migrate::read_status(dst, DB, "migration-status")
        .await
        .unwrap()
        .expect("a status record")
}

/// Replaces the status record (whose bytes are `raw`) with `status`.
async fn put_status(dst: &dyn ValueStore, raw: &[u8], status: &migrate::MigrationStatus) {
    let key = migrate::status_key(DB, "migration-status");
    let bytes = serde_json::to_vec(status).unwrap();
    let outcome = dst.replace(DB, &key, Some(raw), &bytes).await.unwrap();
    assert!(outcome.replaced());
}

/// A destination where something happens the moment a run moves the tx-log
/// head.
struct OnHeadMove {
    inner: Arc<dyn ValueStore>,
    then: AtHeadMove,
}

/// What happens at the head move.
enum AtHeadMove {
    /// Someone runs `db init` under the same id just after the move, before
    /// the run's database-info lands.
    InitAnother,
    /// The move fails (the run stops there: every entry copied, none
    /// committed).
    Fail,
}

#[async_trait::async_trait]
impl ValueStore for OnHeadMove {
    fn url(&self) -> &str {
        self.inner.url()
    }
    async fn get_many(
        &self,
        ns: &str,
        keys: &[String],
    ) -> Result<Vec<Option<Vec<u8>>>, store::StoreError> {
        self.inner.get_many(ns, keys).await
    }
    async fn create_many(
        &self,
        ns: &str,
        entries: &[store::Entry],
    ) -> Result<Vec<store::CreateOutcome>, store::StoreError> {
        self.inner.create_many(ns, entries).await
    }
    async fn replace(
        &self,
        ns: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<store::ReplaceOutcome, store::StoreError> {
        let head_move = ns == DB && matches!(model::decode(new), Ok(Node::TxLogHead(_)));
        if head_move && matches!(self.then, AtHeadMove::Fail) {
            return Err(store::StoreError::Protocol {
                url: self.url().to_string(),
                op: "replace",
                reason: "the run stopped here (test)".into(),
            });
        }
        let outcome = self.inner.replace(ns, key, expected, new).await?;
        if head_move {
            let other = model::DatabaseInfo {
                database_id: DB.to_string(),
                tx_log: "another-log".to_string(),
                identity: "another-identity".to_string(),
            };
            let bytes = model::encode_at(DB, &Node::DatabaseInfo(other));
            self.inner.create(DB, DB, &bytes).await?;
        }
        Ok(outcome)
    }
    async fn remove(
        &self,
        ns: &str,
        key: &str,
        expected: &[u8],
    ) -> Result<store::ReplaceOutcome, store::StoreError> {
        self.inner.remove(ns, key, expected).await
    }
    async fn scan(
        &self,
        ns: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<store::Entry>, store::StoreError> {
        self.inner.scan(ns, after, limit).await
    }
}

/// Database-info taken by another writer after the head moved: the message
/// says the head moved and every node is stored — not "nothing was
/// written" — and names the way out.
async fn database_info_taken_after_the_head_moved_is_told_as_it_is(shape: TreeShape) {
    let mut source = Source::create_in(mem(), shape).await;
    source.grow(5, 3).await;
    let dst: Arc<dyn ValueStore> = Arc::new(OnHeadMove {
        inner: mem(),
        then: AtHeadMove::InitAnother,
    });
    let err = migrate_all_err(source.store(), dst).await;
    assert!(
        matches!(err, MigrateError::InfoChangedAfterHeadMoved { head } if head == 7),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("after the run had moved the tx-log head to 7")
            && text.contains("fresh destination")
            && !text.contains("did not move"),
        "{text}"
    );
}

both_formats!(database_info_taken_after_the_head_moved_is_told_as_it_is);

/// A migration stopped before it committed leaves its entries past the
/// destination's head; a transaction on the destination then finds its
/// number taken. `db repair` refuses while the run can still be completed,
/// takes the entries back when the run is given up, and the destination
/// commits again — the abandoned run is refused from then on.
async fn a_stopped_run_given_up_is_taken_back_by_db_repair(shape: TreeShape) {
    let mut source = Source::create_in(mem(), shape).await;
    source.grow(10, 2).await;
    let dst = mem();
    let first = migrate_all(source.store(), dst.clone()).await;
    source.grow(5, 2).await;
    let stopping: Arc<dyn ValueStore> = Arc::new(OnHeadMove {
        inner: dst.clone(),
        then: AtHeadMove::Fail,
    });
    migrate_all_err(source.store(), stopping).await;

    let db = Database::open(dst.clone(), DB).await.unwrap();
    assert_eq!(db.head().await.unwrap().count, first.end);
    let ops = || {
        vec![TxOp::Add {
            e: EntityRef::Temp("x".into()),
            a: ":db/doc".into(),
            v: InputValue::String("written on the destination".into()),
        }]
    };
    let err = db.transact(ops()).await.unwrap_err();
    assert!(err.to_string().contains("db repair"), "{err}");

    let options = |dry_run, abandon_migration| migrate::LogRepairOptions {
        dry_run,
        abandon_migration,
        status_suffix: migrate::DEFAULT_STATUS_SUFFIX.to_string(),
    };
    let err = migrate::repair_log(dst.clone(), DB, &options(false, false))
        .await
        .unwrap_err();
    assert!(
        matches!(err, MigrateError::MigrationUnderway { .. }),
        "{err}"
    );
    let dry = migrate::repair_log(dst.clone(), DB, &options(true, true))
        .await
        .unwrap();
    let left: Vec<String> = (first.end..first.end + 5)
        .map(|t| model::entry_key(&db.info().tx_log, t))
        .collect();
    assert_eq!(dry.left_behind, left);
    assert!(dry.removed.is_empty());
    assert!(dst.get(DB, &left[0]).await.unwrap().is_some());

    let done = migrate::repair_log(dst.clone(), DB, &options(false, true))
        .await
        .unwrap();
    assert_eq!(done.removed, left);
    for key in &left {
        assert_eq!(dst.get(DB, key).await.unwrap(), None, "{key}");
    }
    db.transact(ops()).await.unwrap();
    assert_eq!(db.head().await.unwrap().count, first.end + 1);
    let err = migrate_all_err(source.store(), dst.clone()).await;
    assert!(
        matches!(err, MigrateError::DestinationChanged { .. }),
        "{err}"
    );
}

both_formats!(a_stopped_run_given_up_is_taken_back_by_db_repair);
