//! Fuzz harnesses: input built to break them — valid seeds mutated at
//! random (bytes changed, inserted, deleted, ranges repeated, pieces of
//! other seeds spliced in) and plain random bytes — given to every parser
//! user input reaches (EDN and JSON transactions, EDN literals of datom
//! components) and to the node decoders every stored value reaches.
//!
//! Properties: nothing panics; the full decoder and the borrowed view of a
//! node's children agree; and no bytes but the ones written read as what a
//! key names (an index node's digest, a sealed node's checksum). The fast
//! tests run a few hundred cases each; the `#[ignore]`d ones run for
//! minutes (`bash .ci/test -- --ignored fuzz`). Cases that failed are kept
//! by proptest in `tests/fuzz.proptest-regressions` and run first.

use std::sync::OnceLock;

use eva_admin::db::generate::{GenerateOptions, generate};
use eva_admin::db::input;
use eva_admin::db::{Database, EntityRef, InputValue, TreeShape, TxOp};
use eva_admin::model::{self, child_keys_of, decode, decode_at};
use eva_admin::store;
use proptest::prelude::*;

/// Transactions as users write them, in EDN.
const EDN_SEEDS: &[&str] = &[
    r#"[[:db/add "ann" :person/name "Ann"] [:db/add "ann" :person/age 41]]"#,
    r#"[{:db/id "x" :db/ident :t/when :db/valueType :db.type/instant :db/cardinality :db.cardinality/one}]"#,
    r#"[[:db/add 42 :t/at #inst "2024-01-01T00:00:00Z"] [:db/add 42 :t/id #uuid "5b1c3a3e-0000-4000-8000-000000000000"]]"#,
    r#"; a comment
[[:db/retract :me :t/big 12N] [:db/add :me :t/dec 1.5M] [:db/add :me :t/bytes #base64 "aGVsbG8="]]"#,
    r#"[#_ [:db/add 1 :a 2] {:db/id "e" :t/tags ["a" "b"] :t/ref {:db/id "f" :t/n -3.25e10}}]"#,
    "[[:db/add \"s\" :t/text \"tab\\there \\u00e9 \\\"q\\\"\" ] ]",
];

/// The same kinds of transactions in JSON.
const JSON_SEEDS: &[&str] = &[
    r#"[["add", "ann", ":person/name", "Ann"], ["add", "ann", ":person/age", 41]]"#,
    r#"[{"db/id": "x", "db/ident": ":t/when", "db/valueType": ":db.type/instant"}]"#,
    r#"[["retract", 42, ":t/n", 1.5e300], ["add", "e", ":t/flag", true], ["add", "e", ":t/s", "\u00e9\n"]]"#,
    "\u{feff}[[\"add\", \"b\", \":t/none\", null]]",
];

/// Datom components as given on the command line.
const LITERAL_SEEDS: &[&str] = &[
    "42",
    "-9223372036854775808",
    ":person/name",
    r#""Ann""#,
    "1.5",
    "12N",
    "3.14M",
    r#"#inst "2024-01-01T00:00:00.123Z""#,
    r#"#uuid "5b1c3a3e-0000-4000-8000-000000000000""#,
    "true",
];

/// Every value of a small generated database (database-info, head,
/// entries, index nodes) and of a format 2 one (its entries, index sets,
/// runs' nodes), with its key: what stores hand the decoders.
fn stored_values() -> &'static [(String, Vec<u8>)] {
    static VALUES: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    VALUES.get_or_init(|| {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(async {
            let store = store::open("mem:").await.expect("mem store");
            let db = Database::create(store.clone(), "fz").await.expect("create");
            let options = GenerateOptions {
                txs: 12,
                datoms_per_tx: 10,
                seed: 9,
            };
            generate(&db, &options, |_| {}).await.expect("generate");
            let mut values = store.scan("fz", None, 100_000).await.expect("scan");
            format_2_database(&store).await;
            values.extend(store.scan("fz2", None, 100_000).await.expect("scan"));
            values
        })
    })
}

/// A format 2 database indexed every few transactions, with merged runs
/// and values of several types, in namespace `fz2`.
async fn format_2_database(store: &std::sync::Arc<dyn store::ValueStore>) {
    let shape = TreeShape {
        format: model::Format::V2,
        leaf_capacity: 4,
        inner_capacity: 3,
        novelty_threshold: 12,
        fan_in: 2,
        run_cap: 200,
    };
    let db = Database::create_with(store.clone(), "fz2", 0, shape)
        .await
        .expect("create");
    let add = |e: &str, a: &str, v: InputValue| TxOp::Add {
        e: EntityRef::Temp(e.into()),
        a: a.into(),
        v,
    };
    let kw = |k: &str| InputValue::Keyword(k.into());
    let schema = vec![
        add("n", ":db/ident", kw(":p/name")),
        add("n", ":db/valueType", kw(":db.type/string")),
        add("n", ":db/cardinality", kw(":db.cardinality/one")),
        add("f", ":db/ident", kw(":p/friend")),
        add("f", ":db/valueType", kw(":db.type/ref")),
        add("f", ":db/cardinality", kw(":db.cardinality/many")),
    ];
    db.transact_with(schema, 1, shape).await.expect("schema");
    let mut people: Vec<u64> = Vec::new();
    for t in 0..30u64 {
        let mut ops = vec![add(
            "p",
            ":p/name",
            InputValue::String(format!("person {t}")),
        )];
        if let Some(&friend) = people.last() {
            ops.push(add("p", ":p/friend", InputValue::Long(friend as i64)));
        }
        let report = db
            .transact_with(ops, 2 + t as i64, shape)
            .await
            .expect("tx");
        people.extend(report.tempids.values());
    }
}

/// One change to a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    Flip {
        at: usize,
        xor: u8,
    },
    Insert {
        at: usize,
        byte: u8,
    },
    Delete {
        at: usize,
        len: usize,
    },
    Repeat {
        at: usize,
        len: usize,
    },
    Splice {
        at: usize,
        seed: usize,
        from: usize,
        len: usize,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(at, xor)| Mutation::Flip { at, xor }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
        (any::<usize>(), 1usize..64).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), 1usize..64).prop_map(|(at, len)| Mutation::Repeat { at, len }),
        (any::<usize>(), any::<usize>(), any::<usize>(), 1usize..64).prop_map(
            |(at, seed, from, len)| Mutation::Splice {
                at,
                seed,
                from,
                len
            }
        ),
    ]
}

