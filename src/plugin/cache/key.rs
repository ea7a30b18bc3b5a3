//! The cache directory's checks and its secret key. A directory is used only
//! when it is a real directory owned by this user that nobody else can
//! write to; the key is 32 random bytes in a file only this user can read,
//! and authenticates every entry (HMAC-SHA256, see `super`).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rand::TryRngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

/// The key file's name inside the cache directory.
pub const KEY_FILE: &str = "key";
const KEY_LEN: usize = 32;

/// Why a cache directory or its key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// The path is a symbolic link.
    #[error("it is a symbolic link")]
    Symlink,
    /// The path is neither a directory nor a regular file, as expected.
    #[error("it is not a {0}")]
    NotA(&'static str),
    /// Owned by another user.
    #[error("it is owned by uid {owner}, not by this user (uid {me})")]
    Owner {
        /// Its owner.
        owner: u32,
        /// The effective uid of this process.
        me: u32,
    },
    /// Permission bits that let others in.
    #[error("its mode {mode:o} lets {who}")]
    Mode {
        /// The permission bits.
        mode: u32,
        /// Who it lets do what.
        who: &'static str,
    },
    /// A key file of the wrong size.
    #[error("it is {0} bytes long, not {KEY_LEN}")]
    Length(u64),
    /// The operating system's random source failed.
    #[error("no randomness from the operating system: {0}")]
    Random(String),
    /// An I/O error.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// A cache directory that passed the checks, with its key.
pub struct Dir {
    path: PathBuf,
    key: [u8; KEY_LEN],
}

impl Dir {
    /// Creates `path` (mode 0700) if missing, checks it and loads or creates
    /// its key. A key that fails its checks is replaced by a new one.
    pub fn open(path: &Path) -> Result<Dir, Problem> {
        if let Err(e) = std::fs::symlink_metadata(path)
            && e.kind() == io::ErrorKind::NotFound
        {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            match std::fs::DirBuilder::new().mode(0o700).create(path) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e.into()),
                _ => {}
            }
        }
        check_dir(path)?;
        let key_path = path.join(KEY_FILE);
        let key = match read_key(&key_path) {
            Ok(Some(key)) => key,
            Ok(None) => create_key(path, &key_path)?,
            Err(problem) => {
                tracing::warn!(
                    "the plugin cache key {} is refused ({problem}); replacing it with a new \
                     key, so every cached component is compiled again once",
                    key_path.display()
                );
                // Removes a symbolic link itself, never its target.
                std::fs::remove_file(&key_path)?;
                create_key(path, &key_path)?
            }
        };
        Ok(Dir {
            path: path.to_path_buf(),
            key,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// HMAC-SHA256 of `parts`, concatenated, under this directory's key.
    pub fn tag(&self, parts: &[&[u8]]) -> [u8; 32] {
        hmac_sha256(&self.key, parts)
    }
}

/// Checks that `path` is a directory (not a symbolic link) owned by this
/// user and writable by nobody else.
fn check_dir(path: &Path) -> Result<(), Problem> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Err(Problem::Symlink);
    }
    if !meta.is_dir() {
        return Err(Problem::NotA("directory"));
    }
    check_owner(&meta)?;
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(Problem::Mode {
            mode,
            who: "group or others write to it",
        });
    }
    Ok(())
}

fn check_owner(meta: &std::fs::Metadata) -> Result<(), Problem> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(Problem::Owner {
            owner: meta.uid(),
            me,
        });
    }
    Ok(())
}

/// Opens `path` for reading without following a symbolic link (nor blocking
/// on a FIFO) and checks that it is a regular file.
pub fn open_regular(path: &Path) -> Result<(File, std::fs::Metadata), Problem> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => Problem::Symlink,
            _ => Problem::Io(e),
        })?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(Problem::NotA("regular file"));
    }
    Ok((file, meta))
}

/// Creates a new file in `dir`, mode 0600, under a name of its own (never an
/// existing file, never through a symbolic link).
pub fn create_temp(dir: &Path, stem: &str) -> io::Result<(File, PathBuf)> {
    let path = dir.join(format!(
        ".{stem}.{}.{:016x}.tmp",
        std::process::id(),
        rand::random::<u64>()
    ));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)?;
    Ok((file, path))
}

/// The key in `path`: `None` when there is none; a problem when the file is
/// a symbolic link, not a regular file, not ours, readable or writable by
/// others, or of the wrong size.
fn read_key(path: &Path) -> Result<Option<[u8; KEY_LEN]>, Problem> {
    let (mut file, meta) = match open_regular(path) {
        Ok(opened) => opened,
        Err(Problem::Io(e)) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(problem) => return Err(problem),
    };
    check_owner(&meta)?;
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(Problem::Mode {
            mode,
            who: "group or others use it",
        });
    }
    if meta.len() != KEY_LEN as u64 {
        return Err(Problem::Length(meta.len()));
    }
    let mut key = [0u8; KEY_LEN];
    file.read_exact(&mut key)?;
    Ok(Some(key))
}

/// Writes a new random key to a temporary file and links it in as `path`;
/// when another process linked its key first, that one is used.
fn create_key(dir: &Path, path: &Path) -> Result<[u8; KEY_LEN], Problem> {
    let mut key = [0u8; KEY_LEN];
    OsRng
        .try_fill_bytes(&mut key)
        .map_err(|e| Problem::Random(e.to_string()))?;
    let (mut file, tmp) = create_temp(dir, KEY_FILE)?;
    let written = file.write_all(&key);
    drop(file);
    // A hard link never replaces an existing file (nor a symbolic link), so
    // the key appears complete or not at all.
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(key),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read_key(path)?.ok_or(Problem::Io(e)),
        Err(e) => Err(e.into()),
    }
}

/// HMAC-SHA256 (RFC 2104) of the concatenation of `parts` under `key`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
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

/// Compares two tags in time that does not depend on where they differ.
pub fn tags_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::hex;

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test cases 1, 2 and 6 (a key longer than the block).
        assert_eq!(
            hex(&hmac_sha256(&[0x0b; 20], &[b"Hi There"])),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex(&hmac_sha256(
                b"Jefe",
                &[b"what do ya ", b"want for nothing?"]
            )),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                &[b"Test Using Larger Than Block-Size Key - Hash Key First"]
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn tags_compare_by_every_byte() {
        let a = [7u8; 32];
        let mut b = a;
        assert!(tags_equal(&a, &b));
        b[31] ^= 1;
        assert!(!tags_equal(&a, &b));
    }

    #[test]
    fn a_directory_others_can_write_is_refused_and_left_empty() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(Dir::open(dir.path()), Err(Problem::Mode { .. })));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_new_directory_is_created_0700_with_a_0600_key() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("a/b");
        let dir = Dir::open(&path).unwrap();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o700);
        let key = std::fs::symlink_metadata(path.join(KEY_FILE)).unwrap();
        assert_eq!((key.mode() & 0o777, key.len()), (0o600, KEY_LEN as u64));
        // The same key again.
        assert_eq!(Dir::open(&path).unwrap().key, dir.key);
    }
}
