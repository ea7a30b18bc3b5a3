//! The node codec: one format-version byte, then the node in postcard
//! (serde, compact, deterministic: equal nodes give equal bytes); format 2
//! bodies are in `format2`. Nodes
//! not keyed by their content (database-info, the tx-log head, entries)
//! are *sealed*: another version byte and a checksum of key and bytes
//! after the body, so damage and misplaced values are found where they
//! are read (docs/format.md, "Sealed nodes").

use super::format2;
use super::node::{Format, Node};

/// Format 1's version byte, the first byte of a format 1 node.
pub const FORMAT_VERSION: u8 = 1;

/// Format 2's version byte (docs/format.md, "Format 2").
pub const FORMAT_V2: u8 = 2;

/// The first byte of a sealed format 2 node.
pub const SEALED_V2: u8 = 0x80 | FORMAT_V2;

/// The first byte of a sealed node: format version 1 with the checksum
/// trailer ([`SEAL_BYTES`] after the body). Unsealed database-info, heads
/// and entries, as earlier builds wrote them, still read.
pub const SEALED_VERSION: u8 = 0x80 | FORMAT_VERSION;

/// Length of a sealed node's checksum trailer.
pub const SEAL_BYTES: usize = 8;

/// A stored value that is not a node this version can read.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The value is empty.
    #[error("empty value where a node was expected")]
    Empty,
    /// The value was written by a format version this build does not read.
    #[error(
        "node format version {found} is not supported (this build reads versions {FORMAT_VERSION} and {FORMAT_V2}, plain or sealed)"
    )]
    UnsupportedVersion {
        /// The version byte found.
        found: u8,
    },
    /// The bytes do not decode as a node.
    #[error("corrupt node: {0}")]
    Corrupt(String),
    /// An index node whose bytes are not the ones its key names: the key is
    /// the digest of the content, so the bytes changed after they were
    /// written (a flipped bit on disk, an edit by hand, a bad restore).
    #[error(
        "the stored bytes do not match their key (an index node's key is the digest of its content; these bytes digest to `{digest}`): they were changed after they were written"
    )]
    KeyMismatch {
        /// The key the stored bytes would have.
        digest: String,
    },
    /// A sealed node whose checksum is not the one of its key and bytes:
    /// the bytes changed after they were written, or they are another
    /// key's value.
    #[error(
        "the stored bytes fail their checksum (a sealed node's last {SEAL_BYTES} bytes are the SHA-256 of its key and bytes): they were changed after they were written, or belong to another key"
    )]
    ChecksumMismatch,
}

/// Encodes a node with its version byte, in the format it carries
/// ([`Node::format`]).
pub fn encode(node: &Node) -> Vec<u8> {
    if node.format() == Format::V2 {
        let mut out = vec![FORMAT_V2];
        format2::encode_body(node, &mut out);
        return out;
    }
    let out = vec![FORMAT_VERSION];
    // Serializing plain data into a Vec cannot fail for our types; fall back
    // to an empty body rather than panic if postcard ever says otherwise.
    match postcard::to_extend(node, out) {
        Ok(bytes) => bytes,
        Err(_) => vec![FORMAT_VERSION],
    }
}

/// Encodes a node to be stored at `key`: index nodes plain (their key is
/// their digest), every other node sealed with its key ([`seal`]).
pub fn encode_at(key: &str, node: &Node) -> Vec<u8> {
    seal(key, encode(node))
}

/// Seals the plain encoding of a node to be stored at `key`: the version
/// byte becomes [`SEALED_VERSION`] and the checksum of key and bytes is
/// appended. Index nodes, and bytes that are not a plain node, are
/// returned as they are.
pub fn seal(key: &str, mut plain: Vec<u8>) -> Vec<u8> {
    let version = match plain.first() {
        Some(&v @ (FORMAT_VERSION | FORMAT_V2)) if !is_index_node(&plain) => v,
        _ => return plain,
    };
    plain[0] = 0x80 | version;
    let sum = checksum(key, &plain);
    plain.extend_from_slice(&sum);
    plain
}

