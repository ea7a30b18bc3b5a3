//! One loaded plugin: its compiled component instantiated in a sandboxed
//! store, on the plugin's own thread (see `handle`), with one deadline,
//! one memory budget and optional fuel over every call into it.
//!
//! Calls run on wasmtime's async path, driven by a small runtime of the
//! plugin's own: guest code yields at every epoch tick, and WASI host calls
//! (sleeps, polls) wait as futures, so one real-time timer around each call
//! stops it at its deadline whatever the guest is doing — computing,
//! sleeping or polling. An epoch trap alone cannot interrupt a host call.

use std::path::Path;
use std::time::Instant;

use sha2::{Digest, Sha256};
use tokio::runtime::Runtime;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store, Trap, WasmBacktrace};

use crate::migrate::XformTx;
use crate::model::{Node, hex};

use super::bindings::eva::xform::types as wit;
use super::bindings::exports::eva::xform::{
    plugin as plugin_api, read_xform, tx_xform, write_xform,
};
use super::convert::{self, Idents};
use super::error::Call;
use super::handle::{Description, PluginMetrics, PluginOptions};
use super::sandbox::{HostState, MAX_INSTANCES, MAX_MEMORIES, MAX_TABLES};
use super::{PluginError, WIT_VERSION, cache, engine};
use crate::safe_text as guest_text;

/// A loaded, instantiated plugin. It lives on the plugin's own thread,
/// which drives `runtime` for every call.
pub(super) struct Instance {
    runtime: Runtime,
    store: Store<HostState>,
    api: plugin_api::Guest,
    read: Option<read_xform::Guest>,
    write: Option<write_xform::Guest>,
    tx: Option<tx_xform::Guest>,
    description: Description,
    /// SHA-256 of the component file, hex.
    digest: String,
    options: PluginOptions,
    metrics: PluginMetrics,
    poisoned: bool,
}

