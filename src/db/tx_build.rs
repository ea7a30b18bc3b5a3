//! Turning a transaction's ops into datoms against a snapshot: temp ids and
//! idents resolved, values coerced, cardinality-one replacement, no-ops
//! dropped, uniqueness checked.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::model::{
    Attribute, Cardinality, Datom, EntityId, Partition, Schema, Unique, Value, ValueType, builtin,
    entity_id, partition_of, tx_entity,
};

use super::coerce::{Coerced, coerce};
use super::novelty::{Before, Novelty};
use super::{DbError, EntityRef, InputValue, Snapshot, TxOp};

/// The schema attributes whose ops run before all others, so attributes
/// defined in a transaction can be used in it.
const SCHEMA_IDENTS: [&str; 4] = [
    ":db/ident",
    ":db/valueType",
    ":db/cardinality",
    ":db/unique",
];

/// What a transaction will write, before the trees are touched.
pub(crate) struct Built {
    /// The datoms, sorted by (e, a, v), the tx instant included.
    pub datoms: Vec<Datom>,
    /// What each temp id resolved to.
    pub tempids: BTreeMap<String, EntityId>,
    /// The entity counters after this transaction.
    pub next_entity: [u64; 3],
}

/// Builds one transaction `t` on top of `snapshot` (the entry `t - 1`).
pub(crate) struct TxBuilder<'s> {
    snap: &'s Snapshot,
    t: u64,
    next_entity: [u64; 3],
    tempids: BTreeMap<String, EntityId>,
    /// Entities allocated by this transaction: they have no stored datoms.
    fresh: HashSet<EntityId>,
    /// The datoms so far (the engine the replayer shares).
    novelty: Novelty<'s>,
}

impl<'s> TxBuilder<'s> {
    /// A builder for transaction `t` on `snapshot`.
    pub(crate) fn new(snap: &'s Snapshot, t: u64) -> Self {
        TxBuilder {
            snap,
            t,
            next_entity: snap.entry.next_entity,
            tempids: BTreeMap::new(),
            fresh: HashSet::new(),
            novelty: Novelty::new(snap),
        }
    }

    /// Resolves and checks `ops`; adds `:db/txInstant instant`.
    pub(crate) async fn build(mut self, ops: Vec<TxOp>, instant: i64) -> Result<Built, DbError> {
        self.assign_tempids(&ops).await?;
        let (schema_ops, data_ops): (Vec<TxOp>, Vec<TxOp>) = ops
            .into_iter()
            .partition(|op| SCHEMA_IDENTS.contains(&op_parts(op).1));
        let old_schema = self.snap.schema.clone();
        for op in &schema_ops {
            self.apply(op, &old_schema).await?;
        }
        let schema = if schema_ops.is_empty() {
            old_schema
        } else {
            self.new_schema().await?
        };
        for op in &data_ops {
            self.apply(op, &schema).await?;
        }
        self.check_unique(&schema).await?;
        let tx = tx_entity(self.t);
        self.novelty
            .emit(tx, builtin::TX_INSTANT, Value::Instant(instant), true);
        self.next_entity[Partition::Tx as usize] = self.t + 1;
        Ok(Built {
            datoms: self.novelty.into_datoms(self.t),
            tempids: self.tempids,
            next_entity: self.next_entity,
        })
    }

    /// Gives every temp id used as an entity an id: the existing holder of
    /// a `:db.unique/identity` value it asserts, else a new entity (in the
    /// Db partition when it asserts `:db/valueType`).
    async fn assign_tempids(&mut self, ops: &[TxOp]) -> Result<(), DbError> {
        let mut order: Vec<&str> = Vec::new();
        let mut seen: HashSet<&str> = HashSet::new();
        let mut defines_attribute: HashSet<&str> = HashSet::new();
        let mut upserts: HashMap<&str, Vec<(EntityId, Value)>> = HashMap::new();
        for op in ops {
            let (EntityRef::Temp(s), a, v) = op_parts(op) else {
                continue;
            };
            if seen.insert(s) {
                order.push(s);
            }
            if !matches!(op, TxOp::Add { .. }) {
                continue;
            }
            if a == ":db/valueType" {
                defines_attribute.insert(s);
            }
            let identity = self.snap.schema.by_ident(a);
            if let Some(attr) = identity.filter(|at| at.unique == Some(Unique::Identity))
                && let Coerced::Value(value) = coerce(attr, v)?
            {
                upserts.entry(s).or_default().push((attr.id, value));
            }
        }
        for temp in order {
            let mut found: Option<EntityId> = None;
            for (a, value) in upserts.remove(temp).unwrap_or_default() {
                if let Some(&holder) = self.snap.holders(a, &value).await?.first() {
                    if found.is_some_and(|f| f != holder) {
                        return Err(DbError::InvalidTransaction(format!(
                            "temp id `{temp}` upserts to two entities through its unique identity values"
                        )));
                    }
                    found = Some(holder);
                }
            }
            let id = match found {
                Some(id) => id,
                None => {
                    let partition = if defines_attribute.contains(temp) {
                        Partition::Db
                    } else {
                        Partition::User
                    };
                    let counter = &mut self.next_entity[partition as usize];
                    let id = entity_id(partition, *counter);
                    *counter += 1;
                    self.fresh.insert(id);
                    id
                }
            };
            self.tempids.insert(temp.to_string(), id);
        }
        Ok(())
    }

