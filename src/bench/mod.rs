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
//! - [`stats`], [`report`], [`markdown`], [`machine`]: the numbers and their presentation.

mod error;
mod lab;
pub mod machine;
pub mod markdown;
mod measure;
pub mod plugin_cost;
mod postgres;
pub mod raw_copy;
pub mod report;
pub mod rss;
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
use measure::Pairs;
use measure::copy::Backend;
use plugin_cost::BATCH_SIZES;

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
    let workload = options.size.workload();
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
    let runs = options.runs;
    let bytes = lab.facts.bytes as f64;
    let mut measures = Vec::new();

    for backend in [Backend::Sled, Backend::Postgres] {
        let (id, name) = match backend {
            Backend::Sled => ("P1-sled", "sled→sled"),
            Backend::Postgres => ("P1-postgres", "sled→PostgreSQL"),
        };
        let into = match backend {
            Backend::Sled => "an empty sled store, then a full migration into another",
            Backend::Postgres => {
                "the bench's namespace in the PostgreSQL store, then (the namespace emptied) a full migration into it"
            }
        };
        let mut m = Measure::new(
            id,
            &format!("full migration ÷ raw key-value copy, {name} (throughput)"),
            &format!(
                "Per run: a raw copy (scan the source namespace in pages of {}, create_many each page) into {into}; throughput = source bytes ÷ wall time, flush included.",
                lab::PAGE
            ),
            Unit::Ratio,
            Some(Target::AtLeast(0.8)),
        );
        let pairs = if backend == Backend::Postgres && lab.postgres_url().is_none() {
            None
        } else {
            progress.phase(&format!("P1 {name}"), runs as u64);
            measure::migration_vs_raw_copy(lab, backend, runs, &mut || progress.step()).await?
        };
        match pairs {
            None => m.skip("no --postgres"),
            Some(p) => m.throughputs(&p, bytes, "raw copy", "migration"),
        }
        measures.push(m);
    }

    let identity = options.plugin_dir.join("identity.wasm");
    let mut p2 = Measure::new(
        "P2",
        "full migration with the identity plugin ÷ without plugins (throughput)",
        "Per run: a full migration into an empty sled store without plugins, then one through identity.wasm (read and write hooks, every batch unchanged; loaded before the clock starts).",
        Unit::Ratio,
        Some(Target::AtLeast(0.85)),
    );
    let mut costs: Vec<Measure> = BATCH_SIZES
        .iter()
        .map(|batch| {
            Measure::new(
                &format!("P2-batch-{batch}"),
                &format!("host's cost per node of a plugin call, batch {batch}"),
                "",
                Unit::Microseconds,
                None,
            )
        })
        .collect();
    if identity.is_file() {
        progress.phase("P2 identity plugin", runs as u64);
        let pairs =
            measure::identity_vs_none(lab, &identity, &options.plugin_options, runs, &mut || {
                progress.step()
            })
            .await?;
        p2.throughputs(&pairs, bytes, "without plugins", "with identity");
        progress.phase("P2 cost per node", runs as u64);
        let (samples, datoms) = measure::host_cost_per_node(
            lab,
            &identity,
            &options.plugin_options,
            &BATCH_SIZES,
            runs,
            &mut || progress.step(),
        )
        .await?;
        for (m, samples) in costs.iter_mut().zip(samples) {
            m.how = format!(
                "Per run: identity.wasm's read hook called on up to 2048 of the source's index leaves ({datoms:.0} datoms each on average), {} node(s) per call, conversions both ways included; time ÷ nodes.",
                m.id.trim_start_matches("P2-batch-")
            );
            m.result = Summary::of(samples);
        }
    } else {
        let why = format!(
            "no identity.wasm in {} (build it: bash plugins/build.sh; or pass --plugin-dir)",
            options.plugin_dir.display()
        );
        p2.skip(&why);
        for m in &mut costs {
            m.skip(&why);
        }
    }
    measures.push(p2);
    measures.extend(costs);

    let mut p3 = Measure::new(
        "P3",
        "incremental run after the source grew by 1 % ÷ full run (time)",
        "Per run: a byte-exact copy of the source is migrated in full into an empty sled store; it then grows by 1 % of its transactions (at least one) and the same migration runs again, copying what is new.",
        Unit::Ratio,
        Some(Target::AtMost(0.03)),
    );
    progress.phase("P3 incremental run", runs as u64);
    let pairs = measure::incremental_vs_full(lab, runs, &mut || progress.step()).await?;
    p3.result = Summary::of(pairs.ratios());
    p3.part("full run", Unit::Seconds, pairs.baseline.clone());
    p3.part("incremental run", Unit::Seconds, pairs.subject);
    measures.push(p3);

    let mut p4 = Measure::new(
        "P4",
        "peak resident memory migrating a database 10× larger ÷ the smaller one",
        "Per run: `eva-admin migrate` of the source and then of a database of 10× its transactions, each a child process into an empty sled store; its peak resident set size is VmHWM of /proc/<pid>/status read every 2 ms, or wait4's ru_maxrss when that exceeds the bench's own peak.",
        Unit::Ratio,
        Some(Target::AtMost(1.3)),
    );
    match &options.exe {
        None => p4.skip("no eva-admin executable to run as a child process"),
        Some(exe) => {
            let large = lab.workload.scaled(measure::FACTOR).txs;
            progress.phase("P4 generating the 10× larger database", large);
            let sources = measure::MemorySources::make(lab, |_| progress.step()).await?;
            progress.phase("P4 peak memory", runs as u64);
            let pairs =
                measure::peak_memory(lab, exe, &sources, runs, &mut || progress.step()).await;
            sources.remove()?;
            let pairs = pairs?;
            p4.result = Summary::of(pairs.ratios());
            p4.part("peak RSS, source", Unit::Mebibytes, mib(&pairs.baseline));
            p4.part("peak RSS, 10× source", Unit::Mebibytes, mib(&pairs.subject));
        }
    }
    measures.push(p4);

    let mut p5 = Measure::new(
        "P5",
        "verify throughput ÷ migration throughput",
        "Per run: a full migration into an empty sled store, then `verify` of the source against it (four indexes current and history, every entry, every node reachable); throughput = source bytes ÷ wall time.",
        Unit::Ratio,
        Some(Target::AtLeast(1.0)),
    );
    progress.phase("P5 verify", runs as u64);
    let pairs = measure::verify_vs_migration(lab, runs, &mut || progress.step()).await?;
    p5.throughputs(&pairs, bytes, "migration", "verify");
    measures.push(p5);

    let mut rebuild = Measure::new(
        "rebuild",
        "rebuild mode throughput ÷ plain migration (no transforms)",
        "Per run: a full migration into an empty sled store, then `migrate --rebuild` with no transforms (every transaction replayed through the writer) into another.",
        Unit::Ratio,
        None,
    );
    progress.phase("rebuild mode", runs as u64);
    let pairs = measure::rebuild_vs_migration(lab, runs, &mut || progress.step()).await?;
    rebuild.throughputs(&pairs, bytes, "migration", "rebuild");
    measures.push(rebuild);

    Ok(measures)
}

