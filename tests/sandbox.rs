//! The sandbox against guests written to break it (plugins/wat/, made into
//! components at test time by tests/common/wat_guest.rs, and the Python
//! guest plugins/python/hostile-sleep): one deadline holds every guest call
//! whatever the guest calls (a blocking WASI call included, and the start
//! function and `describe` while loading), and one memory budget holds all
//! of an instance's memories and tables. Each test checks the clean stop
//! (the error names the plugin and the limit), the time it took, for the
//! memory limits the memory the real binary held, and that the destination
//! is left usable: its roots untouched, and a plain migration into it either
//! completes and verifies equal (nothing was written through the guest) or
//! is refused, naming the chain the destination was written through (see
//! docs/migration.md, After a failed run); a run through the same chain
//! with a limit it fits in resumes.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::plugin_fixtures::{DB, cache_dir, guest, load_path, options, run, source};
use common::wat_guest::wat_guest;
use eva_admin::bench::rss::run_measuring_peak_rss;
use eva_admin::migrate::{self, MigrateError, VerifyOptions};
use eva_admin::plugin::PluginOptions;
use eva_admin::store::{MemStore, ValueStore};

/// The deadline of the timeout tests.
const DEADLINE: Duration = Duration::from_secs(2);
/// How much longer than the deadline a stop may take.
const MARGIN: Duration = Duration::from_millis(1500);
/// How much shorter than the deadline a guest that sleeps past it may be
/// stopped (the deadline is counted in 10 ms epoch ticks).
const SLACK: Duration = Duration::from_millis(100);
/// A test whose guest the host cannot stop is failed after this long
/// rather than left hanging (its thread is abandoned).
const HANG: Duration = Duration::from_secs(60);
/// What a process may hold beyond its memory cap (the host itself,
/// compiled code, the stores).
const RSS_MARGIN_MIB: u64 = 150;

/// The options of the timeout tests: a 2 s deadline.
fn deadline_options() -> PluginOptions {
    PluginOptions {
        timeout: DEADLINE,
        ..options()
    }
}

/// Runs `f` with a runtime of its own on a thread of its own; fails the
/// test if `f` has not returned within [`HANG`].
fn bounded<F>(f: impl FnOnce() -> F + Send + 'static) -> F::Output
where
    F: Future,
    F::Output: Send + 'static,
{
    let (done, result) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let _ = done.send(runtime.block_on(f()));
    });
    match result.recv_timeout(HANG) {
        Ok(output) => output,
        Err(mpsc::RecvTimeoutError::Disconnected) => match thread.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the thread sent nothing and did not panic"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("still running after {HANG:?}: the host did not stop the guest")
        }
    }
}

/// After a stop, `dst` holds no root of the database, and a plain
/// migration (no plugin) into it either completes and verifies equal, or,
/// when the stopped run recorded its chain, is refused naming it.
async fn assert_destination_usable(src: &Arc<dyn ValueStore>, dst: &Arc<dyn ValueStore>) {
    assert!(
        dst.get(DB, DB).await.unwrap().is_none(),
        "database-info untouched"
    );
    match run(src, dst, &mut []).await {
        Ok(_) => {
            let check = migrate::verify(src.clone(), dst.clone(), DB, &VerifyOptions::default())
                .await
                .unwrap();
            assert!(check.is_equal(), "{:?}", check.differences);
        }
        Err(MigrateError::ChainChanged {
            recorded, given, ..
        }) => {
            assert_eq!(given, "no plugin");
            assert!(!recorded.is_empty());
            assert!(
                dst.get(DB, DB).await.unwrap().is_none(),
                "database-info untouched"
            );
        }
        Err(e) => panic!("a plain migration after the stop: {e}"),
    }
}

/// Whether `text` is the stop of plugin `name` for the reason `expected`.
fn names_plugin_and_reason(text: &str, name: &str, expected: &str) -> bool {
    text.contains(&format!("plugin `{name}`")) && text.contains(expected)
}

/// Checks how long a stop took: within the margin after the deadline and,
/// for a guest that sleeps past it, not before it.
fn assert_stopped_in_time(name: &str, took: Duration, sleeps: bool) {
    assert!(
        took < DEADLINE + MARGIN,
        "{name}: stopped after {took:?}, deadline {DEADLINE:?}"
    );
    if sleeps {
        assert!(
            took > DEADLINE - SLACK,
            "{name}: stopped after {took:?}, before its deadline {DEADLINE:?}"
        );
    }
}

