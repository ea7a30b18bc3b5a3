//! Rebuild mode, specified by its properties: the source's transactions
//! replayed through transaction-level transforms — the example plugins
//! compiled from `plugins/` (rename-attribute in Rust, redact in Python,
//! drop-attribute in JavaScript), and misbehaving ones written here — into
//! a destination built fresh by our writer. Every scenario ends in `verify_rebuild` or an exact comparison
//! of the indexes.

mod common;

use std::sync::Arc;
use std::time::Duration;

use eva_admin::db::ReplayRule;
use eva_admin::db::{Component, Database, DatomQuery, EntityRef, InputValue, TreeShape, TxOp};
use eva_admin::migrate::{
    self, CopyStats, MigrateError, MigrateOptions, MigrationObserver, MigrationReport,
    MigrationState, NoObserver, TxRule, TxXform, VerifyOptions, XformFailure, XformTx,
};
use eva_admin::model::{
    self, Datom, EntityId, Format, Index, Partition, Value, builtin, entity_id,
};
use eva_admin::plugin::{PluginOptions, load_tx_xforms};
use eva_admin::store::{self, Counters, InstrumentedStore, MemStore, ValueStore};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

const DB: &str = "demo";

// ---------------------------------------------------------------- source

/// The attributes the source defines, by ident.
const EMAIL: &str = ":user/email";
const MANAGER: &str = ":user/manager";
const NAME: &str = ":person/name";
const SECRET: &str = ":person/secret";
const AGE: &str = ":person/age";
const TAGS: &str = ":person/tags";

fn schema_ops() -> Vec<TxOp> {
    let attr = |ident: &str, ty: &str, many: bool, unique: bool| {
        let e = EntityRef::Temp(ident.to_string());
        let kw = |a: &str, v: &str| TxOp::Add {
            e: e.clone(),
            a: a.into(),
            v: InputValue::Keyword(v.into()),
        };
        let mut ops = vec![
            kw(":db/ident", ident),
            kw(":db/valueType", ty),
            kw(
                ":db/cardinality",
                if many {
                    ":db.cardinality/many"
                } else {
                    ":db.cardinality/one"
                },
            ),
        ];
        if unique {
            ops.push(kw(":db/unique", ":db.unique/identity"));
        }
        ops
    };
    [
        attr(EMAIL, ":db.type/string", false, true),
        attr(MANAGER, ":db.type/ref", false, false),
        attr(NAME, ":db.type/string", false, false),
        attr(SECRET, ":db.type/string", false, false),
        attr(AGE, ":db.type/long", false, false),
        attr(TAGS, ":db.type/keyword", true, false),
    ]
    .concat()
}

/// A source database of people that grows by [`Source::grow`]: new people
/// (email, name, secret, age, manager, a tag) and updates of earlier ones
/// (which retract the replaced values).
struct Source {
    db: Database,
    /// The ident of the name attribute (the source may rename it).
    name: &'static str,
    people: Vec<EntityId>,
    rng: ChaCha8Rng,
}

impl Source {
    async fn create(store: Arc<dyn ValueStore>) -> Source {
        Source::create_in(store, TreeShape::default()).await
    }

    async fn create_in(store: Arc<dyn ValueStore>, shape: TreeShape) -> Source {
        let db = Database::create_with(store, DB, 1_000, shape)
            .await
            .unwrap();
        db.transact_at(schema_ops(), 1_001).await.unwrap();
        Source {
            db,
            name: NAME,
            people: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(11),
        }
    }

    async fn grow(&mut self, txs: usize) {
        for _ in 0..txs {
            let n = self.db.head().await.unwrap().count;
            let ops = if self.people.len() < 5 || self.rng.random_bool(0.5) {
                self.new_person(n)
            } else {
                self.update(n)
            };
            let report = self.db.transact_at(ops, 2_000 + n as i64).await.unwrap();
            self.people.extend(report.tempids.values().copied());
        }
    }

    fn new_person(&mut self, n: u64) -> Vec<TxOp> {
        let e = EntityRef::Temp("p".into());
        let add = |a: &str, v: InputValue| TxOp::Add {
            e: e.clone(),
            a: a.into(),
            v,
        };
        let mut ops = vec![
            add(EMAIL, InputValue::String(format!("u{n}@example.org"))),
            add(self.name, InputValue::String(format!("name-{n}"))),
            add(SECRET, InputValue::String(secret(n, self.rng.random()))),
            add(AGE, InputValue::Long(self.rng.random_range(18..90))),
            add(TAGS, InputValue::Keyword(format!(":tag/t{}", n % 7))),
        ];
        if let Some(&boss) = self
            .people
            .get(self.rng.random_range(0..self.people.len().max(1)))
        {
            ops.push(add(MANAGER, InputValue::Long(boss as i64)));
        }
        ops
    }

