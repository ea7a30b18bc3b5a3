//! Damage and forks on real stores: bytes changed in a store after they
//! were written are named where they are read and never copied on, and a
//! source whose history parted from the one a destination was copied from
//! is refused before anything is written (docs/migration.md, "Checked on
//! every read" and "Forks").

mod common;

use std::sync::Arc;

use eva_admin::db::generate::{GenerateOptions, generate};
use eva_admin::db::{Database, DatomQuery, DbError, read_node};
use eva_admin::migrate::{self, MigrateError, MigrateOptions, NoObserver, VerifyOptions};
use eva_admin::model::{CodecError, Index, Node, Value, index_node_key};
use eva_admin::store::{self, ValueStore};
use proptest::prelude::*;
use tempfile::TempDir;

use common::servers::{postgres_url, sqlite_url};

const DB: &str = "demo";

/// A SQLite store in `dir` holding [`DB`] generated with `txs`
/// transactions from `seed`.
async fn generated(url: &str, txs: u64, seed: u64) -> Arc<dyn ValueStore> {
    let store = store::open(url).await.unwrap();
    let db = Database::create(store.clone(), DB).await.unwrap();
    grow(&db, txs, seed).await;
    store
}

async fn grow(db: &Database, txs: u64, seed: u64) {
    let options = GenerateOptions {
        txs,
        datoms_per_tx: 10,
        seed,
    };
    generate(db, &options, |_| {}).await.unwrap();
}

async fn run(
    src: &Arc<dyn ValueStore>,
    dst: &Arc<dyn ValueStore>,
) -> Result<migrate::MigrationReport, MigrateError> {
    migrate::migrate(
        src.clone(),
        dst.clone(),
        DB,
        &MigrateOptions::default(),
        &mut [],
        &mut NoObserver,
    )
    .await
}

/// The key of a leaf of the current EAVT tree holding a string value.
async fn leaf_with_a_string(store: &Arc<dyn ValueStore>) -> String {
    let db = Database::open(store.clone(), DB).await.unwrap();
    let last = db.head().await.unwrap().count - 1;
    let mut stack = vec![db.entry(last).await.unwrap().roots.eavt.unwrap()];
    while let Some(key) = stack.pop() {
        match read_node(store.as_ref(), DB, &key).await.unwrap().unwrap() {
            Node::IndexInner(inner) => stack.extend(inner.children),
            Node::IndexLeaf(leaf)
                if leaf
                    .datoms
                    .iter()
                    .any(|d| matches!(&d.v, Value::String(s) if s.len() > 3)) =>
            {
                return key;
            }
            _ => {}
        }
    }
    panic!("no leaf holds a string");
}

/// Changes the stored bytes at `key` in place (as a flipped bit on disk
/// would) with `edit`; returns the bytes it held.
async fn tamper(store: &Arc<dyn ValueStore>, key: &str, edit: impl Fn(&mut Vec<u8>)) -> Vec<u8> {
    let before = store.get(DB, key).await.unwrap().unwrap();
    let mut after = before.clone();
    edit(&mut after);
    assert_ne!(after, before);
    let outcome = store.replace(DB, key, Some(&before), &after).await.unwrap();
    assert!(outcome.replaced());
    before
}

/// Flips one bit of the middle byte of a stored value.
fn flip_the_middle_byte(bytes: &mut [u8]) {
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
}

/// `migrate --repair` of [`DB`] in `dst` from `src`.
async fn repair_from(
    src: &Arc<dyn ValueStore>,
    dst: &Arc<dyn ValueStore>,
) -> migrate::RepairReport {
    migrate::repair(
        src.as_ref(),
        dst.as_ref(),
        DB,
        migrate::DEFAULT_STATUS_SUFFIX,
    )
    .await
    .unwrap()
}

/// Changes one letter of the first string value longer than 3 bytes in
/// an encoded leaf: still a well-formed leaf, with other content.
fn change_a_letter(leaf: &mut [u8]) {
    let Ok(Node::IndexLeaf(decoded)) = eva_admin::model::decode(leaf) else {
        panic!("not a leaf");
    };
    let text = decoded
        .datoms
        .iter()
        .find_map(|d| match &d.v {
            Value::String(s) if s.len() > 3 => Some(s.clone()),
            _ => None,
        })
        .unwrap();
    let at = leaf
        .windows(text.len())
        .position(|w| w == text.as_bytes())
        .unwrap()
        + text.len()
        - 1;
    leaf[at] = if leaf[at] == b'x' { b'y' } else { b'x' };
    assert!(eva_admin::model::decode(leaf).is_ok(), "still decodes");
}

