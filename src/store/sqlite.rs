//! `sqlite:PATH` — one SQLite file, table `eva_kv`.
//!
//! The connection sits behind a mutex and is only used inside
//! `spawn_blocking`, so async callers never block their runtime. WAL mode and
//! a busy timeout let another process (another eva-admin) share the file.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::sql::SQLITE_DDL;
use super::{CreateOutcome, Entry, ReplaceOutcome, StoreError, ValueStore};

/// A store in one SQLite file.
pub struct SqliteStore {
    url: String,
    conn: Arc<Mutex<Connection>>,
}

/// Why opening may fail at `path` that the driver does not say: the file or
/// its directory is read-only, and SQLite writes beside the file (its WAL
/// and shared-memory files) even to read.
fn read_only_hint(path: &std::path::Path) -> Option<&'static str> {
    let read_only =
        |p: &std::path::Path| std::fs::metadata(p).is_ok_and(|m| m.permissions().readonly());
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let dir_read_only = dir.is_some_and(read_only);
    (read_only(path) || dir_read_only).then_some(
        " (the file or its directory is read-only: SQLite writes its WAL and lock files beside the file even to read; copy it somewhere writable, or grant write access)",
    )
}

const GET: &str = "SELECT val FROM eva_kv WHERE namespace = ?1 AND id = ?2";

