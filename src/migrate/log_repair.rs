//! `db repair` on a database that may be a migration's destination: the
//! entries past its head may be a stopped run's work, which the next run
//! completes; they are taken back (src/db/repair.rs) only when no run is
//! under way, or when the operator gives that run up.

use crate::db::{Database, LogRepair, take_back_uncommitted};
use crate::store::ValueStore;
use std::sync::Arc;

use super::MigrateError;
use super::status::{MigrationState, read_status, status_key};

/// How `db repair` goes about it.
#[derive(Debug, Clone)]
pub struct LogRepairOptions {
    /// Report what would be taken back; change nothing.
    pub dry_run: bool,
    /// Take back a stopped migration's entries too: that migration can no
    /// longer continue into this database.
    pub abandon_migration: bool,
    /// The suffix of the migration's status record.
    pub status_suffix: String,
}

/// Takes back the uncommitted entries past the head of database `id` in
/// `store`, refusing while its migration status record says a run has not
/// completed (unless `abandon_migration`).
pub async fn repair_log(
    store: Arc<dyn ValueStore>,
    id: &str,
    options: &LogRepairOptions,
) -> Result<LogRepair, MigrateError> {
    let db = Database::open(store.clone(), id)
        .await
        .map_err(MigrateError::Destination)?;
    if let Some((status, _)) = read_status(store.as_ref(), id, &options.status_suffix).await?
        && status.state != MigrationState::Complete
        && !options.abandon_migration
    {
        return Err(MigrateError::MigrationUnderway {
            id: id.to_string(),
            record: status_key(id, &options.status_suffix),
        });
    }
    let report = take_back_uncommitted(&db, options.dry_run)
        .await
        .map_err(MigrateError::Destination)?;
    if !report.removed.is_empty() {
        store
            .flush()
            .await
            .map_err(MigrateError::destination_store)?;
    }
    Ok(report)
}