    fn update(&mut self, n: u64) -> Vec<TxOp> {
        let who = self.people[self.rng.random_range(0..self.people.len())];
        let e = EntityRef::Id(who);
        let add = |a: &str, v: InputValue| TxOp::Add {
            e: e.clone(),
            a: a.into(),
            v,
        };
        match self.rng.random_range(0..5) {
            0 => vec![add(self.name, InputValue::String(format!("renamed-{n}")))],
            1 => vec![add(
                SECRET,
                InputValue::String(secret(n, self.rng.random())),
            )],
            2 => vec![
                add(AGE, InputValue::Long(self.rng.random_range(18..90))),
                add(TAGS, InputValue::Keyword(format!(":tag/t{}", n % 5))),
            ],
            3 => vec![TxOp::Retract {
                e: e.clone(),
                a: TAGS.into(),
                v: InputValue::Keyword(format!(":tag/t{}", self.rng.random_range(0..7))),
            }],
            _ => {
                let boss = self.people[self.rng.random_range(0..self.people.len())];
                vec![add(MANAGER, InputValue::Long(boss as i64))]
            }
        }
    }

    fn store(&self) -> Arc<dyn ValueStore> {
        self.db.store().clone()
    }

    async fn count(&self) -> u64 {
        self.db.head().await.unwrap().count
    }

    async fn attr(&self, ident: &str) -> EntityId {
        let snapshot = self.db.snapshot().await.unwrap();
        snapshot.schema().by_ident(ident).unwrap().id
    }
}

/// A secret nobody would type by chance, so a byte scan finds only it.
fn secret(n: u64, salt: u32) -> String {
    format!("s3cr3t-{n:05}-{salt:08x}")
}

async fn source(txs: usize) -> Source {
    let mut source = Source::create(mem()).await;
    source.grow(txs).await;
    source
}

fn mem() -> Arc<dyn ValueStore> {
    Arc::new(MemStore::open(None))
}

async fn sled(dir: &tempfile::TempDir, name: &str) -> Arc<dyn ValueStore> {
    store::open(&format!("sled:{}", dir.path().join(name).display()))
        .await
        .unwrap()
}

async fn sqlite(dir: &tempfile::TempDir, name: &str) -> Arc<dyn ValueStore> {
    store::open(&format!("sqlite:{}", dir.path().join(name).display()))
        .await
        .unwrap()
}

// ---------------------------------------------------------------- transforms

type Rewrite = Box<dyn FnMut(XformTx) -> Result<XformTx, XformFailure> + Send>;

/// A transform written in the test: a name and a function of the transaction.
struct Native {
    name: String,
    f: Rewrite,
}

impl TxXform for Native {
    fn name(&self) -> &str {
        &self.name
    }
    fn transform_tx(&mut self, tx: XformTx) -> Result<XformTx, XformFailure> {
        (self.f)(tx)
    }
    fn finish(&mut self) -> Result<String, XformFailure> {
        Ok(format!("{} done", self.name))
    }
}

fn native(
    name: &str,
    f: impl FnMut(XformTx) -> Result<XformTx, XformFailure> + Send + 'static,
) -> Box<dyn TxXform> {
    Box::new(Native {
        name: name.to_string(),
        f: Box::new(f),
    })
}

/// A guest compiled from `plugins/` (by `bash plugins/build.sh`), loaded
/// for rebuild mode with its configuration pairs.
fn guest(name: &str, config: &[(&str, &str)]) -> Box<dyn TxXform> {
    let path = common::plugin_fixtures::guest(name);
    let options = PluginOptions {
        cache_dir: Some(common::plugin_fixtures::cache_dir()),
        ..PluginOptions::default()
    };
    let config = config
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut loaded = load_tx_xforms(&[(path, config)], &options).unwrap();
    loaded.pop().unwrap()
}

/// The `rename-attribute` guest (Rust): renames attribute `from` to `to`,
/// its datoms and its `:db/ident`.
fn rename(from: &str, to: &str) -> Box<dyn TxXform> {
    guest("rename-attribute", &[("from", from), ("to", to)])
}

/// The redacted form of a value: HMAC-SHA256 of the value under the key, in hex.
fn keyed_hash(key: &str, value: &str) -> String {
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key.as_bytes());
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(value.as_bytes())
        .finalize();
    let outer = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `redact` guest (Python): replaces every value of `attr` by its keyed hash.
fn redact(attr: &str, key: &str) -> Box<dyn TxXform> {
    guest("redact", &[("attributes", attr), ("key", key)])
}

/// The `drop-attribute` guest (JavaScript): drops attribute `attr`, its
/// datoms and the datoms of the entity that defines it.
fn drop_attribute(attr: &str) -> Box<dyn TxXform> {
    guest("drop-attribute", &[("attributes", attr)])
}

