//! The seam where plugins (read- and write-xforms) will sit around the
//! copier. For now only the identity exists; the plugin host plugs in here.

use super::MigrateError;

/// Nodes crossing a step of the copier: (key, encoded bytes).
pub type NodeBatch = Vec<(String, Vec<u8>)>;

/// Transforms applied around the copier, batch by batch.
pub trait Xform: Send {
    /// Sees each batch as read from the source, before it is expanded.
    fn read(&mut self, batch: NodeBatch) -> Result<NodeBatch, MigrateError> {
        Ok(batch)
    }

    /// Sees each batch after its children are written, before it is written.
    fn write(&mut self, batch: NodeBatch) -> Result<NodeBatch, MigrateError> {
        Ok(batch)
    }

    /// Whether this transform is the identity (lets the copier skip work).
    fn is_identity(&self) -> bool {
        false
    }
}

/// The identity transform: what a migration without plugins uses.
pub struct IdentityXform;

impl Xform for IdentityXform {
    fn is_identity(&self) -> bool {
        true
    }
}
