//! `eva-admin migrate`, `status` and `verify`.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::migrate::{
    self, CopyStats, MigrateOptions, MigrationObserver, MigrationState, VerifyOptions,
};
use crate::store::ValueStore;

use super::GlobalArgs;
use super::checked_args;
use super::plugin_args::PluginArgs;
use super::store_arg::{Create, open_store};
use crate::db::Database;
use crate::migrate::NodeXform;
use crate::plugin::Idents;

/// Arguments of `eva-admin migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The store to copy from, e.g. sled:./prod.db or postgres://eva@host:5432/eva.
    pub source: String,
    /// The store to copy into (created when missing for sled/sqlite; the
    /// table is created on SQL servers). Must not be written by anything else
    /// until the migration is complete.
    pub destination: String,
    /// The database id to migrate.
    #[arg(long = "db", value_name = "ID", value_parser = checked_args::database_id)]
    pub db: String,
    /// Write the status record every N entries (but see
    /// --checkpoint-secs); after a crash at most that much is walked again,
    /// and nodes already copied are skipped, not rewritten.
    #[arg(long, default_value_t = 25, value_name = "N", value_parser = checked_args::log_every)]
    pub log_every: u64,
    /// Write the status record at most once per SECS seconds: each write
    /// first makes the destination durable (an fsync on sled and SQLite),
    /// which on a fast copy costs more than the copying. 0: every
    /// --log-every entries.
    #[arg(long, default_value = "1s", value_name = "DURATION",
          value_parser = parse_checkpoint)]
    pub checkpoint_secs: std::time::Duration,
    /// The status record is stored at `<ID>.<SUFFIX>` in the destination.
    #[arg(long, default_value = migrate::DEFAULT_STATUS_SUFFIX, value_name = "SUFFIX",
          value_parser = checked_args::key_suffix)]
    pub status_suffix: String,
    /// Nodes per destination write (one round trip each).
    #[arg(long, default_value_t = 256, value_name = "N", value_parser = checked_args::batch_size)]
    pub batch_size: usize,
    /// Parallel source reads when a node's children are fetched.
    #[arg(long, default_value_t = 4, value_name = "N", value_parser = checked_args::concurrency)]
    pub concurrency: usize,
    /// Walk the source and count what would be written; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Instead of migrating, replace the destination's damaged index nodes
    /// and tx-log entries (bytes that are not what their key names, as
    /// `verify` reports them) with the source's bytes for the same key,
    /// where those are provably what belongs there; then run `verify`.
    #[arg(long, conflicts_with_all = ["dry_run", "rebuild"])]
    pub repair: bool,
    /// Replay the source's transactions through the plugins' transform-tx
    /// hooks and build the destination's indexes afresh, instead of copying
    /// nodes: for rewrites that change sort order (renaming an attribute,
    /// redacting values). The destination becomes a different database
    /// (own identity); later runs must use --rebuild with the same plugins.
    /// It is written in storage format 2: with no plugin, this upgrades a
    /// format 1 database (docs/format.md).
    #[arg(long)]
    pub rebuild: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub plugins: PluginArgs,
}

/// Arguments of `eva-admin status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The destination store of a migration.
    pub destination: String,
    /// The database id.
    #[arg(long = "db", value_name = "ID", value_parser = checked_args::database_id)]
    pub db: String,
    /// The suffix given to `migrate --status-suffix`.
    #[arg(long, default_value = migrate::DEFAULT_STATUS_SUFFIX, value_name = "SUFFIX",
          value_parser = checked_args::key_suffix)]
    pub status_suffix: String,
    /// Print the record as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `eva-admin verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The store migrated from.
    pub source: String,
    /// The store migrated into.
    pub destination: String,
    /// The database id.
    #[arg(long = "db", value_name = "ID", value_parser = checked_args::database_id)]
    pub db: String,
    /// Compare as of this transaction number (default: the destination's latest).
    #[arg(long, value_name = "TX")]
    pub as_of: Option<u64>,
    /// The suffix given to `migrate --status-suffix`: the destination's
    /// head is compared with where the record says the migration left it.
    #[arg(long, default_value = migrate::DEFAULT_STATUS_SUFFIX, value_name = "SUFFIX",
          value_parser = checked_args::key_suffix)]
    pub status_suffix: String,
    /// The destination was made with `migrate --rebuild`: compare it with
    /// the source replayed through the same plugins.
    #[arg(long)]
    pub rebuild: bool,
    /// Verify the latest view (or the --as-of one) only: its tx-log entry
    /// compared, every index node it reaches read and checked against its
    /// key. Costs the view's size instead of the whole history's; older
    /// views and the trees' ordering rules are left to the full verify.
    #[arg(long)]
    pub quick: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub plugins: PluginArgs,
}

/// The attribute idents of the source database, for the datoms plugins see.
pub(super) async fn source_idents(src: &Arc<dyn ValueStore>, db: &str) -> anyhow::Result<Idents> {
    let snapshot = Database::open(src.clone(), db).await?.snapshot().await?;
    Ok(Idents::new(
        snapshot
            .schema()
            .attributes()
            .map(|a| (a.id, a.ident.clone())),
    ))
}

