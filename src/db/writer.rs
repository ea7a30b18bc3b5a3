//! The transaction writer: creating a database and committing transactions.
//!
//! A commit writes, in order: the new index nodes (content-addressed, so a
//! node already present with equal bytes is fine), the tx-log entry `n`
//! (create-only: a present entry means another writer took `n`), then the
//! head `{n}` → `{n + 1}` by compare-and-set. Readers go by the head, so a
//! transaction is visible exactly when the head moves.

use std::collections::HashSet;
use std::sync::Arc;

use crate::model::{
    self, DatabaseInfo, Datom, Format, Index, IndexRoots, Lag, Node, TxLogEntry, TxLogHead, Value,
    builtin, tx_entity,
};
use crate::store::{CreateOutcome, ReplaceOutcome, ValueStore};

use super::lagging::Lagging;
use super::tree::{NewNode, Tree};
use super::{Database, DbError, Snapshot, TxOp, TxReport};

/// Most datoms a leaf holds before it splits (format 1).
pub const LEAF_CAPACITY: usize = 128;
/// Most children an inner node holds before it splits (format 1).
pub const INNER_CAPACITY: usize = 128;
/// Most datoms a format 2 leaf holds: compact datoms take a few bytes
/// each, so a leaf of 512 is a few KB.
pub const LEAF_CAPACITY_V2: usize = 512;
/// Datoms of novelty a format 2 writer gathers before it indexes them.
pub const NOVELTY_THRESHOLD: usize = 32 * 1024;
/// How many runs of one size tier a format 2 indexing merges into one.
pub const FAN_IN: usize = 4;
/// Runs of this many datoms or more are never merged again.
pub const RUN_CAP: usize = 512 * 1024;

/// How many nodes one `create_many` call carries.
const WRITE_BATCH: usize = 128;

/// How a writer lays out a database's indexes: the format a new database
/// is created in, node capacities and, in format 2, when to index and
/// merge. The default is format 1 with [`LEAF_CAPACITY`] /
/// [`INNER_CAPACITY`]; [`TreeShape::format2`] gives format 2's. Tests use
/// small numbers to exercise every mechanism with few datoms. Readers work
/// with any shape; an existing database keeps its format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeShape {
    /// The format a database created with this shape is written in.
    pub format: Format,
    /// Most datoms per leaf (at least 1).
    pub leaf_capacity: usize,
    /// Most children per inner node (at least 2).
    pub inner_capacity: usize,
    /// Format 2: datoms of novelty gathered before indexing (at least 1).
    pub novelty_threshold: usize,
    /// Format 2: runs of one size tier merged into one (at least 2).
    pub fan_in: usize,
    /// Format 2: runs of this many datoms are never merged again.
    pub run_cap: usize,
}

impl Default for TreeShape {
    fn default() -> Self {
        TreeShape::format1(LEAF_CAPACITY, INNER_CAPACITY)
    }
}

impl TreeShape {
    /// Format 1 with the given node capacities.
    pub const fn format1(leaf_capacity: usize, inner_capacity: usize) -> TreeShape {
        TreeShape {
            format: Format::V1,
            leaf_capacity,
            inner_capacity,
            novelty_threshold: NOVELTY_THRESHOLD,
            fan_in: FAN_IN,
            run_cap: RUN_CAP,
        }
    }

    /// Format 2's default layout.
    pub fn format2() -> TreeShape {
        TreeShape {
            format: Format::V2,
            leaf_capacity: LEAF_CAPACITY_V2,
            ..TreeShape::default()
        }
    }

    /// The default layout of `format`.
    pub fn of_format(format: Format) -> TreeShape {
        match format {
            Format::V1 => TreeShape::default(),
            Format::V2 => TreeShape::format2(),
        }
    }

    /// The same shape with every number raised to its minimum.
    pub(crate) fn sane(self) -> TreeShape {
        TreeShape {
            leaf_capacity: self.leaf_capacity.max(1),
            inner_capacity: self.inner_capacity.max(2),
            // A reader merges at most MAX_LAG_ENTRIES entries onto an index
            // set; a transaction holds at least one datom.
            novelty_threshold: self
                .novelty_threshold
                .clamp(1, super::lagging::MAX_LAG_ENTRIES as usize),
            fan_in: self.fan_in.max(2),
            run_cap: self.run_cap.max(1),
            ..self
        }
    }
}

