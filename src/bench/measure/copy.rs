//! P1: a full migration against the raw copy of the same namespace, into
//! the same kind of destination.

use super::super::BenchError;
use super::super::lab::{Destination, Lab, PAGE};
use super::super::raw_copy::{first_difference, raw_copy};
use super::{Pairs, Tick, migrate_timed, side_by_side, timed};

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
/// one. Seconds of each. The first run checks that the raw copy holds
/// exactly the source's keys and bytes.
pub(crate) async fn migration_vs_raw_copy(
    lab: &mut Lab,
    backend: Backend,
    runs: usize,
    tick: Tick<'_>,
) -> Result<Pairs, BenchError> {
    side_by_side(runs, tick, async |run| {
        let raw_dst = destination(lab, backend, "p1-raw").await?;
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

        let dst = destination(lab, backend, "p1-migrate").await?;
        let (_, secs) = migrate_timed(lab, &lab.source, &dst.store, &mut []).await?;
        lab.discard(dst).await?;
        Ok((raw_secs, secs))
    })
    .await
}

/// An empty destination of `backend` (the caller checked that a
/// PostgreSQL server was given before asking for one).
async fn destination(
    lab: &mut Lab,
    backend: Backend,
    label: &str,
) -> Result<Destination, BenchError> {
    match backend {
        Backend::Sled => lab.sled(label).await,
        Backend::Postgres => lab.postgres().await?.ok_or_else(|| BenchError::Unsound {
            what: "the sled→PostgreSQL copy".into(),
            detail: "no PostgreSQL server was given (--postgres)".into(),
        }),
    }
}

fn unsound(dst: &Destination, detail: String) -> BenchError {
    BenchError::Unsound {
        what: format!("the raw copy into {}", dst.store.url()),
        detail,
    }
}
