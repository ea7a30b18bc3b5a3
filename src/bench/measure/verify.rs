//! P5: verifying a migrated database against migrating it.

use crate::migrate::{self, VerifyOptions};

use super::super::BenchError;
use super::super::lab::Lab;
use super::{Pairs, Tick, migrate_timed, side_by_side, timed};

/// For each run: a full migration into an empty sled store, then `verify`
/// of the source against it (which must find them equal). Seconds of each.
pub(crate) async fn verify_vs_migration(
    lab: &mut Lab,
    runs: usize,
    tick: Tick<'_>,
) -> Result<Pairs, BenchError> {
    side_by_side(runs, tick, async |_| {
        let dst = lab.sled("p5").await?;
        let (_, migrate_secs) = migrate_timed(lab, &lab.source, &dst.store, &mut []).await?;
        let (report, verify_secs) = timed(migrate::verify(
            lab.source.clone(),
            dst.store.clone(),
            &lab.id,
            &VerifyOptions::default(),
        ))
        .await;
        let report = report?;
        if !report.is_equal() {
            return Err(BenchError::Unsound {
                what: "verify after the migration".into(),
                detail: report.differences.join("; "),
            });
        }
        lab.discard(dst).await?;
        Ok((migrate_secs, verify_secs))
    })
    .await
}
