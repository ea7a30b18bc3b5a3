//! The rules on a tx-log entry by itself and against the entry before it
//! (E1–E4), as the transaction writer (`src/db/tx_build.rs`) and the
//! replayer (`src/db/replay/mod.rs`) guarantee them.

use std::cmp::Ordering;

use crate::model::{
    Datom, Index, Partition, Schema, TxLogEntry, Value, builtin, entity_id, partition_of, tx_entity,
};

use super::super::tx_build::schema_value_ok;
use super::problem::{Fault, Rule, show};

/// What the entry before the checked one left: its entity counters and
/// the schema (`[0; 3]` and the empty schema before entry 0).
pub(super) struct Before<'a> {
    /// Entity counters (Db, Tx, User) after the previous entry.
    pub next_entity: [u64; 3],
    /// The schema after the previous entry.
    pub schema: &'a Schema,
}

/// E1–E4 on entry `k`, stored at `key`; `after` is the schema once the
/// entry's own schema datoms are applied.
pub(super) fn check(
    k: u64,
    key: &str,
    entry: &TxLogEntry,
    before: &Before<'_>,
    after: &Schema,
) -> Vec<Fault> {
    let mut faults = Vec::new();
    e1_position_and_instant(k, entry, &mut |t| faults.push(Fault::new(Rule::E1, key, t)));
    e2_stamps_and_duplicates(k, entry, &mut |t| faults.push(Fault::new(Rule::E2, key, t)));
    e3_schema(k, entry, before.schema, after, &mut |t| {
        faults.push(Fault::new(Rule::E3, key, t))
    });
    e4_entities(k, entry, before.next_entity, &mut |t| {
        faults.push(Fault::new(Rule::E4, key, t))
    });
    faults
}

/// E1: the entry is transaction `k`, and its novelty asserts the
/// transaction entity's `:db/txInstant` as the entry's instant (the writer
/// always adds it; instants may repeat and need not grow).
fn e1_position_and_instant(k: u64, entry: &TxLogEntry, fault: &mut dyn FnMut(String)) {
    if entry.tx != k {
        fault(format!(
            "the entry says it is transaction {}, but it is entry {k} of the log",
            entry.tx
        ));
    }
    let instant = Datom {
        e: tx_entity(k),
        a: builtin::TX_INSTANT,
        v: Value::Instant(entry.instant),
        tx: k,
        added: true,
    };
    if !entry.datoms.contains(&instant) {
        fault(format!(
            "the novelty does not assert the transaction entity's :db/txInstant as the entry's instant {} ({})",
            entry.instant,
            show(&instant)
        ));
    }
}

/// E2: every datom is stamped `k`, and no two state the same entity,
/// attribute and value (the writer keeps one datom per fact and drops an
/// assertion and retraction that cancel out).
fn e2_stamps_and_duplicates(k: u64, entry: &TxLogEntry, fault: &mut dyn FnMut(String)) {
    for d in entry.datoms.iter().filter(|d| d.tx != k) {
        fault(format!(
            "datom {} is stamped transaction {}, but it is in transaction {k}",
            show(d),
            d.tx
        ));
    }
    let mut sorted: Vec<&Datom> = entry.datoms.iter().collect();
    sorted.sort_by(|x, y| Index::Eavt.cmp(x, y));
    for pair in sorted.windows(2) {
        if let [x, y] = pair
            && x.e == y.e
            && x.a == y.a
            && x.v.cmp(&y.v) == Ordering::Equal
        {
            fault(format!(
                "datoms {} and {} state the same entity, attribute and value twice",
                show(x),
                show(y)
            ));
        }
    }
}

/// E3: every datom's attribute is an attribute of the schema before or
/// after the entry (a transaction may use an attribute it defines, and the
/// replayer resolves one it drops), or is the transaction entity's
/// `:db/txInstant`, which the writer always writes. An assertion's value is
/// of the attribute's type there, and a schema attribute's value is one it
/// understands. Retractions are not type-checked: an attribute's type may
/// change, and a later retraction then retracts a value of the old type.
fn e3_schema(
    k: u64,
    entry: &TxLogEntry,
    before: &Schema,
    after: &Schema,
    fault: &mut dyn FnMut(String),
) {
    for d in &entry.datoms {
        let found = [after.by_id(d.a), before.by_id(d.a)];
        let known: Vec<_> = found.into_iter().flatten().collect();
        if known.is_empty() {
            if d.e == tx_entity(k) && d.a == builtin::TX_INSTANT {
                continue;
            }
            fault(format!(
                "datom {} names attribute {}, which the schema does not define before or after this transaction",
                show(d),
                d.a
            ));
            continue;
        }
        if !d.added {
            continue;
        }
        let found = d.v.value_type();
        if let Some(attr) = known.first()
            && !known.iter().any(|a| a.value_type == found)
        {
            fault(format!(
                "datom {} asserts a {found} value, but attribute `{}` takes {} values",
                show(d),
                attr.ident,
                attr.value_type
            ));
        } else if !schema_value_ok(d.a, &d.v)
            && let Some(attr) = known.first()
        {
            fault(format!(
                "datom {} asserts `{}` for `{}`, which is not a value it understands",
                show(d),
                d.v,
                attr.ident
            ));
        }
    }
}

