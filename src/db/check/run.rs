//! Checking a range of a database's entries and collecting the problems:
//! what `verify` and the command line run.

use std::ops::Range;
use std::sync::Arc;

use serde::Serialize;

use crate::store::ValueStore;

use super::super::{Database, DbError};
use super::{CheckOptions, CheckStats, Checker, Problem};

/// The outcome of [`check_database`].
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// The entries asked for.
    pub entries: Range<u64>,
    /// Entries checked.
    pub entries_checked: u64,
    /// The first problems found, at most [`CheckOptions::max_problems`].
    pub problems: Vec<Problem>,
    /// All problems found, kept or not.
    pub problems_found: u64,
    /// The entry that could not be read, after which checking stopped.
    pub stopped_at: Option<u64>,
    /// What checking read and did.
    pub stats: CheckStats,
}

impl CheckReport {
    /// True when every entry checked holds.
    pub fn is_consistent(&self) -> bool {
        self.problems_found == 0
    }
}

/// Opens database `id` in `store` and checks the entries of `range` (all,
/// `0..count`, when `None`), the entries before it trusted.
/// [`DbError::NoSuchTransaction`] when the range goes past the log.
pub async fn check_database(
    store: Arc<dyn ValueStore>,
    id: &str,
    range: Option<Range<u64>>,
    options: CheckOptions,
) -> Result<CheckReport, DbError> {
    let db = Database::open(store.clone(), id).await?;
    let count = db.head().await?.count;
    let entries = range.unwrap_or(0..count);
    if entries.end > count {
        return Err(DbError::NoSuchTransaction {
            tx: entries.end - 1,
            count,
        });
    }
    let mut checker =
        Checker::starting_at(store, id, &db.info().tx_log, entries.start, options).await?;
    let mut report = CheckReport {
        entries: entries.clone(),
        entries_checked: 0,
        problems: Vec::new(),
        problems_found: 0,
        stopped_at: None,
        stats: CheckStats::default(),
    };
    for tx in entries {
        let problems = checker.check_entry(tx).await?;
        report.entries_checked += 1;
        report.problems_found += problems.len() as u64;
        let room = options.max_problems.saturating_sub(report.problems.len());
        report.problems.extend(problems.into_iter().take(room));
        if !checker.can_continue() {
            report.stopped_at = Some(tx);
            break;
        }
    }
    report.stats = *checker.stats();
    Ok(report)
}
