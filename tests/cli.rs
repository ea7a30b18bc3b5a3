//! The `eva-admin db` commands, run as a user runs them: the built binary
//! on real `sled:` stores in temporary directories.

use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin_cmd;
use tempfile::TempDir;

/// A temporary directory and a sled store URL inside it.
struct Fixture {
    dir: TempDir,
    url: String,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sled:{}", dir.path().join("store").display());
    Fixture { dir, url }
}

/// The binary with `args`, killed if it runs longer than a minute.
fn eva(args: &[&str]) -> assert_cmd::Command {
    let mut cmd = cargo_bin_cmd!("eva-admin");
    cmd.args(args).timeout(Duration::from_secs(60));
    cmd
}

/// Runs `cmd`, asserts success, returns stdout.
fn succeeds(cmd: &mut assert_cmd::Command) -> String {
    let out = cmd.output().expect("run eva-admin");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `cmd`, asserts exit code 1 with an `error:` line containing every
/// needle and no panic; returns stderr.
fn fails_with(cmd: &mut assert_cmd::Command, needles: &[&str]) -> String {
    let out = cmd.output().expect("run eva-admin");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "exit code; stderr: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("backtrace"), "{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "`{needle}` not in: {stderr}");
    }
    stderr
}

const SCHEMA_EDN: &str = r#"
; two attributes
[{:db/id "name" :db/ident :person/name :db/valueType :db.type/string :db/cardinality :db.cardinality/one}
 {:db/id "age"  :db/ident :person/age  :db/valueType :db.type/long   :db/cardinality :db.cardinality/one}]
"#;

/// A fresh database with the two-attribute schema.
fn database_with_schema() -> Fixture {
    let f = fixture();
    succeeds(&mut eva(&["db", "init", &f.url, "--db", "people"]));
    succeeds(eva(&["db", "transact", &f.url, "--db", "people"]).write_stdin(SCHEMA_EDN));
    f
}

// ---- with the writer ---------------------------------------------------

