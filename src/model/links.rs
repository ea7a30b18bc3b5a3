//! A stored node's links (its children's keys) read straight from its
//! bytes. The copier needs nothing else of a node when no transform looks
//! at it, and building the node (every datom, every string allocated) was
//! a third of a migration's time. The bytes are still checked exactly as
//! [`decode`](super::decode) checks them — same grammar, same UTF-8 and
//! tag checks, nothing trailing — but strings and datoms are borrowed and
//! dropped, never built.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use bigdecimal::BigDecimal;
use num_bigint::BigInt;
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

use super::codec::{CodecError, FORMAT_V2, SEALED_V2, decode_as};
use super::datom::Index;
use super::node::TxLogHead;

/// The keys of the nodes `bytes` (a stored node) links to, in the order
/// [`Node::child_keys`](super::Node::child_keys) gives them. For a format 1
/// node, an error exactly when [`decode`](super::decode) would fail; a
/// format 2 node is read by its frame, its compact datom lists left to
/// the readers that decode them (they are covered by the node's digest or
/// seal, checked on every read).
pub fn child_keys_of(bytes: &[u8]) -> Result<Vec<String>, CodecError> {
    if matches!(bytes.first(), Some(&(FORMAT_V2 | SEALED_V2))) {
        return super::codec::format2_child_keys(bytes);
    }
    let view: NodeView<'_> = decode_as(bytes)?;
    let keys: Vec<&str> = match &view {
        NodeView::DatabaseInfo(info) => vec![info.tx_log],
        NodeView::TxLogHead(_) | NodeView::IndexLeaf(_) => Vec::new(),
        NodeView::TxLogEntry(entry) => [
            entry.roots.eavt,
            entry.roots.aevt,
            entry.roots.avet,
            entry.roots.vaet,
        ]
        .into_iter()
        .flatten()
        .collect(),
        NodeView::IndexInner(inner) => inner.children.clone(),
    };
    Ok(keys.into_iter().map(String::from).collect())
}

// The views below mirror `Node` field for field and variant for variant
// (postcard is positional): a change there must be made here too, which
// the tests check on every kind and value type. Fields are read only by
// the deserializer, to check the bytes.

