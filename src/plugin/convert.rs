//! Our nodes to the WIT records guests see, and back. Datoms carry their
//! attribute's ident so guests work with names; coming back, the ident must
//! still be the one of the datom's attribute id.

use std::collections::BTreeMap;

use crate::migrate::XformTx;
use crate::model::{self, Datom, Index, NamedDatom, Node, Value};

use super::bindings::eva::xform::types as wit;

/// Attribute id → ident, for the database being migrated.
#[derive(Debug, Clone, Default)]
pub struct Idents(BTreeMap<u64, String>);

impl Idents {
    /// From (id, ident) pairs, e.g. a schema's attributes.
    pub fn new(pairs: impl IntoIterator<Item = (u64, String)>) -> Idents {
        Idents(pairs.into_iter().collect())
    }

    fn of(&self, a: u64) -> Result<&str, String> {
        self.0
            .get(&a)
            .map(String::as_str)
            .ok_or_else(|| format!("datom attribute {a} is not in the schema"))
    }
}

/// A keyed node as the guest sees it. Its strings are moved, not copied:
/// only each datom's attribute ident is allocated. On a datom whose
/// attribute the schema lacks: the key and the reason.
pub fn to_wit(key: String, node: Node, idents: &Idents) -> Result<wit::Node, (String, String)> {
    match content_to_wit(node, idents) {
        Ok(content) => Ok(wit::Node { key, content }),
        Err(reason) => Err((key, reason)),
    }
}

fn content_to_wit(node: Node, idents: &Idents) -> Result<wit::Content, String> {
    let datoms = |ds: Vec<Datom>| {
        ds.into_iter()
            .map(|d| datom_to_wit(d, idents))
            .collect::<Result<Vec<_>, _>>()
    };
    if node.format() == model::Format::V2 {
        return Err(format!(
            "a format 2 {} cannot cross to an eva:xform 0.2 plugin; run plugins on a format 1 database (format 2 support comes with the plugin interface that passes nodes as bytes)",
            node.kind().name()
        ));
    }
    Ok(match node {
        Node::DatabaseInfo(i) => wit::Content::DatabaseInfo(wit::DatabaseInfo {
            database_id: i.database_id,
            tx_log: i.tx_log,
            identity: i.identity,
        }),
        Node::TxLogHead(h) => wit::Content::TxLogHead(wit::TxLogHead { count: h.count }),
        Node::TxLogEntry(e) => wit::Content::TxLogEntry(wit::TxLogEntry {
            tx: e.tx,
            instant: e.instant,
            datoms: datoms(e.datoms)?,
            roots: wit::IndexRoots {
                eavt: e.roots.eavt,
                aevt: e.roots.aevt,
                avet: e.roots.avet,
                vaet: e.roots.vaet,
            },
            next_entity: e.next_entity.to_vec(),
        }),
        Node::IndexInner(n) => wit::Content::IndexInner(wit::IndexInner {
            index: index_to_wit(n.index),
            separators: datoms(n.separators)?,
            children: n.children,
        }),
        Node::IndexLeaf(n) => wit::Content::IndexLeaf(wit::IndexLeaf {
            index: index_to_wit(n.index),
            datoms: datoms(n.datoms)?,
        }),
        // Format 2 only: refused above.
        Node::IndexSet(_) => return Err("an index set cannot cross to a plugin".to_string()),
    })
}

/// A node returned by a guest, back in our types.
pub fn from_wit(node: wit::Node, idents: &Idents) -> Result<(String, Node), String> {
    let datoms = |ds: Vec<wit::Datom>| {
        ds.into_iter()
            .map(|d| datom_from_wit(d, idents))
            .collect::<Result<Vec<_>, _>>()
    };
    let node_out = match node.content {
        wit::Content::DatabaseInfo(i) => Node::DatabaseInfo(model::DatabaseInfo {
            database_id: i.database_id,
            tx_log: i.tx_log,
            identity: i.identity,
        }),
        wit::Content::TxLogHead(h) => Node::TxLogHead(model::TxLogHead { count: h.count }),
        wit::Content::TxLogEntry(e) => Node::TxLogEntry(model::TxLogEntry {
            tx: e.tx,
            instant: e.instant,
            datoms: datoms(e.datoms)?,
            roots: model::IndexRoots {
                eavt: e.roots.eavt,
                aevt: e.roots.aevt,
                avet: e.roots.avet,
                vaet: e.roots.vaet,
            },
            next_entity: e.next_entity.try_into().map_err(|v: Vec<u64>| {
                format!("next-entity has {} counters, expected 3", v.len())
            })?,
            lag: None,
        }),
        wit::Content::IndexInner(n) => Node::IndexInner(model::IndexInner {
            format: model::Format::V1,
            index: index_from_wit(n.index),
            separators: datoms(n.separators)?,
            children: n.children,
        }),
        wit::Content::IndexLeaf(n) => Node::IndexLeaf(model::IndexLeaf {
            format: model::Format::V1,
            index: index_from_wit(n.index),
            datoms: datoms(n.datoms)?,
        }),
    };
    Ok((node.key, node_out))
}

