//! Compiled components cached on disk, so a second run does not recompile
//! (Python and JavaScript guests take seconds to compile). Loading compiled
//! code is `unsafe` in wasmtime: it runs native code as written in the file.
//! So an entry is used only when its HMAC-SHA256 tag, under a key only this
//! user can read (`cache/key.rs`), covers the entry's name (the hash of the
//! wasm bytes and the engine settings) and the compiled bytes. One file per
//! entry, `<name>.component`:
//!
//! ```text
//! magic "EVA-CWSM" (8) | format version, u32 little-endian (4) | tag (32) | compiled bytes
//! ```
//!
//! See "The compiled-component cache" in `docs/plugins.md`. Unix only: on
//! other systems components are always compiled.
#![cfg_attr(not(unix), allow(dead_code, unused_imports))]

#[cfg(unix)]
mod key;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::model::hex;

const MAGIC: &[u8; 8] = b"EVA-CWSM";
const VERSION: u32 = 1;
const TAG_LEN: usize = 32;
const EXTENSION: &str = "component";

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

/// Compiles `wasm`, or loads its compiled form from `dir`. Returns the
/// component and whether it came from the cache.
pub fn load(
    engine: &Engine,
    wasm: &[u8],
    fingerprint: &str,
    dir: Option<&Path>,
) -> Result<(Component, bool), String> {
    #[cfg(unix)]
    if let Some(dir) = dir.and_then(open_dir) {
        return load_cached(engine, wasm, fingerprint, &dir);
    }
    #[cfg(not(unix))]
    let _ = (fingerprint, dir);
    compile(engine, wasm).map(|c| (c, false))
}

fn compile(engine: &Engine, wasm: &[u8]) -> Result<Component, String> {
    Component::from_binary(engine, wasm).map_err(|e| format!("{e:#}"))
}

/// The checked directory, or `None` after a warning (once per directory).
#[cfg(unix)]
fn open_dir(path: &Path) -> Option<key::Dir> {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static WARNED: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);
    match key::Dir::open(path) {
        Ok(dir) => Some(dir),
        Err(problem) => {
            let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
            if warned.get_or_insert_default().insert(path.to_path_buf()) {
                tracing::warn!(
                    "not using the plugin cache {}: {problem}; plugins are compiled on every \
                     run. Make it a directory owned by this user that group and others cannot \
                     write to (chown, chmod 700), or set EVA_ADMIN_CACHE_DIR to another one",
                    path.display()
                );
            }
            None
        }
    }
}

/// The entry's name: SHA-256 of the engine fingerprint (length-prefixed)
/// and the wasm bytes, in hex.
fn entry_name(wasm: &[u8], fingerprint: &str) -> String {
    let mut hash = Sha256::new();
    hash.update((fingerprint.len() as u64).to_le_bytes());
    hash.update(fingerprint.as_bytes());
    hash.update(wasm);
    hex(&hash.finalize())
}

/// Splits an entry file into its tag and compiled bytes; `None` when it is
/// too short or has another magic or format version.
fn parse(file: &[u8]) -> Option<(&[u8; TAG_LEN], &[u8])> {
    let (magic, rest) = file.split_first_chunk::<8>()?;
    let (version, rest) = rest.split_first_chunk::<4>()?;
    let (tag, bytes) = rest.split_first_chunk::<TAG_LEN>()?;
    (magic == MAGIC && u32::from_le_bytes(*version) == VERSION).then_some((tag, bytes))
}

/// What the tag covers: the format, the entry's name and the compiled bytes.
#[cfg(unix)]
fn tag(dir: &key::Dir, name: &str, bytes: &[u8]) -> [u8; TAG_LEN] {
    dir.tag(&[MAGIC, &VERSION.to_le_bytes(), name.as_bytes(), bytes])
}

#[cfg(unix)]
fn load_cached(
    engine: &Engine,
    wasm: &[u8],
    fingerprint: &str,
    dir: &key::Dir,
) -> Result<(Component, bool), String> {
    let name = entry_name(wasm, fingerprint);
    let path = dir.path().join(format!("{name}.{EXTENSION}"));
    if let Some(component) = read(engine, dir, &name, &path) {
        return Ok((component, true));
    }
    let component = compile(engine, wasm)?;
    match write(dir, &name, &path, &component) {
        Ok(()) => {
            // The former format's files of this component, never read.
            let mut legacy = Sha256::new();
            legacy.update(wasm);
            legacy.update(fingerprint.as_bytes());
            let legacy = hex(&legacy.finalize());
            for extension in ["cwasm", "sha256"] {
                let _ = std::fs::remove_file(dir.path().join(format!("{legacy}.{extension}")));
            }
        }
        Err(e) => tracing::debug!(
            "not caching the compiled component in {}: {e}",
            path.display()
        ),
    }
    Ok((component, false))
}