#[test]
fn transacted_edn_datom_is_read_back() {
    let f = database_with_schema();
    let out = succeeds(
        eva(&["db", "transact", &f.url, "--db", "people"])
            .write_stdin(r#"[[:db/add "ann" :person/name "Ann"] [:db/add "ann" :person/age 41]]"#),
    );
    assert!(out.contains("committed transaction 2"), "{out}");
    assert!(out.contains("\"ann\""), "{out}");
    let datoms = succeeds(&mut eva(&[
        "db",
        "datoms",
        &f.url,
        "--db",
        "people",
        "--index",
        "avet",
        ":person/name",
        "\"Ann\"",
    ]));
    assert!(datoms.contains(":person/name"), "{datoms}");
    assert!(datoms.contains("\"Ann\""), "{datoms}");
}

#[test]
fn transacted_json_datom_is_read_back() {
    let f = database_with_schema();
    let file = f.dir.path().join("tx.json");
    std::fs::write(
        &file,
        r#"[["add", "bo", "person/name", "Bo"], {"db/id": "cy", ":person/name": "Cy", "person/age": 7}]"#,
    )
    .expect("write tx.json");
    let out = succeeds(&mut eva(&[
        "db",
        "transact",
        &f.url,
        "--db",
        "people",
        &file.display().to_string(),
        "--json",
    ]));
    assert!(out.contains("\"tx\":2"), "{out}");
    let datoms = succeeds(&mut eva(&[
        "db",
        "datoms",
        &f.url,
        "--db",
        "people",
        "--index",
        "aevt",
        ":person/name",
        "--json",
    ]));
    assert!(datoms.contains(r#""v":"Bo""#), "{datoms}");
    assert!(datoms.contains(r#""v":"Cy""#), "{datoms}");
}

#[test]
fn generate_then_stats_counts_entries_and_nodes() {
    let f = fixture();
    let out = succeeds(&mut eva(&[
        "db",
        "generate",
        &f.url,
        "--db",
        "demo",
        "--txs",
        "20",
        "--datoms-per-tx",
        "5",
        "--seed",
        "3",
    ]));
    assert!(out.contains("generated 20 transactions"), "{out}");
    let stats = succeeds(&mut eva(&["db", "stats", &f.url, "--db", "demo", "--json"]));
    let stats: serde_json::Value = serde_json::from_str(&stats).expect("stats JSON");
    // Transaction 0 (built-ins), the schema transaction, 20 data transactions.
    assert_eq!(stats["entries"], 22);
    assert_eq!(stats["nodes"]["tx-log entry"]["count"], 22);
    assert!(stats["nodes"]["index leaf"]["count"].as_u64().unwrap_or(0) > 0);
    assert!(stats["total"]["bytes"].as_u64().unwrap_or(0) > 0);
    // The history's datoms: what generate wrote, and transaction 0's built-ins.
    let written: u64 = out
        .split(" datoms written")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no datom count in {out}"));
    let datoms = stats["datoms"].as_u64().unwrap_or(0);
    assert!(
        datoms > written && datoms < written + 32,
        "{datoms} vs {written}"
    );
    let per_datom = stats["bytes_per_datom"].as_f64().unwrap_or(0.0);
    let total = stats["total"]["bytes"].as_u64().unwrap_or(0) as f64;
    assert!(
        (per_datom - total / datoms as f64).abs() < 1e-6,
        "{per_datom}"
    );
    let table = succeeds(&mut eva(&["db", "stats", &f.url, "--db", "demo"]));
    assert!(table.contains("tx-log entries: 22"), "{table}");
}

#[test]
fn same_seed_generates_the_same_datoms() {
    let read = |seed: &str| {
        let f = fixture();
        succeeds(&mut eva(&[
            "db",
            "generate",
            &f.url,
            "--db",
            "demo",
            "--txs",
            "15",
            "--datoms-per-tx",
            "8",
            "--seed",
            seed,
        ]));
        succeeds(&mut eva(&[
            "db",
            "datoms",
            &f.url,
            "--db",
            "demo",
            "--index",
            "aevt",
            ":person/name",
            "--history",
        ]))
    };
    assert_eq!(read("9"), read("9"));
    assert_ne!(read("9"), read("10"));
}

#[test]
fn wrong_value_type_is_refused_naming_attribute_and_type() {
    let f = database_with_schema();
    fails_with(
        eva(&["db", "transact", &f.url, "--db", "people"])
            .write_stdin(r#"[[:db/add "x" :person/age "old"]]"#),
        &[":person/age", ":db.type/long", "\"old\""],
    );
}

#[test]
fn unknown_attribute_is_refused_by_name() {
    let f = database_with_schema();
    fails_with(
        eva(&["db", "transact", &f.url, "--db", "people"])
            .write_stdin(r#"[[:db/add "x" :nope/attr 1]]"#),
        &["unknown attribute", ":nope/attr"],
    );
}

#[test]
fn init_refuses_an_existing_database() {
    let f = fixture();
    succeeds(&mut eva(&["db", "init", &f.url, "--db", "people"]));
    fails_with(
        &mut eva(&["db", "init", &f.url, "--db", "people"]),
        &["`people`", "already exists"],
    );
}

// ---- without the writer --------------------------------------------------

#[test]
fn bad_store_urls_are_refused_with_the_reason() {
    fails_with(
        &mut eva(&["db", "stats", "nope:x", "--db", "d"]),
        &["invalid store URL `nope:x`", "unknown scheme", "sled:PATH"],
    );
    fails_with(
        &mut eva(&["db", "init", "postgres://", "--db", "d"]),
        &["invalid store URL `postgres://`", "missing host"],
    );
}

#[test]
fn unreachable_servers_fail_within_seconds() {
    for url in ["postgres://eva@127.0.0.1:1/x", "mysql://eva@127.0.0.1:1/x"] {
        let started = Instant::now();
        fails_with(
            &mut eva(&["db", "stats", url, "--db", "d", "--connect-timeout", "5"]),
            &[url],
        );
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{url} took {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn unknown_database_id_is_named() {
    let f = fixture();
    let url = format!("sled:{}", f.dir.path().display());
    fails_with(
        &mut eva(&["db", "stats", &url, "--db", "nope"]),
        &["no database `nope`", "eva-admin db init"],
    );
    fails_with(
        &mut eva(&["db", "datoms", &url, "--db", "nope", "--index", "eavt"]),
        &["no database `nope`"],
    );
}

#[test]
fn missing_store_path_is_not_created_by_readers() {
    let f = fixture();
    fails_with(
        &mut eva(&["db", "stats", &f.url, "--db", "d"]),
        &["does not exist"],
    );
    assert!(!f.dir.path().join("store").exists());
}

#[test]
fn malformed_edn_is_located_by_line_and_column() {
    let f = fixture();
    fails_with(
        eva(&["db", "transact", &f.url, "--db", "d"])
            .write_stdin("[[:db/add \"a\" :x/y 1]\n [:db/add \"b\" :x/y \"open]"),
        &["<stdin>:2:", "invalid EDN", "not closed"],
    );
    fails_with(
        eva(&["db", "transact", &f.url, "--db", "d"]).write_stdin("[[:db/add \"a\" :x/y]]"),
        &["<stdin>:1:2:", "invalid statement", "3 parts"],
    );
}

#[test]
fn malformed_json_is_located_by_line_and_column() {
    let f = fixture();
    let file = f.dir.path().join("bad.json");
    std::fs::write(&file, "[\n  [\"add\", \"a\", \"x/y\" 1]\n]").expect("write bad.json");
    fails_with(
        &mut eva(&[
            "db",
            "transact",
            &f.url,
            "--db",
            "d",
            &file.display().to_string(),
        ]),
        &["bad.json:2:22:", "invalid JSON", "expected `,` or `]`"],
    );
    fails_with(
        eva(&["db", "transact", &f.url, "--db", "d", "--format", "json"])
            .write_stdin("[[\"put\", 1, \"x/y\", 2]]"),
        &["<stdin>:1:3:", "unknown operation"],
    );
}

#[test]
fn missing_transaction_file_is_named() {
    let f = fixture();
    fails_with(
        &mut eva(&["db", "transact", &f.url, "--db", "d", "no-such-file.edn"]),
        &["cannot read the transaction file `no-such-file.edn`"],
    );
}

#[test]
fn usage_errors_exit_with_2() {
    for args in [
        vec!["db", "datoms", "mem:", "--db", "d"],
        vec![
            "db",
            "generate",
            "mem:",
            "--db",
            "d",
            "--datoms-per-tx",
            "0",
        ],
        vec!["db", "frobnicate"],
    ] {
        let out = eva(&args).output().expect("run eva-admin");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
}

/// Runs `cmd`, asserts a usage error (exit 2) naming `flag` and `needle`.
fn usage_error(cmd: &mut assert_cmd::Command, flag: &str, needle: &str) {
    let out = cmd.output().expect("run eva-admin");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(flag) && stderr.contains(needle) && !stderr.contains("panicked"),
        "{stderr}"
    );
}

/// Ids no store should hold, and counts that mean nothing, are usage
/// errors naming the flag, before anything is opened or written.
#[test]
fn absurd_ids_and_counts_are_usage_errors_naming_the_flag() {
    let f = fixture();
    let long = "a".repeat(10_000);
    for (id, needle) in [
        ("", "empty"),
        (" ", "white space"),
        ("a\nb", "U+000A"),
        ("a\tb", "U+0009"),
        (long.as_str(), "10000 bytes"),
    ] {
        usage_error(
            &mut eva(&["db", "init", &f.url, "--db", id]),
            "--db",
            needle,
        );
        usage_error(
            &mut eva(&["migrate", &f.url, "mem:", "--db", id]),
            "--db",
            needle,
        );
    }
    for flag in ["--batch-size", "--concurrency", "--log-every"] {
        for value in ["0", "18446744073709551615", "-1"] {
            let arg = format!("{flag}={value}");
            usage_error(
                &mut eva(&["migrate", &f.url, "mem:", "--db", "demo", &arg]),
                flag,
                "whole number",
            );
        }
    }
    usage_error(
        &mut eva(&[
            "migrate",
            &f.url,
            "mem:",
            "--db",
            "demo",
            "--status-suffix",
            "",
        ]),
        "--status-suffix",
        "empty",
    );
    assert!(!f.dir.path().join("store").exists(), "nothing was created");
}

/// `--connect-timeout` is honoured as given, above the few seconds a
/// server store is given by default: a server that accepts the connection
/// and never answers is waited for that long, no longer.
#[test]
fn the_connect_timeout_is_honoured_as_given() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("postgres://eva@{}/x", silent.local_addr().unwrap());
    let started = Instant::now();
    fails_with(
        &mut eva(&["db", "stats", &url, "--db", "d", "--connect-timeout", "7"]),
        &["within 7 s"],
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(6_900) && took < Duration::from_secs(10),
        "{took:?}"
    );
}

/// Hostile nesting through the binary (stdin, a JSON file, a `db datoms`
/// component) is an input error naming where, not a stack overflow.
#[test]
fn deep_nesting_is_an_input_error_not_a_crash() {
    let f = database_with_schema();
    let deep = "[".repeat(10_000);
    fails_with(
        eva(&["db", "transact", &f.url, "--db", "people"]).write_stdin(deep.as_str()),
        &["nesting deeper than 128"],
    );
    let json = f.dir.path().join("deep.json");
    std::fs::write(&json, "[".repeat(100_000)).unwrap();
    fails_with(
        &mut eva(&[
            "db",
            "transact",
            &f.url,
            "--db",
            "people",
            json.to_str().unwrap(),
        ]),
        &["nesting deeper than 128"],
    );
    fails_with(
        &mut eva(&[
            "db", "datoms", &f.url, "--db", "people", "--index", "eavt", &deep,
        ]),
        &["nesting deeper than 128"],
    );
    // A byte-order mark before a transaction is not an error.
    let out = succeeds(
        eva(&["db", "transact", &f.url, "--db", "people"])
            .write_stdin("\u{feff}[[:db/add \"b\" :person/age 3]]"),
    );
    assert!(out.contains("committed transaction"), "{out}");
}

/// An entry left past the head (a writer stopped before its head move)
/// blocks the next transaction, naming `db repair`; `db repair` shows it
/// (`--dry-run`), takes it back, and the next transaction commits.
#[test]
fn db_repair_takes_back_what_a_stopped_writer_left() {
    use eva_admin::model::{Node, encode_at, entry_key};
    let f = database_with_schema();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let store = eva_admin::store::open(&f.url).await.expect("open");
        let db = eva_admin::db::Database::open(store.clone(), "people")
            .await
            .expect("database");
        let mut left = db.entry(1).await.expect("entry 1");
        left.tx = 2;
        let key = entry_key(&db.info().tx_log, 2);
        let bytes = encode_at(&key, &Node::TxLogEntry(left));
        assert!(
            store
                .create("people", &key, &bytes)
                .await
                .expect("create")
                .created()
        );
        store.flush().await.expect("flush");
    });
    drop(runtime);
    let transact = || {
        let mut cmd = eva(&["db", "transact", &f.url, "--db", "people"]);
        cmd.write_stdin(r#"[[:db/add "ann" :person/name "Ann"]]"#);
        cmd
    };
    fails_with(&mut transact(), &["transaction 2 was taken", "db repair"]);
    let repair = |extra: &[&str]| {
        let mut args = vec!["db", "repair", &f.url, "--db", "people"];
        args.extend_from_slice(extra);
        succeeds(&mut eva(&args))
    };
    let dry = repair(&["--dry-run"]);
    assert!(dry.contains("would take back 1 uncommitted entry"), "{dry}");
    fails_with(&mut transact(), &["db repair"]);
    let done = repair(&[]);
    assert!(
        done.contains("took back 1 uncommitted entry") && done.contains("2 committed"),
        "{done}"
    );
    let out = succeeds(&mut transact());
    assert!(out.contains("committed transaction 2"), "{out}");
    let again = repair(&["--json"]);
    assert!(again.contains("\"left_behind\":[]"), "{again}");
}
