//! Reading runs of tx-log entries in batches: one store round trip for
//! [`ENTRY_BATCH`] consecutive entries, not one for each. Readers of a
//! range (a lagging index's novelty, a run's datoms) and readers that walk
//! the log in order (the checker) share it; a store call costs a thread
//! hand-off and a transaction, far more than a small entry's bytes.

use std::collections::VecDeque;
use std::ops::Range;

use crate::model::{Node, NodeKind, TxLogEntry, decode_at, entry_key};
use crate::store::{StoreError, ValueStore};

use super::DbError;

/// How many entries one read asks the store for.
pub(crate) const ENTRY_BATCH: u64 = 256;

/// One stored entry as read: its number, key and bytes (`None` when absent).
pub(crate) struct StoredEntry {
    pub tx: u64,
    pub key: String,
    pub bytes: Option<Vec<u8>>,
}

impl StoredEntry {
    /// The entry decoded: absent, another kind of node, or an entry that
    /// says it is another transaction are errors naming the key.
    pub(crate) fn decode(self) -> Result<TxLogEntry, DbError> {
        let StoredEntry { tx, key, bytes } = self;
        let Some(bytes) = bytes else {
            return Err(DbError::MissingNode { key });
        };
        match decode_at(&key, &bytes) {
            Ok(Node::TxLogEntry(entry)) if entry.tx == tx => Ok(entry),
            Ok(Node::TxLogEntry(entry)) => Err(DbError::CorruptNode {
                key,
                reason: format!("entry {tx} says it is transaction {}", entry.tx),
            }),
            Ok(other) => Err(DbError::UnexpectedKind {
                key,
                expected: NodeKind::TxLogEntry,
                found: other.kind(),
            }),
            Err(source) => Err(DbError::Codec { key, source }),
        }
    }
}

/// The entries of `range` of the tx-log `tx_log`, read in batches and
/// handed to `each` in order; `each` stops the walk by returning an error.
pub(crate) async fn for_each_entry<E>(
    store: &dyn ValueStore,
    namespace: &str,
    tx_log: &str,
    range: Range<u64>,
    mut each: impl FnMut(StoredEntry) -> Result<(), E>,
) -> Result<(), E>
where
    E: From<StoreError>,
{
    let mut tx = range.start;
    while tx < range.end {
        let end = range.end.min(tx.saturating_add(ENTRY_BATCH));
        for entry in read_entries(store, namespace, tx_log, tx..end).await? {
            each(entry)?;
        }
        tx = end;
    }
    Ok(())
}

/// The entries of `range` (one batch) in one store call.
pub(crate) async fn read_entries(
    store: &dyn ValueStore,
    namespace: &str,
    tx_log: &str,
    range: Range<u64>,
) -> Result<Vec<StoredEntry>, StoreError> {
    let keys: Vec<String> = range.clone().map(|tx| entry_key(tx_log, tx)).collect();
    let values = store.get_many(namespace, &keys).await?;
    Ok(range
        .zip(keys)
        .zip(values)
        .map(|((tx, key), bytes)| StoredEntry { tx, key, bytes })
        .collect())
}

/// Entries read ahead for a reader that asks for them one by one, in
/// order: asking for the next entry costs a store call once a batch.
/// Asking out of order reads a new batch from there. A stored entry never
/// changes, so what was read ahead stays true; an entry found absent may
/// have been written since (a migration checks entries as it copies them),
/// so asking for it reads again.
#[derive(Default)]
pub(crate) struct EntryReadAhead {
    ahead: VecDeque<StoredEntry>,
}

impl EntryReadAhead {
    /// Entry `tx` of tx-log `tx_log`, from the batch read ahead or a new one.
    pub(crate) async fn entry(
        &mut self,
        store: &dyn ValueStore,
        namespace: &str,
        tx_log: &str,
        tx: u64,
    ) -> Result<StoredEntry, StoreError> {
        let known = |e: &StoredEntry| e.tx == tx && e.bytes.is_some();
        if !self.ahead.front().is_some_and(known) {
            let end = tx.saturating_add(ENTRY_BATCH);
            self.ahead = read_entries(store, namespace, tx_log, tx..end)
                .await?
                .into();
        }
        self.ahead.pop_front().ok_or_else(|| StoreError::Protocol {
            url: store.url().to_string(),
            op: "get",
            reason: format!("a read of entries from {tx} answered no value"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemStore;

    /// An entry found absent while reading ahead is read again when asked
    /// for, so one written meanwhile is seen; present ones come from the
    /// batch, in order, across batch boundaries.
    #[tokio::test]
    async fn an_entry_written_after_the_read_ahead_is_seen() {
        let store = MemStore::open(None);
        let put = |range: Range<u64>| {
            range
                .map(|tx| (entry_key("log", tx), vec![tx as u8]))
                .collect::<Vec<_>>()
        };
        store.create_many("ns", &put(0..300)).await.unwrap();
        let mut ahead = EntryReadAhead::default();
        for tx in 0..300 {
            let e = ahead.entry(&store, "ns", "log", tx).await.unwrap();
            assert_eq!((e.tx, e.bytes), (tx, Some(vec![tx as u8])));
        }
        // The batch read at 256 found 300 and after absent.
        store.create_many("ns", &put(300..302)).await.unwrap();
        for tx in 300..302 {
            let e = ahead.entry(&store, "ns", "log", tx).await.unwrap();
            assert_eq!(e.bytes, Some(vec![tx as u8]));
        }
        let absent = ahead.entry(&store, "ns", "log", 302).await.unwrap();
        assert_eq!(absent.bytes, None);
        let mut seen = Vec::new();
        for_each_entry(&store, "ns", "log", 250..302, |e| {
            seen.push(e.tx);
            Ok::<(), StoreError>(())
        })
        .await
        .unwrap();
        assert_eq!(seen, (250..302).collect::<Vec<_>>());
    }
}