impl SqliteStore {
    /// Opens (or creates) the SQLite file at `path` and its `eva_kv` table.
    pub async fn open(path: &str, url: &str) -> Result<SqliteStore, StoreError> {
        let hint = read_only_hint(std::path::Path::new(path));
        let path = path.to_string();
        let shown = url.to_string();
        let open = move || -> Result<Connection, rusqlite::Error> {
            let conn = Connection::open(&path)?;
            conn.busy_timeout(Duration::from_secs(10))?;
            // A new file gets 64 KiB pages (an existing one keeps its own):
            // index leaves of format 2 hold about 7.5 KB, so 4 KiB pages
            // spread each over an overflow chain. Measured on a
            // 1-million-datom database: a migration into the new file in
            // 1.95 s instead of 2.66 s. Set before WAL, which fixes it.
            conn.execute_batch("PRAGMA page_size = 65536;")?;
            // `journal_mode` answers with the mode in force; read and ignore it.
            conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
            // Reads the first 128 MiB of the file through a memory map (no
            // copy through read(2) per page): a quarter less time to
            // migrate a 1-million-datom database, and a bounded share of
            // memory (clean file pages the system may drop). The page
            // cache holds up to 64 MiB (the default 2 MiB is 32 pages of
            // 64 KiB).
            conn.execute_batch(
                "PRAGMA synchronous = NORMAL; PRAGMA mmap_size = 134217728; PRAGMA cache_size = -65536;",
            )?;
            conn.execute_batch(SQLITE_DDL)?;
            Ok(conn)
        };
        let conn = tokio::task::spawn_blocking(open)
            .await
            .map_err(|e| StoreError::Open {
                url: shown.clone(),
                reason: e.to_string(),
            })?
            .map_err(|e| StoreError::Open {
                url: shown.clone(),
                reason: format!("{e}{}", hint.unwrap_or_default()),
            })?;
        Ok(SqliteStore {
            url: shown,
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` on the connection on a blocking thread.
    async fn with<T, F>(&self, op: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            // A poisoned lock means a panic mid-call; SQLite rolls back an
            // unfinished transaction when it is dropped, so the connection
            // itself is still usable.
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::io(&self.url, op, e))?
        .map_err(|e| StoreError::io(&self.url, op, e))
    }
}

/// The value column of `row` (read at `key`) as bytes. Values are BLOBs;
/// one stored with another type (by another tool) is refused naming the
/// key, rather than read as something it may not be.
fn blob(row: &rusqlite::Row<'_>, key: &str) -> Result<Vec<u8>, rusqlite::Error> {
    match row.get_ref(0)? {
        rusqlite::types::ValueRef::Blob(bytes) => Ok(bytes.to_vec()),
        other => {
            let found = other.data_type();
            Err(rusqlite::Error::FromSqlConversionFailure(
                0,
                found,
                format!(
                    "the value at key `{key}` is stored as {found}, not as a BLOB (written by another tool?); store it as a BLOB"
                )
                .into(),
            ))
        }
    }
}

#[async_trait]
impl ValueStore for SqliteStore {
    fn url(&self) -> &str {
        &self.url
    }

    /// In-process, so one prepared point lookup per key inside one read
    /// transaction costs what an `IN (…)` would, without a variable limit.
    async fn get_many(
        &self,
        namespace: &str,
        keys: &[String],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let namespace = namespace.to_string();
        let keys = keys.to_vec();
        self.with("get", move |conn| {
            let tx = conn.transaction()?;
            let values = {
                let mut stmt = tx.prepare_cached(GET)?;
                keys.iter()
                    .map(|key| {
                        stmt.query_row(params![namespace, key], |row| blob(row, key))
                            .optional()
                    })
                    .collect::<Result<Vec<_>, _>>()?
            };
            tx.commit()?;
            Ok(values)
        })
        .await
    }

    async fn create_many(
        &self,
        namespace: &str,
        entries: &[Entry],
    ) -> Result<Vec<CreateOutcome>, StoreError> {
        let namespace = namespace.to_string();
        let entries = entries.to_vec();
        self.with("create", move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let outcomes = {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO eva_kv (namespace, id, val) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (namespace, id) DO NOTHING",
                )?;
                let mut get = tx.prepare_cached(GET)?;
                let mut outcomes = Vec::with_capacity(entries.len());
                for (key, value) in &entries {
                    if insert.execute(params![namespace, key, value])? == 1 {
                        outcomes.push(CreateOutcome::Created);
                    } else {
                        let stored: Vec<u8> =
                            get.query_row(params![namespace, key], |row| blob(row, key))?;
                        outcomes.push(CreateOutcome::Existed(stored));
                    }
                }
                outcomes
            };
            tx.commit()?;
            Ok(outcomes)
        })
        .await
    }

    async fn replace(
        &self,
        namespace: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<ReplaceOutcome, StoreError> {
        let namespace = namespace.to_string();
        let key = key.to_string();
        let expected = expected.map(<[u8]>::to_vec);
        let new = new.to_vec();
        self.with("replace", move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let current: Option<Vec<u8>> = tx
                .prepare_cached(GET)?
                .query_row(params![namespace, key], |row| blob(row, &key))
                .optional()?;
            if current != expected {
                return Ok(ReplaceOutcome::Mismatch(current));
            }
            if current.is_some() {
                tx.prepare_cached("UPDATE eva_kv SET val = ?3 WHERE namespace = ?1 AND id = ?2")?
                    .execute(params![namespace, key, new])?;
            } else {
                tx.prepare_cached("INSERT INTO eva_kv (namespace, id, val) VALUES (?1, ?2, ?3)")?
                    .execute(params![namespace, key, new])?;
            }
            tx.commit()?;
            Ok(ReplaceOutcome::Replaced)
        })
        .await
    }

    async fn remove(
        &self,
        namespace: &str,
        key: &str,
        expected: &[u8],
    ) -> Result<ReplaceOutcome, StoreError> {
        let namespace = namespace.to_string();
        let key = key.to_string();
        let expected = expected.to_vec();
        self.with("remove", move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let current: Option<Vec<u8>> = tx
                .prepare_cached(GET)?
                .query_row(params![namespace, key], |row| blob(row, &key))
                .optional()?;
            if current.as_deref() != Some(expected.as_slice()) {
                return Ok(ReplaceOutcome::Mismatch(current));
            }
            tx.prepare_cached("DELETE FROM eva_kv WHERE namespace = ?1 AND id = ?2")?
                .execute(params![namespace, key])?;
            tx.commit()?;
            Ok(ReplaceOutcome::Replaced)
        })
        .await
    }

    async fn scan(
        &self,
        namespace: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let namespace = namespace.to_string();
        let after = after.map(str::to_string);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with("scan", move |conn| {
            let read = |row: &rusqlite::Row<'_>| Ok((row.get::<_, String>(0)?, row.get(1)?));
            match after {
                Some(after) => conn
                    .prepare_cached(
                        "SELECT id, val FROM eva_kv WHERE namespace = ?1 AND id > ?2 \
                         ORDER BY id LIMIT ?3",
                    )?
                    .query_map(params![namespace, after, limit], read)?
                    .collect(),
                None => conn
                    .prepare_cached(
                        "SELECT id, val FROM eva_kv WHERE namespace = ?1 ORDER BY id LIMIT ?2",
                    )?
                    .query_map(params![namespace, limit], read)?
                    .collect(),
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A read-only file (or directory) is named as the likely cause; a
    /// writable one is not blamed.
    #[test]
    fn a_read_only_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.sqlite");
        std::fs::write(&file, b"").unwrap();
        assert_eq!(read_only_hint(&file), None);
        let mut perms = std::fs::metadata(&file).unwrap().permissions();
        perms.set_readonly(true);
        std::fs::set_permissions(&file, perms).unwrap();
        assert!(read_only_hint(&file).unwrap().contains("read-only"));
    }
}
