//! P2: what a node-level plugin costs — a full migration through the
//! identity plugin against one without plugins, and the host's cost per
//! node of a plugin call at several batch sizes.

use std::path::Path;
use std::sync::Arc;

use crate::db::Database;
use crate::migrate::{KeyedNode, NodeXform, XformFailure};
use crate::plugin::{Idents, Plugin, PluginError, PluginOptions, load_xforms};

use super::super::BenchError;
use super::super::lab::Lab;
use super::super::plugin_cost::{cost_per_node, idents_of, mean_datoms, sample_leaves};
use super::{Pairs, Tick, migrate_timed, side_by_side};

/// Leaves the per-node cost is measured on.
const LEAVES: usize = 2048;

/// For each run: a full migration without plugins, then one through
/// `plugin` (loaded and initialised before the clock starts). Seconds of
/// each.
pub(crate) async fn identity_vs_none(
    lab: &mut Lab,
    plugin: &Path,
    options: &PluginOptions,
    runs: usize,
    tick: Tick<'_>,
) -> Result<Pairs, BenchError> {
    let idents = source_idents(lab).await?;
    side_by_side(runs, tick, async |_| {
        let plain = lab.sled("p2-plain").await?;
        let (_, plain_secs) = migrate_timed(lab, &lab.source, &plain.store, &mut []).await?;
        lab.discard(plain).await?;

        let mut xforms = load(plugin, options, idents.clone()).await?;
        let through = lab.sled("p2-plugin").await?;
        let (_, plugin_secs) = migrate_timed(lab, &lab.source, &through.store, &mut xforms).await?;
        lab.discard(through).await?;
        Ok((plain_secs, plugin_secs))
    })
    .await
}

/// For each run: a full migration without transforms, then one through
/// [`NativeIdentity`]. Seconds of each: what any transform that sees whole
/// nodes costs before a single one crosses into a plugin.
pub(crate) async fn native_identity_vs_none(
    lab: &mut Lab,
    runs: usize,
    tick: Tick<'_>,
) -> Result<Pairs, BenchError> {
    side_by_side(runs, tick, async |_| {
        let plain = lab.sled("p2-floor-plain").await?;
        let (_, plain_secs) = migrate_timed(lab, &lab.source, &plain.store, &mut []).await?;
        lab.discard(plain).await?;

        let mut xforms: Vec<Box<dyn NodeXform>> = vec![Box::new(NativeIdentity)];
        let through = lab.sled("p2-floor-native").await?;
        let (_, native_secs) = migrate_timed(lab, &lab.source, &through.store, &mut xforms).await?;
        lab.discard(through).await?;
        Ok((plain_secs, native_secs))
    })
    .await
}

/// A transform compiled into the host with both hooks, returning every
/// batch unchanged. With it the copier does what it does for any transform
/// (decodes every node whole, checks what comes back, encodes it again)
/// and nothing crosses into a sandbox: the floor under P2.
struct NativeIdentity;

impl NodeXform for NativeIdentity {
    fn name(&self) -> &str {
        "native identity"
    }

    fn has_read(&self) -> bool {
        true
    }

    fn has_write(&self) -> bool {
        true
    }

    fn read(&mut self, batch: Vec<KeyedNode>) -> Result<Vec<KeyedNode>, XformFailure> {
        Ok(batch)
    }

    fn write(&mut self, batch: Vec<KeyedNode>) -> Result<Vec<KeyedNode>, XformFailure> {
        Ok(batch)
    }

    fn finish(&mut self) -> Result<String, XformFailure> {
        Ok(String::new())
    }
}

/// The host's cost per node of calling `plugin`'s read hook on up to 2048
/// of the source's index leaves, conversions included, at each of
/// `batches`; after one warm-up pass, one pass per batch size per run.
/// Microseconds per node: one sample per run for each batch size, and the
/// mean datoms per leaf.
pub(crate) async fn host_cost_per_node(
    lab: &Lab,
    plugin: &Path,
    options: &PluginOptions,
    batches: &[usize],
    runs: usize,
    tick: Tick<'_>,
) -> Result<(Vec<Vec<f64>>, f64), BenchError> {
    let idents = Arc::new(source_idents(lab).await?);
    let leaves = Arc::new(sample_leaves(lab.source.as_ref(), &lab.id, LEAVES).await?);
    let mean = mean_datoms(&leaves);
    let path = plugin.to_path_buf();
    let shown = plugin.to_path_buf();
    let options = options.clone();
    let mut plugin = blocking(&shown, {
        let (leaves, idents) = (leaves.clone(), idents.clone());
        move || {
            let mut plugin = Plugin::load(&path, &options)?;
            plugin.init(&[])?;
            cost_per_node(&mut plugin, &leaves, &idents, 16)?;
            Ok(plugin)
        }
    })
    .await?;
    let mut samples = vec![Vec::new(); batches.len()];
    for _ in 0..runs {
        let (leaves, idents, batches) = (leaves.clone(), idents.clone(), batches.to_vec());
        let (back, costs) = blocking(&shown, move || {
            let costs = batches
                .iter()
                .map(|&batch| cost_per_node(&mut plugin, &leaves, &idents, batch))
                .collect::<Result<Vec<f64>, _>>()?;
            Ok((plugin, costs))
        })
        .await?;
        plugin = back;
        for (slot, cost) in samples.iter_mut().zip(costs) {
            slot.push(cost);
        }
        tick();
    }
    Ok((samples, mean))
}

/// Runs plugin work `f` off the async threads.
async fn blocking<T: Send + 'static>(
    plugin: &Path,
    f: impl FnOnce() -> Result<T, PluginError> + Send + 'static,
) -> Result<T, BenchError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BenchError::Unsound {
            what: format!("calling plugin `{}`", plugin.display()),
            detail: e.to_string(),
        })?
        .map_err(BenchError::from)
}

async fn source_idents(lab: &Lab) -> Result<Idents, BenchError> {
    let db = Database::open(lab.source.clone(), &lab.id).await?;
    Ok(idents_of(&db).await?)
}

/// Loads `plugin` as the only transform, off the async threads.
async fn load(
    plugin: &Path,
    options: &PluginOptions,
    idents: Idents,
) -> Result<Vec<Box<dyn NodeXform>>, BenchError> {
    let configured = vec![(plugin.to_path_buf(), Vec::new())];
    let options = options.clone();
    blocking(plugin, move || load_xforms(&configured, &options, idents)).await
}