/// Loads the plugins a command names (none: an empty list), off the async threads.
pub(super) async fn load_plugins(
    args: &PluginArgs,
    src: &Arc<dyn ValueStore>,
    db: &str,
) -> anyhow::Result<Vec<Box<dyn NodeXform>>> {
    if args.plugins.is_empty() {
        return args.load(Idents::default());
    }
    let idents = source_idents(src, db).await?;
    let args = args.clone();
    tokio::task::spawn_blocking(move || args.load(idents)).await?
}

async fn open(
    url: &str,
    db: &str,
    create: Create,
    global: &GlobalArgs,
) -> anyhow::Result<Arc<dyn ValueStore>> {
    open_store(url, db, create, Duration::from_secs(global.connect_timeout)).await
}

/// Runs `migrate`; exit code 0 on success.
pub async fn run_migrate(args: MigrateArgs, global: &GlobalArgs) -> anyhow::Result<i32> {
    let src = open(&args.source, &args.db, Create::Refused, global)
        .await
        .context("opening the source")?;
    let dst = open(&args.destination, &args.db, Create::Allowed, global)
        .await
        .context("opening the destination")?;
    if args.repair {
        return run_repair(src.as_ref(), dst.as_ref(), &args).await;
    }
    let options = MigrateOptions {
        log_every: args.log_every,
        checkpoint_interval: args.checkpoint_secs,
        status_suffix: args.status_suffix.clone(),
        batch_size: args.batch_size,
        concurrency: args.concurrency,
        dry_run: args.dry_run,
        ..MigrateOptions::default()
    };
    let mut observer = ProgressObserver::new(!args.json && !global.quiet);
    let report = if args.rebuild {
        let plugins = args.plugins.clone();
        let mut xforms = tokio::task::spawn_blocking(move || plugins.load_tx()).await??;
        migrate::rebuild(
            src,
            dst.clone(),
            &args.db,
            &options,
            &mut xforms,
            &mut observer,
        )
        .await
    } else {
        let mut xforms = load_plugins(&args.plugins, &src, &args.db).await?;
        migrate::migrate(
            src,
            dst.clone(),
            &args.db,
            &options,
            &mut xforms,
            &mut observer,
        )
        .await
    };
    let report = report
        .with_context(|| {
            format!(
                "migrating database `{}` (the destination's roots were not moved: readers still see what the last complete run left)",
                args.db
            )
        })?;
    dst.flush().await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(0);
    }
    let s = &report.stats;
    let secs = report.elapsed.as_secs_f64().max(1e-9);
    if report.up_to_date {
        println!(
            "database `{}` is up to date in the destination ({} entries); nothing written",
            args.db, report.end
        );
    } else {
        let verb = match (report.dry_run, args.rebuild) {
            (true, false) => "would copy",
            (false, false) => "copied",
            (true, true) => "would rebuild",
            (false, true) => "rebuilt",
        };
        println!(
            "{verb} entries {}..{} of database `{}`: {} nodes ({} bytes) written, {} already present, {} subtrees pruned, in {:.2}s ({:.0} nodes/s, {:.1} MB/s)",
            report.start,
            report.end,
            args.db,
            s.nodes_written,
            s.bytes_written,
            s.nodes_already_present,
            s.subtrees_pruned,
            secs,
            s.nodes_written as f64 / secs,
            s.bytes_written as f64 / secs / 1e6,
        );
    }
    for p in &report.plugins {
        println!("plugin {}: {} {}", p.name, p.report, p.metrics);
    }
    Ok(0)
}

/// Runs `status`; exit code 0 when a record exists, 1 when none.
pub async fn run_status(args: StatusArgs, global: &GlobalArgs) -> anyhow::Result<i32> {
    let dst = open(&args.destination, &args.db, Create::Refused, global).await?;
    let found = migrate::read_status(dst.as_ref(), &args.db, &args.status_suffix).await?;
    let Some((status, _)) = found else {
        anyhow::bail!(
            "no migration status record `{}` in `{}`: no migration of database `{}` has run into this store (or another --status-suffix was used)",
            migrate::status_key(&args.db, &args.status_suffix),
            dst.url(),
            args.db
        );
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(0);
    }
    let done = status.last_migrated.map_or(0, |l| l + 1);
    println!("database:          {}", args.db);
    println!("state:             {}", status.state.name());
    println!(
        "entries migrated:  {done} of {} (source head at the last run's start)",
        status.source_head
    );
    println!(
        "destination head:  {}",
        status
            .destination_head
            .map_or("none yet".into(), |h| h.to_string())
    );
    println!("identity:          {}", status.identity);
    if let Some(rebuild) = &status.rebuild {
        println!(
            "rebuilt through:   {} (source identity {})",
            rebuild.transform_list(),
            rebuild.source_identity
        );
    }
    println!("updated:           {}", status.updated);
    if status.state != MigrationState::Complete {
        let mode = if status.rebuild.is_some() {
            " --rebuild --plugin … (the same plugins)"
        } else {
            ""
        };
        println!(
            "resume with:       eva-admin migrate SOURCE {} --db {}{mode}",
            dst.url(),
            args.db
        );
    }
    Ok(0)
}

