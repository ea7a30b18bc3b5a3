//! The `eva-admin` command line: argument parsing, logging, the runtime,
//! and turning errors into messages and exit codes. Nothing else in the
//! crate depends on this module.

mod bench;
mod checked_args;
mod db;
mod db_repair;
mod duration_arg;
mod logging;
mod migrate;
mod output;
mod plugin;
mod plugin_args;
mod query;
mod scaffold;
mod store_arg;

use std::ffi::OsString;

use clap::{Args, Parser, Subcommand};

/// Exit code: success.
pub const EXIT_OK: i32 = 0;
/// Exit code: the command failed (the message is on stderr).
pub const EXIT_FAILURE: i32 = 1;
/// Exit code: the command line itself is wrong (clap's usage errors).
pub const EXIT_USAGE: i32 = 2;

/// Administration of Eva-style immutable datom databases.
#[derive(Debug, Parser)]
#[command(
    name = "eva-admin",
    version,
    about = "Administration of Eva-style immutable datom databases",
    long_about = "Administration of Eva-style immutable datom databases.\n\n\
        A store (named by a URL such as sled:./demo.db) holds databases, each \
        named by an id. A database is a log of transactions; each entry holds \
        the transaction's datoms and four copy-on-write indexes (EAVT, AEVT, \
        AVET, VAET).\n\n\
        Start with:\n  \
        eva-admin db generate sled:./demo.db --db demo --txs 1000 --datoms-per-tx 10 --seed 1\n  \
        eva-admin db stats sled:./demo.db --db demo",
    after_help = "Exit status: 0 on success, 1 when the command fails, 2 on a usage error."
)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Flags every command takes.
#[derive(Debug, Args)]
struct GlobalArgs {
    /// Log more on stderr: -v info, -vv debug, -vvv trace.
    ///
    /// RUST_LOG, when set, takes precedence (e.g. RUST_LOG=eva_admin=debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    /// Show no progress bars and log nothing but errors. Results (datoms,
    /// statistics, summaries) are still printed on stdout.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,

    /// Seconds to wait for a store server (postgres://, mysql://) to accept
    /// the connection before giving up.
    #[arg(long, global = true, value_name = "SECS", default_value_t = 10)]
    connect_timeout: u64,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Work with one database in a store: init, transact, datoms, generate, stats.
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Copy a database from one store to another: resumable, continuous, create-only.
    ///
    /// Safe to stop at any moment (Ctrl-C, kill -9) and to run again: it
    /// resumes where it stopped, copies what is new when the source has grown,
    /// and writes nothing when the destination is up to date. Keep writing to
    /// the source if you like; never write to the destination's database until
    /// you switch over. See docs/migration.md.
    Migrate(migrate::MigrateArgs),
    /// Show where a migration into a store stands (its status record).
    Status(migrate::StatusArgs),
    /// Check that a destination holds the same database as the source.
    ///
    /// Compares the datoms of all four indexes, current and with history, and
    /// every tx-log entry, as of one transaction, and walks every node the
    /// destination's roots reach. Exit status 0 when equal, 1 otherwise.
    Verify(migrate::VerifyArgs),
    /// Work with WebAssembly plugins: check one against a store, or scaffold a new one.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Measure migration against a raw copy of the same bytes, and what
    /// plugins, incremental runs, memory, verify and rebuild cost.
    ///
    /// Generates a demo database of the chosen size in temporary sled
    /// stores, takes each measure side by side (baseline then subject) at
    /// least 3 times, and writes the medians and spreads against their
    /// targets to BENCHMARKS.md and as JSON. Removes every store it made.
    /// See docs/performance.md.
    Bench(bench::BenchArgs),
}

/// Runs the command line on the process's arguments; returns the exit code.
pub fn run() -> i32 {
    run_from(std::env::args_os())
}

/// Runs the command line on `args` (the first is the program name);
/// returns the exit code: 0 ok, 1 failed, 2 usage error.
pub fn run_from<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            // --help and --version come here too, with exit code 0.
            let _ = err.print();
            return err.exit_code();
        }
    };
    logging::init(cli.global.verbose, cli.global.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return EXIT_FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Db(command) => db::run(command, &cli.global).await.map(|()| EXIT_OK),
            Command::Migrate(args) => migrate::run_migrate(args, &cli.global).await,
            Command::Status(args) => migrate::run_status(args, &cli.global).await,
            Command::Verify(args) => migrate::run_verify(args, &cli.global).await,
            Command::Plugin(command) => plugin::run(command, &cli.global).await,
            Command::Bench(args) => bench::run_bench(args, &cli.global).await,
        }
    });
    // Do not wait for stray blocking tasks (e.g. a hung driver) on the way out.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(code) => code,
        Err(err) => {
            tracing::debug!(error = ?err, "command failed");
            eprintln!("error: {err:#}");
            EXIT_FAILURE
        }
    }
}
