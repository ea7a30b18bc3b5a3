//! A wrapper around any store that counts operations, can inject a failure
//! after a number of writes, and can check that no node is stored before
//! its children (the post-order invariant). For tests and benchmarks.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{CreateOutcome, Entry, ReplaceOutcome, StoreError, ValueStore};
use crate::model;

/// Operation counts of an [`InstrumentedStore`] (keys, not calls, unless named so).
#[derive(Debug, Default)]
pub struct Counters {
    /// Keys read by get/get_many.
    pub keys_read: AtomicU64,
    /// Keys asked about by contains_many.
    pub keys_checked: AtomicU64,
    /// Keys offered to create/create_many.
    pub keys_offered: AtomicU64,
    /// Keys actually created.
    pub keys_created: AtomicU64,
    /// Compare-and-set calls.
    pub replaces: AtomicU64,
    /// Calls of any kind (round trips).
    pub calls: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Wraps a store; see the module doc.
pub struct InstrumentedStore {
    inner: Arc<dyn ValueStore>,
    /// The counts so far.
    pub counters: Arc<Counters>,
    fail_after_creates: Option<u64>,
    check_post_order: bool,
    violations: Mutex<Vec<String>>,
}

impl InstrumentedStore {
    /// Wraps `inner`, counting only.
    pub fn new(inner: Arc<dyn ValueStore>) -> InstrumentedStore {
        InstrumentedStore {
            inner,
            counters: Arc::default(),
            fail_after_creates: None,
            check_post_order: false,
            violations: Mutex::default(),
        }
    }

    /// Makes every write fail once `n` keys have been created (a store that
    /// goes away mid-run).
    pub fn failing_after(mut self, n: u64) -> InstrumentedStore {
        self.fail_after_creates = Some(n);
        self
    }

    /// Records a violation whenever a node is created while one of its
    /// children is absent (see [`InstrumentedStore::violations`]).
    pub fn checking_post_order(mut self) -> InstrumentedStore {
        self.check_post_order = true;
        self
    }

    /// Post-order violations seen so far.
    pub fn violations(&self) -> Vec<String> {
        self.violations
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default()
    }

    /// Counts a call and yields to the scheduler once, as a store across a
    /// network would, so that timeouts and cancellation can take effect.
    async fn round_trip(&self) {
        Counters::add(&self.counters.calls, 1);
        tokio::task::yield_now().await;
    }

    fn check_write_allowed(&self, op: &'static str) -> Result<(), StoreError> {
        match self.fail_after_creates {
            Some(n) if Counters::get(&self.counters.keys_created) >= n => Err(StoreError::io(
                self.inner.url(),
                op,
                "injected failure (test fault injection)",
            )),
            _ => Ok(()),
        }
    }

    async fn check_children(
        &self,
        namespace: &str,
        entries: &[(&str, &[u8])],
    ) -> Result<(), StoreError> {
        let batch: HashSet<&str> = entries.iter().map(|(k, _)| *k).collect();
        for (key, value) in entries {
            let Ok(node) = model::decode(value) else {
                continue;
            };
            let mut children: Vec<String> =
                node.child_keys().into_iter().map(String::from).collect();
            if let model::Node::TxLogHead(head) = &node {
                // A head's children are its entries; the newest must exist.
                children.extend(
                    head.count
                        .checked_sub(1)
                        .map(|last| model::entry_key(key, last)),
                );
            }
            children.retain(|c| !batch.contains(c.as_str()));
            if children.is_empty() {
                continue;
            }
            let present = self.inner.contains_many(namespace, &children).await?;
            for (child, ok) in children.iter().zip(present) {
                if !ok && let Ok(mut v) = self.violations.lock() {
                    v.push(format!("`{key}` written before its child `{child}`"));
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl ValueStore for InstrumentedStore {
    fn url(&self) -> &str {
        self.inner.url()
    }

    async fn get_many(
        &self,
        namespace: &str,
        keys: &[String],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        self.round_trip().await;
        Counters::add(&self.counters.keys_read, keys.len());
        self.inner.get_many(namespace, keys).await
    }

    async fn contains_many(
        &self,
        namespace: &str,
        keys: &[String],
    ) -> Result<Vec<bool>, StoreError> {
        self.round_trip().await;
        Counters::add(&self.counters.keys_checked, keys.len());
        self.inner.contains_many(namespace, keys).await
    }

    async fn create_many(
        &self,
        namespace: &str,
        entries: &[Entry],
    ) -> Result<Vec<CreateOutcome>, StoreError> {
        self.round_trip().await;
        self.check_write_allowed("create")?;
        if self.check_post_order {
            let pairs: Vec<(&str, &[u8])> = entries
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_slice()))
                .collect();
            self.check_children(namespace, &pairs).await?;
        }
        Counters::add(&self.counters.keys_offered, entries.len());
        let outcomes = self.inner.create_many(namespace, entries).await?;
        Counters::add(
            &self.counters.keys_created,
            outcomes.iter().filter(|o| o.created()).count(),
        );
        Ok(outcomes)
    }

    async fn replace(
        &self,
        namespace: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<ReplaceOutcome, StoreError> {
        self.round_trip().await;
        Counters::add(&self.counters.replaces, 1);
        self.check_write_allowed("replace")?;
        if self.check_post_order {
            self.check_children(namespace, &[(key, new)]).await?;
        }
        self.inner.replace(namespace, key, expected, new).await
    }

    async fn remove(
        &self,
        namespace: &str,
        key: &str,
        expected: &[u8],
    ) -> Result<ReplaceOutcome, StoreError> {
        self.round_trip().await;
        Counters::add(&self.counters.replaces, 1);
        self.check_write_allowed("remove")?;
        self.inner.remove(namespace, key, expected).await
    }

    async fn scan(
        &self,
        namespace: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        self.round_trip().await;
        self.inner.scan(namespace, after, limit).await
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.inner.flush().await
    }
}
