//! The transforms of a rebuild, run in order on each transaction, with the
//! checks that need no destination state run on each one's output so that
//! a violation names the transform that made it.

use crate::db::{DbError, ReplayError, check_issued};

use super::super::tx_xform::{TxRejection, TxRule};
use super::super::{MigrateError, PluginSummary, TxXform, XformTx};

/// The transforms of one run, in order.
pub(super) struct Chain<'a> {
    xforms: &'a mut [Box<dyn TxXform>],
}

impl<'a> Chain<'a> {
    /// The chain of `xforms`.
    pub(super) fn new(xforms: &'a mut [Box<dyn TxXform>]) -> Self {
        Chain { xforms }
    }

    /// The transforms' names, in order.
    pub(super) fn names(&self) -> Vec<String> {
        self.xforms.iter().map(|x| x.name().to_string()).collect()
    }

    /// Passes `tx` through every transform. After each: the number and
    /// instant are unchanged, and every entity id is one the source had
    /// issued by then (its counters after the transaction: `next_entity`).
    pub(super) fn run(
        &mut self,
        tx: XformTx,
        next_entity: [u64; 3],
    ) -> Result<XformTx, MigrateError> {
        let (t, instant) = (tx.tx, tx.instant);
        let mut tx = tx;
        for x in self.xforms.iter_mut() {
            let plugin = x.name().to_string();
            tx = x.transform_tx(tx).map_err(|f| MigrateError::TxXform {
                plugin: plugin.clone(),
                tx: Some(t),
                reason: match &f.key {
                    Some(key) if !f.reason.contains(key.as_str()) => {
                        format!("{} (at {key})", f.reason)
                    }
                    _ => f.reason.clone(),
                },
            })?;
            let reject = |datom, rule| rejected(plugin.clone(), t, datom, rule);
            if tx.tx != t {
                return Err(reject(None, TxRule::ChangedTx { from: t, to: tx.tx }));
            }
            if tx.instant != instant {
                let rule = TxRule::ChangedInstant {
                    from: instant,
                    to: tx.instant,
                };
                return Err(reject(None, rule));
            }
            for d in &tx.datoms {
                check_issued(t, next_entity, d)
                    .map_err(|rule| reject(Some(d.clone()), rule.into()))?;
            }
        }
        Ok(tx)
    }

    /// The error for what the writer refused of the chain's output: a rule
    /// broken is the transforms' (all of them: the rule concerns their
    /// combined output), or the source's when there is none.
    pub(super) fn writer_error(&self, e: ReplayError) -> MigrateError {
        match e {
            ReplayError::Violation(v) if self.xforms.is_empty() => {
                MigrateError::SourceNotReplayable {
                    tx: v.tx,
                    reason: v.to_string(),
                }
            }
            ReplayError::Violation(v) => {
                let v = *v;
                rejected(self.names().join(", "), v.tx, Some(v.datom), v.rule.into())
            }
            ReplayError::OutOfOrder { tx, reason } => {
                MigrateError::SourceNotReplayable { tx, reason }
            }
            ReplayError::Db(DbError::NodeConflict { key }) => MigrateError::ForeignNode { key },
            ReplayError::Db(e) => MigrateError::Destination(e),
        }
    }

    /// Ends the run: each transform's report and metrics.
    pub(super) fn finish(&mut self) -> Result<Vec<PluginSummary>, MigrateError> {
        self.xforms
            .iter_mut()
            .map(|x| {
                let report = x.finish().map_err(|f| MigrateError::TxXform {
                    plugin: x.name().to_string(),
                    tx: None,
                    reason: f.reason,
                })?;
                Ok(PluginSummary {
                    name: x.name().to_string(),
                    report,
                    metrics: x.metrics(),
                })
            })
            .collect()
    }
}

fn rejected(
    plugin: String,
    tx: u64,
    datom: Option<crate::model::NamedDatom>,
    rule: TxRule,
) -> MigrateError {
    MigrateError::TxRejected(Box::new(TxRejection {
        plugin,
        tx,
        datom,
        rule,
    }))
}
