//! `mysql://…` — MariaDB, table `eva_kv` (`VARBINARY` keys, `LONGBLOB` values).
//!
//! Connections come from a `mysql_async::Pool`. The database the URL names is
//! created when missing. Every statement runs on its own (autocommit).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Pool, Row, Value};

use super::sql::{
    MAX_KEYS_PER_LOOKUP, MAX_ROWS_PER_STATEMENT, MYSQL_DDL, chunk_entries, placeholders, show_secs,
};
use super::{CreateOutcome, Entry, ReplaceOutcome, StoreError, ValueStore, redact_url};

/// The database used when the URL names none (`mysql://user@host:port/`).
const DEFAULT_DATABASE: &str = "eva";

/// Column widths of `namespace` and `id` in bytes (see `MYSQL_DDL`). Longer
/// ones are refused up front: `INSERT IGNORE` would silently truncate them.
const MAX_NAMESPACE_BYTES: usize = 255;
const MAX_KEY_BYTES: usize = 1024;

/// MariaDB's error code for a statement rolled back to break a deadlock.
const ER_LOCK_DEADLOCK: u16 = 1213;

/// How often such a statement is retried.
const DEADLOCK_RETRIES: u32 = 3;

/// A store in MariaDB.
pub struct MysqlStore {
    url: String,
    pool: Pool,
    /// Bytes of keys and values per insert statement: half the server's
    /// `max_allowed_packet`, so a statement and its overhead always fit.
    max_bytes: usize,
    /// The server's `max_allowed_packet`: no statement, so no value, can
    /// be larger.
    max_packet: usize,
}

/// Bytes of a statement besides its one key and value (the SQL text, the
/// namespace, the packet headers): a value must leave this much room.
const STATEMENT_OVERHEAD: usize = 1024;

/// Runs `fut` within `limit`, turning both failure kinds into a reason.
async fn timed<T>(
    what: &str,
    limit: Duration,
    fut: impl Future<Output = mysql_async::Result<T>>,
) -> Result<T, String> {
    tokio::time::timeout(limit, fut)
        .await
        .map_err(|_| format!("{what}: no answer within {}", show_secs(limit)))?
        .map_err(|e| format!("{what}: {e}"))
}

/// `name` quoted as a MariaDB identifier.
fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

impl MysqlStore {
    /// Connects to the server the URL names (`conn`, a `mysql://` URL; `url`
    /// is the URL as the user wrote it), creates the database when the URL
    /// names one that is missing (`eva` when it names none), and the `eva_kv` table. Fails within a few
    /// seconds when the server does not answer.
    /// Each step of opening is given at most `limit`.
    pub async fn open(conn: &str, url: &str, limit: Duration) -> Result<MysqlStore, StoreError> {
        let shown = redact_url(url);
        let failed = |reason: String| StoreError::Open {
            url: shown.clone(),
            reason,
        };
        let opts = Opts::from_url(conn).map_err(|e| failed(e.to_string()))?;
        // Found rows, not changed rows: an UPDATE writing the value already
        // stored still counts as a match for compare-and-set.
        let opts: Opts = OptsBuilder::from_opts(opts).client_found_rows(true).into();

        let db = opts.db_name().unwrap_or(DEFAULT_DATABASE).to_string();
        let admin = OptsBuilder::from_opts(opts.clone()).db_name(None::<String>);
        let mut c = timed("connect", limit, Conn::new(admin))
            .await
            .map_err(&failed)?;
        let create = format!("CREATE DATABASE IF NOT EXISTS {}", quote_ident(&db));
        timed("create database", limit, c.query_drop(create))
            .await
            .map_err(&failed)?;
        // Best effort: the server drops the connection anyway.
        let _ = c.disconnect().await;
        let opts: Opts = OptsBuilder::from_opts(opts).db_name(Some(db)).into();

        let pool = Pool::new(opts);
        let mut c = timed("connect", limit, pool.get_conn())
            .await
            .map_err(&failed)?;
        timed("create table eva_kv", limit, c.query_drop(MYSQL_DDL))
            .await
            .map_err(&failed)?;
        let packet: Option<u64> = timed(
            "read max_allowed_packet",
            limit,
            c.query_first("SELECT @@max_allowed_packet"),
        )
        .await
        .map_err(&failed)?;
        let max_packet = packet
            .and_then(|p| usize::try_from(p).ok())
            .unwrap_or(8 << 20)
            .max(2 << 20);
        let max_bytes = max_packet / 2;
        drop(c);
        Ok(MysqlStore {
            url: shown,
            pool,
            max_bytes,
            max_packet,
        })
    }

    async fn conn(&self, op: &'static str) -> Result<Conn, StoreError> {
        self.pool
            .get_conn()
            .await
            .map_err(|e| StoreError::io(&self.url, op, e))
    }