/// Where a new entry's index is, and the state a reader of it needs.
pub(crate) struct Indexed {
    /// Format 1: the trees after it.
    pub roots: IndexRoots,
    /// Format 2: the index set it lags.
    pub lag: Option<Lag>,
    /// Format 2: that index set and the novelty after it.
    pub lagging: Option<Arc<Lagging>>,
    /// What storing the index nodes did.
    pub counts: WriteCounts,
}

/// What storing a set of immutable nodes did: how many were created, how
/// many were already present (with equal bytes), in how many round trips.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteCounts {
    /// Nodes created.
    pub created: u64,
    /// Bytes of the created nodes.
    pub bytes_created: u64,
    /// Nodes whose key already held the same bytes.
    pub existed: u64,
    /// `create_many` round trips.
    pub batches: u64,
}

impl WriteCounts {
    /// Counts one create of `bytes` with its outcome.
    pub(crate) fn count(&mut self, bytes: &[u8], outcome: &CreateOutcome) {
        if outcome.created() {
            self.created += 1;
            self.bytes_created += bytes.len() as u64;
        } else {
            self.existed += 1;
        }
    }

    /// Adds another count to this one.
    pub fn add(&mut self, other: WriteCounts) {
        self.created += other.created;
        self.bytes_created += other.bytes_created;
        self.existed += other.existed;
        self.batches += other.batches;
    }
}

/// The attributes whose datoms change the schema.
pub(super) const SCHEMA_ATTRIBUTES: [u64; 4] = [
    builtin::IDENT,
    builtin::VALUE_TYPE,
    builtin::CARDINALITY,
    builtin::UNIQUE,
];

/// The entity counters after transaction 0 (Db, Tx, User).
pub(crate) const BOOTSTRAP_NEXT_ENTITY: [u64; 3] = [builtin::FIRST_USER_ATTRIBUTE, 1, 1];

/// The datoms of transaction 0 committed at `instant_ms`: the built-in
/// attributes, then the transaction's `:db/txInstant`.
pub(crate) fn bootstrap_tx_datoms(instant_ms: i64) -> Vec<Datom> {
    let mut datoms = builtin::bootstrap_datoms();
    datoms.push(Datom {
        e: tx_entity(0),
        a: builtin::TX_INSTANT,
        v: Value::Instant(instant_ms),
        tx: 0,
        added: true,
    });
    datoms
}

impl Database {
    /// Creates database `id` in `store` with the bootstrap schema as
    /// transaction 0; [`DbError::DatabaseExists`] when the id is taken.
    pub async fn create(store: Arc<dyn ValueStore>, id: &str) -> Result<Database, DbError> {
        Database::create_in(store, id, Format::V1).await
    }

    /// [`Database::create`] in storage format `format`.
    pub async fn create_in(
        store: Arc<dyn ValueStore>,
        id: &str,
        format: Format,
    ) -> Result<Database, DbError> {
        Database::create_with(store, id, now_ms(), TreeShape::of_format(format)).await
    }

    /// [`Database::create`] with a given instant for transaction 0 and tree
    /// shape (deterministic databases, tests).
    pub async fn create_with(
        store: Arc<dyn ValueStore>,
        id: &str,
        instant_ms: i64,
        shape: TreeShape,
    ) -> Result<Database, DbError> {
        model::check_database_id(id).map_err(|reason| DbError::InvalidId {
            id: id.escape_debug().to_string(),
            reason,
        })?;
        if store.get(id, id).await?.is_some() {
            return Err(exists(&store, id));
        }
        let info = DatabaseInfo {
            database_id: id.to_string(),
            tx_log: uuid::Uuid::new_v4().to_string(),
            identity: uuid::Uuid::new_v4().to_string(),
        };
        let db = Database::new(store, info);
        let (entry, _) = db.bootstrap_entry(instant_ms, shape).await?;
        let key = model::entry_key(&db.info.tx_log, 0);
        let bytes = model::encode_at(&key, &Node::TxLogEntry(entry));
        db.append_entries(0, &[(key, bytes)]).await?;
        let info_bytes = model::encode_at(id, &Node::DatabaseInfo(db.info.clone()));
        // The head before database-info: a store holding this database's
        // info always holds its first entry and head.
        db.store.flush().await?;
        match db.store.replace(id, id, None, &info_bytes).await? {
            ReplaceOutcome::Replaced => Ok(db),
            ReplaceOutcome::Mismatch(_) => Err(exists(&db.store, id)),
        }
    }

