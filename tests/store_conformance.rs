//! The value-store contract (docs/design.md §3), run against every backend: mem,
//! sled, SQLite, and real PostgreSQL and MariaDB servers started by
//! `common::servers` (skipped with a loud message when not installed, never
//! skipped when `CI` is set). Each test is generated once per backend, so a
//! failure reads `postgres::scan_pages_in_byte_order`.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::servers;
use eva_admin::store::{CreateOutcome, Entry, ReplaceOutcome, StoreError, ValueStore, open};

/// Opens a fresh store of `backend` and runs `check` on it.
async fn run(backend: &str, check: impl AsyncFnOnce(Arc<dyn ValueStore>, String)) {
    let tmp = tempfile::tempdir().unwrap();
    let Some(url) = servers::backend_url(backend, tmp.path()).await else {
        return;
    };
    let store = open(&url)
        .await
        .unwrap_or_else(|e| panic!("open {url}: {e}"));
    check(store, url).await;
}

macro_rules! tests_for {
    ($backend:ident: $($check:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $check() {
                    super::run(stringify!($backend), super::$check).await;
                }
            )*
        }
    };
}

macro_rules! conformance {
    ($($backend:ident),*) => {
        $(
            tests_for!($backend:
                create_never_overwrites,
                concurrent_creates_have_one_winner,
                concurrent_overlapping_batches_agree,
                replace_honours_expected,
                remove_honours_expected,
                batches_keep_order,
                empty_and_large_values_round_trip,
                binary_values_round_trip,
                namespaces_are_isolated,
                scan_pages_in_byte_order,
                keys_are_case_sensitive,
                reopen_sees_the_data,
                long_keys_are_kept_whole_or_refused,
            );
        )*
    };
}

conformance!(mem, sled, sqlite, postgres, mysql);

fn s(x: &str) -> String {
    x.to_string()
}

async fn create_never_overwrites(store: Arc<dyn ValueStore>, _: String) {
    assert_eq!(store.get("ns", "k").await.unwrap(), None);
    assert_eq!(
        store.create("ns", "k", b"first").await.unwrap(),
        CreateOutcome::Created
    );
    assert_eq!(
        store.create("ns", "k", b"second").await.unwrap(),
        CreateOutcome::Existed(b"first".to_vec())
    );
    // Creating the same bytes again also reports the key as existing.
    assert_eq!(
        store.create("ns", "k", b"first").await.unwrap(),
        CreateOutcome::Existed(b"first".to_vec())
    );
    assert_eq!(store.get("ns", "k").await.unwrap(), Some(b"first".to_vec()));
}

async fn concurrent_creates_have_one_winner(store: Arc<dyn ValueStore>, _: String) {
    let tasks: Vec<_> = (0..16u8)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let value = vec![i; 32];
                let outcome = store.create("ns", "contended", &value).await.unwrap();
                (value, outcome)
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut seen = Vec::new();
    for task in tasks {
        let (value, outcome) = task.await.unwrap();
        match outcome {
            CreateOutcome::Created => winners.push(value),
            CreateOutcome::Existed(stored) => seen.push(stored),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one create wins");
    let winner = &winners[0];
    assert_eq!(seen.len(), 15);
    assert!(
        seen.iter().all(|v| v == winner),
        "losers see the winner's value"
    );
    assert_eq!(
        store.get("ns", "contended").await.unwrap().as_ref(),
        Some(winner)
    );
}

async fn concurrent_overlapping_batches_agree(store: Arc<dyn ValueStore>, _: String) {
    // 8 writers, the same 300 keys, each in its own order and with its own
    // values: per key exactly one writer wins and every other sees its value.
    let tasks: Vec<_> = (0..8usize)
        .map(|w| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let batch: Vec<Entry> = (0..300usize)
                    // Multipliers prime to 300: each order is a permutation.
                    .map(|i| (i * [1, 7, 11, 13, 17, 19, 23, 29][w] + w * 37) % 300)
                    .map(|i| (format!("k{i:03}"), format!("w{w}").into_bytes()))
                    .collect();
                let outcomes = store.create_many("ns", &batch).await.unwrap();
                (batch, outcomes)
            })
        })
        .collect();
    let mut winners: std::collections::BTreeMap<String, Vec<Vec<u8>>> = Default::default();
    let mut seen = Vec::new();
    for task in tasks {
        let (batch, outcomes) = task.await.unwrap();
        assert_eq!(outcomes.len(), batch.len());
        for ((key, value), outcome) in batch.into_iter().zip(outcomes) {
            match outcome {
                CreateOutcome::Created => winners.entry(key).or_default().push(value),
                CreateOutcome::Existed(stored) => seen.push((key, stored)),
            }
        }
    }
    assert_eq!(winners.len(), 300, "every key has a winner");
    assert!(winners.values().all(|w| w.len() == 1), "one winner per key");
    for (key, stored) in &seen {
        assert_eq!(&winners[key][0], stored, "{key}");
    }
    let keys: Vec<String> = winners.keys().cloned().collect();
    let values = store.get_many("ns", &keys).await.unwrap();
    for (key, value) in keys.iter().zip(values) {
        assert_eq!(value.as_ref(), Some(&winners[key][0]), "{key}");
    }
}

