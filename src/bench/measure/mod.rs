//! The measurements. Each takes its samples side by side: for every run,
//! the baseline and then the subject, under the same conditions, so that
//! each run gives one ratio. Each returns raw samples ([`Pairs`]); turning
//! them into ratios, targets and words is the caller's job.

mod backup;
pub(crate) mod copy;
mod incremental;
mod memory;
mod plugin;
mod rebuild;
mod verify;

pub(crate) use backup::{migration_vs_sqlite_backup, sqlite3_available};
pub(crate) use copy::migration_vs_raw_copy;
pub(crate) use incremental::{IncrementalRuns, StoreCalls, incremental_vs_full};
pub(crate) use memory::{FACTOR, MemorySources, peak_memory};
pub(crate) use plugin::{host_cost_per_node, identity_vs_none, native_identity_vs_none};
pub(crate) use rebuild::rebuild_vs_migration;
pub(crate) use verify::verify_vs_migration;

use std::sync::Arc;
use std::time::Instant;

use crate::migrate::{self, MigrateOptions, MigrationReport, NoObserver, NodeXform};
use crate::store::ValueStore;

use super::BenchError;
use super::lab::Lab;

/// Runs taken before the counted ones and thrown away: the first copies of
/// a process run slower (allocator, page cache, sled's threads starting),
/// which skewed the first sample of every timed measure.
pub(crate) const WARM_UP_RUNS: usize = 1;

/// Samples taken side by side: `baseline[i]` and `subject[i]` come from
/// run `i`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Pairs {
    /// The quantity compared against, one sample per run.
    pub baseline: Vec<f64>,
    /// The quantity measured, one sample per run.
    pub subject: Vec<f64>,
}

impl Pairs {
    /// Adds one run's two samples.
    pub fn push(&mut self, baseline: f64, subject: f64) {
        self.baseline.push(baseline);
        self.subject.push(subject);
    }

    /// `subject ÷ baseline` of each run.
    pub fn ratios(&self) -> Vec<f64> {
        self.baseline
            .iter()
            .zip(&self.subject)
            .map(|(b, s)| s / b)
            .collect()
    }

    /// `baseline ÷ subject` of each run: for times, the subject's
    /// throughput over the baseline's.
    pub fn inverse_ratios(&self) -> Vec<f64> {
        self.baseline
            .iter()
            .zip(&self.subject)
            .map(|(b, s)| b / s)
            .collect()
    }
}

/// Takes `runs` counted pairs of a timed measure: calls `run(i)` for
/// [`WARM_UP_RUNS`] more runs first and throws those away, and ticks after
/// each counted one. `run` returns the baseline's and the subject's sample.
pub(crate) async fn side_by_side(
    runs: usize,
    tick: Tick<'_>,
    mut run: impl AsyncFnMut(usize) -> Result<(f64, f64), BenchError>,
) -> Result<Pairs, BenchError> {
    let mut pairs = Pairs::default();
    for i in 0..runs + WARM_UP_RUNS {
        let (baseline, subject) = run(i).await?;
        if i >= WARM_UP_RUNS {
            pairs.push(baseline, subject);
            tick();
        }
    }
    Ok(pairs)
}

/// Tells the caller a run is done.
pub(crate) type Tick<'a> = &'a mut dyn FnMut();

/// Runs `f`, returning its output and its wall time in seconds.
pub(crate) async fn timed<T, F: Future<Output = T>>(f: F) -> (T, f64) {
    let started = Instant::now();
    let out = f.await;
    (out, started.elapsed().as_secs_f64())
}

/// Migrates the lab's database from `src` into `dst` (flushed at the end,
/// as `eva-admin migrate` does); the report and the wall time in seconds.
/// A run that did not copy the whole log is an error.
pub(crate) async fn migrate_timed(
    lab: &Lab,
    src: &Arc<dyn ValueStore>,
    dst: &Arc<dyn ValueStore>,
    xforms: &mut [Box<dyn NodeXform>],
) -> Result<(MigrationReport, f64), BenchError> {
    let (report, secs) = timed(async {
        let report = migrate::migrate(
            src.clone(),
            dst.clone(),
            &lab.id,
            &MigrateOptions::default(),
            xforms,
            &mut NoObserver,
        )
        .await?;
        dst.flush().await?;
        Ok::<_, BenchError>(report)
    })
    .await;
    let report = report?;
    if report.up_to_date || report.dry_run {
        return Err(BenchError::Unsound {
            what: format!("migrating into {}", dst.url()),
            detail: "the run wrote nothing: the destination was not empty".into(),
        });
    }
    Ok((report, secs))
}
