//! `eva-admin db repair`: rolls back the tx-log entries a writer left past
//! the head (src/db/repair.rs, src/migrate/log_repair.rs).

use std::time::Duration;

use anyhow::Result;
use clap::Args;

use super::checked_args;
use super::output;
use super::store_arg::{Create, StoreArgs};
use crate::migrate::{self, LogRepairOptions, repair_log};

/// Arguments of `db repair`.
#[derive(Debug, Args)]
pub(super) struct RepairArgs {
    #[command(flatten)]
    pub target: StoreArgs,

    /// Show what would be taken back; change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// The database is the destination of a migration that stopped before
    /// it committed, and you give that migration up (you wrote to the
    /// destination since, or will): its uncommitted entries are taken back
    /// too, and the migration can no longer continue into this database.
    #[arg(long)]
    pub abandon_migration: bool,

    /// The status record suffix the migration used (`migrate --status-suffix`).
    #[arg(long, default_value = migrate::DEFAULT_STATUS_SUFFIX, value_name = "SUFFIX",
          value_parser = checked_args::key_suffix)]
    pub status_suffix: String,

    /// Print one JSON object ({"head", "left_behind", "removed"}).
    #[arg(long)]
    pub json: bool,
}

/// Runs `db repair`.
pub(super) async fn run(args: &RepairArgs, timeout: Duration) -> Result<()> {
    let store = args.target.open_store(Create::Refused, timeout).await?;
    let options = LogRepairOptions {
        dry_run: args.dry_run,
        abandon_migration: args.abandon_migration,
        status_suffix: args.status_suffix.clone(),
    };
    let report = repair_log(store, &args.target.db, &options).await?;
    if args.json {
        return output::emit(&format!("{}\n", serde_json::to_string(&report)?));
    }
    let text = match (report.left_behind.as_slice(), args.dry_run) {
        ([], _) => format!(
            "nothing to repair: no entry past the head ({} committed transactions)\n",
            report.head
        ),
        (found, true) => format!(
            "would take back {} uncommitted entr{} past the head ({} committed): {}\n",
            found.len(),
            if found.len() == 1 { "y" } else { "ies" },
            report.head,
            found.join(", ")
        ),
        (_, false) => format!(
            "took back {} uncommitted entr{} past the head ({} committed): {}\n\
             transactions can be committed again\n",
            report.removed.len(),
            if report.removed.len() == 1 {
                "y"
            } else {
                "ies"
            },
            report.head,
            report.removed.join(", ")
        ),
    };
    output::emit(&text)
}
