//! P3: an incremental run after the source grew by 1 % against the full run
//! before it.

use std::sync::Arc;

use crate::db::Database;
use crate::db::generate::{GenerateOptions, generate};
use crate::store::{CallKind, CallTotals, TimedStore, ValueStore};

use super::super::BenchError;
use super::super::lab::{Lab, PAGE};
use super::super::raw_copy::raw_copy;
use super::{Pairs, Tick, WARM_UP_RUNS, migrate_timed, side_by_side};

/// How much the source grows between the two runs, in % of its data
/// transactions.
pub(crate) const GROWTH_PERCENT: u64 = 1;

/// What the incremental runs took: their seconds next to the full runs',
/// and the store calls of each incremental run.
pub(crate) struct IncrementalRuns {
    /// Seconds of each full run (baseline) and incremental run (subject).
    pub seconds: Pairs,
    /// The store calls of each counted incremental run, in order.
    pub calls: Vec<StoreCalls>,
}

/// The store calls of one incremental run, by kind, timed from outside
/// each store (a [`TimedStore`] around each).
#[derive(Debug, Clone, Copy)]
pub(crate) struct StoreCalls {
    /// Reads from the source: its roots, then the new nodes.
    pub source_reads: CallTotals,
    /// Reads from the destination: its roots, status record and remaps.
    pub destination_reads: CallTotals,
    /// Existence checks in the destination.
    pub checks: CallTotals,
    /// Creates of new nodes in the destination.
    pub creates: CallTotals,
    /// Compare-and-sets of the destination's roots and status record.
    pub replaces: CallTotals,
    /// Flushes of the destination (each a sync when something was written).
    pub flushes: CallTotals,
}

impl StoreCalls {
    /// Each kind of call, named as the report names it, in report order.
    pub fn named(&self) -> [(&'static str, CallTotals); 6] {
        [
            ("destination flushes", self.flushes),
            ("creating the new nodes", self.creates),
            ("existence checks", self.checks),
            ("source reads (roots and new nodes)", self.source_reads),
            (
                "destination reads (roots, status record)",
                self.destination_reads,
            ),
            ("compare-and-set of head and status record", self.replaces),
        ]
    }

    /// Seconds spent inside store calls, all kinds together.
    pub fn seconds(&self) -> f64 {
        self.named().iter().map(|(_, t)| t.seconds).sum()
    }
}

/// For each run: a byte-exact copy of the source (a raw copy: the same
/// database, identity included) is migrated in full into an empty sled
/// store; the copy then grows by 1 % of its transactions; the same
/// migration runs again, both stores timed call by call, and copies what
/// is new. Seconds of the full run (baseline) and of the incremental one,
/// and the incremental run's store calls.
pub(crate) async fn incremental_vs_full(
    lab: &mut Lab,
    runs: usize,
    tick: Tick<'_>,
) -> Result<IncrementalRuns, BenchError> {
    let grow_by = lab.workload.growth(GROWTH_PERCENT);
    let mut calls = Vec::with_capacity(runs + WARM_UP_RUNS);
    let seconds = side_by_side(runs, tick, async |run| {
        let source = lab.sled("p3-source").await?;
        raw_copy(lab.source.as_ref(), source.store.as_ref(), &lab.id, PAGE).await?;
        let dst = lab.sled("p3-destination").await?;
        let (full, full_secs) = migrate_timed(lab, &source.store, &dst.store, &mut []).await?;

        let db = Database::open(source.store.clone(), &lab.id).await?;
        let options = GenerateOptions {
            txs: grow_by,
            datoms_per_tx: lab.workload.datoms_per_tx,
            seed: lab.workload.seed.wrapping_add(1 + run as u64),
        };
        generate(&db, &options, |_| {}).await?;
        drop(db);

        let timed_source = Arc::new(TimedStore::new(source.store.clone()));
        let timed_destination = Arc::new(TimedStore::new(dst.store.clone()));
        let (src, into): (Arc<dyn ValueStore>, Arc<dyn ValueStore>) =
            (timed_source.clone(), timed_destination.clone());
        let (incremental, secs) = migrate_timed(lab, &src, &into, &mut []).await?;
        calls.push(StoreCalls {
            source_reads: timed_source.totals(CallKind::Read),
            destination_reads: timed_destination.totals(CallKind::Read),
            checks: timed_destination.totals(CallKind::Check),
            creates: timed_destination.totals(CallKind::Create),
            replaces: timed_destination.totals(CallKind::Replace),
            flushes: timed_destination.totals(CallKind::Flush),
        });
        if incremental.start != full.end || incremental.end != full.end + grow_by {
            return Err(BenchError::Unsound {
                what: "the incremental migration".into(),
                detail: format!(
                    "copied entries {}..{}, expected {}..{}",
                    incremental.start,
                    incremental.end,
                    full.end,
                    full.end + grow_by
                ),
            });
        }
        lab.discard(dst).await?;
        lab.discard(source).await?;
        Ok((full_secs, secs))
    })
    .await?;
    // The warm-up runs' calls are not counted, as their times are not.
    let counted = calls.split_off(calls.len().saturating_sub(runs));
    Ok(IncrementalRuns {
        seconds,
        calls: counted,
    })
}