// ---------------------------------------------------------------- helpers

fn options() -> MigrateOptions {
    MigrateOptions {
        log_every: 10,
        checkpoint_interval: Duration::ZERO,
        ..MigrateOptions::default()
    }
}

async fn rebuild_with(
    src: Arc<dyn ValueStore>,
    dst: Arc<dyn ValueStore>,
    options: &MigrateOptions,
    mut xforms: Vec<Box<dyn TxXform>>,
) -> Result<MigrationReport, MigrateError> {
    migrate::rebuild(src, dst, DB, options, &mut xforms, &mut NoObserver).await
}

async fn rebuild(
    src: Arc<dyn ValueStore>,
    dst: Arc<dyn ValueStore>,
    xforms: Vec<Box<dyn TxXform>>,
) -> MigrationReport {
    rebuild_with(src, dst, &options(), xforms).await.unwrap()
}

/// `dst` equals the source rebuilt through `xforms` (fresh instances).
async fn assert_rebuilt(
    src: Arc<dyn ValueStore>,
    dst: Arc<dyn ValueStore>,
    mut xforms: Vec<Box<dyn TxXform>>,
) {
    let report = migrate::verify_rebuild(src, dst, DB, &mut xforms, &VerifyOptions::default())
        .await
        .unwrap();
    assert!(report.is_equal(), "differences: {:#?}", report.differences);
    assert!(report.entries_compared > 0 && report.nodes_checked > 0);
}

/// Every datom of `index` with history, as of the latest transaction.
async fn history(store: Arc<dyn ValueStore>, index: Index) -> Vec<Datom> {
    let db = Database::open(store, DB).await.unwrap();
    let all = DatomQuery {
        history: true,
        ..DatomQuery::default()
    };
    db.snapshot()
        .await
        .unwrap()
        .datoms(index, &all)
        .await
        .unwrap()
}

/// Every key and value stored in the database's namespace.
async fn stored_bytes(store: &dyn ValueStore) -> Vec<(String, Vec<u8>)> {
    let mut after: Option<String> = None;
    let mut out = Vec::new();
    loop {
        let page = store.scan(DB, after.as_deref(), 500).await.unwrap();
        let Some((last, _)) = page.last() else {
            return out;
        };
        after = Some(last.clone());
        out.extend(page);
    }
}

fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn created(counters: &Counters) -> u64 {
    Counters::get(&counters.keys_created)
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn a_rename_over_1000_transactions_answers_by_the_new_name_in_every_index() {
    let source = source(1000).await;
    let src = source.store();
    let (email, manager) = (source.attr(EMAIL).await, source.attr(MANAGER).await);
    let dst = mem();
    let chain = || {
        vec![
            rename(EMAIL, ":person/email"),
            rename(MANAGER, ":person/manager"),
        ]
    };
    let report = rebuild(src.clone(), dst.clone(), chain()).await;
    assert_eq!((report.start, report.end), (0, 1002));
    assert_eq!(report.plugins.len(), 2);
    assert!(
        report.plugins[0]
            .report
            .starts_with("rename-attribute: :user/email -> :person/email, "),
        "{}",
        report.plugins[0].report
    );

    let db = Database::open(dst.clone(), DB).await.unwrap();
    let now = db.snapshot().await.unwrap();
    assert_eq!(now.schema().by_ident(":person/email").unwrap().id, email);
    assert_eq!(
        now.schema().by_ident(":person/manager").unwrap().id,
        manager
    );
    assert!(now.schema().by_ident(EMAIL).is_none());
    assert!(now.schema().by_ident(MANAGER).is_none());
    assert_eq!(
        now.entity_by_ident(":person/email").await.unwrap(),
        Some(email)
    );
    assert_eq!(now.entity_by_ident(EMAIL).await.unwrap(), None);

    // Every index holds the source's datoms, the idents renamed.
    let renamed = |mut d: Datom| {
        if d.a == builtin::IDENT {
            if d.v == Value::Keyword(EMAIL.into()) {
                d.v = Value::Keyword(":person/email".into());
            } else if d.v == Value::Keyword(MANAGER.into()) {
                d.v = Value::Keyword(":person/manager".into());
            }
        }
        d
    };
    for index in Index::ALL {
        let mut expected: Vec<Datom> = history(src.clone(), index)
            .await
            .into_iter()
            .map(renamed)
            .collect();
        expected.sort_by(|x, y| index.cmp(x, y));
        assert_eq!(history(dst.clone(), index).await, expected, "{index:?}");
    }

    // Queries by the new name, one per index.
    let by = |index, start: Vec<Component>| {
        let now = &now;
        async move {
            let q = DatomQuery {
                start,
                ..DatomQuery::default()
            };
            now.datoms(index, &q).await.unwrap()
        }
    };
    let a = now.schema().by_ident(":person/email").unwrap().id;
    let emails = by(Index::Aevt, vec![Component::Id(a)]).await;
    assert!(emails.len() > 400, "{} current emails", emails.len());
    let someone = &emails[emails.len() / 2];
    let found = by(
        Index::Avet,
        vec![Component::Id(a), Component::Value(someone.v.clone())],
    )
    .await;
    assert_eq!(
        found.iter().map(|d| d.e).collect::<Vec<_>>(),
        vec![someone.e]
    );
    let eavt = by(
        Index::Eavt,
        vec![Component::Id(someone.e), Component::Id(a)],
    )
    .await;
    assert_eq!(eavt, vec![someone.clone()]);
    let m = now.schema().by_ident(":person/manager").unwrap().id;
    let managed = by(Index::Aevt, vec![Component::Id(m)]).await;
    let boss = managed[0].v.as_ref_id().unwrap();
    let reports = by(Index::Vaet, vec![Component::Id(boss), Component::Id(m)]).await;
    let expected: Vec<EntityId> = managed
        .iter()
        .filter(|d| d.v == Value::Ref(boss))
        .map(|d| d.e)
        .collect();
    assert_eq!(reports.iter().map(|d| d.e).collect::<Vec<_>>(), expected);

    // Numbers and instants kept; the old names stored nowhere.
    let (s, d) = (Database::open(src.clone(), DB).await.unwrap(), db);
    for t in [0, 1, 500, 1001] {
        let (x, y) = (s.entry(t).await.unwrap(), d.entry(t).await.unwrap());
        assert_eq!((x.tx, x.instant), (y.tx, y.instant));
    }
    for (key, value) in stored_bytes(dst.as_ref()).await {
        for old in [EMAIL, MANAGER] {
            assert!(!holds(&value, old.as_bytes()), "`{old}` found at `{key}`");
        }
    }
    assert_rebuilt(src, dst, chain()).await;
}

#[tokio::test]
async fn a_redaction_leaves_no_original_value_in_any_stored_byte() {
    let source = source(200).await;
    let src = source.store();
    let secret_attr = source.attr(SECRET).await;
    let originals: Vec<(EntityId, String)> = history(src.clone(), Index::Aevt)
        .await
        .into_iter()
        .filter(|d| d.a == secret_attr)
        .filter_map(|d| match d.v {
            Value::String(s) => Some((d.e, s)),
            _ => None,
        })
        .collect();
    assert!(originals.len() > 100);
    let dir = tempfile::tempdir().unwrap();
    let dst = sqlite(&dir, "dst.sqlite").await;
    rebuild(src.clone(), dst.clone(), vec![redact(SECRET, "k")]).await;

    let stored = stored_bytes(dst.as_ref()).await;
    assert!(stored.len() > 200);
    for (_, original) in &originals {
        for (key, value) in &stored {
            assert!(
                !holds(value, original.as_bytes()),
                "`{original}` found at `{key}`"
            );
        }
    }
    // What stands in its place is the keyed hash, current where it was.
    let now = Database::open(dst.clone(), DB)
        .await
        .unwrap()
        .snapshot()
        .await
        .unwrap();
    let before = Database::open(src.clone(), DB)
        .await
        .unwrap()
        .snapshot()
        .await
        .unwrap();
    let (e, _) = &originals[originals.len() / 2];
    let current = before.current_values(*e, secret_attr).await.unwrap();
    let Value::String(plain) = &current[0] else {
        panic!("a secret is a string")
    };
    assert_eq!(
        now.current_values(*e, secret_attr).await.unwrap(),
        vec![Value::String(keyed_hash("k", plain))]
    );
    assert_rebuilt(src, dst, vec![redact(SECRET, "k")]).await;
}

#[tokio::test]
async fn dropping_an_attribute_removes_it_from_the_schema_and_every_index() {
    let source = source(200).await;
    let src = source.store();
    let age = source.attr(AGE).await;
    let dir = tempfile::tempdir().unwrap();
    let dst = sled(&dir, "dst").await;
    rebuild(src.clone(), dst.clone(), vec![drop_attribute(AGE)]).await;

    let now = Database::open(dst.clone(), DB)
        .await
        .unwrap()
        .snapshot()
        .await
        .unwrap();
    assert!(now.schema().by_ident(AGE).is_none());
    assert!(now.schema().by_id(age).is_none());
    assert!(now.schema().by_ident(NAME).is_some());
    for index in Index::ALL {
        let mut expected = history(src.clone(), index).await;
        let before = expected.len();
        expected.retain(|d| d.a != age && d.e != age);
        assert!(index == Index::Vaet || expected.len() < before, "{index:?}");
        assert_eq!(history(dst.clone(), index).await, expected, "{index:?}");
    }
    assert_rebuilt(src, dst, vec![drop_attribute(AGE)]).await;
}

/// The upgrade path: a format 1 source rebuilt through no transform is a
/// format 2 database with every view equal, in a fraction of the bytes.
#[tokio::test]
async fn a_rebuild_through_no_transform_upgrades_format_1_to_format_2() {
    let source = source(120).await;
    let src = source.store();
    let dst = mem();
    let mut progress = Progress::default();
    let report = migrate::rebuild(
        src.clone(),
        dst.clone(),
        DB,
        &options(),
        &mut [],
        &mut progress,
    )
    .await
    .unwrap();
    assert_eq!(progress.started, Some((0, 122)));
    assert_eq!(progress.entries, 122);
    assert_eq!(progress.checkpoints, 13);
    assert!(progress.finished);
    assert!(report.stats.nodes_written > 122);
    assert_rebuilt(src.clone(), dst.clone(), Vec::new()).await;

    let (s, d) = (
        Database::open(src.clone(), DB).await.unwrap(),
        Database::open(dst.clone(), DB).await.unwrap(),
    );
    for t in 0..122 {
        let (se, de) = (s.entry(t).await.unwrap(), d.entry(t).await.unwrap());
        assert_eq!(se.format(), Format::V1);
        assert_eq!(de.format(), Format::V2, "entry {t}");
        assert_eq!(
            (se.instant, &se.datoms),
            (de.instant, &de.datoms),
            "entry {t}"
        );
    }
    for index in Index::ALL {
        assert_eq!(
            history(src.clone(), index).await,
            history(dst.clone(), index).await
        );
    }
    let current = DatomQuery::default();
    for t in [1, 40, 97, 121] {
        let (sv, dv) = (s.as_of(t).await.unwrap(), d.as_of(t).await.unwrap());
        for index in Index::ALL {
            assert_eq!(
                sv.datoms(index, &current).await.unwrap(),
                dv.datoms(index, &current).await.unwrap(),
                "{index:?} as of {t}"
            );
        }
    }
    let bytes = |pairs: Vec<(String, Vec<u8>)>| pairs.iter().map(|(_, v)| v.len()).sum::<usize>();
    let (before, after) = (
        bytes(stored_bytes(src.as_ref()).await),
        bytes(stored_bytes(dst.as_ref()).await),
    );
    assert!(after * 5 < before, "{before} bytes became {after}");
    assert_eq!(s.info().tx_log, d.info().tx_log);
    assert_ne!(
        s.info().identity,
        d.info().identity,
        "a rebuild is another database"
    );
}

/// A format 2 source rebuilt through no transform is the source byte for
/// byte, but its identity: the writer and the replayer share one
/// transaction engine and index at the same points.
#[tokio::test]
async fn a_rebuild_of_format_2_through_no_transform_is_the_source_byte_for_byte() {
    let mut source = Source::create_in(mem(), TreeShape::format2()).await;
    for _ in 0..12 {
        source.grow(10).await;
    }
    let src = source.store();
    let dst = mem();
    rebuild_with(src.clone(), dst.clone(), &options(), Vec::new())
        .await
        .unwrap();
    let (s, d) = (
        Database::open(src.clone(), DB).await.unwrap(),
        Database::open(dst.clone(), DB).await.unwrap(),
    );
    let count = s.head().await.unwrap().count;
    assert_eq!(d.head().await.unwrap().count, count);
    for t in 0..count {
        let key = model::entry_key(&s.info().tx_log, t);
        assert_eq!(
            src.get(DB, &key).await.unwrap(),
            dst.get(DB, &key).await.unwrap(),
            "entry {t}"
        );
    }
    let check = migrate::verify(src, dst, DB, &VerifyOptions::default())
        .await
        .unwrap();
    assert!(check.is_equal(), "{:?}", check.differences);
}

#[tokio::test]
async fn a_source_that_renames_an_attribute_itself_is_named_as_of_each_transaction() {
    let mut source = source(30).await;
    let name = source.attr(NAME).await;
    let rename_in_source = vec![TxOp::Add {
        e: EntityRef::Id(name),
        a: ":db/ident".into(),
        v: InputValue::Keyword(":person/full-name".into()),
    }];
    source
        .db
        .transact_at(rename_in_source, 5_000)
        .await
        .unwrap();
    source.name = ":person/full-name";
    let mut renamed_later = source.db.snapshot().await.unwrap().schema().clone();
    assert!(renamed_later.by_ident(NAME).is_none());
    source.grow(30).await;
    renamed_later = source.db.snapshot().await.unwrap().schema().clone();
    assert_eq!(
        renamed_later.by_ident(":person/full-name").unwrap().id,
        name
    );
    // Transforms see each transaction's names as of it: the old name
    // before the rename, the new one after.
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let spy = native("spy", move |tx| {
        for d in tx.datoms.iter().filter(|d| d.a.contains("name")) {
            log.lock().unwrap().push((tx.tx, d.a.clone()));
        }
        Ok(tx)
    });
    let src = source.store();
    let dst = mem();
    rebuild(src.clone(), dst.clone(), vec![spy]).await;
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter().all(|(t, a)| (*t < 32) == (a == NAME)),
        "{seen:?}"
    );
    assert_rebuilt(src, dst, vec![native("spy", Ok)]).await;
}