    /// Commits `ops` as the next transaction, stamped with the current time.
    pub async fn transact(&self, ops: Vec<TxOp>) -> Result<TxReport, DbError> {
        self.commit(ops, now_ms(), None).await
    }

    /// [`Database::transact`] with a given instant (milliseconds since the
    /// epoch), for deterministic databases.
    pub async fn transact_at(&self, ops: Vec<TxOp>, instant_ms: i64) -> Result<TxReport, DbError> {
        self.commit(ops, instant_ms, None).await
    }

    /// [`Database::transact_at`] building trees of the given shape.
    /// [`DbError::ConcurrentWrite`] when another writer committed first;
    /// nothing of this transaction is then visible.
    pub async fn transact_with(
        &self,
        ops: Vec<TxOp>,
        instant_ms: i64,
        shape: TreeShape,
    ) -> Result<TxReport, DbError> {
        self.commit(ops, instant_ms, Some(shape)).await
    }

    /// Commits `ops` in `shape`, by default the default shape of the
    /// database's format: a batch of one.
    pub(crate) async fn commit(
        &self,
        ops: Vec<TxOp>,
        instant_ms: i64,
        shape: Option<TreeShape>,
    ) -> Result<TxReport, DbError> {
        let mut batch = self.batch().await?;
        let report = batch.transact(ops, instant_ms, shape).await?;
        batch.commit().await?;
        Ok(report)
    }

    /// Indexes transaction `tx`'s `datoms` on top of `last` (the snapshot
    /// of the entry before it), in that database's format, storing the
    /// index nodes it writes; the entry is the caller's to store.
    pub(crate) async fn index_next(
        &self,
        last: &Snapshot,
        tx: u64,
        datoms: &[Datom],
        shape: TreeShape,
    ) -> Result<Indexed, DbError> {
        match &last.lagging {
            None => {
                let (roots, counts) = self.grow_trees(&last.entry.roots, datoms, shape).await?;
                Ok(Indexed {
                    roots,
                    lag: None,
                    lagging: None,
                    counts,
                })
            }
            Some(index) => {
                let (next, lag, counts) = index.advance(self, tx, datoms, shape).await?;
                Ok(Indexed {
                    roots: IndexRoots::default(),
                    lag: Some(lag),
                    lagging: Some(Arc::new(next)),
                    counts,
                })
            }
        }
    }

    /// Stores the index trees of transaction 0 (the built-in attributes and
    /// `:db/txInstant instant_ms`) and returns its entry, not yet stored.
    pub(super) async fn bootstrap_entry(
        &self,
        instant_ms: i64,
        shape: TreeShape,
    ) -> Result<(TxLogEntry, WriteCounts), DbError> {
        let datoms = bootstrap_tx_datoms(instant_ms);
        let (roots, lag, counts) = match shape.format {
            Format::V1 => {
                let (roots, counts) = self
                    .grow_trees(&IndexRoots::default(), &datoms, shape)
                    .await?;
                (roots, None, counts)
            }
            Format::V2 => {
                let (_, lag, counts) = Lagging::bootstrap(self, &datoms, shape).await?;
                (IndexRoots::default(), Some(lag), counts)
            }
        };
        let entry = TxLogEntry {
            tx: 0,
            instant: instant_ms,
            datoms,
            roots,
            next_entity: BOOTSTRAP_NEXT_ENTITY,
            lag,
        };
        Ok((entry, counts))
    }

    /// Inserts `datoms` into the four trees at `roots`, stores the new
    /// nodes and returns the new roots.
    pub(super) async fn grow_trees(
        &self,
        roots: &IndexRoots,
        datoms: &[Datom],
        shape: TreeShape,
    ) -> Result<(IndexRoots, WriteCounts), DbError> {
        let mut new_roots = IndexRoots::default();
        let mut nodes = Vec::new();
        for index in Index::ALL {
            let mut held: Vec<Datom> = datoms.iter().filter(|d| index.holds(d)).cloned().collect();
            held.sort_by(|x, y| index.cmp(x, y));
            let tree = Tree::new(self.store.as_ref(), self.id(), index);
            let (root, new) = tree.insert(roots.get(index), &held, shape).await?;
            new_roots.set(index, root);
            nodes.extend(new);
        }
        let counts = self.write_nodes(nodes).await?;
        Ok((new_roots, counts))
    }

