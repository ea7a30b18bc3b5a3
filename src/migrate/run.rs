//! One migration run: snapshot the source, check the destination against
//! the status record, copy entries in post-order with checkpoints, then move
//! the destination's roots (head, then database-info) by compare-and-set.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::db::Database;
use crate::db::check::{CheckOptions, Checker};
use crate::model::{self, DatabaseInfo, Format, Node, TxLogHead};
use crate::store::ValueStore;

use super::checkpoint::CheckpointClock;
use super::continuity::{check_continuity, digest_source_entry};
use super::copier::{Copier, CopierSettings, CopyStats};
use super::destination::{Mode, StatusWriter, check_destination, read_destination};
use super::status::{MigrationStatus, TransformRecord};
use super::{MigrateError, MigrationObserver, NodeXform};

/// Settings of a migration run.
#[derive(Debug, Clone)]
pub struct MigrateOptions {
    /// Write the status record every this many entries (Eva's `log-every`)…
    pub log_every: u64,
    /// …but no more often than this: each write flushes the destination
    /// (an fsync on sled and SQLite), and a fast copy would spend more time
    /// there than copying. After a crash at most this long is walked again
    /// (nodes already copied are pruned, not rewritten).
    pub checkpoint_interval: Duration,
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
            checkpoint_interval: Duration::from_secs(1),
            status_suffix: super::status::DEFAULT_STATUS_SUFFIX.to_string(),
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

/// How many tx-log entries a plain migration reads in one batch.
const ENTRY_BATCH: u64 = 256;

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
    let info_bytes = model::encode_at(id, &Node::DatabaseInfo(info.clone()));
    if !xforms.is_empty() && end > 0 {
        let last = source.entry(end - 1).await.map_err(MigrateError::Source)?;
        if last.format() == Format::V2 {
            return Err(MigrateError::NodePluginsOnFormat2 { id: id.to_string() });
        }
    }

    let chain: Vec<TransformRecord> = xforms
        .iter()
        .map(|x| TransformRecord {
            name: x.name().to_string(),
            fingerprint: x.fingerprint(),
        })
        .collect();
    let found = read_destination(
        dst.as_ref(),
        &info,
        &options.status_suffix,
        Mode::Plain(&chain),
    )
    .await?;
    check_destination(&found, &info, end)?;
    check_continuity(
        src.as_ref(),
        dst.as_ref(),
        &info,
        found
            .status
            .as_ref()
            .and_then(|(s, _)| s.source_entry.as_ref()),
        found.head,
        chain.is_empty(),
    )
    .await?;

    let mut report = match found.begin_run(end, &info_bytes, options, started, observer) {
        ControlFlow::Break(done) => return Ok(done),
        ControlFlow::Continue(report) => report,
    };
    let (start, end) = (report.start, report.end);
    let mut status = MigrationStatus::starting(
        start,
        end,
        found.head,
        info.identity.clone(),
        None,
        Some(chain),
    );
    if let Some(last) = start.checked_sub(1) {
        status.source_entry = Some(digest_source_entry(src.as_ref(), &info, last).await?);
    }
    let writer = StatusWriter {
        dst: dst.as_ref(),
        id,
        suffix: &options.status_suffix,
        dry_run: options.dry_run,
    };
    let mut status_raw = found.status.as_ref().map(|(_, raw)| raw.clone());
    writer.write(&mut status_raw, &status).await?;

