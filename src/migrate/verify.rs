//! `verify`: does the destination hold the same database as the source?
//!
//! Two passes, each linear in what they read: every tx-log entry up to the
//! transaction verified is compared byte for byte with the source's (its
//! number, instant, novelty, entity counters and index roots), and the
//! destination is checked as a database, entry by entry (`src/db/check`):
//! each entry's index trees hold exactly the trees of the entry before plus
//! its novelty, every node reachable is stored under the digest of its
//! bytes, of its index, sorted, balanced, within capacity and inside its
//! separators. Index nodes are addressed by their content, so equal
//! entries (equal roots) and a destination that passes prove every as-of
//! view equal — current and history, all four indexes, at every
//! transaction — without comparing the views one by one.

use std::sync::Arc;

use serde::Serialize;

use crate::db::Database;
use crate::db::check::{CheckOptions, Checker};
use crate::model::{self, Node, entry_key};
use crate::store::{MemStore, ValueStore};

use super::status::{DEFAULT_STATUS_SUFFIX, MigrationState, read_status};
use super::{MigrateError, MigrateOptions, NoObserver, NodeXform, TxXform, migrate, rebuild};

/// Told how far a verify has come: entries done of the total over both
/// passes (entries compared, then entries checked), or index nodes checked
/// with no total known (`--quick`).
pub type VerifyProgress = Arc<dyn Fn(u64, Option<u64>) + Send + Sync>;

/// What to verify.
#[derive(Clone)]
pub struct VerifyOptions {
    /// Compare as of this transaction (default: the destination's latest).
    pub as_of: Option<u64>,
    /// Stop collecting differences after this many.
    pub max_differences: usize,
    /// The destination's status record suffix: its head must be where the
    /// record says the migration left it.
    pub status_suffix: String,
    /// Verify the view as of the transaction only, not every older one:
    /// its entry compared, every node reachable from it read and checked
    /// against its key. Costs the view's size, not the history's.
    pub quick: bool,
    /// Called as the passes go on (a progress bar).
    pub progress: Option<VerifyProgress>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            as_of: None,
            max_differences: 20,
            status_suffix: DEFAULT_STATUS_SUFFIX.to_string(),
            quick: false,
            progress: None,
        }
    }
}

impl std::fmt::Debug for VerifyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyOptions")
            .field("as_of", &self.as_of)
            .field("max_differences", &self.max_differences)
            .field("status_suffix", &self.status_suffix)
            .field("quick", &self.quick)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl VerifyOptions {
    fn tell(&self, done: u64, total: Option<u64>) {
        if let Some(progress) = &self.progress {
            progress(done, total);
        }
    }

    /// Tells a full verify's progress up to `tx`: `done` entries of its two
    /// passes over entries `0..=tx`.
    fn tell_entries(&self, done: u64, tx: u64) {
        self.tell(done, Some(2 * (tx + 1)));
    }

    /// How many differences a report lists (at least one).
    fn listed_differences(&self) -> usize {
        self.max_differences.max(1)
    }
}

/// The outcome of a verify run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// The transaction compared as of.
    pub tx: u64,
    /// Entries in the source's log.
    pub source_entries: u64,
    /// Entries in the destination's log.
    pub destination_entries: u64,
    /// Tx-log entries compared byte for byte.
    pub entries_compared: u64,
    /// Destination index nodes checked (each entry's new nodes).
    pub nodes_checked: u64,
    /// The first differences found, in words; empty when equal.
    pub differences: Vec<String>,
}

impl VerifyReport {
    /// True when no difference was found.
    pub fn is_equal(&self) -> bool {
        self.differences.is_empty()
    }

    fn note(&mut self, max: usize, what: impl FnOnce() -> String) {
        if self.differences.len() < max {
            self.differences.push(what());
        }
    }
}

