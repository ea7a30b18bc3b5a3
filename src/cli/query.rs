//! Turning `db datoms` components (EDN literals on the command line) into
//! a [`DatomQuery`]: idents resolved to ids, values typed by their attribute.

use std::str::FromStr;

use anyhow::{Context, Result, anyhow, bail};
use bigdecimal::BigDecimal;
use num_bigint::BigInt;

use crate::db::input::edn_literal;
use crate::db::{Component, DatomQuery, InputValue, Snapshot};
use crate::model::{Attribute, EntityId, Index, Value, ValueType, builtin};

/// What a position of an index key holds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    Entity,
    Attribute,
    Value,
}

fn slots(index: Index) -> [Slot; 3] {
    use Slot::*;
    match index {
        Index::Eavt => [Entity, Attribute, Value],
        Index::Aevt => [Attribute, Entity, Value],
        Index::Avet => [Attribute, Value, Entity],
        Index::Vaet => [Value, Attribute, Entity],
    }
}

/// The components' names in `index`'s order, for messages (`e a v`).
pub(super) fn slot_names(index: Index) -> String {
    slots(index)
        .iter()
        .map(|s| match s {
            Slot::Entity => "e",
            Slot::Attribute => "a",
            Slot::Value => "v",
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Builds the query for `components` (leading, in `index`'s order).
pub(super) async fn build(
    snapshot: &Snapshot,
    index: Index,
    components: &[String],
    history: bool,
) -> Result<DatomQuery> {
    if components.len() > 3 {
        bail!(
            "index {} takes at most 3 components ({}), got {}",
            index.name(),
            slot_names(index),
            components.len()
        );
    }
    let mut attribute: Option<Attribute> = None;
    let mut start = Vec::new();
    for (n, (text, slot)) in components.iter().zip(slots(index)).enumerate() {
        let literal = edn_literal(text)
            .map_err(|e| anyhow!("component {} `{text}` is not an EDN literal: {e}", n + 1))?;
        let component = match slot {
            Slot::Entity => Component::Id(entity(snapshot, &literal, text).await?),
            Slot::Attribute => {
                let attr = lookup_attribute(snapshot, &literal, text)?;
                let id = attr.id;
                attribute = Some(attr);
                Component::Id(id)
            }
            Slot::Value => {
                let value_type = attribute.as_ref().map_or(ValueType::Ref, |a| a.value_type);
                Component::Value(value(snapshot, value_type, literal, text).await.with_context(
                    || match &attribute {
                        Some(a) => format!("component {} `{text}` is not a value of `{}`", n + 1, a.ident),
                        None => format!(
                            "component {} `{text}`: VAET holds references only; give an entity id or ident",
                            n + 1
                        ),
                    },
                )?)
            }
        };
        start.push(component);
    }
    Ok(DatomQuery {
        start,
        end: None,
        history,
    })
}

/// An entity: an id, or the keyword of its `:db/ident`.
async fn entity(snapshot: &Snapshot, literal: &InputValue, text: &str) -> Result<EntityId> {
    match literal {
        InputValue::Long(n) if *n >= 0 => Ok(n.unsigned_abs()),
        InputValue::Keyword(k) => resolve_ident(snapshot, k).await,
        _ => bail!(
            "`{text}` is not an entity: give an id (a non-negative integer) or an ident (a keyword)"
        ),
    }
}

/// The entity whose `:db/ident` is `ident`, as of the snapshot.
async fn resolve_ident(snapshot: &Snapshot, ident: &str) -> Result<EntityId> {
    if let Some(attr) = snapshot.schema().by_ident(ident) {
        return Ok(attr.id);
    }
    let query = DatomQuery {
        start: vec![
            Component::Id(builtin::IDENT),
            Component::Value(Value::Keyword(ident.to_string())),
        ],
        end: None,
        history: false,
    };
    let found = snapshot.datoms(Index::Avet, &query).await?;
    found.first().map(|d| d.e).ok_or_else(|| {
        anyhow!(
            "no entity has :db/ident {ident} (as of transaction {})",
            snapshot.tx()
        )
    })
}

/// An attribute: its ident or id, which the schema must define.
fn lookup_attribute(snapshot: &Snapshot, literal: &InputValue, text: &str) -> Result<Attribute> {
    let schema = snapshot.schema();
    let found = match literal {
        InputValue::Keyword(k) => schema.by_ident(k),
        InputValue::Long(n) if *n >= 0 => schema.by_id(n.unsigned_abs()),
        _ => bail!("`{text}` is not an attribute: give its ident (e.g. :person/name) or its id"),
    };
    found.cloned().ok_or_else(|| {
        anyhow!(
            "unknown attribute `{text}` as of transaction {} (list the attributes with `--index aevt :db/ident`)",
            snapshot.tx()
        )
    })
}

/// A value of `value_type`, converted from the literal as the writer would.
async fn value(
    snapshot: &Snapshot,
    value_type: ValueType,
    literal: InputValue,
    text: &str,
) -> Result<Value> {
    use InputValue as I;
    let value = match (value_type, literal) {
        (ValueType::Ref, I::Long(n)) if n >= 0 => Some(Value::Ref(n.unsigned_abs())),
        (ValueType::Ref, I::Keyword(k)) => Some(Value::Ref(resolve_ident(snapshot, &k).await?)),
        (ValueType::Long, I::Long(n)) => Some(Value::Long(n)),
        (ValueType::Double, I::Double(x)) => Some(Value::Double(x)),
        (ValueType::Double, I::Long(n)) => Some(Value::Double(n as f64)),
        (ValueType::Boolean, I::Boolean(b)) => Some(Value::Boolean(b)),
        (ValueType::String, I::String(s)) => Some(Value::String(s)),
        (ValueType::Keyword, I::Keyword(k)) => Some(Value::Keyword(k)),
        (ValueType::Instant, I::Instant(ms)) => Some(Value::Instant(ms)),
        (ValueType::Instant, I::String(s)) => chrono::DateTime::parse_from_rfc3339(&s)
            .ok()
            .map(|t| Value::Instant(t.timestamp_millis())),
        (ValueType::Uuid, I::Uuid(u)) => Some(Value::Uuid(u)),
        (ValueType::Uuid, I::String(s)) => uuid::Uuid::parse_str(&s).ok().map(Value::Uuid),
        (ValueType::Bytes, I::Bytes(b)) => Some(Value::Bytes(b)),
        (ValueType::BigInt, I::BigInt(n)) => Some(Value::BigInt(n)),
        (ValueType::BigInt, I::Long(n)) => Some(Value::BigInt(BigInt::from(n))),
        (ValueType::BigDec, I::BigDec(d)) => Some(Value::bigdec(d)),
        (ValueType::BigDec, I::Long(n)) => Some(Value::bigdec(BigDecimal::from(n))),
        (ValueType::BigDec, I::Double(x)) => {
            BigDecimal::from_str(&x.to_string()).ok().map(Value::bigdec)
        }
        _ => None,
    };
    value.ok_or_else(|| anyhow!("expected a {value_type} value, got `{text}`"))
}
