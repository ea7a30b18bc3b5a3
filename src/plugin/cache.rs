//! Compiled components cached on disk, keyed by the component's content
//! hash and the engine settings, so a second run does not recompile (Python
//! and JavaScript guests take seconds to compile). Loading a cached artifact
//! is `unsafe` in wasmtime; the artifact's own hash is checked first.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The default cache directory: `$EVA_ADMIN_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/eva-admin/components`, else `~/.cache/eva-admin/components`.
pub fn default_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("EVA_ADMIN_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("eva-admin").join("components"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compiles `wasm`, or loads its compiled form from `dir`. Returns the
/// component and whether it came from the cache.
pub fn load(
    engine: &Engine,
    wasm: &[u8],
    fingerprint: &str,
    dir: Option<&Path>,
) -> Result<(Component, bool), String> {
    let Some(dir) = dir else {
        return compile(engine, wasm).map(|c| (c, false));
    };
    let mut key = Sha256::new();
    key.update(wasm);
    key.update(fingerprint.as_bytes());
    let name = hex(&key.finalize());
    let artifact = dir.join(format!("{name}.cwasm"));
    let checksum = dir.join(format!("{name}.sha256"));
    if let Some(component) = load_cached(engine, &artifact, &checksum) {
        return Ok((component, true));
    }
    let component = compile(engine, wasm)?;
    if let Err(e) = store(&component, dir, &artifact, &checksum) {
        tracing::debug!("not caching the compiled component: {e}");
    }
    Ok((component, false))
}

fn compile(engine: &Engine, wasm: &[u8]) -> Result<Component, String> {
    Component::from_binary(engine, wasm).map_err(|e| format!("{e:#}"))
}

fn load_cached(engine: &Engine, artifact: &Path, checksum: &Path) -> Option<Component> {
    let bytes = std::fs::read(artifact).ok()?;
    let expected = std::fs::read_to_string(checksum).ok()?;
    if hex(&Sha256::digest(&bytes)) != expected.trim() {
        tracing::debug!(
            "cached component {} fails its checksum; recompiling",
            artifact.display()
        );
        return None;
    }
    // SAFETY: the artifact was written by `store` below from a component this
    // engine configuration compiled, and its SHA-256 matches what was
    // recorded then, so it is not truncated or altered.
    match unsafe { Component::deserialize(engine, &bytes) } {
        Ok(component) => Some(component),
        Err(e) => {
            tracing::debug!(
                "cached component {} unusable ({e}); recompiling",
                artifact.display()
            );
            None
        }
    }
}

fn store(
    component: &Component,
    dir: &Path,
    artifact: &Path,
    checksum: &Path,
) -> Result<(), String> {
    let bytes = component.serialize().map_err(|e| e.to_string())?;
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    // A name of its own, so concurrent runs never write into one file.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = artifact.with_extension(format!("{}-{nanos}.tmp", std::process::id()));
    std::fs::write(&tmp, &bytes).map_err(|e| e.to_string())?;
    std::fs::write(checksum, hex(&Sha256::digest(&bytes))).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, artifact).map_err(|e| e.to_string())
}