/// Compares database `id` in `src` and `dst`.
pub async fn verify(
    src: Arc<dyn ValueStore>,
    dst: Arc<dyn ValueStore>,
    id: &str,
    options: &VerifyOptions,
) -> Result<VerifyReport, MigrateError> {
    let source = Database::open(src, id)
        .await
        .map_err(MigrateError::Source)?;
    let destination = Database::open(dst, id)
        .await
        .map_err(MigrateError::Destination)?;
    let source_entries = source.head().await.map_err(MigrateError::Source)?.count;
    let destination_entries = destination
        .head()
        .await
        .map_err(MigrateError::Destination)?
        .count;
    let tx = options
        .as_of
        .unwrap_or(destination_entries.saturating_sub(1));
    for (side, count) in [
        ("the source", source_entries),
        ("the destination", destination_entries),
    ] {
        if tx >= count {
            return Err(MigrateError::AsOfOutOfRange { tx, side, count });
        }
    }
    let mut report = VerifyReport {
        tx,
        source_entries,
        destination_entries,
        ..VerifyReport::default()
    };
    let max = options.listed_differences();
    check_head_against_status(&destination, &options.status_suffix, max, &mut report).await?;
    if options.quick {
        compare_entries(&source, &destination, tx..=tx, options, &mut report).await?;
        check_view(&destination, tx, options, &mut report).await?;
    } else {
        compare_entries(&source, &destination, 0..=tx, options, &mut report).await?;
        check_destination(&destination, tx, options, &mut report).await?;
    }
    Ok(report)
}

/// Verifies `dst` against the source passed through `xforms` (the plugins
/// a migration ran with): the source is migrated through them into memory,
/// then compared with the destination as [`verify`] does. Transforms are
/// deterministic (sandboxed, no clock or randomness), so a faithful
/// migration gives an equal result.
pub async fn verify_through(
    src: Arc<dyn ValueStore>,
    dst: Arc<dyn ValueStore>,
    id: &str,
    xforms: &mut [Box<dyn NodeXform>],
    options: &VerifyOptions,
) -> Result<VerifyReport, MigrateError> {
    if xforms.is_empty() {
        return verify(src, dst, id, options).await;
    }
    let expected: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
    migrate(
        src,
        expected.clone(),
        id,
        &MigrateOptions::default(),
        xforms,
        &mut NoObserver,
    )
    .await?;
    verify(expected, dst, id, options).await
}

/// Verifies a rebuilt `dst` against the source passed through `xforms`
/// (the transaction-level transforms the rebuild ran with): the source is
/// rebuilt through them into memory, then compared with the destination as
/// [`verify`] does. Transforms are deterministic, so a faithful rebuild
/// gives an equal result.
pub async fn verify_rebuild(
    src: Arc<dyn ValueStore>,
    dst: Arc<dyn ValueStore>,
    id: &str,
    xforms: &mut [Box<dyn TxXform>],
    options: &VerifyOptions,
) -> Result<VerifyReport, MigrateError> {
    let expected: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
    rebuild(
        src,
        expected.clone(),
        id,
        &MigrateOptions::default(),
        xforms,
        &mut NoObserver,
    )
    .await?;
    verify(expected, dst, id, options).await
}

/// The destination's head must be where its status record says the last
/// migration left it: a head moved back still reads as a database (an
/// older one), and would otherwise verify equal as of its own latest.
async fn check_head_against_status(
    destination: &Database,
    suffix: &str,
    max: usize,
    report: &mut VerifyReport,
) -> Result<(), MigrateError> {
    let found = read_status(destination.store().as_ref(), destination.id(), suffix).await?;
    let Some((status, _)) = found else {
        return Ok(());
    };
    let head = report.destination_entries;
    let left = match status.state {
        MigrationState::Complete => status.destination_head,
        // A run under way may have moved the head to its target already.
        _ => None,
    };
    if let Some(left) = left.filter(|&left| left != head && status.previous_head != Some(head)) {
        report.note(max, || {
            format!(
                "the destination's tx-log head count is {head} but its migration status record says the last run left it at {left}: the head was moved since (a migration destination must not be written to)"
            )
        });
    }
    Ok(())
}

