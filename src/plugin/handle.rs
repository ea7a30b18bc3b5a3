//! The plugin handle the host uses. Every plugin runs on a thread of its
//! own, which drives the plugin's calls on a runtime of its own (see
//! `instance`): guest code never runs on, and never blocks, the threads of
//! the caller's runtime. Batches move to that thread and back by value.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

use crate::migrate::XformTx;
use crate::model::Node;

use super::convert::Idents;
use super::instance::{self, Instance};
use super::{PluginError, cache};

/// The sandbox limits of a plugin.
#[derive(Debug, Clone)]
pub struct PluginOptions {
    /// The longest one call may run.
    pub timeout: Duration,
    /// The most memory an instance may hold, all its linear memories and
    /// tables together.
    pub memory_bytes: u64,
    /// Fuel per call, when deterministic limits are wanted.
    pub fuel: Option<u64>,
    /// Where compiled components are cached (`None`: no cache).
    pub cache_dir: Option<PathBuf>,
}

impl PluginOptions {
    /// The deadline of one call when none is given.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
    /// The memory cap of one instance when none is given, in MiB.
    pub const DEFAULT_MEMORY_MIB: u64 = 512;
}

impl Default for PluginOptions {
    fn default() -> Self {
        PluginOptions {
            timeout: Self::DEFAULT_TIMEOUT,
            memory_bytes: Self::DEFAULT_MEMORY_MIB << 20,
            fuel: None,
            cache_dir: cache::default_dir(),
        }
    }
}

/// What a plugin says about itself (`describe`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Description {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The hooks it says it implements (`read`, `write`).
    pub hooks: Vec<String>,
    /// The eva:xform version it was built against.
    pub wit_version: String,
}

/// Counters of one plugin over a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PluginMetrics {
    /// Hook calls made.
    pub calls: u64,
    /// Nodes passed in.
    pub nodes_in: u64,
    /// Nodes returned.
    pub nodes_out: u64,
    /// Time spent in calls (guest code and the conversions around it), in seconds.
    pub seconds_in_calls: f64,
    /// Memory the instance holds, all its memories and tables together, in
    /// bytes (what counts against `--plugin-memory`).
    pub memory_bytes: u64,
    /// Fuel consumed, when fuel is on.
    pub fuel_used: Option<u64>,
    /// The compiled component came from the on-disk cache.
    pub compiled_from_cache: bool,
    /// Time to load (compile or read from cache) and instantiate, in seconds.
    pub load_seconds: f64,
}

/// Work sent to a plugin's thread.
type Job = Box<dyn FnOnce(&mut Instance) + Send>;

