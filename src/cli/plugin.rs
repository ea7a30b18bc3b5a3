//! `eva-admin plugin check`: load a plugin, show what it says about itself,
//! and run it over a sample of a real database with every host rule applied.
//! `eva-admin plugin new`: scaffold a plugin in Rust, Python or JavaScript.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use clap::{Args, Subcommand};

use crate::migrate::{self, MigrateOptions, NoObserver};
use crate::plugin::Plugin;
use crate::store::{MemStore, ValueStore};

use super::GlobalArgs;
use super::migrate::load_plugins;
use super::plugin_args::{ConfigArgs, PluginArgs, SandboxArgs};
use super::scaffold::{Lang, scaffold};
use super::store_arg::{Create, open_store};

/// The `plugin` subcommands.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Load a plugin, print what it describes, and optionally run it over a
    /// sample of a database, reporting what the host's rules would reject.
    ///
    /// Without --on, only loading, the WIT version check and `describe` run.
    /// With --on STORE --db ID, the first N entries of the database are
    /// migrated through the plugin into memory with every rule enforced
    /// (sorted leaves, bounds, references, kinds); nothing is written to STORE.
    Check(CheckArgs),
    /// Create a new plugin's directory: the WIT contract, an implementation
    /// of both hooks that passes every batch unchanged (edit it), and a
    /// build.sh that installs what the language needs and writes NAME.wasm.
    New(NewArgs),
}

/// Arguments of `plugin new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The plugin's name: lowercase letters, digits and dashes.
    pub name: String,
    /// The language to write it in.
    #[arg(long, value_enum)]
    pub lang: Lang,
    /// Where to create the NAME directory.
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub dir: PathBuf,
}

/// Arguments of `plugin check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The plugin (a WebAssembly component file).
    pub path: PathBuf,
    /// A store holding a database to try the plugin on.
    #[arg(long, value_name = "STORE", requires = "db")]
    pub on: Option<String>,
    /// The database id in that store.
    #[arg(long, value_name = "ID", value_parser = super::checked_args::database_id)]
    pub db: Option<String>,
    /// How many tx-log entries to run through the plugin.
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub sample: u64,
    /// Configuration of the plugin.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The sandbox's limits.
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

/// Runs a `plugin` subcommand; exit code 0 when the plugin passes.
pub async fn run(command: PluginCommand, global: &GlobalArgs) -> Result<i32> {
    let args = match command {
        PluginCommand::Check(args) => args,
        PluginCommand::New(args) => return new(&args),
    };
    let plugin_args = PluginArgs {
        plugins: vec![args.path.clone()],
        config: args.config.clone(),
        sandbox: args.sandbox.clone(),
    };
    let options = plugin_args.sandbox.options();
    let plugin = Plugin::load(&args.path, &options)?;
    let d = plugin.description();
    println!("plugin:       {}", args.path.display());
    println!("name:         {} {}", d.name, d.version);
    println!(
        "hooks:        described {:?}; exported: read {}, write {}",
        d.hooks,
        plugin.has_read(),
        plugin.has_write()
    );
    println!("wit version:  {}", d.wit_version);
    println!(
        "loaded in:    {:.3}s ({})",
        plugin.metrics().load_seconds,
        if plugin.metrics().compiled_from_cache {
            "compiled code from the cache"
        } else {
            "compiled now, cached for next time"
        }
    );
    let (Some(on), Some(db)) = (&args.on, &args.db) else {
        return Ok(0);
    };
    let src = open_store(
        on,
        db,
        Create::Refused,
        std::time::Duration::from_secs(global.connect_timeout),
    )
    .await?;
    let mut xforms = load_plugins(&plugin_args, &src, db).await?;
    let scratch: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
    let options = MigrateOptions {
        limit_entries: Some(args.sample),
        ..MigrateOptions::default()
    };
    match migrate::migrate(src, scratch, db, &options, &mut xforms, &mut NoObserver).await {
        Ok(report) => {
            println!(
                "sample:       entries {}..{}: {} nodes in, {} written, {} skipped, {} keys remapped — no rule broken",
                report.start,
                report.end,
                report.stats.nodes_read,
                report.stats.nodes_written,
                report.stats.nodes_skipped,
                report.stats.keys_remapped
            );
            for p in &report.plugins {
                println!("report:       {}", p.report);
                println!("metrics:      {}", p.metrics);
            }
            Ok(0)
        }
        Err(e) => {
            println!("sample:       REJECTED: {e}");
            Ok(1)
        }
    }
}

/// `plugin new`: writes the scaffold and says how to go on.
fn new(args: &NewArgs) -> Result<i32> {
    let root = scaffold(&args.dir, &args.name, args.lang)?;
    let source = match args.lang {
        Lang::Rust => "src/lib.rs".to_string(),
        Lang::Python => "app.py".to_string(),
        Lang::Js => format!("{}.js", args.name),
    };
    let shown = root.display();
    println!("created {shown}/ ({:?})", args.lang);
    println!("  edit:   {shown}/{source} (the contract: {shown}/wit/xform.wit)");
    println!("  build:  bash {shown}/build.sh");
    println!(
        "  check:  eva-admin plugin check {shown}/{}.wasm --on STORE --db ID",
        args.name
    );
    println!(
        "  use:    eva-admin migrate SRC DST --db ID --plugin {shown}/{}.wasm",
        args.name
    );
    Ok(0)
}