/// Compares the stored bytes of the entries in `range` on both sides, in
/// batches; a difference is described field by field.
async fn compare_entries(
    source: &Database,
    destination: &Database,
    range: std::ops::RangeInclusive<u64>,
    options: &VerifyOptions,
    report: &mut VerifyReport,
) -> Result<(), MigrateError> {
    const BATCH: u64 = 256;
    let max = options.listed_differences();
    let log = &source.info().tx_log;
    let (mut first, tx) = range.into_inner();
    while first <= tx {
        let last = tx.min(first.saturating_add(BATCH - 1));
        let keys: Vec<String> = (first..=last).map(|i| entry_key(log, i)).collect();
        let ours = source
            .store()
            .get_many(source.id(), &keys)
            .await
            .map_err(MigrateError::source_store)?;
        let theirs = destination
            .store()
            .get_many(destination.id(), &keys)
            .await
            .map_err(MigrateError::destination_store)?;
        for (((i, key), a), b) in (first..=last).zip(&keys).zip(ours).zip(theirs) {
            report.entries_compared += 1;
            if a != b {
                report.note(max, || {
                    let mut what = describe_entry_difference(i, a.as_deref(), b.as_deref());
                    // Which side is damaged, when a seal says so.
                    for (side, bytes) in [("source", &a), ("destination", &b)] {
                        if let Some(Err(e)) = bytes.as_deref().map(|b| model::check_stored(key, b))
                        {
                            what.push_str(&format!("; the {side}'s entry is damaged: {e}"));
                        }
                    }
                    what
                });
            }
        }
        if !options.quick {
            options.tell_entries(last + 1, tx);
        }
        first = last + 1;
    }
    Ok(())
}

/// What differs between two stored versions of tx-log entry `i`.
fn describe_entry_difference(i: u64, source: Option<&[u8]>, destination: Option<&[u8]>) -> String {
    let decode = |bytes: Option<&[u8]>| match bytes.map(model::decode) {
        None => Err("missing".to_string()),
        Some(Ok(Node::TxLogEntry(entry))) => Ok(entry),
        Some(Ok(other)) => Err(format!("a {} node", other.kind().name())),
        Some(Err(e)) => Err(format!("undecodable ({e})")),
    };
    match (decode(source), decode(destination)) {
        (Ok(a), Ok(b)) => {
            let mut fields = Vec::new();
            if a.tx != b.tx {
                fields.push(format!("number (source {}, destination {})", a.tx, b.tx));
            }
            if a.instant != b.instant {
                fields.push(format!(
                    "instant (source {}, destination {})",
                    a.instant, b.instant
                ));
            }
            if a.datoms != b.datoms {
                fields.push(format!(
                    "datoms (source {}, destination {})",
                    a.datoms.len(),
                    b.datoms.len()
                ));
            }
            if a.next_entity != b.next_entity {
                fields.push(format!(
                    "entity counters (source {:?}, destination {:?})",
                    a.next_entity, b.next_entity
                ));
            }
            if a.roots != b.roots {
                fields.push("index roots".to_string());
            }
            if fields.is_empty() {
                fields.push("encoding".to_string());
            }
            format!("tx-log entry {i}: {} differ", fields.join(", "))
        }
        (a, b) => format!(
            "tx-log entry {i}: source {}, destination {}",
            a.map_or_else(|e| e, |_| "present".to_string()),
            b.map_or_else(|e| e, |_| "present".to_string())
        ),
    }
}

/// Checks the destination as a database, entries `0..=tx`, each against
/// the one before it; every problem is a difference.
async fn check_destination(
    destination: &Database,
    tx: u64,
    options: &VerifyOptions,
    report: &mut VerifyReport,
) -> Result<(), MigrateError> {
    let max = options.listed_differences();
    let mut checker = Checker::starting_at(
        destination.store().clone(),
        destination.id(),
        &destination.info().tx_log,
        0,
        CheckOptions::default(),
    )
    .await
    .map_err(MigrateError::Destination)?;
    for i in 0..=tx {
        if !checker.can_continue() {
            report.note(max, || {
                format!("the destination cannot be checked past entry {i}: an entry before it is unreadable")
            });
            break;
        }
        let problems = checker
            .check_entry(i)
            .await
            .map_err(MigrateError::Destination)?;
        for p in problems {
            report.note(max, || format!("destination: {p}"));
        }
        if i % 64 == 63 || i == tx {
            options.tell_entries(tx + 1 + i + 1, tx);
        }
    }
    report.nodes_checked = checker.stats().nodes_checked;
    Ok(())
}

