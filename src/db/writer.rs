//! The transaction writer. (Stub: to be built.)

/// Most datoms a leaf holds before it splits.
pub const LEAF_CAPACITY: usize = 128;
/// Most children an inner node holds before it splits.
pub const INNER_CAPACITY: usize = 128;
