//! From a read document to transaction statements: the shapes EDN and
//! JSON transactions take, checked with positions.

use super::{Form, FormKind, InputError, Pos};
use crate::db::{EntityRef, InputValue, TxOp};

/// Which spelling of the statements a document uses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    /// `[:db/add e :attr v]`, `{:db/id e, :attr v}`.
    Edn,
    /// `["add", e, ":attr", v]`, `{"db/id": e, "attr": v}`.
    Json,
}

/// The statements of an EDN transaction.
pub(super) fn from_edn(doc: &Form) -> Result<Vec<TxOp>, InputError> {
    statements(doc, Dialect::Edn)
}

/// The statements of a JSON transaction.
pub(super) fn from_json(doc: &Form) -> Result<Vec<TxOp>, InputError> {
    statements(doc, Dialect::Json)
}

fn invalid(pos: Pos, problem: impl Into<String>) -> InputError {
    InputError::Statement {
        pos,
        problem: problem.into(),
    }
}

fn statements(doc: &Form, dialect: Dialect) -> Result<Vec<TxOp>, InputError> {
    let FormKind::Vector(items) = &doc.kind else {
        let shape = match dialect {
            Dialect::Edn => "a vector of statements, e.g. [[:db/add \"x\" :person/name \"Ann\"]]",
            Dialect::Json => {
                "an array of statements, e.g. [[\"add\", \"x\", \":person/name\", \"Ann\"]]"
            }
        };
        return Err(invalid(
            doc.pos,
            format!("expected {shape}, found {}", doc.kind.describe()),
        ));
    };
    let mut ops = Vec::new();
    for item in items {
        match &item.kind {
            FormKind::Vector(parts) => ops.push(list_statement(item.pos, parts, dialect)?),
            FormKind::Map(pairs) => map_statement(item.pos, pairs, dialect, &mut ops)?,
            other => {
                return Err(invalid(
                    item.pos,
                    format!(
                        "expected a statement ({} or a map), found {}",
                        match dialect {
                            Dialect::Edn => "[:db/add e a v], [:db/retract e a v]",
                            Dialect::Json => "[\"add\", e, a, v], [\"retract\", e, a, v]",
                        },
                        other.describe()
                    ),
                ));
            }
        }
    }
    Ok(ops)
}

/// `[op e a v]`.
fn list_statement(pos: Pos, parts: &[Form], dialect: Dialect) -> Result<TxOp, InputError> {
    let Some(op) = parts.first() else {
        return Err(invalid(
            pos,
            "empty statement: expected [op entity attribute value]",
        ));
    };
    let adds = operation(op, dialect)?;
    let [_, e, a, v] = parts else {
        return Err(invalid(
            pos,
            format!(
                "this statement has {} parts; expected 4: the operation, an entity, an attribute and a value",
                parts.len()
            ),
        ));
    };
    let (e, a, v) = (entity(e, dialect)?, attribute(a, dialect)?, scalar(v)?);
    Ok(if adds {
        TxOp::Add { e, a, v }
    } else {
        TxOp::Retract { e, a, v }
    })
}

/// True for an add, false for a retract.
fn operation(op: &Form, dialect: Dialect) -> Result<bool, InputError> {
    let name = match (&op.kind, dialect) {
        (FormKind::Keyword(k), Dialect::Edn) => k.as_str(),
        (FormKind::String(s), Dialect::Json) => s.as_str(),
        _ => "",
    };
    match (dialect, name) {
        (Dialect::Edn, ":db/add") | (Dialect::Json, "add" | "db/add" | ":db/add") => Ok(true),
        (Dialect::Edn, ":db/retract")
        | (Dialect::Json, "retract" | "db/retract" | ":db/retract") => Ok(false),
        _ => Err(invalid(
            op.pos,
            format!(
                "unknown operation {}; expected {}",
                op.kind.describe(),
                match dialect {
                    Dialect::Edn => ":db/add or :db/retract",
                    Dialect::Json => "\"add\" or \"retract\"",
                }
            ),
        )),
    }
}