#[tokio::test]
async fn a_rename_onto_an_existing_ident_breaks_uniqueness() {
    let source = source(10).await;
    let dst = mem();
    let err = rebuild_with(
        source.store(),
        dst.clone(),
        &options(),
        vec![rename(EMAIL, NAME)],
    )
    .await
    .unwrap_err();
    let MigrateError::TxRejected(rejection) = &err else {
        panic!("{err}");
    };
    assert_eq!(rejection.tx, 1, "the schema transaction");
    assert!(
        matches!(&rejection.rule, TxRule::Datom(ReplayRule::Unique { attribute, .. }) if attribute == ":db/ident"),
        "{err}"
    );
}

#[tokio::test]
async fn a_transform_breaking_a_rule_is_stopped_naming_it_and_the_roots_stay() {
    type Fault = fn(&mut XformTx);
    let faults: [(&str, Fault); 4] = [
        ("unknown attribute", |tx| {
            for d in tx.datoms.iter_mut().filter(|d| d.a == NAME) {
                d.a = ":nope/name".into();
            }
        }),
        ("wrong value type", |tx| {
            for d in &mut tx.datoms {
                d.v = match &d.v {
                    Value::Long(n) => Value::String(n.to_string()),
                    v => v.clone(),
                };
            }
        }),
        ("changed tx number", |tx| tx.tx += 1),
        ("invented entity", |tx| {
            if let Some(d) = tx.datoms.first_mut() {
                d.e = entity_id(Partition::User, 1 << 30);
            }
        }),
    ];
    for (what, fault) in faults {
        let mut source = source(40).await;
        let src = source.store();
        let dst = mem();
        // A transform that behaves until transaction `from`.
        let faulty = |from: u64| {
            native("rewrite", move |mut tx| {
                if tx.tx >= from && tx.datoms.iter().any(|d| d.a == NAME || d.a == AGE) {
                    fault(&mut tx);
                }
                Ok(tx)
            })
        };
        rebuild(src.clone(), dst.clone(), vec![faulty(u64::MAX)]).await;
        let end = source.count().await;
        source.grow(20).await;
        let info = dst.get(DB, DB).await.unwrap();
        let tx_log = Database::open(dst.clone(), DB)
            .await
            .unwrap()
            .info()
            .tx_log
            .clone();
        let head = dst.get(DB, &tx_log).await.unwrap();

        let err = rebuild_with(src.clone(), dst.clone(), &options(), vec![faulty(end + 3)])
            .await
            .unwrap_err();
        let text = err.to_string();
        let MigrateError::TxRejected(rejection) = &err else {
            panic!("{what}: {text}");
        };
        assert_eq!(rejection.plugin, "rewrite", "{what}");
        assert!(rejection.tx >= end + 3, "{what}: {text}");
        match what {
            "unknown attribute" => assert!(
                matches!(&rejection.rule, TxRule::Datom(ReplayRule::UnknownAttribute { ident }) if ident == ":nope/name"),
                "{text}"
            ),
            "wrong value type" => assert!(
                matches!(
                    rejection.rule,
                    TxRule::Datom(ReplayRule::WrongValueType { .. })
                ),
                "{text}"
            ),
            "changed tx number" => assert!(
                matches!(rejection.rule, TxRule::ChangedTx { from, to } if to == from + 1),
                "{text}"
            ),
            _ => assert!(
                matches!(
                    rejection.rule,
                    TxRule::Datom(ReplayRule::UnissuedEntity { .. })
                ),
                "{text}"
            ),
        }
        assert!(
            text.contains("`rewrite`") && text.contains(&format!("transaction {}", rejection.tx)),
            "{text}"
        );
        if let Some(datom) = &rejection.datom {
            assert!(text.contains(&datom.to_string()), "{text}");
        }
        assert_eq!(
            dst.get(DB, DB).await.unwrap(),
            info,
            "{what}: database-info untouched"
        );
        assert_eq!(
            dst.get(DB, &tx_log).await.unwrap(),
            head,
            "{what}: head untouched"
        );
        let (status, _) = migrate::read_status(dst.as_ref(), DB, "migration-status")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(status.state, MigrationState::InProgress, "{what}");

        // Fixed, the same command goes on and finishes.
        rebuild(src.clone(), dst.clone(), vec![faulty(u64::MAX)]).await;
        assert_rebuilt(src, dst, vec![faulty(u64::MAX)]).await;
    }
}

