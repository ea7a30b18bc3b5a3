//! The bench's scratch namespace in a PostgreSQL server (`--postgres`).
//! A store has no delete (migrations only create), so between two copies
//! the bench empties its own namespace with SQL. The namespace is the
//! bench's fresh database id; it must be empty when the bench starts, and
//! nothing outside it is ever touched.

use std::sync::Arc;

use tokio_postgres::{Client, NoTls};

use crate::store::{self, ValueStore, redact_url};

use super::BenchError;

/// A connection to the server and the store opened on it.
pub(crate) struct PostgresScratch {
    /// The URL as given (with its password: needed to connect).
    pub url: String,
    /// The store, as migrations see it.
    pub store: Arc<dyn ValueStore>,
    namespace: String,
    client: Client,
}

impl PostgresScratch {
    /// Opens the store (creating its table if missing) and checks that
    /// `namespace` holds nothing.
    pub async fn connect(url: &str, namespace: &str) -> Result<PostgresScratch, BenchError> {
        let failed = |reason: String| BenchError::Postgres {
            url: redact_url(url),
            reason,
        };
        let store = store::open(url).await?;
        let (client, connection) = tokio_postgres::connect(url, NoTls)
            .await
            .map_err(|e| failed(e.to_string()))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("bench postgres connection closed: {e}");
            }
        });
        if !store.scan(namespace, None, 1).await?.is_empty() {
            return Err(failed(format!(
                "namespace `{namespace}` already holds keys; the bench only uses a namespace of its own"
            )));
        }
        Ok(PostgresScratch {
            url: url.to_string(),
            store,
            namespace: namespace.to_string(),
            client,
        })
    }

    /// Deletes every key of the bench's namespace.
    pub async fn empty(&self) -> Result<(), BenchError> {
        self.client
            .execute(
                "DELETE FROM eva_kv WHERE namespace = $1",
                &[&self.namespace],
            )
            .await
            .map_err(|e| BenchError::Postgres {
                url: redact_url(&self.url),
                reason: format!("emptying namespace `{}`: {e}", self.namespace),
            })?;
        Ok(())
    }
}
