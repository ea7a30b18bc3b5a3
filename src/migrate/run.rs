//! One migration run: snapshot the source, check the destination against
//! the status record, copy entries in post-order with checkpoints, then move
//! the destination's roots (head, then database-info) by compare-and-set.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::db::{Database, DbError};
use crate::model::{self, DatabaseInfo, Node, TxLogHead};
use crate::store::ValueStore;

use super::copier::{Copier, CopierSettings, CopyStats};
use super::status::{MigrationState, MigrationStatus, read_status, write_status};
use super::{MigrateError, MigrationObserver, NodeXform};

/// Settings of a migration run.
#[derive(Debug, Clone)]
pub struct MigrateOptions {
    /// Write the status record every this many entries (Eva's `log-every`).
    pub log_every: u64,
    /// The status record lives at `<database-id>.<suffix>`.
    pub status_suffix: String,
    /// Nodes per destination write (one round trip each).
    pub batch_size: usize,
    /// Parallel source reads when a node's children are fetched.
    pub concurrency: usize,
    /// Keys remembered as present in the destination (bounds memory).
    pub cache_keys: usize,
    /// Walk and count, write nothing (not even the status record).
    pub dry_run: bool,
    /// Copy at most this many entries from the resume point (a sample, as
    /// `plugin check` takes); `None`: up to the source's head.
    pub limit_entries: Option<u64>,
}

