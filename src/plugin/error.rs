//! Errors of loading and running plugins.

use std::fmt;
use std::path::PathBuf;

/// Which guest call failed: every call into a plugin runs under the same
/// deadline, memory cap and fuel, and a failure names the call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Call {
    /// Instantiation, including the component's start functions.
    Start,
    /// `describe`.
    Describe,
    /// `init`, with the configuration pairs.
    Init,
    /// A read or write hook on a batch, named by its first node key.
    Batch {
        /// `read` or `write`.
        hook: &'static str,
        /// The first key of the batch.
        key: String,
    },
    /// The rebuild-mode hook on one transaction.
    Transaction(u64),
    /// `finish`.
    Finish,
}

impl Call {
    /// The node key the call concerns, if it is a batch.
    pub fn key(&self) -> Option<&str> {
        match self {
            Call::Batch { key, .. } => Some(key),
            _ => None,
        }
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Call::Start => write!(f, "while starting (instantiation and start functions)"),
            Call::Describe => write!(f, "in describe"),
            Call::Init => write!(f, "in init"),
            Call::Batch { hook, key } => {
                write!(f, "in its {hook} hook on the batch at node `{key}`")
            }
            Call::Transaction(tx) => write!(f, "in its tx hook on transaction {tx}"),
            Call::Finish => write!(f, "in finish"),
        }
    }
}

/// What went wrong with a plugin. Every variant names the plugin and, for a
/// failed call, which call it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    /// A call ran past its deadline (whatever it was doing: computing,
    /// sleeping or waiting in a host call).
    #[error(
        "plugin `{plugin}` timed out after {limit_ms} ms {call}; raise --plugin-timeout if it needs longer"
    )]
    Timeout {
        /// The plugin.
        plugin: String,
        /// The call.
        call: Call,
        /// The deadline in milliseconds.
        limit_ms: u64,
    },
    /// A call tried to take more memory (all memories and tables together) than the cap.
    #[error(
        "plugin `{plugin}` ran out of memory (cap {cap_mib} MiB for all its memories and tables) {call}; raise --plugin-memory if it needs more"
    )]
    OutOfMemory {
        /// The plugin.
        plugin: String,
        /// The call.
        call: Call,
        /// The cap in MiB.
        cap_mib: u64,
    },
    /// The component creates more memories, tables or core instances than
    /// one instance may.
    #[error(
        "plugin `{plugin}` creates more {what} than the sandbox allows (at most {limit} per instance) {call}"
    )]
    TooMany {
        /// The plugin.
        plugin: String,
        /// The call.
        call: Call,
        /// `memories`, `tables` or `core instances`.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// A call used up its fuel.
    #[error("plugin `{plugin}` used up its fuel ({fuel} units) {call}")]
    OutOfFuel {
        /// The plugin.
        plugin: String,
        /// The call.
        call: Call,
        /// The fuel per call.
        fuel: u64,
    },
    /// The guest trapped (panicked, hit `unreachable`, accessed memory out
    /// of bounds…) or the host refused what it asked for.
    #[error("plugin `{plugin}` failed {call}: {reason}")]
    Trap {
        /// The plugin.
        plugin: String,
        /// The call.
        call: Call,
        /// What wasmtime reported, with its causes, and the guest's last
        /// words on stderr.
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
    #[error("plugin `{plugin}` refused {call}: {message}")]
    Guest {
        /// The plugin.
        plugin: String,
        /// The call.
        call: Call,
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
    /// An earlier failure left the instance unusable.
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
            PluginError::Timeout { call, .. }
            | PluginError::OutOfMemory { call, .. }
            | PluginError::TooMany { call, .. }
            | PluginError::OutOfFuel { call, .. }
            | PluginError::Trap { call, .. }
            | PluginError::Guest { call, .. } => call.key(),
            PluginError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}