/// `seed` with `mutations` applied, pieces spliced from `others`.
fn mutate(seed: &[u8], mutations: &[Mutation], others: &[&[u8]]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for m in mutations {
        let at = |at: usize, len: usize| if len == 0 { 0 } else { at % (len + 1) };
        match *m {
            Mutation::Flip { at: i, xor } if !out.is_empty() => {
                let i = i % out.len();
                out[i] ^= xor;
            }
            Mutation::Flip { .. } => {}
            Mutation::Insert { at: i, byte } => {
                let i = at(i, out.len());
                out.insert(i, byte);
            }
            Mutation::Delete { at: i, len } => {
                let i = at(i, out.len());
                let end = (i + len).min(out.len());
                out.drain(i..end);
            }
            Mutation::Repeat { at: i, len } => {
                let i = at(i, out.len());
                let end = (i + len).min(out.len());
                let piece = out[i..end].to_vec();
                out.splice(i..i, piece);
            }
            Mutation::Splice {
                at: i,
                seed,
                from,
                len,
            } => {
                let other = others[seed % others.len()];
                let from = at(from, other.len());
                let end = (from + len).min(other.len());
                let i = at(i, out.len());
                out.splice(i..i, other[from..end].iter().copied());
            }
        }
    }
    out
}

/// Input for a text parser: a mutated seed, or random bytes.
fn text_input(seeds: &'static [&'static str]) -> impl Strategy<Value = String> {
    let mutated =
        (0..seeds.len(), proptest::collection::vec(mutation(), 1..8)).prop_map(move |(i, ms)| {
            let others: Vec<&[u8]> = seeds.iter().map(|s| s.as_bytes()).collect();
            String::from_utf8_lossy(&mutate(seeds[i].as_bytes(), &ms, &others)).into_owned()
        });
    let random = proptest::collection::vec(any::<u8>(), 0..256)
        .prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
    prop_oneof![4 => mutated, 1 => random]
}

