//! `eva-admin db …`: create a database, transact into it, read its
//! datoms, fill it with generated data, count what it holds.

use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use clap::{Subcommand, ValueEnum};

use super::store_arg::{Create, StorageFormatArg, StoreArgs};
use super::{GlobalArgs, logging, output, query};
use crate::db::generate::{GenerateOptions, generate};
use crate::db::input::{self, Format};
use crate::db::{Database, stats};
use crate::model::{Format as StorageFormat, Index};

/// The `db` commands.
#[derive(Debug, Subcommand)]
pub(super) enum DbCommand {
    /// Create an empty database: transaction 0 defines the built-in
    /// attributes (:db/ident, :db/valueType, :db/cardinality, :db/unique,
    /// :db/doc, :db/txInstant).
    #[command(after_help = "Example:\n  eva-admin db init sled:./my.db --db inventory")]
    Init {
        #[command(flatten)]
        target: StoreArgs,

        #[command(flatten)]
        format: StorageFormatArg,
    },

    /// Commit one transaction read from a file or stdin (EDN or JSON), and
    /// print its number and what each temp id became.
    #[command(after_help = "Examples:\n  \
        eva-admin db transact sled:./my.db --db inventory schema.edn\n  \
        echo '[[:db/add \"a\" :person/name \"Ann\"]]' | eva-admin db transact sled:./my.db --db inventory\n\n\
        EDN: a vector of [:db/add e a v], [:db/retract e a v] and {:db/id e, :attr v, :many [v1 v2]}.\n\
        JSON: an array of [\"add\", e, \":attr\", v], [\"retract\", …] and {\"db/id\": e, \"attr\": v}.\n\
        An entity is an id (integer), a temp id (string) or an ident (keyword; in JSON a string starting with `:`).\n\
        See docs/cli.md for the literals (#inst, #uuid, #base64, 12N, 1.5M).")]
    Transact {
        #[command(flatten)]
        target: StoreArgs,

        /// The file holding the transaction; `-` (the default) reads stdin.
        #[arg(value_name = "FILE", default_value = "-")]
        file: PathBuf,

        /// The input format. Without it, a `.edn` or `.json` file name
        /// decides, else the text itself: JSON when the first token inside
        /// the brackets is a string, EDN otherwise.
        #[arg(long, value_enum, value_name = "FORMAT")]
        format: Option<FormatArg>,

        /// Print the result as one JSON object ({"tx", "datoms", "tempids"}).
        #[arg(long)]
        json: bool,
    },

    /// Print the datoms of an index, optionally only those whose leading
    /// components match, as of the latest or a given transaction.
    #[command(
        allow_negative_numbers = true,
        after_help = "Components are EDN literals in the index's order \
        (eavt: e a v; aevt: a e v; avet: a v e; vaet: v a e). Entities are ids or idents \
        (keywords), attributes are idents or ids, values are typed by their attribute.\n\n\
        Examples:\n  \
        eva-admin db datoms sled:./demo.db --db demo --index aevt :db/ident\n  \
        eva-admin db datoms sled:./demo.db --db demo --index avet :person/email '\"person3.2@example.com\"'\n  \
        eva-admin db datoms sled:./demo.db --db demo --index eavt 8796093022209 --history\n  \
        eva-admin db datoms sled:./demo.db --db demo --index vaet 8796093022209 :person/friends"
    )]
    Datoms {
        #[command(flatten)]
        target: StoreArgs,

        /// The index to read, which also fixes the order of the output and
        /// of the components: eavt (by entity), aevt (by attribute), avet
        /// (by attribute and value), vaet (who refers to an entity).
        #[arg(long, value_enum, value_name = "INDEX")]
        index: IndexArg,

        /// Up to three leading components, as EDN literals: 42, :person/name,
        /// "Ann", 1.5, #inst "2024-01-01T00:00:00Z", #uuid "…". Quote them
        /// for your shell.
        #[arg(value_name = "COMPONENT")]
        components: Vec<String>,

        /// Also print retracted values and the retractions themselves (the
        /// whole history up to the snapshot), not only current datoms.
        #[arg(long)]
        history: bool,

        /// Read the database as transaction TX left it, instead of as of
        /// the latest transaction.
        #[arg(long, value_name = "TX")]
        as_of: Option<u64>,

        /// Print at most N datoms (the rest are counted on stderr).
        #[arg(long, value_name = "N")]
        limit: Option<usize>,

        /// Print a JSON array, one datom object per line ({"e", "a",
        /// "attribute", "v", "type", "tx", "added"}).
        #[arg(long)]
        json: bool,
    },

    /// Fill a database with deterministic demo data: a schema with every
    /// value type, then transactions that create people, update and
    /// retract their values and link them by refs. The database is created
    /// when absent; on a database that has the demo schema, data is appended.
    #[command(after_help = "Example:\n  \
        eva-admin db generate sled:./demo.db --db demo --txs 1000 --datoms-per-tx 10 --seed 1\n\n\
        The same seed on a fresh database gives the same datoms; transaction t is stamped \
        2024-01-01T00:00:00Z + t seconds.")]
    Generate {
        #[command(flatten)]
        target: StoreArgs,

        /// How many data transactions to commit (after the schema transaction).
        #[arg(long, value_name = "N", default_value_t = 100)]
        txs: u64,

        /// Statements per transaction (the writer adds the transaction's
        /// instant and the retractions that replacing a value implies).
        #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        datoms_per_tx: u32,

        /// The seed of every random choice: the same seed gives the same data.
        #[arg(long, value_name = "S", default_value_t = 1)]
        seed: u64,

        #[command(flatten)]
        format: StorageFormatArg,
    },

    /// Count what a database holds: tx-log entries, and nodes of each kind
    /// with their bytes (values that are not nodes count as "other").
    #[command(after_help = "Example:\n  eva-admin db stats sled:./demo.db --db demo --json")]
    Stats {
        #[command(flatten)]
        target: StoreArgs,

        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },

    /// Take back the tx-log entries a writer left past the head when it
    /// stopped before committing (a crash, a stopped migration): until
    /// then every new transaction finds its number taken. Run it while no
    /// writer is committing to the database.
    #[command(
        after_help = "Example:\n  eva-admin db repair sqlite:./dst.sqlite --db demo --dry-run\n\n\
        Only entries past the head are removed: they were never committed, no reader sees them. \
        See docs/cli.md."
    )]
    Repair(super::db_repair::RepairArgs),
}

