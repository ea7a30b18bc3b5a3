//! Errors of reading and writing a database.

use crate::model::{CodecError, NodeKind, ValueType};
use crate::store::StoreError;

/// What went wrong reading or writing a database. Messages name the key,
/// attribute or value at fault and, where there is one, what to do.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored value does not decode.
    #[error("node `{key}` cannot be read: {source}")]
    Codec {
        /// The key of the bad node.
        key: String,
        /// Why it does not decode.
        source: CodecError,
    },
    /// No database-info at this id.
    #[error(
        "no database `{id}` in store `{url}` (create one with `eva-admin db init {url} --db {id}`, or check the id)"
    )]
    UnknownDatabase {
        /// The database id asked for.
        id: String,
        /// The store's URL.
        url: String,
    },
    /// A database id no store should hold (see `model::check_database_id`).
    #[error("`{id}` cannot be a database id: {reason}")]
    InvalidId {
        /// The id, escaped for display.
        id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `db init` on an id that is taken.
    #[error("database `{id}` already exists in store `{url}`")]
    DatabaseExists {
        /// The database id.
        id: String,
        /// The store's URL.
        url: String,
    },
    /// A node that another node points at is absent.
    #[error(
        "node `{key}` is referenced but missing from the store (the database is damaged or was copied partially)"
    )]
    MissingNode {
        /// The missing key.
        key: String,
    },
    /// A node of the wrong kind where another was expected.
    #[error("node `{key}` is a {} where a {} was expected", found.name(), expected.name())]
    UnexpectedKind {
        /// The key.
        key: String,
        /// The kind expected there.
        expected: NodeKind,
        /// The kind found.
        found: NodeKind,
    },
    /// An index node decodes but breaks the tree's invariants.
    #[error("index node `{key}` is corrupt: {reason}")]
    CorruptNode {
        /// The key of the bad node.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Creating an immutable node found the key holding other bytes.
    #[error(
        "node `{key}` already exists with different content (the store is damaged or another program writes this namespace)"
    )]
    NodeConflict {
        /// The key.
        key: String,
    },
    /// A transaction names an attribute the schema does not define.
    #[error("unknown attribute `{ident}` (define it first with :db/ident and :db/valueType)")]
    UnknownAttribute {
        /// The attribute's ident or id as given.
        ident: String,
    },
    /// A value does not fit the attribute's type.
    #[error("attribute `{attribute}` takes {expected} values, got {found}")]
    WrongValueType {
        /// The attribute's ident.
        attribute: String,
        /// Its type.
        expected: ValueType,
        /// What was given, as written.
        found: String,
    },
    /// An entity reference that resolves to nothing.
    #[error("unknown entity {reference}")]
    UnknownEntity {
        /// The reference as given.
        reference: String,
    },
    /// A unique attribute's value is already held by another entity.
    #[error(
        "attribute `{attribute}` is unique and value {value} is already held by entity {holder}"
    )]
    UniqueConflict {
        /// The attribute's ident.
        attribute: String,
        /// The value, rendered.
        value: String,
        /// The entity holding it.
        holder: u64,
    },
    /// The transaction is malformed in a way the other variants do not cover.
    #[error("invalid transaction: {0}")]
    InvalidTransaction(String),
    /// Another writer committed first (the compare-and-set failed).
    #[error(
        "concurrent write to database `{id}`: {what}; nothing of this transaction is visible, retry it"
    )]
    ConcurrentWrite {
        /// The database id.
        id: String,
        /// What the losing writer saw.
        what: String,
    },
    /// The consistency checker was asked for an entry out of order.
    #[error("the checker checks entry {expected} next, not entry {asked}")]
    CheckOrder {
        /// The entry it checks next.
        expected: u64,
        /// The entry asked for.
        asked: u64,
    },
    /// A transaction number past the end of the log.
    #[error("transaction {tx} does not exist (the log has {count} entries)")]
    NoSuchTransaction {
        /// The number asked for.
        tx: u64,
        /// The log's length.
        count: u64,
    },
}
