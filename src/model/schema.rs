//! Schema attributes: what `:db/ident`, `:db/valueType`, `:db/cardinality`
//! and `:db/unique` say about an attribute entity.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::datom::{Datom, EntityId};
use super::value::{Value, ValueType};

/// How many values an entity may hold for an attribute at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cardinality {
    /// A new assertion replaces the current value.
    One,
    /// Values accumulate.
    Many,
}

impl Cardinality {
    /// The schema keyword for this cardinality.
    pub fn keyword(self) -> &'static str {
        match self {
            Cardinality::One => ":db.cardinality/one",
            Cardinality::Many => ":db.cardinality/many",
        }
    }

    /// The cardinality a schema keyword names.
    pub fn from_keyword(k: &str) -> Option<Cardinality> {
        [Cardinality::One, Cardinality::Many]
            .into_iter()
            .find(|c| c.keyword() == k)
    }
}

/// Uniqueness of an attribute's values across entities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Unique {
    /// At most one entity holds a value; a temp id asserting it resolves to that entity (upsert).
    Identity,
    /// At most one entity holds a value; asserting it elsewhere is an error.
    Value,
}

impl Unique {
    /// The schema keyword for this uniqueness.
    pub fn keyword(self) -> &'static str {
        match self {
            Unique::Identity => ":db.unique/identity",
            Unique::Value => ":db.unique/value",
        }
    }

    /// The uniqueness a schema keyword names.
    pub fn from_keyword(k: &str) -> Option<Unique> {
        [Unique::Identity, Unique::Value]
            .into_iter()
            .find(|u| u.keyword() == k)
    }
}

/// One attribute as the schema defines it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribute {
    /// The attribute's entity id.
    pub id: EntityId,
    /// Its name, e.g. `:person/email`.
    pub ident: String,
    /// The type of its values.
    pub value_type: ValueType,
    /// One or many values per entity.
    pub cardinality: Cardinality,
    /// Uniqueness, if any.
    pub unique: Option<Unique>,
}

/// The attributes every database has from transaction 0 on.
pub mod builtin {
    use super::*;

    /// `:db/ident`: an entity's unique name.
    pub const IDENT: EntityId = 1;
    /// `:db/valueType`.
    pub const VALUE_TYPE: EntityId = 2;
    /// `:db/cardinality`.
    pub const CARDINALITY: EntityId = 3;
    /// `:db/unique`.
    pub const UNIQUE: EntityId = 4;
    /// `:db/doc`: documentation text.
    pub const DOC: EntityId = 5;
    /// `:db/txInstant`: when a transaction happened.
    pub const TX_INSTANT: EntityId = 6;
    /// The first id the `Db` partition hands to user-defined attributes.
    pub const FIRST_USER_ATTRIBUTE: u64 = 64;

    /// The built-in attributes.
    pub fn attributes() -> Vec<Attribute> {
        let attr = |id, ident: &str, value_type, unique| Attribute {
            id,
            ident: ident.to_string(),
            value_type,
            cardinality: Cardinality::One,
            unique,
        };
        vec![
            attr(
                IDENT,
                ":db/ident",
                ValueType::Keyword,
                Some(Unique::Identity),
            ),
            attr(VALUE_TYPE, ":db/valueType", ValueType::Keyword, None),
            attr(CARDINALITY, ":db/cardinality", ValueType::Keyword, None),
            attr(UNIQUE, ":db/unique", ValueType::Keyword, None),
            attr(DOC, ":db/doc", ValueType::String, None),
            attr(TX_INSTANT, ":db/txInstant", ValueType::Instant, None),
        ]
    }

    /// The datoms transaction 0 asserts to define the built-ins.
    pub fn bootstrap_datoms() -> Vec<Datom> {
        attributes()
            .into_iter()
            .flat_map(|a| {
                let mut datoms = vec![
                    (IDENT, Value::Keyword(a.ident.clone())),
                    (VALUE_TYPE, Value::Keyword(a.value_type.keyword().into())),
                    (CARDINALITY, Value::Keyword(a.cardinality.keyword().into())),
                ];
                if let Some(u) = a.unique {
                    datoms.push((UNIQUE, Value::Keyword(u.keyword().into())));
                }
                datoms.into_iter().map(move |(attr, v)| Datom {
                    e: a.id,
                    a: attr,
                    v,
                    tx: 0,
                    added: true,
                })
            })
            .collect()
    }
}

/// The attributes of a database at one point in time, by id and by ident.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    by_id: BTreeMap<EntityId, Attribute>,
    by_ident: BTreeMap<String, EntityId>,
}

impl Schema {
    /// Builds the schema from the current (not retracted) datoms of the
    /// schema attributes, as found in the database. Entities lacking an
    /// ident or a value type are not attributes and are left out.
    pub fn from_current_datoms<'a>(datoms: impl IntoIterator<Item = &'a Datom>) -> Schema {
        #[derive(Default)]
        struct Partial {
            ident: Option<String>,
            value_type: Option<ValueType>,
            cardinality: Option<Cardinality>,
            unique: Option<Unique>,
        }
        let mut partial: BTreeMap<EntityId, Partial> = BTreeMap::new();
        for d in datoms.into_iter().filter(|d| d.added) {
            let Some(k) = d.v.as_keyword() else { continue };
            let p = partial.entry(d.e).or_default();
            match d.a {
                builtin::IDENT => p.ident = Some(k.to_string()),
                builtin::VALUE_TYPE => p.value_type = ValueType::from_keyword(k),
                builtin::CARDINALITY => p.cardinality = Cardinality::from_keyword(k),
                builtin::UNIQUE => p.unique = Unique::from_keyword(k),
                _ => {}
            }
        }
        let mut schema = Schema::default();
        for (id, p) in partial {
            if let (Some(ident), Some(value_type)) = (p.ident, p.value_type) {
                schema.insert(Attribute {
                    id,
                    ident,
                    value_type,
                    cardinality: p.cardinality.unwrap_or(Cardinality::One),
                    unique: p.unique,
                });
            }
        }
        schema
    }

    /// Adds or replaces an attribute.
    pub fn insert(&mut self, attribute: Attribute) {
        if let Some(old) = self.by_id.get(&attribute.id) {
            self.by_ident.remove(&old.ident);
        }
        self.by_ident.insert(attribute.ident.clone(), attribute.id);
        self.by_id.insert(attribute.id, attribute);
    }

    /// The attribute with this entity id.
    pub fn by_id(&self, id: EntityId) -> Option<&Attribute> {
        self.by_id.get(&id)
    }

    /// The attribute with this ident (with its leading colon).
    pub fn by_ident(&self, ident: &str) -> Option<&Attribute> {
        self.by_ident.get(ident).and_then(|id| self.by_id.get(id))
    }

    /// All attributes, by id.
    pub fn attributes(&self) -> impl Iterator<Item = &Attribute> {
        self.by_id.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_datoms_define_the_builtins() {
        let schema = Schema::from_current_datoms(&builtin::bootstrap_datoms());
        assert_eq!(schema.attributes().count(), builtin::attributes().len());
        let ident = schema.by_ident(":db/ident").unwrap();
        assert_eq!(ident.unique, Some(Unique::Identity));
        assert_eq!(
            schema.by_id(builtin::TX_INSTANT).unwrap().value_type,
            ValueType::Instant
        );
    }
}
