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
    load_each(configured, options, |plugin| {
        Ok(Box::new(PluginXform {
            plugin,
            idents: idents.clone(),
        }) as Box<dyn NodeXform>)
    })
}

/// Loads and initializes each plugin for rebuild mode, in order; each must
/// export the `tx-xform` hook.
pub fn load_tx_xforms(
    configured: &[ConfiguredPlugin],
    options: &PluginOptions,
) -> Result<Vec<Box<dyn TxXform>>, PluginError> {
    load_each(configured, options, |plugin| {
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

/// Loads each plugin, hands it its configuration, and wraps it.
fn load_each<T>(
    configured: &[ConfiguredPlugin],
    options: &PluginOptions,
    mut wrap: impl FnMut(Plugin) -> Result<T, PluginError>,
) -> Result<Vec<T>, PluginError> {
    configured
        .iter()
        .map(|(path, config)| {
            let mut plugin = Plugin::load(path, options)?;
            plugin.init(config)?;
            wrap(plugin)
        })
        .collect()
}
