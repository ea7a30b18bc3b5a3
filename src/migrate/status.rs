//! The migration status record `<database-id>.<suffix>` in the destination:
//! what the last run did and what it left there. Written by compare-and-set
//! only, as JSON (so an operator can read it with any store client).

use serde::{Deserialize, Serialize};

use crate::store::ValueStore;

use super::MigrateError;
use super::continuity::SourceEntryDigest;

/// The status record's key suffix unless `--status-suffix` says otherwise.
pub const DEFAULT_STATUS_SUFFIX: &str = "migration-status";

/// Where a migration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MigrationState {
    /// Entries are being copied, or the roots are being moved to
    /// `target_head`; the head is either as before the run or at its target.
    InProgress,
    /// All entries are copied; the roots are being moved to `target_head`.
    /// Written by earlier versions (a run now notes its target from the
    /// start, saving a durable write at the end); still read and resumed.
    Finalizing,
    /// The destination's roots name the source as of `source_head`.
    Complete,
}

impl MigrationState {
    /// Human name.
    pub fn name(self) -> &'static str {
        match self {
            MigrationState::InProgress => "in progress",
            MigrationState::Finalizing => "finalizing",
            MigrationState::Complete => "complete",
        }
    }
}

/// The content of the status record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationStatus {
    /// Where the migration stands.
    pub state: MigrationState,
    /// The last tx-log entry fully written (it and everything below it), if any.
    pub last_migrated: Option<u64>,
    /// The source's entry count when the run that wrote this started (its snapshot).
    pub source_head: u64,
    /// The destination's tx-log head count as this run left it (`None`: no head yet).
    pub destination_head: Option<u64>,
    /// While a run is under way: the count it moves the head to at its end.
    /// A destination whose head is there (the run stopped between moving
    /// the head and writing `Complete`) is accepted and completed.
    pub target_head: Option<u64>,
    /// In a `Complete` record: the head count the run moved the head from,
    /// when the head move and this record were made durable together (an
    /// embedded store may then keep the record but lose the move in a
    /// crash). A destination whose head is still there is completed by the
    /// next run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_head: Option<u64>,
    /// The identity stamped on the destination's database-info: the source
    /// database's (plain migration) or the one derived for a rebuild.
    pub identity: String,
    /// Present when the destination is a rebuild (see `docs/migration.md`):
    /// a plain migration into it is refused, and so is a rebuild into a
    /// destination without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebuild: Option<RebuildRecord>,
    /// For a plain migration: the node-level transforms every node of the
    /// destination went through, in order (empty: none), recorded before
    /// the first node is written. A later run must name the same chain, so
    /// that nodes written through one chain (say by a run that failed
    /// half-way) are never mixed with nodes written through another.
    /// `None` in records of earlier versions, which did not note it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transforms: Option<Vec<TransformRecord>>,
    /// The last source entry copied, by digest: a later run continues only
    /// from a source whose entry is still that one (`continuity.rs`).
    /// `None` in records of earlier versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_entry: Option<SourceEntryDigest>,
    /// When this record was written (RFC 3339, UTC).
    pub updated: String,
}

impl MigrationStatus {
    /// The first record of a run copying entries `start..end` into a
    /// destination whose head is at `destination_head`: in progress, and
    /// naming from the start the head the run moves to, so that no write of
    /// its own is needed between the last node and the head's move.
    pub(crate) fn starting(
        start: u64,
        end: u64,
        destination_head: Option<u64>,
        identity: String,
        rebuild: Option<RebuildRecord>,
        transforms: Option<Vec<TransformRecord>>,
    ) -> MigrationStatus {
        MigrationStatus {
            state: MigrationState::InProgress,
            last_migrated: start.checked_sub(1),
            source_head: end,
            destination_head,
            target_head: Some(end),
            previous_head: None,
            identity,
            rebuild,
            transforms,
            source_entry: None,
            updated: String::new(),
        }
    }

    /// The record once the roots are at `end`: complete, and noting the
    /// last entries copied (no checkpoint is written after the last entry)
    /// and the head count the move left behind when it may not yet be
    /// durable (`moved_from`).
    pub(crate) fn complete_at(&mut self, end: u64, moved_from: Option<u64>) {
        self.last_migrated = end.checked_sub(1);
        self.state = MigrationState::Complete;
        self.destination_head = Some(end);
        self.target_head = None;
        self.previous_head = moved_from;
    }
}

/// One node-level transform a destination was written through: its name
/// and a fingerprint of what it is (for a plugin: the digest of its
/// component and of its configuration pairs), so a changed plugin or
/// configuration is a different transform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransformRecord {
    /// The name it describes itself with.
    pub name: String,
    /// What it is; equal fingerprints, equal transforms.
    pub fingerprint: String,
}

/// A chain of transforms in words, for messages: `a, b`, or `no plugin`.
pub fn chain_list(chain: &[TransformRecord]) -> String {
    if chain.is_empty() {
        "no plugin".to_string()
    } else {
        chain
            .iter()
            .map(|t| format!("{} ({})", t.name, short(&t.fingerprint)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn short(fingerprint: &str) -> &str {
    fingerprint.get(..12).unwrap_or(fingerprint)
}

/// What the status record says about a rebuild.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebuildRecord {
    /// The source database's identity.
    pub source_identity: String,
    /// The names of the transforms the source's transactions went through,
    /// in order; a later run must name the same.
    pub transforms: Vec<String>,
}

impl RebuildRecord {
    /// The transform names for messages: `a, b`, or `no transform`.
    pub fn transform_list(&self) -> String {
        if self.transforms.is_empty() {
            "no transform".to_string()
        } else {
            self.transforms.join(", ")
        }
    }
}

/// The key of the status record of database `id`.
pub fn status_key(id: &str, suffix: &str) -> String {
    format!("{id}.{suffix}")
}

/// Reads the status record: the decoded record and its raw bytes (the
/// expected value of the next compare-and-set), or `None` when absent.
pub async fn read_status(
    dst: &dyn ValueStore,
    id: &str,
    suffix: &str,
) -> Result<Option<(MigrationStatus, Vec<u8>)>, MigrateError> {
    let key = status_key(id, suffix);
    let Some(raw) = dst
        .get(id, &key)
        .await
        .map_err(MigrateError::destination_store)?
    else {
        return Ok(None);
    };
    let status = serde_json::from_slice(&raw).map_err(|e| MigrateError::BadStatus {
        key,
        reason: e.to_string(),
    })?;
    Ok(Some((status, raw)))
}

/// Writes the status record by compare-and-set against `expected` (the raw
/// bytes last read or written); returns the new raw bytes.
pub async fn write_status(
    dst: &dyn ValueStore,
    id: &str,
    suffix: &str,
    expected: Option<&[u8]>,
    status: &MigrationStatus,
) -> Result<Vec<u8>, MigrateError> {
    let key = status_key(id, suffix);
    let mut status = status.clone();
    status.updated = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let raw = serde_json::to_vec_pretty(&status).map_err(|e| MigrateError::BadStatus {
        key: key.clone(),
        reason: e.to_string(),
    })?;
    let outcome = dst
        .replace(id, &key, expected, &raw)
        .await
        .map_err(MigrateError::destination_store)?;
    if outcome.replaced() {
        Ok(raw)
    } else {
        Err(MigrateError::StatusConflict { key })
    }
}
