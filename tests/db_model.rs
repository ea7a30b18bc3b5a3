//! The database against a naive model: every transaction's current and
//! history datoms in all four indexes, structural sharing of the trees,
//! concurrent writers, and the errors a bad transaction gets.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use eva_admin::db::check::{CheckOptions, check_database};
use eva_admin::db::{
    Component, Database, DatomQuery, DbError, EntityRef, InputValue, TreeShape, TxOp,
    take_back_uncommitted,
};
use eva_admin::model::{
    Datom, EntityId, Format, Index, Node, Partition, Value, builtin, decode, entity_id, tx_entity,
};
use eva_admin::store::{self, CreateOutcome, Entry, ReplaceOutcome, StoreError, ValueStore};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

// ---------------------------------------------------------------- fixtures

const SMALL: TreeShape = TreeShape {
    format: Format::V1,
    leaf_capacity: 3,
    inner_capacity: 3,
    novelty_threshold: 1,
    fan_in: 2,
    run_cap: 1,
};

/// Format 2 with tiny nodes, an indexing every few datoms and merges of
/// two runs up to a cap a few transactions long: every mechanism (lagging
/// roots, novelty read from the log, tiered merges, capped runs) runs.
const SMALL_V2: TreeShape = TreeShape {
    format: Format::V2,
    leaf_capacity: 3,
    inner_capacity: 3,
    novelty_threshold: 8,
    fan_in: 2,
    run_cap: 50,
};

/// The test schema: (ident, type, cardinality, unique).
const ATTRS: [(&str, &str, &str, Option<&str>); 4] = [
    (
        ":t/name",
        ":db.type/string",
        ":db.cardinality/one",
        Some(":db.unique/identity"),
    ),
    (":t/age", ":db.type/long", ":db.cardinality/one", None),
    (":t/tag", ":db.type/keyword", ":db.cardinality/many", None),
    (":t/friend", ":db.type/ref", ":db.cardinality/one", None),
];
const NAME: usize = 0;
const AGE: usize = 1;
const TAG: usize = 2;
const FRIEND: usize = 3;

fn add(e: EntityRef, a: &str, v: InputValue) -> TxOp {
    TxOp::Add {
        e,
        a: a.to_string(),
        v,
    }
}

fn temp(s: &str) -> EntityRef {
    EntityRef::Temp(s.to_string())
}

fn kw(k: &str) -> InputValue {
    InputValue::Keyword(k.to_string())
}

