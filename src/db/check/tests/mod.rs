//! The checker on real databases: every database the writer, the replayer
//! and the generator make passes; tampered ones are caught at the right
//! entry, key and rule; a random tampering is either caught or changes no
//! view; the cost follows the nodes an entry changed.

mod cost;
mod passing;
mod property;
pub(crate) mod tamper;
mod tampering;
mod tampering_runs;

use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::db::{Database, EntityRef, InputValue, TreeShape, TxOp};
use crate::model::EntityId;
use crate::store::{MemStore, ValueStore};

use super::{CheckOptions, CheckReport, Problem, check_database};

/// Small nodes, so that a few hundred datoms make trees four levels deep.
pub(super) const SMALL: TreeShape = TreeShape::format1(3, 3);

/// Format 2 with small nodes, an indexing every few transactions and
/// merges of two runs up to a small cap: every run rule is exercised.
pub(super) const SMALL_V2: TreeShape = TreeShape {
    format: crate::model::Format::V2,
    leaf_capacity: 3,
    inner_capacity: 3,
    novelty_threshold: 10,
    fan_in: 2,
    run_cap: 120,
};

/// The database id of every test database.
pub(super) const ID: &str = "db";

pub(super) fn add(e: EntityRef, a: &str, v: InputValue) -> TxOp {
    TxOp::Add { e, a: a.into(), v }
}

pub(super) fn retract(e: EntityRef, a: &str, v: InputValue) -> TxOp {
    TxOp::Retract { e, a: a.into(), v }
}

fn temp(s: &str) -> EntityRef {
    EntityRef::Temp(s.into())
}

fn kw(k: &str) -> InputValue {
    InputValue::Keyword(k.into())
}

fn id_value(e: EntityId) -> InputValue {
    InputValue::Long(i64::try_from(e).unwrap())
}

/// An empty in-memory store.
pub(super) fn mem() -> Arc<dyn ValueStore> {
    Arc::new(MemStore::open(None))
}

/// Defines attribute `ident` in a schema transaction's ops.
fn attribute(ident: &str, ty: &str, many: bool, unique: bool) -> Vec<TxOp> {
    let mut ops = vec![
        add(temp(ident), ":db/ident", kw(ident)),
        add(temp(ident), ":db/valueType", kw(ty)),
        add(
            temp(ident),
            ":db/doc",
            InputValue::String(format!("{ident}, a test attribute")),
        ),
    ];
    if many {
        ops.push(add(
            temp(ident),
            ":db/cardinality",
            kw(":db.cardinality/many"),
        ));
    }
    if unique {
        ops.push(add(temp(ident), ":db/unique", kw(":db.unique/identity")));
    }
    ops
}

