//! The `--plugin` flags `migrate` and `verify` share, and turning them into
//! loaded, configured transforms.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::migrate::{NodeXform, TxXform};
use crate::plugin::{ConfiguredPlugin, Idents, PluginOptions, load_tx_xforms, load_xforms};

/// Plugins to run around the copier.
#[derive(Debug, Clone, Args)]
pub struct PluginArgs {
    /// A WebAssembly component to run around the copier (a read-xform, a
    /// write-xform or both; see docs/plugins.md). Repeat to chain several:
    /// they apply in the order given. Plugins run sandboxed: no files, no
    /// network, no clock, no randomness.
    #[arg(long = "plugin", value_name = "PATH")]
    pub plugins: Vec<PathBuf>,

    /// Configuration for a plugin, as NAME:KEY=VALUE, where NAME is the
    /// plugin's file name without `.wasm`; with a single plugin, KEY=VALUE is
    /// enough. Repeatable; each plugin receives its pairs in the order given.
    #[arg(long = "plugin-config", value_name = "NAME:KEY=VALUE")]
    pub config: Vec<String>,

    /// The longest one plugin call may run before it is stopped, in seconds.
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub plugin_timeout: f64,

    /// The most memory one plugin instance may use, in MiB.
    #[arg(long, default_value_t = 512, value_name = "MIB")]
    pub plugin_memory: u64,

    /// Give each plugin call this much fuel (deterministic instruction
    /// budget, reproducible across machines) instead of relying only on the
    /// timeout; the fuel used is reported.
    #[arg(long, value_name = "UNITS")]
    pub plugin_fuel: Option<u64>,
}

impl PluginArgs {
    /// The sandbox limits these flags ask for.
    pub fn options(&self) -> Result<PluginOptions> {
        if !(self.plugin_timeout.is_finite() && self.plugin_timeout > 0.0) {
            bail!("--plugin-timeout must be a positive number of seconds");
        }
        Ok(PluginOptions {
            timeout: Duration::from_secs_f64(self.plugin_timeout),
            memory_bytes: self.plugin_memory.saturating_mul(1024 * 1024),
            fuel: self.plugin_fuel,
            ..PluginOptions::default()
        })
    }

    /// Each plugin's path and its configuration pairs, in order.
    pub fn configured(&self) -> Result<Vec<ConfiguredPlugin>> {
        let names: Vec<String> = self.plugins.iter().map(|p| plugin_name(p)).collect();
        let mut pairs: Vec<Vec<(String, String)>> = vec![Vec::new(); self.plugins.len()];
        for raw in &self.config {
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
            if !self.config.is_empty() {
                bail!("--plugin-config given without any --plugin");
            }
            return Ok(Vec::new());
        }
        Ok(load_xforms(&self.configured()?, &self.options()?, idents)?)
    }

    /// Loads the plugins for rebuild mode: each must export `tx-xform`.
    pub fn load_tx(&self) -> Result<Vec<Box<dyn TxXform>>> {
        if self.plugins.is_empty() && !self.config.is_empty() {
            bail!("--plugin-config given without any --plugin");
        }
        Ok(load_tx_xforms(&self.configured()?, &self.options()?)?)
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
            config: vec![
                "excise:attributes=:a/b,:c/d".into(),
                "audit:pattern=@x\\.com$".into(),
            ],
            plugin_timeout: 1.0,
            plugin_memory: 64,
            plugin_fuel: None,
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
            config: vec!["from=:user/email".into()],
            plugin_timeout: 1.0,
            plugin_memory: 64,
            plugin_fuel: None,
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
