//! The excise plugin (a write-xform): drops every datom of the configured
//! attributes (`attributes=:a/b,:c/d`) or entities (`entities=12,34`) from
//! index leaves and tx-log entries. Dropping keeps every index sorted, so
//! this is a valid node-level rewrite; separators stay as bounds.

wit_bindgen::generate!({ path: "../../../wit", world: "write-plugin" });

use std::cell::RefCell;
use std::collections::BTreeSet;

use eva::xform::types::{Content, Datom, Description, Hook, Node, XformError};
use exports::eva::xform::{plugin, write_xform};

#[derive(Default)]
struct State {
    attributes: BTreeSet<String>,
    entities: BTreeSet<u64>,
    dropped: u64,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

fn error(message: String) -> XformError {
    XformError { message }
}

struct Excise;

impl plugin::Guest for Excise {
    fn describe() -> Description {
        Description {
            name: "excise".into(),
            version: "0.1.0".into(),
            hooks: vec![Hook::Write],
            wit_version: "0.2.0".into(),
        }
    }

    fn init(config: Vec<(String, String)>) -> Result<(), XformError> {
        STATE.with(|s| {
            let mut s = s.borrow_mut();
            for (key, value) in config {
                let items = value.split(',').map(str::trim).filter(|v| !v.is_empty());
                match key.as_str() {
                    "attributes" => s.attributes.extend(items.map(String::from)),
                    "entities" => {
                        for item in items {
                            let id = item
                                .parse()
                                .map_err(|_| error(format!("entities: `{item}` is not an entity id")))?;
                            s.entities.insert(id);
                        }
                    }
                    other => {
                        return Err(error(format!(
                            "unknown config key `{other}` (expected attributes= or entities=)"
                        )))
                    }
                }
            }
            if s.attributes.is_empty() && s.entities.is_empty() {
                return Err(error("nothing to excise: give attributes=… and/or entities=…".into()));
            }
            Ok(())
        })
    }

    fn finish() -> Result<String, XformError> {
        Ok(STATE.with(|s| format!("dropped {} datoms", s.borrow().dropped)))
    }
}

impl write_xform::Guest for Excise {
    fn transform_write(mut nodes: Vec<Node>) -> Result<Vec<Node>, XformError> {
        STATE.with(|s| {
            let mut s = s.borrow_mut();
            for node in &mut nodes {
                let datoms: &mut Vec<Datom> = match &mut node.content {
                    Content::IndexLeaf(leaf) => &mut leaf.datoms,
                    Content::TxLogEntry(entry) => &mut entry.datoms,
                    _ => continue,
                };
                let before = datoms.len();
                datoms.retain(|d| !s.attributes.contains(&d.attribute) && !s.entities.contains(&d.e));
                s.dropped += (before - datoms.len()) as u64;
            }
        });
        Ok(nodes)
    }
}

export!(Excise);