fn schema_ops() -> Vec<TxOp> {
    let mut ops = Vec::new();
    for (ident, ty, card, unique) in ATTRS {
        let e = || temp(ident);
        ops.push(add(e(), ":db/ident", kw(ident)));
        ops.push(add(e(), ":db/valueType", kw(ty)));
        ops.push(add(e(), ":db/cardinality", kw(card)));
        if let Some(u) = unique {
            ops.push(add(e(), ":db/unique", kw(u)));
        }
    }
    ops
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A database with the test schema as transaction 1; returns the attribute ids.
async fn setup(store: Arc<dyn ValueStore>, shape: TreeShape) -> (Database, [EntityId; 4]) {
    let db = Database::create_with(store, "db-test", 0, shape)
        .await
        .unwrap();
    let report = db.transact_with(schema_ops(), 1, shape).await.unwrap();
    let ids = ATTRS.map(|(ident, ..)| report.tempids[ident]);
    (db, ids)
}

async fn mem() -> Arc<dyn ValueStore> {
    store::open("mem:").await.unwrap()
}

// ---------------------------------------------------------------- the model

/// A random op before it is bound to entity ids.
#[derive(Debug, Clone)]
struct GenOp {
    add: bool,
    attr: usize,
    /// `Ok(i)`: pool entity `i` (modulo the pool); `Err(k)`: temp id `k`.
    ent: Result<usize, u8>,
    val: u8,
}

fn gen_op() -> impl Strategy<Value = GenOp> {
    (
        prop::bool::weighted(0.7),
        0..4usize,
        prop_oneof![(0..8usize).prop_map(Ok), (0..3u8).prop_map(Err)],
        0..6u8,
    )
        .prop_map(|(add, attr, ent, val)| GenOp {
            add,
            attr,
            ent,
            val,
        })
}

fn gen_txs(max: usize) -> impl Strategy<Value = Vec<Vec<GenOp>>> {
    prop::collection::vec(prop::collection::vec(gen_op(), 1..6), 1..max)
}

/// All datoms ever written, in commit order; the naive semantics of a
/// transaction computed by scanning them.
struct Model {
    attrs: [EntityId; 4],
    datoms: Vec<Datom>,
    pool: Vec<EntityId>,
    next_user: u64,
    t: u64,
}

impl Model {
    fn current_at(&self, t: u64) -> Vec<Datom> {
        let mut last: BTreeMap<(EntityId, EntityId, Value), &Datom> = BTreeMap::new();
        for d in self.datoms.iter().filter(|d| d.tx <= t) {
            last.insert((d.e, d.a, d.v.clone()), d);
        }
        last.into_values().filter(|d| d.added).cloned().collect()
    }

    fn values(&self, pending: &[Datom], e: EntityId, a: EntityId) -> BTreeSet<Value> {
        let mut last: BTreeMap<Value, bool> = BTreeMap::new();
        for d in self.datoms.iter().chain(pending) {
            if d.e == e && d.a == a {
                last.insert(d.v.clone(), d.added);
            }
        }
        last.into_iter()
            .filter(|(_, a)| *a)
            .map(|(v, _)| v)
            .collect()
    }

    /// Binds generated ops to this model's entities.
    fn ops(&self, gen_ops: &[GenOp]) -> Vec<TxOp> {
        gen_ops
            .iter()
            .filter_map(|g| {
                let e = match g.ent {
                    Ok(i) if !self.pool.is_empty() => EntityRef::Id(self.pool[i % self.pool.len()]),
                    Ok(_) => temp("t0"),
                    Err(k) => temp(&format!("t{k}")),
                };
                let v = match g.attr {
                    NAME => InputValue::String(format!("n{}", g.val % 5)),
                    AGE => InputValue::Long(i64::from(g.val % 4)),
                    TAG => kw(&format!(":tag/k{}", g.val % 3)),
                    _ if self.pool.is_empty() => return None,
                    _ => InputValue::Long(self.pool[usize::from(g.val) % self.pool.len()] as i64),
                };
                let a = ATTRS[g.attr].0.to_string();
                Some(if g.add {
                    TxOp::Add { e, a, v }
                } else {
                    TxOp::Retract { e, a, v }
                })
            })
            .collect()
    }

    fn value(&self, a: usize, v: &InputValue) -> Value {
        match (a, v) {
            (NAME, InputValue::String(s)) => Value::String(s.clone()),
            (AGE, InputValue::Long(n)) => Value::Long(*n),
            (TAG, InputValue::Keyword(k)) => Value::Keyword(k.clone()),
            (FRIEND, InputValue::Long(n)) => Value::Ref(*n as u64),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// The datoms transaction `t + 1` writes, or why it is refused.
    fn apply(&mut self, ops: &[TxOp], instant: i64) -> Result<Vec<Datom>, &'static str> {
        let t = self.t + 1;
        let attr_index = |a: &str| ATTRS.iter().position(|x| x.0 == a).unwrap();
        // Temp ids, in order of first use; upsert through :t/name.
        let mut tempids: BTreeMap<String, EntityId> = BTreeMap::new();
        let mut next_user = self.next_user;
        for op in ops {
            let (TxOp::Add { e, .. } | TxOp::Retract { e, .. }) = op;
            let EntityRef::Temp(s) = e else { continue };
            if tempids.contains_key(s) {
                continue;
            }
            let upserts: BTreeSet<EntityId> = ops
                .iter()
                .filter_map(|op| match op {
                    TxOp::Add {
                        e: EntityRef::Temp(s2),
                        a,
                        v,
                    } if s2 == s && a == ATTRS[NAME].0 => {
                        let v = self.value(NAME, v);
                        self.current_at(self.t)
                            .into_iter()
                            .find(|d| d.a == self.attrs[NAME] && d.v == v)
                            .map(|d| d.e)
                    }
                    _ => None,
                })
                .collect();
            if upserts.len() > 1 {
                return Err("upsert");
            }
            let id = upserts.first().copied().unwrap_or_else(|| {
                next_user += 1;
                entity_id(Partition::User, next_user - 1)
            });
            tempids.insert(s.clone(), id);
        }
        let mut pending: Vec<Datom> = Vec::new();
        let push = |pending: &mut Vec<Datom>, e, a, v: Value, added| {
            if let Some(i) = pending
                .iter()
                .position(|d: &Datom| d.e == e && d.a == a && d.v == v)
            {
                pending.remove(i);
            } else {
                pending.push(Datom {
                    e,
                    a,
                    v,
                    tx: t,
                    added,
                });
            }
        };
        for op in ops {
            let (TxOp::Add { e, a, v } | TxOp::Retract { e, a, v }) = op;
            let e = match e {
                EntityRef::Id(id) => *id,
                EntityRef::Temp(s) => tempids[s],
                EntityRef::Ident(_) => unreachable!(),
            };
            let ai = attr_index(a);
            let a = self.attrs[ai];
            let v = self.value(ai, v);
            let cur = self.values(&pending, e, a);
            match op {
                TxOp::Add { .. } if !cur.contains(&v) => {
                    if ai != TAG {
                        for old in cur {
                            push(&mut pending, e, a, old, false);
                        }
                    }
                    push(&mut pending, e, a, v, true);
                }
                TxOp::Retract { .. } if cur.contains(&v) => push(&mut pending, e, a, v, false),
                _ => {}
            }
        }
        // A name held by two entities afterwards is a conflict.
        let mut names: BTreeMap<Value, BTreeSet<EntityId>> = BTreeMap::new();
        let saved = std::mem::take(&mut self.datoms);
        self.datoms = saved.iter().chain(&pending).cloned().collect();
        for d in self.current_at(t) {
            if d.a == self.attrs[NAME] {
                names.entry(d.v.clone()).or_default().insert(d.e);
            }
        }
        self.datoms = saved;
        if names.values().any(|holders| holders.len() > 1) {
            return Err("unique");
        }
        pending.push(Datom {
            e: tx_entity(t),
            a: builtin::TX_INSTANT,
            v: Value::Instant(instant),
            tx: t,
            added: true,
        });
        self.datoms.extend(pending.iter().cloned());
        self.t = t;
        self.next_user = next_user;
        for id in tempids.into_values() {
            if !self.pool.contains(&id) {
                self.pool.push(id);
            }
        }
        Ok(pending)
    }
}

fn sorted(index: Index, mut datoms: Vec<Datom>) -> Vec<Datom> {
    datoms.retain(|d| index.holds(d));
    datoms.sort_by(|x, y| index.cmp(x, y));
    datoms
}

fn all(history: bool) -> DatomQuery {
    DatomQuery {
        history,
        ..DatomQuery::default()
    }
}

fn prefix(start: Vec<Component>, history: bool) -> DatomQuery {
    DatomQuery {
        start,
        end: None,
        history,
    }
}

/// Runs `txs` against a fresh database in `store` and the model; checks
/// every transaction's report, then every snapshot in every index.
async fn check_against_model(store: Arc<dyn ValueStore>, txs: &[Vec<GenOp>], shape: TreeShape) {
    let (db, attrs) = setup(store, shape).await;
    let mut model = Model {
        attrs,
        datoms: db
            .as_of(1)
            .await
            .unwrap()
            .datoms(Index::Eavt, &all(true))
            .await
            .unwrap(),
        pool: Vec::new(),
        next_user: 1,
        t: 1,
    };
    for gen_ops in txs {
        let ops = model.ops(gen_ops);
        let instant = 1000 + model.t as i64;
        let expected = model.apply(&ops, instant);
        let got = db.transact_with(ops.clone(), instant, shape).await;
        match (expected, got) {
            (Ok(expected), Ok(report)) => assert_eq!(
                sorted(Index::Eavt, report.datoms),
                sorted(Index::Eavt, expected),
                "ops {ops:?}"
            ),
            (Err("unique"), Err(DbError::UniqueConflict { .. })) => {}
            (Err("upsert"), Err(DbError::InvalidTransaction(_))) => {}
            (expected, got) => panic!("ops {ops:?}: model {expected:?}, database {got:?}"),
        }
    }
    assert_eq!(db.head().await.unwrap().count, model.t + 1);
    for t in 0..=model.t {
        let snap = db.as_of(t).await.unwrap();
        let history: Vec<Datom> = model.datoms.iter().filter(|d| d.tx <= t).cloned().collect();
        let current = model.current_at(t);
        for index in Index::ALL {
            let h = snap.datoms(index, &all(true)).await.unwrap();
            assert_eq!(
                h,
                sorted(index, history.clone()),
                "history {index:?} at {t}"
            );
            let c = snap.datoms(index, &all(false)).await.unwrap();
            assert_eq!(
                c,
                sorted(index, current.clone()),
                "current {index:?} at {t}"
            );
        }
        // Prefix and range reads select the same datoms as filters.
        for &e in &model.pool {
            let q = prefix(vec![Component::Id(e)], false);
            let q = snap.datoms(Index::Eavt, &q);
            let want: Vec<Datom> = current.iter().filter(|d| d.e == e).cloned().collect();
            assert_eq!(q.await.unwrap(), sorted(Index::Eavt, want));
            let q = prefix(vec![Component::Id(e)], true);
            let q = snap.datoms(Index::Vaet, &q);
            let want: Vec<Datom> = history
                .iter()
                .filter(|d| d.v == Value::Ref(e))
                .cloned()
                .collect();
            assert_eq!(q.await.unwrap(), sorted(Index::Vaet, want));
        }
        let (age, tag) = (attrs[AGE], attrs[TAG]);
        let range = DatomQuery {
            start: vec![Component::Id(age)],
            end: Some(vec![Component::Id(tag + 1)]),
            history: true,
        };
        let want: Vec<Datom> = history
            .iter()
            .filter(|d| (age..=tag).contains(&d.a))
            .cloned()
            .collect();
        assert_eq!(
            snap.datoms(Index::Aevt, &range).await.unwrap(),
            sorted(Index::Aevt, want)
        );
        let by_name = prefix(
            vec![
                Component::Id(attrs[NAME]),
                Component::Value(Value::String("n1".into())),
            ],
            false,
        );
        let want: Vec<Datom> = current
            .iter()
            .filter(|d| d.a == attrs[NAME] && d.v == Value::String("n1".into()))
            .cloned()
            .collect();
        assert_eq!(snap.datoms(Index::Avet, &by_name).await.unwrap(), want);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Every snapshot of every index equals the naive model, in both
    /// formats, with tiny nodes (deep trees, many splits, in format 2 many
    /// indexings and merges) and with the default shapes.
    #[test]
    fn every_snapshot_matches_the_model(txs in gen_txs(30), pick in 0..4usize) {
        let shape = [SMALL, TreeShape::default(), SMALL_V2, TreeShape::format2()][pick];
        rt().block_on(async { check_against_model(mem().await, &txs, shape).await });
    }
}

#[test]
fn sled_store_matches_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sled:{}", dir.path().join("db").display());
    let mut runner = TestRunner::deterministic();
    let txs = gen_txs(40).new_tree(&mut runner).unwrap().current();
    rt().block_on(async {
        let store = store::open(&url).await.unwrap();
        check_against_model(store, &txs, SMALL).await;
    });
}

#[test]
fn sled_store_matches_the_model_in_format_2() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sled:{}", dir.path().join("db").display());
    let mut runner = TestRunner::deterministic();
    let many = prop::collection::vec(prop::collection::vec(gen_op(), 1..6), 150);
    let txs = many.new_tree(&mut runner).unwrap().current();
    rt().block_on(async {
        let store = store::open(&url).await.unwrap();
        check_against_model(store.clone(), &txs, SMALL_V2).await;
        // The mechanisms ran: entries lag their index set, indexings
        // happened, runs were merged, and capped runs were kept.
        let db = Database::open(store, "db-test").await.unwrap();
        let count = db.head().await.unwrap().count;
        let mut lagging = 0;
        let mut sets = BTreeSet::new();
        for tx in 0..count {
            let lag = db.entry(tx).await.unwrap().lag.expect("a format 2 entry");
            lagging += usize::from(lag.basis < tx);
            sets.insert(lag.set);
        }
        let Node::IndexSet(last) = db.expect_node(sets.last().unwrap()).await.unwrap() else {
            panic!("not an index set");
        };
        let spans: Vec<u64> = last.runs.iter().map(|r| r.last_tx - r.first_tx).collect();
        assert!(lagging > count as usize / 3, "{lagging} of {count} lag");
        assert!(sets.len() > 3, "{} indexings", sets.len());
        assert!(last.runs.len() >= 2, "{:?}", last.runs);
        assert!(spans.iter().any(|&s| s > 5), "merged runs: {spans:?}");
        assert!(
            last.runs
                .windows(2)
                .all(|w| w[0].last_tx + 1 == w[1].first_tx)
        );
    });
}

// ---------------------------------------------------------------- sharing

/// The keys of every index node reachable from `root`.
async fn tree_keys(db: &Database, root: Option<&str>, out: &mut BTreeSet<String>) {
    let mut stack: Vec<String> = root.map(str::to_string).into_iter().collect();
    while let Some(key) = stack.pop() {
        if out.insert(key.clone())
            && let Node::IndexInner(inner) = db.expect_node(&key).await.unwrap()
        {
            stack.extend(inner.children);
        }
    }
}

async fn stored_index_nodes(store: &dyn ValueStore, ns: &str) -> usize {
    let (mut count, mut after) = (0, None::<String>);
    loop {
        let page = store.scan(ns, after.as_deref(), 1000).await.unwrap();
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        count += page
            .iter()
            .filter(|(_, v)| matches!(decode(v), Ok(Node::IndexInner(_) | Node::IndexLeaf(_))))
            .count();
    }
    count
}

/// The children of EAVT's root in entry `tx`.
async fn root_children(db: &Database, tx: u64) -> Vec<String> {
    let entry = db.entry(tx).await.unwrap();
    match db
        .expect_node(entry.roots.get(Index::Eavt).unwrap())
        .await
        .unwrap()
    {
        Node::IndexInner(inner) => inner.children,
        other => panic!("EAVT root is not an inner node: {other:?}"),
    }
}

/// The keys on the leftmost path of a tree, root first.
async fn leftmost_path(db: &Database, root: &str) -> Vec<String> {
    let mut path = vec![root.to_string()];
    while let Node::IndexInner(inner) = db.expect_node(path.last().unwrap()).await.unwrap() {
        path.push(inner.children[0].clone());
    }
    path
}

/// Trees of successive transactions share unchanged subtrees: 1000
/// transactions of 10 datoms store far fewer nodes than 1000 full trees,
/// and a transaction at the right edge keeps the root's first child.
#[test]
fn trees_share_unchanged_subtrees() {
    rt().block_on(async {
        let store = mem().await;
        let (db, attrs) = setup(store.clone(), TreeShape::default()).await;
        let started = Instant::now();
        let mut seed: u64 = 7;
        let mut tx = |n: usize| -> Vec<TxOp> {
            (0..n)
                .map(|i| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    add(
                        temp(&format!("e{i}")),
                        ":t/age",
                        InputValue::Long((seed >> 33) as i64 % 1000),
                    )
                })
                .collect()
        };
        for i in 0..1000 {
            let r = db.transact_at(tx(10), 5).await.unwrap();
            if i == 300 {
                // The root's children are leaves here; the first one holds
                // the schema and a transaction at the edges leaves it alone.
                let before = root_children(&db, r.tx - 1).await;
                let after = root_children(&db, r.tx).await;
                assert!(before.len() > 2, "EAVT root has leaf children");
                assert_eq!(before[0], after[0], "root's first child is shared");
            }
        }
        let elapsed = started.elapsed();
        let head = db.head().await.unwrap().count;
        let mut full = BTreeSet::new();
        let last = db.entry(head - 1).await.unwrap();
        for index in Index::ALL {
            tree_keys(&db, last.roots.get(index), &mut full).await;
        }
        let stored = stored_index_nodes(store.as_ref(), db.id()).await;
        println!(
            "1000 x 10 datoms: {stored} index nodes stored, {} in the latest trees, {elapsed:?}",
            full.len()
        );
        assert!(
            stored * 10 < 1000 * full.len(),
            "{stored} nodes vs {} per tree",
            full.len()
        );
        let snap = db.snapshot().await.unwrap();
        let ages = DatomQuery {
            start: vec![Component::Id(attrs[AGE])],
            ..DatomQuery::default()
        };
        assert_eq!(snap.datoms(Index::Aevt, &ages).await.unwrap().len(), 10_000);

        // One more transaction: new entities sort at EAVT's right edge, its
        // tx entity just before them (the Tx partition sorts between schema
        // and user entities). The leftmost leaf (the schema) is shared, and
        // only the paths to the touched leaves are new.
        db.transact_at(tx(10), 6).await.unwrap();
        let (old, new) = (
            db.entry(head - 1).await.unwrap(),
            db.entry(head).await.unwrap(),
        );
        for index in [Index::Eavt, Index::Aevt] {
            let old_root = old.roots.get(index).unwrap();
            let new_root = new.roots.get(index).unwrap();
            let (before, after) = (
                leftmost_path(&db, old_root).await,
                leftmost_path(&db, new_root).await,
            );
            assert!(before.len() >= 3, "{index:?} is at least three levels deep");
            assert_eq!(before.last(), after.last(), "{index:?} leftmost leaf");
            let (mut old_keys, mut new_keys) = (BTreeSet::new(), BTreeSet::new());
            tree_keys(&db, Some(old_root), &mut old_keys).await;
            tree_keys(&db, Some(new_root), &mut new_keys).await;
            let fresh = new_keys.difference(&old_keys).count();
            assert!(
                fresh <= 8,
                "{index:?}: {fresh} new nodes of {}",
                new_keys.len()
            );
        }
    });
}