/// Whether `stored` holds the node whose plain encoding is `plain`, sealed
/// or not: how a copier learns a node came through a transform unchanged
/// without decoding it again.
pub fn same_content(stored: &[u8], plain: &[u8]) -> bool {
    if stored == plain {
        return true;
    }
    match (stored.first(), plain.split_first()) {
        (Some(&sealed), Some((&version, body)))
            if matches!(version, FORMAT_VERSION | FORMAT_V2) && sealed == 0x80 | version =>
        {
            sealed_parts(stored).is_ok_and(|(sealed, _)| &sealed[1..] == body)
        }
        _ => false,
    }
}

/// A sealed value split into what its checksum covers (the version byte and
/// the body, at least one byte of it) and the checksum.
fn sealed_parts(bytes: &[u8]) -> Result<(&[u8], &[u8]), CodecError> {
    let split = bytes.len().checked_sub(SEAL_BYTES).filter(|&n| n > 1);
    let split = split
        .ok_or_else(|| CodecError::Corrupt("a sealed node shorter than its checksum".into()))?;
    Ok(bytes.split_at(split))
}

/// The checksum a sealed node at `key` carries: the first [`SEAL_BYTES`]
/// of the SHA-256 of the key's length (8 bytes, little-endian), the key,
/// and the node's bytes before the trailer.
fn checksum(key: &str, sealed_body: &[u8]) -> [u8; SEAL_BYTES] {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update((key.len() as u64).to_le_bytes());
    hasher.update(key.as_bytes());
    hasher.update(sealed_body);
    let digest = hasher.finalize();
    let mut sum = [0u8; SEAL_BYTES];
    sum.copy_from_slice(&digest[..SEAL_BYTES]);
    sum
}

/// Decodes a stored node, checking its version byte (not its key: use
/// [`decode_at`] for bytes read from a store).
pub fn decode(bytes: &[u8]) -> Result<Node, CodecError> {
    match bytes.first() {
        Some(&FORMAT_V2) => format2::decode_body(&bytes[1..]),
        Some(&SEALED_V2) => format2::decode_body(&sealed_parts(bytes)?.0[1..]),
        _ => decode_as(bytes),
    }
}

/// The keys a format 2 node links to, from its frame alone (see
/// `format2::child_keys`).
pub(super) fn format2_child_keys(bytes: &[u8]) -> Result<Vec<String>, CodecError> {
    match bytes.first() {
        Some(&FORMAT_V2) => format2::child_keys(&bytes[1..]),
        Some(&SEALED_V2) => format2::child_keys(&sealed_parts(bytes)?.0[1..]),
        _ => Err(CodecError::Corrupt("not a format 2 node".into())),
    }
}

/// Bytes in lower-case hexadecimal, as digests are shown and stored.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of `bytes` in hexadecimal: how status records, plugin
/// fingerprints and cache entries name content.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex(&Sha256::digest(bytes))
}

/// Decodes a node read from `key`, refusing bytes that cannot be what
/// the key names ([`check_stored`]); bytes that do not decode are named
/// as such first.
pub fn decode_at(key: &str, bytes: &[u8]) -> Result<Node, CodecError> {
    let node = decode(bytes)?;
    check_stored(key, bytes)?;
    Ok(node)
}

/// Checks that `bytes`, read from `key`, can be what the key names
/// without decoding them: an index node must digest to its key
/// ([`index_node_key`]), a sealed node must carry the checksum of its key
/// and bytes. Every read of a node goes through it, so damage in a store is
/// named where it is read and never copied on. Unsealed database-info,
/// heads and entries (written by earlier builds) carry nothing to check
/// and pass; readers check them against what refers to them.
pub fn check_stored(key: &str, bytes: &[u8]) -> Result<(), CodecError> {
    if is_index_node(bytes) {
        let digest = index_node_key(bytes);
        if digest != key {
            return Err(CodecError::KeyMismatch { digest });
        }
    } else if matches!(bytes.first(), Some(&(SEALED_VERSION | SEALED_V2))) {
        if matches!(bytes.get(1), Some(3..=5)) {
            return Err(CodecError::Corrupt(
                "an index node is keyed by its digest, never sealed".into(),
            ));
        }
        let (sealed, sum) = sealed_parts(bytes)?;
        if checksum(key, sealed) != sum {
            return Err(CodecError::ChecksumMismatch);
        }
    }
    Ok(())
}

