//! # eva-admin
//!
//! Administration of Eva-style immutable datom databases. A database is a
//! graph of immutable nodes in a [`store::ValueStore`]: a database-info
//! naming a tx-log head, whose entries each hold a transaction's datoms and
//! the roots of four copy-on-write index trees (EAVT, AEVT, AVET, VAET).
//!
//! - [`store`]: value stores by URL (`mem:`, `sled:`, `sqlite:`, `postgres://`, `mysql://`).
//! - [`model`]: datoms, values, schema, node kinds, the versioned codec.
//! - [`db`]: the writer (`transact`), the replayer of explicit transactions, the reader (`datoms`), the generator.
//! - [`migrate`]: migration (a post-order copy, or a rebuild through transaction transforms), status, verify.
//! - [`plugin`]: the WebAssembly plugin host.
//! - [`bench`]: the benchmark harness (`eva-admin bench`): migration next to a raw copy, as ratios.
//! - [`cli`]: the `eva-admin` command line; nothing else depends on it.
//!
//! Guarantees: nodes are created once and never overwritten; the mutable
//! keys (database-info, tx-log head) change only by compare-and-set, after
//! everything they point at is stored.

pub mod bench;
pub mod cli;
pub mod db;
pub mod migrate;
pub mod model;
pub mod plugin;
pub mod safe_text;
pub mod store;