/// Every parser of transaction text and literals: an answer, never a panic,
/// and an error that can be shown.
fn parse_everything(text: &str) {
    for result in [
        input::parse(text, None),
        input::parse_edn(text),
        input::parse_json(text),
    ] {
        if let Err(e) = result {
            let _ = e.to_string();
        }
    }
    if let Err(e) = input::read_edn_form(text) {
        let _ = e.to_string();
    }
    if let Err(e) = input::edn_literal(text) {
        let _ = e.to_string();
    }
}

/// Stored bytes at `key`, damaged by `mutations`: the decoders answer
/// without panicking; the full decoder and the children view agree; and
/// bytes other than the stored ones never read as what `key` names.
fn decode_damaged(pick: usize, mutations: &[Mutation]) {
    let values = stored_values();
    let (key, stored) = &values[pick % values.len()];
    let others: Vec<&[u8]> = values.iter().map(|(_, v)| v.as_slice()).collect();
    let bytes = mutate(stored, mutations, &others);
    let full = decode(&bytes);
    let children = child_keys_of(&bytes);
    if let Ok(node) = &full {
        let view = children.as_ref().expect("a node that decodes has children");
        assert_eq!(view, &node.child_keys(), "the two decoders disagree");
    }
    if let Err(e) = &full {
        let _ = e.to_string();
    }
    if let Ok(node) = decode_at(key, &bytes) {
        // Bytes that carry a check (sealed, or an index node keyed by its
        // digest) pass only when they are the ones written. Unsealed
        // database-info, heads and entries, as earlier builds wrote them,
        // carry none: readers refuse them where another kind belongs, and
        // verify compares entries byte for byte (docs/format.md).
        let checked = matches!(
            bytes.as_slice(),
            [model::SEALED_VERSION | model::SEALED_V2, ..]
                | [model::FORMAT_VERSION, 3 | 4, ..]
                | [model::FORMAT_V2, 3..=5, ..]
        );
        if checked {
            assert_eq!(
                &bytes, stored,
                "other bytes read as what `{key}` names: {node:?}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn edn_input_never_panics(text in text_input(EDN_SEEDS)) {
        parse_everything(&text);
    }

    #[test]
    fn json_input_never_panics(text in text_input(JSON_SEEDS)) {
        parse_everything(&text);
    }

    #[test]
    fn literals_never_panic(text in text_input(LITERAL_SEEDS)) {
        parse_everything(&text);
    }

    #[test]
    fn damaged_nodes_are_refused_never_misread(
        pick: usize,
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        decode_damaged(pick, &mutations);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000_000, ..ProptestConfig::default() })]

    /// The long run: minutes of every parser.
    #[test]
    #[ignore = "slow: minutes; run with --ignored"]
    fn fuzz_parsers_long(
        text in prop_oneof![text_input(EDN_SEEDS), text_input(JSON_SEEDS), text_input(LITERAL_SEEDS)],
    ) {
        parse_everything(&text);
    }

    /// The long run: minutes of the node decoders.
    #[test]
    #[ignore = "slow: minutes; run with --ignored"]
    fn fuzz_decoders_long(
        pick: usize,
        mutations in proptest::collection::vec(mutation(), 1..12),
    ) {
        decode_damaged(pick, &mutations);
    }
}

/// The scan above read every kind of value the decoders meet.
#[test]
fn the_seeds_hold_every_kind_of_node() {
    let mut kinds: Vec<_> = stored_values()
        .iter()
        .filter_map(|(_, v)| decode(v).ok().map(|n| n.kind()))
        .collect();
    kinds.sort();
    kinds.dedup();
    assert_eq!(kinds.len(), 6, "{kinds:?}");
    let format_2 = stored_values()
        .iter()
        .filter_map(|(_, v)| decode(v).ok())
        .filter(|n| n.format() == model::Format::V2)
        .map(|n| n.kind())
        .collect::<std::collections::BTreeSet<_>>();
    assert_eq!(
        format_2.len(),
        4,
        "format 2 entries, sets, inner nodes, leaves: {format_2:?}"
    );
}
