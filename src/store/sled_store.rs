//! `sled:PATH` — the embedded default. One sled tree per namespace.

use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;

use super::{CreateOutcome, Entry, ReplaceOutcome, StoreError, ValueStore};

/// sled's page cache per open database. sled's own default (1 GiB) would
/// make a process's memory grow with the database it reads; a migration's
/// memory must stay bounded whatever the database size.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// A store in a sled database directory.
pub struct SledStore {
    url: String,
    db: sled::Db,
    /// A write completed since the last flush. A flush of a clean store is
    /// skipped: it would still cost a sync, and a migration asks for one
    /// before every root or status write, most of them with nothing new.
    dirty: AtomicBool,
}

impl SledStore {
    /// Opens (or creates) the sled database at `path`.
    pub fn open(path: &str, url: &str) -> Result<SledStore, StoreError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_BYTES)
            .open()
            .map_err(|e| StoreError::Open {
            url: url.to_string(),
            reason: match e {
                sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock => {
                    "the database is locked by another process (is another eva-admin running on it?)"
                        .to_string()
                }
                other => other.to_string(),
            },
        })?;
        Ok(SledStore {
            url: url.to_string(),
            db,
            dirty: AtomicBool::new(false),
        })
    }

    /// Notes a completed write (before the call that made it returns, so a
    /// flush that starts after that return sees it).
    fn written(&self) {
        self.dirty.store(true, Ordering::Release);
    }

    fn tree(&self, namespace: &str, op: &'static str) -> Result<sled::Tree, StoreError> {
        self.db
            .open_tree(namespace)
            .map_err(|e| StoreError::io(&self.url, op, e))
    }
}

#[async_trait]
impl ValueStore for SledStore {
    fn url(&self) -> &str {
        &self.url
    }

    async fn get_many(
        &self,
        namespace: &str,
        keys: &[String],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let tree = self.tree(namespace, "get")?;
        keys.iter()
            .map(|k| {
                tree.get(k.as_bytes())
                    .map(|v| v.map(|v| v.to_vec()))
                    .map_err(|e| StoreError::io(&self.url, "get", e))
            })
            .collect()
    }

    async fn create_many(
        &self,
        namespace: &str,
        entries: &[Entry],
    ) -> Result<Vec<CreateOutcome>, StoreError> {
        let tree = self.tree(namespace, "create")?;
        let outcomes = entries
            .iter()
            .map(|(key, value)| {
                match tree
                    .compare_and_swap(key.as_bytes(), None::<&[u8]>, Some(value.as_slice()))
                    .map_err(|e| StoreError::io(&self.url, "create", e))?
                {
                    Ok(()) => Ok(CreateOutcome::Created),
                    Err(conflict) => Ok(CreateOutcome::Existed(
                        conflict.current.map(|v| v.to_vec()).unwrap_or_default(),
                    )),
                }
            })
            .collect();
        // Also after a failure part-way: what was created must be flushed.
        self.written();
        outcomes
    }

    async fn contains_many(
        &self,
        namespace: &str,
        keys: &[String],
    ) -> Result<Vec<bool>, StoreError> {
        // Without copying the values out, as `get_many` would.
        let tree = self.tree(namespace, "contains")?;
        keys.iter()
            .map(|k| {
                tree.contains_key(k.as_bytes())
                    .map_err(|e| StoreError::io(&self.url, "contains", e))
            })
            .collect()
    }

    async fn replace(
        &self,
        namespace: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<ReplaceOutcome, StoreError> {
        let tree = self.tree(namespace, "replace")?;
        let swapped = tree
            .compare_and_swap(key.as_bytes(), expected, Some(new))
            .map_err(|e| StoreError::io(&self.url, "replace", e));
        self.written();
        match swapped? {
            Ok(()) => Ok(ReplaceOutcome::Replaced),
            Err(conflict) => Ok(ReplaceOutcome::Mismatch(
                conflict.current.map(|v| v.to_vec()),
            )),
        }
    }

    async fn remove(
        &self,
        namespace: &str,
        key: &str,
        expected: &[u8],
    ) -> Result<ReplaceOutcome, StoreError> {
        let tree = self.tree(namespace, "remove")?;
        let swapped = tree
            .compare_and_swap(key.as_bytes(), Some(expected), None::<&[u8]>)
            .map_err(|e| StoreError::io(&self.url, "remove", e));
        self.written();
        match swapped? {
            Ok(()) => Ok(ReplaceOutcome::Replaced),
            Err(conflict) => Ok(ReplaceOutcome::Mismatch(
                conflict.current.map(|v| v.to_vec()),
            )),
        }
    }

    async fn scan(
        &self,
        namespace: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        use std::ops::Bound;
        let tree = self.tree(namespace, "scan")?;
        let start = match after {
            Some(a) => Bound::Excluded(a.as_bytes().to_vec()),
            None => Bound::Unbounded,
        };
        tree.range::<Vec<u8>, _>((start, Bound::Unbounded))
            .take(limit)
            .map(|item| {
                let (k, v) = item.map_err(|e| StoreError::io(&self.url, "scan", e))?;
                let key = String::from_utf8(k.to_vec()).map_err(|_| StoreError::Protocol {
                    url: self.url.clone(),
                    op: "scan",
                    reason: "a key is not UTF-8".into(),
                })?;
                Ok((key, v.to_vec()))
            })
            .collect()
    }

    async fn flush(&self) -> Result<(), StoreError> {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let flushed = self.db.flush_async().await;
        if flushed.is_err() {
            self.dirty.store(true, Ordering::Release);
        }
        flushed
            .map(|_| ())
            .map_err(|e| StoreError::io(&self.url, "flush", e))
    }
}