#[derive(Deserialize)]
#[allow(dead_code)]
enum NodeView<'a> {
    #[serde(borrow)]
    DatabaseInfo(InfoView<'a>),
    TxLogHead(TxLogHead),
    #[serde(borrow)]
    TxLogEntry(EntryView<'a>),
    #[serde(borrow)]
    IndexInner(InnerView<'a>),
    IndexLeaf(LeafView),
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct InfoView<'a> {
    database_id: &'a str,
    tx_log: &'a str,
    identity: &'a str,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct EntryView<'a> {
    tx: u64,
    instant: i64,
    datoms: CheckedDatoms,
    #[serde(borrow)]
    roots: RootsView<'a>,
    next_entity: [u64; 3],
}

#[derive(Deserialize)]
struct RootsView<'a> {
    eavt: Option<&'a str>,
    aevt: Option<&'a str>,
    avet: Option<&'a str>,
    vaet: Option<&'a str>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct InnerView<'a> {
    index: Index,
    separators: CheckedDatoms,
    #[serde(borrow)]
    children: Vec<&'a str>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct LeafView {
    index: Index,
    datoms: CheckedDatoms,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct DatomView<'a> {
    e: u64,
    a: u64,
    #[serde(borrow)]
    v: ValueView<'a>,
    tx: u64,
    added: bool,
}

#[derive(Deserialize)]
#[allow(dead_code)]
enum ValueView<'a> {
    Long(i64),
    Double(f64),
    Boolean(bool),
    String(&'a str),
    Keyword(&'a str),
    Ref(u64),
    Instant(i64),
    Uuid(uuid::Uuid),
    Bytes(&'a [u8]),
    BigInt(BigInt),
    BigDec(&'a str),
}

/// A list of datoms, each checked and dropped as it is read.
struct CheckedDatoms;

impl<'de> Deserialize<'de> for CheckedDatoms {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(DatomsVisitor(PhantomData))
    }
}

struct DatomsVisitor<'de>(PhantomData<&'de ()>);

impl<'de> Visitor<'de> for DatomsVisitor<'de> {
    type Value = CheckedDatoms;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of datoms")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CheckedDatoms, A::Error> {
        while let Some(datom) = seq.next_element::<DatomView<'de>>()? {
            if let ValueView::BigDec(text) = datom.v {
                BigDecimal::from_str(text).map_err(de::Error::custom)?;
            }
        }
        Ok(CheckedDatoms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        DatabaseInfo, Datom, IndexInner, IndexLeaf, IndexRoots, Node, TxLogEntry, Value, decode,
        encode,
    };

    fn datoms() -> Vec<Datom> {
        let values = [
            Value::Long(-3),
            Value::Double(1.5),
            Value::Boolean(true),
            Value::String("text".into()),
            Value::Keyword(":k/w".into()),
            Value::Ref(7),
            Value::Instant(1000),
            Value::Uuid(uuid::Uuid::from_u128(0x1234)),
            Value::Bytes(vec![0, 1, 255]),
            Value::BigInt(BigInt::from(10).pow(30)),
            Value::bigdec(BigDecimal::from_str("-1234.50").unwrap()),
        ];
        values
            .into_iter()
            .enumerate()
            .map(|(i, v)| Datom {
                e: 100 + i as u64,
                a: 10,
                v,
                tx: 5,
                added: i % 2 == 0,
            })
            .collect()
    }

    fn nodes() -> Vec<Node> {
        vec![
            Node::DatabaseInfo(DatabaseInfo {
                database_id: "db".into(),
                tx_log: "db.log".into(),
                identity: "id".into(),
            }),
            Node::TxLogHead(TxLogHead { count: 3 }),
            Node::TxLogEntry(TxLogEntry {
                lag: None,
                tx: 2,
                instant: 99,
                datoms: datoms(),
                roots: IndexRoots {
                    eavt: Some("e".into()),
                    aevt: None,
                    avet: Some("av".into()),
                    vaet: Some("v".into()),
                },
                next_entity: [1, 2, 3],
            }),
            Node::IndexInner(IndexInner {
                format: crate::model::Format::V1,
                index: Index::Aevt,
                separators: datoms()[..2].to_vec(),
                children: vec!["c0".into(), "c1".into(), "c2".into()],
            }),
            Node::IndexLeaf(IndexLeaf {
                format: crate::model::Format::V1,
                index: Index::Eavt,
                datoms: datoms(),
            }),
        ]
    }

    #[test]
    fn links_equal_the_decoded_nodes_children() {
        for node in nodes() {
            let keys = child_keys_of(&encode(&node)).unwrap();
            assert_eq!(keys, node.child_keys(), "{node:?}");
        }
    }

    /// Every truncation and every single-byte change is refused exactly
    /// when the full decoder refuses it.
    #[test]
    fn refuses_exactly_what_decode_refuses() {
        let mut compared = 0;
        for node in nodes() {
            let bytes = encode(&node);
            for len in 0..bytes.len() {
                let cut = &bytes[..len];
                assert_eq!(
                    child_keys_of(cut).is_ok(),
                    decode(cut).is_ok(),
                    "cut at {len}"
                );
            }
            for at in 0..bytes.len() {
                for delta in [1u8, 0x80, 0xff] {
                    let mut bent = bytes.clone();
                    bent[at] = bent[at].wrapping_add(delta);
                    let full = decode(&bent);
                    assert_eq!(
                        child_keys_of(&bent).is_ok(),
                        full.is_ok(),
                        "byte {at} +{delta}"
                    );
                    if let Ok(full) = full {
                        assert_eq!(child_keys_of(&bent).unwrap(), full.child_keys());
                    }
                    compared += 1;
                }
            }
            let mut trailing = bytes.clone();
            trailing.push(0);
            assert!(child_keys_of(&trailing).is_err());
        }
        assert!(compared > 300, "{compared}");
    }
}
