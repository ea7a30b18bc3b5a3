//! Rebuild mode against a plain migration.

use crate::migrate::{self, MigrateOptions, NoObserver};

use super::super::BenchError;
use super::super::lab::Lab;
use super::{Pairs, Tick, migrate_timed, side_by_side, timed};

/// For each run: a full migration into an empty sled store, then a rebuild
/// (`migrate::rebuild` with no transforms: the host's replay of every
/// transaction through the writer) into another. Seconds of each.
pub(crate) async fn rebuild_vs_migration(
    lab: &mut Lab,
    runs: usize,
    tick: Tick<'_>,
) -> Result<Pairs, BenchError> {
    side_by_side(runs, tick, async |_| {
        let plain = lab.sled("rebuild-plain").await?;
        let (_, migrate_secs) = migrate_timed(lab, &lab.source, &plain.store, &mut []).await?;
        lab.discard(plain).await?;

        let rebuilt = lab.sled("rebuild").await?;
        let (report, rebuild_secs) = timed(async {
            let report = migrate::rebuild(
                lab.source.clone(),
                rebuilt.store.clone(),
                &lab.id,
                &MigrateOptions::default(),
                &mut [],
                &mut NoObserver,
            )
            .await?;
            rebuilt.store.flush().await?;
            Ok::<_, BenchError>(report)
        })
        .await;
        let report = report?;
        if report.end != lab.facts.entries {
            return Err(BenchError::Unsound {
                what: "the rebuild".into(),
                detail: format!("rebuilt {} of {} entries", report.end, lab.facts.entries),
            });
        }
        lab.discard(rebuilt).await?;
        Ok((migrate_secs, rebuild_secs))
    })
    .await
}