/// `--format`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum FormatArg {
    /// Extensible Data Notation: [[:db/add "tmp" :person/name "Ann"]].
    Edn,
    /// JSON: [["add", "tmp", ":person/name", "Ann"]].
    Json,
}

/// `--index`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum IndexArg {
    /// Entity, attribute, value, tx: everything about an entity.
    Eavt,
    /// Attribute, entity, value, tx: everyone's value of an attribute.
    Aevt,
    /// Attribute, value, entity, tx: who has this value.
    Avet,
    /// Value, attribute, entity, tx: who refers to this entity (refs only).
    Vaet,
}

impl From<IndexArg> for Index {
    fn from(arg: IndexArg) -> Index {
        match arg {
            IndexArg::Eavt => Index::Eavt,
            IndexArg::Aevt => Index::Aevt,
            IndexArg::Avet => Index::Avet,
            IndexArg::Vaet => Index::Vaet,
        }
    }
}

/// Runs one `db` command.
pub(super) async fn run(command: DbCommand, global: &GlobalArgs) -> Result<()> {
    let timeout = Duration::from_secs(global.connect_timeout);
    match command {
        DbCommand::Init { target, format } => init(&target, format.get(), timeout).await,
        DbCommand::Transact {
            target,
            file,
            format,
            json,
        } => transact(&target, timeout, &file, format, json).await,
        DbCommand::Datoms {
            target,
            index,
            components,
            history,
            as_of,
            limit,
            json,
        } => {
            let db = target.open_database(timeout).await?;
            let snapshot = match as_of {
                Some(tx) => db.as_of(tx).await?,
                None => db.snapshot().await?,
            };
            let index = Index::from(index);
            let query = query::build(&snapshot, index, &components, history).await?;
            let mut datoms = snapshot.datoms(index, &query).await?;
            if let Some(limit) = limit.filter(|l| *l < datoms.len()) {
                eprintln!(
                    "showing {limit} of {} datoms (raise --limit to see more)",
                    datoms.len()
                );
                datoms.truncate(limit);
            }
            if datoms.is_empty() && !json && !global.quiet {
                eprintln!("no datoms match (try --history, or fewer components)");
            }
            output::emit(&if json {
                output::datoms_json(&datoms, snapshot.schema())
            } else {
                output::datoms_table(&datoms, snapshot.schema())
            })
        }
        DbCommand::Generate {
            target,
            txs,
            datoms_per_tx,
            seed,
            format,
        } => {
            let opts = GenerateOptions {
                txs,
                datoms_per_tx: datoms_per_tx as usize,
                seed,
            };
            run_generate(&target, timeout, &opts, format.get(), global.quiet).await
        }
        DbCommand::Repair(args) => super::db_repair::run(&args, timeout).await,
        DbCommand::Stats { target, json } => {
            let store = target.open_store(Create::Refused, timeout).await?;
            let stats = stats::stats(store, &target.db).await?;
            output::emit(&output::stats(&stats, json))
        }
    }
}

