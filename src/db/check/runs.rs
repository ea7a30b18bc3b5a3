//! R1 and R2, format 2's index rules, for one entry (docs/format.md,
//! "Invariants a reader relies on"). A reader as of `k` reads entry `k`'s
//! index set and merges the novelty of entries `basis + 1 ..= k`, so:
//!
//! - R1: the index set an entry names holds transactions `0 ..= basis`
//!   with `basis <= k`; an entry after its basis names the same index set
//!   as the entry before it, and an entry at its basis names a new one
//!   whose runs cover `0 ..= k` in order, without gap or overlap.
//! - R2: every run of a new index set that the previous one did not hold
//!   is, in each index, a valid tree (N1–N4) holding exactly the datoms
//!   of the entries of its transaction range that the index holds (the
//!   T1/T2 walk of `diff`, against an empty old tree).
//!
//! Runs kept from the previous index set were checked when they were
//! new, and equal keys read equal bytes; so, by induction on `k`, the runs
//! of every index set hold exactly the log's datoms up to its basis, and
//! every as-of view equals the log's history.

use std::cmp::Ordering;

use crate::model::{self, Datom, Index, IndexSet, Lag, Node, TxLogEntry};
use crate::store::StoreError;

use super::super::DbError;
use super::super::entry_batches::for_each_entry;
use super::super::lagging::MAX_LAG_ENTRIES;
use super::diff::{IndexCheck, check_index};
use super::nodes::Reader;
use super::problem::{Fault, Rule};

/// The index set the entry before names, and its runs.
#[derive(Clone)]
pub(super) struct SetState {
    pub lag: Lag,
    pub set: IndexSet,
}

/// R1 and R2 for format 2 entry `tx` at `key` whose index is `lag`, after
/// `prev` (the index set of the entry before; `None` for entry 0 or
/// after an entry that was not format 2). Returns the faults and, when
/// the index set could be read, the state the next entry is checked
/// against.
pub(super) async fn check_lag(
    reader: &mut Reader,
    tx_log: &str,
    (tx, key): (u64, &str),
    lag: &Lag,
    prev: Option<&SetState>,
) -> Result<(Vec<Fault>, Option<SetState>), DbError> {
    let r1 = |text: String| vec![Fault::new(Rule::R1, key, text)];
    if lag.basis > tx {
        return Ok((
            r1(format!(
                "the entry's index set holds transactions up to {}, after the entry",
                lag.basis
            )),
            None,
        ));
    }
    if tx - lag.basis > MAX_LAG_ENTRIES {
        return Ok((
            r1(format!(
                "the entry lags its index set by {} entries, more than the {MAX_LAG_ENTRIES} a reader merges",
                tx - lag.basis
            )),
            None,
        ));
    }
    if lag.basis < tx {
        return Ok(match prev {
            Some(state) if state.lag == *lag => (Vec::new(), Some(state.clone())),
            Some(state) => (
                r1(format!(
                    "the entry names index set `{}` (basis {}), but the entry before names `{}` (basis {}): entries between two indexings name the same index set",
                    lag.set, lag.basis, state.lag.set, state.lag.basis
                )),
                None,
            ),
            None => (
                r1("the entry lags an index set no entry before it named".to_string()),
                None,
            ),
        });
    }
    let set = match read_set(reader, &lag.set).await? {
        Ok(set) => set,
        Err(fault) => return Ok((vec![fault], None)),
    };
    if let Some(text) = coverage_fault(&set, tx) {
        return Ok((vec![Fault::new(Rule::R1, &lag.set, text)], None));
    }
    let mut faults = Vec::new();
    for run in &set.runs {
        let kept = prev.is_some_and(|state| state.set.runs.contains(run));
        if kept {
            continue;
        }
        let datoms = match run_datoms(reader, tx_log, run.first_tx, run.last_tx).await? {
            Ok(datoms) => datoms,
            Err(fault) => {
                faults.push(fault);
                continue;
            }
        };
        if datoms.len() as u64 != run.datoms {
            faults.push(Fault::new(
                Rule::R2,
                &lag.set,
                format!(
                    "the run of transactions {}..={} says it holds {} datoms; its entries hold {}",
                    run.first_tx,
                    run.last_tx,
                    run.datoms,
                    datoms.len()
                ),
            ));
        }
        for index in Index::ALL {
            let mut held: Vec<Datom> = datoms.iter().filter(|d| index.holds(d)).cloned().collect();
            held.sort_by(|x, y| index.cmp(x, y));
            held.dedup_by(|x, y| index.cmp(x, y) == Ordering::Equal);
            let check = IndexCheck {
                index,
                entry: tx,
                entry_key: &lag.set,
                old_root: None,
                new_root: run.roots.get(index),
                novelty: &held,
            };
            faults.extend(check_index(reader, check).await?.into_iter().map(|f| {
                Fault::new(
                    Rule::R2,
                    f.key,
                    format!(
                        "in the run of transactions {}..={}: {}",
                        run.first_tx, run.last_tx, f.text
                    ),
                )
            }));
        }
    }
    let state = SetState {
        lag: lag.clone(),
        set,
    };
    Ok((faults, Some(state)))
}

