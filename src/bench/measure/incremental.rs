//! P3: an incremental run after the source grew by 1 % against the full run
//! before it.

use crate::db::Database;
use crate::db::generate::{GenerateOptions, generate};

use super::super::BenchError;
use super::super::lab::{Lab, PAGE};
use super::super::raw_copy::raw_copy;
use super::{Pairs, Tick, migrate_timed, side_by_side};

/// How much the source grows between the two runs, in % of its data
/// transactions.
pub(crate) const GROWTH_PERCENT: u64 = 1;

/// For each run: a byte-exact copy of the source (a raw copy: the same
/// database, identity included) is migrated in full into an empty sled
/// store; the copy then grows by 1 % of its transactions; the same
/// migration runs again and copies what is new. Seconds of the full run
/// (baseline) and of the incremental one.
pub(crate) async fn incremental_vs_full(
    lab: &mut Lab,
    runs: usize,
    tick: Tick<'_>,
) -> Result<Pairs, BenchError> {
    let grow_by = lab.workload.growth(GROWTH_PERCENT);
    side_by_side(runs, tick, async |run| {
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

        let (incremental, secs) = migrate_timed(lab, &source.store, &dst.store, &mut []).await?;
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
    .await
}
