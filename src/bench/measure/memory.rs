//! P4: peak memory of a migration of a database 10× larger against the
//! smaller one. Each migration is an `eva-admin migrate` child process of
//! its own, into a fresh sled store; its peak resident set size is read
//! from the kernel when it is reaped (see [`super::super::rss`]).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::db::Database;
use crate::db::generate::{GenerateOptions, generate};

use super::super::BenchError;
use super::super::lab::{Lab, PAGE, namespace_facts, open_sled, remove_sled, sled_url};
use super::super::raw_copy::raw_copy;
use super::super::rss::{ChildRun, run_measuring_peak_rss};
use super::{Pairs, Tick};

/// The larger database is this many times the smaller one's transactions.
pub(crate) const FACTOR: u64 = 10;

/// The memory measure's two source databases, closed (a child process
/// opens them): a byte-exact copy of the lab's source, and a database of
/// 10× its transactions.
pub(crate) struct MemorySources {
    small: PathBuf,
    large: PathBuf,
    /// Bytes of the larger database's namespace (keys and values).
    pub large_bytes: u64,
}

impl MemorySources {
    /// Makes both; `progress` is called after each transaction generated
    /// into the larger one.
    pub async fn make(
        lab: &mut Lab,
        progress: impl FnMut(u64),
    ) -> Result<MemorySources, BenchError> {
        let mut sources = MemorySources {
            small: lab.new_path("p4-small-source"),
            large: lab.new_path("p4-large-source"),
            large_bytes: 0,
        };
        let small = open_sled(&sources.small).await?;
        raw_copy(lab.source.as_ref(), small.as_ref(), &lab.id, PAGE).await?;
        small.flush().await?;
        drop(small);
        let large = open_sled(&sources.large).await?;
        let db = Database::create_in(large.clone(), &lab.id, lab.workload.format).await?;
        let workload = lab.workload.scaled(FACTOR);
        let options = GenerateOptions {
            txs: workload.txs,
            datoms_per_tx: workload.datoms_per_tx,
            seed: workload.seed,
        };
        generate(&db, &options, progress).await?;
        large.flush().await?;
        sources.large_bytes = namespace_facts(large.as_ref(), &lab.id).await?.bytes;
        Ok(sources)
    }

    /// Deletes both.
    pub fn remove(self) -> Result<(), BenchError> {
        remove_sled(&self.small)?;
        remove_sled(&self.large)
    }
}

/// What the child migrations of [`peak_memory`] took, the smaller source's
/// as baseline and the larger's as subject.
#[derive(Default)]
pub(crate) struct ChildMigrations {
    /// Peak resident bytes.
    pub peak_rss: Pairs,
    /// Wall seconds, from spawning the process to reaping it.
    pub seconds: Pairs,
    /// Peak resident bytes of the same migrations with `--dry-run`: every
    /// node read and walked, nothing written — what reading alone holds.
    pub reading_only: Pairs,
}

/// For each run: migrates the smaller source and then the larger one, each
/// in a child process `exe migrate … --quiet` into a fresh sled store, then
/// does the same with `--dry-run` (reading without writing).
pub(crate) async fn peak_memory(
    lab: &mut Lab,
    exe: &Path,
    sources: &MemorySources,
    runs: usize,
    tick: Tick<'_>,
) -> Result<ChildMigrations, BenchError> {
    let mut taken = ChildMigrations::default();
    for _ in 0..runs {
        let small = migrate_child(lab, exe, &sources.small, &[]).await?;
        let large = migrate_child(lab, exe, &sources.large, &[]).await?;
        let small_read = migrate_child(lab, exe, &sources.small, &["--dry-run"]).await?;
        let large_read = migrate_child(lab, exe, &sources.large, &["--dry-run"]).await?;
        taken.reading_only.push(
            small_read.peak_rss_bytes as f64,
            large_read.peak_rss_bytes as f64,
        );
        taken
            .peak_rss
            .push(small.peak_rss_bytes as f64, large.peak_rss_bytes as f64);
        taken
            .seconds
            .push(small.elapsed.as_secs_f64(), large.elapsed.as_secs_f64());
        tick();
    }
    Ok(taken)
}

/// `exe migrate sled:SOURCE sled:DEST --db ID --quiet [EXTRA…]` into a
/// fresh directory, removed afterwards.
async fn migrate_child(
    lab: &mut Lab,
    exe: &Path,
    source: &Path,
    extra: &[&str],
) -> Result<ChildRun, BenchError> {
    let destination = lab.new_path("p4-destination");
    let mut command = Command::new(exe);
    command.args([
        "migrate",
        &sled_url(source),
        &sled_url(&destination),
        "--db",
        &lab.id,
        "--quiet",
    ]);
    command.args(extra);
    let shown = format!(
        "{} migrate … --db {} {}",
        exe.display(),
        lab.id,
        extra.join(" ")
    );
    let run = tokio::task::spawn_blocking(move || run_measuring_peak_rss(&mut command))
        .await
        .map_err(|e| BenchError::Unsound {
            what: shown.clone(),
            detail: e.to_string(),
        })?
        .map_err(|e| BenchError::io("running", exe, e))?;
    remove_sled(&destination)?;
    if !run.succeeded() {
        return Err(BenchError::Child {
            command: shown,
            status: run
                .exit_code
                .map_or("killed by a signal".into(), |c| format!("exit code {c}")),
            stderr: tail(&run.stderr),
        });
    }
    Ok(run)
}

/// The last lines of a child's stderr.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}