async fn replace_honours_expected(store: Arc<dyn ValueStore>, _: String) {
    // None on an absent key creates it.
    assert_eq!(
        store.replace("ns", "head", None, b"v1").await.unwrap(),
        ReplaceOutcome::Replaced
    );
    // None on a present key reports what is there.
    assert_eq!(
        store.replace("ns", "head", None, b"x").await.unwrap(),
        ReplaceOutcome::Mismatch(Some(b"v1".to_vec()))
    );
    // A wrong expectation changes nothing.
    assert_eq!(
        store
            .replace("ns", "head", Some(b"v0"), b"x")
            .await
            .unwrap(),
        ReplaceOutcome::Mismatch(Some(b"v1".to_vec()))
    );
    assert_eq!(store.get("ns", "head").await.unwrap(), Some(b"v1".to_vec()));
    // The right expectation swaps.
    assert_eq!(
        store
            .replace("ns", "head", Some(b"v1"), b"v2")
            .await
            .unwrap(),
        ReplaceOutcome::Replaced
    );
    assert_eq!(store.get("ns", "head").await.unwrap(), Some(b"v2".to_vec()));
    // Writing the value already stored still counts as a swap.
    assert_eq!(
        store
            .replace("ns", "head", Some(b"v2"), b"v2")
            .await
            .unwrap(),
        ReplaceOutcome::Replaced
    );
    // Some on an absent key reports it absent and does not create it.
    assert_eq!(
        store
            .replace("ns", "missing", Some(b"v1"), b"x")
            .await
            .unwrap(),
        ReplaceOutcome::Mismatch(None)
    );
    assert_eq!(store.get("ns", "missing").await.unwrap(), None);
}

/// Compare-and-delete removes only the expected value, reports what is
/// stored otherwise, and leaves the key free for a create.
async fn remove_honours_expected(store: Arc<dyn ValueStore>, _: String) {
    store.create("ns", "entry", b"left").await.unwrap();
    store.create("other", "entry", b"left").await.unwrap();
    assert_eq!(
        store.remove("ns", "entry", b"else").await.unwrap(),
        ReplaceOutcome::Mismatch(Some(b"left".to_vec()))
    );
    assert_eq!(
        store.get("ns", "entry").await.unwrap(),
        Some(b"left".to_vec())
    );
    assert_eq!(
        store.remove("ns", "entry", b"left").await.unwrap(),
        ReplaceOutcome::Replaced
    );
    assert_eq!(store.get("ns", "entry").await.unwrap(), None);
    assert!(store.scan("ns", None, 10).await.unwrap().is_empty());
    assert_eq!(
        store.get("other", "entry").await.unwrap(),
        Some(b"left".to_vec()),
        "another namespace keeps its key"
    );
    assert_eq!(
        store.remove("ns", "entry", b"left").await.unwrap(),
        ReplaceOutcome::Mismatch(None)
    );
    assert!(store.create("ns", "entry", b"new").await.unwrap().created());
    assert_eq!(
        store.get("ns", "entry").await.unwrap(),
        Some(b"new".to_vec())
    );
}

