//! What the checker reports: a broken rule, in words, at a named key of a
//! named entry. The rule codes are those of `docs/format.md` ("Invariants a
//! reader relies on").

use std::fmt;

use serde::Serialize;

use crate::model::Datom;

/// The rules the checker enforces; see `docs/format.md` for each in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Rule {
    /// The entry is entry `k`: readable, `tx == k`, its instant asserted.
    E1,
    /// The novelty is stamped with `tx == k` and states each fact once.
    E2,
    /// The novelty names attributes of the schema, with values of their type.
    E3,
    /// Entity counters only grow and cover every entity the novelty uses.
    E4,
    /// A root is absent exactly when its index is empty, and is of its index.
    T1,
    /// The tree is the previous entry's tree plus this entry's novelty.
    T2,
    /// A node is stored under the digest of its bytes, and decodes.
    N1,
    /// A node in an index tree is an index node of that index.
    N2,
    /// A leaf is small, strictly sorted and holds only datoms of its index.
    N3,
    /// An inner node is well formed, balanced, and bounds its children.
    N4,
    /// Format 2: an entry names the index set of its basis, which covers
    /// every transaction up to it.
    R1,
    /// Format 2: a new run holds exactly its transactions' datoms, in
    /// valid trees.
    R2,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// One broken rule found while checking an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The entry being checked when the problem was found.
    pub entry: u64,
    /// The key of the node at fault (an index node, or the entry's key).
    pub key: String,
    /// What is wrong, in words a user understands.
    pub rule: String,
    /// Which rule it breaks, for programs and for `docs/format.md`.
    pub code: Rule,
}

impl fmt::Display for Problem {
    /// `entry N, node `key`: rule`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "entry {}, node `{}`: {}",
            self.entry, self.key, self.rule
        )
    }
}

/// A problem before it is tied to an entry: the key, the rule and its words.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Fault {
    /// The key at fault.
    pub key: String,
    /// The rule broken.
    pub code: Rule,
    /// What is wrong.
    pub text: String,
}

impl Fault {
    /// A fault of `code` at `key`.
    pub fn new(code: Rule, key: impl Into<String>, text: impl Into<String>) -> Fault {
        Fault {
            key: key.into(),
            code,
            text: text.into(),
        }
    }

    /// The fault as a problem of entry `entry`.
    pub fn at(self, entry: u64) -> Problem {
        Problem {
            entry,
            key: self.key,
            rule: self.text,
            code: self.code,
        }
    }
}

/// A datom as messages show it: `[e a v tx added]`, the value as
/// transaction input writes it.
pub(super) fn show(d: &Datom) -> String {
    format!("[{} {} {} {} {}]", d.e, d.a, d.v, d.tx, d.added)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Value;

    #[test]
    fn problems_read_as_entry_node_rule() {
        let d = Datom {
            e: 5,
            a: 64,
            v: Value::String("x".into()),
            tx: 3,
            added: true,
        };
        let p = Fault::new(Rule::T2, "k", format!("datom {} is lost", show(&d))).at(3);
        assert_eq!(
            p.to_string(),
            "entry 3, node `k`: datom [5 64 \"x\" 3 true] is lost"
        );
        assert_eq!(p.code.to_string(), "T2");
    }
}