impl Default for MigrateOptions {
    fn default() -> Self {
        MigrateOptions {
            log_every: 25,
            status_suffix: "migration-status".to_string(),
            batch_size: 256,
            concurrency: 4,
            cache_keys: 32_768,
            dry_run: false,
            limit_entries: None,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationReport {
    /// The first entry this run copied.
    pub start: u64,
    /// The source's entry count at the start (the snapshot): entries `< end` are in the destination.
    pub end: u64,
    /// The destination's head count before the run (`None`: it had none).
    pub previous_head: Option<u64>,
    /// Nothing had to be written: the destination was already complete.
    pub up_to_date: bool,
    /// Nothing was written because `dry_run` was set.
    pub dry_run: bool,
    /// Counts of nodes and bytes.
    pub stats: CopyStats,
    /// Each transform's report and metrics, in order.
    pub plugins: Vec<PluginSummary>,
    /// Wall time of the run.
    #[serde(serialize_with = "as_seconds")]
    pub elapsed: Duration,
}

/// What one transform reported at the end of a run.
#[derive(Debug, Clone, Serialize)]
pub struct PluginSummary {
    /// The plugin's name.
    pub name: String,
    /// Its own report (`finish`).
    pub report: String,
    /// Calls, nodes in and out, time in guest…
    pub metrics: serde_json::Value,
}

fn as_seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// What the destination holds of the database, read before anything is written.
struct Destination {
    info_raw: Option<Vec<u8>>,
    head_raw: Option<Vec<u8>>,
    head: Option<u64>,
    status: Option<(MigrationStatus, Vec<u8>)>,
}

/// Migrates database `id` from `src` to `dst`. Safe to re-run at any time:
/// after a crash it resumes, after the source grew it continues, and when
/// nothing changed it writes nothing.
pub async fn migrate(
    src: Arc<dyn ValueStore>,
    dst: Arc<dyn ValueStore>,
    id: &str,
    options: &MigrateOptions,
    xforms: &mut [Box<dyn NodeXform>],
    observer: &mut dyn MigrationObserver,
) -> Result<MigrationReport, MigrateError> {
    let started = Instant::now();
    let source = Database::open(src.clone(), id)
        .await
        .map_err(MigrateError::Source)?;
    let info = source.info().clone();
    let end = source.head().await.map_err(MigrateError::Source)?.count;
    let info_bytes = model::encode(&Node::DatabaseInfo(info.clone()));

    let found = read_destination(dst.as_ref(), id, &info, &options.status_suffix).await?;
    check_destination(&found, &info, end)?;

    let resume_from = found
        .status
        .as_ref()
        .and_then(|(s, _)| s.last_migrated)
        .map_or(0, |last| last + 1);
    let start = resume_from.max(found.head.unwrap_or(0));
    let end = options
        .limit_entries
        .map_or(end, |n| end.min(start.saturating_add(n)));
    let mut report = MigrationReport {
        start,
        end,
        previous_head: found.head,
        up_to_date: false,
        dry_run: options.dry_run,
        stats: CopyStats::default(),
        plugins: Vec::new(),
        elapsed: Duration::ZERO,
    };
    let complete = found
        .status
        .as_ref()
        .is_some_and(|(s, _)| s.state == MigrationState::Complete);
    if start >= end
        && found.head == Some(end)
        && found.info_raw.as_deref() == Some(info_bytes.as_slice())
        && complete
    {
        report.up_to_date = true;
        report.elapsed = started.elapsed();
        observer.finished(&report.stats);
        return Ok(report);
    }

    observer.started(start, end);
    let mut status = MigrationStatus {
        state: MigrationState::InProgress,
        last_migrated: start.checked_sub(1),
        source_head: end,
        destination_head: found.head,
        target_head: None,
        identity: info.identity.clone(),
        updated: String::new(),
    };
    let writer = StatusWriter {
        dst: dst.as_ref(),
        id,
        suffix: &options.status_suffix,
        dry_run: options.dry_run,
    };
    let mut status_raw = found.status.as_ref().map(|(_, raw)| raw.clone());
    writer.write(&mut status_raw, &status).await?;

    let bulk = found.status.is_none() && found.info_raw.is_none() && found.head.is_none();
    let mut copier = Copier::new(
        src.as_ref(),
        dst.as_ref(),
        id,
        xforms,
        CopierSettings {
            batch_size: options.batch_size,
            concurrency: options.concurrency,
            cache_keys: options.cache_keys,
            bulk,
            dry_run: options.dry_run,
        },
    );
    let log_every = options.log_every.max(1);
    for tx in start..end {
        copier.copy(&model::entry_key(&info.tx_log, tx)).await?;
        observer.entry_done(tx, &copier.stats);
        if (tx + 1 - start) % log_every == 0 || tx + 1 == end {
            copier.flush().await?;
            status.last_migrated = Some(tx);
            writer.write(&mut status_raw, &status).await?;
            observer.checkpoint(tx);
        }
    }
    copier.flush().await?;
    // Transforms see the roots too, and may not change them.
    let head_node = Node::TxLogHead(TxLogHead { count: end });
    copier.transform_root(&info.tx_log, head_node)?;
    copier.transform_root(id, Node::DatabaseInfo(info.clone()))?;
    report.plugins = copier
        .finish()?
        .into_iter()
        .map(|(name, report, metrics)| PluginSummary {
            name,
            report,
            metrics,
        })
        .collect();
    report.stats = copier.stats.clone();

    if !options.dry_run {
        status.state = MigrationState::Finalizing;
        status.target_head = Some(end);
        writer.write(&mut status_raw, &status).await?;
        move_roots(dst.as_ref(), id, &info, &found, end, &info_bytes).await?;
        status.state = MigrationState::Complete;
        status.destination_head = Some(end);
        status.target_head = None;
        writer.write(&mut status_raw, &status).await?;
    }
    report.elapsed = started.elapsed();
    observer.finished(&report.stats);
    Ok(report)
}

async fn read_destination(
    dst: &dyn ValueStore,
    id: &str,
    info: &DatabaseInfo,
    suffix: &str,
) -> Result<Destination, MigrateError> {
    let info_raw = dst
        .get(id, id)
        .await
        .map_err(MigrateError::destination_store)?;
    if let Some(raw) = &info_raw {
        match decode(id, raw)? {
            Node::DatabaseInfo(theirs) => {
                if theirs.identity != info.identity || theirs.tx_log != info.tx_log {
                    return Err(MigrateError::IdentityMismatch {
                        id: id.to_string(),
                        source_identity: info.identity.clone(),
                        destination_identity: theirs.identity,
                    });
                }
            }
            other => return Err(wrong_kind(id, model::NodeKind::DatabaseInfo, &other)),
        }
    }
    let head_raw = dst
        .get(id, &info.tx_log)
        .await
        .map_err(MigrateError::destination_store)?;
    let head = match &head_raw {
        None => None,
        Some(raw) => match decode(&info.tx_log, raw)? {
            Node::TxLogHead(h) => Some(h.count),
            other => return Err(wrong_kind(&info.tx_log, model::NodeKind::TxLogHead, &other)),
        },
    };
    let status = read_status(dst, id, suffix).await?;
    Ok(Destination {
        info_raw,
        head_raw,
        head,
        status,
    })
}

/// Properties 3 and 10: the destination must be exactly what the last run
/// left there, hold this database (not another with the same id) and not be
/// ahead of the source.
fn check_destination(
    found: &Destination,
    info: &DatabaseInfo,
    end: u64,
) -> Result<(), MigrateError> {
    let show = |h: Option<u64>| h.map_or("absent".to_string(), |c| c.to_string());
    match &found.status {
        Some((status, _)) => {
            if status.identity != info.identity {
                return Err(MigrateError::IdentityMismatch {
                    id: info.database_id.clone(),
                    source_identity: info.identity.clone(),
                    destination_identity: status.identity.clone(),
                });
            }
            let finalizing = status.state == MigrationState::Finalizing;
            let expected_heads = [
                Some(status.destination_head),
                finalizing.then_some(status.target_head),
            ];
            if !expected_heads.contains(&Some(found.head)) {
                return Err(MigrateError::DestinationChanged {
                    what: format!(
                        "its tx-log head count is {} but the status record says this tool left {}",
                        show(found.head),
                        show(status.destination_head)
                    ),
                });
            }
            if status.state == MigrationState::Complete && found.info_raw.is_none() {
                return Err(MigrateError::DestinationChanged {
                    what: "its database-info was removed".to_string(),
                });
            }
        }
        None if found.info_raw.is_none() && found.head.is_some() => {
            return Err(MigrateError::DestinationChanged {
                what: "it holds a tx-log head but no database-info and no status record"
                    .to_string(),
            });
        }
        None => {}
    }
    match found.head {
        Some(head) if head > end => Err(MigrateError::DestinationAhead {
            source_count: end,
            destination_count: head,
        }),
        _ => Ok(()),
    }
}

/// Moves the destination's roots: the tx-log head first, database-info last,
/// each by compare-and-set against what was read at the start.
async fn move_roots(
    dst: &dyn ValueStore,
    id: &str,
    info: &DatabaseInfo,
    found: &Destination,
    end: u64,
    info_bytes: &[u8],
) -> Result<(), MigrateError> {
    dst.flush().await.map_err(MigrateError::destination_store)?;
    if found.head != Some(end) {
        let head = model::encode(&Node::TxLogHead(TxLogHead { count: end }));
        cas(
            dst,
            id,
            &info.tx_log,
            found.head_raw.as_deref(),
            &head,
            "tx-log head",
        )
        .await?;
    }
    if found.info_raw.as_deref() != Some(info_bytes) {
        cas(
            dst,
            id,
            id,
            found.info_raw.as_deref(),
            info_bytes,
            "database-info",
        )
        .await?;
    }
    dst.flush().await.map_err(MigrateError::destination_store)
}

async fn cas(
    dst: &dyn ValueStore,
    id: &str,
    key: &str,
    expected: Option<&[u8]>,
    new: &[u8],
    what: &str,
) -> Result<(), MigrateError> {
    let outcome = dst
        .replace(id, key, expected, new)
        .await
        .map_err(MigrateError::destination_store)?;
    if outcome.replaced() {
        Ok(())
    } else {
        Err(MigrateError::DestinationChanged {
            what: format!("its {what} (`{key}`) changed during this run"),
        })
    }
}

fn decode(key: &str, raw: &[u8]) -> Result<Node, MigrateError> {
    model::decode(raw).map_err(|source| {
        MigrateError::Destination(DbError::Codec {
            key: key.to_string(),
            source,
        })
    })
}

fn wrong_kind(key: &str, expected: model::NodeKind, found: &Node) -> MigrateError {
    MigrateError::Destination(DbError::UnexpectedKind {
        key: key.to_string(),
        expected,
        found: found.kind(),
    })
}

/// Writes the status record by compare-and-set, remembering its raw bytes.
struct StatusWriter<'a> {
    dst: &'a dyn ValueStore,
    id: &'a str,
    suffix: &'a str,
    dry_run: bool,
}

impl StatusWriter<'_> {
    async fn write(
        &self,
        raw: &mut Option<Vec<u8>>,
        status: &MigrationStatus,
    ) -> Result<(), MigrateError> {
        if self.dry_run {
            return Ok(());
        }
        self.dst
            .flush()
            .await
            .map_err(MigrateError::destination_store)?;
        *raw = Some(write_status(self.dst, self.id, self.suffix, raw.as_deref(), status).await?);
        Ok(())
    }
}