#[tokio::test]
async fn a_rule_broken_in_a_chain_names_the_transform_that_broke_it() {
    let source = source(20).await;
    let dst = mem();
    let invent = native("invent", |mut tx| {
        for d in &mut tx.datoms {
            if let Value::Ref(_) = d.v {
                d.v = Value::Ref(entity_id(Partition::User, 1 << 30));
            }
        }
        Ok(tx)
    });
    let err = rebuild_with(
        source.store(),
        dst.clone(),
        &options(),
        vec![rename(EMAIL, ":person/email"), invent],
    )
    .await
    .unwrap_err();
    let MigrateError::TxRejected(rejection) = &err else {
        panic!("{err}");
    };
    assert_eq!(rejection.plugin, "invent", "{err}");
    assert!(err.to_string().contains("never issued"), "{err}");
    assert!(dst.get(DB, DB).await.unwrap().is_none(), "no database-info");
}

#[tokio::test]
async fn an_interrupted_rebuild_resumes_to_an_equal_database_wherever_it_stopped() {
    let source = source(60).await;
    let src = source.store();
    let xforms = || vec![rename(EMAIL, ":person/email")];
    let probe = Arc::new(InstrumentedStore::new(mem()));
    rebuild(src.clone(), probe.clone(), xforms()).await;
    let total = created(&probe.counters);
    assert!(total > 62, "{total} keys: more than the entries");

    let mut resumed = Vec::new();
    for stop in [1, total / 5, total / 2, total * 4 / 5, total - 1, total] {
        let dst = mem();
        let failing = Arc::new(InstrumentedStore::new(dst.clone()).failing_after(stop));
        let err = rebuild_with(src.clone(), failing, &options(), xforms())
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("injected failure"),
            "{stop}: {err}"
        );
        assert!(
            dst.get(DB, DB).await.unwrap().is_none(),
            "{stop}: no root moved"
        );
        let resume_from = migrate::read_status(dst.as_ref(), DB, "migration-status")
            .await
            .unwrap()
            .and_then(|(s, _)| s.last_migrated)
            .map_or(0, |last| last + 1);

        let checked = Arc::new(InstrumentedStore::new(dst.clone()).checking_post_order());
        let report = rebuild_with(src.clone(), checked.clone(), &options(), xforms())
            .await
            .unwrap();
        assert_eq!(report.start, resume_from, "{stop}");
        resumed.push(resume_from);
        assert!(
            checked.violations().is_empty(),
            "{:?}",
            checked.violations()
        );
        assert_rebuilt(src.clone(), dst, xforms()).await;
    }
    assert!(
        resumed.iter().any(|&r| r > 0 && r < 62),
        "some runs resumed mid-log: {resumed:?}"
    );
}

