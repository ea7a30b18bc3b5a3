//! The deterministic demo-data generator: a schema of every value type,
//! then transactions that create people, update them (cardinality-one
//! replacement), retract tags and friendships, and link people by refs, so
//! the history is not trivial. The same seed gives the same datoms, and
//! transaction instants are fixed (`BASE_INSTANT_MS + tx × 1000`).

mod plan;
mod schema;

use super::{Database, DbError, TreeShape};

/// The instant of transaction 0 in generated data: 2024-01-01T00:00:00Z.
/// Transaction `t` is stamped `BASE_INSTANT_MS + t * 1000`.
pub const BASE_INSTANT_MS: i64 = 1_704_067_200_000;

/// How many generated transactions are committed together (one flush and
/// one head move for the lot; see `src/db/batch.rs`).
const GROUP_COMMIT: usize = 100;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenerateOptions {
    /// Data transactions to commit (after the schema transaction).
    pub txs: u64,
    /// Statements per data transaction (the writer adds the tx instant and
    /// the retractions that cardinality-one replacement implies).
    pub datoms_per_tx: usize,
    /// The seed of the random choices.
    pub seed: u64,
}

/// What a generator run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GenerateSummary {
    /// Whether this run committed the schema transaction (false when the
    /// database already had the demo schema).
    pub schema_committed: bool,
    /// The first data transaction's number.
    pub first_tx: u64,
    /// Data transactions committed.
    pub transactions: u64,
    /// Statements submitted across them.
    pub statements: u64,
    /// Datoms the writer wrote across all committed transactions.
    pub datoms: u64,
    /// People the planner created (and remembers, up to its pool size).
    pub people: u64,
    /// The tx-log's length afterwards.
    pub entries: u64,
}

/// The instant generated transaction `tx` is stamped with.
pub fn instant_of(tx: u64) -> i64 {
    BASE_INSTANT_MS.saturating_add(
        i64::try_from(tx)
            .unwrap_or(i64::MAX / 1000)
            .saturating_mul(1000),
    )
}

/// Generates `opts.txs` transactions into `db`, first defining the demo
/// schema unless the database has it. `progress` is called with the number
/// of data transactions committed so far, after each group commit.
pub async fn generate(
    db: &Database,
    opts: &GenerateOptions,
    progress: impl FnMut(u64),
) -> Result<GenerateSummary, DbError> {
    generate_in(db, opts, None, progress).await
}

/// [`generate`] building index trees of `shape` (tests use small shapes to
/// get deep trees from little data).
#[cfg(test)]
pub(crate) async fn generate_shaped(
    db: &Database,
    opts: &GenerateOptions,
    shape: TreeShape,
    progress: impl FnMut(u64),
) -> Result<GenerateSummary, DbError> {
    generate_in(db, opts, Some(shape), progress).await
}

/// [`generate`] in `shape`, by default the default of the database's format.
async fn generate_in(
    db: &Database,
    opts: &GenerateOptions,
    shape: Option<TreeShape>,
    mut progress: impl FnMut(u64),
) -> Result<GenerateSummary, DbError> {
    let mut summary = GenerateSummary::default();
    let mut next_tx = db.head().await?.count;
    if !has_demo_schema(db, next_tx).await? {
        tracing::info!(tx = next_tx, "defining the demo schema");
        let report = db
            .commit(schema::schema_ops(), instant_of(next_tx), shape)
            .await?;
        summary.schema_committed = true;
        summary.datoms += report.datoms.len() as u64;
        next_tx = report.tx + 1;
    }
    summary.first_tx = next_tx;
    let mut planner = plan::Planner::new(opts.seed, next_tx);
    let mut batch = db.batch().await?;
    for done in 0..opts.txs {
        let ops = planner.plan(opts.datoms_per_tx.max(1));
        summary.statements += ops.len() as u64;
        let report = batch.transact(ops, instant_of(next_tx), shape).await?;
        tracing::debug!(
            tx = report.tx,
            datoms = report.datoms.len(),
            "generated transaction"
        );
        planner.commit(&report);
        summary.datoms += report.datoms.len() as u64;
        summary.transactions += 1;
        next_tx = report.tx + 1;
        if batch.pending() >= GROUP_COMMIT {
            batch.commit().await?;
            progress(done + 1);
        }
    }
    batch.commit().await?;
    progress(opts.txs);
    drop(batch);
    summary.people = planner.people() as u64;
    summary.entries = db.head().await?.count;
    Ok(summary)
}

/// Whether the database already defines the demo schema (then a run
/// appends data to it).
async fn has_demo_schema(db: &Database, count: u64) -> Result<bool, DbError> {
    if count <= 1 {
        return Ok(false);
    }
    let snapshot = db.snapshot().await?;
    Ok(schema::ATTRIBUTES
        .iter()
        .all(|a| snapshot.schema().by_ident(a.ident).is_some()))
}
