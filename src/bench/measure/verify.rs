//! P5: verifying a migrated database against migrating it, in full and
//! with `--quick`.

use crate::migrate::{self, VerifyOptions};

use super::super::BenchError;
use super::super::lab::Lab;
use super::{Pairs, Tick, WARM_UP_RUNS, migrate_timed, side_by_side, timed};

/// For each run: a full migration into an empty sled store, then `verify`
/// of the source against it, in full and then `--quick` (each must find
/// them equal). Seconds of the migration and the full verify, and of the
/// migration and the quick verify.
pub(crate) async fn verify_vs_migration(
    lab: &mut Lab,
    runs: usize,
    tick: Tick<'_>,
) -> Result<(Pairs, Pairs), BenchError> {
    let mut quick_pairs = Pairs::default();
    let full_pairs = side_by_side(runs, tick, async |run| {
        let dst = lab.sled("p5").await?;
        let (_, migrate_secs) = migrate_timed(lab, &lab.source, &dst.store, &mut []).await?;
        let mut seconds = Vec::with_capacity(2);
        for quick in [false, true] {
            let options = VerifyOptions {
                quick,
                ..VerifyOptions::default()
            };
            let verified =
                migrate::verify(lab.source.clone(), dst.store.clone(), &lab.id, &options);
            let (report, secs) = timed(verified).await;
            let report = report?;
            if !report.is_equal() {
                return Err(BenchError::Unsound {
                    what: format!("verify (quick: {quick}) after the migration"),
                    detail: report.differences.join("; "),
                });
            }
            seconds.push(secs);
        }
        if run >= WARM_UP_RUNS {
            quick_pairs.push(migrate_secs, seconds[1]);
        }
        lab.discard(dst).await?;
        Ok((migrate_secs, seconds[0]))
    })
    .await?;
    Ok((full_pairs, quick_pairs))
}