/// `{:db/id e, :attr v, :many [v1 v2]}`: one add per value.
fn map_statement(
    pos: Pos,
    pairs: &[(Form, Form)],
    dialect: Dialect,
    ops: &mut Vec<TxOp>,
) -> Result<(), InputError> {
    let mut id = None;
    let mut attrs = Vec::new();
    for (key, value) in pairs {
        let name = attribute(key, dialect)?;
        if name == ":db/id" {
            if id.is_some() {
                return Err(invalid(key.pos, "this map has :db/id twice"));
            }
            id = Some(entity(value, dialect)?);
        } else {
            attrs.push((name, value));
        }
    }
    if attrs.is_empty() {
        return Err(invalid(
            pos,
            "this map has no attributes: add at least one attribute and its value",
        ));
    }
    let e = id.unwrap_or_else(|| EntityRef::Temp(format!("map@{pos}")));
    for (a, value) in attrs {
        match &value.kind {
            FormKind::Vector(values) => {
                for v in values {
                    ops.push(TxOp::Add {
                        e: e.clone(),
                        a: a.clone(),
                        v: scalar(v)?,
                    });
                }
            }
            _ => ops.push(TxOp::Add {
                e: e.clone(),
                a,
                v: scalar(value)?,
            }),
        }
    }
    Ok(())
}

/// An entity position: an id, a temp id, or an ident.
fn entity(form: &Form, dialect: Dialect) -> Result<EntityRef, InputError> {
    match (&form.kind, dialect) {
        (FormKind::Long(n), _) if *n >= 0 => Ok(EntityRef::Id(n.unsigned_abs())),
        (FormKind::Keyword(k), Dialect::Edn) => Ok(EntityRef::Ident(k.clone())),
        (FormKind::String(s), Dialect::Json) if s.starts_with(':') && s.len() > 1 => {
            Ok(EntityRef::Ident(s.clone()))
        }
        (FormKind::String(s), _) if !s.is_empty() => Ok(EntityRef::Temp(s.clone())),
        (other, _) => Err(invalid(
            form.pos,
            format!(
                "expected an entity: an id (a non-negative integer), a temp id (a string) or an ident ({}), found {}",
                match dialect {
                    Dialect::Edn => "a keyword",
                    Dialect::Json => "a string starting with `:`",
                },
                other.describe()
            ),
        )),
    }
}

/// An attribute position: an ident, returned with its leading colon.
fn attribute(form: &Form, dialect: Dialect) -> Result<String, InputError> {
    match (&form.kind, dialect) {
        (FormKind::Keyword(k), Dialect::Edn) => Ok(k.clone()),
        (FormKind::String(s), Dialect::Json) if !s.is_empty() && s != ":" => {
            Ok(if s.starts_with(':') {
                s.clone()
            } else {
                format!(":{s}")
            })
        }
        (other, _) => Err(invalid(
            form.pos,
            format!(
                "expected an attribute ({}), found {}",
                match dialect {
                    Dialect::Edn => "a keyword such as :person/name",
                    Dialect::Json => "a string such as \":person/name\"",
                },
                other.describe()
            ),
        )),
    }
}

