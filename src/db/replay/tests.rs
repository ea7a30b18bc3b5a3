//! The replayer against the transaction writer: replaying a log rebuilds
//! it byte for byte, and novelty is stored as the writer stores it.

use std::sync::Arc;

use crate::db::{Database, EntityRef, InputValue, TreeShape, TxOp};
use crate::model::{self, NamedDatom, Node, Partition, Value, builtin, entity_id, tx_entity};
use crate::store::{MemStore, ValueStore};

use super::{ReplayError, ReplayRule, ReplayTx, Replayer};

const SHAPE: TreeShape = TreeShape::format1(4, 3);

fn add(e: EntityRef, a: &str, v: InputValue) -> TxOp {
    TxOp::Add { e, a: a.into(), v }
}

fn temp(s: &str) -> EntityRef {
    EntityRef::Temp(s.into())
}

fn keyword(k: &str) -> InputValue {
    InputValue::Keyword(k.into())
}

/// A database with a cardinality-one and a cardinality-many attribute,
/// updated and retracted over a few transactions.
async fn source() -> Database {
    let store: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
    let db = Database::create_with(store, "t", 5, SHAPE).await.unwrap();
    let schema = vec![
        add(temp("n"), ":db/ident", keyword(":p/name")),
        add(temp("n"), ":db/valueType", keyword(":db.type/string")),
        add(temp("t"), ":db/ident", keyword(":p/tag")),
        add(temp("t"), ":db/valueType", keyword(":db.type/keyword")),
        add(
            temp("t"),
            ":db/cardinality",
            keyword(":db.cardinality/many"),
        ),
    ];
    db.transact_with(schema, 6, SHAPE).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..12 {
        let ops = vec![
            add(temp("x"), ":p/name", InputValue::String(format!("n{i}"))),
            add(temp("x"), ":p/tag", keyword(&format!(":t/{}", i % 3))),
        ];
        let report = db.transact_with(ops, 10 + i, SHAPE).await.unwrap();
        ids.extend(report.tempids.values().copied());
    }
    for (i, id) in ids.iter().enumerate().take(6) {
        let e = EntityRef::Id(*id);
        let ops = vec![
            add(
                e.clone(),
                ":p/name",
                InputValue::String(format!("renamed{i}")),
            ),
            TxOp::Retract {
                e,
                a: ":p/tag".into(),
                v: keyword(&format!(":t/{}", i % 3)),
            },
        ];
        db.transact_with(ops, 100 + i as i64, SHAPE).await.unwrap();
    }
    db
}

/// Entry `t` of `db` as a replayed transaction: attributes by ident, the
/// transaction's own instant left out.
pub(crate) async fn as_replay(db: &Database, t: u64) -> ReplayTx {
    let entry = db.entry(t).await.unwrap();
    let schema = db.as_of(t).await.unwrap().schema().clone();
    let datoms = entry
        .datoms
        .iter()
        .filter(|d| d.e != tx_entity(t))
        .map(|d| NamedDatom {
            e: d.e,
            a: schema.by_id(d.a).unwrap().ident.clone(),
            v: d.v.clone(),
            added: d.added,
        })
        .collect();
    ReplayTx {
        tx: t,
        instant: entry.instant,
        next_entity: entry.next_entity,
        datoms,
    }
}

async fn replayer_like(db: &Database) -> (Arc<dyn ValueStore>, Replayer) {
    let store: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
    let instant = db.entry(0).await.unwrap().instant;
    let (replayer, _) = Replayer::bootstrap(store.clone(), db.info().clone(), instant, SHAPE)
        .await
        .unwrap();
    (store, replayer)
}

