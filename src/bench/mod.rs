//! The benchmark harness behind `eva-admin bench`: how fast a migration is
//! next to the physical limit of a copier — a raw copy of the same bytes
//! between the same stores — and what plugins, incremental runs, memory,
//! verify and rebuild mode cost next to it. Every measure is a ratio of two
//! quantities taken side by side in one run (for each run: the baseline,
//! then the subject), repeated at least [`MIN_RUNS`] times; the report
//! gives the median and the spread of each, against its target. See
//! `docs/performance.md`.
//!
//! ```no_run
//! # async fn example() -> Result<(), eva_admin::bench::BenchError> {
//! use eva_admin::bench::{BenchOptions, NoProgress, Size, markdown, run};
//!
//! let report = run(&BenchOptions::new(Size::Small), &mut NoProgress).await?;
//! println!("{}", markdown::render(&report));
//! # Ok(())
//! # }
//! ```
//!
//! - [`size`]: the named sizes and their demo workloads.
//! - [`raw_copy`]: the baseline, a scan and batched create of one namespace.
//! - [`rss`]: the peak memory of a child process.
//! - [`plugin_cost`]: a plugin's cost per node (also `examples/plugin_cost.rs`).
//! - [`stats`], [`report`], [`markdown`], [`machine`]: the numbers and their presentation;
//!   `shortfall` says, with a run's numbers, why a target was missed.

mod error;
mod lab;
pub mod machine;
pub mod markdown;
mod measure;
pub mod plugin_cost;
mod postgres;
pub mod raw_copy;
pub mod report;
mod rows;
pub mod rss;
mod shortfall;
pub mod size;
pub mod stats;

use std::path::PathBuf;
use std::time::Instant;

pub use error::BenchError;
pub use machine::Machine;
pub use report::{BenchReport, DatabaseFacts, Measure, Part, Target, Unit};
pub use size::{Size, Workload};
pub use stats::Summary;

use crate::plugin::PluginOptions;
use lab::Lab;
use measure::copy::Backend;

/// The fewest runs per measurement (a median and a spread need three).
pub const MIN_RUNS: usize = 3;

/// What to measure, and where.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// The source database's size.
    pub size: Size,
    /// Runs per measurement, at least [`MIN_RUNS`].
    pub runs: usize,
    /// Where the temporary sled stores go (a directory is made inside and
    /// removed at the end); `None`: the system's temporary directory.
    pub dir: Option<PathBuf>,
    /// A PostgreSQL store URL: measures P1 sled→PostgreSQL too, in a
    /// namespace of the bench's own, emptied between copies.
    pub postgres: Option<String>,
    /// Where `identity.wasm` is (measure P2).
    pub plugin_dir: PathBuf,
    /// The sandbox and compile cache of the plugins loaded.
    pub plugin_options: PluginOptions,
    /// The `eva-admin` executable the memory measure (P4) runs as child
    /// processes; `None` skips P4.
    pub exe: Option<PathBuf>,
    /// Take only these measures (the others say skipped); `None`: all.
    pub only: Option<Vec<Group>>,
    /// The storage format of the databases the bench generates (the
    /// sizes are in datoms in format 2, see [`Size::workload_in`]).
    pub format: crate::model::Format,
}

/// The measures, as `--only` names them: each row of the report belongs to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// P1: migration ÷ raw copy (sled and PostgreSQL).
    P1,
    /// P2: the identity plugin, its floor (a native identity transform) and the host's cost per node.
    P2,
    /// P3: incremental run ÷ full run.
    P3,
    /// P4: peak memory, 10× database ÷ source.
    P4,
    /// P5: verify ÷ migration.
    P5,
    /// Rebuild mode ÷ plain migration.
    Rebuild,
}

impl BenchOptions {
    /// Why `group` is not measured in this bench, if it is not.
    pub(crate) fn unselected(&self, group: Group) -> Option<&'static str> {
        match &self.only {
            Some(only) if !only.contains(&group) => Some("not selected (--only)"),
            _ => None,
        }
    }
}

impl BenchOptions {
    /// The defaults for `size`: 3 runs, system temporary directory, no
    /// PostgreSQL, plugins in `plugins/out`, no executable (P4 skipped).
    pub fn new(size: Size) -> BenchOptions {
        BenchOptions {
            size,
            runs: MIN_RUNS,
            dir: None,
            postgres: None,
            plugin_dir: PathBuf::from("plugins/out"),
            plugin_options: PluginOptions::default(),
            exe: None,
            only: None,
            format: crate::model::Format::V1,
        }
    }
}

/// Receives the bench's progress (the command line draws it; tests ignore
/// it). All methods have empty defaults.
pub trait BenchProgress {
    /// A phase begins: `what`, in `steps` steps.
    fn phase(&mut self, _what: &str, _steps: u64) {}
    /// One step of the current phase is done.
    fn step(&mut self) {}
    /// The bench is over.
    fn finished(&mut self) {}
}

/// Progress that goes nowhere.
pub struct NoProgress;

impl BenchProgress for NoProgress {}

/// Runs the bench: generates the source database, takes every measure,
/// removes every store it made, and returns the report.
pub async fn run(
    options: &BenchOptions,
    progress: &mut dyn BenchProgress,
) -> Result<BenchReport, BenchError> {
    if options.runs < MIN_RUNS {
        return Err(BenchError::TooFewRuns {
            runs: options.runs,
            min: MIN_RUNS,
        });
    }
    let started = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let clock = Instant::now();
    let workload = options.size.workload_in(options.format);
    progress.phase("generating the source database", workload.txs);
    let mut lab = Lab::new(
        options.dir.as_deref(),
        workload,
        options.postgres.as_deref(),
        |_| progress.step(),
    )
    .await?;
    tracing::info!(id = %lab.id, keys = lab.facts.keys, bytes = lab.facts.bytes, "source database generated");
    let measured = measure_all(&mut lab, options, progress).await;
    let database = lab.facts;
    let closed = lab.close().await;
    let measures = measured?;
    closed?;
    progress.finished();
    Ok(BenchReport {
        machine: Machine::detect(),
        size: options.size,
        workload,
        database,
        runs: options.runs,
        started,
        elapsed_seconds: clock.elapsed().as_secs_f64(),
        measures,
    })
}

/// Takes every measure in table order.
async fn measure_all(
    lab: &mut Lab,
    options: &BenchOptions,
    progress: &mut dyn BenchProgress,
) -> Result<Vec<Measure>, BenchError> {
    let mut measures = vec![
        rows::copy(lab, Backend::Sled, options, progress).await?,
        rows::copy(lab, Backend::Postgres, options, progress).await?,
        rows::sqlite_backup(lab, options, progress).await?,
    ];
    measures.extend(rows::plugin(lab, options, progress).await?);
    measures.push(rows::incremental(lab, options, progress).await?);
    measures.push(rows::memory(lab, options, progress).await?);
    measures.extend(rows::verify(lab, options, progress).await?);
    measures.push(rows::rebuild(lab, options, progress).await?);
    Ok(measures)
}
