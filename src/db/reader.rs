//! Reading datoms from an index as of a transaction. (Stub: to be built.)

use std::sync::Arc;

use crate::model::{Datom, EntityId, Index, Schema, TxLogEntry, Value};
use crate::store::ValueStore;

use super::DbError;

/// One leading component of an index key, in that index's order: an entity
/// or attribute id, or a value (for VAET's leading value, use `Value::Ref`).
#[derive(Debug, Clone, PartialEq)]
pub enum Component {
    /// An entity or attribute id.
    Id(EntityId),
    /// A value.
    Value(Value),
}

/// Which datoms of an index to read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DatomQuery {
    /// Leading components in the index's order. Without `end`, the datoms
    /// whose leading components equal these (a prefix; empty: all).
    pub start: Vec<Component>,
    /// With `end`: the datoms whose leading components are `>= start` and
    /// `< end`, each compared over its own number of components.
    pub end: Option<Vec<Component>>,
    /// `false`: the current datoms (asserted and not retracted as of the
    /// snapshot). `true`: every assertion and retraction up to it.
    pub history: bool,
}

/// The database as of one transaction: that entry's index roots and schema.
pub struct Snapshot {
    pub(crate) store: Arc<dyn ValueStore>,
    pub(crate) namespace: String,
    pub(crate) entry: TxLogEntry,
    pub(crate) schema: Schema,
}

impl Snapshot {
    /// The transaction number this snapshot is as of.
    pub fn tx(&self) -> u64 {
        self.entry.tx
    }

    /// The tx-log entry this snapshot reads from.
    pub fn entry(&self) -> &TxLogEntry {
        &self.entry
    }

    /// The schema as of this snapshot.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The datoms of `index` that `query` selects, in the index's order.
    pub async fn datoms(&self, _index: Index, _query: &DatomQuery) -> Result<Vec<Datom>, DbError> {
        let _ = (&self.store, &self.namespace);
        Err(DbError::InvalidTransaction(
            "reader not implemented yet".into(),
        ))
    }
}
