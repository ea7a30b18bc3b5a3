//! The seam where transaction-level transforms (rebuild mode) sit: each
//! source transaction, its datoms named by attribute ident, passes through
//! the transforms in order; the host checks what each returns, then the
//! writer replays the result into the destination. See `docs/migration.md`.

use crate::db::ReplayRule;
use crate::model::NamedDatom;

use super::XformFailure;

/// One transaction as a rebuild transform sees and returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct XformTx {
    /// The transaction number (its position in the log). Returned unchanged.
    pub tx: u64,
    /// When it was committed, in milliseconds since the epoch. Returned
    /// unchanged: the host writes it as the entry's instant and as the
    /// transaction entity's `:db/txInstant`, which is therefore not among
    /// the datoms.
    pub instant: i64,
    /// Its assertions and retractions (`added`), attributes by ident (so a
    /// transform works with names, e.g. `":person/email"`), entities and
    /// references by id, in the source's (entity, attribute, value) order.
    /// Schema changes are datoms too: an attribute's `:db/ident`,
    /// `:db/valueType`, … on its entity.
    pub datoms: Vec<NamedDatom>,
}

/// A transaction-level transform, usually one plugin. Several run in the
/// order given, each on the previous one's output.
///
/// A transform may change, drop or add datoms, but what it returns must make
/// sense in the destination: the attributes it names exist there (those the
/// same transaction defines included), values have the attribute's type,
/// entity ids are ones the source had issued by that transaction (ids are
/// never invented), and the transaction number and instant are unchanged.
/// Retractions of values that are not current and assertions of values
/// that are are dropped; asserting a cardinality-one attribute retracts the
/// value it replaces.
///
/// It must be deterministic (the same input gives the same output, across
/// runs) and must not depend on the transactions it saw before: a resumed
/// rebuild starts mid-log with fresh transforms, replays transactions again
/// and requires equal results.
pub trait TxXform: Send {
    /// The name used in messages and in the status record.
    fn name(&self) -> &str;

    /// Transforms one transaction.
    fn transform_tx(&mut self, tx: XformTx) -> Result<XformTx, XformFailure>;

    /// Called once after the run's last transaction; the transform's own report.
    fn finish(&mut self) -> Result<String, XformFailure>;

    /// Counters for the run summary (calls, datoms, time…), as JSON.
    fn metrics(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}

/// A rule a transaction returned by a transform breaks.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TxRule {
    /// The transaction number changed.
    #[error("the transaction number changed from {from} to {to}")]
    ChangedTx {
        /// The number given.
        from: u64,
        /// The number returned.
        to: u64,
    },
    /// The instant changed.
    #[error("the instant changed from {from} to {to}")]
    ChangedInstant {
        /// The instant given.
        from: i64,
        /// The instant returned.
        to: i64,
    },
    /// A datom breaks a rule of the model.
    #[error(transparent)]
    Datom(#[from] ReplayRule),
}

/// A transaction a transform returned that the host refuses.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "plugin `{plugin}` returned transaction {tx}{}, which breaks a rule: {rule}",
    datom.as_ref().map_or(String::new(), |d| format!(" with datom {d}"))
)]
pub struct TxRejection {
    /// The transform's name (several, comma-separated, when the rule is
    /// checked on their combined output).
    pub plugin: String,
    /// The transaction number (as given to the transform).
    pub tx: u64,
    /// The datom at fault, if the rule concerns one.
    pub datom: Option<NamedDatom>,
    /// The rule broken.
    pub rule: TxRule,
}
