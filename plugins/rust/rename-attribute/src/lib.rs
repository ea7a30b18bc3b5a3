//! The rename-attribute plugin (rebuild mode): renames attribute `from=` to
//! `to=` (idents with their leading colon). Its schema datom
//! `[e :db/ident :from]` becomes `[e :db/ident :to]`, and every datom of the
//! attribute is passed on under the new name. The rename changes where the
//! attribute's datoms sort in AEVT, AVET and VAET, so it needs rebuild
//! mode: `eva-admin migrate --rebuild --plugin rename-attribute.wasm
//! --plugin-config rename-attribute:from=:a/b --plugin-config rename-attribute:to=:a/c`.

wit_bindgen::generate!({ path: "../../../wit", world: "tx-plugin" });

use std::cell::RefCell;

use eva::xform::types::{Description, Hook, Transaction, Value, XformError};
use exports::eva::xform::{plugin, tx_xform};

#[derive(Default)]
struct State {
    from: String,
    to: String,
    renamed: u64,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

fn error(message: String) -> XformError {
    XformError { message }
}

struct Rename;

impl plugin::Guest for Rename {
    fn describe() -> Description {
        Description {
            name: "rename-attribute".into(),
            version: "0.1.0".into(),
            hooks: vec![Hook::Tx],
            wit_version: "0.2.0".into(),
        }
    }

    fn init(config: Vec<(String, String)>) -> Result<(), XformError> {
        let mut state = State::default();
        for (key, value) in config {
            let slot = match key.as_str() {
                "from" => &mut state.from,
                "to" => &mut state.to,
                other => {
                    return Err(error(format!(
                        "rename-attribute: unknown config key `{other}` (expected from, to)"
                    )))
                }
            };
            if !value.starts_with(':') || value.len() < 2 {
                return Err(error(format!(
                    "rename-attribute: `{key}={value}` is not an ident (e.g. :person/email)"
                )));
            }
            *slot = value;
        }
        if state.from.is_empty() || state.to.is_empty() {
            return Err(error("rename-attribute: needs from=:a/b and to=:a/c".into()));
        }
        STATE.with(|s| *s.borrow_mut() = state);
        Ok(())
    }

    fn finish() -> Result<String, XformError> {
        Ok(STATE.with(|s| {
            let s = s.borrow();
            format!("rename-attribute: {} -> {}, {} datoms renamed", s.from, s.to, s.renamed)
        }))
    }
}

impl tx_xform::Guest for Rename {
    fn transform_tx(mut tx: Transaction) -> Result<Transaction, XformError> {
        STATE.with(|s| {
            let mut s = s.borrow_mut();
            let mut renamed = 0;
            for d in &mut tx.datoms {
                if d.attribute == s.from {
                    d.attribute = s.to.clone();
                    renamed += 1;
                }
                if d.attribute == ":db/ident" {
                    if let Value::Keyword(ident) = &mut d.v {
                        if *ident == s.from {
                            *ident = s.to.clone();
                        }
                    }
                }
            }
            s.renamed += renamed;
        });
        Ok(tx)
    }
}

export!(Rename);
