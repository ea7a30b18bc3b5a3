//! Continuity: a run continues a destination only from the history it was
//! copied from. A source restored from a backup and written to, or a copy
//! grown apart from the original, shares its database identity with the
//! destination but not its entries past the fork; continuing from it
//! would leave the destination with the head of one history on the body of
//! another. The status record notes a digest of the last source entry
//! copied, and the next run compares the source's entry with it before it
//! writes anything.

use serde::{Deserialize, Serialize};

use crate::db::DbError;
use crate::model::{DatabaseInfo, entry_key, sha256_hex};
use crate::store::ValueStore;

use super::MigrateError;

/// The last source entry a run copied, as a status record notes it: its
/// number and the SHA-256 of its stored bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceEntryDigest {
    /// The entry's number.
    pub tx: u64,
    /// SHA-256 of the source's stored bytes of that entry, in hex.
    pub sha256: String,
}

/// Reads entry `tx` of the source (one the run copied, so present) and
/// digests it, for the status record.
pub(crate) async fn digest_source_entry(
    src: &dyn ValueStore,
    info: &DatabaseInfo,
    tx: u64,
) -> Result<SourceEntryDigest, MigrateError> {
    let key = entry_key(&info.tx_log, tx);
    let bytes = read_entry(src, info, tx, Side::Source)
        .await?
        .ok_or(MigrateError::Source(DbError::MissingNode { key }))?;
    Ok(SourceEntryDigest {
        tx,
        sha256: sha256_hex(&bytes),
    })
}

/// Refuses to continue from a source whose history is not the one the
/// destination was copied from: the entry `noted` names must be in the
/// source with the same bytes. When no digest was noted (records of earlier
/// versions) and the destination holds the source's bytes as they are
/// (`same_bytes`: a plain migration without transforms), the destination's
/// last entry below `head` is compared with the source's instead.
pub(crate) async fn check_continuity(
    src: &dyn ValueStore,
    dst: &dyn ValueStore,
    info: &DatabaseInfo,
    noted: Option<&SourceEntryDigest>,
    head: Option<u64>,
    same_bytes: bool,
) -> Result<(), MigrateError> {
    let diverged = match noted {
        Some(noted) => {
            let now = read_entry(src, info, noted.tx, Side::Source).await?;
            match now {
                Some(bytes) => (sha256_hex(&bytes) != noted.sha256).then_some(noted.tx),
                None => Some(noted.tx),
            }
        }
        None => match head.and_then(|h| h.checked_sub(1)) {
            Some(last) if same_bytes => {
                (!entries_equal(src, dst, info, last).await?).then_some(last)
            }
            _ => None,
        },
    };
    let Some(checked) = diverged else {
        return Ok(());
    };
    let first = if same_bytes {
        first_differing(src, dst, info, checked).await?
    } else {
        None
    };
    Err(MigrateError::SourceDiverged {
        checked,
        first_differing: first,
    })
}

/// The first entry in `0..=last` whose bytes differ between the two sides,
/// by bisection (entries below a fork are equal, from it on they differ);
/// `None` if entry `last` does not differ after all.
async fn first_differing(
    src: &dyn ValueStore,
    dst: &dyn ValueStore,
    info: &DatabaseInfo,
    last: u64,
) -> Result<Option<u64>, MigrateError> {
    if entries_equal(src, dst, info, last).await? {
        return Ok(None);
    }
    let (mut equal_below, mut differs) = (0, last);
    while equal_below < differs {
        let mid = equal_below + (differs - equal_below) / 2;
        if entries_equal(src, dst, info, mid).await? {
            equal_below = mid + 1;
        } else {
            differs = mid;
        }
    }
    Ok(Some(differs))
}

async fn entries_equal(
    src: &dyn ValueStore,
    dst: &dyn ValueStore,
    info: &DatabaseInfo,
    tx: u64,
) -> Result<bool, MigrateError> {
    let ours = read_entry(src, info, tx, Side::Source).await?;
    let theirs = read_entry(dst, info, tx, Side::Destination).await?;
    Ok(ours == theirs)
}

#[derive(Clone, Copy)]
enum Side {
    Source,
    Destination,
}

async fn read_entry(
    store: &dyn ValueStore,
    info: &DatabaseInfo,
    tx: u64,
    side: Side,
) -> Result<Option<Vec<u8>>, MigrateError> {
    let read = store
        .get(&info.database_id, &entry_key(&info.tx_log, tx))
        .await;
    match side {
        Side::Source => read.map_err(MigrateError::source_store),
        Side::Destination => read.map_err(MigrateError::destination_store),
    }
}