/// A value position: any literal but `nil` and symbols.
pub(super) fn scalar(form: &Form) -> Result<InputValue, InputError> {
    Ok(match &form.kind {
        FormKind::Boolean(b) => InputValue::Boolean(*b),
        FormKind::Long(n) => InputValue::Long(*n),
        FormKind::BigInt(n) => InputValue::BigInt(n.clone()),
        FormKind::Double(x) => InputValue::Double(*x),
        FormKind::BigDec(d) => InputValue::BigDec(d.clone()),
        FormKind::String(s) => InputValue::String(s.clone()),
        FormKind::Keyword(k) => InputValue::Keyword(k.clone()),
        FormKind::Instant(ms) => InputValue::Instant(*ms),
        FormKind::Uuid(u) => InputValue::Uuid(*u),
        FormKind::Bytes(b) => InputValue::Bytes(b.clone()),
        FormKind::Nil => {
            return Err(invalid(
                form.pos,
                "nil/null is not a value; to remove a value, retract it",
            ));
        }
        FormKind::Symbol(s) => {
            return Err(invalid(
                form.pos,
                format!(
                    "symbol `{s}` is not a value (did you mean the keyword :{s} or the string \"{s}\"?)"
                ),
            ));
        }
        FormKind::Vector(_) => {
            return Err(invalid(
                form.pos,
                "a vector is not a value here (several values of a cardinality-many attribute go in a map: {:db/id e, :attr [v1 v2]})",
            ));
        }
        FormKind::Map(_) => {
            return Err(invalid(
                form.pos,
                "nested maps are not supported: give the entity a temp id in its own map and use that string as the value",
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use crate::db::input::{Format, assert_has, parse, parse_edn, parse_json};
    use crate::db::{EntityRef, InputValue, TxOp};

    fn add(e: EntityRef, a: &str, v: InputValue) -> TxOp {
        TxOp::Add { e, a: a.into(), v }
    }

    fn temp(s: &str) -> EntityRef {
        EntityRef::Temp(s.into())
    }

    #[test]
    fn edn_statements_and_maps() {
        let ops = parse_edn(
            r#"[[:db/add "a" :person/name "Ann"]
                [:db/retract 17 :person/age 41]
                [:db/add :person/email :db/doc "the email"]
                {:db/id "b", :person/tags [:x :y], :person/friend "a"}
                {:person/name "anonymous"}]"#,
        )
        .unwrap();
        assert_eq!(
            ops,
            vec![
                add(temp("a"), ":person/name", InputValue::String("Ann".into())),
                TxOp::Retract {
                    e: EntityRef::Id(17),
                    a: ":person/age".into(),
                    v: InputValue::Long(41)
                },
                add(
                    EntityRef::Ident(":person/email".into()),
                    ":db/doc",
                    InputValue::String("the email".into())
                ),
                add(temp("b"), ":person/tags", InputValue::Keyword(":x".into())),
                add(temp("b"), ":person/tags", InputValue::Keyword(":y".into())),
                add(temp("b"), ":person/friend", InputValue::String("a".into())),
                add(
                    temp("map@5:17"),
                    ":person/name",
                    InputValue::String("anonymous".into())
                ),
            ]
        );
    }

    #[test]
    fn json_statements_and_objects() {
        let ops = parse_json(
            r#"[["add", "a", ":person/name", "Ann"],
                ["retract", 17, "person/age", 41],
                ["add", ":person/email", "db/doc", "x"],
                {"db/id": "b", "person/score": 1.5, ":person/tags": [":x", ":y"], "person/ok": true}]"#,
        )
        .unwrap();
        assert_eq!(ops.len(), 7);
        assert_eq!(
            ops[1],
            TxOp::Retract {
                e: EntityRef::Id(17),
                a: ":person/age".into(),
                v: InputValue::Long(41)
            }
        );
        assert_eq!(
            ops[2],
            add(
                EntityRef::Ident(":person/email".into()),
                ":db/doc",
                InputValue::String("x".into())
            )
        );
        assert_eq!(
            ops[3],
            add(temp("b"), ":person/score", InputValue::Double(1.5))
        );
        assert_eq!(
            ops[6],
            add(temp("b"), ":person/ok", InputValue::Boolean(true))
        );
    }

    #[test]
    fn detects_the_format() {
        let edn = "[[:db/add \"a\" :x/y 1]]";
        let json = "[[\"add\", \"a\", \"x/y\", 1]]";
        assert_eq!(crate::db::input::detect(edn), Format::Edn);
        assert_eq!(crate::db::input::detect(json), Format::Json);
        assert_eq!(crate::db::input::detect("[{\"db/id\": 1}]"), Format::Json);
        assert_eq!(parse(edn, None).unwrap(), parse(json, None).unwrap());
    }

    #[test]
    fn typed_edn_literals() {
        let ops = parse_edn(
            r#"[{:db/id 1 :t/i #inst "2024-01-01T00:00:00Z" :t/u #uuid "6f1a7c1e-0000-4000-8000-000000000001"
                 :t/b #base64 "AAE=" :t/n 5N :t/d 2.50M :t/f false}]"#,
        )
        .unwrap();
        let values: Vec<_> = ops
            .into_iter()
            .map(|op| match op {
                TxOp::Add { v, .. } | TxOp::Retract { v, .. } => v,
            })
            .collect();
        assert_eq!(values[0], InputValue::Instant(1_704_067_200_000));
        assert!(matches!(values[1], InputValue::Uuid(_)));
        assert_eq!(values[2], InputValue::Bytes(vec![0, 1]));
        assert_eq!(values[3], InputValue::BigInt(5.into()));
        assert!(matches!(values[4], InputValue::BigDec(_)));
        assert_eq!(values[5], InputValue::Boolean(false));
    }

    fn edn_err(text: &str) -> String {
        parse_edn(text).unwrap_err().to_string()
    }

    fn json_err(text: &str) -> String {
        parse_json(text).unwrap_err().to_string()
    }

    #[test]
    fn bad_edn_statements_are_located_and_explained() {
        assert_has(
            &edn_err("{:a 1}"),
            "1:1: invalid statement: expected a vector of statements",
        );
        assert_has(
            &edn_err("[[:db/add \"a\" :x/y]]"),
            "1:2: invalid statement: this statement has 3 parts",
        );
        assert_has(
            &edn_err("[[:db/put 1 :x/y 2]]"),
            "1:3: invalid statement: unknown operation keyword :db/put",
        );
        assert_has(
            &edn_err("[[:db/add 1.5 :x/y 2]]"),
            "1:11: invalid statement: expected an entity",
        );
        assert_has(&edn_err("[[:db/add -1 :x/y 2]]"), "expected an entity");
        assert_has(&edn_err("[[:db/add 1 \"x/y\" 2]]"), "expected an attribute");
        assert_has(
            &edn_err("[[:db/add 1 :x/y nil]]"),
            "nil/null is not a value",
        );
        assert_has(&edn_err("[[:db/add 1 :x/y foo]]"), "symbol `foo`");
        assert_has(&edn_err("[{:db/id 1}]"), "no attributes");
        assert_has(&edn_err("[{:db/id 1 :x/y {:a 1}}]"), "nested maps");
        assert_has(&edn_err("[42]"), "expected a statement");
        assert_has(&edn_err("[[\"add\" 1 :x/y 2]]"), "unknown operation");
        assert_has(&edn_err("[[:db/add 1 :x/y 2]"), "1:20: invalid EDN");
    }

    #[test]
    fn bad_json_statements_are_located_and_explained() {
        assert_has(
            &json_err("[[\"add\", 1, \"x/y\"]]"),
            "1:2: invalid statement: this statement has 3 parts",
        );
        assert_has(
            &json_err("[[\"put\", 1, \"x/y\", 2]]"),
            "unknown operation string \"put\"",
        );
        assert_has(
            &json_err("[[\"add\", 1, 5, 2]]"),
            "1:13: invalid statement: expected an attribute",
        );
        assert_has(
            &json_err("[[\"add\", true, \"x/y\", 2]]"),
            "expected an entity",
        );
        assert_has(&json_err("[[\"add\", 1, \"x/y\", null]]"), "nil/null");
        assert_has(
            &json_err("[\n[\"add\", 1, \"x/y\" 2]]"),
            "2:18: invalid JSON",
        );
        assert_has(
            &json_err("{\"db/id\": 1}"),
            "expected an array of statements",
        );
    }
}
