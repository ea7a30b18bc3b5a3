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