async fn batches_keep_order(store: Arc<dyn ValueStore>, _: String) {
    // Every 7th key exists beforehand with another value.
    let pre: Vec<Entry> = (0..1000)
        .step_by(7)
        .map(|i| (format!("key-{i:04}"), format!("old-{i}").into_bytes()))
        .collect();
    assert!(
        store
            .create_many("ns", &pre)
            .await
            .unwrap()
            .iter()
            .all(CreateOutcome::created)
    );
    // Shuffled order (i * 389 mod 1000 is a permutation) so outcomes are
    // checked against input order, not key order.
    let batch: Vec<Entry> = (0..1000)
        .map(|i| (i * 389) % 1000)
        .map(|i| (format!("key-{i:04}"), format!("new-{i}").into_bytes()))
        .collect();
    let outcomes = store.create_many("ns", &batch).await.unwrap();
    assert_eq!(outcomes.len(), batch.len());
    for ((key, _), outcome) in batch.iter().zip(&outcomes) {
        let i: usize = key["key-".len()..].parse().unwrap();
        if i.is_multiple_of(7) {
            assert_eq!(
                outcome,
                &CreateOutcome::Existed(format!("old-{i}").into_bytes()),
                "{key}"
            );
        } else {
            assert_eq!(outcome, &CreateOutcome::Created, "{key}");
        }
    }
    // get_many: keys in any order, some missing, one slot per key.
    let mut keys: Vec<String> = batch.iter().map(|(k, _)| k.clone()).collect();
    keys.insert(0, s("absent-first"));
    keys.insert(500, s("absent-middle"));
    keys.push(s("absent-last"));
    let values = store.get_many("ns", &keys).await.unwrap();
    assert_eq!(values.len(), keys.len());
    for (key, value) in keys.iter().zip(&values) {
        match key.strip_prefix("key-") {
            None => assert_eq!(value, &None, "{key}"),
            Some(n) => {
                let i: usize = n.parse().unwrap();
                let want = if i.is_multiple_of(7) { "old" } else { "new" };
                assert_eq!(value, &Some(format!("{want}-{i}").into_bytes()), "{key}");
            }
        }
    }
    // contains_many: the same keys, one answer per key, in order.
    let present = store.contains_many("ns", &keys).await.unwrap();
    let expected: Vec<bool> = values.iter().map(Option::is_some).collect();
    assert_eq!(present, expected);
    assert_eq!(present.iter().filter(|p| !**p).count(), 3);
    assert_eq!(store.get_many("ns", &[]).await.unwrap(), Vec::new());
    assert!(store.contains_many("ns", &[]).await.unwrap().is_empty());
    assert_eq!(store.create_many("ns", &[]).await.unwrap(), Vec::new());
}

async fn empty_and_large_values_round_trip(store: Arc<dyn ValueStore>, _: String) {
    let big: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 251) as u8).collect();
    assert!(store.create("ns", "empty", b"").await.unwrap().created());
    assert!(store.create("ns", "big", &big).await.unwrap().created());
    assert_eq!(store.get("ns", "empty").await.unwrap(), Some(Vec::new()));
    assert_eq!(store.get("ns", "big").await.unwrap().as_ref(), Some(&big));
    assert_eq!(
        store.create("ns", "big", b"other").await.unwrap(),
        CreateOutcome::Existed(big.clone())
    );
    // A batch of several large values (more than one statement's worth).
    let batch: Vec<Entry> = (0..5u8)
        .map(|i| {
            let mut v = big.clone();
            v[0] = i;
            (format!("big-{i}"), v)
        })
        .collect();
    let outcomes = store.create_many("ns", &batch).await.unwrap();
    assert!(outcomes.iter().all(CreateOutcome::created));
    let keys: Vec<String> = batch.iter().map(|(k, _)| k.clone()).collect();
    let values = store.get_many("ns", &keys).await.unwrap();
    for ((_, want), got) in batch.iter().zip(values) {
        assert!(got.as_ref() == Some(want));
    }
    // Compare-and-set with large values on both sides.
    assert_eq!(
        store
            .replace("ns", "big", Some(&big), b"small")
            .await
            .unwrap(),
        ReplaceOutcome::Replaced
    );
}

