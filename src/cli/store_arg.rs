//! The STORE and --db arguments every `db` command takes, and opening them.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

use crate::db::{Database, DbError};
use crate::model::Format;
use crate::store::{StoreUrl, ValueStore, redact_url};

/// The help every STORE argument shows.
const STORE_HELP: &str = "Where the database lives, as a URL:\n  \
    mem:                         in memory, gone when the command ends\n  \
    sled:PATH                    embedded, a directory (the default choice)\n  \
    sqlite:PATH                  embedded, one file\n  \
    postgres://USER@HOST:PORT/DB a PostgreSQL server (table eva_kv)\n  \
    mysql://USER@HOST:PORT/DB    a MySQL or MariaDB server (table eva_kv)\n\
    Passwords in URLs are masked in every message.";

/// A store URL and a database id in it.
#[derive(Debug, Args)]
pub(super) struct StoreArgs {
    /// The store URL: mem:, sled:PATH, sqlite:PATH, postgres://…, mysql://…
    #[arg(value_name = "STORE", long_help = STORE_HELP)]
    pub store: String,

    /// The database id inside the store. A store holds many databases;
    /// each id is its own namespace of keys.
    #[arg(long = "db", value_name = "ID", value_parser = super::checked_args::database_id)]
    pub db: String,
}

/// Whether opening may create an embedded store's file or directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Create {
    /// `db init`, `db generate`: a new store is fine.
    Allowed,
    /// Everything else: a missing path is a mistake, not a new store.
    Refused,
}

impl StoreArgs {
    /// Opens the store, waiting at most `timeout` for a server.
    pub async fn open_store(
        &self,
        create: Create,
        timeout: Duration,
    ) -> Result<Arc<dyn ValueStore>> {
        open_store(&self.store, &self.db, create, timeout).await
    }

    /// Opens the store and the existing database in it.
    pub async fn open_database(&self, timeout: Duration) -> Result<Database> {
        let store = self.open_store(Create::Refused, timeout).await?;
        Ok(Database::open(store, &self.db).await?)
    }

    /// Opens the database, creating it (and the store) when absent; the
    /// flag says whether it was created.
    pub async fn open_or_create(
        &self,
        timeout: Duration,
        format: Format,
    ) -> Result<(Database, bool)> {
        let store = self.open_store(Create::Allowed, timeout).await?;
        match Database::open(store.clone(), &self.db).await {
            Ok(db) => Ok((db, false)),
            Err(DbError::UnknownDatabase { .. }) => {
                let db = Database::create_in(store, &self.db, format)
                    .await
                    .with_context(|| format!("cannot create database `{}`", self.db))?;
                Ok((db, true))
            }
            Err(err) => Err(err.into()),
        }
    }
}

/// Opens the store at `url` (for database `db`, named in hints), waiting at
/// most `timeout` for a server. With [`Create::Refused`], a missing sled or
/// SQLite path is an error rather than a new, empty store.
pub(super) async fn open_store(
    url: &str,
    db: &str,
    create: Create,
    timeout: Duration,
) -> Result<Arc<dyn ValueStore>> {
    let shown = redact_url(url);
    let parsed = StoreUrl::parse(url)?;
    if create == Create::Refused
        && let StoreUrl::Sled(path) | StoreUrl::Sqlite(path) = &parsed
        && !std::path::Path::new(path).exists()
    {
        bail!(
            "store `{shown}` does not exist (no file or directory at `{path}`); \
             check the path, or create a database there with `eva-admin db init {shown} --db {db}`"
        );
    }
    tracing::info!(store = %shown, "opening store");
    let open = crate::store::open_within(url, timeout);
    match tokio::time::timeout(timeout, open).await {
        Ok(store) => Ok(store?),
        Err(_) => bail!(
            "store `{shown}` did not answer within {} s (is the server running and reachable? \
             --connect-timeout waits longer)",
            timeout.as_secs()
        ),
    }
}

/// The storage format of a database a command creates (docs/format.md).
#[derive(Args, Debug, Clone, Copy)]
pub(super) struct StorageFormatArg {
    /// The storage format of a new database: 1 (full index trees in every
    /// transaction) or 2 (indexes that lag the log, in sorted runs of
    /// compact nodes: a few hundred bytes a datom). An existing database
    /// keeps its own format.
    #[arg(
        long = "storage-format",
        value_enum,
        value_name = "N",
        default_value = "1"
    )]
    format: FormatNumber,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
enum FormatNumber {
    #[value(name = "1")]
    One,
    #[value(name = "2")]
    Two,
}

impl StorageFormatArg {
    /// The format asked for.
    pub(super) fn get(self) -> Format {
        match self.format {
            FormatNumber::One => Format::V1,
            FormatNumber::Two => Format::V2,
        }
    }
}