    fn err(&self, op: &'static str) -> impl Fn(mysql_async::Error) -> StoreError + '_ {
        move |e| StoreError::io(&self.url, op, e)
    }

    fn column(&self, op: &'static str, row: &mut Row, i: usize) -> Result<Vec<u8>, StoreError> {
        match row.take_opt::<Vec<u8>, _>(i) {
            Some(Ok(v)) => Ok(v),
            Some(Err(e)) => Err(StoreError::Protocol {
                url: self.url.clone(),
                op,
                reason: e.to_string(),
            }),
            None => Err(StoreError::Protocol {
                url: self.url.clone(),
                op,
                reason: format!("column {i} missing"),
            }),
        }
    }

    fn key(&self, op: &'static str, bytes: Vec<u8>) -> Result<String, StoreError> {
        String::from_utf8(bytes).map_err(|_| StoreError::Protocol {
            url: self.url.clone(),
            op,
            reason: "a key is not UTF-8".into(),
        })
    }

    /// Refuses a namespace or key too long for the table's columns.
    fn check_sizes<'k>(
        &self,
        op: &'static str,
        namespace: &str,
        keys: impl IntoIterator<Item = &'k str>,
    ) -> Result<(), StoreError> {
        if namespace.len() > MAX_NAMESPACE_BYTES {
            return Err(StoreError::io(
                &self.url,
                op,
                format!("namespace longer than {MAX_NAMESPACE_BYTES} bytes: `{namespace}`"),
            ));
        }
        match keys.into_iter().find(|k| k.len() > MAX_KEY_BYTES) {
            Some(key) => Err(StoreError::io(
                &self.url,
                op,
                format!("key longer than {MAX_KEY_BYTES} bytes: `{key}`"),
            )),
            None => Ok(()),
        }
    }

    /// Refuses a value no statement can carry to this server, naming its
    /// key and the limit, before anything is sent: the server would drop
    /// the connection ("broken pipe") without saying why.
    fn check_value_sizes<'e>(
        &self,
        entries: impl IntoIterator<Item = (&'e str, &'e [u8])>,
    ) -> Result<(), StoreError> {
        let limit = self.max_packet.saturating_sub(STATEMENT_OVERHEAD);
        match entries
            .into_iter()
            .find(|(key, value)| key.len() + value.len() > limit)
        {
            Some((key, value)) => Err(StoreError::ValueTooLarge {
                url: self.url.clone(),
                key: key.to_string(),
                bytes: value.len(),
                limit: limit.saturating_sub(key.len()),
                why: format!(
                    "the server's max_allowed_packet is {} bytes; raise it (SET GLOBAL max_allowed_packet = …, up to 1 GiB, or in the server's configuration) and run the command again",
                    self.max_packet
                ),
            }),
            None => Ok(()),
        }
    }

    /// Stored values of `keys` (absent keys are simply missing from the map).
    async fn fetch(
        &self,
        op: &'static str,
        conn: &mut Conn,
        namespace: &str,
        keys: &[&str],
    ) -> Result<HashMap<String, Vec<u8>>, StoreError> {
        let mut found = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(MAX_KEYS_PER_LOOKUP) {
            let sql = format!(
                "SELECT id, val FROM eva_kv WHERE namespace = ? AND id IN ({})",
                placeholders(chunk.len(), 1)
            );
            let mut params = Vec::with_capacity(chunk.len() + 1);
            params.push(Value::from(namespace));
            params.extend(chunk.iter().map(|k| Value::from(*k)));
            let rows: Vec<Row> = conn.exec(sql, params).await.map_err(self.err(op))?;
            for mut row in rows {
                let key = self.column(op, &mut row, 0)?;
                let value = self.column(op, &mut row, 1)?;
                found.insert(self.key(op, key)?, value);
            }
        }
        Ok(found)
    }
}

#[async_trait]
impl ValueStore for MysqlStore {
    fn url(&self) -> &str {
        &self.url
    }

    async fn get_many(
        &self,
        namespace: &str,
        keys: &[String],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut conn = self.conn("get").await?;
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let mut found = self.fetch("get", &mut conn, namespace, &refs).await?;
        Ok(keys.iter().map(|k| found.remove(k)).collect())
    }

