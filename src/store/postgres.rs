//! `postgres://…` — PostgreSQL, table `eva_kv` (`text` keys, `bytea` values).
//!
//! A few clients are opened and used round-robin; each pipelines the queries
//! of concurrent callers. Every statement runs on its own (autocommit), so no
//! lock is ever held between statements. A client whose connection dropped
//! is reconnected on its next use.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio_postgres::{Client, Config, NoTls, Row};

use super::sql::{
    MAX_KEYS_PER_LOOKUP, MAX_ROWS_PER_STATEMENT, POSTGRES_DDL, chunk_entries, show_secs,
};
use super::{CreateOutcome, Entry, ReplaceOutcome, StoreError, ValueStore, redact_url};

/// How many connections one store keeps.
const CLIENTS: usize = 4;

/// At most this many bytes of keys and values go into one insert statement.
const MAX_BYTES_PER_STATEMENT: usize = 64 << 20;

/// How often a statement the server rolled back to break a deadlock is retried.
const DEADLOCK_RETRIES: u32 = 3;

/// A store in PostgreSQL.
pub struct PostgresStore {
    url: String,
    config: Config,
    open_timeout: Duration,
    clients: Vec<Mutex<Arc<Client>>>,
    next: AtomicUsize,
}

/// Connects one client and spawns the task driving its connection.
async fn connect(config: &Config, limit: Duration) -> Result<Client, String> {
    let connecting = async {
        let (client, connection) = config.connect(NoTls).await.map_err(|e| describe(&e))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("postgres connection closed: {e}");
            }
        });
        Ok(client)
    };
    tokio::time::timeout(limit, connecting)
        .await
        .map_err(|_| format!("no answer within {}", show_secs(limit)))?
}

/// The server's own message when there is one (e.g. "database \"x\" does not
/// exist"), which `Display` of the driver's error leaves out.
fn describe(err: &tokio_postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => format!("{err}: {}", db.message()),
        None => match std::error::Error::source(err) {
            Some(source) => format!("{err}: {source}"),
            None => err.to_string(),
        },
    }
}

fn is_deadlock(err: &tokio_postgres::Error) -> bool {
    err.code() == Some(&tokio_postgres::error::SqlState::T_R_DEADLOCK_DETECTED)
}

impl PostgresStore {
    /// Connects to the server and database the URL names and creates the
    /// `eva_kv` table when missing. Fails within a few seconds when the
    /// server does not answer.
    /// Each step of opening (and each reconnect) is given at most `limit`.
    pub async fn open(url: &str, limit: Duration) -> Result<PostgresStore, StoreError> {
        let shown = redact_url(url);
        let failed = |reason: String| StoreError::Open {
            url: shown.clone(),
            reason,
        };
        let mut config: Config = url.parse().map_err(|e| failed(describe(&e)))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(limit);
        }
        let first = connect(&config, limit).await.map_err(&failed)?;
        tokio::time::timeout(limit, first.batch_execute(POSTGRES_DDL))
            .await
            .map_err(|_| failed("creating the table timed out".into()))?
            .map_err(|e| failed(format!("cannot create table eva_kv: {}", describe(&e))))?;
        let mut clients = vec![Mutex::new(Arc::new(first))];
        for _ in 1..CLIENTS {
            clients.push(Mutex::new(Arc::new(
                connect(&config, limit).await.map_err(&failed)?,
            )));
        }
        Ok(PostgresStore {
            url: shown,
            config,
            open_timeout: limit,
            clients,
            next: AtomicUsize::new(0),
        })
    }

    /// The next client in turn, reconnected first if its connection died.
    async fn client(&self, op: &'static str) -> Result<Arc<Client>, StoreError> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.clients.len();
        let slot = &self.clients[i];
        let client = Arc::clone(&slot.lock().unwrap_or_else(|p| p.into_inner()));
        if !client.is_closed() {
            return Ok(client);
        }
        let fresh = Arc::new(
            connect(&self.config, self.open_timeout)
                .await
                .map_err(|reason| StoreError::io(&self.url, op, reason))?,
        );
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Arc::clone(&fresh);
        Ok(fresh)
    }

    fn err(&self, op: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError + '_ {
        move |e| StoreError::io(&self.url, op, describe(&e))
    }

    fn column<'r, T: tokio_postgres::types::FromSql<'r>>(
        &self,
        op: &'static str,
        row: &'r Row,
        i: usize,
    ) -> Result<T, StoreError> {
        row.try_get(i).map_err(|e| StoreError::Protocol {
            url: self.url.clone(),
            op,
            reason: describe(&e),
        })
    }

    /// Stored values of `keys` (absent keys are simply missing from the map).
    async fn fetch(
        &self,
        op: &'static str,
        namespace: &str,
        keys: &[&str],
    ) -> Result<HashMap<String, Vec<u8>>, StoreError> {
        let mut found = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(MAX_KEYS_PER_LOOKUP) {
            let rows = self
                .client(op)
                .await?
                .query(
                    "SELECT id, val FROM eva_kv WHERE namespace = $1 AND id = ANY($2::text[])",
                    &[&namespace, &chunk],
                )
                .await
                .map_err(self.err(op))?;
            for row in &rows {
                found.insert(self.column(op, row, 0)?, self.column(op, row, 1)?);
            }
        }
        Ok(found)
    }

    async fn current(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.fetch("replace", namespace, &[key]).await?.remove(key))
    }
}