#[tokio::test]
async fn a_resumed_rebuild_refuses_entries_that_would_differ() {
    let source = source(40).await;
    let src = source.store();
    let dst = mem();
    // No checkpoint before the failure: the resumed run replays from 0.
    let once = MigrateOptions {
        log_every: 1_000,
        checkpoint_interval: Duration::ZERO,
        ..MigrateOptions::default()
    };
    let failing = Arc::new(InstrumentedStore::new(dst.clone()).failing_after(30));
    rebuild_with(src.clone(), failing, &once, vec![redact(SECRET, "k1")])
        .await
        .unwrap_err();
    // Same name, another key: not the same transform.
    let err = rebuild_with(src.clone(), dst.clone(), &once, vec![redact(SECRET, "k2")])
        .await
        .unwrap_err();
    let MigrateError::ForeignNode { key } = &err else {
        panic!("{err}");
    };
    let tx_log = Database::open(src.clone(), DB)
        .await
        .unwrap()
        .info()
        .tx_log
        .clone();
    assert_eq!(
        *key,
        model::entry_key(&tx_log, 2),
        "the first entry with a secret"
    );
    assert!(dst.get(DB, DB).await.unwrap().is_none());
}

#[tokio::test]
async fn continuous_rebuilds_catch_up_and_a_trivial_run_writes_nothing() {
    let mut source = source(100).await;
    let src = source.store();
    let dir = tempfile::tempdir().unwrap();
    let dst = sled(&dir, "dst").await;
    let xforms = || vec![redact(SECRET, "k"), drop_attribute(AGE)];
    rebuild(src.clone(), dst.clone(), xforms()).await;
    assert_rebuilt(src.clone(), dst.clone(), xforms()).await;

    source.grow(50).await;
    let report = rebuild(src.clone(), dst.clone(), xforms()).await;
    assert_eq!((report.start, report.end), (102, 152));
    assert_eq!(report.previous_head, Some(102));
    assert_rebuilt(src.clone(), dst.clone(), xforms()).await;

    let counted = Arc::new(InstrumentedStore::new(dst.clone()));
    for _ in 0..2 {
        let report = rebuild(src.clone(), counted.clone(), xforms()).await;
        assert!(report.up_to_date);
    }
    assert_eq!(
        created(&counted.counters),
        0,
        "a trivial run creates no key"
    );
    assert_eq!(
        Counters::get(&counted.counters.replaces),
        0,
        "nor replaces one"
    );
}

