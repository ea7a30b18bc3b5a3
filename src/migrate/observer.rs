//! How a migration reports progress (the CLI draws bars; tests count).

use super::copier::CopyStats;

/// Receives progress of a migration run. All methods have empty defaults.
pub trait MigrationObserver: Send {
    /// The run will copy entries `start..end` (`end` = the source snapshot count).
    fn started(&mut self, _start: u64, _end: u64) {}
    /// Entry `tx` and everything below it are written; `stats` so far.
    fn entry_done(&mut self, _tx: u64, _stats: &CopyStats) {}
    /// The status record now says entries up to `tx` are migrated.
    fn checkpoint(&mut self, _tx: u64) {}
    /// The roots were moved (or nothing had to be); the run is complete.
    fn finished(&mut self, _stats: &CopyStats) {}
}

/// An observer that ignores everything.
pub struct NoObserver;

impl MigrationObserver for NoObserver {}
