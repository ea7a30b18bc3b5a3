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
    self, DatabaseInfo, Datom, Index, IndexRoots, Node, TxLogEntry, TxLogHead, Value, builtin,
    tx_entity,
};
use crate::store::{CreateOutcome, ReplaceOutcome, ValueStore};

use super::tree::{NewNode, Tree};
use super::tx_build::TxBuilder;
use super::{Database, DbError, TxOp, TxReport};

/// Most datoms a leaf holds before it splits.
pub const LEAF_CAPACITY: usize = 128;
/// Most children an inner node holds before it splits.
pub const INNER_CAPACITY: usize = 128;

/// How many nodes one `create_many` call carries.
const WRITE_BATCH: usize = 128;

/// Node capacities of the index trees a writer builds. The default is
/// [`LEAF_CAPACITY`] / [`INNER_CAPACITY`]; tests use small ones to get deep
/// trees from few datoms. Readers work with any shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeShape {
    /// Most datoms per leaf (at least 1).
    pub leaf_capacity: usize,
    /// Most children per inner node (at least 2).
    pub inner_capacity: usize,
}

impl Default for TreeShape {
    fn default() -> Self {
        TreeShape {
            leaf_capacity: LEAF_CAPACITY,
            inner_capacity: INNER_CAPACITY,
        }
    }
}

impl TreeShape {
    /// The same shape with capacities raised to their minimum.
    pub(crate) fn sane(self) -> TreeShape {
        TreeShape {
            leaf_capacity: self.leaf_capacity.max(1),
            inner_capacity: self.inner_capacity.max(2),
        }
    }
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
        Database::create_with(store, id, now_ms(), TreeShape::default()).await
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
        let db = Database { store, info };
        let (entry, _) = db.bootstrap_entry(instant_ms, shape).await?;
        db.append_entry(&entry).await?;
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
        self.transact_with(ops, now_ms(), TreeShape::default())
            .await
    }

    /// [`Database::transact`] with a given instant (milliseconds since the
    /// epoch), for deterministic databases.
    pub async fn transact_at(&self, ops: Vec<TxOp>, instant_ms: i64) -> Result<TxReport, DbError> {
        self.transact_with(ops, instant_ms, TreeShape::default())
            .await
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
        let count = self.head().await?.count;
        let last = count
            .checked_sub(1)
            .ok_or(DbError::NoSuchTransaction { tx: 0, count })?;
        let snapshot = self.snapshot_of(self.entry(last).await?).await?;
        let built = TxBuilder::new(&snapshot, count)
            .build(ops, instant_ms)
            .await?;
        let (roots, _) = self
            .grow_trees(&snapshot.entry.roots, &built.datoms, shape)
            .await?;
        let entry = TxLogEntry {
            tx: count,
            instant: instant_ms,
            datoms: built.datoms,
            roots,
            next_entity: built.next_entity,
        };
        self.append_entry(&entry).await?;
        Ok(TxReport {
            tx: count,
            tempids: built.tempids,
            datoms: entry.datoms,
        })
    }

    /// Stores the index trees of transaction 0 (the built-in attributes and
    /// `:db/txInstant instant_ms`) and returns its entry, not yet stored.
    pub(super) async fn bootstrap_entry(
        &self,
        instant_ms: i64,
        shape: TreeShape,
    ) -> Result<(TxLogEntry, WriteCounts), DbError> {
        let datoms = bootstrap_tx_datoms(instant_ms);
        let (roots, counts) = self
            .grow_trees(&IndexRoots::default(), &datoms, shape)
            .await?;
        let entry = TxLogEntry {
            tx: 0,
            instant: instant_ms,
            datoms,
            roots,
            next_entity: BOOTSTRAP_NEXT_ENTITY,
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
    async fn write_nodes(&self, nodes: Vec<NewNode>) -> Result<WriteCounts, DbError> {
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

    /// Creates entry `entry.tx` and moves the head from `{tx}` to `{tx + 1}`.
    async fn append_entry(&self, entry: &TxLogEntry) -> Result<(), DbError> {
        let n = entry.tx;
        let key = model::entry_key(&self.info.tx_log, n);
        let bytes = model::encode_at(&key, &Node::TxLogEntry(entry.clone()));
        if let CreateOutcome::Existed(stored) = self.store.create(self.id(), &key, &bytes).await?
            && stored != bytes
        {
            return Err(self.concurrent(format!(
                "transaction {n} was taken by another writer, or a writer that stopped before committing left entry `{key}` behind (when no writer is running, `eva-admin db repair` takes it back)"
            )));
        }
        let log = &self.info.tx_log;
        let head = |count| model::encode_at(log, &Node::TxLogHead(TxLogHead { count }));
        let mut expected = (n > 0).then(|| head(n));
        // The entry and its trees must be on disk before the head names them.
        self.store.flush().await?;
        loop {
            let outcome = self
                .store
                .replace(self.id(), log, expected.as_deref(), &head(n + 1))
                .await?;
            match outcome {
                ReplaceOutcome::Replaced => {
                    self.entry_still_stored(&key, &bytes).await;
                    return Ok(());
                }
                // A head at `n` as an earlier build wrote it (unsealed):
                // the same head, other bytes; move it from those.
                ReplaceOutcome::Mismatch(Some(stored))
                    if expected.as_deref() != Some(stored.as_slice())
                        && matches!(
                            model::decode_at(log, &stored),
                            Ok(Node::TxLogHead(TxLogHead { count })) if count == n
                        ) =>
                {
                    expected = Some(stored);
                }
                ReplaceOutcome::Mismatch(_) => {
                    return Err(self.concurrent(format!(
                        "the tx-log head moved past {n} while transaction {n} was being written"
                    )));
                }
            }
        }
    }

    /// After the head moved over entry `key` (the transaction committed):
    /// stores it again if a `db repair` run meanwhile, against its
    /// instructions, took it back as uncommitted. Nobody else may write
    /// this key once the head is past it. What fails here is logged, not
    /// returned: the transaction is committed either way.
    async fn entry_still_stored(&self, key: &str, bytes: &[u8]) {
        match self.store.create(self.id(), key, bytes).await {
            Ok(CreateOutcome::Existed(stored)) if stored != bytes => {
                tracing::error!(
                    key,
                    "a committed tx-log entry holds other bytes than were written"
                );
            }
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(key, %err, "could not confirm a committed tx-log entry is stored");
            }
        }
    }

    fn concurrent(&self, what: String) -> DbError {
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