/// Loads the guest at `path` (untimed), migrates through it under a 2 s
/// deadline and expects the migration to stop with a timeout within the
/// margin; then the destination must take a plain migration.
async fn times_out_in_a_hook(path: &Path, name: &str, sleeps: bool) {
    let (src, idents) = source(20).await;
    let dst: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
    let mut xforms = load_path(path, &[], &idents, &deadline_options())
        .unwrap_or_else(|e| panic!("{name}: loading failed: {e}"));
    let started = Instant::now();
    let result = run(&src, &dst, &mut xforms).await;
    let took = started.elapsed();
    let text = match result {
        Ok(_) => "(the migration completed)".to_string(),
        Err(e) => e.to_string(),
    };
    println!("{name}: migrate stopped after {took:?}: {text}");
    assert!(
        names_plugin_and_reason(&text, name, "timed out after 2000 ms"),
        "{name}: after {took:?}: {text}"
    );
    assert_stopped_in_time(name, took, sleeps);
    drop(xforms);
    assert_destination_usable(&src, &dst).await;
}

/// Loading (instantiate, start function, describe, init) the hand-written
/// guest `name` under a 2 s deadline returns a timeout within the margin.
async fn times_out_while_loading(name: &str, sleeps: bool) {
    let guest = wat_guest(name);
    let (src, idents) = source(10).await;
    // A first, untimed load compiles the component into the cache (which
    // happens before it is instantiated), so the timed one measures the
    // guest's calls, not the compiler.
    let _ = load_path(guest.path(), &[], &idents, &deadline_options());
    let started = Instant::now();
    let result = load_path(guest.path(), &[], &idents, &deadline_options());
    let took = started.elapsed();
    let text = match result {
        Ok(_) => "(loading succeeded)".to_string(),
        Err(e) => e.to_string(),
    };
    println!("{name}: load stopped after {took:?}: {text}");
    assert!(
        names_plugin_and_reason(&text, name, "timed out after 2000 ms"),
        "{name}: after {took:?}: {text}"
    );
    assert_stopped_in_time(name, took, sleeps);
    let dst: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
    assert_destination_usable(&src, &dst).await;
}

/// The well-behaved hand-written guest proves the harness: its read hook
/// sees every node, returns it unchanged, and the copy verifies equal,
/// plainly and through the guest.
#[test]
fn the_hand_written_echo_guest_gives_a_destination_equal_to_the_source() {
    bounded(|| async {
        let echo = wat_guest("echo");
        let (src, idents) = source(40).await;
        let dst: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
        let mut xforms = load_path(echo.path(), &[], &idents, &options()).unwrap();
        let report = run(&src, &dst, &mut xforms).await.unwrap();
        let plugin = &report.plugins[0];
        assert_eq!(plugin.name, "echo");
        assert_eq!(plugin.report, "");
        let nodes_in = plugin.metrics["nodes_in"].as_u64().unwrap();
        // Each written node and the two roots pass the read hook once.
        assert_eq!(nodes_in, report.stats.nodes_written + 2);
        assert_eq!(plugin.metrics["nodes_out"].as_u64(), Some(nodes_in));
        let check = migrate::verify(src.clone(), dst.clone(), DB, &VerifyOptions::default())
            .await
            .unwrap();
        assert!(check.is_equal(), "{:?}", check.differences);
        let mut again = load_path(echo.path(), &[], &idents, &options()).unwrap();
        let through = migrate::verify_through(src, dst, DB, &mut again, &VerifyOptions::default())
            .await
            .unwrap();
        assert!(through.is_equal(), "{:?}", through.differences);
    });
}

/// A read hook blocked for 30 s on a monotonic-clock pollable
/// (`[method]pollable.block`) is stopped at the deadline.
#[test]
fn a_hook_blocked_on_a_pollable_is_stopped_at_the_deadline() {
    bounded(|| async {
        let guest = wat_guest("sleep");
        times_out_in_a_hook(guest.path(), "sleep", true).await;
    });
}

