//! Planning generated transactions: a pure, seeded state machine. It picks
//! what each transaction does (new people, updates, retractions, refs) and
//! learns the ids of the people it created from each commit's report.

use std::collections::{HashSet, VecDeque};

use bigdecimal::BigDecimal;
use num_bigint::BigInt;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::schema::{self, DemoAttribute, EMAIL, FRIENDS, MANAGER, TAGS};
use crate::db::{EntityRef, InputValue, TxOp, TxReport};
use crate::model::{EntityId, ValueType};

/// Most people the planner remembers to pick from (older ones are
/// forgotten at random): memory stays bounded whatever the run's length.
const POOL_CAP: usize = 100_000;
/// Most cardinality-many values remembered as retractable.
const MANY_CAP: usize = 100_000;
/// The instant of the demo's "now", 2024-01-01T00:00:00Z.
const EPOCH_2024_MS: i64 = 1_704_067_200_000;

const FIRST_NAMES: [&str; 8] = [
    "Ann", "Bo", "Chen", "Dana", "Eli", "Fatima", "Goran", "Hana",
];
const LAST_NAMES: [&str; 8] = [
    "Smith", "Okafor", "Ivanova", "Tanaka", "Silva", "Kowalski", "Haddad", "Berg",
];
const STATUSES: [&str; 3] = [":status/active", ":status/away", ":status/gone"];
const TAG_COUNT: u32 = 40;

/// A current value of a cardinality-many attribute, which a later
/// transaction may retract.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum ManyValue {
    /// `:person/tags :tag/tN`.
    Tag(u32),
    /// `:person/friends <id>`.
    Friend(EntityId),
}

impl ManyValue {
    fn attribute(self) -> &'static str {
        match self {
            ManyValue::Tag(_) => TAGS,
            ManyValue::Friend(_) => FRIENDS,
        }
    }

    fn input(self) -> InputValue {
        match self {
            ManyValue::Tag(n) => InputValue::Keyword(format!(":tag/t{n}")),
            ManyValue::Friend(id) => entity_value(id),
        }
    }
}

fn entity_value(id: EntityId) -> InputValue {
    InputValue::Long(i64::try_from(id).unwrap_or(i64::MAX))
}

/// The seeded planner.
pub(super) struct Planner {
    rng: ChaCha8Rng,
    /// Distinguishes this run's emails from an earlier run's on the same database.
    salt: u64,
    /// Next person number (temp ids and emails).
    next_person: u64,
    /// Ids of people created so far (bounded by [`POOL_CAP`]).
    pool: Vec<EntityId>,
    /// Current cardinality-many values, oldest first (bounded by [`MANY_CAP`]).
    many: VecDeque<(EntityId, ManyValue)>,
    many_set: HashSet<(EntityId, ManyValue)>,
    /// What the transaction being planned creates and asserts, applied at commit.
    pending_people: Vec<String>,
    pending_many: Vec<(EntityId, ManyValue)>,
}

impl Planner {
    /// A planner for `seed`; `salt` is mixed into emails (use the tx number
    /// the run starts at).
    pub(super) fn new(seed: u64, salt: u64) -> Self {
        Planner {
            rng: ChaCha8Rng::seed_from_u64(seed),
            salt,
            next_person: 0,
            pool: Vec::new(),
            many: VecDeque::new(),
            many_set: HashSet::new(),
            pending_people: Vec::new(),
            pending_many: Vec::new(),
        }
    }

    /// How many people were created and committed so far (capped by the pool size).
    pub(super) fn people(&self) -> usize {
        self.pool.len()
    }