/// E4: the entity counters never go down, the tx counter is `k + 1` (the
/// writer sets it so, and the replayer requires it), and every entity the
/// novelty uses (its entity, a ref value) is in a partition and below that
/// partition's counter after this entry.
fn e4_entities(k: u64, entry: &TxLogEntry, before: [u64; 3], fault: &mut dyn FnMut(String)) {
    let next = entry.next_entity;
    if next.iter().zip(&before).any(|(n, b)| n < b) {
        fault(format!(
            "the entity counters {next:?} are below the previous entry's {before:?}: they only grow"
        ));
    }
    let tx_next = next[Partition::Tx as usize];
    if tx_next != k + 1 {
        fault(format!(
            "the tx partition's counter is {tx_next}, but after transaction {k} it is {}",
            k + 1
        ));
    }
    for d in &entry.datoms {
        let refs = d.v.as_ref_id();
        for id in std::iter::once(d.e).chain(refs) {
            if let Some(why) = unissued(id, next) {
                fault(format!("datom {} uses entity {id}, {why}", show(d)));
            }
        }
    }
}

/// Why `id` was not issued by counters `next`, if it was not.
fn unissued(id: u64, next: [u64; 3]) -> Option<String> {
    let Some(p) = partition_of(id) else {
        return Some(format!(
            "which is in no partition (its partition bits say {}; db is 0, tx 1, user 2)",
            id >> 42
        ));
    };
    let counter = id - entity_id(p, 0);
    let limit = next[p as usize];
    let name = match p {
        Partition::Db => "db",
        Partition::Tx => "tx",
        Partition::User => "user",
    };
    (counter >= limit).then(|| {
        format!(
            "which the {name} partition has not issued: its counter is {counter}, and the entry's next_entity for {name} is {limit}"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::IndexRoots;

    fn schema() -> Schema {
        Schema::from_current_datoms(&builtin::bootstrap_datoms())
    }

    fn entry(k: u64, datoms: Vec<Datom>) -> TxLogEntry {
        let mut datoms = datoms;
        datoms.push(Datom {
            e: tx_entity(k),
            a: builtin::TX_INSTANT,
            v: Value::Instant(7),
            tx: k,
            added: true,
        });
        TxLogEntry {
            lag: None,
            tx: k,
            instant: 7,
            datoms,
            roots: IndexRoots::default(),
            next_entity: [64, k + 1, 5],
        }
    }

    fn rules(e: &TxLogEntry, k: u64) -> Vec<(Rule, String)> {
        let s = schema();
        let before = Before {
            next_entity: [64, k, 5],
            schema: &s,
        };
        check(k, "entry", e, &before, &s)
            .into_iter()
            .map(|f| (f.code, f.text))
            .collect()
    }

    fn doc(e: u64, v: Value, tx: u64) -> Datom {
        Datom {
            e,
            a: builtin::DOC,
            v,
            tx,
            added: true,
        }
    }

    #[test]
    fn a_well_formed_entry_passes() {
        let user = entity_id(Partition::User, 4);
        let e = entry(3, vec![doc(user, Value::String("x".into()), 3)]);
        assert_eq!(rules(&e, 3), vec![]);
    }

    #[test]
    fn each_rule_names_what_is_wrong() {
        let user = entity_id(Partition::User, 4);
        let mut e = entry(3, vec![doc(user, Value::String("x".into()), 2)]);
        e.tx = 4;
        e.instant = 8;
        e.next_entity = [64, 3, 4];
        e.datoms.push(doc(user, Value::Long(1), 3));
        e.datoms.push(doc(user, Value::Long(1), 3));
        e.datoms.push(Datom {
            a: 99,
            ..doc(user, Value::Long(1), 3)
        });
        let found = rules(&e, 3);
        let has = |code: Rule, words: &str| {
            assert!(
                found.iter().any(|(c, t)| *c == code && t.contains(words)),
                "{code} `{words}` not in {found:?}"
            )
        };
        has(Rule::E1, "says it is transaction 4");
        has(Rule::E1, ":db/txInstant");
        has(Rule::E2, "stamped transaction 2");
        has(Rule::E2, "twice");
        has(Rule::E3, "takes :db.type/string values");
        has(Rule::E3, "attribute 99");
        has(Rule::E4, "only grow");
        has(Rule::E4, "tx partition's counter is 3");
        has(Rule::E4, "user partition has not issued");
    }
}
