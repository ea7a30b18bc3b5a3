//! Rebuild mode: instead of copying the source's trees, replay the source's
//! transactions through transaction-level transforms ([`TxXform`]) and
//! transact the result into the destination with our own writer, keeping
//! transaction numbers and instants. For rewrites that change where datoms
//! sort (renamed attributes, redacted values, dropped attributes), which a
//! node-level transform cannot make.
//!
//! Same protocol as [`migrate`](super::migrate): the status record with
//! checkpoints every `log_every` entries (at most once per `checkpoint_interval`), resume after a crash at any point,
//! continuous runs after the source grew, nothing written by a trivial run,
//! the source's head read once at the start, and the destination's head
//! then database-info moved by compare-and-set at the end only.
//!
//! - **Transaction 0** (the built-in schema) is not passed to transforms:
//!   it is the same in every database of this format. It is written as the
//!   writer bootstraps a database, with the source's instant; a source
//!   whose transaction 0 differs is refused.
//! - **Identity.** The destination is a different database from the
//!   source: its database-info keeps the id and tx-log key, and gets an
//!   identity derived from the source's identity and the transforms'
//!   names, so a plain migration of the source cannot be mixed into it.
//!   The status record notes the rebuild and its transforms; a plain
//!   migration into a rebuilt destination, a rebuild into any other, and a
//!   rebuild through other transforms are refused.
//! - **Resume.** Entries are replayed from the one after the last
//!   checkpoint. Entries and nodes an interrupted run wrote past it are
//!   written again with equal bytes (the writer and transforms are
//!   deterministic, node keys are content hashes); a differing one stops
//!   the run naming its key.

mod chain;
mod source;

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::db::{Database, DbError, ReplayTx, Replayer, TreeShape, WriteCounts, is_bootstrap};
use crate::model::{self, DatabaseInfo, Node};
use crate::store::ValueStore;

use super::checkpoint::CheckpointClock;
use super::continuity::{check_continuity, digest_source_entry};
use super::copier::CopyStats;
use super::destination::{Mode, StatusWriter, check_destination, read_destination};
use super::overlay::Overlay;
use super::status::{MigrationStatus, RebuildRecord};
use super::{MigrateError, MigrateOptions, MigrationObserver, MigrationReport, TxXform};
use chain::Chain;
use source::SourceLog;

/// Source entries read per round trip.
const READ_AHEAD: u64 = 32;

/// Rebuilds database `id` from `src` into `dst` through `xforms` (see the
/// module documentation). Uses `options.log_every`, `checkpoint_interval`, `status_suffix`,
/// `dry_run` (replay into memory over the destination, write nothing) and
/// `limit_entries`. Safe to re-run at any time, like [`migrate`](super::migrate).
pub async fn rebuild(
    src: Arc<dyn ValueStore>,
    dst: Arc<dyn ValueStore>,
    id: &str,
    options: &MigrateOptions,
    xforms: &mut [Box<dyn TxXform>],
    observer: &mut dyn MigrationObserver,
) -> Result<MigrationReport, MigrateError> {
    let started = Instant::now();
    let source = Database::open(src, id)
        .await
        .map_err(MigrateError::Source)?;
    let end = source.head().await.map_err(MigrateError::Source)?.count;
    let mut chain = Chain::new(xforms);
    let record = RebuildRecord {
        source_identity: source.info().identity.clone(),
        transforms: chain.names(),
    };
    let info = rebuilt_info(source.info(), &record);
    let info_bytes = model::encode_at(id, &Node::DatabaseInfo(info.clone()));

    let found = read_destination(
        dst.as_ref(),
        &info,
        &options.status_suffix,
        Mode::Rebuild(&record),
    )
    .await?;
    check_destination(&found, &info, end)?;
    check_continuity(
        source.store().as_ref(),
        dst.as_ref(),
        source.info(),
        found
            .status
            .as_ref()
            .and_then(|(s, _)| s.source_entry.as_ref()),
        found.head,
        false,
    )
    .await?;
    let mut report = match found.begin_run(end, &info_bytes, options, started, observer) {
        ControlFlow::Break(done) => return Ok(done),
        ControlFlow::Continue(report) => report,
    };
    let (start, end) = (report.start, report.end);
    let mut checkpoints = Checkpoints {
        source: &source,
        writer: StatusWriter {
            dst: dst.as_ref(),
            id,
            suffix: &options.status_suffix,
            dry_run: options.dry_run,
        },
        raw: found.status.as_ref().map(|(_, raw)| raw.clone()),
        status: MigrationStatus::starting(
            start,
            end,
            found.head,
            info.identity.clone(),
            Some(record),
            None,
        ),
        clock: CheckpointClock::new(end, options.log_every, options.checkpoint_interval),
    };
    if let Some(last) = start.checked_sub(1) {
        checkpoints.note_source_entry(last).await?;
    }
    checkpoints.write().await?;

    if start < end {
        let target: Arc<dyn ValueStore> = if options.dry_run {
            Arc::new(Overlay::new(dst.clone()))
        } else {
            dst.clone()
        };
        let replay = Replay {
            source: &source,
            target,
            info: &info,
            chain: &mut chain,
            stats: &mut report.stats,
        };
        replay.run(start, end, &mut checkpoints, observer).await?;
    }
    report.plugins = chain.finish()?;

    if !options.dry_run {
        if let Some(last) = end.checked_sub(1) {
            checkpoints.note_source_entry(last).await?;
        }
        let Checkpoints {
            writer,
            raw,
            status,
            ..
        } = &mut checkpoints;
        writer
            .complete(raw, status, &found, &info, &info_bytes, end)
            .await?;
        if let Some(last) = checkpoints.status.last_migrated {
            observer.checkpoint(last);
        }
    }
    report.elapsed = started.elapsed();
    observer.finished(&report.stats);
    Ok(report)
}

