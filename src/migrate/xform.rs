//! The seam where node-level transforms (plugins) sit around the copier.
//! A transform sees batches of decoded nodes; the copier validates what each
//! one returns (see `validate`) before anything is written.

use crate::model::Node;

/// A node with its key, as transforms see it.
pub type KeyedNode = (String, Node);

/// Why a transform failed: the node it was working on, if known, and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct XformFailure {
    /// The first key of the batch, or the node at fault.
    pub key: Option<String>,
    /// What went wrong (trap, timeout, out of memory, the guest's own error…).
    pub reason: String,
}

/// One node-level transform, usually one plugin. Several run in the order
/// given; the copier validates the output of each before the next sees it.
pub trait NodeXform: Send {
    /// The name used in messages (the plugin's name or file).
    fn name(&self) -> &str;

    /// Whether it has a read hook (sees nodes as read from the source).
    fn has_read(&self) -> bool;

    /// Whether it has a write hook (sees nodes before they are written).
    fn has_write(&self) -> bool;

    /// The read hook: may transform nodes or leave some out (skip them).
    fn read(&mut self, batch: Vec<KeyedNode>) -> Result<Vec<KeyedNode>, XformFailure>;

    /// The write hook: returns one node per node given, in order; may change
    /// an index node's key (the copier remaps references to it).
    fn write(&mut self, batch: Vec<KeyedNode>) -> Result<Vec<KeyedNode>, XformFailure>;

    /// What this transform is, beyond its name: equal fingerprints mean the
    /// same rewrite (for a plugin, the digest of its component and its
    /// configuration). A destination records the chain it was written
    /// through, and a later run through another chain is refused.
    fn fingerprint(&self) -> String {
        String::new()
    }

    /// Called once after the run's last batch; the transform's own report.
    fn finish(&mut self) -> Result<String, XformFailure>;

    /// Counters for the run summary (calls, nodes, time…), as JSON.
    fn metrics(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}

/// The transforms of one run, in order.
pub type Xforms<'a> = &'a mut [Box<dyn NodeXform>];
