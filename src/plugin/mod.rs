//! The WebAssembly plugin host (docs/design.md §6): loads components that
//! implement the `eva:xform` WIT contract (`wit/xform.wit`), runs them
//! sandboxed — no capabilities, one deadline on every call whatever the
//! guest does, one memory budget over all its memories and tables,
//! optional fuel — and adapts them to the copier's [`NodeXform`] seam.
//! Compiled components are cached on disk. See `docs/plugins.md`.
//!
//! [`NodeXform`]: crate::migrate::NodeXform

mod adapter;
mod bindings;
mod cache;
mod convert;
mod engine;
mod error;
mod guest_output;
mod handle;
mod instance;
mod sandbox;

pub use adapter::{ConfiguredPlugin, Idents, load_tx_xforms, load_xforms};
pub use error::{Call, PluginError};
pub use handle::{Description, Plugin, PluginMetrics, PluginOptions};

/// The WIT package version this host implements (`eva:xform@0.2.x`).
pub const WIT_VERSION: &str = "0.2.0";
