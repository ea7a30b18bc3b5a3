//! Errors of migration, status and verify.

use crate::db::DbError;
use crate::store::StoreError;

use super::tx_xform::TxRejection;

/// Why a migration or verify stopped. Each message names what failed and
/// what to do; after any of them the destination is resumable (its roots
/// were not moved).
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// Reading the source failed.
    #[error("source: {0}")]
    Source(DbError),
    /// Reading or writing the destination failed.
    #[error("destination: {0}")]
    Destination(DbError),
    /// A key already holds different bytes in the destination (property 5).
    #[error(
        "destination already holds a different value at key `{key}`; refusing to overwrite it. Something other than this migration wrote into the destination: inspect it, or migrate into a fresh namespace/store"
    )]
    ForeignNode {
        /// The key in question.
        key: String,
    },
    /// The destination holds another database under the same id (property 10).
    #[error(
        "destination holds a different database with id `{id}` (identity {destination_identity}, source identity {source_identity}); refusing to mix them. Choose another destination or database id"
    )]
    IdentityMismatch {
        /// The database id.
        id: String,
        /// The source's identity.
        source_identity: String,
        /// The destination's identity.
        destination_identity: String,
    },
    /// The source's history is not the one the destination was copied
    /// from (a fork: a restored backup written to, a copy grown apart).
    #[error(
        "the source's history is not the one this destination was copied from: its entry {checked} differs from the entry copied then{}. It is a fork (a restored backup that was written to, or a copy grown apart from the original); continuing would mix two histories. Migrate it into a fresh destination, or point at the source this destination was copied from",
        first_differing.map_or(String::new(), |f| format!(" (the histories part at entry {f})"))
    )]
    SourceDiverged {
        /// The entry whose digest or bytes were compared.
        checked: u64,
        /// The first entry that differs, when the destination holds the
        /// source's bytes as they are and it could be found.
        first_differing: Option<u64>,
    },
    /// The destination's log is longer than the source's (property 10).
    #[error(
        "destination's tx-log has {destination_count} entries but the source has only {source_count}: the head never moves backwards. Did you swap SOURCE and DESTINATION?"
    )]
    DestinationAhead {
        /// Entries in the source.
        source_count: u64,
        /// Entries in the destination.
        destination_count: u64,
    },
    /// Database-info changed in the destination after this run had moved
    /// the tx-log head: the nodes and the head are this run's, the
    /// database-info is someone else's.
    #[error(
        "the destination's database-info changed during this run, after the run had moved the tx-log head to {head} (every node below it is stored): someone else wrote a database under this id (a `db init`?). The destination no longer holds only this database; migrate into a fresh destination, or remove the other database there and run the same command again"
    )]
    InfoChangedAfterHeadMoved {
        /// The head count this run moved the head to.
        head: u64,
    },
    /// `db repair` on the destination of a migration that has not completed.
    #[error(
        "a migration into `{id}` has not completed (its status record `{record}` says so): the entries past the head may be its work. Run the same `eva-admin migrate` command again to complete it; or, if you give that migration up, repair with --abandon-migration"
    )]
    MigrationUnderway {
        /// The database id.
        id: String,
        /// The key of its status record.
        record: String,
    },
    /// The destination changed since the status record was written (property 3).
    #[error(
        "destination changed since the last migration run: {what}. Someone else is writing there; a migration destination must not be written to. This run did not move the destination's roots (nodes it copied stay, unreachable until a run completes): stop the other writer, then run the same command again"
    )]
    DestinationChanged {
        /// What differs.
        what: String,
    },
    /// A plain migration into a destination that a rebuild wrote.
    #[error(
        "destination database `{id}` was written by a rebuild (through {transforms}); a plain migration into it would mix copied entries with rebuilt ones. Run the rebuild again with the same plugins (`migrate --rebuild`), or migrate into a fresh destination"
    )]
    RebuiltDestination {
        /// The database id.
        id: String,
        /// The rebuild's transforms, comma-separated.
        transforms: String,
    },
    /// A rebuild into a destination that a rebuild did not write.
    #[error(
        "destination database `{id}` {what}; a rebuild continues only its own work and would mix rebuilt entries with others. Rebuild into a fresh destination (another store or database namespace)"
    )]
    NotRebuildable {
        /// The database id.
        id: String,
        /// What the destination holds instead.
        what: String,
    },
    /// A rebuild continued through other transforms than it began with.
    #[error(
        "destination database `{id}` was rebuilt through {recorded}, but this run uses {given}: its entries would mix two rewrites. Run with the same plugins in the same order, or rebuild into a fresh destination"
    )]
    TransformsChanged {
        /// The database id.
        id: String,
        /// The transforms the status record names.
        recorded: String,
        /// This run's.
        given: String,
    },
    /// A plain migration continued through another chain of plugins than
    /// the destination's nodes went through.
    #[error(
        "destination database `{id}` was written through {recorded}, but this run uses {given}: nodes already there (also those of a run that failed half-way) would be kept as they are and mixed with nodes written through the other chain. Run with the same plugins, configuration and order as before, or migrate into a fresh destination (another store or database id) to start over"
    )]
    ChainChanged {
        /// The database id.
        id: String,
        /// The chain the status record names.
        recorded: String,
        /// This run's.
        given: String,
    },
    /// The status record was replaced under us.
    #[error(
        "the migration status record `{key}` changed during this run: another migration into this destination is running. Stop it, then re-run"
    )]
    StatusConflict {
        /// The record's key.
        key: String,
    },
    /// The status record cannot be read.
    #[error(
        "the migration status record `{key}` is unreadable ({reason}); it was not written by this tool version"
    )]
    BadStatus {
        /// The record's key.
        key: String,
        /// Why.
        reason: String,
    },
    /// `verify --as-of` past the end of one of the logs.
    #[error("cannot verify as of transaction {tx}: {side} has {count} entries")]
    AsOfOutOfRange {
        /// The transaction asked for.
        tx: u64,
        /// Which side is too short.
        side: &'static str,
        /// Its length.
        count: u64,
    },
    /// A transform (plugin) failed: trapped, timed out, ran out of memory or
    /// returned its own error.
    #[error(
        "{reason}{}. The destination's roots are unchanged. Run the same command again once the cause is fixed (a longer --plugin-timeout, more --plugin-memory); with a changed or removed plugin `{plugin}`, migrate into a fresh destination (docs/migration.md, After a failed run)",
        if reason.contains(key.as_str()) { String::new() } else { format!(" (at node `{key}`)") }
    )]
    Xform {
        /// The plugin's name.
        plugin: String,
        /// The node (first of its batch) it was working on.
        key: String,
        /// Why.
        reason: String,
    },
    /// A transform returned a node that breaks a rule of node-level rewriting.
    #[error(
        "plugin `{plugin}` returned node `{key}` that breaks a rule: {rule}. Node-level xforms must keep every index sorted and every reference valid; order-changing rewrites (renames, redaction) need rebuild mode (`migrate --rebuild`)"
    )]
    Rejected {
        /// The plugin's name (several, comma-separated, when the rule concerns their combined output).
        plugin: String,
        /// The node at fault.
        key: String,
        /// The rule broken, in words.
        rule: String,
    },
    /// After node-level transforms, the destination does not read as the
    /// database its own log declares (checked entry by entry before the
    /// roots move; see `src/db/check`).
    #[error(
        "through plugin(s) {plugins}, the destination no longer reads as the database its tx-log declares: entry {entry}, node `{key}`: {rule}. A node-level rewrite must change the tx-log entry and all four indexes alike (or use rebuild mode, `migrate --rebuild`). The destination's roots are unchanged; fix the plugin, then migrate into a fresh destination"
    )]
    Inconsistent {
        /// The transforms of the run, comma-separated.
        plugins: String,
        /// The tx-log entry whose trees or content are wrong.
        entry: u64,
        /// The node at fault.
        key: String,
        /// The rule broken, in words.
        rule: String,
    },
    /// A rebuild transform returned a transaction that breaks a rule.
    #[error(
        "{0}. The destination's roots are unchanged: fix or remove the plugin and run the same command again"
    )]
    TxRejected(Box<TxRejection>),
    /// A rebuild transform failed: trapped, timed out, ran out of memory or
    /// returned its own error.
    #[error(
        "plugin `{plugin}` failed{}: {reason}. The destination's roots are unchanged: fix or remove plugin `{plugin}` and run the same command again",
        tx.map_or(String::new(), |t| format!(" on transaction {t}"))
    )]
    TxXform {
        /// The plugin's name.
        plugin: String,
        /// The transaction it was given, if any (none: at the end of the run).
        tx: Option<u64>,
        /// Why.
        reason: String,
    },
    /// The source holds a transaction that a rebuild cannot replay.
    #[error(
        "source transaction {tx} cannot be rebuilt: {reason}. Nothing was written past the previous transaction; a plain migration copies the source as it is"
    )]
    SourceNotReplayable {
        /// The transaction number.
        tx: u64,
        /// Why.
        reason: String,
    },
    /// Node plugins were given for a format 2 source: they see format 1
    /// nodes only.
    #[error(
        "plugins see format 1 nodes only, and database `{id}` is stored in format 2 (docs/format.md): migrate it without --plugin, or rebuild it (--rebuild) through plugins with transform-tx hooks"
    )]
    NodePluginsOnFormat2 {
        /// The database id.
        id: String,
    },
    /// A read-xform skipped a node the destination does not hold.
    #[error(
        "plugin `{plugin}` skipped node `{key}`, which the destination does not hold: that would leave a dangling reference. A read-xform may skip only nodes already in the destination"
    )]
    DanglingReference {
        /// The plugin's name.
        plugin: String,
        /// The skipped node.
        key: String,
    },
    /// A remap record in the destination is not a key.
    #[error(
        "the remap record `{key}` in the destination is not a UTF-8 key; the destination was written by something else"
    )]
    BadRemap {
        /// The record's key.
        key: String,
    },
    /// The run was cancelled (Ctrl-C); the destination is resumable.
    #[error(
        "migration interrupted after entry {last_done:?}; run the same command again to resume"
    )]
    Interrupted {
        /// The last entry fully written, if any.
        last_done: Option<u64>,
    },
}

impl MigrateError {
    /// Wraps a store error on the source side.
    pub fn source_store(e: StoreError) -> Self {
        MigrateError::Source(DbError::Store(e))
    }

    /// Wraps a store error on the destination side.
    pub fn destination_store(e: StoreError) -> Self {
        MigrateError::Destination(DbError::Store(e))
    }
}
