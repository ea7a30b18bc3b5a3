//! Crash safety: the `eva-admin migrate` process is killed with SIGKILL at
//! random moments, resumed each time, and the result verified. Runs 20
//! kills by default, 100 with `EVA_SLOW_TESTS=1`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use eva_admin::db::Database;
use eva_admin::model;
use eva_admin::store;
use rand::{Rng, SeedableRng};

const BIN: &str = env!("CARGO_BIN_EXE_eva-admin");

fn eva(args: &[&str]) -> std::process::Output {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "eva-admin {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Starts `eva-admin ARGS` (with `EVA_ADMIN_CACHE_DIR=cache` when given),
/// SIGKILLs it after `after`, and says whether it had finished by then.
fn kill_after(args: &[&str], cache: Option<&std::path::Path>, after: Duration) -> bool {
    let mut command = Command::new(BIN);
    if let Some(cache) = cache {
        command.env("EVA_ADMIN_CACHE_DIR", cache);
    }
    let mut child = command
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    let finished = child.try_wait().unwrap().is_some();
    child.kill().unwrap_or(()); // SIGKILL on Unix
    child.wait().unwrap();
    finished
}

/// `migrate SRC DST` with small checkpoints and batches, so kills land mid-run.
fn small_steps<'a>(src: &'a str, dst: &'a str) -> [&'a str; 11] {
    [
        "migrate",
        src,
        dst,
        "--db",
        "demo",
        "--log-every",
        "5",
        "--checkpoint-secs",
        "0",
        "--batch-size",
        "32",
    ]
}

/// After a kill the destination is either without roots or a complete,
/// readable database: never a partial root.
async fn assert_no_partial_root(url: &str) {
    let dst = store::open(url).await.unwrap();
    if dst.get("demo", "demo").await.unwrap().is_none() {
        return;
    }
    let db = Database::open(dst, "demo").await.unwrap();
    let count = db.head().await.unwrap().count;
    let last = db.entry(count - 1).await.unwrap();
    for root in last.roots.keys() {
        let node = db.expect_node(root).await.unwrap();
        assert!(matches!(
            node,
            model::Node::IndexInner(_) | model::Node::IndexLeaf(_)
        ));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn resume_after_kill_loses_nothing() {
    resume_after_kill("1", "400").await;
}

/// The same on a format 2 source large enough to have been indexed once
/// past its first transaction (32,768 datoms of novelty).
#[tokio::test(flavor = "multi_thread")]
async fn resume_after_kill_loses_nothing_in_format_2() {
    resume_after_kill("2", "3500").await;
}

/// Generates a source of `txs` transactions in storage `format`, SIGKILLs
/// migrations of it at random moments (no partial root after any), then
/// finishes and verifies.
async fn resume_after_kill(format: &str, txs: &str) {
    let kills: usize = if std::env::var_os("EVA_SLOW_TESTS").is_some() {
        100
    } else {
        20
    };
    let dir = tempfile::tempdir().unwrap();
    let url = |name: &str| format!("sled:{}", dir.path().join(name).display());
    let (src, dst, probe) = (url("src"), url("dst"), url("probe"));
    eva(&[
        "db",
        "generate",
        &src,
        "--db",
        "demo",
        "--txs",
        txs,
        "--datoms-per-tx",
        "10",
        "--seed",
        "3",
        "--storage-format",
        format,
    ]);
    let stats = eva(&["db", "stats", &src, "--db", "demo", "--json"]);
    let stats: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    let index_sets = stats["nodes"]["index set"]["count"].as_u64().unwrap();
    assert_eq!(index_sets >= 2, format == "2", "{stats}");

    // How long an uninterrupted run takes, to spread the kills over it.
    let started = Instant::now();
    eva(&["migrate", &src, &probe, "--db", "demo"]);
    let full = started.elapsed().as_millis().max(20) as u64;

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let mut finished_early = 0;
    for _ in 0..kills {
        let args = small_steps(&src, &dst);
        if kill_after(
            &args,
            None,
            Duration::from_millis(rng.random_range(0..full)),
        ) {
            finished_early += 1;
        }
        assert_no_partial_root(&dst).await;
    }
    println!("{kills} kills, {finished_early} runs finished before their kill");

    eva(&["migrate", &src, &dst, "--db", "demo"]);
    let verify = eva(&["verify", &src, &dst, "--db", "demo"]);
    assert!(String::from_utf8_lossy(&verify.stdout).contains("equal"));
    let status = eva(&["status", &dst, "--db", "demo", "--json"]);
    assert!(String::from_utf8_lossy(&status.stdout).contains("\"complete\""));
}

/// A migration through a plugin killed at random moments resumes to the
/// same result as the source passed through that plugin (plugins are
/// deterministic in their sandbox).
#[tokio::test(flavor = "multi_thread")]
async fn resume_after_kill_with_a_plugin_reaches_the_same_result() {
    let excise = guest("excise");
    kill_resume_verify(
        &[],
        &[
            "--plugin",
            &excise,
            "--plugin-config",
            "excise:attributes=:person/email",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn resume_after_kill_during_a_rebuild_reaches_the_same_result() {
    let rename = guest("rename-attribute");
    kill_resume_verify(
        &["--rebuild"],
        &[
            "--plugin",
            &rename,
            "--plugin-config",
            "from=:person/email",
            "--plugin-config",
            "to=:person/mail",
        ],
    )
    .await;
}

/// The path of a compiled guest in `plugins/out`.
fn guest(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("plugins/out")
        .join(format!("{name}.wasm"));
    assert!(path.exists(), "run `bash plugins/build.sh` first");
    path.display().to_string()
}

/// Generates a source, SIGKILLs `migrate MODE… PLUGINS…` 8 times at random
/// moments (no partial root after any), finishes the run, then `verify
/// MODE… PLUGINS…` must find the destination equal: the transform is
/// deterministic and resuming loses nothing.
async fn kill_resume_verify(mode: &[&str], plugin_args: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let url = |name: &str| format!("sled:{}", dir.path().join(name).display());
    let (src, dst) = (url("src"), url("dst"));
    let cache = dir.path().join("cache");
    eva(&[
        "db",
        "generate",
        &src,
        "--db",
        "demo",
        "--txs",
        "200",
        "--datoms-per-tx",
        "10",
        "--seed",
        "4",
    ]);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    for _ in 0..8 {
        let migrate = small_steps(&src, &dst);
        let args = [&migrate[..], mode, plugin_args].concat();
        kill_after(
            &args,
            Some(&cache),
            Duration::from_millis(rng.random_range(20..400)),
        );
        assert_no_partial_root(&dst).await;
    }
    let finish = Command::new(BIN)
        .env("EVA_ADMIN_CACHE_DIR", &cache)
        .args(["migrate", &src, &dst, "--db", "demo"])
        .args(mode)
        .args(plugin_args)
        .output()
        .unwrap();
    assert!(
        finish.status.success(),
        "{}",
        String::from_utf8_lossy(&finish.stderr)
    );
    let verify = Command::new(BIN)
        .env("EVA_ADMIN_CACHE_DIR", &cache)
        .args(["verify", &src, &dst, "--db", "demo"])
        .args(mode)
        .args(plugin_args)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}
