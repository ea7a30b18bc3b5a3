//! The plugin handle the host uses. A plugin whose component imports WASI
//! runs on a thread of its own: WASI calls inside a guest (a file open, a
//! write to stderr) block on a runtime of wasmtime-wasi's, which must not be
//! entered from a thread that is already driving ours. Batches move to that
//! thread and back by value. A component without WASI imports (a Rust guest)
//! is called in place, which saves the two thread switches per call.

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
    /// The most linear memory an instance may grow to.
    pub memory_bytes: u64,
    /// Fuel per call, when deterministic limits are wanted.
    pub fuel: Option<u64>,
    /// Where compiled components are cached (`None`: no cache).
    pub cache_dir: Option<PathBuf>,
}

impl Default for PluginOptions {
    fn default() -> Self {
        PluginOptions {
            timeout: Duration::from_secs(10),
            memory_bytes: 512 * 1024 * 1024,
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
    /// Fuel consumed, when fuel is on.
    pub fuel_used: Option<u64>,
    /// The compiled component came from the on-disk cache.
    pub compiled_from_cache: bool,
    /// Time to load (compile or read from cache) and instantiate, in seconds.
    pub load_seconds: f64,
}

/// Work sent to a plugin's thread.
type Job = Box<dyn FnOnce(&mut Instance) + Send>;

/// Where a plugin's instance lives.
enum Runner {
    /// Called in place (no WASI imports).
    Inline(Box<Instance>),
    /// On its own thread, fed through `jobs`.
    Thread {
        jobs: Option<mpsc::Sender<Job>>,
        thread: Option<JoinHandle<()>>,
    },
}

/// A loaded, instantiated plugin. Dropping it stops its thread, if it has
/// one (after the call in progress, which has a deadline).
pub struct Plugin {
    path: PathBuf,
    description: Description,
    hooks: Hooks,
    runner: Runner,
}

/// What the loading thread reports: the instance itself when it can be
/// called in place, else what the handle needs to know about it.
enum Loaded {
    Inline(Box<Instance>),
    Thread(Description, Hooks),
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
    /// instantiates in a sandbox and calls `describe`, on a thread of its
    /// own (instantiating a guest may already call WASI).
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
                Ok(instance) if !instance.imports_wasi() => {
                    let _ = ready.send(Ok(Loaded::Inline(Box::new(instance))));
                }
                Ok(mut instance) => {
                    let about =
                        Loaded::Thread(instance.description().clone(), Hooks::of(&instance));
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
        let loaded = loaded
            .recv()
            .map_err(|_| load_err("its thread stopped while loading".into()))??;
        let plugin = |description, hooks, runner| Plugin {
            path: path.to_path_buf(),
            description,
            hooks,
            runner,
        };
        Ok(match loaded {
            Loaded::Inline(instance) => {
                let _ = thread.join();
                let description = instance.description().clone();
                let hooks = Hooks::of(&instance);
                plugin(description, hooks, Runner::Inline(instance))
            }
            Loaded::Thread(description, hooks) => plugin(
                description,
                hooks,
                Runner::Thread {
                    jobs: Some(jobs),
                    thread: Some(thread),
                },
            ),
        })
    }

    /// The plugin's name as it describes itself.
    pub fn name(&self) -> &str {
        &self.description.name
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
        match &self.runner {
            Runner::Inline(instance) => instance.metrics().clone(),
            Runner::Thread {
                jobs: Some(jobs), ..
            } => {
                let (reply, result) = mpsc::sync_channel(1);
                let job: Job = Box::new(move |instance| {
                    let _ = reply.send(instance.metrics().clone());
                });
                match jobs.send(job) {
                    Ok(()) => result.recv().unwrap_or_default(),
                    Err(_) => PluginMetrics::default(),
                }
            }
            Runner::Thread { jobs: None, .. } => PluginMetrics::default(),
        }
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

    /// Runs `f` on the instance, in place or on its thread (then waiting
    /// for the result).
    fn run<R: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Instance) -> R + Send + 'static,
    ) -> Result<R, PluginError> {
        let stopped = || PluginError::Poisoned {
            plugin: self.description.name.clone(),
        };
        let jobs = match &mut self.runner {
            Runner::Inline(instance) => return Ok(f(instance)),
            Runner::Thread { jobs, .. } => jobs.as_ref().ok_or_else(stopped)?,
        };
        let (reply, result) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |instance| {
            let _ = reply.send(f(instance));
        });
        jobs.send(job).map_err(|_| stopped())?;
        result.recv().map_err(|_| stopped())
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        if let Runner::Thread { jobs, thread } = &mut self.runner {
            *jobs = None;
            if let Some(thread) = thread.take() {
                let _ = thread.join();
            }
        }
    }
}
