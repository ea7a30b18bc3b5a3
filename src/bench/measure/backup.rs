//! P1-sqlite: a full migration between SQLite stores against SQLite's own
//! online backup (`sqlite3 SRC ".backup DST"`) of the same file: how far
//! the copier is from what the database engine does with its own pages.

use std::path::Path;
use std::process::Command;

use super::super::BenchError;
use super::super::lab::{Lab, PAGE};
use super::super::raw_copy::raw_copy;
use super::{Pairs, Tick, migrate_timed, side_by_side, timed};
use crate::store;

/// Whether the `sqlite3` program runs here.
pub(crate) fn sqlite3_available() -> bool {
    Command::new("sqlite3")
        .arg("-version")
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Copies the lab's source into a SQLite file once; then, for each run,
/// `sqlite3 SRC ".backup DST"` into a new file and a full migration into a
/// new SQLite store. Seconds of each (the backup as the baseline).
pub(crate) async fn migration_vs_sqlite_backup(
    lab: &mut Lab,
    runs: usize,
    tick: Tick<'_>,
) -> Result<Pairs, BenchError> {
    let source_path = lab.new_file("p1-sqlite-source", "sqlite");
    let source = store::open(&sqlite_url(&source_path)).await?;
    raw_copy(lab.source.as_ref(), source.as_ref(), &lab.id, PAGE).await?;
    source.flush().await?;
    let pairs = side_by_side(runs, tick, async |_| {
        let backup_path = lab.new_file("p1-sqlite-backup", "sqlite");
        let (backed_up, backup_secs) =
            timed(async { sqlite3_backup(&source_path, &backup_path) }).await;
        backed_up?;
        remove_sqlite(&backup_path)?;
        let dst_path = lab.new_file("p1-sqlite-migrate", "sqlite");
        let dst = store::open(&sqlite_url(&dst_path)).await?;
        let (_, secs) = migrate_timed(lab, &source, &dst, &mut []).await?;
        drop(dst);
        remove_sqlite(&dst_path)?;
        Ok((backup_secs, secs))
    })
    .await;
    drop(source);
    remove_sqlite(&source_path)?;
    pairs
}

/// `sqlite3 SRC ".backup DST"`, an error naming its output when it fails.
fn sqlite3_backup(src: &Path, dst: &Path) -> Result<(), BenchError> {
    let out = Command::new("sqlite3")
        .arg(src)
        .arg(format!(".backup '{}'", dst.display()))
        .output()
        .map_err(|e| BenchError::io("running sqlite3 on", src, e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(BenchError::Unsound {
            what: format!("sqlite3 {} .backup", src.display()),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite:{}", path.display())
}

/// Deletes a SQLite file and its write-ahead log and shared-memory files.
fn remove_sqlite(path: &Path) -> Result<(), BenchError> {
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{}{suffix}", path.display());
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(BenchError::io("removing", Path::new(&file), e)),
        }
    }
    Ok(())
}