async fn binary_values_round_trip(store: Arc<dyn ValueStore>, _: String) {
    let all: Vec<u8> = (0..=255u8).collect();
    let reversed: Vec<u8> = all.iter().rev().copied().collect();
    assert!(store.create("ns", "bytes", &all).await.unwrap().created());
    assert_eq!(store.get("ns", "bytes").await.unwrap(), Some(all.clone()));
    assert_eq!(
        store
            .replace("ns", "bytes", Some(&all), &reversed)
            .await
            .unwrap(),
        ReplaceOutcome::Replaced
    );
    assert_eq!(
        store.scan("ns", None, 10).await.unwrap(),
        vec![(s("bytes"), reversed)]
    );
    // Values that differ only after a NUL byte, or in trailing bytes, differ.
    assert!(store.create("ns", "nul", b"a\0b").await.unwrap().created());
    assert_eq!(
        store
            .replace("ns", "nul", Some(b"a\0c"), b"x")
            .await
            .unwrap(),
        ReplaceOutcome::Mismatch(Some(b"a\0b".to_vec()))
    );
    assert_eq!(
        store
            .replace("ns", "nul", Some(b"a\0b "), b"x")
            .await
            .unwrap(),
        ReplaceOutcome::Mismatch(Some(b"a\0b".to_vec()))
    );
}

async fn namespaces_are_isolated(store: Arc<dyn ValueStore>, _: String) {
    assert!(store.create("db-a", "k", b"a").await.unwrap().created());
    assert!(store.create("db-b", "k", b"b").await.unwrap().created());
    assert!(store.create("DB-A", "k", b"upper").await.unwrap().created());
    assert_eq!(store.get("db-a", "k").await.unwrap(), Some(b"a".to_vec()));
    assert_eq!(store.get("db-b", "k").await.unwrap(), Some(b"b".to_vec()));
    assert_eq!(
        store.get("DB-A", "k").await.unwrap(),
        Some(b"upper".to_vec())
    );
    assert_eq!(store.get("db-c", "k").await.unwrap(), None);
    assert_eq!(
        store.scan("db-a", None, 10).await.unwrap(),
        vec![(s("k"), b"a".to_vec())]
    );
    assert!(store.scan("db-c", None, 10).await.unwrap().is_empty());
    assert_eq!(
        store.replace("db-b", "k", Some(b"a"), b"x").await.unwrap(),
        ReplaceOutcome::Mismatch(Some(b"b".to_vec()))
    );
}

async fn scan_pages_in_byte_order(store: Arc<dyn ValueStore>, _: String) {
    let keys = [
        "a", "B", "b", "a.10", "a.9", "A", "a-", "a_", "Z", "z", "é", "a b", "0", "~", "ab",
    ];
    let entries: Vec<Entry> = keys.iter().map(|k| (s(k), k.as_bytes().to_vec())).collect();
    store.create_many("ns", &entries).await.unwrap();
    store.create("other", "a.5", b"x").await.unwrap();
    let mut want: Vec<&str> = keys.to_vec();
    want.sort_by(|x, y| x.as_bytes().cmp(y.as_bytes()));

    for page_size in [1, 2, 4, 100] {
        let mut got = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = store.scan("ns", after.as_deref(), page_size).await.unwrap();
            assert!(page.len() <= page_size);
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            for (k, v) in page {
                assert_eq!(v, k.as_bytes(), "value of {k}");
                got.push(k);
            }
        }
        assert_eq!(got, want, "page size {page_size}");
    }
    // `after` need not be a stored key.
    let rest = store.scan("ns", Some("a.1"), 3).await.unwrap();
    let rest: Vec<&str> = rest.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(rest, ["a.10", "a.9", "a_"]);
    assert!(store.scan("ns", Some("é"), 10).await.unwrap().is_empty());
}