    /// One multi-row `INSERT IGNORE` per chunk. When fewer rows than sent were
    /// inserted, the chunk's stored values are read back: a key holding
    /// another value than ours existed before. If some keys hold exactly our
    /// value and there are more of them than inserted rows (a key already
    /// held our very bytes), which of those were ours cannot be told apart;
    /// they are reported `Existed` with the (identical) stored value.
    async fn create_many(
        &self,
        namespace: &str,
        entries: &[Entry],
    ) -> Result<Vec<CreateOutcome>, StoreError> {
        self.check_sizes("create", namespace, entries.iter().map(|(k, _)| k.as_str()))?;
        self.check_value_sizes(entries.iter().map(|(k, v)| (k.as_str(), v.as_slice())))?;
        let mut conn = self.conn("create").await?;
        let mut outcomes = Vec::with_capacity(entries.len());
        for chunk in chunk_entries(entries, MAX_ROWS_PER_STATEMENT, self.max_bytes) {
            let sql = format!(
                "INSERT IGNORE INTO eva_kv (namespace, id, val) VALUES {}",
                placeholders(chunk.len(), 3)
            );
            // Rows go in key order, so concurrent batches sharing keys take
            // their locks in the same order.
            let mut sorted: Vec<&Entry> = chunk.iter().collect();
            sorted.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            let mut params = Vec::with_capacity(chunk.len() * 3);
            for (key, value) in sorted {
                params.push(Value::from(namespace));
                params.push(Value::from(key.as_str()));
                params.push(Value::from(value.as_slice()));
            }
            let mut attempt = 0;
            loop {
                match conn.exec_drop(&sql, params.clone()).await {
                    // InnoDB rolled the statement back to break a deadlock
                    // (gap locks can still cross): run it again.
                    Err(mysql_async::Error::Server(e))
                        if e.code == ER_LOCK_DEADLOCK && attempt < DEADLOCK_RETRIES =>
                    {
                        attempt += 1;
                    }
                    other => break other.map_err(self.err("create"))?,
                }
            }
            let inserted = usize::try_from(conn.affected_rows()).unwrap_or(usize::MAX);
            if inserted == chunk.len() {
                outcomes.extend(chunk.iter().map(|_| CreateOutcome::Created));
                continue;
            }
            let keys: Vec<&str> = chunk.iter().map(|(k, _)| k.as_str()).collect();
            let mut stored = self.fetch("create", &mut conn, namespace, &keys).await?;
            let same = chunk
                .iter()
                .filter(|(k, v)| stored.get(k) == Some(v))
                .count();
            let ours_are_the_same = inserted > 0 && same == inserted;
            for (key, value) in chunk {
                let current = stored.remove(key).ok_or_else(|| StoreError::Protocol {
                    url: self.url.clone(),
                    op: "create",
                    reason: format!("key `{key}` was neither inserted nor found"),
                })?;
                if ours_are_the_same && &current == value {
                    outcomes.push(CreateOutcome::Created);
                } else {
                    outcomes.push(CreateOutcome::Existed(current));
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
        self.check_sizes("replace", namespace, [key])?;
        self.check_value_sizes([(key, new)])?;
        let mut conn = self.conn("replace").await?;
        match expected {
            None => conn
                .exec_drop(
                    "INSERT IGNORE INTO eva_kv (namespace, id, val) VALUES (?, ?, ?)",
                    (namespace, key, new),
                )
                .await
                .map_err(self.err("replace"))?,
            Some(expected) => conn
                .exec_drop(
                    "UPDATE eva_kv SET val = ? WHERE namespace = ? AND id = ? AND val = ?",
                    (new, namespace, key, expected),
                )
                .await
                .map_err(self.err("replace"))?,
        }
        if conn.affected_rows() == 1 {
            return Ok(ReplaceOutcome::Replaced);
        }
        let current = self
            .fetch("replace", &mut conn, namespace, &[key])
            .await?
            .remove(key);
        Ok(ReplaceOutcome::Mismatch(current))
    }

    async fn remove(
        &self,
        namespace: &str,
        key: &str,
        expected: &[u8],
    ) -> Result<ReplaceOutcome, StoreError> {
        self.check_sizes("remove", namespace, [key])?;
        let mut conn = self.conn("remove").await?;
        conn.exec_drop(
            "DELETE FROM eva_kv WHERE namespace = ? AND id = ? AND val = ?",
            (namespace, key, expected),
        )
        .await
        .map_err(self.err("remove"))?;
        if conn.affected_rows() == 1 {
            return Ok(ReplaceOutcome::Replaced);
        }
        let current = self
            .fetch("remove", &mut conn, namespace, &[key])
            .await?
            .remove(key);
        Ok(ReplaceOutcome::Mismatch(current))
    }

    async fn scan(
        &self,
        namespace: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let limit = u64::try_from(limit).unwrap_or(u64::MAX);
        let mut conn = self.conn("scan").await?;
        let rows: Vec<Row> = match after {
            Some(after) => {
                conn.exec(
                    "SELECT id, val FROM eva_kv WHERE namespace = ? AND id > ? \
                     ORDER BY id LIMIT ?",
                    (namespace, after, limit),
                )
                .await
            }
            None => {
                conn.exec(
                    "SELECT id, val FROM eva_kv WHERE namespace = ? ORDER BY id LIMIT ?",
                    (namespace, limit),
                )
                .await
            }
        }
        .map_err(self.err("scan"))?;
        rows.into_iter()
            .map(|mut row| {
                let key = self.column("scan", &mut row, 0)?;
                let value = self.column("scan", &mut row, 1)?;
                Ok((self.key("scan", key)?, value))
            })
            .collect()
    }
}
