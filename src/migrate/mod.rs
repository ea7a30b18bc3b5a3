//! The stateful migration (docs/design.md §5): copies one database from a
//! source store to a destination store in post-order, create-only, resumable
//! after any crash, continuous when the source has grown, pruning subtrees
//! the destination already holds, in bounded memory. Rebuild mode
//! ([`rebuild`]) replays the source's transactions through transaction-level
//! transforms ([`TxXform`]) instead, for rewrites that change sort order.
//! Also `status` and `verify`. See `docs/migration.md`.

mod bloom;
pub(crate) mod cache;
mod checkpoint;
mod continuity;
mod copier;
mod destination;
mod error;
mod log_repair;
mod observer;
mod overlay;
mod rebuild;
mod remap;
mod repair;
mod run;
mod status;
mod tx_xform;
mod validate;
mod verify;
mod xform;

pub use continuity::SourceEntryDigest;
pub use copier::CopyStats;
pub use error::MigrateError;
pub use observer::{MigrationObserver, NoObserver};
pub use rebuild::rebuild;
pub use run::{MigrateOptions, MigrationReport, PluginSummary, migrate};
pub use status::{
    DEFAULT_STATUS_SUFFIX, MigrationState, MigrationStatus, RebuildRecord, TransformRecord,
    read_status, status_key,
};
pub use verify::{
    VerifyOptions, VerifyProgress, VerifyReport, verify, verify_rebuild, verify_through,
};

pub use log_repair::{LogRepairOptions, repair_log};
pub use remap::remap_key;
pub use repair::{RepairReport, repair};
pub use tx_xform::{TxRejection, TxRule, TxXform, XformTx};
pub use xform::{KeyedNode, NodeXform, XformFailure, Xforms};