/// The index set at `key`, or the R1 fault that it cannot be read as one.
pub(super) async fn read_set(
    reader: &mut Reader,
    key: &str,
) -> Result<Result<IndexSet, Fault>, DbError> {
    let r1 = |text: String| Ok(Err(Fault::new(Rule::R1, key, text)));
    let Some(node) = reader.read_node(key).await? else {
        return r1("the index set is missing from the store".to_string());
    };
    match node {
        Ok(Node::IndexSet(set)) => Ok(Ok(set)),
        Ok(other) => r1(format!(
            "a {} stands where an index set belongs",
            other.kind().name()
        )),
        Err(e) => r1(format!("the index set cannot be read: {e}")),
    }
}

/// Why the runs of `set` do not cover transactions `0 ..= tx` in order.
fn coverage_fault(set: &IndexSet, tx: u64) -> Option<String> {
    if set.basis != tx {
        return Some(format!(
            "the index set says it holds transactions up to {}, the entry naming it is {tx}",
            set.basis
        ));
    }
    let mut next = 0u64;
    for run in &set.runs {
        if run.first_tx != next || run.last_tx < run.first_tx {
            return Some(format!(
                "a run covers transactions {}..={} where transaction {next} comes next",
                run.first_tx, run.last_tx
            ));
        }
        next = run.last_tx + 1;
    }
    (next != tx + 1).then(|| format!("the runs end before transaction {tx}"))
}

/// The datoms of entries `first ..= last`, or the fault naming an entry
/// that cannot be read.
async fn run_datoms(
    reader: &mut Reader,
    tx_log: &str,
    first: u64,
    last: u64,
) -> Result<Result<Vec<Datom>, Fault>, DbError> {
    let mut out = Vec::new();
    let store = reader.store().clone();
    let range = first..last.saturating_add(1);
    let read = for_each_entry(store.as_ref(), reader.namespace(), tx_log, range, |e| {
        let r2 = |text: String| Err(Stop::Fault(Fault::new(Rule::R2, e.key.as_str(), text)));
        let t = e.tx;
        let Some(bytes) = &e.bytes else {
            return r2(format!("entry {t}, which a run holds, is missing"));
        };
        match model::decode_at(&e.key, bytes) {
            Ok(Node::TxLogEntry(TxLogEntry {
                tx: got, datoms, ..
            })) if got == t => {
                out.extend(datoms);
                Ok(())
            }
            _ => r2(format!("entry {t}, which a run holds, cannot be read")),
        }
    })
    .await;
    match read {
        Ok(()) => Ok(Ok(out)),
        Err(Stop::Fault(fault)) => Ok(Err(fault)),
        Err(Stop::Store(e)) => Err(e),
    }
}

/// Why a walk over a run's entries stopped early.
enum Stop {
    /// An entry cannot be read as the run needs it.
    Fault(Fault),
    /// The store failed.
    Store(DbError),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Stop {
        Stop::Store(e.into())
    }
}