    /// Plans a transaction of exactly `ops` statements.
    pub(super) fn plan(&mut self, ops: usize) -> Vec<TxOp> {
        self.pending_people.clear();
        self.pending_many.clear();
        let mut out = Vec::with_capacity(ops);
        // (entity, attribute) pairs this transaction already touches: one
        // statement each, so no add/retract pair cancels out or conflicts.
        let mut touched: HashSet<(EntityId, &'static str)> = HashSet::new();
        while out.len() < ops {
            let remaining = ops - out.len();
            let roll = self.rng.random_range(0..100u32);
            let done = match roll {
                _ if self.pool.len() < 2 => false,
                0..30 => false,
                30..60 => self.update(&mut out, &mut touched),
                60..80 => self.add_many(&mut out, &mut touched),
                80..95 => self.retract_many(&mut out, &mut touched),
                _ => self.set_manager(&mut out, &mut touched),
            };
            if !done {
                self.new_person(&mut out, remaining);
            }
        }
        out
    }

    /// Learns what the committed transaction did.
    pub(super) fn commit(&mut self, report: &TxReport) {
        for temp in std::mem::take(&mut self.pending_people) {
            if let Some(&id) = report.tempids.get(&temp) {
                if self.pool.len() < POOL_CAP {
                    self.pool.push(id);
                } else {
                    let slot = self.rng.random_range(0..self.pool.len());
                    self.pool[slot] = id;
                }
            }
        }
        for value in std::mem::take(&mut self.pending_many) {
            if self.many_set.insert(value) {
                self.many.push_back(value);
            }
            if self.many.len() > MANY_CAP
                && let Some(old) = self.many.pop_front()
            {
                self.many_set.remove(&old);
            }
        }
    }

    fn pick_person(&mut self) -> EntityId {
        self.pool[self.rng.random_range(0..self.pool.len())]
    }

    /// A new person: an email, then up to `remaining - 1` other attributes.
    fn new_person(&mut self, out: &mut Vec<TxOp>, remaining: usize) {
        let n = self.next_person;
        self.next_person += 1;
        let temp = format!("person {n}");
        let e = EntityRef::Temp(temp.clone());
        out.push(TxOp::Add {
            e: e.clone(),
            a: EMAIL.into(),
            v: InputValue::String(format!("person{n}.{}@example.com", self.salt)),
        });
        let extra = self.rng.random_range(1..=5usize).min(remaining - 1);
        let mut attrs: Vec<&DemoAttribute> = schema::updatable().collect();
        for _ in 0..extra {
            let attr = attrs.swap_remove(self.rng.random_range(0..attrs.len()));
            let v = self.value(attr.value_type);
            out.push(TxOp::Add {
                e: e.clone(),
                a: attr.ident.into(),
                v,
            });
        }
        self.pending_people.push(temp);
    }

    /// A new value for a cardinality-one attribute of an existing person
    /// (the writer retracts the old one).
    fn update(
        &mut self,
        out: &mut Vec<TxOp>,
        touched: &mut HashSet<(EntityId, &'static str)>,
    ) -> bool {
        let e = self.pick_person();
        let attrs: Vec<&DemoAttribute> = schema::updatable().collect();
        let attr = attrs[self.rng.random_range(0..attrs.len())];
        if !touched.insert((e, attr.ident)) {
            return false;
        }
        let v = self.value(attr.value_type);
        out.push(TxOp::Add {
            e: EntityRef::Id(e),
            a: attr.ident.into(),
            v,
        });
        true
    }

    /// A tag or a friend more.
    fn add_many(
        &mut self,
        out: &mut Vec<TxOp>,
        touched: &mut HashSet<(EntityId, &'static str)>,
    ) -> bool {
        let e = self.pick_person();
        let value = if self.rng.random_bool(0.5) {
            ManyValue::Tag(self.rng.random_range(0..TAG_COUNT))
        } else {
            let friend = self.pick_person();
            if friend == e {
                return false;
            }
            ManyValue::Friend(friend)
        };
        if self.many_set.contains(&(e, value)) || !touched.insert((e, value.attribute())) {
            return false;
        }
        out.push(TxOp::Add {
            e: EntityRef::Id(e),
            a: value.attribute().into(),
            v: value.input(),
        });
        self.pending_many.push((e, value));
        true
    }

    /// Retracts a current cardinality-many value, chosen at random.
    fn retract_many(
        &mut self,
        out: &mut Vec<TxOp>,
        touched: &mut HashSet<(EntityId, &'static str)>,
    ) -> bool {
        if self.many.is_empty() {
            return false;
        }
        let slot = self.rng.random_range(0..self.many.len());
        let (e, value) = self.many[slot];
        if !touched.insert((e, value.attribute())) {
            return false;
        }
        self.many.swap_remove_back(slot);
        self.many_set.remove(&(e, value));
        out.push(TxOp::Retract {
            e: EntityRef::Id(e),
            a: value.attribute().into(),
            v: value.input(),
        });
        true
    }

    /// Points a person's manager at another person.
    fn set_manager(
        &mut self,
        out: &mut Vec<TxOp>,
        touched: &mut HashSet<(EntityId, &'static str)>,
    ) -> bool {
        let (e, manager) = (self.pick_person(), self.pick_person());
        if e == manager || !touched.insert((e, MANAGER)) {
            return false;
        }
        out.push(TxOp::Add {
            e: EntityRef::Id(e),
            a: MANAGER.into(),
            v: entity_value(manager),
        });
        true
    }

    /// A random value of a type.
    fn value(&mut self, value_type: ValueType) -> InputValue {
        let rng = &mut self.rng;
        match value_type {
            ValueType::Long => InputValue::Long(rng.random_range(18..90)),
            ValueType::Double => {
                InputValue::Double(f64::from(rng.random_range(0..10_000u32)) / 100.0)
            }
            ValueType::Boolean => InputValue::Boolean(rng.random_bool(0.5)),
            ValueType::String => InputValue::String(format!(
                "{} {}",
                FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())],
                LAST_NAMES[rng.random_range(0..LAST_NAMES.len())]
            )),
            ValueType::Keyword => {
                InputValue::Keyword(STATUSES[rng.random_range(0..STATUSES.len())].into())
            }
            ValueType::Instant => {
                let days = rng.random_range(18 * 365..90 * 365i64);
                InputValue::Instant(EPOCH_2024_MS - days * 86_400_000)
            }
            ValueType::Uuid => {
                InputValue::Uuid(uuid::Builder::from_random_bytes(rng.random()).into_uuid())
            }
            ValueType::Bytes => {
                let len = rng.random_range(4..16usize);
                InputValue::Bytes((0..len).map(|_| rng.random()).collect())
            }
            ValueType::BigInt => InputValue::BigInt(
                BigInt::from(rng.random::<u64>()) * BigInt::from(rng.random_range(1..1_000u32)),
            ),
            ValueType::BigDec => InputValue::BigDec(BigDecimal::new(
                BigInt::from(rng.random_range(-1_000_000..10_000_000i64)),
                2,
            )),
            ValueType::Ref => entity_value(self.pool.first().copied().unwrap_or_default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Runs the planner against a fake writer that numbers people in order.
    fn run(seed: u64, txs: usize, ops: usize) -> Vec<Vec<TxOp>> {
        let mut planner = Planner::new(seed, 1);
        let mut next_id = 1000;
        (0..txs)
            .map(|t| {
                let plan = planner.plan(ops);
                let mut tempids = BTreeMap::new();
                for temp in &planner.pending_people {
                    tempids.insert(temp.clone(), next_id);
                    next_id += 1;
                }
                planner.commit(&TxReport {
                    tx: t as u64,
                    tempids,
                    datoms: Vec::new(),
                });
                plan
            })
            .collect()
    }

    #[test]
    fn same_seed_same_plan_other_seed_other_plan() {
        assert_eq!(run(7, 50, 10), run(7, 50, 10));
        assert_ne!(run(7, 50, 10), run(8, 50, 10));
    }

    #[test]
    fn every_transaction_has_the_requested_size() {
        for (ops, plan) in [1, 2, 10, 33].into_iter().map(|n| (n, run(3, 30, n))) {
            assert!(plan.iter().all(|tx| tx.len() == ops));
        }
    }

    #[test]
    fn history_is_not_trivial() {
        let plans = run(1, 200, 10);
        let all: Vec<&TxOp> = plans.iter().flatten().collect();
        let retracts = all
            .iter()
            .filter(|op| matches!(op, TxOp::Retract { .. }))
            .count();
        let updates = all
            .iter()
            .filter(|op| {
                matches!(
                    op,
                    TxOp::Add {
                        e: EntityRef::Id(_),
                        ..
                    }
                )
            })
            .count();
        let refs = all
            .iter()
            .filter(|op| matches!(op, TxOp::Add { a, .. } if a == FRIENDS || a == MANAGER))
            .count();
        assert!(
            retracts > 50 && updates > 200 && refs > 50,
            "{retracts} {updates} {refs}"
        );
    }

    #[test]
    fn no_transaction_touches_an_entity_attribute_pair_twice() {
        for tx in run(5, 200, 20) {
            let mut seen = HashSet::new();
            for op in tx {
                if let TxOp::Add {
                    e: EntityRef::Id(e),
                    a,
                    ..
                }
                | TxOp::Retract {
                    e: EntityRef::Id(e),
                    a,
                    ..
                } = op
                {
                    assert!(seen.insert((e, a)));
                }
            }
        }
    }
}