/// One letter changed in a leaf of a SQLite source: the run stops naming
/// the leaf's key and what its bytes should digest to, the destination's
/// roots do not move and no node derived from the bad bytes is written;
/// once the source is repaired, the same command completes and verifies.
#[tokio::test(flavor = "multi_thread")]
async fn a_changed_byte_in_a_source_leaf_is_named_and_never_copied() {
    let dir = TempDir::new().unwrap();
    let src = generated(&sqlite_url(dir.path()), 40, 3).await;
    let dst = store::open(&format!(
        "sqlite:{}",
        dir.path().join("dst.sqlite").display()
    ))
    .await
    .unwrap();
    let key = leaf_with_a_string(&src).await;
    let good = tamper(&src, &key, |b| change_a_letter(b)).await;
    let bad = src.get(DB, &key).await.unwrap().unwrap();

    let err = run(&src, &dst).await.unwrap_err();
    match &err {
        MigrateError::Source(DbError::Codec {
            key: named,
            source: CodecError::KeyMismatch { digest },
        }) => {
            assert_eq!(named, &key);
            assert_eq!(digest, &index_node_key(&bad));
        }
        other => panic!("expected the leaf named, got: {other}"),
    }
    let text = format!("{err:#}");
    assert!(
        text.contains(&key) && text.contains("changed after"),
        "{text}"
    );
    // Nothing derived from the bad bytes: not at its key, not under its digest.
    assert_eq!(dst.get(DB, &key).await.unwrap(), None);
    assert_eq!(dst.get(DB, &index_node_key(&bad)).await.unwrap(), None);
    assert!(Database::open(dst.clone(), DB).await.is_err(), "no roots");

    tamper(&src, &key, |b| *b = good.clone()).await;
    run(&src, &dst).await.unwrap();
    let report = migrate::verify(src, dst, DB, &VerifyOptions::default())
        .await
        .unwrap();
    assert!(report.is_equal(), "{:?}", report.differences);
}

/// The reader checks too: `datoms` over a damaged source names the leaf.
#[tokio::test(flavor = "multi_thread")]
async fn the_reader_names_a_changed_leaf() {
    let dir = TempDir::new().unwrap();
    let src = generated(&sqlite_url(dir.path()), 20, 4).await;
    let key = leaf_with_a_string(&src).await;
    tamper(&src, &key, |b| change_a_letter(b)).await;
    let db = Database::open(src, DB).await.unwrap();
    let snapshot = db.snapshot().await.unwrap();
    let err = snapshot
        .datoms(Index::Eavt, &DatomQuery::default())
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains(&key) && err.contains("digest"), "{err}");
}

/// A fork: a destination copied from a source, a copy of that source
/// grown apart from it and migrated into the same destination. Refused
/// before anything is written, naming the entry where the histories part;
/// on PostgreSQL when it is installed, SQLite otherwise.
#[tokio::test(flavor = "multi_thread")]
async fn a_forked_source_is_refused_naming_where_the_histories_part() {
    let dir = TempDir::new().unwrap();
    let dst_url = match postgres_url().await {
        Some(url) => url,
        None => format!("sqlite:{}", dir.path().join("dst.sqlite").display()),
    };
    let dst = store::open(&dst_url).await.unwrap();
    let original = generated(&sqlite_url(dir.path()), 30, 1).await;
    run(&original, &dst).await.unwrap();
    // A copy aside (a backup), as the tool itself makes one.
    let aside = store::open("mem:").await.unwrap();
    run(&original, &aside).await.unwrap();
    let parted_at = count(&original).await;
    grow(&Database::open(original.clone(), DB).await.unwrap(), 10, 2).await;
    run(&original, &dst).await.unwrap();
    // The backup restored and written to: longer than the original.
    grow(&Database::open(aside.clone(), DB).await.unwrap(), 15, 9).await;

    let head_before = dst.get(DB, DB).await.unwrap();
    let err = run(&aside, &dst).await.unwrap_err();
    match &err {
        MigrateError::SourceDiverged {
            first_differing, ..
        } => assert_eq!(*first_differing, Some(parted_at)),
        other => panic!("expected the fork refused, got: {other}"),
    }
    assert!(err.to_string().contains("fork"), "{err}");
    assert_eq!(dst.get(DB, DB).await.unwrap(), head_before);
    // The destination still is the original's copy, and goes on with it.
    grow(&Database::open(original.clone(), DB).await.unwrap(), 3, 5).await;
    run(&original, &dst).await.unwrap();
    let report = migrate::verify(original, dst, DB, &VerifyOptions::default())
        .await
        .unwrap();
    assert!(report.is_equal(), "{:?}", report.differences);
}

