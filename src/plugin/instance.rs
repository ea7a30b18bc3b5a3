//! One loaded plugin: its compiled component instantiated in a sandboxed
//! store, with per-call deadline, memory cap and optional fuel. Runs on the
//! plugin's thread; [`super::Plugin`] is the handle the rest of the host uses.

use std::path::Path;
use std::time::Instant;

use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store, Trap};

use crate::migrate::XformTx;
use crate::model::Node;

use super::bindings::eva::xform::types as wit;
use super::bindings::exports::eva::xform::{
    plugin as plugin_api, read_xform, tx_xform, write_xform,
};
use super::convert::{self, Idents};
use super::handle::{Description, PluginMetrics, PluginOptions};
use super::sandbox::HostState;
use super::{PluginError, WIT_VERSION, cache, engine};

/// A loaded, instantiated plugin. It lives on the plugin's own thread (see
/// `handle`): WASI calls block on a runtime of their own, which must not be
/// entered from inside ours.
pub(super) struct Instance {
    store: Store<HostState>,
    api: plugin_api::Guest,
    read: Option<read_xform::Guest>,
    write: Option<write_xform::Guest>,
    tx: Option<tx_xform::Guest>,
    description: Description,
    options: PluginOptions,
    metrics: PluginMetrics,
    poisoned: bool,
    imports_wasi: bool,
}

impl Instance {
    /// Reads, compiles (or loads from the cache), checks the WIT version,
    /// instantiates in a sandbox and calls `describe`.
    pub fn load(path: &Path, options: &PluginOptions) -> Result<Instance, PluginError> {
        let started = Instant::now();
        let load_err = |reason: String| PluginError::Load {
            path: path.to_path_buf(),
            reason,
        };
        let wasm = std::fs::read(path).map_err(|e| load_err(format!("{e}")))?;
        let engine = engine::engine(options.fuel.is_some()).map_err(load_err)?;
        let fingerprint = engine::settings_fingerprint(engine, options.fuel.is_some());
        let (component, from_cache) =
            cache::load(engine, &wasm, &fingerprint, options.cache_dir.as_deref())
                .map_err(load_err)?;
        check_wit_version(engine, &component, path)?;
        let imports_wasi = component
            .component_type()
            .imports(engine)
            .any(|(name, _)| name.starts_with("wasi:"));

        let mut linker: Linker<HostState> = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| load_err(format!("{e:#}")))?;
        let pre = linker.instantiate_pre(&component).map_err(|e| {
            load_err(format!(
                "it needs imports the sandbox does not grant: {e:#}"
            ))
        })?;
        let api_idx =
            plugin_api::GuestIndices::new(&pre).map_err(|e| load_err(format!("{e:#}")))?;
        let read_idx = read_xform::GuestIndices::new(&pre).ok();
        let write_idx = write_xform::GuestIndices::new(&pre).ok();
        let tx_idx = tx_xform::GuestIndices::new(&pre).ok();
        if read_idx.is_none() && write_idx.is_none() && tx_idx.is_none() {
            return Err(load_err(
                "it exports none of eva:xform/read-xform, write-xform and tx-xform".into(),
            ));
        }