/// A read hook that polls a fresh 1 ms pollable forever is stopped at the
/// deadline.
#[test]
fn a_hook_polling_in_a_loop_is_stopped_at_the_deadline() {
    bounded(|| async {
        let guest = wat_guest("poll-loop");
        times_out_in_a_hook(guest.path(), "poll-loop", true).await;
    });
}

/// A read hook polling a pollable for instant u64::MAX (a poll that never
/// returns) is stopped at the deadline.
#[test]
fn a_hook_polling_for_the_last_instant_is_stopped_at_the_deadline() {
    bounded(|| async {
        let guest = wat_guest("poll-forever");
        times_out_in_a_hook(guest.path(), "poll-forever", true).await;
    });
}

/// Python's `time.sleep(30)` in the read hook is stopped at the deadline.
#[test]
fn a_python_hook_sleeping_is_stopped_at_the_deadline() {
    bounded(|| async {
        times_out_in_a_hook(&guest("hostile-sleep"), "hostile-sleep", true).await;
    });
}

/// A plugin stopped by a limit too tight for it (the Rust identity guest
/// under 10,000 units of fuel a call: enough to load, not for a batch)
/// leaves the destination resumable through the same chain: the same
/// plugin with a limit it fits in completes the copy, which verifies equal.
/// Fuel makes the stop deterministic; a deadline or memory cap behaves the
/// same (limits are not part of the chain).
#[test]
fn a_run_stopped_by_a_limit_resumes_through_the_same_plugin() {
    bounded(|| async {
        let (src, idents) = source(30).await;
        let dst: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
        let tight = PluginOptions {
            fuel: Some(10_000),
            ..options()
        };
        let path = guest("identity");
        let mut xforms = load_path(&path, &[], &idents, &tight).unwrap();
        let err = run(&src, &dst, &mut xforms).await.unwrap_err();
        assert!(
            names_plugin_and_reason(&err.to_string(), "identity", "used up its fuel"),
            "{err}"
        );
        drop(xforms);
        let mut xforms = load_path(&path, &[], &idents, &options()).unwrap();
        run(&src, &dst, &mut xforms).await.unwrap();
        let check = migrate::verify(src.clone(), dst.clone(), DB, &VerifyOptions::default())
            .await
            .unwrap();
        assert!(check.is_equal(), "{:?}", check.differences);
    });
}

/// A start function that never returns: loading stops with a timeout.
#[test]
fn a_start_function_that_never_returns_times_out_while_loading() {
    bounded(|| times_out_while_loading("start-loop", false));
}

/// A `describe` that never returns: loading stops with a timeout.
#[test]
fn a_describe_that_never_returns_times_out_while_loading() {
    bounded(|| times_out_while_loading("describe-loop", false));
}

/// An `init` blocked for 30 s on a pollable: loading stops with a timeout.
#[test]
fn an_init_blocked_on_a_pollable_times_out_while_loading() {
    bounded(|| times_out_while_loading("init-sleep", true));
}

/// What a process run told: whether it exited 0, its peak resident set in
/// KiB and its stderr.
struct Measured {
    success: bool,
    max_rss_kib: u64,
    stderr: String,
}

/// Runs `command` to its end, measuring its own peak memory (not its
/// parent's: see src/bench/rss.rs for why `ru_maxrss` alone would report
/// this test process's size).
fn measured(command: &mut Command) -> Measured {
    let run = run_measuring_peak_rss(command).unwrap();
    Measured {
        success: run.succeeded(),
        max_rss_kib: run.peak_rss_bytes / 1024,
        stderr: run.stderr,
    }
}

/// `eva-admin ARGS` with the tests' compile cache, expected to succeed.
fn eva_succeeds(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_eva-admin"))
        .args(args)
        .env("EVA_ADMIN_CACHE_DIR", cache_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "eva-admin {args:?}: {out:?}");
}

