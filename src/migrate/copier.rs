//! The post-order copier: walks a subtree of the source depth-first and
//! writes every node after its children, create-only, in batches. A node
//! already in the destination is not expanded (pruning, docs/design.md §5.8);
//! memory holds only the current path, one batch of pending writes and
//! bounded caches of keys known present and of remapped keys (§5.9).
//! Transforms run around it: read hooks on each batch read from the source,
//! write hooks on each batch about to be written, each output validated.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;

use crate::db::DbError;
use crate::model::{self, Node};
use crate::store::{CreateOutcome, Entry, StoreError, ValueStore};

use super::MigrateError;
use super::cache::{Presence, PresentKeys};
use super::remap::{RemapCache, remap_key};
use super::validate::{self, Bounds, Shape};
use super::xform::{KeyedNode, NodeXform};

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
    /// Nodes a read-xform skipped (the destination held them).
    pub nodes_skipped: u64,
    /// Index node keys a write-xform changed (recorded in the remap table).
    pub keys_remapped: u64,
    /// Nodes a transform changed (read or write hook): written with other
    /// bytes than the source's.
    pub nodes_rewritten: u64,
}

/// What a node was before the write hooks: its key and bytes as read (or
/// as the read hooks left them), and whether a read hook changed it.
struct Original {
    key: String,
    bytes: Vec<u8>,
    changed: bool,
}

/// A node read from the source and passed through the read-xforms.
struct Loaded {
    key: String,
    bytes: Vec<u8>,
    /// The keys of its children, in order (taken when its frame is made).
    children: Vec<String>,
    /// The decoded node, only when some transform looks at nodes: without
    /// one the copier needs the links alone, read without building it.
    node: Option<Node>,
    bounds: Bounds,
    /// The read hooks that changed it (comma-separated), when any did: its
    /// bytes are then theirs, and a child it names that the source lacks is
    /// their doing, not the source's.
    rewritten_by: Option<String>,
}

/// A node on the current path, with its children still to copy (already
/// read, missing from the destination).
struct Frame {
    node: Loaded,
    children: std::vec::IntoIter<Loaded>,
}

/// How the copier behaves; see `MigrateOptions` for the meaning of each.
pub(crate) struct CopierSettings {
    pub batch_size: usize,
    pub concurrency: usize,
    pub cache_keys: usize,
    pub bulk: bool,
    pub dry_run: bool,
}

/// A batch being created in the destination while the copier reads on:
/// its entries and, when done, the store's answer for each.
type InFlight = tokio::task::JoinHandle<(Vec<Entry>, Result<Vec<CreateOutcome>, StoreError>)>;

/// Copies subtrees from one namespace of `src` to the same namespace of `dst`.
///
/// Writes are pipelined: a full batch is handed to a task of its own and
/// the copier reads and decodes the next one meanwhile. At most one batch
/// is in flight, and the next starts only once it is done, so the
/// destination still receives every node after its children.
pub(crate) struct Copier<'a> {
    src: &'a dyn ValueStore,
    dst: Arc<dyn ValueStore>,
    namespace: &'a str,
    in_flight: Option<InFlight>,
    xforms: &'a mut [Box<dyn NodeXform>],
    present: PresentKeys,
    remaps: RemapCache,
    pending: Vec<Loaded>,
    /// Roots read ahead by [`Copier::prefetch`]; `None` for one the
    /// destination holds.
    prefetched: HashMap<String, Option<Loaded>>,
    batch_size: usize,
    concurrency: usize,
    /// The destination held nothing of this database when the run began:
    /// a key not written by this run cannot be there, so skip existence checks.
    bulk: bool,
    dry_run: bool,
    pub(crate) stats: CopyStats,
}