#[tokio::test]
async fn replaying_a_log_rebuilds_it_byte_for_byte() {
    let db = source().await;
    let count = db.head().await.unwrap().count;
    let (store, mut replayer) = replayer_like(&db).await;
    for t in 1..count {
        replayer.apply(as_replay(&db, t).await).await.unwrap();
    }
    for t in 0..count {
        let key = model::entry_key(&db.info().tx_log, t);
        let ours = db.store().get("t", &key).await.unwrap();
        assert_eq!(store.get("t", &key).await.unwrap(), ours, "entry {t}");
    }
    // A second replay over what the first stored writes nothing new.
    let mut again = Replayer::resume(store.clone(), db.info().clone(), 0, SHAPE)
        .await
        .unwrap();
    for t in 1..count {
        let counts = again.apply(as_replay(&db, t).await).await.unwrap();
        assert_eq!(counts.created, 0, "tx {t}");
    }
}

#[tokio::test]
async fn novelty_is_stored_as_the_writer_stores_it() {
    let db = source().await;
    let count = db.head().await.unwrap().count;
    let (_, mut replayer) = replayer_like(&db).await;
    for t in 1..count {
        replayer.apply(as_replay(&db, t).await).await.unwrap();
    }
    let name = replayer.schema().by_ident(":p/name").unwrap().id;
    let last = replayer.last_entry().clone();
    let e = last.datoms.iter().find(|d| d.a == name).unwrap().e;
    let current = Value::String("renamed5".into());
    let t = count;
    let datoms = vec![
        // A new value without retracting the old one: the old is retracted.
        NamedDatom {
            e,
            a: ":p/name".into(),
            v: Value::String("again".into()),
            added: true,
        },
        // Retracting what is not current, asserting what is: no-ops.
        NamedDatom {
            e,
            a: ":p/tag".into(),
            v: Value::Keyword(":t/none".into()),
            added: false,
        },
    ];
    let mut next_entity = last.next_entity;
    next_entity[1] = t + 1;
    replayer
        .apply(ReplayTx {
            tx: t,
            instant: 999,
            next_entity,
            datoms,
        })
        .await
        .unwrap();
    let stored: Vec<(u64, Value, bool)> = replayer
        .last_entry()
        .datoms
        .iter()
        .map(|d| (d.a, d.v.clone(), d.added))
        .collect();
    assert_eq!(
        stored,
        vec![
            (builtin::TX_INSTANT, Value::Instant(999), true),
            (name, Value::String("again".into()), true),
            (name, current, false),
        ],
        "sorted by (e, a, v): the tx entity sorts before user entities"
    );
}

#[tokio::test]
async fn an_attribute_defined_in_a_transaction_is_usable_in_it() {
    let db = source().await;
    let (_, mut replayer) = replayer_like(&db).await;
    let attr = entity_id(Partition::Db, builtin::FIRST_USER_ATTRIBUTE);
    let user = entity_id(Partition::User, 1);
    let named = |e, a: &str, v| NamedDatom {
        e,
        a: a.into(),
        v,
        added: true,
    };
    let datoms = vec![
        named(user, ":q/n", Value::Long(3)),
        named(attr, ":db/ident", Value::Keyword(":q/n".into())),
        named(
            attr,
            ":db/valueType",
            Value::Keyword(":db.type/long".into()),
        ),
    ];
    let tx = ReplayTx {
        tx: 1,
        instant: 7,
        next_entity: [builtin::FIRST_USER_ATTRIBUTE + 1, 2, 2],
        datoms,
    };
    replayer.apply(tx.clone()).await.unwrap();
    assert!(replayer.schema().by_ident(":q/n").is_some());

    // The same datom a transaction later, with a string: the wrong type.
    let mut bad = tx;
    bad.tx = 2;
    bad.next_entity[1] = 3;
    bad.datoms = vec![named(user, ":q/n", Value::String("3".into()))];
    let Err(ReplayError::Violation(v)) = replayer.apply(bad).await else {
        panic!("a wrong type is refused");
    };
    assert_eq!(v.tx, 2);
    assert!(matches!(v.rule, ReplayRule::WrongValueType { .. }), "{v}");
    assert_eq!(replayer.last_entry().tx, 1, "nothing of it applied");
    let head = db.head().await.unwrap();
    assert!(matches!(
        db.expect_node(&db.info().tx_log).await.unwrap(),
        Node::TxLogHead(h) if h == head
    ));
}