fn mib(bytes: &[f64]) -> Vec<f64> {
    bytes.iter().map(|b| b / (1024.0 * 1024.0)).collect()
}

impl Measure {
    fn new(id: &str, what: &str, how: &str, unit: Unit, target: Option<Target>) -> Measure {
        Measure {
            id: id.to_string(),
            what: what.to_string(),
            how: how.to_string(),
            unit,
            result: None,
            target,
            skipped: None,
            parts: Vec::new(),
        }
    }

    fn skip(&mut self, why: &str) {
        self.skipped = Some(why.to_string());
    }

    fn part(&mut self, name: &str, unit: Unit, samples: Vec<f64>) {
        if let Some(summary) = Summary::of(samples) {
            self.parts.push(Part {
                name: name.to_string(),
                unit,
                summary,
            });
        }
    }

    /// The result from seconds taken side by side: the subject's throughput
    /// over the baseline's, and both throughputs in MB/s of `bytes`.
    fn throughputs(&mut self, pairs: &Pairs, bytes: f64, baseline: &str, subject: &str) {
        self.result = Summary::of(pairs.inverse_ratios());
        let rate = |secs: &[f64]| secs.iter().map(|s| bytes / s / 1e6).collect();
        self.part(baseline, Unit::MegabytesPerSecond, rate(&pairs.baseline));
        self.part(subject, Unit::MegabytesPerSecond, rate(&pairs.subject));
    }
}