/// A memory test: the hand-written guest `name` must be stopped with
/// "ran out of memory (cap CAP MiB)", by the library (while loading or in
/// its hook) and by the real binary, which must hold no more than the cap
/// and [`RSS_MARGIN_MIB`]; each destination then takes a plain migration
/// and verifies equal.
fn runs_out_of_memory(name: &str, cap_mib: u64) {
    let guest = wat_guest(name);
    let expected = format!("ran out of memory (cap {cap_mib} MiB");

    // The real binary, measured.
    let store = |file: &str| format!("sqlite:{}", guest.dir().join(file).display());
    let (src, dst) = (store("src.db"), store("dst.db"));
    eva_succeeds(&["db", "generate", &src, "--db", DB, "--txs", "8"]);
    let cap = cap_mib.to_string();
    let plugin = guest.path().to_str().unwrap();
    let started = Instant::now();
    let migrated = measured(
        Command::new(env!("CARGO_BIN_EXE_eva-admin"))
            .args(["migrate", &src, &dst, "--db", DB, "--plugin", plugin])
            .args(["--plugin-memory", &cap])
            .env("EVA_ADMIN_CACHE_DIR", cache_dir()),
    );
    println!(
        "{name}: eva-admin migrate --plugin-memory {cap_mib}: {} after {:?}, max RSS {} MiB; stderr: {}",
        if migrated.success {
            "succeeded"
        } else {
            "failed"
        },
        started.elapsed(),
        migrated.max_rss_kib / 1024,
        migrated.stderr.trim()
    );
    assert!(
        migrated.max_rss_kib < (cap_mib + RSS_MARGIN_MIB) * 1024,
        "{name}: the process held {} MiB with --plugin-memory {cap_mib}",
        migrated.max_rss_kib / 1024
    );
    assert!(
        !migrated.success && names_plugin_and_reason(&migrated.stderr, name, &expected),
        "{name}: {}",
        migrated.stderr
    );
    // A plain run completes when nothing went through the guest (it was
    // stopped while loading), or is refused naming its chain.
    let plain = Command::new(env!("CARGO_BIN_EXE_eva-admin"))
        .args(["migrate", &src, &dst, "--db", DB])
        .env("EVA_ADMIN_CACHE_DIR", cache_dir())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&plain.stderr);
    if plain.status.success() {
        eva_succeeds(&["verify", &src, &dst, "--db", DB]);
    } else {
        assert!(said.contains("was written through"), "{name}: {said}");
    }

    // The library: the error itself.
    let path = guest.path().to_path_buf();
    let name = name.to_string();
    bounded(move || async move {
        let (src, idents) = source(20).await;
        let dst: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
        let options = PluginOptions {
            memory_bytes: cap_mib << 20,
            ..PluginOptions::default()
        };
        let text = match load_path(&path, &[], &idents, &options) {
            Err(e) => format!("loading: {e}"),
            Ok(mut xforms) => match run(&src, &dst, &mut xforms).await {
                Err(e) => format!("migrating: {e}"),
                Ok(_) => "(the migration completed)".to_string(),
            },
        };
        println!("{name}: library: {text}");
        assert!(
            names_plugin_and_reason(&text, &name, &expected),
            "{name}: {text}"
        );
        assert_destination_usable(&src, &dst).await;
    });
}

/// Eight more memories of 256 MiB each (their minimum) count against one
/// 300 MiB budget, not 300 MiB each.
#[test]
fn eight_memories_of_256_mib_share_one_300_mib_budget() {
    runs_out_of_memory("memories", 300);
}

/// Eight small memories each grown by 256 MiB in the hook count against
/// one 300 MiB budget.
#[test]
fn memories_grown_in_a_hook_share_one_300_mib_budget() {
    runs_out_of_memory("memories-grow", 300);
}

/// 20 tables of 1 M entries (8 MiB each) count against the memory budget.
#[test]
fn tables_count_against_a_16_mib_budget() {
    runs_out_of_memory("tables", 16);
}

/// 99 tables are more than an instance may declare, whatever their size:
/// loading stops, naming the limit.
#[test]
fn more_tables_than_an_instance_may_declare_are_refused_while_loading() {
    bounded(|| async {
        let guest = wat_guest("tables-many");
        let (_, idents) = source(5).await;
        let options = PluginOptions {
            memory_bytes: 4 << 30,
            ..options()
        };
        let err = match load_path(guest.path(), &[], &idents, &options) {
            Err(e) => e.to_string(),
            Ok(_) => "(loading succeeded)".to_string(),
        };
        assert!(
            names_plugin_and_reason(&err, "tables-many", "more tables than the sandbox allows"),
            "{err}"
        );
    });
}
