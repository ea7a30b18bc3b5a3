//! Reading datoms from an index as of a transaction.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::model::{Datom, EntityId, Index, Schema, TxLogEntry, Value, builtin};

use super::lagging::Lagging;
use super::tree::{DatomRange, Tree};
use super::{Database, DbError};

/// One leading component of an index key, in that index's order: an entity
/// or attribute id, or a value (for VAET's leading value, use `Value::Ref`).
#[derive(Debug, Clone, PartialEq)]
pub enum Component {
    /// An entity or attribute id.
    Id(EntityId),
    /// A value.
    Value(Value),
}

/// Which datoms of an index to read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DatomQuery {
    /// Leading components in the index's order. Without `end`, the datoms
    /// whose leading components equal these (a prefix; empty: all).
    pub start: Vec<Component>,
    /// With `end`: the datoms whose leading components are `>= start` and
    /// `< end`, each compared over its own number of components.
    pub end: Option<Vec<Component>>,
    /// `false`: the current datoms (asserted and not retracted as of the
    /// snapshot). `true`: every assertion and retraction up to it.
    pub history: bool,
}

/// The database as of one transaction: that entry's index (format 1: its
/// roots; format 2: its index set and the novelty after it) and schema.
pub struct Snapshot {
    pub(crate) db: Database,
    pub(crate) entry: TxLogEntry,
    pub(crate) schema: Schema,
    pub(crate) lagging: Option<Arc<Lagging>>,
}

impl Database {
    /// The database as of its latest transaction.
    pub async fn snapshot(&self) -> Result<Snapshot, DbError> {
        let count = self.head().await?.count;
        let last = count
            .checked_sub(1)
            .ok_or(DbError::NoSuchTransaction { tx: 0, count })?;
        self.snapshot_of(self.entry(last).await?).await
    }

    /// The database exactly as transaction `tx` left it;
    /// [`DbError::NoSuchTransaction`] when the log has no entry `tx`.
    pub async fn as_of(&self, tx: u64) -> Result<Snapshot, DbError> {
        let count = self.head().await?.count;
        if tx >= count {
            return Err(DbError::NoSuchTransaction { tx, count });
        }
        self.snapshot_of(self.entry(tx).await?).await
    }

    /// A snapshot reading `entry`'s index, with the schema loaded from it.
    pub(crate) async fn snapshot_of(&self, entry: TxLogEntry) -> Result<Snapshot, DbError> {
        let mut snapshot = self.bare_snapshot(entry).await?;
        snapshot.schema = Schema::from_current_datoms(&snapshot.schema_datoms().await?);
        Ok(snapshot)
    }

    /// A snapshot reading `entry`'s index, with an empty schema (for
    /// callers that load the schema their own way).
    pub(crate) async fn bare_snapshot(&self, entry: TxLogEntry) -> Result<Snapshot, DbError> {
        let lagging = match &entry.lag {
            Some(lag) => Some(Arc::new(Lagging::load(self, &entry, lag).await?)),
            None => None,
        };
        Ok(Snapshot {
            db: self.clone(),
            entry,
            schema: Schema::default(),
            lagging,
        })
    }
}

impl Snapshot {
    /// The transaction number this snapshot is as of.
    pub fn tx(&self) -> u64 {
        self.entry.tx
    }

    /// The tx-log entry this snapshot reads from.
    pub fn entry(&self) -> &TxLogEntry {
        &self.entry
    }

    /// The schema as of this snapshot.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The datoms of `index` that `query` selects, in the index's order.
    pub async fn datoms(&self, index: Index, query: &DatomQuery) -> Result<Vec<Datom>, DbError> {
        let bounds = Bounds {
            index,
            start: &query.start,
            end: query.end.as_deref(),
            widen: false,
        };
        if query.history {
            return self.read(index, &bounds).await;
        }
        // Read whole (e, a, v) groups so a bound on tx cannot hide a later
        // retraction, then keep the in-range datoms that are current.
        let wide = Bounds {
            widen: true,
            ..bounds
        };
        let all = self.read(index, &wide).await?;
        Ok(current(all)
            .into_iter()
            .filter(|d| !bounds.below(d) && !bounds.past(d))
            .collect())
    }

    /// The entity whose current `:db/ident` is `ident` (leading colon included).
    pub async fn entity_by_ident(&self, ident: &str) -> Result<Option<EntityId>, DbError> {
        let holders = self
            .holders(builtin::IDENT, &Value::Keyword(ident.to_string()))
            .await?;
        Ok(holders.first().copied())
    }

    /// The current values of attribute `a` of entity `e`.
    pub async fn current_values(&self, e: EntityId, a: EntityId) -> Result<Vec<Value>, DbError> {
        let query = DatomQuery {
            start: vec![Component::Id(e), Component::Id(a)],
            ..DatomQuery::default()
        };
        let datoms = self.datoms(Index::Eavt, &query).await?;
        Ok(datoms.into_iter().map(|d| d.v).collect())
    }

    /// The entities currently holding value `v` for attribute `a`.
    pub async fn holders(&self, a: EntityId, v: &Value) -> Result<Vec<EntityId>, DbError> {
        let query = DatomQuery {
            start: vec![Component::Id(a), Component::Value(v.clone())],
            ..DatomQuery::default()
        };
        let datoms = self.datoms(Index::Avet, &query).await?;
        Ok(datoms.into_iter().map(|d| d.e).collect())
    }