    /// The schema after this transaction's schema datoms.
    async fn new_schema(&self) -> Result<Schema, DbError> {
        let mut datoms = self.snap.schema_datoms().await?;
        let schema_attribute = |a: &EntityId| (builtin::IDENT..=builtin::UNIQUE).contains(a);
        let touched: HashSet<(EntityId, EntityId)> = self
            .novelty
            .touched()
            .map(|(pair, _)| *pair)
            .filter(|(_, a)| schema_attribute(a))
            .collect();
        datoms.retain(|d| !touched.contains(&(d.e, d.a)));
        for ((e, a), values) in self.novelty.touched() {
            if schema_attribute(a) {
                datoms.extend(values.iter().map(|v| Datom {
                    e: *e,
                    a: *a,
                    v: v.clone(),
                    tx: self.t,
                    added: true,
                }));
            }
        }
        Ok(Schema::from_current_datoms(&datoms))
    }

    async fn apply(&mut self, op: &TxOp, schema: &Schema) -> Result<(), DbError> {
        let (e, a, v) = op_parts(op);
        let attr = schema
            .by_ident(a)
            .ok_or_else(|| DbError::UnknownAttribute {
                ident: a.to_string(),
            })?;
        let e = self.entity(e).await?;
        let v = self.value(attr, v).await?;
        check_schema_value(attr, &v)?;
        let before = if self.fresh.contains(&e) {
            Before::Nothing
        } else {
            Before::Stored
        };
        match op {
            TxOp::Add { .. } => {
                let one = attr.cardinality == Cardinality::One;
                self.novelty.assert(e, attr.id, v, one, || before).await
            }
            TxOp::Retract { .. } => self.novelty.retract(e, attr.id, v, || before).await,
        }
    }

    /// Fails when a unique attribute's value ends up held by two entities.
    async fn check_unique(&self, schema: &Schema) -> Result<(), DbError> {
        for (a, v, e) in self.novelty.assertions_by_value() {
            let Some(attr) = schema.by_id(*a).filter(|at| at.unique.is_some()) else {
                continue;
            };
            if let Some(holder) = self.novelty.other_holder(*a, v, *e).await? {
                return Err(DbError::UniqueConflict {
                    attribute: attr.ident.clone(),
                    value: v.to_string(),
                    holder,
                });
            }
        }
        Ok(())
    }

    /// Resolves an entity reference.
    async fn entity(&self, e: &EntityRef) -> Result<EntityId, DbError> {
        match e {
            EntityRef::Id(id) => self.known(*id),
            EntityRef::Temp(s) => self.tempids.get(s).copied().ok_or_else(|| {
                DbError::InvalidTransaction(format!("temp id `{s}` was not assigned"))
            }),
            EntityRef::Ident(k) => self.ident(k).await,
        }
    }

    /// Converts a value, resolving references.
    async fn value(&self, attr: &Attribute, input: &InputValue) -> Result<Value, DbError> {
        Ok(match coerce(attr, input)? {
            Coerced::Value(v) => v,
            Coerced::IdRef(id) => Value::Ref(self.known(id)?),
            Coerced::IdentRef(k) => Value::Ref(self.ident(&k).await?),
            Coerced::TempRef(s) => Value::Ref(self.tempids.get(&s).copied().ok_or_else(|| {
                DbError::InvalidTransaction(format!(
                    "temp id `{s}` is only used as a value of `{}`; assert something about it too",
                    attr.ident
                ))
            })?),
        })
    }

    /// The entity with this ident, as of this transaction so far.
    async fn ident(&self, k: &str) -> Result<EntityId, DbError> {
        let found = match self.novelty.ident(k) {
            Some(found) => found,
            None => self.snap.entity_by_ident(k).await?,
        };
        found.ok_or_else(|| DbError::UnknownEntity {
            reference: k.to_string(),
        })
    }

    /// `id` if its partition has handed it out.
    fn known(&self, id: EntityId) -> Result<EntityId, DbError> {
        let issued = partition_of(id).is_some_and(|p| {
            let counter = id - entity_id(p, 0);
            match p {
                Partition::Tx => counter <= self.t,
                _ => counter < self.next_entity[p as usize],
            }
        });
        if issued {
            Ok(id)
        } else {
            Err(DbError::UnknownEntity {
                reference: id.to_string(),
            })
        }
    }
}

/// The entity, attribute ident and value of an op.
fn op_parts(op: &TxOp) -> (&EntityRef, &str, &InputValue) {
    match op {
        TxOp::Add { e, a, v } | TxOp::Retract { e, a, v } => (e, a, v),
    }
}

/// Whether `v` is a value the schema attribute `a` understands (a known
/// value type, cardinality or uniqueness keyword); true for other attributes.
pub(crate) fn schema_value_ok(a: EntityId, v: &Value) -> bool {
    let k = v.as_keyword().unwrap_or_default();
    match a {
        builtin::VALUE_TYPE => ValueType::from_keyword(k).is_some(),
        builtin::CARDINALITY => Cardinality::from_keyword(k).is_some(),
        builtin::UNIQUE => Unique::from_keyword(k).is_some(),
        _ => true,
    }
}

/// The schema attributes take only keywords they understand.
fn check_schema_value(attr: &Attribute, v: &Value) -> Result<(), DbError> {
    let k = v.as_keyword().unwrap_or_default();
    if schema_value_ok(attr.id, v) {
        Ok(())
    } else {
        Err(DbError::InvalidTransaction(format!(
            "`{k}` is not a valid value of `{}`",
            attr.ident
        )))
    }
}