/// The cached component at `path`, when the file is there, a regular file,
/// and its tag verifies.
#[cfg(unix)]
fn read(engine: &Engine, dir: &key::Dir, name: &str, path: &Path) -> Option<Component> {
    use std::io::Read;
    let refused = |why: &dyn std::fmt::Display| {
        tracing::warn!(
            "cached component {} refused ({why}); compiling again and replacing it",
            path.display()
        );
    };
    let mut file = match key::open_regular(path) {
        Ok((file, _)) => file,
        Err(key::Problem::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(problem) => {
            refused(&problem);
            return None;
        }
    };
    let mut contents = Vec::new();
    if let Err(e) = file.read_to_end(&mut contents) {
        refused(&e);
        return None;
    }
    let Some((stored, bytes)) = parse(&contents) else {
        refused(&"not a cache entry of this format");
        return None;
    };
    if !key::tags_equal(stored, &tag(dir, name, bytes)) {
        refused(&"its authentication tag does not verify");
        return None;
    }
    // SAFETY: the tag verified under this directory's key, which only this
    // user can read (`key::Dir::open` checks the key file is ours with mode
    // 0600 and the directory is ours and writable by nobody else), and the
    // tag covers the entry's name — the hash of exactly these wasm bytes and
    // this engine's settings — and every compiled byte. Only `write` below
    // tags anything, and only what `Component::serialize` produced in a
    // process of this user from these wasm bytes on an engine with these
    // settings, which is what `deserialize` requires.
    match unsafe { Component::deserialize(engine, bytes) } {
        Ok(component) => Some(component),
        Err(e) => {
            refused(&e);
            None
        }
    }
}

/// Writes the entry to a new temporary file and renames it over `path`
/// (a rename replaces a symbolic link itself, never writing through it).
#[cfg(unix)]
fn write(dir: &key::Dir, name: &str, path: &Path, component: &Component) -> Result<(), String> {
    use std::io::Write;
    let bytes = component.serialize().map_err(|e| e.to_string())?;
    let (mut file, tmp) = key::create_temp(dir.path(), name).map_err(|e| e.to_string())?;
    let written = file
        .write_all(MAGIC)
        .and_then(|()| file.write_all(&VERSION.to_le_bytes()))
        .and_then(|()| file.write_all(&tag(dir, name, &bytes)))
        .and_then(|()| file.write_all(&bytes));
    drop(file);
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER_LEN: usize = MAGIC.len() + 4 + TAG_LEN;

    fn entry(magic: &[u8], version: u32, tag: u8, bytes: &[u8]) -> Vec<u8> {
        let mut file = magic.to_vec();
        file.extend(version.to_le_bytes());
        file.extend([tag; TAG_LEN]);
        file.extend(bytes);
        file
    }

    #[test]
    fn a_whole_header_parses() {
        let file = entry(MAGIC, VERSION, 9, b"code");
        let (tag, bytes) = parse(&file).unwrap();
        assert_eq!((tag, bytes), (&[9; TAG_LEN], &b"code"[..]));
        let empty = entry(MAGIC, VERSION, 9, b"");
        assert_eq!(parse(&empty).unwrap().1, b"");
    }

    #[test]
    fn truncated_foreign_or_other_version_headers_are_none() {
        let file = entry(MAGIC, VERSION, 9, b"code");
        for len in 0..HEADER_LEN {
            assert!(parse(&file[..len]).is_none(), "{len} bytes");
        }
        assert!(parse(&entry(b"EVA-CWSN", VERSION, 9, b"code")).is_none());
        assert!(parse(&entry(b"\0asm\x0d\0\x01\0", VERSION, 9, b"code")).is_none());
        assert!(parse(&entry(MAGIC, VERSION + 1, 9, b"code")).is_none());
        assert!(parse(&entry(MAGIC, 0, 9, b"code")).is_none());
    }

    #[test]
    fn entry_names_differ_by_engine_and_by_wasm() {
        let a = entry_name(b"wasm", "fuel-false");
        assert_eq!(a.len(), 64);
        assert_ne!(a, entry_name(b"wasm", "fuel-true"));
        assert_ne!(a, entry_name(b"wasn", "fuel-false"));
        // The length prefix: moving bytes between the two never collides.
        assert_ne!(entry_name(b"ab", "x"), entry_name(b"b", "xa"));
    }
}
