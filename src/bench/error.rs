//! What can stop a benchmark, each naming what failed.

use std::path::PathBuf;

use crate::db::DbError;
use crate::migrate::MigrateError;
use crate::plugin::PluginError;
use crate::store::StoreError;

/// Why a benchmark could not finish.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Fewer runs than a median and a spread need.
    #[error(
        "{runs} runs asked for; a measurement needs at least {min} to report a median and a spread"
    )]
    TooFewRuns {
        /// Runs asked for.
        runs: usize,
        /// The least accepted.
        min: usize,
    },
    /// A store operation failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Generating or reading a database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A migration, rebuild or verify failed.
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    /// Loading or calling a plugin failed.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// A file or directory of the bench could not be made or removed.
    #[error("{what} `{}`: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
    /// The scratch namespace in the PostgreSQL server could not be used.
    #[error("PostgreSQL store `{url}`: {reason}")]
    Postgres {
        /// The server's URL, password masked.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// A child `eva-admin` process failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Child {
        /// The command line, shortened.
        command: String,
        /// Its exit status in words.
        status: String,
        /// The end of what it printed on stderr.
        stderr: String,
    },
    /// A measured operation did not do what it must (copied other bytes,
    /// verified unequal): its timing would mean nothing.
    #[error("{what}: {detail}")]
    Unsound {
        /// The operation.
        what: String,
        /// What was wrong.
        detail: String,
    },
}

impl BenchError {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        BenchError::Io {
            what,
            path: path.into(),
            source,
        }
    }
}