/// A destination written by an earlier version has no digest in its
/// status record: a plain run still compares the destination's last entry
/// with the source's.
#[tokio::test(flavor = "multi_thread")]
async fn without_a_noted_digest_the_last_entries_are_compared() {
    let original = generated("mem:", 20, 1).await;
    let aside = store::open("mem:").await.unwrap();
    run(&original, &aside).await.unwrap();
    let parted_at = count(&original).await;
    grow(&Database::open(original.clone(), DB).await.unwrap(), 5, 2).await;
    grow(&Database::open(aside.clone(), DB).await.unwrap(), 10, 9).await;
    let dst = store::open("mem:").await.unwrap();
    run(&original, &dst).await.unwrap();
    // The record as earlier versions wrote it.
    let key = migrate::status_key(DB, "migration-status");
    let raw = dst.get(DB, &key).await.unwrap().unwrap();
    let mut status: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert!(
        status
            .as_object_mut()
            .unwrap()
            .remove("source_entry")
            .is_some()
    );
    let old = serde_json::to_vec(&status).unwrap();
    assert!(
        dst.replace(DB, &key, Some(&raw), &old)
            .await
            .unwrap()
            .replaced()
    );

    let err = run(&aside, &dst).await.unwrap_err();
    assert!(
        matches!(err, MigrateError::SourceDiverged { first_differing: Some(f), .. } if f == parted_at),
        "{err}"
    );

    // Nor does repair take the forked source's entry for a damaged one:
    // its seal proves the key, not the history.
    let log = Database::open(dst.clone(), DB)
        .await
        .unwrap()
        .info()
        .tx_log
        .clone();
    let entry = eva_admin::model::entry_key(&log, parted_at + 1);
    let good = tamper(&dst, &entry, |b| flip_the_middle_byte(b)).await;
    let report = repair_from(&aside, &dst).await;
    assert!(report.repaired.is_empty(), "{:?}", report.repaired);
    assert_eq!(report.unrepairable.len(), 1);
    assert!(
        report.unrepairable[0].1.contains("no digest"),
        "{:?}",
        report.unrepairable
    );
    assert_ne!(
        dst.get(DB, &entry).await.unwrap().unwrap(),
        good,
        "left as it is"
    );
}

async fn count(store: &Arc<dyn ValueStore>) -> u64 {
    let db = Database::open(store.clone(), DB).await.unwrap();
    db.head().await.unwrap().count
}

