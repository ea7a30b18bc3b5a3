//! `sqlite:PATH` (stub: filled in by the SQL backends work).
use super::{CreateOutcome, Entry, ReplaceOutcome, StoreError, ValueStore};
use async_trait::async_trait;

/// A store in one SQLite file.
pub struct SqliteStore {
    url: String,
}

impl SqliteStore {
    /// Opens (or creates) the SQLite file at `path`.
    pub async fn open(_path: &str, url: &str) -> Result<SqliteStore, StoreError> {
        Err(StoreError::Open {
            url: url.into(),
            reason: "not implemented yet".into(),
        })
    }
}

#[async_trait]
impl ValueStore for SqliteStore {
    fn url(&self) -> &str {
        &self.url
    }
    async fn get_many(&self, _: &str, _: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        unimplemented!()
    }
    async fn create_many(&self, _: &str, _: &[Entry]) -> Result<Vec<CreateOutcome>, StoreError> {
        unimplemented!()
    }
    async fn replace(
        &self,
        _: &str,
        _: &str,
        _: Option<&[u8]>,
        _: &[u8],
    ) -> Result<ReplaceOutcome, StoreError> {
        unimplemented!()
    }
    async fn scan(&self, _: &str, _: Option<&str>, _: usize) -> Result<Vec<Entry>, StoreError> {
        unimplemented!()
    }
}