async fn keys_are_case_sensitive(store: Arc<dyn ValueStore>, _: String) {
    assert!(store.create("ns", "K", b"upper").await.unwrap().created());
    assert!(store.create("ns", "k", b"lower").await.unwrap().created());
    // Trailing spaces make a different key too (MariaDB pads some types).
    assert!(store.create("ns", "k ", b"space").await.unwrap().created());
    assert_eq!(store.get("ns", "K").await.unwrap(), Some(b"upper".to_vec()));
    assert_eq!(store.get("ns", "k").await.unwrap(), Some(b"lower".to_vec()));
    assert_eq!(
        store.get("ns", "k ").await.unwrap(),
        Some(b"space".to_vec())
    );
    let values = store
        .get_many("ns", &[s("k"), s("K"), s("k "), s("kk")])
        .await
        .unwrap();
    assert_eq!(
        values,
        vec![
            Some(b"lower".to_vec()),
            Some(b"upper".to_vec()),
            Some(b"space".to_vec()),
            None
        ]
    );
    assert_eq!(
        store
            .replace("ns", "K", Some(b"lower"), b"x")
            .await
            .unwrap(),
        ReplaceOutcome::Mismatch(Some(b"upper".to_vec()))
    );
}

async fn reopen_sees_the_data(store: Arc<dyn ValueStore>, url: String) {
    store.create("ns", "kept", b"v").await.unwrap();
    store.flush().await.unwrap();
    if url == "mem:" {
        return; // a fresh `mem:` store is empty by definition
    }
    drop(store);
    let again = open(&url).await.unwrap();
    assert_eq!(again.get("ns", "kept").await.unwrap(), Some(b"v".to_vec()));
    assert_eq!(
        again.create("ns", "kept", b"w").await.unwrap(),
        CreateOutcome::Existed(b"v".to_vec())
    );
}

async fn long_keys_are_kept_whole_or_refused(store: Arc<dyn ValueStore>, _: String) {
    // Index-node keys are short (UUIDs, `<db>.<suffix>`); 200 bytes must work
    // everywhere, and a longer key is either stored whole or refused —
    // never truncated into another key.
    let medium = "m".repeat(200);
    assert!(store.create("ns", &medium, b"v").await.unwrap().created());
    assert_eq!(store.get("ns", &medium).await.unwrap(), Some(b"v".to_vec()));
    let long_a = format!("{}a", "x".repeat(2000));
    let long_b = format!("{}b", "x".repeat(2000));
    if store.create("ns", &long_a, b"a").await.is_ok() {
        assert!(store.create("ns", &long_b, b"b").await.unwrap().created());
        assert_eq!(store.get("ns", &long_a).await.unwrap(), Some(b"a".to_vec()));
        assert_eq!(store.get("ns", &long_b).await.unwrap(), Some(b"b".to_vec()));
    } else {
        assert!(store.replace("ns", &long_a, None, b"a").await.is_err());
        assert_eq!(store.get("ns", &long_a).await.unwrap(), None);
    }
}

/// Opening must fail with an error naming the URL, within 10 s.
async fn open_fails(url: &str, shown: &str) -> StoreError {
    let started = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(20), open(url))
        .await
        .unwrap_or_else(|_| panic!("open {url} hung"));
    let err = match result {
        Ok(_) => panic!("open {url} succeeded"),
        Err(e) => e,
    };
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "open {url} took {:?}",
        started.elapsed()
    );
    let message = err.to_string();
    assert!(
        message.contains(shown),
        "{url}: `{message}` should name {shown}"
    );
    err
}

#[tokio::test]
async fn bad_urls_are_refused_with_the_url() {
    for url in [
        "nothing",
        "ftp://x",
        "sled:",
        "sqlite:",
        "postgres://",
        "mysql:///db",
    ] {
        let err = open_fails(url, url).await;
        assert!(matches!(err, StoreError::InvalidUrl { .. }), "{url}: {err}");
    }
}

