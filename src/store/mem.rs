//! `mem:` — an in-process store for tests and dry runs.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;

use super::{CreateOutcome, Entry, ReplaceOutcome, StoreError, ValueStore};

type Namespaces = BTreeMap<String, BTreeMap<String, Vec<u8>>>;

/// An in-memory store. `mem:NAME` stores are shared by name within one
/// process, so several opens of the same URL see the same data.
pub struct MemStore {
    url: String,
    data: Arc<Mutex<Namespaces>>,
}

fn named_stores() -> &'static Mutex<HashMap<String, Arc<Mutex<Namespaces>>>> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<Mutex<Namespaces>>>>> = OnceLock::new();
    STORES.get_or_init(Default::default)
}

impl MemStore {
    /// A fresh store (`None`) or the process-wide store of that name.
    pub fn open(name: Option<String>) -> MemStore {
        let data = match &name {
            None => Arc::default(),
            Some(name) => {
                let mut stores = named_stores().lock().unwrap_or_else(|p| p.into_inner());
                stores.entry(name.clone()).or_default().clone()
            }
        };
        MemStore {
            url: format!("mem:{}", name.unwrap_or_default()),
            data,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Namespaces) -> T) -> T {
        // A poisoned lock only means another thread panicked mid-operation on
        // plain maps; the maps themselves stay consistent.
        let mut guard = self.data.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }
}

#[async_trait]
impl ValueStore for MemStore {
    fn url(&self) -> &str {
        &self.url
    }

    async fn get_many(
        &self,
        namespace: &str,
        keys: &[String],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        Ok(self.with(|data| {
            let ns = data.get(namespace);
            keys.iter()
                .map(|k| ns.and_then(|ns| ns.get(k)).cloned())
                .collect()
        }))
    }

    async fn create_many(
        &self,
        namespace: &str,
        entries: &[Entry],
    ) -> Result<Vec<CreateOutcome>, StoreError> {
        Ok(self.with(|data| {
            let ns = data.entry(namespace.to_string()).or_default();
            entries
                .iter()
                .map(|(key, value)| match ns.get(key) {
                    Some(existing) => CreateOutcome::Existed(existing.clone()),
                    None => {
                        ns.insert(key.clone(), value.clone());
                        CreateOutcome::Created
                    }
                })
                .collect()
        }))
    }

    async fn replace(
        &self,
        namespace: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<ReplaceOutcome, StoreError> {
        Ok(self.with(|data| {
            let ns = data.entry(namespace.to_string()).or_default();
            let current = ns.get(key).map(Vec::as_slice);
            if current == expected {
                ns.insert(key.to_string(), new.to_vec());
                ReplaceOutcome::Replaced
            } else {
                ReplaceOutcome::Mismatch(current.map(<[u8]>::to_vec))
            }
        }))
    }

    async fn remove(
        &self,
        namespace: &str,
        key: &str,
        expected: &[u8],
    ) -> Result<ReplaceOutcome, StoreError> {
        Ok(self.with(|data| {
            let ns = data.entry(namespace.to_string()).or_default();
            match ns.get(key) {
                Some(current) if current.as_slice() == expected => {
                    ns.remove(key);
                    ReplaceOutcome::Replaced
                }
                current => ReplaceOutcome::Mismatch(current.cloned()),
            }
        }))
    }

    async fn scan(
        &self,
        namespace: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        use std::ops::Bound;
        Ok(self.with(|data| {
            let Some(ns) = data.get(namespace) else {
                return Vec::new();
            };
            let start = match after {
                Some(a) => Bound::Excluded(a.to_string()),
                None => Bound::Unbounded,
            };
            ns.range((start, Bound::Unbounded))
                .take(limit)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }))
    }
}
