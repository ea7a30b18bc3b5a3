//! The database model: datoms, values, schema attributes, the stored node
//! kinds and their versioned binary codec. See `docs/format.md`.

mod codec;
mod compact;
mod database_id;
mod datom;
mod format2;
mod links;
mod named;
mod node;
mod schema;
mod value;

pub use codec::{
    CodecError, FORMAT_V2, FORMAT_VERSION, SEAL_BYTES, SEALED_V2, SEALED_VERSION, check_stored,
    decode, decode_at, encode, encode_at, hex, index_node_key, same_content, seal, sha256_hex,
};
pub use compact::{CompactError, decode_datoms, encode_datoms};
pub use database_id::{MAX_DATABASE_ID_BYTES, check_database_id};
pub use datom::{Datom, EntityId, Index, Partition, entity_id, partition_of, tx_entity};
pub use links::child_keys_of;
pub use named::NamedDatom;
pub use node::{
    DatabaseInfo, Format, IndexInner, IndexLeaf, IndexRoots, IndexSet, Lag, Node, NodeKind, Run,
    TxLogEntry, TxLogHead, entry_key,
};
pub use schema::{Attribute, Cardinality, Schema, Unique, builtin};
pub use value::{Value, ValueType};