impl Instance {
    /// Reads, compiles (or loads from the cache), checks the WIT version,
    /// instantiates in a sandbox and calls `describe` — instantiation and
    /// `describe` under the same deadline and budget as every later call.
    pub fn load(path: &Path, options: &PluginOptions) -> Result<Instance, PluginError> {
        let started = Instant::now();
        let load_err = |reason: String| PluginError::Load {
            path: path.to_path_buf(),
            reason,
        };
        let wasm = std::fs::read(path).map_err(|e| load_err(format!("{e}")))?;
        let digest = hex(&Sha256::digest(&wasm));
        let engine = engine::engine(options.fuel.is_some()).map_err(load_err)?;
        let fingerprint = engine::settings_fingerprint(engine, options.fuel.is_some());
        let (component, from_cache) =
            cache::load(engine, &wasm, &fingerprint, options.cache_dir.as_deref())
                .map_err(load_err)?;
        check_wit_version(engine, &component, path)?;

        let mut linker: Linker<HostState> = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| load_err(cause_chain(&e)))?;
        let pre = linker.instantiate_pre(&component).map_err(|e| {
            load_err(format!(
                "it needs imports the sandbox does not grant: {}",
                cause_chain(&e)
            ))
        })?;
        let api_idx = plugin_api::GuestIndices::new(&pre).map_err(|e| load_err(cause_chain(&e)))?;
        let read_idx = read_xform::GuestIndices::new(&pre).ok();
        let write_idx = write_xform::GuestIndices::new(&pre).ok();
        let tx_idx = tx_xform::GuestIndices::new(&pre).ok();
        if read_idx.is_none() && write_idx.is_none() && tx_idx.is_none() {
            return Err(load_err(
                "it exports none of eva:xform/read-xform, write-xform and tx-xform".into(),
            ));
        }

        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| load_err(format!("cannot start its runtime: {e}")))?;
        let label = label(path);
        let mut store = Store::new(engine, HostState::new(options.memory_bytes, &label));
        store.limiter(|state| &mut state.limits);
        // Guest code yields to the plugin's runtime at every epoch tick, so
        // the deadline's timer is seen while it computes.
        store.epoch_deadline_async_yield_and_update(1);
        let mut call = CallSite {
            runtime: &runtime,
            store: &mut store,
            options,
            plugin: &label,
        };
        let instance = call.run(Call::Start, async |store| {
            pre.instantiate_async(store).await
        })?;
        let loaded = (|| {
            let api = api_idx.load(&mut *call.store, &instance)?;
            let read = read_idx
                .map(|i| i.load(&mut *call.store, &instance))
                .transpose()?;
            let write = write_idx
                .map(|i| i.load(&mut *call.store, &instance))
                .transpose()?;
            let tx = tx_idx
                .map(|i| i.load(&mut *call.store, &instance))
                .transpose()?;
            wasmtime::Result::Ok((api, read, write, tx))
        })();
        let (api, read, write, tx) = loaded.map_err(|e| load_err(cause_chain(&e)))?;
        let raw = call.run(Call::Describe, async |store| api.call_describe(store).await)?;
        let description = Description {
            name: guest_text::name(&raw.name, &label),
            version: guest_text::name(&raw.version, "?"),
            hooks: raw
                .hooks
                .iter()
                .map(|h| match h {
                    wit::Hook::Read => "read".to_string(),
                    wit::Hook::Write => "write".to_string(),
                    wit::Hook::Tx => "tx".to_string(),
                })
                .collect(),
            wit_version: guest_text::name(&raw.wit_version, "?"),
        };
        let metrics = PluginMetrics {
            compiled_from_cache: from_cache,
            memory_bytes: store.data().limits.used() as u64,
            load_seconds: started.elapsed().as_secs_f64(),
            ..PluginMetrics::default()
        };
        store.data().stdout.set_plugin(&description.name);
        store.data().stderr.set_plugin(&description.name);
        tracing::info!(plugin = %description.name, from_cache, "plugin loaded");
        Ok(Instance {
            runtime,
            store,
            api,
            read,
            write,
            tx,
            description,
            digest,
            options: options.clone(),
            metrics,
            poisoned: false,
        })
    }

    /// SHA-256 of the component file, hex: what the plugin is.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Names the plugin `name` in its messages and logs from now on.
    pub fn rename(&mut self, name: String) {
        self.store.data().stdout.set_plugin(&name);
        self.store.data().stderr.set_plugin(&name);
        self.description.name = name;
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
        let outcome = self.call(Call::Init, async |store| api.call_init(store, config).await)?;
        outcome.map_err(|e| PluginError::Config {
            plugin: self.description.name.clone(),
            message: guest_text::message(&e.message),
        })
    }

    /// Runs the read hook on a batch.
    pub fn read(
        &mut self,
        nodes: Vec<(String, Node)>,
        idents: &Idents,
    ) -> Result<Vec<(String, Node)>, PluginError> {
        let hook = self.read.clone();
        self.hook(
            "read",
            nodes,
            idents,
            async move |store, batch| match &hook {
                Some(h) => h.call_transform_read(store, batch).await,
                None => Ok(Ok(batch.to_vec())),
            },
        )
    }

    /// Runs the write hook on a batch.
    pub fn write(
        &mut self,
        nodes: Vec<(String, Node)>,
        idents: &Idents,
    ) -> Result<Vec<(String, Node)>, PluginError> {
        let hook = self.write.clone();
        self.hook(
            "write",
            nodes,
            idents,
            async move |store, batch| match &hook {
                Some(h) => h.call_transform_write(store, batch).await,
                None => Ok(Ok(batch.to_vec())),
            },
        )
    }

    /// Runs the rebuild-mode hook on one transaction.
    pub fn transform_tx(&mut self, tx: &XformTx) -> Result<XformTx, PluginError> {
        let call = Call::Transaction(tx.tx);
        let key = format!("(transaction {})", tx.tx);
        let Some(hook) = self.tx.clone() else {
            return Err(self.invalid(&key, "it has no tx-xform hook".into()));
        };
        let given = convert::tx_to_wit(tx);
        self.metrics.nodes_in += 1;
        let out = self
            .call(call.clone(), async |store| {
                hook.call_transform_tx(store, &given).await
            })?
            .map_err(|e| self.guest_error(call, e))?;
        self.metrics.nodes_out += 1;
        convert::tx_from_wit(out).map_err(|reason| self.invalid(&key, reason))
    }

    /// Asks the plugin for its end-of-run report (one line, made safe to print).
    pub fn finish(&mut self) -> Result<String, PluginError> {
        let api = self.api.clone();
        let outcome = self.call(Call::Finish, async |store| api.call_finish(store).await)?;
        outcome
            .map(|report| guest_text::message(&report))
            .map_err(|e| self.guest_error(Call::Finish, e))
    }

    fn hook(
        &mut self,
        hook: &'static str,
        nodes: Vec<(String, Node)>,
        idents: &Idents,
        f: impl AsyncFnOnce(
            &mut Store<HostState>,
            &[wit::Node],
        ) -> wasmtime::Result<Result<Vec<wit::Node>, wit::XformError>>,
    ) -> Result<Vec<(String, Node)>, PluginError> {
        let first = nodes
            .first()
            .map_or_else(|| "(empty batch)".to_string(), |(k, _)| k.clone());
        let call = Call::Batch { hook, key: first };
        let batch = nodes
            .into_iter()
            .map(|(k, n)| {
                convert::to_wit(k, n, idents).map_err(|(k, reason)| self.invalid(&k, reason))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.metrics.nodes_in += batch.len() as u64;
        let out = self
            .call(call.clone(), async |store| f(store, &batch).await)?
            .map_err(|e| self.guest_error(call, e))?;
        self.metrics.nodes_out += out.len() as u64;
        out.into_iter()
            .map(|n| {
                let key = n.key.clone();
                convert::from_wit(n, idents).map_err(|reason| self.invalid(&key, reason))
            })
            .collect()
    }

    /// One guest call under the deadline, memory budget and fuel; a
    /// failure poisons the instance.
    fn call<T>(
        &mut self,
        call: Call,
        f: impl AsyncFnOnce(&mut Store<HostState>) -> wasmtime::Result<T>,
    ) -> Result<T, PluginError> {
        if self.poisoned {
            return Err(PluginError::Poisoned {
                plugin: self.description.name.clone(),
            });
        }
        let started = Instant::now();
        let mut site = CallSite {
            runtime: &self.runtime,
            store: &mut self.store,
            options: &self.options,
            plugin: &self.description.name,
        };
        let result = site.run(call, f);
        self.metrics.calls += 1;
        self.metrics.seconds_in_calls += started.elapsed().as_secs_f64();
        self.metrics.memory_bytes = self.store.data().limits.used() as u64;
        if let Some(fuel) = self.options.fuel {
            let left = self.store.get_fuel().unwrap_or(0);
            *self.metrics.fuel_used.get_or_insert(0) += fuel.saturating_sub(left);
        }
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    fn guest_error(&self, call: Call, e: wit::XformError) -> PluginError {
        PluginError::Guest {
            plugin: self.description.name.clone(),
            call,
            message: guest_text::message(&e.message),
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

/// What one guest call needs: the runtime that drives it, the store, the
/// limits and the plugin's name for messages.
struct CallSite<'a> {
    runtime: &'a Runtime,
    store: &'a mut Store<HostState>,
    options: &'a PluginOptions,
    plugin: &'a str,
}

impl CallSite<'_> {
    /// Runs `f` to completion or until the deadline, whichever comes first;
    /// a guest stopped at the deadline is unwound (its call's future is
    /// dropped) and reported as timed out.
    fn run<T>(
        &mut self,
        call: Call,
        f: impl AsyncFnOnce(&mut Store<HostState>) -> wasmtime::Result<T>,
    ) -> Result<T, PluginError> {
        self.store.set_epoch_deadline(1);
        if let Some(fuel) = self.options.fuel
            && let Err(e) = self.store.set_fuel(fuel)
        {
            return Err(self.failure(call, e));
        }
        let store = &mut *self.store;
        let limit = self.options.timeout;
        let outcome = self
            .runtime
            .block_on(async { tokio::time::timeout(limit, f(store)).await });
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(self.failure(call, e)),
            Err(_elapsed) => Err(PluginError::Timeout {
                plugin: self.plugin.to_string(),
                call,
                limit_ms: u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
            }),
        }
    }

    /// Names what stopped a call: the memory budget, fuel, a trap or a
    /// refusal of the host, with the whole cause chain and the guest's
    /// last words on stderr.
    fn failure(&self, call: Call, e: wasmtime::Error) -> PluginError {
        let plugin = self.plugin.to_string();
        tracing::debug!(plugin = %plugin, "plugin failure details: {e:?}");
        let limits = &self.store.data().limits;
        if limits.hit {
            return PluginError::OutOfMemory {
                plugin,
                call,
                cap_mib: limits.cap_mib(),
            };
        }
        // wasmtime refuses a component that creates too many of a kind
        // with "resource limit exceeded: <kind> count too high at N".
        let text = e.to_string();
        for (kind, what, limit) in [
            ("memory count", "memories", MAX_MEMORIES),
            ("table count", "tables", MAX_TABLES),
            ("instance count", "core instances", MAX_INSTANCES),
        ] {
            if text.contains("resource limit exceeded") && text.contains(kind) {
                return PluginError::TooMany {
                    plugin,
                    call,
                    what,
                    limit,
                };
            }
        }
        match e.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => PluginError::OutOfFuel {
                plugin,
                call,
                fuel: self.options.fuel.unwrap_or(0),
            },
            Some(Trap::Interrupt) => PluginError::Timeout {
                plugin,
                call,
                limit_ms: u64::try_from(self.options.timeout.as_millis()).unwrap_or(u64::MAX),
            },
            _ => PluginError::Trap {
                plugin,
                call,
                reason: self.with_stderr(cause_chain(&e)),
            },
        }
    }

    /// `reason`, followed by the last lines the guest wrote to stderr (an
    /// uncaught Python or JavaScript exception is printed there before the
    /// trap), made safe to print.
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
            let words = guest_text::message(&said.join(" | "));
            format!("{reason}; the guest's last words on stderr: {words}")
        }
    }
}

/// Every cause of `e`, outermost first, joined by ": ", without the wasm
/// backtrace wasmtime attaches (logged at debug level instead).
fn cause_chain(e: &wasmtime::Error) -> String {
    let backtrace = e.downcast_ref::<WasmBacktrace>().map(ToString::to_string);
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if Some(&text) != backtrace.as_ref() && !parts.contains(&text) {
            parts.push(text);
        }
    }
    guest_text::message(&parts.join(": "))
}

/// The file stem of a plugin path, naming it in logs until it describes itself.
pub(super) fn label(path: &Path) -> String {
    path.file_stem().map_or_else(
        || path.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    )
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