    /// The current datoms of the schema attributes (ident, value type,
    /// cardinality, unique), from which [`Schema`] is built.
    pub(crate) async fn schema_datoms(&self) -> Result<Vec<Datom>, DbError> {
        let query = DatomQuery {
            start: vec![Component::Id(builtin::IDENT)],
            end: Some(vec![Component::Id(builtin::UNIQUE + 1)]),
            history: false,
        };
        self.datoms(Index::Aevt, &query).await
    }

    async fn read(&self, index: Index, range: &Bounds<'_>) -> Result<Vec<Datom>, DbError> {
        if let Some(lagging) = &self.lagging {
            return lagging.read(&self.db, index, range).await;
        }
        Tree::new(self.db.store().as_ref(), self.db.id(), index)
            .cached(self.db.cache())
            .read(self.entry.roots.get(index), range)
            .await
    }
}

/// Of datoms sorted in an index order, the assertions not retracted later:
/// each (e, a, v) group's last datom when it is an assertion.
fn current(datoms: Vec<Datom>) -> Vec<Datom> {
    let mut out: Vec<Datom> = Vec::new();
    let mut last: Option<Datom> = None;
    for d in datoms {
        if let Some(prev) = last.take()
            && !(prev.e == d.e && prev.a == d.a && prev.v == d.v)
            && prev.added
        {
            out.push(prev);
        }
        last = Some(d);
    }
    out.extend(last.filter(|d| d.added));
    out
}

/// A [`DatomQuery`]'s bounds in one index. `widen` extends a bound on the
/// fourth component (tx) to whole (e, a, v) groups.
#[derive(Clone, Copy)]
struct Bounds<'q> {
    index: Index,
    start: &'q [Component],
    end: Option<&'q [Component]>,
    widen: bool,
}

impl Bounds<'_> {
    fn cut<'c>(&self, components: &'c [Component]) -> &'c [Component] {
        if self.widen {
            &components[..components.len().min(3)]
        } else {
            components
        }
    }
}

impl DatomRange for Bounds<'_> {
    fn below(&self, d: &Datom) -> bool {
        compare(self.index, d, self.cut(self.start)) == Ordering::Less
    }

    fn past(&self, d: &Datom) -> bool {
        let (bound, whole_groups) = match self.end {
            None => (self.start, true),
            Some(end) => (end, self.widen && end.len() > 3),
        };
        let ord = compare(self.index, d, self.cut(bound));
        if whole_groups {
            ord == Ordering::Greater
        } else {
            ord != Ordering::Less
        }
    }
}

/// Compares a datom's leading components (in `index` order) with `bound`,
/// over `bound`'s length.
fn compare(index: Index, d: &Datom, bound: &[Component]) -> Ordering {
    #[derive(Clone, Copy)]
    enum Pos {
        E,
        A,
        V,
        T,
    }
    let order = match index {
        Index::Eavt => [Pos::E, Pos::A, Pos::V, Pos::T],
        Index::Aevt => [Pos::A, Pos::E, Pos::V, Pos::T],
        Index::Avet => [Pos::A, Pos::V, Pos::E, Pos::T],
        Index::Vaet => [Pos::V, Pos::A, Pos::E, Pos::T],
    };
    order
        .iter()
        .zip(bound)
        .map(|(pos, c)| match pos {
            Pos::E => compare_id(d.e, c),
            Pos::A => compare_id(d.a, c),
            Pos::T => compare_id(d.tx, c),
            Pos::V => match c {
                Component::Id(id) => d.v.cmp(&Value::Ref(*id)),
                Component::Value(v) => d.v.cmp(v),
            },
        })
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// Compares an id component with a bound: a ref or non-negative long value
/// counts as an id; any other value compares as values do.
fn compare_id(id: u64, c: &Component) -> Ordering {
    match c {
        Component::Id(x) | Component::Value(Value::Ref(x)) => id.cmp(x),
        Component::Value(Value::Long(x)) if *x >= 0 => id.cmp(&x.unsigned_abs()),
        Component::Value(v) => Value::Ref(id).cmp(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(e: u64, v: i64, tx: u64, added: bool) -> Datom {
        Datom {
            e,
            a: 1,
            v: Value::Long(v),
            tx,
            added,
        }
    }

    #[test]
    fn current_keeps_groups_ending_in_an_assertion() {
        let datoms = vec![
            d(1, 1, 0, true),
            d(1, 1, 2, false),
            d(1, 2, 1, true),
            d(2, 1, 0, true),
            d(2, 1, 1, false),
            d(2, 1, 3, true),
        ];
        assert_eq!(current(datoms), vec![d(1, 2, 1, true), d(2, 1, 3, true)]);
    }

    #[test]
    fn prefix_and_range_bounds_compare_over_their_own_length() {
        let x = d(5, 7, 3, true);
        let prefix = [Component::Id(5)];
        let b = Bounds {
            index: Index::Eavt,
            start: &prefix,
            end: None,
            widen: false,
        };
        assert!(!b.below(&x) && !b.past(&x));
        let start = [Component::Id(1)];
        let end = [
            Component::Id(5),
            Component::Id(1),
            Component::Value(Value::Long(7)),
        ];
        let r = Bounds {
            index: Index::Eavt,
            start: &start,
            end: Some(&end),
            widen: false,
        };
        assert!(r.past(&x));
        let end4 = [
            Component::Id(5),
            Component::Id(1),
            Component::Value(Value::Long(7)),
            Component::Id(3),
        ];
        let w = Bounds {
            end: Some(&end4),
            widen: true,
            ..r
        };
        assert!(!w.past(&x));
    }
}
