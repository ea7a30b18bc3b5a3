//! TEMPORARY stand-ins for the writer and reader API being built on another
//! branch, so the command line compiles before it lands. Delete this file
//! (and its `mod` line in `db/mod.rs`) at merge.

use std::sync::Arc;

use crate::store::ValueStore;

use super::{Database, DbError, Snapshot, TxOp, TxReport};

fn pending() -> DbError {
    DbError::InvalidTransaction("the writer and reader are not merged into this build yet".into())
}

impl Database {
    /// TEMPORARY: see the module doc.
    pub async fn create(store: Arc<dyn ValueStore>, id: &str) -> Result<Database, DbError> {
        let _ = (store, id);
        Err(pending())
    }

    /// TEMPORARY: see the module doc.
    pub async fn transact(&self, ops: Vec<TxOp>) -> Result<TxReport, DbError> {
        let _ = ops;
        Err(pending())
    }

    /// TEMPORARY: see the module doc.
    pub async fn transact_at(&self, ops: Vec<TxOp>, instant_ms: i64) -> Result<TxReport, DbError> {
        let _ = (ops, instant_ms);
        Err(pending())
    }

    /// TEMPORARY: see the module doc.
    pub async fn snapshot(&self) -> Result<Snapshot, DbError> {
        Err(pending())
    }

    /// TEMPORARY: see the module doc.
    pub async fn as_of(&self, tx: u64) -> Result<Snapshot, DbError> {
        let _ = tx;
        Err(pending())
    }
}
