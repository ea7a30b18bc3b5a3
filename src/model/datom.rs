//! Datoms, entity ids and the four index orders.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::value::Value;

/// An entity id: a partition in the high bits, a counter in the low 42.
pub type EntityId = u64;

const PARTITION_SHIFT: u32 = 42;

/// Entity-id partitions: schema and built-ins, transactions, user data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Partition {
    /// `:db.part/db`: attributes and built-in idents.
    Db = 0,
    /// `:db.part/tx`: one entity per transaction.
    Tx = 1,
    /// `:db.part/user`: everything else.
    User = 2,
}

/// The id of the `n`-th entity of a partition.
pub fn entity_id(partition: Partition, n: u64) -> EntityId {
    ((partition as u64) << PARTITION_SHIFT) | n
}

/// The partition an entity id belongs to, if it is a known one.
pub fn partition_of(e: EntityId) -> Option<Partition> {
    match e >> PARTITION_SHIFT {
        0 => Some(Partition::Db),
        1 => Some(Partition::Tx),
        2 => Some(Partition::User),
        _ => None,
    }
}

/// The entity that stands for transaction `t` (it carries `:db/txInstant`).
pub fn tx_entity(t: u64) -> EntityId {
    entity_id(Partition::Tx, t)
}

/// A fact: entity `e` has (`added`) or no longer has (`!added`) value `v`
/// for attribute `a`, as of transaction number `tx`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Datom {
    /// The entity.
    pub e: EntityId,
    /// The attribute (an entity id of the `Db` partition).
    pub a: EntityId,
    /// The value.
    pub v: Value,
    /// The transaction number (position in the tx-log).
    pub tx: u64,
    /// Assertion (`true`) or retraction (`false`).
    pub added: bool,
}

/// The four covering indexes, each a B+tree of all datoms ever asserted or
/// retracted (history), sorted in its own order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Index {
    /// Entity, attribute, value, tx: "everything about an entity".
    Eavt,
    /// Attribute, entity, value, tx: "everyone's value of an attribute".
    Aevt,
    /// Attribute, value, entity, tx: lookup by value (all attributes here).
    Avet,
    /// Value, attribute, entity, tx: reverse references (ref attributes only).
    Vaet,
}

impl Index {
    /// The four indexes in a fixed order.
    pub const ALL: [Index; 4] = [Index::Eavt, Index::Aevt, Index::Avet, Index::Vaet];

    /// Lower-case name as used on the command line (`eavt`, …).
    pub fn name(self) -> &'static str {
        match self {
            Index::Eavt => "eavt",
            Index::Aevt => "aevt",
            Index::Avet => "avet",
            Index::Vaet => "vaet",
        }
    }

    /// The first position `i` where `datoms[i] < datoms[i + 1]` fails in
    /// this index's order (a duplicate fails too); `None` when strictly
    /// sorted. What the writer guarantees and every checker checks.
    pub fn first_unsorted(self, datoms: &[Datom]) -> Option<usize> {
        datoms
            .windows(2)
            .position(|w| self.cmp(&w[0], &w[1]) != Ordering::Less)
    }

    /// Compares two datoms in this index's order. Datoms with equal
    /// (e, a, v) are adjacent in every order and sorted by tx, then
    /// retraction before assertion.
    pub fn cmp(self, x: &Datom, y: &Datom) -> Ordering {
        let tail = || x.tx.cmp(&y.tx).then(x.added.cmp(&y.added));
        match self {
            Index::Eavt => {
                x.e.cmp(&y.e)
                    .then(x.a.cmp(&y.a))
                    .then_with(|| x.v.cmp(&y.v))
            }
            Index::Aevt => {
                x.a.cmp(&y.a)
                    .then(x.e.cmp(&y.e))
                    .then_with(|| x.v.cmp(&y.v))
            }
            Index::Avet => {
                x.a.cmp(&y.a)
                    .then_with(|| x.v.cmp(&y.v))
                    .then(x.e.cmp(&y.e))
            }
            Index::Vaet => x.v.cmp(&y.v).then(x.a.cmp(&y.a)).then(x.e.cmp(&y.e)),
        }
        .then_with(tail)
    }

    /// Whether a datom belongs in this index (VAET holds ref values only).
    pub fn holds(self, datom: &Datom) -> bool {
        self != Index::Vaet || matches!(datom.v, Value::Ref(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(e: u64, a: u64, v: i64, tx: u64) -> Datom {
        Datom {
            e,
            a,
            v: Value::Long(v),
            tx,
            added: true,
        }
    }

    #[test]
    fn orders_differ_by_index() {
        let x = d(1, 9, 5, 1);
        let y = d(2, 8, 5, 1);
        assert_eq!(Index::Eavt.cmp(&x, &y), Ordering::Less);
        assert_eq!(Index::Aevt.cmp(&x, &y), Ordering::Greater);
    }

    #[test]
    fn partitions_round_trip() {
        for p in [Partition::Db, Partition::Tx, Partition::User] {
            assert_eq!(partition_of(entity_id(p, 77)), Some(p));
        }
    }
}
