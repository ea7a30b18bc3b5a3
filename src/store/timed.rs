//! A wrapper around any store that adds up, for each kind of call, how many
//! calls were made, on how many keys, and the wall time spent inside the
//! wrapped store. The bench uses it to show where an incremental run's
//! time goes; it adds two clock reads per call and nothing else.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use async_trait::async_trait;

use super::{CreateOutcome, Entry, ReplaceOutcome, StoreError, ValueStore};

/// The kinds of call a [`TimedStore`] tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// `get` and `get_many`.
    Read,
    /// `contains_many`: existence checks.
    Check,
    /// `create` and `create_many`.
    Create,
    /// `replace`: compare-and-set.
    Replace,
    /// `scan`.
    Scan,
    /// `flush`: the durability barrier (a sync on embedded stores).
    Flush,
}

const KINDS: usize = 6;

/// What a [`TimedStore`] saw of one kind of call.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CallTotals {
    /// Calls made.
    pub calls: u64,
    /// Keys they named (0 for flushes).
    pub keys: u64,
    /// Wall time inside the wrapped store, in seconds.
    pub seconds: f64,
}

#[derive(Default)]
struct Tally {
    calls: AtomicU64,
    keys: AtomicU64,
    nanos: AtomicU64,
}

/// Wraps a store; see the module doc.
pub struct TimedStore {
    inner: Arc<dyn ValueStore>,
    tallies: [Tally; KINDS],
}

impl TimedStore {
    /// Wraps `inner`, with every total at zero.
    pub fn new(inner: Arc<dyn ValueStore>) -> TimedStore {
        TimedStore {
            inner,
            tallies: Default::default(),
        }
    }

    /// The totals of one kind of call so far.
    pub fn totals(&self, kind: CallKind) -> CallTotals {
        let tally = &self.tallies[kind as usize];
        CallTotals {
            calls: tally.calls.load(Ordering::Relaxed),
            keys: tally.keys.load(Ordering::Relaxed),
            seconds: tally.nanos.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }

    /// Runs one call of `kind` on `keys` keys, adding its time.
    async fn timed<T>(
        &self,
        kind: CallKind,
        keys: usize,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let out = call.await;
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let tally = &self.tallies[kind as usize];
        tally.calls.fetch_add(1, Ordering::Relaxed);
        tally.keys.fetch_add(keys as u64, Ordering::Relaxed);
        tally.nanos.fetch_add(nanos, Ordering::Relaxed);
        out
    }
}

#[async_trait]
impl ValueStore for TimedStore {
    fn url(&self) -> &str {
        self.inner.url()
    }

    async fn get_many(
        &self,
        namespace: &str,
        keys: &[String],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let call = self.inner.get_many(namespace, keys);
        self.timed(CallKind::Read, keys.len(), call).await
    }

    async fn contains_many(
        &self,
        namespace: &str,
        keys: &[String],
    ) -> Result<Vec<bool>, StoreError> {
        let call = self.inner.contains_many(namespace, keys);
        self.timed(CallKind::Check, keys.len(), call).await
    }

    async fn create_many(
        &self,
        namespace: &str,
        entries: &[Entry],
    ) -> Result<Vec<CreateOutcome>, StoreError> {
        let call = self.inner.create_many(namespace, entries);
        self.timed(CallKind::Create, entries.len(), call).await
    }

    async fn replace(
        &self,
        namespace: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<ReplaceOutcome, StoreError> {
        let call = self.inner.replace(namespace, key, expected, new);
        self.timed(CallKind::Replace, 1, call).await
    }

    async fn remove(
        &self,
        namespace: &str,
        key: &str,
        expected: &[u8],
    ) -> Result<ReplaceOutcome, StoreError> {
        let call = self.inner.remove(namespace, key, expected);
        self.timed(CallKind::Replace, 1, call).await
    }

    async fn scan(
        &self,
        namespace: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let call = self.inner.scan(namespace, after, limit);
        self.timed(CallKind::Scan, 0, call).await
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.timed(CallKind::Flush, 0, self.inner.flush()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemStore;

    #[tokio::test]
    async fn each_kind_of_call_is_counted_with_its_keys() {
        let store = TimedStore::new(Arc::new(MemStore::open(None)));
        let entries = vec![("a".to_string(), vec![1]), ("b".to_string(), vec![2])];
        store.create_many("ns", &entries).await.unwrap();
        let keys = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        assert_eq!(
            store.contains_many("ns", &keys).await.unwrap(),
            [true, true, false]
        );
        assert_eq!(store.get("ns", "a").await.unwrap(), Some(vec![1]));
        store.replace("ns", "m", None, b"x").await.unwrap();
        store.flush().await.unwrap();

        let seen = |kind| {
            let t = store.totals(kind);
            assert!(t.seconds >= 0.0);
            (t.calls, t.keys)
        };
        assert_eq!(seen(CallKind::Create), (1, 2));
        assert_eq!(seen(CallKind::Check), (1, 3));
        assert_eq!(seen(CallKind::Read), (1, 1));
        assert_eq!(seen(CallKind::Replace), (1, 1));
        assert_eq!(seen(CallKind::Flush), (1, 0));
        assert_eq!(seen(CallKind::Scan), (0, 0));
    }
}