#[tokio::test]
async fn unopenable_files_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("plain-file");
    std::fs::write(&file, b"not a directory").unwrap();
    for scheme in ["sled", "sqlite"] {
        let url = format!("{scheme}:{}/sub/store", file.display());
        let err = open_fails(&url, &url).await;
        assert!(matches!(err, StoreError::Open { .. }), "{url}: {err}");
    }
    // A file that is not a SQLite database.
    let url = format!("sqlite:{}", file.display());
    open_fails(&url, &url).await;
}

#[tokio::test]
async fn unreachable_servers_fail_fast_naming_the_url() {
    for url in ["postgres://eva@127.0.0.1:1/x", "mysql://root@127.0.0.1:1/x"] {
        let err = open_fails(url, url).await;
        assert!(matches!(err, StoreError::Open { .. }), "{url}: {err}");
    }
    // The password is masked in the message.
    let err = open_fails(
        "postgres://eva:secret@127.0.0.1:1/x",
        "postgres://eva:***@127.0.0.1:1/x",
    )
    .await;
    assert!(!err.to_string().contains("secret"));
    let err = open_fails(
        "mysql://root:secret@127.0.0.1:1/x",
        "mysql://root:***@127.0.0.1:1/x",
    )
    .await;
    assert!(!err.to_string().contains("secret"));
}

#[tokio::test]
async fn silent_servers_time_out() {
    // Accepts connections and never answers: only a timeout ends the wait.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            sockets.push(socket);
        }
    });
    for url in [
        format!("postgres://eva@127.0.0.1:{port}/x"),
        format!("mysql://root@127.0.0.1:{port}/x"),
    ] {
        let err = open_fails(&url, &url).await;
        assert!(matches!(err, StoreError::Open { .. }), "{url}: {err}");
    }
    held.abort();
}

#[tokio::test]
async fn missing_postgres_database_is_reported() {
    let Some(url) = servers::postgres_url().await else {
        return;
    };
    let (base, _) = url.rsplit_once('/').unwrap();
    let missing = format!("{base}/no_such_database");
    let err = open_fails(&missing, &missing).await;
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[tokio::test]
async fn mysql_database_is_created_when_missing_or_unnamed() {
    let Some(url) = servers::mysql_url().await else {
        return;
    };
    let (base, _) = url.rsplit_once('/').unwrap();
    for url in [format!("{base}/fresh_db"), format!("{base}/")] {
        let store = open(&url).await.unwrap_or_else(|e| panic!("{url}: {e}"));
        store.create("ns", "k", b"v").await.unwrap();
        assert_eq!(store.get("ns", "k").await.unwrap(), Some(b"v".to_vec()));
    }
    // Same namespace and key in two databases of one server do not meet.
    let other = open(&format!("{base}/other_db")).await.unwrap();
    assert_eq!(other.get("ns", "k").await.unwrap(), None);
}

/// A value larger than MariaDB's `max_allowed_packet` is refused before it
/// is sent, naming its key and the limit (the server would drop the
/// connection: "broken pipe"); the store stays usable.
#[tokio::test]
async fn mysql_values_over_the_packet_limit_are_named() {
    let Some(url) = servers::mysql_url().await else {
        return;
    };
    let store = open(&url).await.unwrap();
    // Above the default limit (16 MiB) and any this suite's server sets.
    let big = vec![7u8; 100 << 20];
    for err in [
        store.create("ns", "big-key", &big).await.unwrap_err(),
        store
            .replace("ns", "big-key", None, &big)
            .await
            .unwrap_err(),
    ] {
        let text = err.to_string();
        assert!(
            text.contains("`big-key`")
                && text.contains("104857600 bytes")
                && text.contains("max_allowed_packet"),
            "{text}"
        );
    }
    assert_eq!(store.get("ns", "big-key").await.unwrap(), None);
    assert!(store.create("ns", "small", b"v").await.unwrap().created());
}