    let bulk = found.is_empty();
    let copier_transforms = !xforms.is_empty();
    let plugins = chain_names(xforms);
    let mut copier = Copier::new(
        src.as_ref(),
        dst.clone(),
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
    // Through transforms, what the run wrote is read back and checked as a
    // database before an entry is noted done and before the roots move.
    let mut consistency = if copier_transforms && !options.dry_run {
        Some(Consistency::starting_at(src.as_ref(), dst.clone(), &info, start, &plugins).await?)
    } else {
        None
    };
    let mut clock = CheckpointClock::new(end, options.log_every, options.checkpoint_interval);
    for tx in start..end {
        // Entries are read a batch at a time (format 2's are small and
        // many), and copied one by one.
        if (tx - start) % ENTRY_BATCH == 0 {
            let ahead: Vec<String> = (tx..end.min(tx + ENTRY_BATCH))
                .map(|t| model::entry_key(&info.tx_log, t))
                .collect();
            copier.prefetch(&ahead).await?;
        }
        copier.copy(&model::entry_key(&info.tx_log, tx)).await?;
        observer.entry_done(tx, &copier.stats);
        if clock.due(tx) {
            copier.flush().await?;
            if let Some(c) = &mut consistency {
                c.check_through(tx, copier.stats.nodes_rewritten).await?;
            }
            status.last_migrated = Some(tx);
            status.source_entry = Some(digest_source_entry(src.as_ref(), &info, tx).await?);
            writer.write(&mut status_raw, &status).await?;
            observer.checkpoint(tx);
        }
    }
    copier.flush().await?;
    if let (Some(c), Some(last)) = (&mut consistency, end.checked_sub(1)) {
        c.check_through(last, copier.stats.nodes_rewritten).await?;
    }
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
        if let Some(last) = end.checked_sub(1) {
            status.source_entry = Some(digest_source_entry(src.as_ref(), &info, last).await?);
        }
        writer
            .complete(
                &mut status_raw,
                &mut status,
                &found,
                &info,
                &info_bytes,
                end,
            )
            .await?;
        if let Some(last) = status.last_migrated {
            observer.checkpoint(last);
        }
    }
    report.elapsed = started.elapsed();
    observer.finished(&report.stats);
    Ok(report)
}

/// The transforms of a run by name, for messages.
fn chain_names(xforms: &[Box<dyn NodeXform>]) -> String {
    xforms
        .iter()
        .map(|x| x.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The destination read back as a database while a run through transforms
/// writes it: each entry checked against the one before it (see
/// `src/db/check`), in order, once its nodes are all written. Entries
/// whose nodes the transforms all kept as the source has them, after an
/// entry equal to the source's, are the source's own entries and trees:
/// they are taken as they are, so a transform that changes nothing costs
/// no read-back.
struct Consistency {
    checker: Checker,
    plugins: String,
    /// The copier's count of rewritten nodes when entries were last checked.
    rewritten: u64,
    /// The entry before [`Checker::next_entry`] is byte for byte the
    /// source's: only then may entries whose nodes were all kept be taken
    /// as the source's (otherwise a kept entry may disagree with a
    /// rewritten one before it).
    source_equal: bool,
}

impl Consistency {
    /// Ready to check entry `start` onwards; entries before it were checked
    /// by the runs that wrote them.
    async fn starting_at(
        src: &dyn ValueStore,
        dst: Arc<dyn ValueStore>,
        info: &DatabaseInfo,
        start: u64,
        plugins: &str,
    ) -> Result<Consistency, MigrateError> {
        let source_equal = match start.checked_sub(1) {
            None => true,
            Some(last) => {
                let key = model::entry_key(&info.tx_log, last);
                let ours = src
                    .get(&info.database_id, &key)
                    .await
                    .map_err(MigrateError::source_store)?;
                let theirs = dst
                    .get(&info.database_id, &key)
                    .await
                    .map_err(MigrateError::destination_store)?;
                ours.is_some() && ours == theirs
            }
        };
        let checker = Checker::starting_at(
            dst,
            &info.database_id,
            &info.tx_log,
            start,
            CheckOptions::default(),
        )
        .await
        .map_err(MigrateError::Destination)?;
        Ok(Consistency {
            checker,
            plugins: plugins.to_string(),
            rewritten: 0,
            source_equal,
        })
    }

    /// Checks every entry not yet checked up to `last` — unless no node
    /// written since the last check was rewritten (`rewritten` is the
    /// copier's running count) and the entry before them is the source's;
    /// the first problem stops the run.
    async fn check_through(&mut self, last: u64, rewritten: u64) -> Result<(), MigrateError> {
        if self.source_equal && rewritten == self.rewritten {
            return self
                .checker
                .trust_through(last)
                .await
                .map_err(MigrateError::Destination);
        }
        self.rewritten = rewritten;
        self.source_equal = false;
        while self.checker.next_entry() <= last {
            let tx = self.checker.next_entry();
            let problems = self
                .checker
                .check_entry(tx)
                .await
                .map_err(MigrateError::Destination)?;
            if let Some(p) = problems.into_iter().next() {
                return Err(MigrateError::Inconsistent {
                    plugins: self.plugins.clone(),
                    entry: p.entry,
                    key: p.key,
                    rule: p.rule,
                });
            }
        }
        Ok(())
    }
}