    /// Creates index nodes, children before parents; a key already holding
    /// the same bytes is fine (keys are content hashes).
    pub(super) async fn write_nodes(&self, nodes: Vec<NewNode>) -> Result<WriteCounts, DbError> {
        let mut seen = HashSet::new();
        let nodes: Vec<NewNode> = nodes
            .into_iter()
            .filter(|(key, _)| seen.insert(key.clone()))
            .collect();
        let mut counts = WriteCounts::default();
        for batch in nodes.chunks(WRITE_BATCH) {
            let outcomes = self.store.create_many(self.id(), batch).await?;
            counts.batches += 1;
            for ((key, bytes), outcome) in batch.iter().zip(outcomes) {
                counts.count(bytes, &outcome);
                if let CreateOutcome::Existed(stored) = outcome
                    && stored != *bytes
                {
                    return Err(DbError::NodeConflict { key: key.clone() });
                }
            }
        }
        Ok(counts)
    }

    /// Creates the entries `first, first + 1, …` (keys and sealed bytes)
    /// and moves the head from `{first}` past them: one flush and one
    /// compare-and-set for the lot (a group commit).
    pub(super) async fn append_entries(
        &self,
        first: u64,
        entries: &[NewNode],
    ) -> Result<(), DbError> {
        let Some(n) = u64::try_from(entries.len()).ok().filter(|&n| n > 0) else {
            return Ok(());
        };
        let outcomes = self.store.create_many(self.id(), entries).await?;
        for (((key, bytes), outcome), tx) in entries.iter().zip(outcomes).zip(first..) {
            if let CreateOutcome::Existed(stored) = outcome
                && stored != *bytes
            {
                return Err(self.concurrent(format!(
                    "transaction {tx} was taken by another writer, or a writer that stopped before committing left entry `{key}` behind (when no writer is running, `eva-admin db repair` takes it back)"
                )));
            }
        }
        let log = &self.info.tx_log;
        let head = |count| model::encode_at(log, &Node::TxLogHead(TxLogHead { count }));
        let mut expected = (first > 0).then(|| head(first));
        // The entries and their trees must be on disk before the head names them.
        self.store.flush().await?;
        loop {
            let outcome = self
                .store
                .replace(self.id(), log, expected.as_deref(), &head(first + n))
                .await?;
            match outcome {
                ReplaceOutcome::Replaced => {
                    self.entries_still_stored(entries).await;
                    return Ok(());
                }
                // A head at `first` as an earlier build wrote it (unsealed):
                // the same head, other bytes; move it from those.
                ReplaceOutcome::Mismatch(Some(stored))
                    if expected.as_deref() != Some(stored.as_slice())
                        && matches!(
                            model::decode_at(log, &stored),
                            Ok(Node::TxLogHead(TxLogHead { count })) if count == first
                        ) =>
                {
                    expected = Some(stored);
                }
                ReplaceOutcome::Mismatch(_) => {
                    return Err(self.concurrent(format!(
                        "the tx-log head moved past {first} while transactions {first}..{} were being written",
                        first + n
                    )));
                }
            }
        }
    }

    /// After the head moved over `entries` (they committed): stores again
    /// any that a `db repair` run meanwhile, against its instructions, took
    /// back as uncommitted. Nobody else may write these keys once the head
    /// is past them. What fails here is logged, not returned: the
    /// transactions are committed either way.
    async fn entries_still_stored(&self, entries: &[NewNode]) {
        match self.store.create_many(self.id(), entries).await {
            Ok(outcomes) => {
                for ((key, bytes), outcome) in entries.iter().zip(outcomes) {
                    if matches!(outcome, CreateOutcome::Existed(stored) if stored != *bytes) {
                        tracing::error!(
                            key,
                            "a committed tx-log entry holds other bytes than were written"
                        );
                    }
                }
            }
            Err(err) => {
                tracing::warn!(%err, "could not confirm the committed tx-log entries are stored");
            }
        }
    }

    pub(super) fn concurrent(&self, what: String) -> DbError {
        DbError::ConcurrentWrite {
            id: self.id().to_string(),
            what,
        }
    }
}

fn exists(store: &Arc<dyn ValueStore>, id: &str) -> DbError {
    DbError::DatabaseExists {
        id: id.to_string(),
        url: store.url().to_string(),
    }
}

/// Milliseconds since the epoch, now.
fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