// ---------------------------------------------------------------- concurrency

/// Every value attribute `name` ever had, history included.
async fn names_ever(db: &Database, name: EntityId) -> Vec<Value> {
    let datoms = db
        .snapshot()
        .await
        .unwrap()
        .datoms(Index::Aevt, &prefix(vec![Component::Id(name)], true))
        .await
        .unwrap();
    datoms.into_iter().map(|d| d.v).collect()
}

/// A store that yields to the scheduler before every operation, so two
/// writers on one thread interleave, and fails every write after its
/// budget (a writer stopped at that step: what it wrote so far stays).
struct Yielding {
    inner: Arc<dyn ValueStore>,
    writes_left: AtomicUsize,
}

impl Yielding {
    fn new(inner: Arc<dyn ValueStore>) -> Yielding {
        Yielding::failing_after(inner, usize::MAX)
    }

    fn failing_after(inner: Arc<dyn ValueStore>, writes: usize) -> Yielding {
        Yielding {
            inner,
            writes_left: AtomicUsize::new(writes),
        }
    }

    async fn write(&self, op: &'static str) -> Result<(), StoreError> {
        tokio::task::yield_now().await;
        let left = self.writes_left.load(Ordering::SeqCst);
        if left == 0 {
            return Err(StoreError::Protocol {
                url: self.url().to_string(),
                op,
                reason: "the writer stopped here (test)".into(),
            });
        }
        self.writes_left
            .store(left.saturating_sub(1), Ordering::SeqCst);
        Ok(())
    }
}

