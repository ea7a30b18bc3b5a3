//! `eva-admin bench`: the benchmark harness on the command line.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use crate::bench::{self, BenchOptions, BenchProgress, Group, MIN_RUNS, Size, markdown};

use super::GlobalArgs;
use super::store_arg::StorageFormatArg;

/// The sizes a user may ask for (`tiny` is for tests, hidden).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SizeArg {
    /// A few dozen transactions (tests).
    #[value(hide = true)]
    Tiny,
    /// Format 1: 300 transactions × 10 statements, about a minute on 2
    /// cores. Format 2: about 100,000 datoms.
    Small,
    /// Format 1: 1,000 × 10 (the memory measure's 10× database 10,000 ×
    /// 10). Format 2: about 1 million datoms.
    Medium,
    /// Format 1: 10,000 × 10 (its 10× database 100,000 × 10: hours and
    /// tens of GB). Format 2: about 10 million datoms.
    Large,
}

impl From<SizeArg> for Size {
    fn from(size: SizeArg) -> Size {
        match size {
            SizeArg::Tiny => Size::Tiny,
            SizeArg::Small => Size::Small,
            SizeArg::Medium => Size::Medium,
            SizeArg::Large => Size::Large,
        }
    }
}

/// Arguments of `eva-admin bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// How big the generated source database is. `small` takes about a
    /// minute on 2 cores; `medium` and `large` take much longer, mostly
    /// generating and migrating the memory measure's 10× database.
    #[arg(long, value_enum, default_value = "small")]
    pub size: SizeArg,

    /// Runs of each measurement (at least 3); the report gives the median
    /// and the spread of each ratio.
    #[arg(long, default_value_t = MIN_RUNS, value_name = "N",
          value_parser = parse_runs)]
    pub runs: usize,

    /// Where to write the Markdown report (the table, the machine, how each
    /// measure is taken).
    #[arg(long, default_value = "BENCHMARKS.md", value_name = "FILE")]
    pub out: PathBuf,

    /// Where to write the report as JSON (every sample included). Default:
    /// the --out path with the extension .json.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// A PostgreSQL store to measure sled→PostgreSQL too, e.g.
    /// postgres://USER@HOST:PORT/DB. The bench writes only into a
    /// namespace of its own (a fresh database id), emptied between copies
    /// and at the end. Without it that row says skipped.
    #[arg(long, value_name = "URL")]
    pub postgres: Option<String>,

    /// Where the temporary sled stores go (a directory is made inside and
    /// removed at the end). Default: the system's temporary directory. The
    /// medium size needs a few GB free, large tens of GB.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// The directory holding identity.wasm for the plugin measure (built by
    /// bash plugins/build.sh). Without it the plugin rows say skipped.
    #[arg(long, default_value = "plugins/out", value_name = "DIR")]
    pub plugin_dir: PathBuf,

    /// Take only these measures, e.g. --only p1,p3 (the other rows say
    /// skipped). P4 is most of a bench's time and disk: --only without p4
    /// does not generate the 10× database.
    #[arg(long, value_enum, value_delimiter = ',', value_name = "MEASURES")]
    pub only: Vec<GroupArg>,

    /// The storage format of the databases the bench generates. In format
    /// 2 the sizes are in datoms: small about 100,000, medium about 1
    /// million, large about 10 million; the plugin rows (P2) need format 1.
    #[command(flatten)]
    pub format: StorageFormatArg,
}

/// A measure of `--only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GroupArg {
    /// P1: migration ÷ raw copy.
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

impl From<GroupArg> for Group {
    fn from(group: GroupArg) -> Group {
        match group {
            GroupArg::P1 => Group::P1,
            GroupArg::P2 => Group::P2,
            GroupArg::P3 => Group::P3,
            GroupArg::P4 => Group::P4,
            GroupArg::P5 => Group::P5,
            GroupArg::Rebuild => Group::Rebuild,
        }
    }
}

fn parse_runs(text: &str) -> Result<usize, String> {
    let runs: usize = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of runs"))?;
    if runs < MIN_RUNS {
        return Err(format!(
            "at least {MIN_RUNS} runs are needed for a median and a spread"
        ));
    }
    Ok(runs)
}

/// Runs `bench`; exit code 0 when the report is written (targets met or not).
pub async fn run_bench(args: BenchArgs, global: &GlobalArgs) -> anyhow::Result<i32> {
    let exe = match std::env::current_exe() {
        Ok(exe) => Some(exe),
        Err(err) => {
            tracing::warn!("cannot find the eva-admin executable ({err}); P4 is skipped");
            None
        }
    };
    let options = BenchOptions {
        size: args.size.into(),
        runs: args.runs,
        dir: args.dir.clone(),
        postgres: args.postgres.clone(),
        plugin_dir: args.plugin_dir.clone(),
        exe,
        only: (!args.only.is_empty()).then(|| args.only.iter().map(|&g| g.into()).collect()),
        format: args.format.get(),
        ..BenchOptions::new(args.size.into())
    };
    let mut progress = CliProgress::new(global.quiet);
    // On Ctrl-C the bench is dropped, which deletes its temporary directory.
    let report = tokio::select! {
        report = bench::run(&options, &mut progress) => {
            report.context("running the benchmark; the stores it made were removed")?
        }
        _ = tokio::signal::ctrl_c() => anyhow::bail!(
            "interrupted; the bench's temporary sled stores were removed{}",
            if options.postgres.is_some() {
                " (its namespace eva-admin-bench-… in the PostgreSQL store may remain: \
                 DELETE FROM eva_kv WHERE namespace LIKE 'eva-admin-bench-%')"
            } else {
                ""
            }
        ),
    };
    let json = args
        .json
        .clone()
        .unwrap_or_else(|| args.out.with_extension("json"));
    std::fs::write(&args.out, markdown::render(&report))
        .with_context(|| format!("writing the report to `{}`", args.out.display()))?;
    let text = serde_json::to_string_pretty(&report)?;
    std::fs::write(&json, text + "\n")
        .with_context(|| format!("writing the JSON report to `{}`", json.display()))?;
    print!("{}", markdown::table(&report));
    println!(
        "\n{} runs each, in {:.0} s; written to {} and {}",
        report.runs,
        report.elapsed_seconds,
        args.out.display(),
        json.display()
    );
    Ok(0)
}

/// A bar per phase on a terminal; a log line per phase and step otherwise.
struct CliProgress {
    bar: Option<ProgressBar>,
    show: bool,
    phase: String,
    done: u64,
    steps: u64,
}

impl CliProgress {
    fn new(quiet: bool) -> CliProgress {
        CliProgress {
            bar: None,
            show: !quiet && std::io::stderr().is_terminal(),
            phase: String::new(),
            done: 0,
            steps: 0,
        }
    }
}

impl BenchProgress for CliProgress {
    fn phase(&mut self, what: &str, steps: u64) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        tracing::info!(steps, "bench: {what}");
        self.phase = what.to_string();
        self.done = 0;
        self.steps = steps;
        if self.show {
            let bar = ProgressBar::new(steps);
            bar.set_style(
                ProgressStyle::with_template("{elapsed_precise} {msg} [{bar:30}] {pos}/{len}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_message(what.to_string());
            self.bar = Some(bar);
        }
    }

    fn step(&mut self) {
        self.done += 1;
        match &self.bar {
            Some(bar) => bar.inc(1),
            None => tracing::debug!(done = self.done, of = self.steps, "bench: {}", self.phase),
        }
    }

    fn finished(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
