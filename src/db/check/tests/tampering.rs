//! Each kind of damage is caught at the entry it was made in, naming the
//! node at fault and the rule it breaks.

use std::sync::Arc;

use crate::db::{DatomQuery, LEAF_CAPACITY};
use crate::model::{
    Datom, Index, IndexInner, IndexLeaf, Node, Partition, Value, encode, entity_id,
};
use crate::store::ValueStore;

use super::super::{CheckReport, Problem, Rule};
use super::tamper::{Tamper, inner, leaf};
use super::{ID, SMALL, at, check_all, mem, mixed_db};

/// The entry every test tampers with.
const K: u64 = 33;

async fn setup() -> (Arc<dyn ValueStore>, Tamper) {
    let store = mem();
    mixed_db(store.clone(), SMALL, 40, 4).await;
    let t = Tamper::open(store.clone(), ID).await;
    (store, t)
}

/// Checks the database and asserts that entries before [`K`] hold.
async fn check(store: Arc<dyn ValueStore>) -> CheckReport {
    let report = check_all(store).await;
    let early: Vec<&Problem> = report.problems.iter().filter(|p| p.entry < K).collect();
    assert_eq!(
        early,
        Vec::<&Problem>::new(),
        "entries before {K} are untouched"
    );
    report
}

/// The one problem of entry [`K`], asserted to be of `code` at `key`.
fn single(report: &CheckReport, code: Rule, key: &str) -> Problem {
    let found = at(report, K);
    assert_eq!(found.len(), 1, "{found:#?}");
    let p = found[0].clone();
    assert_eq!((p.code, p.key.as_str()), (code, key), "{p}");
    p
}

/// The problems of entry [`K`], asserted to be one or more, all of `code` at `key`.
fn all_at(report: &CheckReport, code: Rule, key: &str) -> Vec<Problem> {
    let found = at(report, K);
    assert!(!found.is_empty());
    for p in &found {
        assert_eq!((p.code, p.key.as_str()), (code, key), "{p}");
    }
    found.into_iter().cloned().collect()
}

/// A leaf of entry [`K`]'s `index` tree where `edit` gives a leaf whose
/// datoms stay strictly sorted with the edited one strictly inside (not
/// first, not last, so the parent's separators still bound it).
async fn edit_inside(
    t: &Tamper,
    index: Index,
    edit: impl Fn(&[Datom], usize) -> Option<Vec<Datom>>,
) -> (Vec<String>, Vec<Datom>) {
    let ok = |datoms: &[Datom]| {
        (1..datoms.len().saturating_sub(1)).find_map(|i| {
            let edited = edit(datoms, i)?;
            let sorted = edited.windows(2).all(|w| index.cmp(&w[0], &w[1]).is_lt());
            let same_ends = edited.first() == datoms.first() && edited.last() == datoms.last();
            (sorted && same_ends).then_some(edited)
        })
    };
    let path = t
        .path(K, index, |n| {
            leaf(n).is_some_and(|l| ok(&l.datoms).is_some())
        })
        .await;
    assert!(!path.is_empty(), "some leaf can be edited");
    let node = t.node(path.last().unwrap()).await;
    let edited = ok(&leaf(&node).unwrap().datoms).unwrap();
    (path, edited)
}

/// Replaces the leaf at the end of `path` by one holding `datoms`; returns its new key.
async fn put_leaf(t: &Tamper, index: Index, path: &[String], datoms: Vec<Datom>) -> String {
    let node = Node::IndexLeaf(IndexLeaf {
        format: crate::model::Format::V1,
        index,
        datoms,
    });
    t.replace(K, index, path, node).await.pop().unwrap()
}

fn bump(v: &Value) -> Value {
    match v {
        Value::Long(n) => Value::Long(n + 1),
        Value::String(s) => Value::String(format!("{s}~")),
        Value::Keyword(k) => Value::Keyword(format!("{k}~")),
        Value::Ref(r) => Value::Ref(r + 1),
        Value::Instant(ms) => Value::Instant(ms + 1),
        other => other.clone(),
    }
}

#[tokio::test]
async fn a_value_changed_in_one_index_only() {
    let (store, t) = setup().await;
    let (path, datoms) = edit_inside(&t, Index::Aevt, |ds, i| {
        let mut ds = ds.to_vec();
        ds[i].v = bump(&ds[i].v);
        Some(ds)
    })
    .await;
    let key = put_leaf(&t, Index::Aevt, &path, datoms).await;
    let p = single(&check(store).await, Rule::T2, &key);
    assert!(p.rule.contains("AEVT"), "{p}");
}

