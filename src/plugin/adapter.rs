//! Plugins as the migration's transforms: each loaded plugin becomes one
//! [`NodeXform`] (copy mode) or [`TxXform`] (rebuild mode), applied in the
//! order given.

use std::path::PathBuf;
use std::sync::Arc;

use crate::migrate::{KeyedNode, NodeXform, TxXform, XformFailure, XformTx};

use super::{Plugin, PluginError, PluginOptions};

pub use super::convert::Idents;

/// A plugin seen by the copier.
struct PluginXform {
    plugin: Plugin,
    idents: Arc<Idents>,
    fingerprint: String,
}

fn failure(e: PluginError) -> XformFailure {
    XformFailure {
        key: e.key().map(String::from),
        reason: e.to_string(),
    }
}

impl NodeXform for PluginXform {
    fn name(&self) -> &str {
        self.plugin.name()
    }

    fn has_read(&self) -> bool {
        self.plugin.has_read()
    }

    fn has_write(&self) -> bool {
        self.plugin.has_write()
    }

    fn fingerprint(&self) -> String {
        self.fingerprint.clone()
    }

    fn read(&mut self, batch: Vec<KeyedNode>) -> Result<Vec<KeyedNode>, XformFailure> {
        self.plugin.read(batch, &self.idents).map_err(failure)
    }

    fn write(&mut self, batch: Vec<KeyedNode>) -> Result<Vec<KeyedNode>, XformFailure> {
        self.plugin.write(batch, &self.idents).map_err(failure)
    }

    fn finish(&mut self) -> Result<String, XformFailure> {
        self.plugin.finish().map_err(failure)
    }

    fn metrics(&self) -> serde_json::Value {
        serde_json::to_value(self.plugin.metrics()).unwrap_or_default()
    }
}

/// A plugin seen by the rebuild replayer.
struct PluginTxXform {
    plugin: Plugin,
}

impl TxXform for PluginTxXform {
    fn name(&self) -> &str {
        self.plugin.name()
    }

    fn transform_tx(&mut self, tx: XformTx) -> Result<XformTx, XformFailure> {
        self.plugin.transform_tx(tx).map_err(failure)
    }

    fn finish(&mut self) -> Result<String, XformFailure> {
        self.plugin.finish().map_err(failure)
    }

    fn metrics(&self) -> serde_json::Value {
        serde_json::to_value(self.plugin.metrics()).unwrap_or_default()
    }
}

/// A plugin file and the configuration pairs it receives at `init`.
pub type ConfiguredPlugin = (PathBuf, Vec<(String, String)>);

/// Loads and initializes each plugin with its configuration pairs, in
/// order; `idents` resolves attribute ids for the datoms guests see.
pub fn load_xforms(
    configured: &[ConfiguredPlugin],
    options: &PluginOptions,
    idents: Idents,
) -> Result<Vec<Box<dyn NodeXform>>, PluginError> {
    let idents = Arc::new(idents);
    load_each(configured, options, |plugin, config| {
        let fingerprint = fingerprint(plugin.digest(), config);
        Ok(Box::new(PluginXform {
            plugin,
            idents: idents.clone(),
            fingerprint,
        }) as Box<dyn NodeXform>)
    })
}

/// Loads and initializes each plugin for rebuild mode, in order; each must
/// export the `tx-xform` hook.
pub fn load_tx_xforms(
    configured: &[ConfiguredPlugin],
    options: &PluginOptions,
) -> Result<Vec<Box<dyn TxXform>>, PluginError> {
    load_each(configured, options, |plugin, _| {
        if !plugin.has_tx() {
            return Err(PluginError::Load {
                path: plugin.path().to_path_buf(),
                reason: format!(
                    "plugin `{}` has no eva:xform/tx-xform export, which rebuild mode calls; \
                     run it without --rebuild, or add a transform-tx hook",
                    plugin.name()
                ),
            });
        }
        Ok(Box::new(PluginTxXform { plugin }) as Box<dyn TxXform>)
    })
}

/// What a configured plugin is: the digest of its component and of its
/// configuration pairs, in order.
fn fingerprint(component_digest: &str, config: &[(String, String)]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(component_digest.as_bytes());
    for (key, value) in config {
        for part in [key, value] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Loads each plugin, hands it its configuration, and wraps it. Plugins
/// of the chain that describe themselves with the same name are told
/// apart by their file names in every message and report.
fn load_each<T>(
    configured: &[ConfiguredPlugin],
    options: &PluginOptions,
    mut wrap: impl FnMut(Plugin, &[(String, String)]) -> Result<T, PluginError>,
) -> Result<Vec<T>, PluginError> {
    let mut plugins = Vec::with_capacity(configured.len());
    for (path, config) in configured {
        let mut plugin = Plugin::load(path, options)?;
        plugin.init(config)?;
        plugins.push(plugin);
    }
    let names: Vec<String> = plugins.iter().map(|p| p.name().to_string()).collect();
    for plugin in &mut plugins {
        if names.iter().filter(|n| *n == plugin.name()).count() > 1 {
            let file = plugin.path().display().to_string();
            let name = format!("{} [{}]", plugin.name(), crate::safe_text::key(&file));
            plugin.rename(name);
        }
    }
    plugins
        .into_iter()
        .zip(configured)
        .map(|(plugin, (_, config))| wrap(plugin, config))
        .collect()
}
