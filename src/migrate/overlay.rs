//! A store that reads through to another and keeps its own writes in
//! memory: what a rebuild's dry run writes into, so the replay can read
//! back what it "wrote" while the destination stays untouched.

use std::sync::Arc;

use async_trait::async_trait;

use crate::store::{CreateOutcome, Entry, MemStore, ReplaceOutcome, StoreError, ValueStore};

/// Reads see the overlay's writes over `base`; writes go to the overlay only.
pub(crate) struct Overlay {
    base: Arc<dyn ValueStore>,
    written: MemStore,
}

impl Overlay {
    /// An empty overlay on `base`.
    pub(crate) fn new(base: Arc<dyn ValueStore>) -> Overlay {
        Overlay {
            base,
            written: MemStore::open(None),
        }
    }
}

#[async_trait]
impl ValueStore for Overlay {
    fn url(&self) -> &str {
        self.base.url()
    }

    async fn get_many(
        &self,
        namespace: &str,
        keys: &[String],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut values = self.written.get_many(namespace, keys).await?;
        let missing: Vec<String> = keys
            .iter()
            .zip(&values)
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| k.clone())
            .collect();
        if missing.is_empty() {
            return Ok(values);
        }
        let mut below = self.base.get_many(namespace, &missing).await?.into_iter();
        for slot in values.iter_mut().filter(|v| v.is_none()) {
            *slot = below.next().flatten();
        }
        Ok(values)
    }

    async fn create_many(
        &self,
        namespace: &str,
        entries: &[Entry],
    ) -> Result<Vec<CreateOutcome>, StoreError> {
        let keys: Vec<String> = entries.iter().map(|(k, _)| k.clone()).collect();
        let present = self.get_many(namespace, &keys).await?;
        let mut outcomes = Vec::with_capacity(entries.len());
        let mut fresh = Vec::new();
        for (entry, stored) in entries.iter().zip(present) {
            match stored {
                Some(bytes) => outcomes.push(CreateOutcome::Existed(bytes)),
                None => {
                    outcomes.push(CreateOutcome::Created);
                    fresh.push(entry.clone());
                }
            }
        }
        self.written.create_many(namespace, &fresh).await?;
        Ok(outcomes)
    }

    async fn replace(
        &self,
        _namespace: &str,
        key: &str,
        _expected: Option<&[u8]>,
        _new: &[u8],
    ) -> Result<ReplaceOutcome, StoreError> {
        Err(StoreError::Protocol {
            url: self.url().to_string(),
            op: "replace",
            reason: format!("a dry run moves no mutable key (asked to replace `{key}`)"),
        })
    }

    async fn remove(
        &self,
        _namespace: &str,
        key: &str,
        _expected: &[u8],
    ) -> Result<ReplaceOutcome, StoreError> {
        Err(StoreError::Protocol {
            url: self.url().to_string(),
            op: "remove",
            reason: format!("a dry run removes nothing (asked to remove `{key}`)"),
        })
    }

    /// Scans the base only: a dry run's writes are not listed.
    async fn scan(
        &self,
        namespace: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        self.base.scan(namespace, after, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_stay_in_the_overlay_and_read_back() {
        let base: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
        base.create("n", "a", b"1").await.unwrap();
        let overlay = Overlay::new(base.clone());
        let outcomes = overlay
            .create_many(
                "n",
                &[("a".into(), b"2".to_vec()), ("b".into(), b"3".to_vec())],
            )
            .await
            .unwrap();
        assert_eq!(
            outcomes,
            vec![
                CreateOutcome::Existed(b"1".to_vec()),
                CreateOutcome::Created
            ]
        );
        let keys = ["a".to_string(), "b".to_string(), "c".to_string()];
        assert_eq!(
            overlay.get_many("n", &keys).await.unwrap(),
            vec![Some(b"1".to_vec()), Some(b"3".to_vec()), None]
        );
        assert_eq!(base.get("n", "b").await.unwrap(), None);
        assert!(overlay.replace("n", "a", None, b"x").await.is_err());
    }
}