#[tokio::test]
async fn a_datom_removed_from_one_index() {
    let (store, t) = setup().await;
    let (path, datoms) = edit_inside(&t, Index::Eavt, |ds, i| {
        let mut ds = ds.to_vec();
        ds.remove(i);
        Some(ds)
    })
    .await;
    let key = put_leaf(&t, Index::Eavt, &path, datoms).await;
    let p = single(&check(store).await, Rule::T2, &key);
    assert!(p.rule.contains("missing from"), "{p}");
}

#[tokio::test]
async fn a_datom_invented_in_one_leaf() {
    let (store, t) = setup().await;
    let (path, datoms) = edit_inside(&t, Index::Vaet, |ds, i| {
        let mut ds = ds.to_vec();
        let mut x = ds[i].clone();
        x.added = !x.added;
        let at = if x.added { i + 1 } else { i };
        ds.insert(at, x);
        Some(ds)
    })
    .await;
    let key = put_leaf(&t, Index::Vaet, &path, datoms).await;
    let p = single(&check(store).await, Rule::T2, &key);
    assert!(
        p.rule
            .contains("neither in the previous entry's tree nor in this entry's novelty"),
        "{p}"
    );
}

#[tokio::test]
async fn a_datom_tx_changed_in_the_log() {
    let (store, t) = setup().await;
    let mut entry = t.entry(K).await;
    entry.datoms[0].tx = K - 1;
    t.set_entry(K, &entry).await;
    let report = check(store).await;
    let found = at(&report, K);
    let e2 = found.iter().find(|p| p.code == Rule::E2).expect("E2");
    assert_eq!(e2.key, t.entry_key(K));
    assert!(
        e2.rule.contains(&format!("stamped transaction {}", K - 1)),
        "{e2}"
    );
    // The indexes hold the datom as written, not as the log now says.
    assert!(found.iter().any(|p| p.code == Rule::T2), "{found:#?}");
}

#[tokio::test]
async fn a_datom_tx_changed_in_one_index() {
    let (store, t) = setup().await;
    let (path, datoms) = edit_inside(&t, Index::Avet, |ds, i| {
        let mut ds = ds.to_vec();
        ds[i].tx += 1;
        Some(ds)
    })
    .await;
    let key = put_leaf(&t, Index::Avet, &path, datoms).await;
    single(&check(store).await, Rule::T2, &key);
}

/// Entry [`K`]'s novelty with `change` made to its first datom of a user entity.
async fn changed_novelty(t: &Tamper, change: impl Fn(&mut Datom)) -> Vec<Datom> {
    let mut datoms = t.entry(K).await.datoms;
    let d = datoms
        .iter_mut()
        .find(|d| d.e >> 42 == Partition::User as u64)
        .unwrap();
    change(d);
    datoms
}

#[tokio::test]
async fn an_entity_changed_everywhere_to_one_never_issued() {
    let (store, t) = setup().await;
    let next = t.entry(K).await.next_entity;
    let fresh = entity_id(Partition::User, next[Partition::User as usize] + 5);
    let datoms = changed_novelty(&t, |d| d.e = fresh).await;
    t.regrow(K, &Index::ALL, datoms.clone(), &datoms, SMALL)
        .await;
    let report = check(store).await;
    let found = at(&report, K);
    assert!(!found.is_empty());
    for p in found {
        assert_eq!((p.code, &p.key), (Rule::E4, &t.entry_key(K)), "{p}");
        assert!(p.rule.contains(&format!("uses entity {fresh}")), "{p}");
    }
}

#[tokio::test]
async fn an_attribute_changed_in_all_four_indexes_but_not_in_the_log() {
    let (store, t) = setup().await;
    let stored = t.entry(K).await.datoms;
    let indexed = changed_novelty(&t, |d| d.a = crate::model::builtin::DOC).await;
    let roots = t.regrow(K, &Index::ALL, stored, &indexed, SMALL).await;
    let report = check(store).await;
    let found = at(&report, K);
    assert!(found.iter().any(|p| p.rule.contains("EAVT")), "{found:#?}");
    for p in found {
        assert_eq!(p.code, Rule::T2, "{p}");
        assert!(
            roots.keys().all(|r| r != p.key),
            "a leaf is named, not a root: {p}"
        );
    }
}

#[tokio::test]
async fn an_attribute_changed_everywhere_to_one_not_defined() {
    let (store, t) = setup().await;
    let datoms = changed_novelty(&t, |d| d.a = 63).await;
    t.regrow(K, &Index::ALL, datoms.clone(), &datoms, SMALL)
        .await;
    let p = single(&check(store).await, Rule::E3, &t.entry_key(K));
    assert!(p.rule.contains("names attribute 63"), "{p}");
}

