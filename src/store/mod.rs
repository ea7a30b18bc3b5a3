//! Value stores: the byte layer every database and migration stands on.
//!
//! A [`ValueStore`] maps string keys to byte values inside a *namespace* (one
//! per database). Immutable nodes are written with [`ValueStore::create`],
//! which never overwrites; the few mutable keys (database-info, tx-log head,
//! migration status) change only by compare-and-set ([`ValueStore::replace`]).
//! Backends are chosen by URL with [`open`]; see `docs/stores.md`.

mod error;
mod instrumented;
mod mem;
mod mysql;
mod postgres;
mod sled_store;
mod sql;
mod sqlite;
mod timed;
mod url;

pub use error::StoreError;
pub use instrumented::{Counters, InstrumentedStore};
pub use mem::MemStore;
pub use timed::{CallKind, CallTotals, TimedStore};
pub use url::{StoreUrl, open, open_within, redact_url};

use async_trait::async_trait;

/// Result of a create: either the key was absent and now holds our value, or
/// it already existed and the stored value is returned untouched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    /// The key was absent; our value is now stored.
    Created,
    /// The key was present; this is the value it holds (never overwritten).
    Existed(Vec<u8>),
}

impl CreateOutcome {
    /// True when our value was written.
    pub fn created(&self) -> bool {
        matches!(self, CreateOutcome::Created)
    }
}

/// Result of a compare-and-set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplaceOutcome {
    /// The stored value equalled the expected one and was replaced.
    Replaced,
    /// The stored value differed from the expected one; this is what is stored
    /// (`None`: the key is absent). Nothing was written.
    Mismatch(Option<Vec<u8>>),
}

impl ReplaceOutcome {
    /// True when the swap happened.
    pub fn replaced(&self) -> bool {
        matches!(self, ReplaceOutcome::Replaced)
    }
}

/// One key and its value, as returned by [`ValueStore::scan`] and taken by
/// [`ValueStore::create_many`].
pub type Entry = (String, Vec<u8>);

/// The storage contract (docs/design.md §3): string keys, byte values, namespaces.
///
/// Every backend passes the conformance suite in `tests/store_conformance.rs`.
/// Batch operations run in one round trip (one SQL statement or transaction,
/// one sled batch) where the backend allows.
#[async_trait]
pub trait ValueStore: Send + Sync + 'static {
    /// The URL this store was opened from, with any password masked; used in messages.
    fn url(&self) -> &str;

    /// Reads one value; a missing key reads as `None`.
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut values = self.get_many(namespace, &[key.to_string()]).await?;
        Ok(values.pop().flatten())
    }

    /// Reads many values; the result has one slot per key, in the keys' order.
    async fn get_many(
        &self,
        namespace: &str,
        keys: &[String],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError>;

    /// Which of `keys` are present, one answer per key, in one round trip
    /// where the backend allows (the migration's batched existence check).
    async fn contains_many(
        &self,
        namespace: &str,
        keys: &[String],
    ) -> Result<Vec<bool>, StoreError> {
        Ok(self
            .get_many(namespace, keys)
            .await?
            .into_iter()
            .map(|v| v.is_some())
            .collect())
    }

    /// Writes `value` at `key` only if the key is absent; never overwrites.
    async fn create(
        &self,
        namespace: &str,
        key: &str,
        value: &[u8],
    ) -> Result<CreateOutcome, StoreError> {
        let mut outcomes = self
            .create_many(namespace, &[(key.to_string(), value.to_vec())])
            .await?;
        outcomes.pop().ok_or_else(|| StoreError::Protocol {
            url: self.url().to_string(),
            op: "create",
            reason: "backend returned no outcome".into(),
        })
    }

    /// [`ValueStore::create`] for a batch; one outcome per entry, in order.
    /// Keys within one batch must be distinct.
    async fn create_many(
        &self,
        namespace: &str,
        entries: &[Entry],
    ) -> Result<Vec<CreateOutcome>, StoreError>;

    /// Compare-and-set: writes `new` only if the stored value equals
    /// `expected` (`None`: the key must be absent).
    ///
    /// Not a durability barrier: on an embedded store, writes made before
    /// it may reach the disk after it. A caller about to point a root at
    /// nodes it wrote calls [`ValueStore::flush`] first.
    async fn replace(
        &self,
        namespace: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<ReplaceOutcome, StoreError>;

    /// Compare-and-delete: removes `key` only if its stored value equals
    /// `expected`; [`ReplaceOutcome::Replaced`] means it was removed. The
    /// only way a value leaves a store: `db repair` takes back what a
    /// crashed writer left past the tx-log head (docs/cli.md, `db repair`). Like
    /// [`ValueStore::replace`], not a durability barrier.
    async fn remove(
        &self,
        namespace: &str,
        key: &str,
        expected: &[u8],
    ) -> Result<ReplaceOutcome, StoreError>;

    /// Up to `limit` entries of a namespace in ascending byte order of key,
    /// starting after `after` (exclusive). An empty page means the end.
    async fn scan(
        &self,
        namespace: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError>;

    /// Makes every completed write durable (embedded stores); a no-op where
    /// each statement is already durable on return. The only ordering
    /// barrier the trait offers: what was written before it is on disk
    /// before anything written after it.
    async fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_report_what_happened() {
        assert!(CreateOutcome::Created.created());
        assert!(!CreateOutcome::Existed(vec![1]).created());
        assert!(ReplaceOutcome::Replaced.replaced());
        assert!(!ReplaceOutcome::Mismatch(None).replaced());
    }
}