/// Whether stored bytes hold a node keyed by its digest: an index inner
/// node or leaf (variants 3 and 4, docs/format.md) or, in format 2, an
/// index set (5), read from the version and variant bytes.
fn is_index_node(bytes: &[u8]) -> bool {
    matches!(bytes, [FORMAT_VERSION, 3 | 4, ..] | [FORMAT_V2, 3..=5, ..])
}

/// Decodes a stored format 1 node's bytes as `T` (the node itself, or a
/// borrowed view of it), checking the version byte and that nothing trails.
pub(super) fn decode_as<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, CodecError> {
    let (&version, rest) = bytes.split_first().ok_or(CodecError::Empty)?;
    let body = match version {
        FORMAT_VERSION => rest,
        SEALED_VERSION => &sealed_parts(bytes)?.0[1..],
        found => return Err(CodecError::UnsupportedVersion { found }),
    };
    let (node, rest) =
        postcard::take_from_bytes(body).map_err(|e| CodecError::Corrupt(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CodecError::Corrupt(format!(
            "{} trailing bytes",
            rest.len()
        )));
    }
    Ok(node)
}

/// The key of an index node: a UUID (version 8) made from the SHA-256 of
/// its encoded bytes. Equal subtrees get equal keys, and a writer replaying
/// the same transactions writes the same keys (which resume relies on).
pub fn index_node_key(encoded: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(encoded);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Datom, Index, IndexLeaf, TxLogHead, Value};

    fn datom() -> Datom {
        Datom {
            e: 1,
            a: 2,
            v: Value::String("x".into()),
            tx: 3,
            added: true,
        }
    }

    #[test]
    fn round_trips_and_is_deterministic() {
        let node = Node::IndexLeaf(IndexLeaf {
            format: crate::model::Format::V1,
            index: Index::Eavt,
            datoms: vec![datom()],
        });
        let a = encode(&node);
        assert_eq!(a, encode(&node.clone()));
        assert_eq!(decode(&a).unwrap(), node);
        assert_eq!(index_node_key(&a), index_node_key(&encode(&node)));
    }

    #[test]
    fn rejects_other_versions_and_garbage() {
        let mut bytes = encode(&Node::TxLogHead(TxLogHead { count: 1 }));
        bytes[0] = 9;
        assert!(matches!(
            decode(&bytes),
            Err(CodecError::UnsupportedVersion { found: 9 })
        ));
        assert!(matches!(decode(&[]), Err(CodecError::Empty)));
        assert!(matches!(
            decode(&[FORMAT_VERSION, 200, 1]),
            Err(CodecError::Corrupt(_))
        ));
    }

    fn entry() -> Node {
        Node::TxLogEntry(crate::model::TxLogEntry {
            lag: None,
            tx: 7,
            instant: 1_700_000_000_000,
            datoms: vec![datom()],
            roots: Default::default(),
            next_entity: [64, 8, 1],
        })
    }

    #[test]
    fn sealed_nodes_read_back_and_unsealed_ones_still_read() {
        let node = entry();
        let sealed = encode_at("log.7", &node);
        assert_eq!(sealed[0], SEALED_VERSION);
        assert_eq!(sealed.len(), encode(&node).len() + SEAL_BYTES);
        assert_eq!(decode_at("log.7", &sealed).unwrap(), node);
        assert!(same_content(&sealed, &encode(&node)));
        assert_eq!(decode_at("log.7", &encode(&node)).unwrap(), node);
        let leaf = encode(&Node::IndexLeaf(IndexLeaf {
            format: crate::model::Format::V1,
            index: Index::Eavt,
            datoms: Vec::new(),
        }));
        assert_eq!(encode_at("any", &decode(&leaf).unwrap()), leaf);
    }

    /// Every single-byte change, every truncation and another key are
    /// refused: none of them reads as a node.
    #[test]
    fn any_damage_to_a_sealed_node_is_refused() {
        let sealed = encode_at("log.7", &entry());
        for i in 0..sealed.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bent = sealed.clone();
                bent[i] ^= flip;
                assert!(decode_at("log.7", &bent).is_err(), "byte {i} ^ {flip:#x}");
            }
        }
        for len in 0..sealed.len() {
            assert!(decode_at("log.7", &sealed[..len]).is_err(), "cut at {len}");
        }
        assert!(matches!(
            decode_at("log.6", &sealed),
            Err(CodecError::ChecksumMismatch)
        ));
    }
}
