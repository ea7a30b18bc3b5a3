//! Store URLs: parsing, password masking, and opening the right backend.

use std::sync::Arc;
use std::time::Duration;

use super::{
    StoreError, ValueStore, mem::MemStore, mysql::MysqlStore, postgres::PostgresStore,
    sled_store::SledStore, sqlite::SqliteStore,
};

/// A parsed store URL: which backend, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// `mem:` (a fresh store) or `mem:NAME` (shared by name within this process).
    Mem(Option<String>),
    /// `sled:PATH`: the embedded default.
    Sled(String),
    /// `sqlite:PATH`.
    Sqlite(String),
    /// `postgres://…` or `postgresql://…`, passed to the driver as given.
    Postgres(String),
    /// `mysql://…` or `mariadb://…` (MariaDB), passed to the driver as `mysql://…`.
    Mysql(String),
}

impl StoreUrl {
    /// Parses a URL; the error names the URL and what is wrong with it.
    pub fn parse(url: &str) -> Result<StoreUrl, StoreError> {
        let invalid = |reason: &str| StoreError::InvalidUrl {
            url: redact_url(url),
            reason: reason.to_string(),
        };
        let Some((scheme, rest)) = url.split_once(':') else {
            return Err(invalid("no scheme"));
        };
        match scheme {
            "mem" => Ok(StoreUrl::Mem((!rest.is_empty()).then(|| rest.to_string()))),
            "sled" | "sqlite" => {
                let path = rest.strip_prefix("//").unwrap_or(rest);
                if path.is_empty() {
                    return Err(invalid("missing path after the scheme"));
                }
                Ok(if scheme == "sled" {
                    StoreUrl::Sled(path.to_string())
                } else {
                    StoreUrl::Sqlite(path.to_string())
                })
            }
            "postgres" | "postgresql" | "mysql" | "mariadb" => {
                let parsed = url::Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
                if parsed.host_str().is_none_or(str::is_empty) {
                    return Err(invalid("missing host"));
                }
                if scheme.starts_with("postgres") {
                    Ok(StoreUrl::Postgres(url.to_string()))
                } else {
                    Ok(StoreUrl::Mysql(format!("mysql:{rest}")))
                }
            }
            other => Err(invalid(&format!("unknown scheme `{other}`"))),
        }
    }
}

/// Opens the store a URL names, creating its file or table when missing;
/// a server gets a few seconds to answer.
pub async fn open(url: &str) -> Result<Arc<dyn ValueStore>, StoreError> {
    open_within(url, crate::store::sql::OPEN_TIMEOUT).await
}

/// [`open`], a server given at most `limit` for each step of opening
/// (connecting, creating the table) and each reconnect.
pub async fn open_within(url: &str, limit: Duration) -> Result<Arc<dyn ValueStore>, StoreError> {
    Ok(match StoreUrl::parse(url)? {
        StoreUrl::Mem(name) => Arc::new(MemStore::open(name)),
        StoreUrl::Sled(path) => Arc::new(SledStore::open(&path, url)?),
        StoreUrl::Sqlite(path) => Arc::new(SqliteStore::open(&path, url).await?),
        StoreUrl::Postgres(conn) => Arc::new(PostgresStore::open(&conn, limit).await?),
        StoreUrl::Mysql(conn) => Arc::new(MysqlStore::open(&conn, url, limit).await?),
    })
}

/// The URL with any password replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_scheme() {
        assert_eq!(StoreUrl::parse("mem:").unwrap(), StoreUrl::Mem(None));
        assert_eq!(
            StoreUrl::parse("mem:a").unwrap(),
            StoreUrl::Mem(Some("a".into()))
        );
        assert_eq!(
            StoreUrl::parse("sled:./x").unwrap(),
            StoreUrl::Sled("./x".into())
        );
        assert_eq!(
            StoreUrl::parse("sqlite:x.db").unwrap(),
            StoreUrl::Sqlite("x.db".into())
        );
        assert!(matches!(
            StoreUrl::parse("postgres://u@h:1/d").unwrap(),
            StoreUrl::Postgres(_)
        ));
        assert_eq!(
            StoreUrl::parse("mariadb://u@h:1/d").unwrap(),
            StoreUrl::Mysql("mysql://u@h:1/d".into())
        );
    }

    #[test]
    fn rejects_bad_urls_with_a_reason() {
        for bad in ["nothing", "ftp://x", "sled:", "postgres://", "mysql:///db"] {
            let err = StoreUrl::parse(bad).unwrap_err().to_string();
            assert!(err.contains("invalid store URL"), "{bad}: {err}");
        }
    }

    #[test]
    fn masks_passwords() {
        let shown = redact_url("postgres://eva:secret@localhost/db");
        assert!(!shown.contains("secret"));
        assert!(shown.contains("***"));
    }
}
