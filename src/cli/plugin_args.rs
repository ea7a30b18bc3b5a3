//! The `--plugin` flags `migrate` and `verify` share, and turning them into
//! loaded, configured transforms.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::migrate::{NodeXform, TxXform};
use crate::plugin::{ConfiguredPlugin, Idents, PluginOptions, load_tx_xforms, load_xforms};

use super::duration_arg::{parse_duration, show};

/// Plugins to run around the copier.
#[derive(Debug, Clone, Args)]
pub struct PluginArgs {
    /// A WebAssembly component to run around the copier (a read-xform, a
    /// write-xform or both; see docs/plugins.md). Repeat to chain several:
    /// they apply in the order given. Plugins run sandboxed: no files, no
    /// network, no clock, no randomness.
    #[arg(long = "plugin", value_name = "PATH")]
    pub plugins: Vec<PathBuf>,

    /// Configuration of the plugins.
    #[command(flatten)]
    pub config: ConfigArgs,

    /// The sandbox's limits.
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

/// `--plugin-config`, shared by every command that loads plugins.
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigArgs {
    /// Configuration for a plugin, as NAME:KEY=VALUE, where NAME is the
    /// plugin's file name without `.wasm`; with a single plugin, KEY=VALUE is
    /// enough. Repeatable; each plugin receives its pairs in the order given.
    #[arg(long = "plugin-config", value_name = "NAME:KEY=VALUE")]
    pub pairs: Vec<String>,
}

/// The sandbox limits every command that runs plugins takes, defined once.
#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// The longest one plugin call may run before it is stopped, whatever
    /// the plugin does meanwhile (computing, sleeping, waiting): e.g. 10s,
    /// 500ms, 2m, or a number of seconds; from 1ms to 1h.
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout,
          default_value_t = TimeoutArg(PluginOptions::DEFAULT_TIMEOUT))]
    pub plugin_timeout: TimeoutArg,

    /// The most memory one plugin instance may hold, in MiB, all its linear
    /// memories and tables together (1 to 1048576).
    #[arg(long, value_name = "MIB",
          default_value_t = PluginOptions::DEFAULT_MEMORY_MIB,
          value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    pub plugin_memory: u64,

    /// Give each plugin call this much fuel (deterministic instruction
    /// budget, reproducible across machines) besides the timeout; the fuel
    /// used is reported.
    #[arg(long, value_name = "UNITS", value_parser = clap::value_parser!(u64).range(1..))]
    pub plugin_fuel: Option<u64>,
}

impl Default for SandboxArgs {
    fn default() -> Self {
        SandboxArgs {
            plugin_timeout: TimeoutArg(PluginOptions::DEFAULT_TIMEOUT),
            plugin_memory: PluginOptions::DEFAULT_MEMORY_MIB,
            plugin_fuel: None,
        }
    }
}

impl SandboxArgs {
    /// The sandbox limits these flags ask for.
    pub fn options(&self) -> PluginOptions {
        PluginOptions {
            timeout: self.plugin_timeout.0,
            memory_bytes: self.plugin_memory.saturating_mul(1024 * 1024),
            fuel: self.plugin_fuel,
            ..PluginOptions::default()
        }
    }
}

/// A plugin call's deadline on the command line (shown as the user writes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutArg(pub Duration);

impl std::fmt::Display for TimeoutArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&show(self.0))
    }
}

fn parse_timeout(text: &str) -> Result<TimeoutArg, String> {
    parse_duration(text, Duration::from_millis(1), Duration::from_secs(3600)).map(TimeoutArg)
}

impl PluginArgs {
    /// Each plugin's path and its configuration pairs, in order.
    pub fn configured(&self) -> Result<Vec<ConfiguredPlugin>> {
        let names: Vec<String> = self.plugins.iter().map(|p| plugin_name(p)).collect();
        let mut pairs: Vec<Vec<(String, String)>> = vec![Vec::new(); self.plugins.len()];
        for raw in &self.config.pairs {
            let (target, pair) = split_config(raw)?;
            let slot = match target {
                Some(name) => names.iter().position(|n| *n == name).with_context(|| {
                    format!(
                        "--plugin-config `{raw}` names plugin `{name}`, but the plugins given are: {}",
                        names.join(", ")
                    )
                })?,
                None if self.plugins.len() == 1 => 0,
                None => bail!(
                    "--plugin-config `{raw}` does not say which plugin it is for; write NAME:KEY=VALUE with NAME one of: {}",
                    names.join(", ")
                ),
            };
            pairs[slot].push(pair);
        }
        Ok(self.plugins.iter().cloned().zip(pairs).collect())
    }

    /// Loads, instantiates and initializes the plugins, in order.
    pub fn load(&self, idents: Idents) -> Result<Vec<Box<dyn NodeXform>>> {
        if self.plugins.is_empty() {
            if !self.config.pairs.is_empty() {
                bail!("--plugin-config given without any --plugin");
            }
            return Ok(Vec::new());
        }
        Ok(load_xforms(
            &self.configured()?,
            &self.sandbox.options(),
            idents,
        )?)
    }

    /// Loads the plugins for rebuild mode: each must export `tx-xform`.
    pub fn load_tx(&self) -> Result<Vec<Box<dyn TxXform>>> {
        if self.plugins.is_empty() && !self.config.pairs.is_empty() {
            bail!("--plugin-config given without any --plugin");
        }
        Ok(load_tx_xforms(
            &self.configured()?,
            &self.sandbox.options(),
        )?)
    }
}

/// A plugin's name on the command line: its file name without `.wasm`.
pub fn plugin_name(path: &std::path::Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// `NAME:KEY=VALUE` or `KEY=VALUE` (values may contain `:` and `,`).
fn split_config(raw: &str) -> Result<(Option<String>, (String, String))> {
    let Some((left, value)) = raw.split_once('=') else {
        bail!("--plugin-config `{raw}` is not KEY=VALUE or NAME:KEY=VALUE");
    };
    let (name, key) = match left.split_once(':') {
        Some((name, key)) => (Some(name.to_string()), key),
        None => (None, left),
    };
    if key.is_empty() {
        bail!("--plugin-config `{raw}` has an empty key");
    }
    Ok((name, (key.to_string(), value.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_pairs_go_to_the_named_plugin() {
        let args = PluginArgs {
            plugins: vec!["a/excise.wasm".into(), "b/audit.wasm".into()],
            config: ConfigArgs {
                pairs: vec![
                    "excise:attributes=:a/b,:c/d".into(),
                    "audit:pattern=@x\\.com$".into(),
                ],
            },
            sandbox: SandboxArgs::default(),
        };
        let configured = args.configured().unwrap();
        assert_eq!(
            configured[0].1,
            vec![("attributes".into(), ":a/b,:c/d".into())]
        );
        assert_eq!(
            configured[1].1,
            vec![("pattern".into(), "@x\\.com$".into())]
        );
    }

    #[test]
    fn unnamed_pairs_need_a_single_plugin() {
        let mut args = PluginArgs {
            plugins: vec!["x.wasm".into()],
            config: ConfigArgs {
                pairs: vec!["from=:user/email".into()],
            },
            sandbox: SandboxArgs::default(),
        };
        assert_eq!(args.configured().unwrap()[0].1[0].1, ":user/email");
        args.plugins.push("y.wasm".into());
        assert!(
            args.configured()
                .unwrap_err()
                .to_string()
                .contains("which plugin")
        );
    }
}