/// A loaded, instantiated plugin. Dropping it stops its thread, if it has
/// one (after the call in progress, which has a deadline).
pub struct Plugin {
    path: PathBuf,
    description: Description,
    digest: String,
    hooks: Hooks,
    /// Work for the plugin's thread; `None` once it is stopping.
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

/// Which hook interfaces a component exports.
#[derive(Debug, Clone, Copy)]
struct Hooks {
    read: bool,
    write: bool,
    tx: bool,
}

impl Hooks {
    fn of(instance: &Instance) -> Hooks {
        Hooks {
            read: instance.has_read(),
            write: instance.has_write(),
            tx: instance.has_tx(),
        }
    }
}

impl Plugin {
    /// Reads, compiles (or loads from the cache), checks the WIT version,
    /// instantiates in a sandbox and calls `describe`, on the plugin's own
    /// thread, where it then stays.
    pub fn load(path: &Path, options: &PluginOptions) -> Result<Plugin, PluginError> {
        let load_err = |reason: String| PluginError::Load {
            path: path.to_path_buf(),
            reason,
        };
        let (jobs, inbox) = mpsc::channel::<Job>();
        let (ready, loaded) = mpsc::sync_channel(1);
        let (file, options) = (path.to_path_buf(), options.clone());
        let name = instance::label(path);
        let thread = std::thread::Builder::new()
            .name(format!("plugin {name}"))
            .spawn(move || match Instance::load(&file, &options) {
                Ok(mut instance) => {
                    let about = (
                        instance.description().clone(),
                        instance.digest().to_string(),
                        Hooks::of(&instance),
                    );
                    if ready.send(Ok(about)).is_ok() {
                        for job in inbox {
                            job(&mut instance);
                        }
                    }
                }
                Err(e) => {
                    let _ = ready.send(Err(e));
                }
            })
            .map_err(|e| load_err(format!("cannot start its thread: {e}")))?;
        let (description, digest, hooks) = loaded
            .recv()
            .map_err(|_| load_err("its thread stopped while loading".into()))??;
        Ok(Plugin {
            path: path.to_path_buf(),
            description,
            digest,
            hooks,
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// The plugin's name as it describes itself.
    pub fn name(&self) -> &str {
        &self.description.name
    }

    /// SHA-256 of the component file, hex: what the plugin is.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Names this plugin `name` in messages and reports from now on (two
    /// plugins of a chain that describe themselves alike are told apart
    /// by their files).
    pub fn rename(&mut self, name: String) {
        self.description.name = name.clone();
        let _ = self.ask(move |instance| instance.rename(name));
    }

    /// The plugin file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What `describe` returned.
    pub fn description(&self) -> &Description {
        &self.description
    }

    /// Whether the component exports the read hook.
    pub fn has_read(&self) -> bool {
        self.hooks.read
    }

    /// Whether the component exports the write hook.
    pub fn has_write(&self) -> bool {
        self.hooks.write
    }

    /// Whether the component exports the rebuild-mode hook (`tx-xform`).
    pub fn has_tx(&self) -> bool {
        self.hooks.tx
    }

    /// Counters so far.
    pub fn metrics(&self) -> PluginMetrics {
        self.ask(|instance| instance.metrics().clone())
            .unwrap_or_default()
    }

    /// Hands the plugin its configuration pairs.
    pub fn init(&mut self, config: &[(String, String)]) -> Result<(), PluginError> {
        let config = config.to_vec();
        self.run(move |instance| instance.init(&config))?
    }

    /// Runs the read hook on a batch.
    pub fn read(
        &mut self,
        nodes: Vec<(String, Node)>,
        idents: &Arc<Idents>,
    ) -> Result<Vec<(String, Node)>, PluginError> {
        let idents = idents.clone();
        self.run(move |instance| instance.read(nodes, &idents))?
    }

    /// Runs the write hook on a batch.
    pub fn write(
        &mut self,
        nodes: Vec<(String, Node)>,
        idents: &Arc<Idents>,
    ) -> Result<Vec<(String, Node)>, PluginError> {
        let idents = idents.clone();
        self.run(move |instance| instance.write(nodes, &idents))?
    }

    /// Runs the rebuild-mode hook on one transaction.
    pub fn transform_tx(&mut self, tx: XformTx) -> Result<XformTx, PluginError> {
        self.run(move |instance| instance.transform_tx(&tx))?
    }

    /// Asks the plugin for its end-of-run report.
    pub fn finish(&mut self) -> Result<String, PluginError> {
        self.run(|instance| instance.finish())?
    }

    /// Runs `f` on the instance, on its thread, and waits for the result.
    fn run<R: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Instance) -> R + Send + 'static,
    ) -> Result<R, PluginError> {
        self.ask(f).ok_or_else(|| PluginError::Poisoned {
            plugin: self.description.name.clone(),
        })
    }

    /// `f`'s result on the plugin's thread; `None` when the thread is gone.
    fn ask<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Instance) -> R + Send + 'static,
    ) -> Option<R> {
        let (reply, result) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |instance| {
            let _ = reply.send(f(instance));
        });
        self.jobs.as_ref()?.send(job).ok()?;
        result.recv().ok()
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
