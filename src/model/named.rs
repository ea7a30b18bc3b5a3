//! Datoms as a transaction states them: the attribute named by its ident.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::datom::EntityId;
use super::value::Value;

/// A datom whose attribute is named by its `:db/ident` (e.g.
/// `":person/email"`) rather than by id, and whose transaction is implied by
/// the transaction carrying it. This is how rebuild-mode transforms see and
/// return datoms, so they can work with names; the writer resolves the
/// ident against the schema as of the transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedDatom {
    /// The entity.
    pub e: EntityId,
    /// The attribute's ident, leading colon included.
    pub a: String,
    /// The value (a reference is `Value::Ref` of an entity id).
    pub v: Value,
    /// Assertion (`true`) or retraction (`false`).
    pub added: bool,
}

impl fmt::Display for NamedDatom {
    /// `[:db/add 4398046511105 :person/email "a@b.c"]`, as in transaction input.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = if self.added { ":db/add" } else { ":db/retract" };
        write!(f, "[{op} {} {} {}]", self.e, self.a, self.v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_as_transaction_input() {
        let d = NamedDatom {
            e: 7,
            a: ":p/name".into(),
            v: Value::String("x".into()),
            added: false,
        };
        assert_eq!(d.to_string(), "[:db/retract 7 :p/name \"x\"]");
    }
}
