//! The post-order copier: walks a subtree of the source depth-first and
//! writes every node after its children, create-only, in batches. A node
//! already in the destination is not expanded (pruning, DESIGN.md §5.8);
//! memory holds only the current path, one batch of pending writes and a
//! bounded cache of keys known present (§5.9).

use serde::Serialize;

use crate::db::DbError;
use crate::model;
use crate::store::{CreateOutcome, ValueStore};

use super::MigrateError;
use super::cache::PresentKeys;
use super::xform::{NodeBatch, Xform};

/// What a run read, wrote and skipped. Counted, never estimated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CopyStats {
    /// Nodes read from the source.
    pub nodes_read: u64,
    /// Bytes of those nodes.
    pub bytes_read: u64,
    /// Nodes created in the destination.
    pub nodes_written: u64,
    /// Bytes of those nodes.
    pub bytes_written: u64,
    /// Nodes whose create found the same bytes already there.
    pub nodes_already_present: u64,
    /// Subtrees not expanded because their root was already in the destination.
    pub subtrees_pruned: u64,
    /// Keys asked about in the destination (batched existence checks).
    pub existence_checks: u64,
    /// Round trips to the destination for writes.
    pub write_batches: u64,
}

/// A node on the current path: its bytes, and its children still to copy
/// (already read, missing from the destination).
struct Frame {
    key: String,
    bytes: Vec<u8>,
    children: std::vec::IntoIter<(String, Vec<u8>)>,
}

/// Copies subtrees from one namespace of `src` to the same namespace of `dst`.
pub(crate) struct Copier<'a> {
    src: &'a dyn ValueStore,
    dst: &'a dyn ValueStore,
    namespace: &'a str,
    xform: &'a mut dyn Xform,
    present: PresentKeys,
    pending: NodeBatch,
    batch_size: usize,
    concurrency: usize,
    /// The destination held nothing of this database when the run began:
    /// a key not written by this run cannot be there, so skip existence checks.
    bulk: bool,
    dry_run: bool,
    pub(crate) stats: CopyStats,
}

/// How the copier behaves; see `MigrateOptions` for the meaning of each.
pub(crate) struct CopierSettings {
    pub batch_size: usize,
    pub concurrency: usize,
    pub cache_keys: usize,
    pub bulk: bool,
    pub dry_run: bool,
}