#[async_trait]
impl ValueStore for Yielding {
    fn url(&self) -> &str {
        self.inner.url()
    }
    async fn get_many(
        &self,
        ns: &str,
        keys: &[String],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        tokio::task::yield_now().await;
        self.inner.get_many(ns, keys).await
    }
    async fn create_many(
        &self,
        ns: &str,
        entries: &[Entry],
    ) -> Result<Vec<CreateOutcome>, StoreError> {
        self.write("create").await?;
        self.inner.create_many(ns, entries).await
    }
    async fn replace(
        &self,
        ns: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<ReplaceOutcome, StoreError> {
        self.write("replace").await?;
        self.inner.replace(ns, key, expected, new).await
    }
    async fn remove(
        &self,
        ns: &str,
        key: &str,
        expected: &[u8],
    ) -> Result<ReplaceOutcome, StoreError> {
        self.write("remove").await?;
        self.inner.remove(ns, key, expected).await
    }
    async fn scan(
        &self,
        ns: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        tokio::task::yield_now().await;
        self.inner.scan(ns, after, limit).await
    }
}

/// A writer stopped at every step of a transaction leaves a database that
/// reads as before; where it stopped after storing its entry, the next
/// transaction finds its number taken until `db repair` takes the entry
/// back; then it commits, and the log checks clean (docs/cli.md, `db repair`).
#[test]
fn a_writer_stopped_at_any_step_is_repaired() {
    rt().block_on(async {
        let mut wedged = 0;
        for budget in 0.. {
            let store = mem().await;
            let (db, attrs) = setup(store.clone(), TreeShape::default()).await;
            let before = db.head().await.unwrap().count;
            let ops = |name: &str| vec![add(temp("x"), ":t/name", InputValue::String(name.into()))];
            let stopped = Database::open(
                Arc::new(Yielding::failing_after(store.clone(), budget)),
                db.id(),
            )
            .await
            .unwrap();
            if stopped.transact_at(ops("lost"), 10).await.is_ok() {
                assert!(wedged > 0, "some step must leave an entry behind");
                break;
            }
            assert_eq!(
                db.head().await.unwrap().count,
                before,
                "budget {budget}: nothing committed"
            );
            if let Err(err) = db.transact_at(ops("next"), 11).await {
                assert!(matches!(err, DbError::ConcurrentWrite { .. }), "{err}");
                assert!(err.to_string().contains("db repair"), "{err}");
                wedged += 1;
                let dry = take_back_uncommitted(&db, true).await.unwrap();
                assert_eq!(dry.left_behind.len(), 1);
                assert!(dry.removed.is_empty());
                let report = take_back_uncommitted(&db, false).await.unwrap();
                assert_eq!(report.head, before);
                assert_eq!(report.removed, dry.left_behind);
                db.transact_at(ops("next"), 11).await.unwrap();
            }
            assert_eq!(db.head().await.unwrap().count, before + 1);
            assert_eq!(
                names_ever(&db, attrs[NAME]).await,
                vec![Value::String("next".into())],
                "budget {budget}"
            );
            let report = check_database(store, db.id(), None, CheckOptions::default())
                .await
                .unwrap();
            assert!(
                report.problems.is_empty(),
                "budget {budget}: {:?}",
                report.problems
            );
        }
    });
}

#[test]
fn concurrent_writers_one_wins_and_the_log_stays_intact() {
    rt().block_on(async {
        let store: Arc<dyn ValueStore> = Arc::new(Yielding::new(mem().await));
        let (db, attrs) = setup(store.clone(), TreeShape::default()).await;
        let other = Database::open(store, db.id()).await.unwrap();
        let ops = |name: &str| vec![add(temp("x"), ":t/name", InputValue::String(name.into()))];
        let (a, b) = tokio::join!(
            db.transact_at(ops("a"), 10),
            other.transact_at(ops("b"), 11)
        );
        let (winner, loser) = match (a, b) {
            (Ok(_), Err(e)) => ("a", e),
            (Err(e), Ok(_)) => ("b", e),
            other => panic!("expected one winner: {other:?}"),
        };
        assert!(matches!(loser, DbError::ConcurrentWrite { .. }), "{loser}");
        assert_eq!(db.head().await.unwrap().count, 3);
        for t in 0..3 {
            db.entry(t).await.unwrap();
        }
        assert_eq!(
            names_ever(&db, attrs[NAME]).await,
            vec![Value::String(winner.into())]
        );
        // The next transaction goes through on either handle.
        other.transact_at(ops("c"), 12).await.unwrap();
        assert_eq!(db.head().await.unwrap().count, 4);
    });
}

// ---------------------------------------------------------------- errors

async fn fresh() -> Database {
    setup(mem().await, TreeShape::default()).await.0
}

async fn refused(db: &Database, ops: Vec<TxOp>) -> DbError {
    let count = db.head().await.unwrap().count;
    let err = db.transact_at(ops, 9).await.unwrap_err();
    assert_eq!(
        db.head().await.unwrap().count,
        count,
        "a refused transaction commits nothing"
    );
    err
}

#[test]
fn unknown_attribute_is_named() {
    rt().block_on(async {
        let db = fresh().await;
        let err = refused(&db, vec![add(temp("x"), ":no/such", InputValue::Long(1))]).await;
        assert!(matches!(err, DbError::UnknownAttribute { .. }), "{err}");
        assert!(err.to_string().contains(":no/such"), "{err}");
    });
}

#[test]
fn wrong_value_type_names_attribute_type_and_input() {
    rt().block_on(async {
        let db = fresh().await;
        let err = refused(
            &db,
            vec![add(temp("x"), ":t/age", InputValue::String("old".into()))],
        )
        .await;
        assert!(matches!(err, DbError::WrongValueType { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains(":t/age") && msg.contains(":db.type/long") && msg.contains("old"),
            "{msg}"
        );
    });
}

#[test]
fn unknown_entities_and_idents_are_named() {
    rt().block_on(async {
        let db = fresh().await;
        let missing = entity_id(Partition::User, 999);
        let err = refused(
            &db,
            vec![add(EntityRef::Id(missing), ":t/age", InputValue::Long(1))],
        )
        .await;
        assert!(matches!(err, DbError::UnknownEntity { .. }), "{err}");
        assert!(err.to_string().contains(&missing.to_string()), "{err}");
        let err = refused(
            &db,
            vec![add(
                EntityRef::Ident(":no/ident".into()),
                ":t/age",
                InputValue::Long(1),
            )],
        )
        .await;
        assert!(err.to_string().contains(":no/ident"), "{err}");
        let err = refused(&db, vec![add(temp("x"), ":t/friend", kw(":no/friend"))]).await;
        assert!(err.to_string().contains(":no/friend"), "{err}");
    });
}

#[test]
fn unique_conflict_names_attribute_value_and_holder() {
    rt().block_on(async {
        let db = fresh().await;
        let r = db
            .transact_at(
                vec![
                    add(temp("a"), ":t/name", InputValue::String("ann".into())),
                    add(temp("b"), ":t/name", InputValue::String("bob".into())),
                ],
                5,
            )
            .await
            .unwrap();
        let (a, b) = (r.tempids["a"], r.tempids["b"]);
        let err = refused(
            &db,
            vec![add(
                EntityRef::Id(b),
                ":t/name",
                InputValue::String("ann".into()),
            )],
        )
        .await;
        assert!(
            matches!(err, DbError::UniqueConflict { holder, .. } if holder == a),
            "{err}"
        );
        let msg = err.to_string();
        assert!(msg.contains(":t/name") && msg.contains("\"ann\""), "{msg}");
        // A temp id asserting the value upserts to the holder instead.
        let r = db
            .transact_at(
                vec![
                    add(temp("c"), ":t/name", InputValue::String("ann".into())),
                    add(temp("c"), ":t/age", InputValue::Long(40)),
                ],
                6,
            )
            .await
            .unwrap();
        assert_eq!(r.tempids["c"], a);
    });
}

#[test]
fn attributes_defined_in_a_transaction_are_usable_in_it() {
    rt().block_on(async {
        let db = fresh().await;
        let r = db
            .transact_at(
                vec![
                    add(temp("p"), ":t/color", kw(":red")),
                    add(temp("c"), ":db/ident", kw(":t/color")),
                    add(temp("c"), ":db/valueType", kw(":db.type/keyword")),
                    add(temp("c"), ":db/cardinality", kw(":db.cardinality/one")),
                ],
                5,
            )
            .await
            .unwrap();
        assert_eq!(
            eva_admin::model::partition_of(r.tempids["c"]),
            Some(Partition::Db)
        );
        let snap = db.snapshot().await.unwrap();
        assert_eq!(
            snap.entity_by_ident(":t/color").await.unwrap(),
            Some(r.tempids["c"])
        );
        let values = snap
            .current_values(r.tempids["p"], r.tempids["c"])
            .await
            .unwrap();
        assert_eq!(values, vec![Value::Keyword(":red".into())]);
    });
}

#[test]
fn create_refuses_a_taken_id_and_as_of_a_future_tx() {
    rt().block_on(async {
        let store = mem().await;
        let db = Database::create(store.clone(), "x").await.unwrap();
        let err = Database::create(store, "x").await.err().unwrap();
        assert!(matches!(err, DbError::DatabaseExists { .. }), "{err}");
        let err = db.as_of(1).await.err().unwrap();
        assert!(
            matches!(err, DbError::NoSuchTransaction { tx: 1, count: 1 }),
            "{err}"
        );
    });
}

#[test]
fn an_entry_left_by_a_crashed_writer_blocks_the_next_tx_number() {
    rt().block_on(async {
        let store = mem().await;
        let (db, _) = setup(store.clone(), TreeShape::default()).await;
        // A writer that created entry 2 and died before moving the head.
        let mut dangling = db.entry(1).await.unwrap();
        dangling.tx = 2;
        let key = eva_admin::model::entry_key(&db.info().tx_log, 2);
        let bytes = eva_admin::model::encode_at(&key, &Node::TxLogEntry(dangling));
        store.create(db.id(), &key, &bytes).await.unwrap();
        let err = refused(&db, vec![add(temp("x"), ":t/age", InputValue::Long(1))]).await;
        assert!(matches!(err, DbError::ConcurrentWrite { .. }), "{err}");
        assert!(err.to_string().contains(&key), "{err}");
        assert_eq!(db.snapshot().await.unwrap().tx(), 1);
    });
}

#[test]
fn idents_name_entities_and_ref_values() {
    rt().block_on(async {
        let db = fresh().await;
        let r = db
            .transact_at(vec![add(temp("x"), ":db/ident", kw(":e/alice"))], 5)
            .await
            .unwrap();
        let alice = r.tempids["x"];
        let r = db
            .transact_at(
                vec![
                    add(
                        EntityRef::Ident(":e/alice".into()),
                        ":t/age",
                        InputValue::Long(30),
                    ),
                    add(temp("bob"), ":t/friend", kw(":e/alice")),
                ],
                6,
            )
            .await
            .unwrap();
        let snap = db.snapshot().await.unwrap();
        let friend = snap.current_values(
            r.tempids["bob"],
            snap.schema().by_ident(":t/friend").unwrap().id,
        );
        assert_eq!(friend.await.unwrap(), vec![Value::Ref(alice)]);
        let q = prefix(vec![Component::Value(Value::Ref(alice))], false);
        assert_eq!(snap.datoms(Index::Vaet, &q).await.unwrap().len(), 1);
    });
}

#[test]
fn database_futures_can_be_spawned() {
    fn send<T: Send>(_: &T) {}
    rt().block_on(async {
        let db = fresh().await;
        send(&db.transact(Vec::new()));
        send(&db.snapshot());
        send(&Database::create(mem().await, "y"));
        let snap = db.snapshot().await.unwrap();
        send(&snap.datoms(Index::Eavt, &DatomQuery::default()));
        let handle = tokio::spawn(async move { db.transact_at(Vec::new(), 1).await.map(|r| r.tx) });
        assert_eq!(handle.await.unwrap().unwrap(), 2);
    });
}

/// Format 2's compact datom lists on the demo generator's data: every
/// leaf's datoms and every entry's novelty come back as they went in, at
/// least 6 bytes a datom smaller than format 1 stores them (the figures
/// are printed).
#[test]
fn compact_lists_hold_generated_leaves_and_novelty_in_fewer_bytes() {
    use eva_admin::db::generate::{GenerateOptions, generate};
    use eva_admin::model::{decode_datoms, encode_datoms};
    rt().block_on(async {
        let store = mem().await;
        let db = Database::create(store.clone(), "gen").await.unwrap();
        let options = GenerateOptions {
            txs: 200,
            datoms_per_tx: 10,
            seed: 7,
        };
        generate(&db, &options, |_| ()).await.unwrap();
        // (format 1's bytes, compact bytes, datoms) of the datom lists of
        // leaves and of entries.
        let mut leaves = (0, 0, 0);
        let mut entries = (0, 0, 0);
        let mut after = None::<String>;
        loop {
            let page = store.scan("gen", after.as_deref(), 1000).await.unwrap();
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            for (_, bytes) in &page {
                let (index, datoms, tally) = match decode(bytes) {
                    Ok(Node::IndexLeaf(leaf)) => (leaf.index, leaf.datoms, &mut leaves),
                    Ok(Node::TxLogEntry(entry)) => (Index::Eavt, entry.datoms, &mut entries),
                    _ => continue,
                };
                let mut compact = Vec::new();
                encode_datoms(index, &datoms, &mut compact);
                assert_eq!(decode_datoms(index, &compact).unwrap(), datoms);
                tally.0 += postcard::to_allocvec(&datoms).unwrap().len();
                tally.1 += compact.len();
                tally.2 += datoms.len();
            }
        }
        for (what, (stored, compact, datoms)) in [("leaves", leaves), ("novelty", entries)] {
            println!(
                "{what}: {datoms} datoms, format 1 {:.1} B a datom, compact datoms {:.1} B a datom",
                stored as f64 / datoms as f64,
                compact as f64 / datoms as f64
            );
            // Beside its value a datom keeps 2–5 bytes of format 1's 9–11.
            assert!(
                datoms > 0 && stored - compact >= 6 * datoms,
                "{what}: {compact} vs {stored}"
            );
        }
    });
}

// ---------------------------------------------------------------- group commit

/// Transactions built in one batch, a schema change among them, give the
/// database the same transactions committed one by one give, in both
/// formats; nothing of a batch is visible before its commit.
#[test]
fn a_batch_is_the_same_transactions_committed_one_by_one() {
    rt().block_on(async {
        for shape in [SMALL, SMALL_V2] {
            let (one, _) = setup(mem().await, shape).await;
            let (batched, _) = setup(mem().await, shape).await;
            let txs: Vec<Vec<TxOp>> = (0..40)
                .map(|i| {
                    let mut ops = vec![add(
                        temp("p"),
                        ":t/name",
                        InputValue::String(format!("n{i}")),
                    )];
                    if i == 17 {
                        // A new attribute, used in the same batch afterwards.
                        ops.push(add(temp("x"), ":db/ident", kw(":t/extra")));
                        ops.push(add(temp("x"), ":db/valueType", kw(":db.type/long")));
                        ops.push(add(temp("x"), ":db/cardinality", kw(":db.cardinality/one")));
                    }
                    if i > 17 {
                        ops.push(add(temp("p"), ":t/extra", InputValue::Long(i)));
                    }
                    ops
                })
                .collect();
            for (i, ops) in txs.iter().enumerate() {
                one.transact_with(ops.clone(), 10 + i as i64, shape)
                    .await
                    .unwrap();
            }
            let before = batched.head().await.unwrap().count;
            let mut batch = batched.batch().await.unwrap();
            for (i, ops) in txs.iter().enumerate() {
                batch
                    .transact(ops.clone(), 10 + i as i64, Some(shape))
                    .await
                    .unwrap();
            }
            assert_eq!(batch.pending(), 40);
            assert_eq!(
                batched.head().await.unwrap().count,
                before,
                "nothing visible yet"
            );
            batch.commit().await.unwrap();
            drop(batch);
            let (a, b) = (
                one.snapshot().await.unwrap(),
                batched.snapshot().await.unwrap(),
            );
            assert_eq!(a.tx(), b.tx());
            for index in Index::ALL {
                assert_eq!(
                    a.datoms(index, &all(true)).await.unwrap(),
                    b.datoms(index, &all(true)).await.unwrap(),
                    "{index:?} {shape:?}"
                );
            }
            // A reader that did not write it sees the same.
            let reopened = Database::open(batched.store().clone(), "db-test")
                .await
                .unwrap();
            let r = reopened.snapshot().await.unwrap();
            assert_eq!(
                r.datoms(Index::Aevt, &all(false)).await.unwrap(),
                a.datoms(Index::Aevt, &all(false)).await.unwrap()
            );
        }
    });
}
