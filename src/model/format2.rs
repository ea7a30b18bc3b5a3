//! The body of a format 2 node (docs/format.md, "Format 2"): postcard, as
//! format 1, but with datom lists in the compact encoding
//! ([`encode_datoms`]) and two new kinds, the index set and its runs.
//! Variant numbers follow format 1's `Node` (2 entry, 3 inner, 4 leaf) and
//! add 5 for the index set; database-info and the head (0 and 1) are the
//! same in both formats and always written as format 1.

use serde::{Deserialize, Serialize};

use super::codec::CodecError;
use super::compact::{decode_datoms, encode_datoms};
use super::datom::Index;
use super::node::{
    Format, IndexInner, IndexLeaf, IndexRoots, IndexSet, Lag, Node, Run, TxLogEntry,
};

/// The order a format 2 entry's datoms are encoded in (they are sorted by
/// entity, attribute and value, and all carry the entry's transaction).
const ENTRY_ORDER: Index = Index::Eavt;

#[derive(Serialize, Deserialize)]
enum Body<'a> {
    /// Database-info is never written as format 2.
    Info,
    /// The head is never written as format 2.
    Head,
    #[serde(borrow)]
    Entry(EntryBody<'a>),
    #[serde(borrow)]
    Inner(InnerBody<'a>),
    #[serde(borrow)]
    Leaf(LeafBody<'a>),
    Set(SetBody),
}

#[derive(Serialize, Deserialize)]
struct EntryBody<'a> {
    tx: u64,
    instant: i64,
    datoms: &'a [u8],
    basis: u64,
    set: String,
    next_entity: [u64; 3],
}

#[derive(Serialize, Deserialize)]
struct InnerBody<'a> {
    index: Index,
    separators: &'a [u8],
    children: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct LeafBody<'a> {
    index: Index,
    datoms: &'a [u8],
}

#[derive(Serialize, Deserialize)]
struct SetBody {
    basis: u64,
    runs: Vec<RunBody>,
}

#[derive(Serialize, Deserialize)]
struct RunBody {
    first_tx: u64,
    last_tx: u64,
    datoms: u64,
    eavt: Option<String>,
    aevt: Option<String>,
    avet: Option<String>,
    vaet: Option<String>,
}

/// Appends the format 2 body of `node` to `out`; `false` (nothing
/// appended) for a node that is not written in format 2.
pub(super) fn encode_body(node: &Node, out: &mut Vec<u8>) -> bool {
    let mut list = Vec::new();
    let body = match node {
        Node::TxLogEntry(TxLogEntry {
            tx,
            instant,
            datoms,
            next_entity,
            lag: Some(lag),
            ..
        }) => {
            encode_datoms(ENTRY_ORDER, datoms, &mut list);
            Body::Entry(EntryBody {
                tx: *tx,
                instant: *instant,
                datoms: &list,
                basis: lag.basis,
                set: lag.set.clone(),
                next_entity: *next_entity,
            })
        }
        Node::IndexInner(inner) if inner.format == Format::V2 => {
            encode_datoms(inner.index, &inner.separators, &mut list);
            Body::Inner(InnerBody {
                index: inner.index,
                separators: &list,
                children: inner.children.clone(),
            })
        }
        Node::IndexLeaf(leaf) if leaf.format == Format::V2 => {
            encode_datoms(leaf.index, &leaf.datoms, &mut list);
            Body::Leaf(LeafBody {
                index: leaf.index,
                datoms: &list,
            })
        }
        Node::IndexSet(set) => Body::Set(SetBody {
            basis: set.basis,
            runs: set.runs.iter().map(run_body).collect(),
        }),
        _ => return false,
    };
    match postcard::to_extend(&body, std::mem::take(out)) {
        Ok(bytes) => *out = bytes,
        // Serializing plain data into a Vec cannot fail; were it ever to,
        // the node is left without a body and no reader accepts it.
        Err(_) => return false,
    }
    true
}

fn run_body(run: &Run) -> RunBody {
    RunBody {
        first_tx: run.first_tx,
        last_tx: run.last_tx,
        datoms: run.datoms,
        eavt: run.roots.eavt.clone(),
        aevt: run.roots.aevt.clone(),
        avet: run.roots.avet.clone(),
        vaet: run.roots.vaet.clone(),
    }
}

/// The body's frame: the node with its datom lists still encoded,
/// refusing trailing bytes.
fn frame(body: &[u8]) -> Result<Body<'_>, CodecError> {
    let (decoded, rest): (Body<'_>, &[u8]) =
        postcard::take_from_bytes(body).map_err(|e| CodecError::Corrupt(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CodecError::Corrupt(format!(
            "{} trailing bytes",
            rest.len()
        )));
    }
    if matches!(decoded, Body::Info | Body::Head) {
        return Err(CodecError::Corrupt(
            "database-info and the tx-log head are written in format 1 only".into(),
        ));
    }
    Ok(decoded)
}

/// The keys a format 2 body links to, read from its frame without
/// decoding its datom lists: what the copier needs of a node nobody
/// transforms. The lists are covered by the node's key (a digest) or
/// seal, checked on every read, and decoded by every reader and by
/// `verify`.
pub(super) fn child_keys(body: &[u8]) -> Result<Vec<String>, CodecError> {
    Ok(match frame(body)? {
        Body::Entry(entry) => vec![entry.set],
        Body::Inner(inner) => inner.children,
        Body::Leaf(_) | Body::Info | Body::Head => Vec::new(),
        Body::Set(set) => set
            .runs
            .into_iter()
            .flat_map(|r| [r.eavt, r.aevt, r.avet, r.vaet])
            .flatten()
            .collect(),
    })
}

/// Decodes a format 2 body (the bytes after the version byte, without a
/// seal), refusing trailing bytes and datom lists not in their canonical
/// encoding.
pub(super) fn decode_body(body: &[u8]) -> Result<Node, CodecError> {
    let decoded = frame(body)?;
    let datoms = |index: Index, bytes: &[u8], what: &str| {
        decode_datoms(index, bytes).map_err(|e| CodecError::Corrupt(format!("{what}: {e}")))
    };
    Ok(match decoded {
        Body::Info | Body::Head => {
            return Err(CodecError::Corrupt(
                "database-info and the tx-log head are written in format 1 only".into(),
            ));
        }
        Body::Entry(entry) => Node::TxLogEntry(TxLogEntry {
            tx: entry.tx,
            instant: entry.instant,
            datoms: datoms(ENTRY_ORDER, entry.datoms, "the entry's datoms")?,
            roots: IndexRoots::default(),
            next_entity: entry.next_entity,
            lag: Some(Lag {
                basis: entry.basis,
                set: entry.set,
            }),
        }),
        Body::Inner(inner) => Node::IndexInner(IndexInner {
            format: Format::V2,
            index: inner.index,
            separators: datoms(inner.index, inner.separators, "the separators")?,
            children: inner.children,
        }),
        Body::Leaf(leaf) => Node::IndexLeaf(IndexLeaf {
            format: Format::V2,
            index: leaf.index,
            datoms: datoms(leaf.index, leaf.datoms, "the leaf's datoms")?,
        }),
        Body::Set(set) => Node::IndexSet(IndexSet {
            basis: set.basis,
            runs: set
                .runs
                .into_iter()
                .map(|r| Run {
                    first_tx: r.first_tx,
                    last_tx: r.last_tx,
                    datoms: r.datoms,
                    roots: IndexRoots {
                        eavt: r.eavt,
                        aevt: r.aevt,
                        avet: r.avet,
                        vaet: r.vaet,
                    },
                })
                .collect(),
        }),
    })
}