/// Runs `migrate --repair`; exit code 0 when every damaged node was
/// repaired (or none was found), 1 otherwise.
async fn run_repair(
    src: &dyn ValueStore,
    dst: &dyn ValueStore,
    args: &MigrateArgs,
) -> anyhow::Result<i32> {
    let report = migrate::repair(src, dst, &args.db, &args.status_suffix)
        .await
        .with_context(|| format!("repairing database `{}`", args.db))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} index nodes and tx-log entries read: {} damaged, {} repaired from the source",
            report.nodes_scanned,
            report.damaged,
            report.repaired.len()
        );
        for (key, why) in &report.unrepairable {
            println!("  not repaired: {key}: {why}");
        }
        if report.damaged > 0 {
            println!(
                "check the result with: eva-admin verify {} {} --db {}",
                src.url(),
                dst.url(),
                args.db
            );
        }
    }
    Ok(if report.is_complete() { 0 } else { 1 })
}

/// Runs `verify`; exit code 0 when equal, 1 when they differ.
pub async fn run_verify(args: VerifyArgs, global: &GlobalArgs) -> anyhow::Result<i32> {
    let src = open(&args.source, &args.db, Create::Refused, global)
        .await
        .context("opening the source")?;
    let dst = open(&args.destination, &args.db, Create::Refused, global)
        .await
        .context("opening the destination")?;
    let unit = if args.quick {
        "index nodes checked"
    } else {
        "entries, compared then checked"
    };
    let bar = super::logging::progress_bar(0, unit, global.quiet);
    let options = VerifyOptions {
        as_of: args.as_of,
        status_suffix: args.status_suffix.clone(),
        quick: args.quick,
        progress: bar.clone().map(|bar| {
            Arc::new(move |done, total: Option<u64>| {
                bar.set_length(total.unwrap_or(done));
                bar.set_position(done);
            }) as migrate::VerifyProgress
        }),
        ..VerifyOptions::default()
    };
    let started = Instant::now();
    let report = if args.rebuild {
        let plugins = args.plugins.clone();
        let mut xforms = tokio::task::spawn_blocking(move || plugins.load_tx()).await??;
        migrate::verify_rebuild(src, dst, &args.db, &mut xforms, &options).await
    } else {
        let mut xforms = load_plugins(&args.plugins, &src, &args.db).await?;
        migrate::verify_through(src, dst, &args.db, &mut xforms, &options).await
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let report = report.with_context(|| format!("verifying database `{}`", args.db))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if report.is_equal() {
        println!(
            "equal as of transaction {}{}: {} tx-log entries compared, {} destination nodes checked, in {:.2}s",
            report.tx,
            if args.quick {
                " (--quick: that view only)"
            } else {
                ""
            },
            report.entries_compared,
            report.nodes_checked,
            started.elapsed().as_secs_f64()
        );
        let behind = report.source_entries.saturating_sub(report.tx + 1);
        if behind > 0 {
            println!("the source has {behind} entries past it; `eva-admin migrate` copies them");
        }
    } else {
        println!("DIFFERENT as of transaction {}:", report.tx);
        for d in &report.differences {
            println!("  {d}");
        }
    }
    Ok(if report.is_equal() { 0 } else { 1 })
}

/// Shows a progress bar on a terminal, logs checkpoints otherwise.
struct ProgressObserver {
    bar: Option<ProgressBar>,
    started: Instant,
}

impl ProgressObserver {
    fn new(show: bool) -> ProgressObserver {
        let bar = (show && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} entries {pos}/{len} {wide_bar} {msg} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        ProgressObserver {
            bar,
            started: Instant::now(),
        }
    }
}

impl MigrationObserver for ProgressObserver {
    fn started(&mut self, start: u64, end: u64) {
        self.started = Instant::now();
        tracing::info!(start, end, "migrating entries");
        if let Some(bar) = &self.bar {
            bar.set_length(end);
            bar.set_position(start);
        }
    }

    fn entry_done(&mut self, tx: u64, stats: &CopyStats) {
        if let Some(bar) = &self.bar {
            let secs = self.started.elapsed().as_secs_f64().max(1e-9);
            bar.set_position(tx + 1);
            bar.set_message(format!(
                "{:.0} nodes/s {:.1} MB/s",
                stats.nodes_written as f64 / secs,
                stats.bytes_written as f64 / secs / 1e6
            ));
        }
    }

    fn checkpoint(&mut self, tx: u64) {
        tracing::info!(last_migrated = tx, "status record written");
    }

    fn finished(&mut self, stats: &CopyStats) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        tracing::info!(
            nodes_written = stats.nodes_written,
            bytes_written = stats.bytes_written,
            "migration finished"
        );
    }
}

/// `--checkpoint-secs`: a duration from 0 to one day.
fn parse_checkpoint(text: &str) -> Result<std::time::Duration, String> {
    super::duration_arg::parse_duration(
        text,
        std::time::Duration::ZERO,
        std::time::Duration::from_secs(86_400),
    )
}
