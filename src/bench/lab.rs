//! The bench's stores: the generated source database and fresh, empty
//! destinations — a sled directory each under one temporary directory, or
//! the bench's namespace in a PostgreSQL server, emptied before and after
//! each use. Everything is removed when the bench ends.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::db::Database;
use crate::db::generate::{GenerateOptions, generate};
use crate::model::{self, Node};
use crate::store::{self, ValueStore, redact_url};

use super::BenchError;
use super::postgres::PostgresScratch;
use super::report::DatabaseFacts;
use super::size::Workload;

/// Keys per scan page and per batch of the bench's own copies (as the
/// migration's default batch size).
pub(crate) const PAGE: usize = 256;

/// A destination store, empty when handed out.
pub(crate) struct Destination {
    /// The store, open.
    pub store: Arc<dyn ValueStore>,
    place: Place,
}

enum Place {
    /// A sled directory of its own, deleted when discarded.
    Sled(PathBuf),
    /// The bench's namespace in the PostgreSQL server, emptied when discarded.
    Postgres,
}

/// The source database and where destinations are made.
pub(crate) struct Lab {
    /// The database id (and namespace) of every database the bench makes.
    pub id: String,
    /// The source store (sled), open.
    pub source: Arc<dyn ValueStore>,
    /// The source database as generated.
    pub facts: DatabaseFacts,
    /// The workload the source was generated from.
    pub workload: Workload,
    root: tempfile::TempDir,
    made: u64,
    postgres: Option<PostgresScratch>,
}

impl Lab {
    /// Makes a temporary directory under `dir` (the system's when `None`),
    /// generates the source database there (`progress` is called after
    /// each transaction) and connects to the PostgreSQL server when a URL
    /// is given.
    pub async fn new(
        dir: Option<&Path>,
        workload: Workload,
        postgres: Option<&str>,
        progress: impl FnMut(u64),
    ) -> Result<Lab, BenchError> {
        let parent = dir.map_or_else(std::env::temp_dir, Path::to_path_buf);
        std::fs::create_dir_all(&parent)
            .map_err(|e| BenchError::io("creating the bench directory", &parent, e))?;
        let root = tempfile::Builder::new()
            .prefix("eva-admin-bench-")
            .tempdir_in(&parent)
            .map_err(|e| BenchError::io("creating a directory in", &parent, e))?;
        // A fresh id, so that the bench never meets a namespace of anyone
        // else's in a server store.
        let id = format!("eva-admin-bench-{:08x}", rand::random::<u32>());
        let postgres = match postgres {
            Some(url) => Some(PostgresScratch::connect(url, &id).await?),
            None => None,
        };
        let source = open_sled(&root.path().join("source.sled")).await?;
        let generating = std::time::Instant::now();
        let db = Database::create_in(source.clone(), &id, workload.format).await?;
        let summary = generate(
            &db,
            &GenerateOptions {
                txs: workload.txs,
                datoms_per_tx: workload.datoms_per_tx,
                seed: workload.seed,
            },
            progress,
        )
        .await?;
        source.flush().await?;
        let generate_seconds = generating.elapsed().as_secs_f64();
        let mut facts = namespace_facts(source.as_ref(), &id).await?;
        facts.entries = summary.entries;
        facts.generate_seconds = generate_seconds;
        Ok(Lab {
            id,
            source,
            facts,
            workload,
            root,
            made: 0,
            postgres,
        })
    }

    /// A path for a new sled store under the bench's directory (nothing
    /// there yet).
    pub fn new_path(&mut self, label: &str) -> PathBuf {
        self.made += 1;
        self.root.path().join(format!("{label}-{}.sled", self.made))
    }

    /// A path for a new file under the bench's directory (nothing there
    /// yet), ending in `.ext`.
    pub fn new_file(&mut self, label: &str, ext: &str) -> PathBuf {
        self.made += 1;
        self.root
            .path()
            .join(format!("{label}-{}.{ext}", self.made))
    }

    /// A fresh, empty sled store.
    pub async fn sled(&mut self, label: &str) -> Result<Destination, BenchError> {
        let path = self.new_path(label);
        Ok(Destination {
            store: open_sled(&path).await?,
            place: Place::Sled(path),
        })
    }

    /// The PostgreSQL store with the bench's namespace empty; `None`
    /// without `--postgres`.
    pub async fn postgres(&mut self) -> Result<Option<Destination>, BenchError> {
        let Some(pg) = &self.postgres else {
            return Ok(None);
        };
        pg.empty().await?;
        Ok(Some(Destination {
            store: pg.store.clone(),
            place: Place::Postgres,
        }))
    }

    /// Where the PostgreSQL destination is, password masked (`None`
    /// without one).
    pub fn postgres_url(&self) -> Option<String> {
        self.postgres.as_ref().map(|pg| redact_url(&pg.url))
    }

    /// Removes a destination and what it holds.
    pub async fn discard(&self, destination: Destination) -> Result<(), BenchError> {
        let Destination { store, place } = destination;
        drop(store);
        match place {
            Place::Sled(path) => remove_sled(&path),
            Place::Postgres => match &self.postgres {
                Some(pg) => pg.empty().await,
                None => Ok(()),
            },
        }
    }

    /// Empties the server namespace; the temporary directory goes when the
    /// lab is dropped.
    pub async fn close(self) -> Result<(), BenchError> {
        let Lab {
            source,
            root,
            postgres,
            ..
        } = self;
        drop(source);
        if let Some(pg) = postgres {
            pg.empty().await?;
        }
        let path = root.path().to_path_buf();
        root.close()
            .map_err(|e| BenchError::io("removing the bench directory", path, e))
    }
}

/// Opens (creating) a sled store at `path`.
pub(crate) async fn open_sled(path: &Path) -> Result<Arc<dyn ValueStore>, BenchError> {
    Ok(store::open(&sled_url(path)).await?)
}

/// The `sled:` URL of `path`.
pub(crate) fn sled_url(path: &Path) -> String {
    format!("sled:{}", path.display())
}

/// Deletes a sled store's directory (closed first by dropping every handle).
pub(crate) fn remove_sled(path: &Path) -> Result<(), BenchError> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(BenchError::io("removing the store", path, e)),
    }
}

/// Counts the keys and bytes of a namespace, and the datoms of the tx-log
/// entries in it (the only keys with a dot, but a status record's, which
/// does not decode as an entry): one scan, decoding only the entries.
pub(crate) async fn namespace_facts(
    store: &dyn ValueStore,
    namespace: &str,
) -> Result<DatabaseFacts, BenchError> {
    let mut facts = DatabaseFacts::default();
    let mut after: Option<String> = None;
    loop {
        let page = store.scan(namespace, after.as_deref(), 1024).await?;
        let Some((last, _)) = page.last() else {
            return Ok(facts);
        };
        after = Some(last.clone());
        facts.keys += page.len() as u64;
        for (key, value) in &page {
            facts.bytes += (key.len() + value.len()) as u64;
            if key.contains('.')
                && let Ok(Node::TxLogEntry(entry)) = model::decode_at(key, value)
            {
                facts.datoms += entry.datoms.len() as u64;
            }
        }
    }
}
