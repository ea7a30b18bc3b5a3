//! Real PostgreSQL and MariaDB servers for the integration tests.
//!
//! Each test process starts at most one of each, lazily, on a free localhost
//! port in a temporary directory (binaries from `.ci/install-servers.sh`). A
//! small detached watchdog shell stops the servers and deletes their
//! directories once the test process has exited, however it exits (normal
//! end, panic, Ctrl-C, kill), so `cargo test` leaves nothing running.
//!
//! When a server's binaries are missing the helpers print a loud `SKIP` line
//! and return `None`, unless the environment variable `CI` is set: then they
//! panic, so CI can never pass by skipping.

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A running server: the URL prefix to reach it, without a database name.
#[derive(Debug, Clone)]
struct Server {
    base_url: String,
}

/// `Ok(None)`: the binaries are not installed.
type Started = Result<Option<Server>, String>;

static POSTGRES: OnceLock<Started> = OnceLock::new();
static MARIADB: OnceLock<Started> = OnceLock::new();
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// A store URL for a fresh, empty PostgreSQL database on this process's test
/// server, or `None` (after a `SKIP` message) when PostgreSQL is not installed.
pub async fn postgres_url() -> Option<String> {
    let server = server(&POSTGRES, start_postgres, "PostgreSQL (initdb, pg_ctl)").await?;
    let name = format!("t_{}", NEXT_DB.fetch_add(1, Ordering::Relaxed));
    let admin = format!("{}/postgres", server.base_url);
    let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL at {admin}: {e}"));
    let driver = tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap_or_else(|e| panic!("cannot create database {name} on {admin}: {e:?}"));
    drop(client);
    let _ = driver.await;
    Some(format!("{}/{name}", server.base_url))
}

/// A store URL naming a fresh (not yet existing: the store creates it)
/// MariaDB database on this process's test server, or `None` (after a `SKIP`
/// message) when MariaDB is not installed.
pub async fn mysql_url() -> Option<String> {
    let server = server(
        &MARIADB,
        start_mariadb,
        "MariaDB (mariadbd, mariadb-install-db)",
    )
    .await?;
    let name = format!("t_{}", NEXT_DB.fetch_add(1, Ordering::Relaxed));
    Some(format!("{}/{name}", server.base_url))
}

/// A `sled:` URL for a store inside `dir`.
pub fn sled_url(dir: &Path) -> String {
    format!("sled:{}", dir.join("store.sled").display())
}

/// A `sqlite:` URL for a store inside `dir`.
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite:{}", dir.join("store.sqlite").display())
}

/// The backends every conformance-style test runs against.
pub const BACKENDS: [&str; 5] = ["mem", "sled", "sqlite", "postgres", "mysql"];

/// A URL for a fresh, empty store of backend `name` (one of [`BACKENDS`]),
/// files in `tmp`; `None` when that server is not installed (see module docs).
pub async fn backend_url(name: &str, tmp: &Path) -> Option<String> {
    match name {
        "mem" => Some("mem:".to_string()),
        "sled" => Some(sled_url(tmp)),
        "sqlite" => Some(sqlite_url(tmp)),
        "postgres" => postgres_url().await,
        "mysql" => mysql_url().await,
        other => panic!("unknown backend {other}"),
    }
}

/// One fresh store URL per backend that is available here, files in `tmp`.
pub async fn all_backends(tmp: &Path) -> Vec<(&'static str, String)> {
    let mut all = Vec::new();
    for name in BACKENDS {
        if let Some(url) = backend_url(name, tmp).await {
            all.push((name, url));
        }
    }
    all
}

async fn server(
    cell: &'static OnceLock<Started>,
    start: fn() -> Started,
    what: &'static str,
) -> Option<Server> {
    let started = tokio::task::spawn_blocking(move || cell.get_or_init(start).clone())
        .await
        .expect("server start thread panicked");
    match started {
        Ok(Some(server)) => Some(server),
        Ok(None) if std::env::var_os("CI").is_some() => panic!(
            "CI is set but {what} is not installed: run .ci/install-servers.sh (refusing to skip)"
        ),
        Ok(None) => {
            eprintln!(
                "\n*** SKIP: {what} is not installed; its tests do NOT run. \
                 Install it with .ci/install-servers.sh ***\n"
            );
            None
        }
        Err(reason) => panic!("cannot start the test {what} server: {reason}"),
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `name` on PATH or in the usual sbin directories.
fn find_binary(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from));
    names
        .iter()
        .find_map(|name| dirs.iter().map(|d| d.join(name)).find(|p| p.is_file()))
}

/// The newest `/usr/lib/postgresql/<version>/bin`, else the directory of
/// `initdb` on PATH.
fn postgres_bindir() -> Option<PathBuf> {
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .max_by_key(|(v, _)| *v)
        .map(|(_, bin)| bin);
    newest.or_else(|| find_binary(&["initdb"])?.parent().map(Path::to_path_buf))
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn temp_dir(prefix: &str) -> Result<PathBuf, String> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map(|d| d.keep())
        .map_err(|e| format!("cannot create a temporary directory: {e}"))
}

