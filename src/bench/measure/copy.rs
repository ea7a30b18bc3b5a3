//! P1: a full migration against the raw copy of the same namespace, into
//! the same kind of destination.

use super::super::BenchError;
use super::super::lab::{Destination, Lab, PAGE};
use super::super::raw_copy::{first_difference, raw_copy};
use super::{Pairs, Tick, WARM_UP_RUNS, migrate_timed, timed};

/// Where P1 copies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// A fresh sled store per copy.
    Sled,
    /// The PostgreSQL server of `--postgres`, the namespace emptied per copy.
    Postgres,
}

/// For each run: a raw copy of the source namespace into an empty
/// destination, then a full migration into another (or the same, emptied)
/// one. Seconds of each; `None` when the backend is not available. The
/// first run checks that the raw copy holds exactly the source's keys and
/// bytes.
pub(crate) async fn migration_vs_raw_copy(
    lab: &mut Lab,
    backend: Backend,
    runs: usize,
    tick: Tick<'_>,
) -> Result<Option<Pairs>, BenchError> {
    let mut pairs = Pairs::after_warm_up();
    for run in 0..runs + WARM_UP_RUNS {
        let Some(raw_dst) = destination(lab, backend, "p1-raw").await? else {
            return Ok(None);
        };
        let (copied, raw_secs) = timed(async {
            let copied =
                raw_copy(lab.source.as_ref(), raw_dst.store.as_ref(), &lab.id, PAGE).await?;
            raw_dst.store.flush().await?;
            Ok::<_, BenchError>(copied)
        })
        .await;
        let copied = copied?;
        if copied.keys != lab.facts.keys || copied.already_present != 0 {
            return Err(unsound(
                &raw_dst,
                format!(
                    "copied {} keys ({} already present) of the source's {}",
                    copied.keys, copied.already_present, lab.facts.keys
                ),
            ));
        }
        if run == 0
            && let Some(diff) =
                first_difference(lab.source.as_ref(), raw_dst.store.as_ref(), &lab.id, 1024).await?
        {
            return Err(unsound(&raw_dst, diff));
        }
        lab.discard(raw_dst).await?;

        let Some(dst) = destination(lab, backend, "p1-migrate").await? else {
            return Ok(None);
        };
        let (_, secs) = migrate_timed(lab, &lab.source, &dst.store, &mut []).await?;
        lab.discard(dst).await?;
        if pairs.push(raw_secs, secs) {
            tick();
        }
    }
    Ok(Some(pairs))
}

async fn destination(
    lab: &mut Lab,
    backend: Backend,
    label: &str,
) -> Result<Option<Destination>, BenchError> {
    match backend {
        Backend::Sled => lab.sled(label).await.map(Some),
        Backend::Postgres => lab.postgres().await,
    }
}

fn unsound(dst: &Destination, detail: String) -> BenchError {
    BenchError::Unsound {
        what: format!("the raw copy into {}", dst.store.url()),
        detail,
    }
}