        let mut store = Store::new(engine, HostState::new(options.memory_bytes, &label(path)));
        store.limiter(|state| &mut state.limits);
        arm(&mut store, options).map_err(|e| load_err(format!("{e:#}")))?;
        let instance = pre
            .instantiate(&mut store)
            .map_err(|e| load_err(format!("instantiation failed: {e:#}")))?;
        let api = api_idx
            .load(&mut store, &instance)
            .map_err(|e| load_err(format!("{e:#}")))?;
        let read = read_idx
            .map(|i| i.load(&mut store, &instance))
            .transpose()
            .map_err(|e| load_err(format!("{e:#}")))?;
        let write = write_idx
            .map(|i| i.load(&mut store, &instance))
            .transpose()
            .map_err(|e| load_err(format!("{e:#}")))?;
        let tx = tx_idx
            .map(|i| i.load(&mut store, &instance))
            .transpose()
            .map_err(|e| load_err(format!("{e:#}")))?;
        let raw = api
            .call_describe(&mut store)
            .map_err(|e| load_err(format!("describe failed: {e:#}")))?;
        let description = Description {
            name: raw.name,
            version: raw.version,
            hooks: raw
                .hooks
                .iter()
                .map(|h| match h {
                    wit::Hook::Read => "read".to_string(),
                    wit::Hook::Write => "write".to_string(),
                    wit::Hook::Tx => "tx".to_string(),
                })
                .collect(),
            wit_version: raw.wit_version,
        };
        let metrics = PluginMetrics {
            compiled_from_cache: from_cache,
            load_seconds: started.elapsed().as_secs_f64(),
            ..PluginMetrics::default()
        };
        store.data().stdout.set_plugin(&description.name);
        store.data().stderr.set_plugin(&description.name);
        tracing::info!(plugin = %description.name, from_cache, "plugin loaded");
        Ok(Instance {
            store,
            api,
            read,
            write,
            tx,
            description,
            options: options.clone(),
            metrics,
            poisoned: false,
            imports_wasi,
        })
    }

    /// Whether the component imports WASI interfaces: calls into those block
    /// on a runtime of wasmtime-wasi's, so such a plugin needs a thread of its own.
    pub fn imports_wasi(&self) -> bool {
        self.imports_wasi
    }

    /// What `describe` returned.
    pub fn description(&self) -> &Description {
        &self.description
    }

    /// Whether the component exports the read hook.
    pub fn has_read(&self) -> bool {
        self.read.is_some()
    }

    /// Whether the component exports the write hook.
    pub fn has_write(&self) -> bool {
        self.write.is_some()
    }

    /// Whether the component exports the rebuild-mode hook.
    pub fn has_tx(&self) -> bool {
        self.tx.is_some()
    }

    /// Counters so far.
    pub fn metrics(&self) -> &PluginMetrics {
        &self.metrics
    }

    /// Hands the plugin its configuration pairs.
    pub fn init(&mut self, config: &[(String, String)]) -> Result<(), PluginError> {
        let api = self.api.clone();
        let outcome = self.call("(init)", |store| api.call_init(store, config))?;
        outcome.map_err(|e| PluginError::Config {
            plugin: self.description.name.clone(),
            message: e.message,
        })
    }

    /// Runs the read hook on a batch.
    pub fn read(
        &mut self,
        nodes: Vec<(String, Node)>,
        idents: &Idents,
    ) -> Result<Vec<(String, Node)>, PluginError> {
        let hook = self.read.clone();
        self.hook(nodes, idents, move |store, batch| match &hook {
            Some(h) => h.call_transform_read(store, batch),
            None => Ok(Ok(batch.to_vec())),
        })
    }

    /// Runs the write hook on a batch.
    pub fn write(
        &mut self,
        nodes: Vec<(String, Node)>,
        idents: &Idents,
    ) -> Result<Vec<(String, Node)>, PluginError> {
        let hook = self.write.clone();
        self.hook(nodes, idents, move |store, batch| match &hook {
            Some(h) => h.call_transform_write(store, batch),
            None => Ok(Ok(batch.to_vec())),
        })
    }

    /// Runs the rebuild-mode hook on one transaction.
    pub fn transform_tx(&mut self, tx: &XformTx) -> Result<XformTx, PluginError> {
        let key = format!("(transaction {})", tx.tx);
        let Some(hook) = self.tx.clone() else {
            return Err(self.invalid(&key, "it has no tx-xform hook".into()));
        };
        let given = convert::tx_to_wit(tx);
        self.metrics.nodes_in += 1;
        let out = self
            .call(&key, |store| hook.call_transform_tx(store, &given))?
            .map_err(|e| self.guest_error(&key, e))?;
        self.metrics.nodes_out += 1;
        convert::tx_from_wit(out).map_err(|reason| self.invalid(&key, reason))
    }

    /// Asks the plugin for its end-of-run report.
    pub fn finish(&mut self) -> Result<String, PluginError> {
        let api = self.api.clone();
        let outcome = self.call("(finish)", |store| api.call_finish(store))?;
        outcome.map_err(|e| self.guest_error("(finish)", e))
    }

    fn hook(
        &mut self,
        nodes: Vec<(String, Node)>,
        idents: &Idents,
        f: impl FnOnce(
            &mut Store<HostState>,
            &[wit::Node],
        ) -> wasmtime::Result<Result<Vec<wit::Node>, wit::XformError>>,
    ) -> Result<Vec<(String, Node)>, PluginError> {
        let first = nodes
            .first()
            .map_or_else(|| "(empty batch)".to_string(), |(k, _)| k.clone());
        let batch = nodes
            .into_iter()
            .map(|(k, n)| {
                convert::to_wit(k, n, idents).map_err(|(k, reason)| self.invalid(&k, reason))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.metrics.nodes_in += batch.len() as u64;
        let out = self
            .call(&first, |store| f(store, &batch))?
            .map_err(|e| self.guest_error(&first, e))?;
        self.metrics.nodes_out += out.len() as u64;
        out.into_iter()
            .map(|n| {
                let key = n.key.clone();
                convert::from_wit(n, idents).map_err(|reason| self.invalid(&key, reason))
            })
            .collect()
    }

    /// One guest call under the deadline, memory cap and fuel; a failure
    /// poisons the instance.
    fn call<T>(
        &mut self,
        key: &str,
        f: impl FnOnce(&mut Store<HostState>) -> wasmtime::Result<T>,
    ) -> Result<T, PluginError> {
        if self.poisoned {
            return Err(PluginError::Poisoned {
                plugin: self.description.name.clone(),
            });
        }
        arm(&mut self.store, &self.options).map_err(|e| self.trap(key, format!("{e:#}")))?;
        let started = Instant::now();
        let result = f(&mut self.store);
        self.metrics.calls += 1;
        self.metrics.seconds_in_calls += started.elapsed().as_secs_f64();
        if let Some(fuel) = self.options.fuel {
            let left = self.store.get_fuel().unwrap_or(0);
            *self.metrics.fuel_used.get_or_insert(0) += fuel.saturating_sub(left);
        }
        result.map_err(|e| {
            self.poisoned = true;
            self.classify(key, e)
        })
    }

    fn classify(&self, key: &str, e: wasmtime::Error) -> PluginError {
        let plugin = self.description.name.clone();
        let key = key.to_string();
        if self.store.data().limits.hit {
            return PluginError::OutOfMemory {
                plugin,
                key,
                cap_mib: self.store.data().limits.cap_mib(),
            };
        }
        match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => PluginError::Timeout {
                plugin,
                key,
                limit_ms: self.options.timeout.as_millis() as u64,
            },
            Some(Trap::OutOfFuel) => PluginError::OutOfFuel {
                plugin,
                key,
                fuel: self.options.fuel.unwrap_or(0),
            },
            Some(trap) => {
                tracing::debug!(plugin = %plugin, "trap details: {e:?}");
                PluginError::Trap {
                    plugin,
                    key,
                    reason: self.with_stderr(trap.to_string()),
                }
            }
            None => PluginError::Trap {
                plugin,
                key,
                reason: self.with_stderr(format!("{e}")),
            },
        }
    }

    /// `reason`, followed by the last lines the guest wrote to stderr (an
    /// uncaught Python or JavaScript exception is printed there before the trap).
    fn with_stderr(&self, reason: String) -> String {
        let tail = self.store.data().stderr.take_tail();
        let said: Vec<&str> = tail
            .iter()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty())
            .collect();
        if said.is_empty() {
            reason
        } else {
            format!(
                "{reason}; the guest's last words on stderr: {}",
                said.join(" | ")
            )
        }
    }

    fn trap(&self, key: &str, reason: String) -> PluginError {
        PluginError::Trap {
            plugin: self.description.name.clone(),
            key: key.to_string(),
            reason,
        }
    }

    fn guest_error(&self, key: &str, e: wit::XformError) -> PluginError {
        PluginError::Guest {
            plugin: self.description.name.clone(),
            key: key.to_string(),
            message: e.message,
        }
    }

    fn invalid(&self, key: &str, reason: String) -> PluginError {
        PluginError::Invalid {
            plugin: self.description.name.clone(),
            key: key.to_string(),
            reason,
        }
    }
}