/// `migrate --repair`: destination index nodes whose bytes no longer match
/// their key (one changed letter, one cut short) and an entry that fails
/// its seal are replaced with the source's bytes, and nothing else; a node
/// the source holds damaged too is named, not touched.
#[tokio::test(flavor = "multi_thread")]
async fn repair_replaces_exactly_the_damaged_destination_nodes() {
    let dir = TempDir::new().unwrap();
    let src = generated(&sqlite_url(dir.path()), 40, 6).await;
    let dst = store::open(&format!(
        "sqlite:{}",
        dir.path().join("dst.sqlite").display()
    ))
    .await
    .unwrap();
    run(&src, &dst).await.unwrap();
    let changed = leaf_with_a_string(&dst).await;
    tamper(&dst, &changed, |b| change_a_letter(b)).await;
    let db = Database::open(dst.clone(), DB).await.unwrap();
    let root = db.entry(5).await.unwrap().roots.aevt.unwrap();
    tamper(&dst, &root, |b| b.truncate(b.len() / 2)).await;
    let entry = eva_admin::model::entry_key(&db.info().tx_log, 7);
    tamper(&dst, &entry, |b| flip_the_middle_byte(b)).await;
    let before = migrate::verify(src.clone(), dst.clone(), DB, &VerifyOptions::default())
        .await
        .unwrap();
    assert!(
        before
            .differences
            .iter()
            .any(|d| d.starts_with("tx-log entry 7:")
                && d.contains("the destination's entry is damaged")),
        "{:?}",
        before.differences
    );

    let report = repair_from(&src, &dst).await;
    let mut repaired = report.repaired.clone();
    repaired.sort();
    let mut expected = vec![changed.clone(), root.clone(), entry];
    expected.sort();
    assert_eq!(repaired, expected);
    assert_eq!(report.damaged, 3);
    assert!(report.is_complete());
    let after = migrate::verify(src.clone(), dst.clone(), DB, &VerifyOptions::default())
        .await
        .unwrap();
    assert!(after.is_equal(), "{:?}", after.differences);

    // Damaged on both sides: named, left as it is.
    tamper(&dst, &changed, |b| change_a_letter(b)).await;
    tamper(&src, &changed, |b| change_a_letter(b)).await;
    let held = dst.get(DB, &changed).await.unwrap();
    let report = repair_from(&src, &dst).await;
    assert!(report.repaired.is_empty());
    assert_eq!(report.unrepairable.len(), 1);
    assert_eq!(report.unrepairable[0].0, changed);
    assert!(report.unrepairable[0].1.contains("damaged too"));
    assert_eq!(dst.get(DB, &changed).await.unwrap(), held);
}

/// A value another tool stored as TEXT instead of BLOB is refused naming
/// its key.
#[tokio::test(flavor = "multi_thread")]
async fn a_value_stored_as_text_is_named() {
    let dir = TempDir::new().unwrap();
    let src = generated(&sqlite_url(dir.path()), 10, 2).await;
    let key = leaf_with_a_string(&src).await;
    let file = dir.path().join("store.sqlite");
    let conn = rusqlite::Connection::open(&file).unwrap();
    let changed = conn
        .execute(
            "UPDATE eva_kv SET val = CAST(val AS TEXT) WHERE id = ?1",
            [&key],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(conn);
    let dst = store::open("mem:").await.unwrap();
    let text = format!("{:#}", run(&src, &dst).await.unwrap_err());
    assert!(
        text.contains(&key) && text.contains("stored as Text, not as a BLOB"),
        "{text}"
    );
}

/// One kind of damage to one stored value.
#[derive(Debug, Clone)]
enum Damage {
    /// One byte changed (`xor` is never 0).
    Flip { at: usize, xor: u8 },
    /// Cut to a shorter length.
    Truncate { at: usize },
    /// Exchanged with another key's value.
    Swap { with: usize },
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(at, xor)| Damage::Flip { at, xor }),
        any::<usize>().prop_map(|at| Damage::Truncate { at }),
        any::<usize>().prop_map(|with| Damage::Swap { with }),
    ]
}

/// Every key the database holds in `store`, but the migration's status
/// record: operational notes, not the database (a damaged one is named
/// where it is parsed or read as another head).
async fn database_keys(store: &Arc<dyn ValueStore>) -> Vec<String> {
    let status = migrate::status_key(DB, migrate::DEFAULT_STATUS_SUFFIX);
    let mut keys = Vec::new();
    loop {
        let page = store.scan(DB, keys.last().map(String::as_str), 500).await;
        let page = page.unwrap();
        if page.is_empty() {
            break;
        }
        keys.extend(page.into_iter().map(|(k, _)| k));
    }
    keys.retain(|k| *k != status);
    keys
}