/// An inner node of entry [`K`]'s EAVT tree whose children are of `height`
/// (0: leaves) and satisfy `pick`, with its path.
async fn inner_node(
    t: &Tamper,
    height: usize,
    pick: impl Fn(&IndexInner) -> bool,
) -> (Vec<String>, IndexInner) {
    // Collect candidates by walking paths; the tree is small.
    let root_height = t.path(K, Index::Eavt, |n| leaf(n).is_some()).await.len() - 1;
    let depth = root_height - height - 1;
    let mut found = None;
    let mut stack = vec![vec![t.entry(K).await.roots.eavt.unwrap()]];
    while let Some(path) = stack.pop() {
        let node = t.node(path.last().unwrap()).await;
        let Some(n) = inner(&node) else { continue };
        if path.len() - 1 == depth && pick(n) {
            found = Some((path.clone(), n.clone()));
            break;
        }
        for c in &n.children {
            let mut p = path.clone();
            p.push(c.clone());
            stack.push(p);
        }
    }
    found.expect("an inner node to tamper with")
}

#[tokio::test]
async fn two_children_of_an_inner_node_swapped() {
    let (store, t) = setup().await;
    let (path, mut node) = inner_node(&t, 0, |n| n.children.len() >= 2).await;
    node.children.swap(0, 1);
    let key = t
        .replace(K, Index::Eavt, &path, Node::IndexInner(node))
        .await
        .pop()
        .unwrap();
    let found = all_at(&check(store).await, Rule::N4, &key);
    assert!(
        found
            .iter()
            .any(|p| p.rule.contains("child 0") || p.rule.contains("child 1"))
    );
}

#[tokio::test]
async fn a_separator_raised_above_its_childs_first_datom() {
    let (store, t) = setup().await;
    let (path, mut node) = inner_node(&t, 0, |n| n.children.len() >= 2).await;
    let second = t.node(&node.children[1]).await;
    let datoms = &leaf(&second).unwrap().datoms;
    assert!(
        datoms.len() >= 2,
        "leaves of a full tree hold two datoms or more"
    );
    node.separators[0] = datoms[1].clone();
    let key = t
        .replace(K, Index::Eavt, &path, Node::IndexInner(node))
        .await
        .pop()
        .unwrap();
    let p = single(&check(store).await, Rule::N4, &key);
    assert!(
        p.rule.contains("child 1") && p.rule.contains("below separator 0"),
        "{p}"
    );
}

#[tokio::test]
async fn an_eavt_inner_node_pointing_at_an_aevt_subtree() {
    let (store, t) = setup().await;
    let (path, mut node) = inner_node(&t, 0, |n| n.children.len() >= 2).await;
    let aevt = t.path(K, Index::Aevt, |n| leaf(n).is_some()).await;
    let stranger = aevt.last().unwrap().clone();
    node.children[0] = stranger.clone();
    t.replace(K, Index::Eavt, &path, Node::IndexInner(node))
        .await;
    let p = single(&check(store).await, Rule::N2, &stranger);
    assert!(
        p.rule
            .contains("a node of index AEVT is reached from the EAVT tree"),
        "{p}"
    );
}

#[tokio::test]
async fn an_entrys_roots_swapped_or_removed() {
    let (store, t) = setup().await;
    let mut entry = t.entry(K).await;
    let (eavt, aevt) = (entry.roots.eavt.clone(), entry.roots.aevt.clone());
    entry.roots.eavt = aevt.clone();
    entry.roots.aevt = eavt.clone();
    entry.roots.vaet = None;
    t.set_entry(K, &entry).await;
    let report = check(store).await;
    let mut found: Vec<(Rule, String, String)> = at(&report, K)
        .into_iter()
        .map(|p| (p.code, p.key.clone(), p.rule.clone()))
        .collect();
    found.sort();
    let expected = |key: &str, words: &str| {
        assert!(
            found
                .iter()
                .any(|(c, k, r)| *c == Rule::T1 && k == key && r.contains(words)),
            "T1 at {key} saying `{words}` in {found:#?}"
        )
    };
    expected(
        aevt.as_deref().unwrap(),
        "the entry's EAVT root is a node of index AEVT",
    );
    expected(
        eavt.as_deref().unwrap(),
        "the entry's AEVT root is a node of index EAVT",
    );
    expected(&t.entry_key(K), "names no VAET root");
    assert_eq!(found.len(), 3, "{found:#?}");
}

#[tokio::test]
async fn an_entrys_roots_replaced_by_the_previous_entrys() {
    let (store, t) = setup().await;
    let mut entry = t.entry(K).await;
    entry.roots = t.entry(K - 1).await.roots;
    t.set_entry(K, &entry).await;
    let report = check(store).await;
    let found = at(&report, K);
    assert!(found.len() >= 3, "EAVT, AEVT, AVET at least: {found:#?}");
    for p in found {
        assert_eq!((p.code, &p.key), (Rule::T2, &t.entry_key(K)), "{p}");
        assert!(p.rule.contains("of this entry's novelty is missing"), "{p}");
    }
}