/// The database-info a rebuild leaves in the destination: the source's id
/// and tx-log key, an identity derived from the source's identity and the
/// transforms' names (a UUID, version 8, from their SHA-256).
fn rebuilt_info(source: &DatabaseInfo, record: &RebuildRecord) -> DatabaseInfo {
    let mut hasher = Sha256::new();
    hasher.update(b"eva-admin rebuild\n");
    hasher.update(source.identity.as_bytes());
    for name in &record.transforms {
        hasher.update(b"\n");
        hasher.update(name.as_bytes());
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    DatabaseInfo {
        database_id: source.database_id.clone(),
        tx_log: source.tx_log.clone(),
        identity: uuid::Builder::from_custom_bytes(bytes)
            .into_uuid()
            .hyphenated()
            .to_string(),
    }
}

/// The status record of a run and when to write it.
struct Checkpoints<'a> {
    source: &'a Database,
    writer: StatusWriter<'a>,
    raw: Option<Vec<u8>>,
    status: MigrationStatus,
    clock: CheckpointClock,
}

impl Checkpoints<'_> {
    async fn write(&mut self) -> Result<(), MigrateError> {
        self.writer.write(&mut self.raw, &self.status).await
    }

    /// Notes source entry `t` as the last one copied, by digest.
    async fn note_source_entry(&mut self, t: u64) -> Result<(), MigrateError> {
        let store = self.source.store();
        let digest = digest_source_entry(store.as_ref(), self.source.info(), t).await?;
        self.status.source_entry = Some(digest);
        Ok(())
    }

    /// Entry `t` is stored: notes it when the clock says so.
    async fn entry_done(
        &mut self,
        t: u64,
        stats: &CopyStats,
        observer: &mut dyn MigrationObserver,
    ) -> Result<(), MigrateError> {
        observer.entry_done(t, stats);
        if self.clock.due(t) {
            self.status.last_migrated = Some(t);
            self.note_source_entry(t).await?;
            self.write().await?;
            observer.checkpoint(t);
        }
        Ok(())
    }
}

/// One run's replay of entries `start..end` into `target`.
struct Replay<'r, 'x> {
    source: &'r Database,
    target: Arc<dyn ValueStore>,
    info: &'r DatabaseInfo,
    chain: &'r mut Chain<'x>,
    stats: &'r mut CopyStats,
}

impl Replay<'_, '_> {
    async fn run(
        self,
        start: u64,
        end: u64,
        checkpoints: &mut Checkpoints<'_>,
        observer: &mut dyn MigrationObserver,
    ) -> Result<(), MigrateError> {
        // A rebuild writes format 2 (the upgrade path from format 1); one
        // resumed goes on in the format the destination has.
        let shape = TreeShape::format2();
        let mut replayer = if start == 0 {
            let first = self.source.entry(0).await.map_err(MigrateError::Source)?;
            if !is_bootstrap(&first) {
                return Err(MigrateError::SourceNotReplayable {
                    tx: 0,
                    reason: "it is not the built-in bootstrap this version writes".to_string(),
                });
            }
            let (replayer, counts) =
                Replayer::bootstrap(self.target.clone(), self.info.clone(), first.instant, shape)
                    .await
                    .map_err(destination)?;
            self.stats.nodes_read += 1;
            count(self.stats, counts);
            checkpoints.entry_done(0, self.stats, observer).await?;
            replayer
        } else {
            Replayer::resume(self.target.clone(), self.info.clone(), start - 1, shape)
                .await
                .map_err(destination)?
        };
        let first = start.max(1);
        let mut log = SourceLog::open(self.source, first).await?;
        let mut next = first;
        while next < end {
            let upto = end.min(next + READ_AHEAD);
            for entry in log.read(next..upto).await? {
                let t = entry.tx;
                let named = log.name(&entry)?;
                let out = self.chain.run(named, entry.next_entity)?;
                let tx = ReplayTx {
                    tx: t,
                    instant: entry.instant,
                    next_entity: entry.next_entity,
                    datoms: out.datoms,
                };
                let counts = replayer
                    .apply(tx)
                    .await
                    .map_err(|e| self.chain.writer_error(e))?;
                self.stats.nodes_read += 1;
                self.stats.bytes_read = log.bytes_read;
                count(self.stats, counts);
                checkpoints.entry_done(t, self.stats, observer).await?;
            }
            next = upto;
        }
        Ok(())
    }
}

/// A destination error of the writer; a node that exists with other bytes
/// is the copier's "never overwrite" error, naming the key.
fn destination(e: DbError) -> MigrateError {
    match e {
        DbError::NodeConflict { key } => MigrateError::ForeignNode { key },
        e => MigrateError::Destination(e),
    }
}

fn count(stats: &mut CopyStats, counts: WriteCounts) {
    stats.nodes_written += counts.created;
    stats.bytes_written += counts.bytes_created;
    stats.nodes_already_present += counts.existed;
    stats.write_batches += counts.batches;
}