impl<'a> Copier<'a> {
    pub(crate) fn new(
        src: &'a dyn ValueStore,
        dst: Arc<dyn ValueStore>,
        namespace: &'a str,
        xforms: &'a mut [Box<dyn NodeXform>],
        settings: CopierSettings,
    ) -> Copier<'a> {
        Copier {
            src,
            dst,
            namespace,
            in_flight: None,
            xforms,
            present: PresentKeys::new(settings.cache_keys),
            remaps: RemapCache::new(settings.cache_keys / 4),
            pending: Vec::new(),
            prefetched: HashMap::new(),
            batch_size: settings.batch_size.max(1),
            concurrency: settings.concurrency.max(1),
            bulk: settings.bulk,
            dry_run: settings.dry_run,
            stats: CopyStats::default(),
        }
    }

    /// Whether nodes must be decoded whole (some transform sees them).
    fn decodes(&self) -> bool {
        !self.xforms.is_empty()
    }

    fn reads(&self) -> bool {
        self.xforms.iter().any(|x| x.has_read())
    }

    /// Whether index nodes may be rewritten, and so written under new keys
    /// (remap records): any transform may change a node.
    fn remaps(&self) -> bool {
        self.decodes()
    }

    /// Copies the node at `root` and everything below it that the
    /// destination lacks. On return every such node is written or pending in
    /// the current batch, after its children.
    pub(crate) async fn copy(&mut self, root: &str) -> Result<(), MigrateError> {
        let first = match self.prefetched.remove(root) {
            Some(Some(first)) => first,
            Some(None) => return Ok(()),
            None => {
                let missing = self
                    .missing(vec![(root.to_string(), Bounds::default())])
                    .await?;
                match self.load(missing).await?.pop() {
                    Some(first) => first,
                    None => return Ok(()),
                }
            }
        };
        self.walk(first).await
    }

    /// Reads the roots (tx-log entries) the next [`Copier::copy`] calls
    /// will copy, in one batch: a run over many small entries costs a read
    /// per batch, not per entry. Only without read hooks, which see nodes
    /// in the batches they are read in.
    pub(crate) async fn prefetch(&mut self, roots: &[String]) -> Result<(), MigrateError> {
        if self.reads() {
            return Ok(());
        }
        let keys = roots
            .iter()
            .map(|root| (root.clone(), Bounds::default()))
            .collect();
        let missing = self.missing(keys).await?;
        for root in roots {
            self.prefetched.insert(root.clone(), None);
        }
        for loaded in self.load(missing).await? {
            self.prefetched.insert(loaded.key.clone(), Some(loaded));
        }
        Ok(())
    }

    /// Writes `first` after everything below it the destination lacks,
    /// depth first, children before parents.
    async fn walk(&mut self, first: Loaded) -> Result<(), MigrateError> {
        let mut path = vec![self.frame(first).await?];
        while let Some(top) = path.last_mut() {
            match top.children.next() {
                Some(child) => {
                    if self.present.contains(&child.key) {
                        continue;
                    }
                    let frame = self.frame(child).await?;
                    path.push(frame);
                }
                None => {
                    if let Some(done) = path.pop() {
                        self.write(done.node).await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Passes one root node (database-info or the tx-log head, which the
    /// run writes itself by compare-and-set) through every hook, validated,
    /// so transforms see them and cannot change them inconsistently.
    pub(crate) fn transform_root(&mut self, key: &str, node: Node) -> Result<Node, MigrateError> {
        let given = [key.to_string()];
        let shapes = [Shape::of(&node)];
        let bounds = [Bounds::default()];
        let mut batch = vec![(key.to_string(), node)];
        for xform in self.xforms.iter_mut() {
            if xform.has_read() {
                let out = run_hook(xform.as_mut(), batch, true)?;
                if out.len() != 1 {
                    return Err(rejected(
                        xform.name(),
                        key,
                        "a root node (database-info, tx-log head) cannot be skipped",
                    ));
                }
                check_outputs(xform.name(), &given, &shapes, &out, &bounds, false)?;
                batch = out;
            }
            if xform.has_write() {
                let out = run_hook(xform.as_mut(), batch, false)?;
                check_outputs(xform.name(), &given, &shapes, &out, &bounds, false)?;
                batch = out;
            }
        }
        Ok(batch.remove(0).1)
    }

    /// Calls every transform's `finish`; returns (name, report, metrics).
    pub(crate) fn finish(
        &mut self,
    ) -> Result<Vec<(String, String, serde_json::Value)>, MigrateError> {
        self.xforms
            .iter_mut()
            .map(|x| {
                let report = x.finish().map_err(|f| xform_error(x.name(), f))?;
                Ok((x.name().to_string(), report, x.metrics()))
            })
            .collect()
    }

    /// Writes the pending batch and waits until every batch handed to the
    /// destination is created: on return all nodes copied so far are in the
    /// destination (a status record may say so).
    pub(crate) async fn flush(&mut self) -> Result<(), MigrateError> {
        self.start_write().await?;
        self.settle().await
    }

    /// Hands the pending batch (after the write-xforms) to the destination
    /// once the batch before it is done, without waiting for this one.
    async fn start_write(&mut self) -> Result<(), MigrateError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.pending);
        let entries = if self.decodes() {
            // What transforms return is checked against the destination
            // (children, remaps): everything before it must be there.
            self.settle().await?;
            self.write_through_xforms(batch).await?
        } else {
            batch.into_iter().map(|l| (l.key, l.bytes)).collect()
        };
        if self.dry_run {
            self.stats.nodes_written += entries.len() as u64;
            self.stats.bytes_written += entries.iter().map(|(_, b)| b.len() as u64).sum::<u64>();
            return Ok(());
        }
        self.settle().await?;
        let dst = self.dst.clone();
        let namespace = self.namespace.to_string();
        self.in_flight = Some(tokio::spawn(async move {
            let outcomes = dst.create_many(&namespace, &entries).await;
            (entries, outcomes)
        }));
        Ok(())
    }

    /// Waits for the batch in flight, if any, and checks what the
    /// destination answered for each node: a key holding other bytes stops
    /// the run (property 5).
    async fn settle(&mut self) -> Result<(), MigrateError> {
        let Some(task) = self.in_flight.take() else {
            return Ok(());
        };
        let (entries, outcomes) = task.await.map_err(|e| {
            MigrateError::destination_store(StoreError::Protocol {
                url: self.dst.url().to_string(),
                op: "create",
                reason: format!("the write task stopped: {e}"),
            })
        })?;
        let outcomes = outcomes.map_err(MigrateError::destination_store)?;
        self.stats.write_batches += 1;
        for ((key, bytes), outcome) in entries.iter().zip(outcomes) {
            match outcome {
                CreateOutcome::Created => {
                    self.stats.nodes_written += 1;
                    self.stats.bytes_written += bytes.len() as u64;
                }
                CreateOutcome::Existed(stored) if stored == *bytes => {
                    self.stats.nodes_already_present += 1;
                }
                CreateOutcome::Existed(_) if self.decodes() => {
                    return Err(MigrateError::Rejected {
                        plugin: self.transform_names(),
                        key: key.clone(),
                        rule: "the destination already holds different bytes at this key; a transform may not change what an existing key holds (create never overwrites)".into(),
                    });
                }
                CreateOutcome::Existed(_) => {
                    return Err(MigrateError::ForeignNode { key: key.clone() });
                }
            }
        }
        Ok(())
    }

    async fn write(&mut self, node: Loaded) -> Result<(), MigrateError> {
        self.present.insert(&node.key);
        self.pending.push(node);
        if self.pending.len() >= self.batch_size {
            self.start_write().await?;
        }
        Ok(())
    }

    /// Runs the write hooks on a batch, validates each output, follows
    /// earlier key changes and keys every rewritten index node by its
    /// content (remap records follow the batch's nodes); returns what to
    /// create.
    async fn write_through_xforms(
        &mut self,
        batch: Vec<Loaded>,
    ) -> Result<Vec<(String, Vec<u8>)>, MigrateError> {
        // With a transform every node is decoded (`decodes`). The hooks get
        // the nodes by value; what their outputs are checked against stays.
        let mut originals = Vec::with_capacity(batch.len());
        let mut bounds = Vec::with_capacity(batch.len());
        let mut shapes = Vec::with_capacity(batch.len());
        let mut nodes: Vec<KeyedNode> = Vec::with_capacity(batch.len());
        for l in batch {
            if let Some(node) = l.node {
                originals.push(Original {
                    key: l.key.clone(),
                    bytes: l.bytes,
                    changed: l.rewritten_by.is_some(),
                });
                bounds.push(l.bounds);
                shapes.push(Shape::of(&node));
                nodes.push((l.key, node));
            }
        }
        for xform in self.xforms.iter_mut().filter(|x| x.has_write()) {
            let given: Vec<String> = nodes.iter().map(|(k, _)| k.clone()).collect();
            let out = run_hook(xform.as_mut(), nodes, false)?;
            check_outputs(xform.name(), &given, &shapes, &out, &bounds, true)?;
            nodes = out;
        }
        // The new keys of children outside the batch, then of this batch's
        // own nodes as they are keyed (children come before parents).
        let mut remaps = self.remaps_for_children(&nodes).await?;
        let mut entries = Vec::with_capacity(nodes.len());
        let mut records = Vec::new();
        for (original, (_, mut node)) in originals.into_iter().zip(nodes) {
            Self::follow_remaps(&mut node, &remaps);
            let plain = model::encode(&node);
            let rewritten = original.changed || !model::same_content(&original.bytes, &plain);
            if rewritten {
                self.stats.nodes_rewritten += 1;
            }
            let index_node = matches!(node, Node::IndexInner(_) | Node::IndexLeaf(_));
            // An index node's key is the digest of its content
            // (docs/format.md): a rewritten one gets the key of what it
            // now holds, whatever key a hook gave it.
            let key = if index_node && rewritten {
                model::index_node_key(&plain)
            } else {
                original.key.clone()
            };
            // What is not keyed by its content is sealed with its key; a
            // node that came through unchanged keeps the source's bytes.
            let bytes = if rewritten {
                model::seal(&key, plain)
            } else {
                original.bytes
            };
            if key != original.key {
                self.stats.keys_remapped += 1;
                records.push((
                    remap_key(self.namespace, &original.key),
                    key.clone().into_bytes(),
                ));
                remaps.insert(original.key.clone(), key.clone());
                self.remaps.insert(original.key, key.clone());
            }
            entries.push((key, node, bytes));
        }
        let written: Vec<(&str, &Node)> = entries
            .iter()
            .map(|(key, node, _)| (key.as_str(), node))
            .collect();
        self.check_children_resolve(&written).await?;
        let mut out: Vec<(String, Vec<u8>)> = entries
            .into_iter()
            .map(|(key, _, bytes)| (key, bytes))
            .collect();
        out.extend(records);
        Ok(out)
    }

    /// The new keys of the children this batch's nodes refer to that do
    /// not come earlier in the batch than their parent: those are already
    /// in the destination (a child can also come again later in the batch
    /// when a small presence cache forgot it was written), so their new key
    /// is the in-memory cache's or, for those it does not know (written by
    /// earlier runs, or evicted), the destination's remap record. Resolved
    /// once, before the batch adds remaps of its own, which may turn the
    /// cache's generations and drop what it knew.
    async fn remaps_for_children(
        &mut self,
        nodes: &[KeyedNode],
    ) -> Result<HashMap<String, String>, MigrateError> {
        let mut earlier: HashSet<&str> = HashSet::new();
        let mut outside: HashSet<&str> = HashSet::new();
        for (key, node) in nodes {
            outside.extend(
                node.child_keys()
                    .into_iter()
                    .filter(|c| !earlier.contains(c)),
            );
            earlier.insert(key);
        }
        let mut known = HashMap::new();
        let mut unknown = Vec::new();
        for child in outside {
            match self.remaps.get(child) {
                Some(new) => {
                    known.insert(child.to_string(), new.to_string());
                }
                None => unknown.push(child.to_string()),
            }
        }
        known.extend(self.fetch_remaps(&unknown).await?);
        Ok(known)
    }

    /// Looks up remap records of `keys` in the destination; caches them and
    /// returns each key that has one with its new key.
    async fn fetch_remaps(
        &mut self,
        keys: &[String],
    ) -> Result<HashMap<String, String>, MigrateError> {
        if keys.is_empty() || self.dry_run && self.bulk {
            return Ok(HashMap::new());
        }
        let record_keys: Vec<String> = keys.iter().map(|k| remap_key(self.namespace, k)).collect();
        let values = self
            .dst
            .get_many(self.namespace, &record_keys)
            .await
            .map_err(MigrateError::destination_store)?;
        let mut found = HashMap::new();
        for (key, value) in keys.iter().zip(values) {
            if let Some(new) = value {
                let new = String::from_utf8(new).map_err(|_| MigrateError::BadRemap {
                    key: remap_key(self.namespace, key),
                })?;
                self.remaps.insert(key.clone(), new.clone());
                found.insert(key.clone(), new);
            }
        }
        Ok(found)
    }

    /// Rewrites a node's child references to the keys their nodes were
    /// written under, as `remaps` (this batch's and its outside children's)
    /// says.
    fn follow_remaps(node: &mut Node, remaps: &HashMap<String, String>) {
        let remap = |k: &mut String| {
            if let Some(new) = remaps.get(k.as_str()) {
                *k = new.clone();
            }
        };
        match node {
            Node::IndexInner(inner) => inner.children.iter_mut().for_each(remap),
            Node::TxLogEntry(entry) => {
                for k in [
                    &mut entry.roots.eavt,
                    &mut entry.roots.aevt,
                    &mut entry.roots.avet,
                    &mut entry.roots.vaet,
                ]
                .into_iter()
                .flatten()
                {
                    remap(k);
                }
            }
            _ => {}
        }
    }

    /// Every child a transformed node names must exist: earlier in this
    /// batch or in the destination (one batched check per flush).
    async fn check_children_resolve(
        &mut self,
        nodes: &[(&str, &Node)],
    ) -> Result<(), MigrateError> {
        let mut earlier: HashSet<&str> = HashSet::new();
        let mut outside: Vec<(&str, &str)> = Vec::new();
        for (key, node) in nodes {
            outside.extend(
                node.child_keys()
                    .into_iter()
                    .filter(|c| !earlier.contains(c))
                    .map(|c| (*key, c)),
            );
            earlier.insert(key);
        }
        if outside.is_empty() || self.dry_run {
            return Ok(());
        }
        let unique: Vec<String> = outside
            .iter()
            .map(|(_, c)| c.to_string())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        self.stats.existence_checks += unique.len() as u64;
        let present = self
            .dst
            .contains_many(self.namespace, &unique)
            .await
            .map_err(MigrateError::destination_store)?;
        let missing: HashSet<&str> = unique
            .iter()
            .zip(present)
            .filter(|(_, ok)| !ok)
            .map(|(c, _)| c.as_str())
            .collect();
        match outside.iter().find(|(_, c)| missing.contains(c)) {
            Some((key, child)) => Err(MigrateError::Rejected {
                plugin: self.write_names(),
                key: key.to_string(),
                rule: format!(
                    "its child `{child}` does not exist in the destination (dangling reference)"
                ),
            }),
            None => Ok(()),
        }
    }

    fn write_names(&self) -> String {
        self.xforms
            .iter()
            .filter(|x| x.has_write())
            .map(|x| x.name())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn transform_names(&self) -> String {
        self.xforms
            .iter()
            .map(|x| x.name())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A node on the path: its missing children read and transformed.
    async fn frame(&mut self, mut node: Loaded) -> Result<Frame, MigrateError> {
        let bounds = match &node.node {
            Some(decoded) => validate::child_bounds(decoded, &node.bounds),
            None => vec![Bounds::default(); node.children.len()],
        };
        // The keys are needed only here: moved, not copied.
        let children = std::mem::take(&mut node.children);
        let keyed: Vec<(String, Bounds)> = children.into_iter().zip(bounds).collect();
        let missing = self.missing(keyed).await?;
        let children = match &node.rewritten_by {
            None => self.load(missing).await?,
            Some(plugins) => {
                let (parent, plugins) = (node.key.clone(), plugins.clone());
                self.load(missing).await.map_err(|e| match e {
                    MigrateError::Source(DbError::MissingNode { key }) => MigrateError::Rejected {
                        plugin: plugins,
                        key: parent,
                        rule: format!(
                            "its read hook made it point at node `{key}`, which the source does not hold (dangling reference)"
                        ),
                    },
                    other => other,
                })?
            }
        };
        Ok(Frame {
            node,
            children: children.into_iter(),
        })
    }

    /// The keys among `keys` that the destination lacks, as far as can be
    /// known: the cache first, then one batched check, which also counts a
    /// remap record as presence. In bulk mode a key this run surely never
    /// wrote cannot be present and is not checked.
    async fn missing(
        &mut self,
        keys: Vec<(String, Bounds)>,
    ) -> Result<Vec<(String, Bounds)>, MigrateError> {
        // Each key not known present, and whether the destination must be asked.
        let mut candidates: Vec<((String, Bounds), bool)> = Vec::with_capacity(keys.len());
        for entry in keys {
            match self.present.presence(&entry.0) {
                Presence::Present => self.stats.subtrees_pruned += 1,
                // In bulk mode only this run wrote into the destination.
                Presence::NeverHeld if self.bulk => candidates.push((entry, false)),
                Presence::NeverHeld | Presence::Unknown => candidates.push((entry, true)),
            }
        }
        let asked: Vec<String> = candidates
            .iter()
            .filter(|(_, ask)| *ask)
            .map(|((k, _), _)| k.clone())
            .collect();
        let mut answers = self.present_in_destination(&asked).await?.into_iter();
        let mut missing = Vec::with_capacity(candidates.len());
        for (entry, ask) in candidates {
            if ask && answers.next().unwrap_or(false) {
                self.stats.subtrees_pruned += 1;
                self.present.insert(&entry.0);
            } else {
                missing.push(entry);
            }
        }
        Ok(missing)
    }

    /// Which of `keys` the destination holds (one batched check), a remap
    /// record counting as presence; one answer per key, in order.
    async fn present_in_destination(&mut self, keys: &[String]) -> Result<Vec<bool>, MigrateError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.stats.existence_checks += keys.len() as u64;
        let mut present: Vec<bool> = self
            .dst
            .contains_many(self.namespace, keys)
            .await
            .map_err(MigrateError::destination_store)?;
        if self.remaps() {
            let remapped = self.fetch_remaps(keys).await?;
            for (p, k) in present.iter_mut().zip(keys) {
                *p |= remapped.contains_key(k);
            }
        }
        Ok(present)
    }

    /// Reads nodes from the source, in up to `concurrency` parallel
    /// requests, decodes them and passes them through the read-xforms. A key
    /// the source lacks is a dangling reference in the source.
    async fn load(&mut self, keys: Vec<(String, Bounds)>) -> Result<Vec<Loaded>, MigrateError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let names: Vec<String> = keys.iter().map(|(k, _)| k.clone()).collect();
        let chunk = names.len().div_ceil(self.concurrency).max(16);
        let reads = names
            .chunks(chunk)
            .map(|part| self.src.get_many(self.namespace, part));
        let values: Vec<Option<Vec<u8>>> = futures::future::try_join_all(reads)
            .await
            .map_err(MigrateError::source_store)?
            .into_iter()
            .flatten()
            .collect();
        let mut loaded = Vec::with_capacity(keys.len());
        for ((key, bounds), value) in keys.into_iter().zip(values) {
            let bytes = value
                .ok_or_else(|| MigrateError::Source(DbError::MissingNode { key: key.clone() }))?;
            self.stats.nodes_read += 1;
            self.stats.bytes_read += bytes.len() as u64;
            let codec_error = |source| {
                MigrateError::Source(DbError::Codec {
                    key: key.clone(),
                    source,
                })
            };
            let (children, node) = if self.decodes() {
                let node = model::decode(&bytes).map_err(codec_error)?;
                (owned_keys(&node), Some(node))
            } else {
                (model::child_keys_of(&bytes).map_err(codec_error)?, None)
            };
            // Damage is named where it is read, before anything derived
            // from it is written (docs/migration.md, "Checked on every read").
            model::check_stored(&key, &bytes).map_err(codec_error)?;
            loaded.push(Loaded {
                key,
                bytes,
                children,
                node,
                bounds,
                rewritten_by: None,
            });
        }
        if self.reads() {
            loaded = self.read_through_xforms(loaded).await?;
        }
        Ok(loaded)
    }

    /// Runs the read hooks on a batch; a skipped node must already be in the
    /// destination, a kept one must pass validation. Re-encodes what changed.
    async fn read_through_xforms(
        &mut self,
        batch: Vec<Loaded>,
    ) -> Result<Vec<Loaded>, MigrateError> {
        // With a transform every node is decoded (`decodes`). The hooks get
        // the nodes by value; what their outputs are checked against stays.
        let mut by_key: HashMap<String, (Loaded, Shape)> = HashMap::with_capacity(batch.len());
        let mut nodes: Vec<KeyedNode> = Vec::with_capacity(batch.len());
        for mut l in batch {
            if let Some(node) = l.node.take() {
                let shape = Shape::of(&node);
                nodes.push((l.key.clone(), node));
                by_key.insert(l.key.clone(), (l, shape));
            }
        }
        for i in 0..self.xforms.len() {
            if !self.xforms[i].has_read() {
                continue;
            }
            let name = self.xforms[i].name().to_string();
            let given: Vec<String> = nodes.iter().map(|(k, _)| k.clone()).collect();
            let out = run_hook(self.xforms[i].as_mut(), nodes, true)?;
            for (key, after) in &out {
                let Some((loaded, shape)) = by_key.get(key) else {
                    return Err(rejected(
                        &name,
                        &crate::safe_text::key(key),
                        "a read-xform may not change keys or invent nodes",
                    ));
                };
                validate::check(shape, after, &loaded.bounds)
                    .map_err(|rule| rejected(&name, key, &rule))?;
            }
            let kept: HashSet<&str> = out.iter().map(|(k, _)| k.as_str()).collect();
            let skipped: Vec<String> = given
                .into_iter()
                .filter(|k| !kept.contains(k.as_str()))
                .collect();
            self.check_skips_allowed(&name, &skipped).await?;
            nodes = out;
        }
        let readers = self
            .xforms
            .iter()
            .filter(|x| x.has_read())
            .map(|x| x.name())
            .collect::<Vec<_>>()
            .join(", ");
        let mut out = Vec::with_capacity(nodes.len());
        for (key, node) in nodes {
            if let Some((mut loaded, _)) = by_key.remove(&key) {
                // Re-encoded to learn whether the hooks changed it: cheaper
                // than keeping a copy of every node to compare with. Other
                // bytes for an equal node (a source encoded otherwise) keep
                // the source's.
                let plain = model::encode(&node);
                if !model::same_content(&loaded.bytes, &plain)
                    && model::decode(&loaded.bytes).ok().as_ref() != Some(&node)
                {
                    loaded.bytes = model::seal(&key, plain);
                    loaded.children = owned_keys(&node);
                    loaded.rewritten_by = Some(readers.clone());
                }
                loaded.node = Some(node);
                out.push(loaded);
            }
        }
        self.stats.nodes_skipped += by_key.len() as u64;
        Ok(out)
    }

    async fn check_skips_allowed(
        &mut self,
        plugin: &str,
        skipped: &[String],
    ) -> Result<(), MigrateError> {
        if skipped.is_empty() {
            return Ok(());
        }
        // A skipped node may be in the batch being written.
        self.settle().await?;
        let present = self
            .dst
            .contains_many(self.namespace, skipped)
            .await
            .map_err(MigrateError::destination_store)?;
        match skipped.iter().zip(present).find(|(_, ok)| !ok) {
            Some((key, _)) => Err(MigrateError::DanglingReference {
                plugin: plugin.to_string(),
                key: key.clone(),
            }),
            None => {
                for key in skipped {
                    self.present.insert(key);
                }
                Ok(())
            }
        }
    }
}

fn owned_keys(node: &Node) -> Vec<String> {
    node.child_keys().into_iter().map(String::from).collect()
}

fn run_hook(
    xform: &mut dyn NodeXform,
    batch: Vec<KeyedNode>,
    read: bool,
) -> Result<Vec<KeyedNode>, MigrateError> {
    let result = if read {
        xform.read(batch)
    } else {
        xform.write(batch)
    };
    result.map_err(|f| xform_error(xform.name(), f))
}

fn xform_error(plugin: &str, failure: super::XformFailure) -> MigrateError {
    MigrateError::Xform {
        plugin: plugin.to_string(),
        key: failure.key.unwrap_or_else(|| "(none)".to_string()),
        reason: failure.reason,
    }
}

fn rejected(plugin: &str, key: &str, rule: &str) -> MigrateError {
    MigrateError::Rejected {
        plugin: plugin.to_string(),
        key: key.to_string(),
        rule: rule.to_string(),
    }
}

/// A hook's output: one node per input, same kinds, valid; only a write
/// hook may change keys, and only an index node's. `given` and `shapes`
/// are the keys and shapes of the nodes the hook was given.
fn check_outputs(
    plugin: &str,
    given: &[String],
    shapes: &[Shape],
    after: &[KeyedNode],
    bounds: &[Bounds],
    write: bool,
) -> Result<(), MigrateError> {
    if after.len() != given.len() {
        let first = given.first().map_or("(none)", String::as_str);
        return Err(rejected(
            plugin,
            first,
            &format!(
                "a {} hook must return one node per node it was given, in order (given {}, returned {})",
                if write { "write" } else { "read" },
                given.len(),
                after.len()
            ),
        ));
    }
    for (((old_key, shape), (new_key, new)), bounds) in
        given.iter().zip(shapes).zip(after).zip(bounds)
    {
        validate::check(shape, new, bounds).map_err(|rule| rejected(plugin, old_key, &rule))?;
        if old_key == new_key {
            continue;
        }
        let index_node = matches!(new, Node::IndexInner(_) | Node::IndexLeaf(_));
        if !(write && index_node) {
            return Err(rejected(
                plugin,
                old_key,
                "only a write hook may change a key, and only an index node's",
            ));
        }
        if *new_key != model::index_node_key(&model::encode(new)) {
            return Err(rejected(
                plugin,
                old_key,
                &format!(
                    "it was given key `{}`, which is not the digest of its content: an index node's key is the digest of its bytes (docs/format.md), and the host keys every rewritten node itself — return the key you were given",
                    crate::safe_text::key(new_key)
                ),
            ));
        }
    }
    Ok(())
}