/// A rebuild-mode transaction as the guest sees it.
pub fn tx_to_wit(tx: &XformTx) -> wit::Transaction {
    wit::Transaction {
        tx: tx.tx,
        instant: tx.instant,
        datoms: tx
            .datoms
            .iter()
            .map(|d| wit::TxDatom {
                e: d.e,
                attribute: d.a.clone(),
                v: value_to_wit(d.v.clone()),
                added: d.added,
            })
            .collect(),
    }
}

/// A transaction returned by a guest, back in our types (the host checks
/// it against the schema afterwards).
pub fn tx_from_wit(tx: wit::Transaction) -> Result<XformTx, String> {
    let datoms = tx
        .datoms
        .into_iter()
        .map(|d| {
            Ok(NamedDatom {
                e: d.e,
                a: d.attribute,
                v: value_from_wit(d.v)?,
                added: d.added,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(XformTx {
        tx: tx.tx,
        instant: tx.instant,
        datoms,
    })
}

fn index_to_wit(index: Index) -> wit::IndexKind {
    match index {
        Index::Eavt => wit::IndexKind::Eavt,
        Index::Aevt => wit::IndexKind::Aevt,
        Index::Avet => wit::IndexKind::Avet,
        Index::Vaet => wit::IndexKind::Vaet,
    }
}

fn index_from_wit(index: wit::IndexKind) -> Index {
    match index {
        wit::IndexKind::Eavt => Index::Eavt,
        wit::IndexKind::Aevt => Index::Aevt,
        wit::IndexKind::Avet => Index::Avet,
        wit::IndexKind::Vaet => Index::Vaet,
    }
}

fn datom_to_wit(d: Datom, idents: &Idents) -> Result<wit::Datom, String> {
    Ok(wit::Datom {
        e: d.e,
        a: d.a,
        attribute: idents.of(d.a)?.to_string(),
        v: value_to_wit(d.v),
        tx: d.tx,
        added: d.added,
    })
}

fn datom_from_wit(d: wit::Datom, idents: &Idents) -> Result<Datom, String> {
    let ident = idents.of(d.a)?;
    if d.attribute != ident {
        return Err(format!(
            "a datom's attribute name changed from `{ident}` to `{}` (renames change sort order: use rebuild mode)",
            d.attribute
        ));
    }
    Ok(Datom {
        e: d.e,
        a: d.a,
        v: value_from_wit(d.v)?,
        tx: d.tx,
        added: d.added,
    })
}

fn value_to_wit(v: Value) -> wit::Value {
    match v {
        Value::Long(x) => wit::Value::Long(x),
        Value::Double(x) => wit::Value::Double(x),
        Value::Boolean(x) => wit::Value::Boolean(x),
        Value::String(x) => wit::Value::String(x),
        Value::Keyword(x) => wit::Value::Keyword(x),
        Value::Ref(x) => wit::Value::Ref(x),
        Value::Instant(x) => wit::Value::Instant(x),
        Value::Uuid(x) => wit::Value::Uuid(x.hyphenated().to_string()),
        Value::Bytes(x) => wit::Value::Bytes(x),
        Value::BigInt(x) => wit::Value::Bigint(x.to_string()),
        Value::BigDec(x) => wit::Value::Bigdec(x.to_string()),
    }
}

fn value_from_wit(v: wit::Value) -> Result<Value, String> {
    Ok(match v {
        wit::Value::Long(x) => Value::Long(x),
        wit::Value::Double(x) => Value::Double(x),
        wit::Value::Boolean(x) => Value::Boolean(x),
        wit::Value::String(x) => Value::String(x),
        wit::Value::Keyword(x) => Value::Keyword(x),
        wit::Value::Ref(x) => Value::Ref(x),
        wit::Value::Instant(x) => Value::Instant(x),
        wit::Value::Uuid(x) => Value::Uuid(x.parse().map_err(|_| format!("`{x}` is not a UUID"))?),
        wit::Value::Bytes(x) => Value::Bytes(x),
        wit::Value::Bigint(x) => {
            Value::BigInt(x.parse().map_err(|_| format!("`{x}` is not an integer"))?)
        }
        wit::Value::Bigdec(x) => {
            Value::bigdec(x.parse().map_err(|_| format!("`{x}` is not a decimal"))?)
        }
    })
}