/// `--quick`: every index node reachable from entry `tx`'s roots is read
/// once and checked against its key. With the entry equal to the source's
/// (its roots included), nodes that are what their keys name prove the
/// view as of `tx` equal; older views and the trees' own rules are left to
/// the full verify.
async fn check_view(
    destination: &Database,
    tx: u64,
    options: &VerifyOptions,
    report: &mut VerifyReport,
) -> Result<(), MigrateError> {
    const BATCH: usize = 256;
    let max = options.listed_differences();
    let entry = match destination.entry(tx).await {
        Ok(entry) => entry,
        Err(e) => {
            report.note(max, || format!("destination: tx-log entry {tx}: {e}"));
            return Ok(());
        }
    };
    let store = destination.store();
    // Depth first, so what waits is one path's siblings, not a level.
    let mut stack: Vec<String> = entry.roots.keys().map(str::to_string).collect();
    while !stack.is_empty() {
        let keys = stack.split_off(stack.len().saturating_sub(BATCH));
        let values = store
            .get_many(destination.id(), &keys)
            .await
            .map_err(MigrateError::destination_store)?;
        for (key, value) in keys.into_iter().zip(values) {
            report.nodes_checked += 1;
            let Some(bytes) = value else {
                report.note(max, || {
                    format!(
                        "destination: index node `{key}`, reachable from entry {tx}, is missing"
                    )
                });
                continue;
            };
            match model::decode_at(&key, &bytes) {
                Ok(Node::IndexInner(inner)) => stack.extend(inner.children),
                Ok(Node::IndexLeaf(_)) => {}
                Ok(other) => report.note(max, || {
                    format!(
                        "destination: a {} stands at `{key}`, where an index node belongs",
                        other.kind().name()
                    )
                }),
                Err(e) => report.note(max, || format!("destination: index node `{key}`: {e}")),
            }
        }
        options.tell(report.nodes_checked, None);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Plain `verify` sees damage that leaves every node well formed, and
    //! damage only an older entry's view shows.
    use super::*;
    use crate::db::check::tests::tamper::{Tamper, leaf};
    use crate::db::generate::{GenerateOptions, generate};
    use crate::migrate::{MigrateOptions, NoObserver, migrate};
    use crate::model::{Index, Value};

    const DB: &str = "demo";

    /// A generated source and a plain copy of it.
    async fn copied() -> (Arc<dyn ValueStore>, Arc<dyn ValueStore>) {
        let src: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
        let db = Database::create(src.clone(), DB).await.unwrap();
        let options = GenerateOptions {
            txs: 60,
            datoms_per_tx: 10,
            seed: 3,
        };
        generate(&db, &options, |_| {}).await.unwrap();
        let dst: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
        migrate(
            src.clone(),
            dst.clone(),
            DB,
            &MigrateOptions::default(),
            &mut [],
            &mut NoObserver,
        )
        .await
        .unwrap();
        (src, dst)
    }

    async fn differences(src: Arc<dyn ValueStore>, dst: Arc<dyn ValueStore>) -> Vec<String> {
        verify(src, dst, DB, &VerifyOptions::default())
            .await
            .unwrap()
            .differences
    }

    /// A leaf of entry `k`'s `index` tree with a string value in its middle,
    /// and that leaf with the value changed (still sorted, still bounded).
    async fn changed_leaf(t: &Tamper, k: u64, index: Index) -> (Vec<String>, Node) {
        // A string strictly inside the leaf: appending to it keeps the leaf
        // sorted and inside its parent's separators.
        let inside = |l: &crate::model::IndexLeaf| {
            (1..l.datoms.len().saturating_sub(1))
                .find(|&i| matches!(l.datoms[i].v, Value::String(_)))
        };
        let path = t
            .path(k, index, |n| leaf(n).and_then(inside).is_some())
            .await;
        let Node::IndexLeaf(mut l) = t.node(path.last().unwrap()).await else {
            panic!("a leaf")
        };
        let i = inside(&l).unwrap();
        if let Value::String(s) = &mut l.datoms[i].v {
            s.push('\u{0}');
        }
        (path, Node::IndexLeaf(l))
    }

    #[tokio::test]
    async fn a_value_changed_in_one_index_of_the_latest_entry_is_a_difference() {
        let (src, dst) = copied().await;
        let t = Tamper::open(dst.clone(), DB).await;
        let last = t.db.head().await.unwrap().count - 1;
        let (path, node) = changed_leaf(&t, last, Index::Aevt).await;
        t.replace(last, Index::Aevt, &path, node).await;
        let found = differences(src, dst).await;
        assert!(
            found.iter().any(|d| d.starts_with("destination: entry")),
            "{found:#?}"
        );
    }

    /// Damage to a tree only an older entry reaches (as of that entry).
    #[tokio::test]
    async fn a_leaf_reachable_only_from_an_older_entry_is_a_difference() {
        let (src, dst) = copied().await;
        let t = Tamper::open(dst.clone(), DB).await;
        let (path, node) = changed_leaf(&t, 20, Index::Eavt).await;
        t.replace(20, Index::Eavt, &path, node).await;
        let found = differences(src, dst).await;
        assert!(
            found
                .iter()
                .any(|d| d.contains("tx-log entry 20: index roots differ")),
            "{found:#?}"
        );
        assert!(
            found.iter().any(|d| d.starts_with("destination: entry 20")),
            "{found:#?}"
        );
    }

    #[tokio::test]
    async fn an_entrys_roots_swapped_or_counters_lowered_are_differences() {
        let (src, dst) = copied().await;
        let t = Tamper::open(dst.clone(), DB).await;
        let mut e = t.entry(30).await;
        std::mem::swap(&mut e.roots.eavt, &mut e.roots.aevt);
        t.set_entry(30, &e).await;
        let mut e = t.entry(40).await;
        e.next_entity[2] -= 3;
        t.set_entry(40, &e).await;
        let found = differences(src, dst).await;
        for needle in [
            "tx-log entry 30: index roots differ",
            "tx-log entry 40: entity counters",
        ] {
            assert!(
                found.iter().any(|d| d.contains(needle)),
                "{needle}: {found:#?}"
            );
        }
    }

    /// The destination's head moved back by one still reads as a database
    /// (an older one) that equals the source as of its own latest; the
    /// status record says where the migration left it.
    #[tokio::test]
    async fn a_head_moved_back_is_a_difference() {
        let (src, dst) = copied().await;
        let db = crate::db::Database::open(dst.clone(), DB).await.unwrap();
        let log = db.info().tx_log.clone();
        let count = db.head().await.unwrap().count;
        let head =
            |count| model::encode_at(&log, &Node::TxLogHead(crate::model::TxLogHead { count }));
        let moved = dst
            .replace(DB, &log, Some(&head(count)), &head(count - 1))
            .await
            .unwrap();
        assert!(moved.replaced());
        let found = differences(src, dst).await;
        let expected = format!(
            "head count is {} but its migration status record says the last run left it at {count}",
            count - 1
        );
        assert!(found.iter().any(|d| d.contains(&expected)), "{found:#?}");
    }

    /// `--quick` reads the latest view once, reports damage in it, tells
    /// its progress, and leaves older views to the full verify.
    #[tokio::test]
    async fn quick_checks_the_latest_view_only() {
        let (src, dst) = copied().await;
        let told = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let seen = told.clone();
        let options = VerifyOptions {
            quick: true,
            progress: Some(Arc::new(move |done, _| {
                seen.store(done, std::sync::atomic::Ordering::SeqCst);
            })),
            ..VerifyOptions::default()
        };
        let report = verify(src.clone(), dst.clone(), DB, &options)
            .await
            .unwrap();
        assert!(report.is_equal(), "{:?}", report.differences);
        assert_eq!(report.entries_compared, 1);
        assert!(report.nodes_checked > 4, "{}", report.nodes_checked);
        assert_eq!(
            told.load(std::sync::atomic::Ordering::SeqCst),
            report.nodes_checked
        );

        // Damage only entry 20's view shows: quick passes, full does not.
        let t = Tamper::open(dst.clone(), DB).await;
        let (path, node) = changed_leaf(&t, 20, Index::Eavt).await;
        t.replace(20, Index::Eavt, &path, node).await;
        let quick = verify(src.clone(), dst.clone(), DB, &options)
            .await
            .unwrap();
        assert!(quick.is_equal(), "{:?}", quick.differences);
        assert!(!differences(src.clone(), dst.clone()).await.is_empty());

        // A byte changed in a leaf of the latest view: named by quick.
        let last = t.db.head().await.unwrap().count - 1;
        let path = t.path(last, Index::Avet, |n| leaf(n).is_some()).await;
        let key = path.last().unwrap();
        let bytes = dst.get(DB, key).await.unwrap().unwrap();
        let mut bent = bytes.clone();
        *bent.last_mut().unwrap() ^= 1;
        assert!(
            dst.replace(DB, key, Some(&bytes), &bent)
                .await
                .unwrap()
                .replaced()
        );
        let quick = verify(src, dst, DB, &options).await.unwrap();
        assert!(
            quick.differences.iter().any(|d| d.contains(key.as_str())),
            "{:?}",
            quick.differences
        );
    }
}