/// Replaces entry [`K`]'s EAVT tree by one leaf of `datoms`; returns its key.
async fn one_leaf(t: &Tamper, datoms: Vec<Datom>) -> String {
    let root = t.entry(K).await.roots.eavt.unwrap();
    put_leaf(t, Index::Eavt, &[root], datoms).await
}

#[tokio::test]
async fn a_leaf_of_one_datom_too_many() {
    let (store, t) = setup().await;
    let all = t.db.as_of(K).await.unwrap();
    let query = DatomQuery {
        history: true,
        ..DatomQuery::default()
    };
    let mut datoms = all.datoms(Index::Eavt, &query).await.unwrap();
    assert!(datoms.len() > LEAF_CAPACITY);
    datoms.truncate(LEAF_CAPACITY + 1);
    let key = one_leaf(&t, datoms).await;
    let p = single(&check(store).await, Rule::N3, &key);
    assert!(p.rule.contains("129 datoms, more than 128"), "{p}");
}

#[tokio::test]
async fn a_leaf_of_a_million_datoms() {
    let (store, t) = setup().await;
    let datoms = (0..1_000_000u64)
        .map(|e| Datom {
            e,
            a: 1,
            v: Value::Keyword(":x".into()),
            tx: 0,
            added: true,
        })
        .collect();
    let key = one_leaf(&t, datoms).await;
    let p = single(&check(store).await, Rule::N3, &key);
    assert!(p.rule.contains("1000000 datoms"), "{p}");
}

#[tokio::test]
async fn an_unbalanced_tree() {
    let (store, t) = setup().await;
    let (path, mut node) = inner_node(&t, 1, |n| n.children.len() >= 2).await;
    let child = t.node(&node.children[0]).await;
    node.children[0] = inner(&child).unwrap().children[0].clone();
    let key = t
        .replace(K, Index::Eavt, &path, Node::IndexInner(node))
        .await
        .pop()
        .unwrap();
    let p = single(&check(store).await, Rule::N4, &key);
    assert!(p.rule.contains("the tree is unbalanced"), "{p}");
}

#[tokio::test]
async fn next_entity_lowered_below_a_used_entity() {
    let (store, t) = setup().await;
    let mut entry = t.entry(K).await;
    let user = Partition::User as usize;
    let used = entry
        .datoms
        .iter()
        .filter(|d| d.e >> 42 == user as u64)
        .map(|d| d.e - entity_id(Partition::User, 0))
        .max()
        .unwrap();
    entry.next_entity[user] = used;
    t.set_entry(K, &entry).await;
    let report = check(store).await;
    let found = at(&report, K);
    assert!(
        found
            .iter()
            .any(|p| p.rule.contains("the user partition has not issued"))
    );
    for p in found {
        assert_eq!((p.code, &p.key), (Rule::E4, &t.entry_key(K)), "{p}");
    }
}

#[tokio::test]
async fn a_node_whose_bytes_do_not_match_its_key() {
    let (store, t) = setup().await;
    let novelty = t.entry(K).await.datoms;
    let path = t
        .path(K, Index::Eavt, |n| {
            leaf(n).is_some_and(|l| l.datoms.iter().any(|d| novelty.contains(d)))
        })
        .await;
    let key = path.last().unwrap().clone();
    let mut bytes = encode(&t.node(&key).await);
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    t.overwrite(&key, &bytes).await;
    let p = single(&check(store).await, Rule::N1, &key);
    assert!(p.rule.contains("do not hash to its key"), "{p}");
}

#[tokio::test]
async fn an_entry_that_says_it_is_another_or_lost_its_instant() {
    let (store, t) = setup().await;
    let mut entry = t.entry(K).await;
    entry.tx = K + 1;
    entry.instant += 1;
    t.set_entry(K, &entry).await;
    let report = check(store).await;
    let found = at(&report, K);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found
            .iter()
            .all(|p| p.code == Rule::E1 && p.key == t.entry_key(K))
    );
    assert!(found.iter().any(|p| {
        p.rule
            .contains(&format!("says it is transaction {}", K + 1))
    }));
    assert!(found.iter().any(|p| p.rule.contains(":db/txInstant")));
}

#[tokio::test]
async fn a_missing_entry_stops_the_check_there() {
    let (store, t) = setup().await;
    t.overwrite(&t.entry_key(K), &[]).await;
    let report = check(store).await;
    assert_eq!(report.stopped_at, Some(K));
    let p = single(&report, Rule::E1, &t.entry_key(K));
    assert!(p.rule.contains("cannot be decoded"), "{p}");
}