#[tokio::test]
async fn a_destination_is_either_copied_or_rebuilt_never_both() {
    let source = source(30).await;
    let src = source.store();
    let rebuilt = mem();
    rebuild(src.clone(), rebuilt.clone(), vec![redact(SECRET, "k")]).await;
    let copied = mem();
    migrate::migrate(
        src.clone(),
        copied.clone(),
        DB,
        &options(),
        &mut [],
        &mut NoObserver,
    )
    .await
    .unwrap();

    let watched = Arc::new(InstrumentedStore::new(rebuilt.clone()));
    let err = migrate::migrate(
        src.clone(),
        watched.clone(),
        DB,
        &options(),
        &mut [],
        &mut NoObserver,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, MigrateError::RebuiltDestination { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("redact"), "{err}");

    let err = rebuild_with(
        src.clone(),
        watched.clone(),
        &options(),
        vec![redact(SECRET, "k"), drop_attribute(AGE)],
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, MigrateError::TransformsChanged { .. }),
        "{err}"
    );

    let err = rebuild_with(
        src.clone(),
        copied.clone(),
        &options(),
        vec![redact(SECRET, "k")],
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, MigrateError::NotRebuildable { what, .. } if what.contains("plain migration")),
        "{err}"
    );
    assert_eq!(created(&watched.counters), 0);
    assert_eq!(Counters::get(&watched.counters.replaces), 0);
}

#[tokio::test]
async fn a_dry_run_replays_and_writes_nothing() {
    let source = source(50).await;
    let dst = mem();
    let dry = MigrateOptions {
        dry_run: true,
        ..options()
    };
    let report = rebuild_with(source.store(), dst.clone(), &dry, vec![redact(SECRET, "k")])
        .await
        .unwrap();
    assert!(
        report.dry_run && report.stats.nodes_written > 50,
        "{:?}",
        report.stats
    );
    assert!(stored_bytes(dst.as_ref()).await.is_empty());
}

/// Counts what the observer hears.
#[derive(Default)]
struct Progress {
    started: Option<(u64, u64)>,
    entries: u64,
    checkpoints: u64,
    finished: bool,
}

impl MigrationObserver for Progress {
    fn started(&mut self, start: u64, end: u64) {
        self.started = Some((start, end));
    }
    fn entry_done(&mut self, _tx: u64, _stats: &CopyStats) {
        self.entries += 1;
    }
    fn checkpoint(&mut self, _tx: u64) {
        self.checkpoints += 1;
    }
    fn finished(&mut self, _stats: &CopyStats) {
        self.finished = true;
    }
}

/// The compiled `hostile` guest's rebuild modes (from transaction 2 on) are
/// stopped with the named rule, naming the plugin, the transaction and the
/// datom, before anything becomes visible in the destination.
#[tokio::test]
async fn a_hostile_plugin_is_stopped_with_the_named_rule() {
    let source = source(10).await;
    for mode in ["tx-unknown-attribute", "tx-wrong-type", "tx-changed-number"] {
        let dst = mem();
        let hostile = guest("hostile", &[("mode", mode)]);
        let err = rebuild_with(source.store(), dst.clone(), &options(), vec![hostile])
            .await
            .unwrap_err();
        let text = err.to_string();
        let MigrateError::TxRejected(rejection) = &err else {
            panic!("{mode}: {text}");
        };
        assert_eq!(
            (rejection.plugin.as_str(), rejection.tx),
            ("hostile", 2),
            "{text}"
        );
        let named = match &rejection.rule {
            TxRule::Datom(ReplayRule::UnknownAttribute { ident }) => {
                ident == ":no/such-attribute" && mode == "tx-unknown-attribute"
            }
            TxRule::Datom(ReplayRule::WrongValueType { .. }) => mode == "tx-wrong-type",
            TxRule::ChangedTx { from: 2, to: 3 } => mode == "tx-changed-number",
            _ => false,
        };
        assert!(named, "{mode}: {text}");
        if let Some(datom) = &rejection.datom {
            assert!(text.contains(&datom.to_string()), "{text}");
        }
        assert!(
            dst.get(DB, DB).await.unwrap().is_none(),
            "{mode}: no database-info"
        );
    }
}
