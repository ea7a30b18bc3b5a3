//! The node codec: one format-version byte, then the node in postcard
//! (serde, compact, deterministic: equal nodes give equal bytes).

use super::node::Node;

/// The current format version, the first byte of every stored node.
pub const FORMAT_VERSION: u8 = 1;

/// A stored value that is not a node this version can read.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The value is empty.
    #[error("empty value where a node was expected")]
    Empty,
    /// The value was written by a format version this build does not read.
    #[error(
        "node format version {found} is not supported (this build reads version {FORMAT_VERSION})"
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
}

/// Encodes a node with its version byte.
pub fn encode(node: &Node) -> Vec<u8> {
    let out = vec![FORMAT_VERSION];
    // Serializing plain data into a Vec cannot fail for our types; fall back
    // to an empty body rather than panic if postcard ever says otherwise.
    match postcard::to_extend(node, out) {
        Ok(bytes) => bytes,
        Err(_) => vec![FORMAT_VERSION],
    }
}

/// Decodes a stored node, checking its version byte.
pub fn decode(bytes: &[u8]) -> Result<Node, CodecError> {
    decode_as(bytes)
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
/// ([`index_node_key`]). Every read of a node goes through it, so damage
/// in a store is named where it is read and never copied on. Database-info,
/// tx-log head and entries are not keyed by their content and pass here;
/// readers check them against what refers to them.
pub fn check_stored(key: &str, bytes: &[u8]) -> Result<(), CodecError> {
    if is_index_node(bytes) {
        let digest = index_node_key(bytes);
        if digest != key {
            return Err(CodecError::KeyMismatch { digest });
        }
    }
    Ok(())
}

/// Whether stored bytes hold an index inner node or leaf (variants 3 and 4
/// of `Node`, docs/format.md), read from the version and variant bytes.
fn is_index_node(bytes: &[u8]) -> bool {
    matches!(bytes, [FORMAT_VERSION, 3 | 4, ..])
}

/// Decodes a stored node's bytes as `T` (the node itself, or a borrowed
/// view of it), checking the version byte and that nothing trails.
pub(super) fn decode_as<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, CodecError> {
    let (&version, body) = bytes.split_first().ok_or(CodecError::Empty)?;
    if version != FORMAT_VERSION {
        return Err(CodecError::UnsupportedVersion { found: version });
    }
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

    #[test]
    fn round_trips_and_is_deterministic() {
        let node = Node::IndexLeaf(IndexLeaf {
            index: Index::Eavt,
            datoms: vec![Datom {
                e: 1,
                a: 2,
                v: Value::String("x".into()),
                tx: 3,
                added: true,
            }],
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
}
