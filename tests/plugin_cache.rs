//! The compiled-component cache (`src/plugin/cache.rs`) against an attacker
//! who can write into the cache directory but cannot read its key, with real
//! compiled guests (built by `bash plugins/build.sh`). Each test uses a
//! fresh cache directory of its own.

#![cfg(unix)]

mod common;

use common::plugin_fixtures::guest;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once};

use eva_admin::plugin::{Plugin, PluginOptions};
use sha2::{Digest, Sha256};

/// The entry format, as `src/plugin/cache.rs` documents it.
const MAGIC: &[u8; 8] = b"EVA-CWSM";
const VERSION: [u8; 4] = 1u32.to_le_bytes();
const HEADER_LEN: usize = 8 + 4 + 32;

/// Loads `name` with `dir` as the cache; returns whether it came from the
/// cache, after checking the plugin describes itself as `name`.
fn load(name: &str, dir: &Path) -> bool {
    let options = PluginOptions {
        cache_dir: Some(dir.to_path_buf()),
        ..PluginOptions::default()
    };
    let plugin = Plugin::load(&guest(name), &options).unwrap();
    assert_eq!(plugin.description().name, name);
    plugin.metrics().compiled_from_cache
}

/// The cache entries in `dir`.
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "component"))
        .collect();
    found.sort();
    found
}

/// The one entry a load of `name` adds to `dir`.
fn entry_of(name: &str, dir: &Path) -> PathBuf {
    let before = entries(dir);
    assert!(!load(name, dir));
    let mut added: Vec<PathBuf> = entries(dir)
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    assert_eq!(added.len(), 1, "{added:?}");
    added.remove(0)
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    for part in parts {
        inner.update(part);
    }
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// Makes a tag from an entry's name and compiled bytes.
type TagFn = dyn Fn(&[u8], &[u8]) -> [u8; 32];

/// Rewrites the entry at `path` with `bytes` and a tag from `tag(name, bytes)`.
fn forge(path: &Path, bytes: &[u8], tag: impl Fn(&[u8], &[u8]) -> [u8; 32]) {
    let name = path.file_stem().unwrap().to_str().unwrap().as_bytes();
    let mut file = MAGIC.to_vec();
    file.extend(VERSION);
    file.extend(tag(name, bytes));
    file.extend(bytes);
    std::fs::write(path, file).unwrap();
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Everything logged at warn level or above, by every test of this file.
static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOG.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Starts capturing the log (plugins load on threads of their own, so the
/// subscriber is the global one).
fn capture_log() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(|| LogWriter)
            .init();
    });
}

/// The captured warnings that mention `path`.
fn warnings_about(path: &Path) -> Vec<String> {
    let log = String::from_utf8_lossy(&LOG.lock().unwrap()).into_owned();
    let needle = path.display().to_string();
    log.lines()
        .filter(|l| l.contains("WARN") && l.contains(&needle))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_second_load_comes_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let entry = entry_of("identity", dir.path());
    assert!(load("identity", dir.path()));
    assert!(load("identity", dir.path()));
    let bytes = std::fs::read(&entry).unwrap();
    assert_eq!(&bytes[..12], &[&MAGIC[..], &VERSION].concat()[..]);
    // One file per entry besides the key: no checksum files, no leftovers.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let entry_name = entry.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(names, [entry_name, "key".to_string()]);
}

#[test]
fn another_plugins_entry_copied_over_identitys_is_refused_and_replaced() {
    capture_log();
    let dir = tempfile::tempdir().unwrap();
    let identity = entry_of("identity", dir.path());
    let excise = entry_of("excise", dir.path());
    std::fs::copy(&excise, &identity).unwrap();

    // `load` asserts the plugin describes itself as identity.
    assert!(!load("identity", dir.path()), "the copy was loaded");
    assert!(
        !warnings_about(&identity).is_empty(),
        "no warning names {}",
        identity.display()
    );
    assert_ne!(
        std::fs::read(&identity).unwrap(),
        std::fs::read(&excise).unwrap()
    );
    assert!(load("identity", dir.path()), "the entry was not replaced");
    assert!(load("excise", dir.path()));
}

#[test]
fn patched_code_under_a_tag_made_without_the_key_is_never_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let entry = entry_of("identity", dir.path());
    let original = std::fs::read(&entry).unwrap()[HEADER_LEN..].to_vec();
    // `int3` over a stretch in the middle: run, it kills the process.
    let mut patched = original.clone();
    let middle = patched.len() / 2;
    patched[middle..middle + 256].fill(0xcc);
    let forgeries: [(&str, &TagFn); 3] = [
        ("plain SHA-256 of the bytes", &|_, bytes| {
            Sha256::digest(bytes).into()
        }),
        ("plain SHA-256 of name and bytes", &|name, bytes| {
            Sha256::new()
                .chain_update(MAGIC)
                .chain_update(VERSION)
                .chain_update(name)
                .chain_update(bytes)
                .finalize()
                .into()
        }),
        ("HMAC under a wrong key", &|name, bytes| {
            hmac(&[0x5a; 32], &[MAGIC, &VERSION, name, bytes])
        }),
    ];
    for (how, tag) in forgeries {
        forge(&entry, &patched, tag);
        assert!(!load("identity", dir.path()), "loaded with {how}");
        // The recompiled entry replaced the forgery.
        assert_eq!(&std::fs::read(&entry).unwrap()[HEADER_LEN..], &original[..]);
    }

    // The control: the same forgery with the real key does verify, so the
    // refusals above are the tag's doing, not a misunderstood format.
    let key = std::fs::read(dir.path().join("key")).unwrap();
    forge(&entry, &original, |name, bytes| {
        hmac(&key, &[MAGIC, &VERSION, name, bytes])
    });
    assert!(load("identity", dir.path()));
}