#[async_trait]
impl ValueStore for PostgresStore {
    fn url(&self) -> &str {
        &self.url
    }

    async fn get_many(
        &self,
        namespace: &str,
        keys: &[String],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let mut found = self.fetch("get", namespace, &refs).await?;
        Ok(keys.iter().map(|k| found.remove(k)).collect())
    }

    async fn create_many(
        &self,
        namespace: &str,
        entries: &[Entry],
    ) -> Result<Vec<CreateOutcome>, StoreError> {
        let mut outcomes = Vec::with_capacity(entries.len());
        for chunk in chunk_entries(entries, MAX_ROWS_PER_STATEMENT, MAX_BYTES_PER_STATEMENT) {
            // Rows go in key order, so concurrent batches sharing keys take
            // their row locks in the same order and cannot deadlock.
            let mut sorted: Vec<&Entry> = chunk.iter().collect();
            sorted.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            let sorted_keys: Vec<&str> = sorted.iter().map(|(k, _)| k.as_str()).collect();
            let values: Vec<&[u8]> = sorted.iter().map(|(_, v)| v.as_slice()).collect();
            let mut attempt = 0;
            let rows = loop {
                let result = self
                    .client("create")
                    .await?
                    .query(
                        "INSERT INTO eva_kv (namespace, id, val) \
                         SELECT $1, k, v FROM unnest($2::text[], $3::bytea[]) AS t(k, v) \
                         ON CONFLICT (namespace, id) DO NOTHING RETURNING id",
                        &[&namespace, &sorted_keys, &values],
                    )
                    .await;
                match result {
                    // A deadlock rolled the whole statement back: run it again.
                    Err(e) if attempt < DEADLOCK_RETRIES && is_deadlock(&e) => attempt += 1,
                    other => break other.map_err(self.err("create"))?,
                }
            };
            let keys: Vec<&str> = chunk.iter().map(|(k, _)| k.as_str()).collect();
            let created: HashSet<String> = rows
                .iter()
                .map(|row| self.column("create", row, 0))
                .collect::<Result<_, _>>()?;
            // ON CONFLICT waited for any competing insert to commit, so a new
            // statement sees the value that won.
            let existing: Vec<&str> = keys
                .iter()
                .copied()
                .filter(|k| !created.contains(*k))
                .collect();
            let mut stored = if existing.is_empty() {
                HashMap::new()
            } else {
                self.fetch("create", namespace, &existing).await?
            };
            for key in keys {
                if created.contains(key) {
                    outcomes.push(CreateOutcome::Created);
                } else {
                    let value = stored.remove(key).ok_or_else(|| StoreError::Protocol {
                        url: self.url.clone(),
                        op: "create",
                        reason: format!("key `{key}` was neither inserted nor found"),
                    })?;
                    outcomes.push(CreateOutcome::Existed(value));
                }
            }
        }
        Ok(outcomes)
    }

    async fn replace(
        &self,
        namespace: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<ReplaceOutcome, StoreError> {
        let client = self.client("replace").await?;
        let changed = match expected {
            None => client
                .execute(
                    "INSERT INTO eva_kv (namespace, id, val) VALUES ($1, $2, $3) \
                     ON CONFLICT (namespace, id) DO NOTHING",
                    &[&namespace, &key, &new],
                )
                .await
                .map_err(self.err("replace"))?,
            Some(expected) => client
                .execute(
                    "UPDATE eva_kv SET val = $4 WHERE namespace = $1 AND id = $2 AND val = $3",
                    &[&namespace, &key, &expected, &new],
                )
                .await
                .map_err(self.err("replace"))?,
        };
        if changed == 1 {
            Ok(ReplaceOutcome::Replaced)
        } else {
            Ok(ReplaceOutcome::Mismatch(
                self.current(namespace, key).await?,
            ))
        }
    }

    async fn remove(
        &self,
        namespace: &str,
        key: &str,
        expected: &[u8],
    ) -> Result<ReplaceOutcome, StoreError> {
        let client = self.client("remove").await?;
        let removed = client
            .execute(
                "DELETE FROM eva_kv WHERE namespace = $1 AND id = $2 AND val = $3",
                &[&namespace, &key, &expected],
            )
            .await
            .map_err(self.err("remove"))?;
        if removed == 1 {
            Ok(ReplaceOutcome::Replaced)
        } else {
            Ok(ReplaceOutcome::Mismatch(
                self.current(namespace, key).await?,
            ))
        }
    }

    async fn scan(
        &self,
        namespace: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = self.client("scan").await?;
        let rows = match after {
            Some(after) => {
                client
                    .query(
                        r#"SELECT id, val FROM eva_kv WHERE namespace = $1
                           AND id COLLATE "C" > $2 ORDER BY id COLLATE "C" LIMIT $3"#,
                        &[&namespace, &after, &limit],
                    )
                    .await
            }
            None => {
                client
                    .query(
                        r#"SELECT id, val FROM eva_kv WHERE namespace = $1
                           ORDER BY id COLLATE "C" LIMIT $2"#,
                        &[&namespace, &limit],
                    )
                    .await
            }
        }
        .map_err(self.err("scan"))?;
        rows.iter()
            .map(|row| Ok((self.column("scan", row, 0)?, self.column("scan", row, 1)?)))
            .collect()
    }
}
