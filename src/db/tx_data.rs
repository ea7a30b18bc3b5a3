//! What a transaction asks for, before the writer resolves it against the schema.

use std::collections::BTreeMap;

use bigdecimal::BigDecimal;
use num_bigint::BigInt;

use crate::model::{Datom, EntityId};

/// How a transaction names an entity.
#[derive(Debug, Clone, PartialEq)]
pub enum EntityRef {
    /// An existing entity id.
    Id(EntityId),
    /// A temporary id: every use of the same string in one transaction is
    /// the same new entity (or, through a `:db.unique/identity` attribute,
    /// an existing one).
    Temp(String),
    /// The entity whose `:db/ident` is this keyword (leading colon included).
    Ident(String),
}

/// A value as written in transaction input, not yet checked against the
/// attribute's type: the writer converts it (a `Long` to a `Double`, a
/// `String` to a keyword or a temp-id reference…) or rejects it.
#[derive(Debug, Clone, PartialEq)]
pub enum InputValue {
    /// An integer literal.
    Long(i64),
    /// A floating-point literal.
    Double(f64),
    /// `true` / `false`.
    Boolean(bool),
    /// A string literal (also a temp id for ref attributes, and any typed
    /// value in JSON input, e.g. an RFC 3339 instant or a UUID).
    String(String),
    /// A keyword literal, leading colon included (an ident for ref attributes).
    Keyword(String),
    /// `#inst`: milliseconds since the epoch.
    Instant(i64),
    /// `#uuid`.
    Uuid(uuid::Uuid),
    /// Bytes (`#base64` in EDN).
    Bytes(Vec<u8>),
    /// An `N`-suffixed or oversized integer.
    BigInt(BigInt),
    /// An `M`-suffixed decimal.
    BigDec(BigDecimal),
}

/// One statement of a transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum TxOp {
    /// `[:db/add e a v]`: assert a value.
    Add {
        /// The entity.
        e: EntityRef,
        /// The attribute's ident.
        a: String,
        /// The value.
        v: InputValue,
    },
    /// `[:db/retract e a v]`: retract a current value.
    Retract {
        /// The entity.
        e: EntityRef,
        /// The attribute's ident.
        a: String,
        /// The value.
        v: InputValue,
    },
}

/// What a committed transaction did.
#[derive(Debug, Clone, PartialEq)]
pub struct TxReport {
    /// Its transaction number.
    pub tx: u64,
    /// The entity each temp id resolved to.
    pub tempids: BTreeMap<String, EntityId>,
    /// The datoms it wrote (including `:db/txInstant` and the retractions
    /// implied by cardinality-one replacement).
    pub datoms: Vec<Datom>,
}
