//! The source side of a rebuild: its tx-log entries read a batch at a time,
//! and each transaction's datoms named by attribute ident as of it.

use crate::db::{Database, SchemaState, is_schema_attribute, read_entries};
use crate::model::{self, NamedDatom, TxLogEntry, Value, builtin, tx_entity};

use super::super::{MigrateError, XformTx};

/// Reads the source's log in order from one transaction on, keeping the
/// source's schema in step.
pub(super) struct SourceLog<'a> {
    db: &'a Database,
    schema: SchemaState,
    /// Bytes of the entries read so far.
    pub(super) bytes_read: u64,
}

impl<'a> SourceLog<'a> {
    /// The log of `db` from transaction `first` on (at least 1).
    pub(super) async fn open(db: &'a Database, first: u64) -> Result<SourceLog<'a>, MigrateError> {
        let before = db
            .as_of(first.saturating_sub(1))
            .await
            .map_err(MigrateError::Source)?;
        let schema = SchemaState::load(&before)
            .await
            .map_err(MigrateError::Source)?;
        Ok(SourceLog {
            db,
            schema,
            bytes_read: 0,
        })
    }

    /// Entries `range`, in one round trip.
    pub(super) async fn read(
        &mut self,
        range: std::ops::Range<u64>,
    ) -> Result<Vec<TxLogEntry>, MigrateError> {
        let (db, tx_log) = (&self.db, &self.db.info().tx_log);
        let entries = read_entries(db.store().as_ref(), db.id(), tx_log, range)
            .await
            .map_err(MigrateError::source_store)?;
        entries
            .into_iter()
            .map(|entry| {
                self.bytes_read += entry.bytes.as_ref().map_or(0, |b| b.len() as u64);
                entry.decode().map_err(MigrateError::Source)
            })
            .collect()
    }

    /// The next transaction, `entry`, as transforms see it: attributes
    /// named as of it (those it drops as of before it), without its own
    /// `:db/txInstant`.
    pub(super) fn name(&mut self, entry: &TxLogEntry) -> Result<XformTx, MigrateError> {
        let t = entry.tx;
        let before = entry
            .datoms
            .iter()
            .any(|d| is_schema_attribute(d.a))
            .then(|| self.schema.schema().clone());
        self.schema.apply(&entry.datoms);
        let after = self.schema.schema();
        let own_instant = |d: &model::Datom| {
            d.e == tx_entity(t)
                && d.a == builtin::TX_INSTANT
                && d.added
                && d.v == Value::Instant(entry.instant)
        };
        let datoms = entry
            .datoms
            .iter()
            .filter(|d| !own_instant(d))
            .map(|d| {
                let attr = after
                    .by_id(d.a)
                    .or_else(|| before.as_ref().and_then(|b| b.by_id(d.a)));
                let attr = attr.ok_or_else(|| MigrateError::SourceNotReplayable {
                    tx: t,
                    reason: format!(
                        "datom {:?} names attribute {}, which the source's schema does not define",
                        d, d.a
                    ),
                })?;
                Ok(NamedDatom {
                    e: d.e,
                    a: attr.ident.clone(),
                    v: d.v.clone(),
                    added: d.added,
                })
            })
            .collect::<Result<Vec<_>, MigrateError>>()?;
        Ok(XformTx {
            tx: t,
            instant: entry.instant,
            datoms,
        })
    }
}
