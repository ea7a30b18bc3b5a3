//! What a node-level plugin costs the host per node: the plugin's read hook
//! called on real index leaves, at a chosen batch size, with the
//! conversions into the guest's records and back included. Used by the
//! bench (measure P2) and by `examples/plugin_cost.rs`.

use std::sync::Arc;
use std::time::Instant;

use crate::db::Database;
use crate::migrate::KeyedNode;
use crate::model::{self, Node};
use crate::plugin::{Idents, Plugin, PluginError};
use crate::store::{StoreError, ValueStore};

/// The batch sizes the bench reports.
pub const BATCH_SIZES: [usize; 3] = [1, 16, 256];

/// The attribute idents of a database's schema, as plugins see them.
pub async fn idents_of(db: &Database) -> Result<Idents, crate::db::DbError> {
    let snapshot = db.snapshot().await?;
    Ok(Idents::new(
        snapshot
            .schema()
            .attributes()
            .map(|a| (a.id, a.ident.clone())),
    ))
}

/// Up to `max` index leaves of `namespace`, in key order, decoded.
pub async fn sample_leaves(
    store: &dyn ValueStore,
    namespace: &str,
    max: usize,
) -> Result<Vec<KeyedNode>, StoreError> {
    let mut leaves = Vec::new();
    let mut after: Option<String> = None;
    while leaves.len() < max {
        let page = store.scan(namespace, after.as_deref(), 1000).await?;
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        for (key, bytes) in page {
            if let Ok(node @ Node::IndexLeaf(_)) = model::decode(&bytes) {
                leaves.push((key, node));
                if leaves.len() == max {
                    break;
                }
            }
        }
    }
    Ok(leaves)
}

/// The mean number of datoms per leaf.
pub fn mean_datoms(leaves: &[KeyedNode]) -> f64 {
    let datoms: usize = leaves
        .iter()
        .map(|(_, n)| match n {
            Node::IndexLeaf(l) => l.datoms.len(),
            _ => 0,
        })
        .sum();
    datoms as f64 / leaves.len().max(1) as f64
}

/// Calls `plugin`'s read hook once over `leaves`, `batch` nodes per call;
/// the time per node returned, in microseconds. The batches are copied
/// from `leaves` before the clock starts.
pub fn cost_per_node(
    plugin: &mut Plugin,
    leaves: &[KeyedNode],
    idents: &Arc<Idents>,
    batch: usize,
) -> Result<f64, PluginError> {
    let batches: Vec<Vec<KeyedNode>> = leaves.chunks(batch.max(1)).map(<[_]>::to_vec).collect();
    let started = Instant::now();
    let mut nodes = 0usize;
    for chunk in batches {
        nodes += plugin.read(chunk, idents)?.len();
    }
    Ok(started.elapsed().as_secs_f64() * 1e6 / nodes.max(1) as f64)
}