/// Applies `damage` to the value at `keys[pick]`; returns what it did.
async fn apply(
    store: &Arc<dyn ValueStore>,
    keys: &[String],
    pick: usize,
    damage: &Damage,
) -> String {
    let key = &keys[pick % keys.len()];
    let before = store.get(DB, key).await.unwrap().unwrap();
    let put = |key: &str, old: &[u8], new: Vec<u8>| {
        let store = store.clone();
        let key = key.to_string();
        let old = old.to_vec();
        async move {
            assert_ne!(old, new, "damage changes the value");
            let done = store.replace(DB, &key, Some(&old), &new).await.unwrap();
            assert!(done.replaced());
        }
    };
    match *damage {
        Damage::Flip { at, xor } => {
            let mut after = before.clone();
            let at = at % after.len();
            after[at] ^= xor;
            put(key, &before, after).await;
            format!("byte {at} of `{key}` ^ {xor:#04x}")
        }
        Damage::Truncate { at } => {
            let at = at % before.len();
            put(key, &before, before[..at].to_vec()).await;
            format!("`{key}` cut to {at} of {} bytes", before.len())
        }
        Damage::Swap { with } => {
            let others: Vec<&String> = keys.iter().filter(|k| *k != key).collect();
            let other = others[with % others.len()];
            let theirs = store.get(DB, other).await.unwrap().unwrap();
            put(key, &before, theirs.clone()).await;
            put(other, &theirs, before).await;
            format!("`{key}` and `{other}` swapped")
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random damage to any value of a database in a SQLite store — one
    /// byte changed, a value cut short, two values swapped — is never
    /// silently accepted: in a source, the migration refuses it; in a
    /// destination, verify reports it.
    #[test]
    fn random_damage_is_refused_or_reported(
        seed in 0u64..1_000,
        txs in 2u64..10,
        in_source: bool,
        pick: usize,
        damage in damage(),
    ) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let dir = TempDir::new().unwrap();
            let src = generated(&sqlite_url(dir.path()), txs, seed).await;
            let dst_url = format!("sqlite:{}", dir.path().join("dst.sqlite").display());
            let dst = store::open(&dst_url).await.unwrap();
            if in_source {
                let what = apply(&src, &database_keys(&src).await, pick, &damage).await;
                let outcome = run(&src, &dst).await;
                assert!(outcome.is_err(), "{what} in the source was copied silently");
            } else {
                run(&src, &dst).await.unwrap();
                let what = apply(&dst, &database_keys(&dst).await, pick, &damage).await;
                let outcome = migrate::verify(src, dst, DB, &VerifyOptions::default()).await;
                if let Ok(report) = outcome {
                    assert!(!report.is_equal(), "{what} in the destination: verify says equal");
                }
            }
        });
    }
}

/// A store written before database-info, heads and entries were sealed
/// (docs/format.md, "Sealed nodes") still reads, grows (its unsealed head
/// moves; new entries and the head are sealed) and migrates equal.
#[tokio::test(flavor = "multi_thread")]
async fn a_store_written_before_sealing_reads_grows_and_migrates() {
    let dir = TempDir::new().unwrap();
    let src = generated(&sqlite_url(dir.path()), 6, 4).await;
    let mut unsealed = 0;
    for key in database_keys(&src).await {
        let bytes = src.get(DB, &key).await.unwrap().unwrap();
        if bytes[0] == eva_admin::model::SEALED_VERSION {
            let plain = eva_admin::model::encode(&eva_admin::model::decode(&bytes).unwrap());
            assert!(
                src.replace(DB, &key, Some(&bytes), &plain)
                    .await
                    .unwrap()
                    .replaced()
            );
            unsealed += 1;
        }
    }
    let db = Database::open(src.clone(), DB).await.unwrap();
    let before = db.head().await.unwrap().count;
    assert_eq!(unsealed, 2 + before, "database-info, head and every entry");

    grow(&db, 3, 5).await;
    let count = db.head().await.unwrap().count;
    assert_eq!(count, before + 3);
    let log = db.info().tx_log.clone();
    let head = src.get(DB, &log).await.unwrap().unwrap();
    assert_eq!(
        head[0],
        eva_admin::model::SEALED_VERSION,
        "the head moved, sealed"
    );
    let entry = src
        .get(DB, &eva_admin::model::entry_key(&log, 9))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        entry[0],
        eva_admin::model::SEALED_VERSION,
        "new entries sealed"
    );

    let dst = store::open("mem:").await.unwrap();
    run(&src, &dst).await.unwrap();
    let report = migrate::verify(src, dst, DB, &VerifyOptions::default())
        .await
        .unwrap();
    assert!(report.is_equal(), "{:?}", report.differences);
    assert_eq!(report.entries_compared, count);
}
