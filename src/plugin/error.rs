//! Errors of loading and running plugins.

use std::path::PathBuf;

/// What went wrong with a plugin. Every variant names the plugin; hook
/// failures also name the first node key of the batch.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The file could not be read, compiled or instantiated.
    #[error("cannot load plugin `{}`: {reason}", path.display())]
    Load {
        /// The plugin file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The component was built against a WIT version this host does not speak.
    #[error("plugin `{}` was built for eva:xform {found}, but this eva-admin supports eva:xform {supported}; rebuild the plugin against wit/xform.wit of this version", path.display())]
    UnsupportedWit {
        /// The plugin file.
        path: PathBuf,
        /// The version it exports (or "none").
        found: String,
        /// The versions supported.
        supported: String,
    },
    /// A call ran past its deadline.
    #[error("plugin `{plugin}` timed out after {limit_ms} ms on the batch at node `{key}`")]
    Timeout {
        /// The plugin.
        plugin: String,
        /// The first key of the batch.
        key: String,
        /// The deadline in milliseconds.
        limit_ms: u64,
    },
    /// A call tried to grow memory past the cap.
    #[error("plugin `{plugin}` ran out of memory (cap {cap_mib} MiB) on the batch at node `{key}`")]
    OutOfMemory {
        /// The plugin.
        plugin: String,
        /// The first key of the batch.
        key: String,
        /// The cap in MiB.
        cap_mib: u64,
    },
    /// A call used up its fuel.
    #[error("plugin `{plugin}` used up its fuel ({fuel} units) on the batch at node `{key}`")]
    OutOfFuel {
        /// The plugin.
        plugin: String,
        /// The first key of the batch.
        key: String,
        /// The fuel per call.
        fuel: u64,
    },
    /// The guest trapped (panicked, hit `unreachable`, accessed memory out of bounds…).
    #[error("plugin `{plugin}` trapped on the batch at node `{key}`: {reason}")]
    Trap {
        /// The plugin.
        plugin: String,
        /// The first key of the batch.
        key: String,
        /// What wasmtime reported.
        reason: String,
    },
    /// The guest refused its configuration pairs at `init`.
    #[error(
        "plugin `{plugin}` refused its configuration: {message}; check its --plugin-config {plugin}:KEY=VALUE pairs"
    )]
    Config {
        /// The plugin.
        plugin: String,
        /// The guest's message.
        message: String,
    },
    /// The guest returned its own error.
    #[error("plugin `{plugin}` refused the batch at node `{key}`: {message}")]
    Guest {
        /// The plugin.
        plugin: String,
        /// The first key of the batch.
        key: String,
        /// The guest's message.
        message: String,
    },
    /// The guest returned a node the host cannot take back.
    #[error("plugin `{plugin}` returned an invalid node `{key}`: {reason}")]
    Invalid {
        /// The plugin.
        plugin: String,
        /// The node.
        key: String,
        /// Why.
        reason: String,
    },
    /// An earlier trap left the instance unusable.
    #[error("plugin `{plugin}` stopped working after an earlier failure")]
    Poisoned {
        /// The plugin.
        plugin: String,
    },
}

impl PluginError {
    /// The node key a hook failure concerns, if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            PluginError::Timeout { key, .. }
            | PluginError::OutOfMemory { key, .. }
            | PluginError::OutOfFuel { key, .. }
            | PluginError::Trap { key, .. }
            | PluginError::Guest { key, .. }
            | PluginError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}