/// The file stem of a plugin path, naming it in logs until it describes itself.
pub(super) fn label(path: &Path) -> String {
    path.file_stem().map_or_else(
        || path.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    )
}

/// Sets the deadline (and fuel) for the next call.
fn arm(store: &mut Store<HostState>, options: &PluginOptions) -> wasmtime::Result<()> {
    let ticks = options
        .timeout
        .as_millis()
        .div_ceil(engine::TICK.as_millis())
        .max(1) as u64;
    store.set_epoch_deadline(ticks);
    store.epoch_deadline_trap();
    if let Some(fuel) = options.fuel {
        store.set_fuel(fuel)?;
    }
    Ok(())
}

/// Refuses a component whose `eva:xform/plugin` export is not of a version
/// this host speaks, naming both versions.
fn check_wit_version(
    engine: &Engine,
    component: &Component,
    path: &Path,
) -> Result<(), PluginError> {
    let ty = component.component_type();
    let found: Option<String> = ty
        .exports(engine)
        .map(|(name, _)| name)
        .find_map(|name| name.strip_prefix("eva:xform/plugin@").map(String::from));
    let supported_major_minor = WIT_VERSION
        .rsplit_once('.')
        .map_or(WIT_VERSION, |(mm, _)| mm);
    match found {
        Some(v) if v.rsplit_once('.').map(|(mm, _)| mm) == Some(supported_major_minor) => Ok(()),
        other => Err(PluginError::UnsupportedWit {
            path: path.to_path_buf(),
            found: other.map_or("no eva:xform/plugin export at all".into(), |v| {
                format!("@{v}")
            }),
            supported: format!("@{supported_major_minor}.x"),
        }),
    }
}