/// A database of `txs` random transactions after its schema, in trees of
/// `shape`: people with unique names, ages replaced (cardinality one), tags
/// and likes added and retracted (cardinality many, refs for VAET), friends
/// set and retracted; an attribute renamed at transaction 12, one defined
/// at 20, one whose value type changes from long to string at 30 (later
/// replacements retract values of the old type); instants that repeat and
/// once go back.
pub(super) async fn mixed_db(
    store: Arc<dyn ValueStore>,
    shape: TreeShape,
    txs: u64,
    seed: u64,
) -> Database {
    let db = Database::create_with(store, ID, 1_000, shape)
        .await
        .unwrap();
    let mut schema = Vec::new();
    schema.extend(attribute(":p/name", ":db.type/string", false, true));
    schema.extend(attribute(":p/age", ":db.type/long", false, false));
    schema.extend(attribute(":p/tag", ":db.type/keyword", true, false));
    schema.extend(attribute(":p/friend", ":db.type/ref", false, false));
    schema.extend(attribute(":p/likes", ":db.type/ref", true, false));
    schema.extend(attribute(":p/score", ":db.type/long", false, false));
    let report = db.transact_with(schema, 1_000, shape).await.unwrap();
    let age_attr = report.tempids[":p/age"];
    let score_attr = report.tempids[":p/score"];
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut people: Vec<EntityId> = Vec::new();
    let mut age = ":p/age";
    let mut score_is_text = false;
    for i in 0..txs {
        let t = report.tx + 1 + i;
        let mut ops = Vec::new();
        match t {
            12 => {
                ops.push(add(EntityRef::Id(age_attr), ":db/ident", kw(":p/years")));
                age = ":p/years";
            }
            20 => ops.extend(attribute(":p/nick", ":db.type/string", false, false)),
            30 => {
                ops.push(add(
                    EntityRef::Id(score_attr),
                    ":db/valueType",
                    kw(":db.type/string"),
                ));
                score_is_text = true;
            }
            _ => {}
        }
        for j in 0..rng.random_range(1..5) {
            let pick = |rng: &mut ChaCha8Rng, people: &[EntityId]| {
                people
                    .get(rng.random_range(0..people.len().max(1)))
                    .copied()
            };
            match (rng.random_range(0..8), pick(&mut rng, &people)) {
                (0 | 1, _) | (_, None) => {
                    let p = temp(&format!("p{j}"));
                    ops.push(add(
                        p.clone(),
                        ":p/name",
                        InputValue::String(format!("n{t}-{j}")),
                    ));
                    ops.push(add(
                        p.clone(),
                        age,
                        InputValue::Long(rng.random_range(0..90)),
                    ));
                    ops.push(add(
                        p.clone(),
                        ":p/tag",
                        kw(&format!(":t/{}", rng.random_range(0..5))),
                    ));
                    if let Some(friend) = pick(&mut rng, &people) {
                        ops.push(add(p, ":p/friend", id_value(friend)));
                    }
                }
                (2, Some(e)) => ops.push(add(
                    EntityRef::Id(e),
                    age,
                    InputValue::Long(rng.random_range(0..90)),
                )),
                (3, Some(e)) => ops.push(retract(
                    EntityRef::Id(e),
                    ":p/tag",
                    kw(&format!(":t/{}", rng.random_range(0..5))),
                )),
                (4, Some(e)) => {
                    let other = pick(&mut rng, &people).unwrap_or(e);
                    ops.push(add(EntityRef::Id(e), ":p/likes", id_value(other)));
                }
                (5, Some(e)) => {
                    let other = pick(&mut rng, &people).unwrap_or(e);
                    ops.push(retract(EntityRef::Id(e), ":p/likes", id_value(other)));
                }
                (6, Some(e)) => {
                    let n = rng.random_range(0..4);
                    let v = if score_is_text {
                        InputValue::String(format!("s{n}"))
                    } else {
                        InputValue::Long(n)
                    };
                    ops.push(add(EntityRef::Id(e), ":p/score", v));
                }
                (_, Some(e)) => {
                    let other = pick(&mut rng, &people).unwrap_or(e);
                    ops.push(add(EntityRef::Id(e), ":p/friend", id_value(other)));
                    if rng.random_bool(0.3) {
                        ops.push(retract(EntityRef::Id(e), ":p/friend", id_value(other)));
                    }
                }
            }
            if t >= 21 && rng.random_bool(0.2) {
                ops.push(add(
                    temp("nick"),
                    ":p/nick",
                    InputValue::String(format!("k{t}")),
                ));
                ops.push(add(
                    temp("nick"),
                    ":p/name",
                    InputValue::String(format!("nick{t}-{j}")),
                ));
            }
        }
        // Instants repeat in pairs and go back once: the writer takes any.
        let instant = if t == 40 {
            500
        } else {
            1_000 + (t as i64 / 2) * 10
        };
        let report = db.transact_with(ops, instant, shape).await.unwrap();
        people.extend(report.tempids.values().copied().filter(|e| *e >> 42 == 2));
    }
    db
}

/// Checks every entry of database [`ID`] in `store`, keeping every problem.
pub(super) async fn check_all(store: Arc<dyn ValueStore>) -> CheckReport {
    let options = CheckOptions {
        max_problems: usize::MAX,
        ..CheckOptions::default()
    };
    check_database(store, ID, None, options).await.unwrap()
}

/// The problems of entry `k`.
pub(super) fn at(report: &CheckReport, k: u64) -> Vec<&Problem> {
    report.problems.iter().filter(|p| p.entry == k).collect()
}