#[test]
fn a_directory_others_can_write_to_is_not_used() {
    capture_log();
    let dir = tempfile::tempdir().unwrap();
    chmod(dir.path(), 0o777);
    assert!(!load("identity", dir.path()));
    assert!(!load("identity", dir.path()));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    let warnings = warnings_about(dir.path());
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("777") && warnings[0].contains("EVA_ADMIN_CACHE_DIR"),
        "{}",
        warnings[0]
    );

    // Made private again, it is used.
    chmod(dir.path(), 0o700);
    assert!(!load("identity", dir.path()));
    assert!(load("identity", dir.path()));

    // A symbolic link to that directory is not used.
    let outside = tempfile::tempdir().unwrap();
    let link = outside.path().join("link");
    symlink(dir.path(), &link).unwrap();
    let before = std::fs::read_dir(dir.path()).unwrap().count();
    assert!(!load("identity", &link));
    assert!(!load("identity", &link));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), before);
    assert_eq!(warnings_about(&link).len(), 1);
}

#[test]
fn a_directory_of_another_user_is_not_used() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("skipped: only root can give a directory to another user");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let nobody = 65534;
    std::os::unix::fs::chown(dir.path(), Some(nobody), Some(nobody)).unwrap();
    assert!(!load("identity", dir.path()));
    assert!(!load("identity", dir.path()));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn symbolic_links_planted_in_the_cache_are_never_written_through() {
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    let content = b"an unrelated file, 32 bytes long".to_vec();
    std::fs::write(&victim, &content).unwrap();
    chmod(&victim, 0o600);

    // The entry itself.
    let dir = tempfile::tempdir().unwrap();
    let entry = entry_of("identity", dir.path());
    std::fs::remove_file(&entry).unwrap();
    symlink(&victim, &entry).unwrap();
    assert!(!load("identity", dir.path()));
    assert_eq!(std::fs::read(&victim).unwrap(), content);
    assert!(std::fs::symlink_metadata(&entry).unwrap().is_file());
    assert!(load("identity", dir.path()));

    // The former format's two files, a checksum file being what runs used
    // to write to.
    let stem = entry.with_extension("");
    std::fs::remove_file(&entry).unwrap();
    let checksum = stem.with_extension("sha256");
    symlink(&victim, &checksum).unwrap();
    symlink(&victim, stem.with_extension("cwasm")).unwrap();
    assert!(!load("identity", dir.path()));
    assert_eq!(std::fs::read(&victim).unwrap(), content);

    // The key, in a new directory (a 32-byte file of ours, mode 0600).
    let dir = tempfile::tempdir().unwrap();
    symlink(&victim, dir.path().join("key")).unwrap();
    assert!(!load("identity", dir.path()));
    assert_eq!(std::fs::read(&victim).unwrap(), content);
    assert!(load("identity", dir.path()));
}

#[test]
fn a_key_others_can_read_or_a_symlinked_key_is_replaced() {
    capture_log();
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("key");
    entry_of("identity", dir.path());
    let key = std::fs::read(&key_path).unwrap();

    // Readable by others: perhaps read by them, so never used again.
    chmod(&key_path, 0o644);
    assert!(!load("identity", dir.path()));
    assert_eq!(warnings_about(&key_path).len(), 1);
    let meta = std::fs::symlink_metadata(&key_path).unwrap();
    assert_eq!((meta.mode() & 0o777, meta.len()), (0o600, 32));
    let replaced = std::fs::read(&key_path).unwrap();
    assert_ne!(replaced, key);
    assert!(load("identity", dir.path()));

    // A symbolic link to a copy of the valid key: not followed, replaced.
    let outside = tempfile::tempdir().unwrap();
    let copy = outside.path().join("key");
    std::fs::copy(&key_path, &copy).unwrap();
    chmod(&copy, 0o600);
    std::fs::remove_file(&key_path).unwrap();
    symlink(&copy, &key_path).unwrap();
    assert!(
        !load("identity", dir.path()),
        "the symbolic link was followed"
    );
    assert_eq!(std::fs::read(&copy).unwrap(), replaced);
    assert!(std::fs::symlink_metadata(&key_path).unwrap().is_file());
    assert!(load("identity", dir.path()));
}

/// Load times, compiled and from the cache (`--ignored --nocapture`).
#[test]
#[ignore]
fn load_times() {
    for name in ["identity", "identity-py"] {
        let dir = tempfile::tempdir().unwrap();
        let options = PluginOptions {
            cache_dir: Some(dir.path().to_path_buf()),
            ..PluginOptions::default()
        };
        let first = Plugin::load(&guest(name), &options).unwrap();
        assert!(!first.metrics().compiled_from_cache);
        let mut times: Vec<f64> = (0..9)
            .map(|_| {
                let plugin = Plugin::load(&guest(name), &options).unwrap();
                assert!(plugin.metrics().compiled_from_cache);
                plugin.metrics().load_seconds
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!(
            "{name}: compiled {:.4}s, from the cache: median {:.4}s, min {:.4}s",
            first.metrics().load_seconds,
            times[4],
            times[0]
        );
    }
}