/// `s` quoted for `sh`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Runs a shell command line, as the `postgres` user when `as_postgres`.
fn run(line: &str, as_postgres: bool) -> Result<(), String> {
    let mut cmd = if as_postgres {
        let mut c = Command::new("su");
        c.args(["postgres", "-s", "/bin/sh", "-c", line]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", line]);
        c
    };
    let out = cmd
        .current_dir("/")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `{line}`: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{line}` failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Starts a detached shell that waits for this test process to end, then runs
/// `cleanup`. It is in its own process group so a Ctrl-C aimed at the tests
/// does not stop it before it has cleaned up.
fn watchdog(cleanup: &str) -> Result<(), String> {
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {cleanup}",
        pid = std::process::id()
    );
    Command::new("sh")
        .args(["-c", &script])
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map(drop)
        .map_err(|e| format!("cannot start the cleanup watchdog: {e}"))
}

fn start_postgres() -> Started {
    let Some(bin) = postgres_bindir() else {
        return Ok(None);
    };
    let root = is_root();
    let dir = temp_dir("eva-test-pg-")?;
    let d = dir.display().to_string();
    if root {
        run(&format!("chown postgres {}", sh_quote(&d)), false)?;
    }
    let pg_ctl = sh_quote(&bin.join("pg_ctl").display().to_string());
    let data = sh_quote(&format!("{d}/data"));
    // As root the watchdog stops the server as its owner, then removes all.
    let stop = format!("{pg_ctl} -D {data} -m immediate -w stop");
    let stop = if root {
        format!("su postgres -s /bin/sh -c {}", sh_quote(&stop))
    } else {
        stop
    };
    watchdog(&format!("{stop} >/dev/null 2>&1; rm -rf {}", sh_quote(&d)))?;

    let initdb = sh_quote(&bin.join("initdb").display().to_string());
    run(
        &format!("{initdb} -D {data} -A trust -U eva --no-sync >/dev/null"),
        root,
    )?;
    let mut last_error = String::new();
    for _ in 0..3 {
        let port = free_port()?;
        let options = format!(
            "-p {port} -k {d} -c listen_addresses=127.0.0.1 -c fsync=off \
             -c synchronous_commit=off -c max_connections=300"
        );
        let log = sh_quote(&format!("{d}/log"));
        let start = format!(
            "{pg_ctl} -D {data} -o {} -l {log} -w -t 60 start >/dev/null",
            sh_quote(&options)
        );
        match run(&start, root) {
            Ok(()) => {
                return Ok(Some(Server {
                    base_url: format!("postgres://eva@127.0.0.1:{port}"),
                }));
            }
            Err(e) => {
                let log = std::fs::read_to_string(format!("{d}/log")).unwrap_or_default();
                last_error = format!("{e}\n--- server log ---\n{log}");
            }
        }
    }
    Err(last_error)
}

fn start_mariadb() -> Started {
    let (Some(server), Some(install)) = (
        find_binary(&["mariadbd", "mysqld"]),
        find_binary(&["mariadb-install-db", "mysql_install_db"]),
    ) else {
        return Ok(None);
    };
    let root = is_root();
    let dir = temp_dir("eva-test-mariadb-")?;
    let d = dir.display().to_string();
    let user = if root { "--user=root" } else { "" };
    run(
        &format!(
            "{} --no-defaults --datadir={} {user} --auth-root-authentication-method=normal \
             --skip-test-db >/dev/null",
            sh_quote(&install.display().to_string()),
            sh_quote(&format!("{d}/data"))
        ),
        false,
    )?;
    let mut last_error = String::new();
    for _ in 0..3 {
        let port = free_port()?;
        let log = format!("{d}/log");
        let mut cmd = Command::new(&server);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={d}/data"))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={d}/sock"))
            .arg(format!("--pid-file={d}/pid"))
            .arg(format!("--log-error={log}"))
            .arg("--skip-grant-tables")
            .arg("--innodb-flush-log-at-trx-commit=0")
            .arg("--max-connections=500");
        if root {
            cmd.arg("--user=root");
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", server.display()))?;
        let pid = child.id();
        watchdog(&format!(
            "kill -TERM {pid} 2>/dev/null; i=0; \
             while kill -0 {pid} 2>/dev/null && [ $i -lt 30 ]; do sleep 1; i=$((i+1)); done; \
             kill -KILL {pid} 2>/dev/null; rm -rf {}",
            sh_quote(&d)
        ))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                last_error = format!("mariadbd exited ({status})\n--- server log ---\n{log}");
                break;
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(Some(Server {
                    base_url: format!("mysql://root@127.0.0.1:{port}"),
                }));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                last_error = "mariadbd did not listen within 60 s".into();
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Err(last_error)
}