async fn init(target: &StoreArgs, format: StorageFormat, timeout: Duration) -> Result<()> {
    let store = target.open_store(Create::Allowed, timeout).await?;
    let db = Database::create_in(store.clone(), &target.db, format).await?;
    store.flush().await?;
    output::emit(&format!(
        "created database `{}` in {} (transaction 0 holds the built-in attributes)\n",
        db.id(),
        store.url()
    ))
}

async fn transact(
    target: &StoreArgs,
    timeout: Duration,
    file: &PathBuf,
    format: Option<FormatArg>,
    json: bool,
) -> Result<()> {
    let (name, text) = read_input(file)?;
    let format = format
        .map(|f| match f {
            FormatArg::Edn => Format::Edn,
            FormatArg::Json => Format::Json,
        })
        .or_else(|| match file.extension().and_then(|e| e.to_str()) {
            Some("edn") => Some(Format::Edn),
            Some("json") => Some(Format::Json),
            _ => None,
        });
    let ops = input::parse(&text, format).map_err(|e| anyhow!("{name}:{e}"))?;
    tracing::info!(statements = ops.len(), "read transaction");
    let db = target.open_database(timeout).await?;
    let report = db
        .transact(ops)
        .await
        .with_context(|| format!("transaction from {name} refused; nothing was written"))?;
    db.store().flush().await?;
    output::emit(&output::tx_report(&report, json))
}

/// The input's name for messages and its text.
fn read_input(file: &PathBuf) -> Result<(String, String)> {
    if file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the transaction from stdin")?;
        return Ok(("<stdin>".into(), text));
    }
    let name = file.display().to_string();
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the transaction file `{name}`"))?;
    Ok((name, text))
}

async fn run_generate(
    target: &StoreArgs,
    timeout: Duration,
    opts: &GenerateOptions,
    format: StorageFormat,
    quiet: bool,
) -> Result<()> {
    let (db, created) = target.open_or_create(timeout, format).await?;
    let started = Instant::now();
    let bar = logging::progress_bar(opts.txs, "transactions", quiet);
    let result = generate(&db, opts, |done| {
        if let Some(bar) = &bar {
            bar.set_position(done);
        }
    })
    .await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    // Flush what was committed even when a later transaction failed.
    db.store().flush().await?;
    let summary = result.context(
        "generating data stopped; the transactions before the failing one are committed",
    )?;
    output::emit(&output::generate_summary(
        &summary,
        db.id(),
        created,
        started.elapsed().as_secs_f64(),
    ))
}