impl<'a> Copier<'a> {
    pub(crate) fn new(
        src: &'a dyn ValueStore,
        dst: &'a dyn ValueStore,
        namespace: &'a str,
        xform: &'a mut dyn Xform,
        settings: CopierSettings,
    ) -> Copier<'a> {
        Copier {
            src,
            dst,
            namespace,
            xform,
            present: PresentKeys::new(settings.cache_keys),
            pending: Vec::new(),
            batch_size: settings.batch_size.max(1),
            concurrency: settings.concurrency.max(1),
            bulk: settings.bulk,
            dry_run: settings.dry_run,
            stats: CopyStats::default(),
        }
    }

    /// Copies the node at `root` and everything below it that the
    /// destination lacks. On return every such node is written or pending in
    /// the current batch, after its children.
    pub(crate) async fn copy(&mut self, root: &str) -> Result<(), MigrateError> {
        let missing = self.missing(vec![root.to_string()]).await?;
        let Some((key, bytes)) = self.read(missing).await?.pop() else {
            return Ok(());
        };
        let mut path = vec![self.frame(key, bytes).await?];
        while let Some(top) = path.last_mut() {
            match top.children.next() {
                Some((key, bytes)) => {
                    if self.present.contains(&key) {
                        continue;
                    }
                    let frame = self.frame(key, bytes).await?;
                    path.push(frame);
                }
                None => {
                    if let Some(done) = path.pop() {
                        self.write(done.key, done.bytes).await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes the pending batch (create-only); a key holding other bytes
    /// stops the run (property 5).
    pub(crate) async fn flush(&mut self) -> Result<(), MigrateError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = self.xform.write(std::mem::take(&mut self.pending))?;
        if self.dry_run {
            self.stats.nodes_written += batch.len() as u64;
            self.stats.bytes_written += batch.iter().map(|(_, b)| b.len() as u64).sum::<u64>();
            return Ok(());
        }
        let outcomes = self
            .dst
            .create_many(self.namespace, &batch)
            .await
            .map_err(MigrateError::destination_store)?;
        self.stats.write_batches += 1;
        for ((key, bytes), outcome) in batch.iter().zip(outcomes) {
            match outcome {
                CreateOutcome::Created => {
                    self.stats.nodes_written += 1;
                    self.stats.bytes_written += bytes.len() as u64;
                }
                CreateOutcome::Existed(stored) if stored == *bytes => {
                    self.stats.nodes_already_present += 1;
                }
                CreateOutcome::Existed(_) => {
                    return Err(MigrateError::ForeignNode { key: key.clone() });
                }
            }
        }
        Ok(())
    }

    async fn write(&mut self, key: String, bytes: Vec<u8>) -> Result<(), MigrateError> {
        self.present.insert(&key);
        self.pending.push((key, bytes));
        if self.pending.len() >= self.batch_size {
            self.flush().await?;
        }
        Ok(())
    }

    /// Decodes a node read from the source and reads its missing children.
    async fn frame(&mut self, key: String, bytes: Vec<u8>) -> Result<Frame, MigrateError> {
        let node = model::decode(&bytes).map_err(|source| {
            MigrateError::Source(DbError::Codec {
                key: key.clone(),
                source,
            })
        })?;
        let child_keys: Vec<String> = node.child_keys().into_iter().map(String::from).collect();
        let missing = self.missing(child_keys).await?;
        let children = self.read(missing).await?;
        Ok(Frame {
            key,
            bytes,
            children: children.into_iter(),
        })
    }

    /// The keys among `keys` that the destination lacks, as far as can be
    /// known: the cache first, then (unless bulk) one batched check.
    async fn missing(&mut self, keys: Vec<String>) -> Result<Vec<String>, MigrateError> {
        let unknown: Vec<String> = keys
            .into_iter()
            .filter(|k| {
                let known = self.present.contains(k);
                if known {
                    self.stats.subtrees_pruned += 1;
                }
                !known
            })
            .collect();
        if self.bulk || unknown.is_empty() {
            return Ok(unknown);
        }
        self.stats.existence_checks += unknown.len() as u64;
        let present = self
            .dst
            .contains_many(self.namespace, &unknown)
            .await
            .map_err(MigrateError::destination_store)?;
        let mut missing = Vec::with_capacity(unknown.len());
        for (key, is_present) in unknown.into_iter().zip(present) {
            if is_present {
                self.stats.subtrees_pruned += 1;
                self.present.insert(&key);
            } else {
                missing.push(key);
            }
        }
        Ok(missing)
    }

    /// Reads nodes from the source, in up to `concurrency` parallel requests,
    /// and passes them through the read-xform. A key the source lacks is a
    /// dangling reference in the source.
    async fn read(&mut self, keys: Vec<String>) -> Result<NodeBatch, MigrateError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let chunk = keys.len().div_ceil(self.concurrency).max(16);
        let reads = keys
            .chunks(chunk)
            .map(|part| self.src.get_many(self.namespace, part));
        let values: Vec<Option<Vec<u8>>> = futures::future::try_join_all(reads)
            .await
            .map_err(MigrateError::source_store)?
            .into_iter()
            .flatten()
            .collect();
        let mut batch = Vec::with_capacity(keys.len());
        for (key, value) in keys.into_iter().zip(values) {
            let bytes = value
                .ok_or_else(|| MigrateError::Source(DbError::MissingNode { key: key.clone() }))?;
            self.stats.nodes_read += 1;
            self.stats.bytes_read += bytes.len() as u64;
            batch.push((key, bytes));
        }
        self.xform.read(batch)
    }
}
