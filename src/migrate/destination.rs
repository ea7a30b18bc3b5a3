//! The destination's mutable keys as a run finds and leaves them: what it
//! holds of the database (database-info, tx-log head, status record), the
//! checks that it is what the last run left there, the status record
//! written by compare-and-set, and the final move of the roots. Shared by
//! plain migration and rebuild.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use crate::db::DbError;
use crate::model::{self, DatabaseInfo, Node, TxLogHead};
use crate::store::ValueStore;

use super::copier::CopyStats;
use super::status::{
    MigrationState, MigrationStatus, RebuildRecord, TransformRecord, chain_list, read_status,
    write_status,
};
use super::{MigrateError, MigrateOptions, MigrationObserver, MigrationReport};

/// What a run writes into the destination; a destination holds one or the
/// other, never a mix.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Mode<'a> {
    /// A copy of the source's nodes through this chain of node-level
    /// transforms (empty: none).
    Plain(&'a [TransformRecord]),
    /// The source's transactions replayed through these transforms.
    Rebuild(&'a RebuildRecord),
}

/// What the destination holds of the database, read before anything is written.
pub(crate) struct Destination {
    /// database-info's bytes, if present.
    pub info_raw: Option<Vec<u8>>,
    /// The tx-log head's bytes, if present.
    pub head_raw: Option<Vec<u8>>,
    /// The tx-log head's count, if present.
    pub head: Option<u64>,
    /// The status record and its bytes, if present.
    pub status: Option<(MigrationStatus, Vec<u8>)>,
}

impl Destination {
    /// The first entry a run writes: after the last one the status record
    /// notes, and not below the head.
    pub(crate) fn resume_point(&self) -> u64 {
        let resume_from = self
            .status
            .as_ref()
            .and_then(|(s, _)| s.last_migrated)
            .map_or(0, |last| last + 1);
        resume_from.max(self.head.unwrap_or(0))
    }

    /// Whether a run from `start` to `end` has nothing to do: the
    /// destination is complete at `end` with this database-info.
    pub(crate) fn up_to_date(&self, start: u64, end: u64, info_bytes: &[u8]) -> bool {
        let complete = self
            .status
            .as_ref()
            .is_some_and(|(s, _)| s.state == MigrationState::Complete);
        start >= end
            && self.head == Some(end)
            && self.info_raw.as_deref() == Some(info_bytes)
            && complete
    }

    /// The range a run copies (from the resume point to `end`, capped by
    /// `limit_entries`) and its empty report; `Break` with the finished
    /// report when the destination is already complete, `Continue` after
    /// telling the observer the run started.
    pub(crate) fn begin_run(
        &self,
        end: u64,
        info_bytes: &[u8],
        options: &MigrateOptions,
        started: Instant,
        observer: &mut dyn MigrationObserver,
    ) -> ControlFlow<MigrationReport, MigrationReport> {
        let start = self.resume_point();
        let end = options
            .limit_entries
            .map_or(end, |n| end.min(start.saturating_add(n)));
        let mut report = MigrationReport {
            start,
            end,
            previous_head: self.head,
            up_to_date: false,
            dry_run: options.dry_run,
            stats: CopyStats::default(),
            plugins: Vec::new(),
            elapsed: Duration::ZERO,
        };
        if self.up_to_date(start, end, info_bytes) {
            report.up_to_date = true;
            report.elapsed = started.elapsed();
            observer.finished(&report.stats);
            return ControlFlow::Break(report);
        }
        observer.started(start, end);
        ControlFlow::Continue(report)
    }

    /// Whether the destination holds nothing of the database.
    pub(crate) fn is_empty(&self) -> bool {
        self.status.is_none() && self.info_raw.is_none() && self.head.is_none()
    }
}

/// Reads what `dst` holds of database `info` (the database-info the run
/// will leave there) and refuses a destination written in the other mode,
/// or holding another database under the same id.
pub(crate) async fn read_destination(
    dst: &dyn ValueStore,
    info: &DatabaseInfo,
    suffix: &str,
    mode: Mode<'_>,
) -> Result<Destination, MigrateError> {
    let id = info.database_id.as_str();
    let status = read_status(dst, id, suffix).await?;
    let info_raw = dst
        .get(id, id)
        .await
        .map_err(MigrateError::destination_store)?;
    check_mode(
        id,
        mode,
        status.as_ref().map(|(s, _)| s),
        info_raw.is_some(),
    )?;
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
    if matches!(mode, Mode::Rebuild(_)) && status.is_none() && head.is_some() {
        return Err(MigrateError::NotRebuildable {
            id: id.to_string(),
            what: "holds a tx-log but no migration status record".to_string(),
        });
    }
    Ok(Destination {
        info_raw,
        head_raw,
        head,
        status,
    })
}

/// A plain migration continues only a plain migration, a rebuild only a
/// rebuild through the same transforms.
fn check_mode(
    id: &str,
    mode: Mode<'_>,
    status: Option<&MigrationStatus>,
    has_info: bool,
) -> Result<(), MigrateError> {
    let recorded = status.map(|s| s.rebuild.as_ref());
    match (mode, recorded) {
        (Mode::Plain(_), Some(Some(rebuild))) => Err(MigrateError::RebuiltDestination {
            id: id.to_string(),
            transforms: rebuild.transform_list(),
        }),
        (Mode::Plain(ours), _) => match status.and_then(|s| s.transforms.as_deref()) {
            Some(theirs) if theirs != ours => Err(MigrateError::ChainChanged {
                id: id.to_string(),
                recorded: chain_list(theirs),
                given: chain_list(ours),
            }),
            _ => Ok(()),
        },
        (Mode::Rebuild(_), Some(None)) => Err(MigrateError::NotRebuildable {
            id: id.to_string(),
            what: "was written by a plain migration".to_string(),
        }),
        (Mode::Rebuild(_), None) if has_info => Err(MigrateError::NotRebuildable {
            id: id.to_string(),
            what: "holds a database but no migration status record".to_string(),
        }),
        (Mode::Rebuild(ours), Some(Some(theirs))) if ours.transforms != theirs.transforms => {
            Err(MigrateError::TransformsChanged {
                id: id.to_string(),
                recorded: theirs.transform_list(),
                given: ours.transform_list(),
            })
        }
        _ => Ok(()),
    }
}

/// Properties 3 and 10: the destination must be exactly what the last run
/// left there, hold this database (not another with the same id) and not be
/// ahead of the source.
pub(crate) fn check_destination(
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
            // A run that stopped after moving the head left it at its target;
            // one whose head move did not reach the disk before its complete
            // record left it where it moved from.
            let unmoved = match status.state {
                MigrationState::Complete => status.previous_head.map(Some),
                _ => None,
            };
            let expected_heads = [
                Some(status.destination_head),
                status.target_head.map(Some),
                unmoved,
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
/// each by compare-and-set against what was read at the start. The nodes
/// are made durable before either moves, the head before database-info.
/// Returns the count the head moved from when no barrier followed the move
/// (a later run, not just the head, moved): what is written next may then
/// reach the disk before the head does.
async fn move_roots(
    dst: &dyn ValueStore,
    id: &str,
    info: &DatabaseInfo,
    found: &Destination,
    end: u64,
    info_bytes: &[u8],
) -> Result<Option<u64>, MigrateError> {
    let flush = || async { dst.flush().await.map_err(MigrateError::destination_store) };
    flush().await?;
    let moves_head = found.head != Some(end);
    if moves_head {
        let head = model::encode_at(&info.tx_log, &Node::TxLogHead(TxLogHead { count: end }));
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
        flush().await?;
        cas(
            dst,
            id,
            id,
            found.info_raw.as_deref(),
            info_bytes,
            "database-info",
        )
        .await
        .map_err(|e| match e {
            MigrateError::DestinationChanged { .. } if moves_head => {
                MigrateError::InfoChangedAfterHeadMoved { head: end }
            }
            other => other,
        })?;
        flush().await?;
        return Ok(None);
    }
    match found.head {
        Some(from) if moves_head => Ok(Some(from)),
        _ => {
            flush().await?;
            Ok(None)
        }
    }
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
    model::decode_at(key, raw).map_err(|source| {
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
pub(crate) struct StatusWriter<'a> {
    /// The destination.
    pub dst: &'a dyn ValueStore,
    /// The database id.
    pub id: &'a str,
    /// The record's key suffix.
    pub suffix: &'a str,
    /// Write nothing.
    pub dry_run: bool,
}

impl StatusWriter<'_> {
    /// Writes `status` by compare-and-set against `raw`, then remembers the new bytes.
    pub(crate) async fn write(
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

    /// Ends a run that copied everything below `end`: moves the roots,
    /// notes the record complete and makes both durable. A later run's
    /// head move and its record share one barrier: the record then names
    /// the head it moved from, and a destination found there is completed
    /// by the next run (two syncs instead of three).
    pub(crate) async fn complete(
        &self,
        raw: &mut Option<Vec<u8>>,
        status: &mut MigrationStatus,
        found: &Destination,
        info: &DatabaseInfo,
        info_bytes: &[u8],
        end: u64,
    ) -> Result<(), MigrateError> {
        if self.dry_run {
            return Ok(());
        }
        let moved_from = move_roots(self.dst, self.id, info, found, end, info_bytes).await?;
        status.complete_at(end, moved_from);
        *raw = Some(write_status(self.dst, self.id, self.suffix, raw.as_deref(), status).await?);
        self.dst
            .flush()
            .await
            .map_err(MigrateError::destination_store)
    }
}
