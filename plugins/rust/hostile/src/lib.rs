//! A misbehaving plugin for the host's tests, behaviour chosen by
//! `mode=`: loop, grow, trap, dangling, unsorted, changed-value, rename-key
//! (node-level hooks), and tx-unknown-attribute, tx-wrong-type,
//! tx-changed-number (rebuild mode, from transaction 2 on).
//! Every mode must be stopped by the host with a message naming the plugin.

wit_bindgen::generate!({ path: "../../../wit", world: "host" });

use std::cell::RefCell;

use eva::xform::types::{Content, Description, Hook, Node, Transaction, Value, XformError};
use exports::eva::xform::{plugin, read_xform, tx_xform, write_xform};

thread_local! {
    static MODE: RefCell<String> = RefCell::new(String::new());
}

fn mode() -> String {
    MODE.with(|m| m.borrow().clone())
}

struct Hostile;

impl plugin::Guest for Hostile {
    fn describe() -> Description {
        Description {
            name: "hostile".into(),
            version: "0.1.0".into(),
            hooks: vec![Hook::Read, Hook::Write, Hook::Tx],
            wit_version: "0.2.0".into(),
        }
    }

    fn init(config: Vec<(String, String)>) -> Result<(), XformError> {
        for (key, value) in config {
            if key == "mode" {
                MODE.with(|m| *m.borrow_mut() = value);
            }
        }
        Ok(())
    }

    fn finish() -> Result<String, XformError> {
        Ok(String::new())
    }
}

impl read_xform::Guest for Hostile {
    fn transform_read(nodes: Vec<Node>) -> Result<Vec<Node>, XformError> {
        match mode().as_str() {
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "grow" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![7u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "trap" => panic!("hostile plugin traps on purpose"),
            _ => Ok(nodes),
        }
    }
}

impl write_xform::Guest for Hostile {
    fn transform_write(mut nodes: Vec<Node>) -> Result<Vec<Node>, XformError> {
        let mode = mode();
        for node in &mut nodes {
            let done = match (mode.as_str(), &mut node.content) {
                ("dangling", Content::IndexInner(inner)) => {
                    inner.children[0] = "no-such-node".into();
                    true
                }
                ("unsorted", Content::IndexLeaf(leaf)) if leaf.datoms.len() >= 2 => {
                    leaf.datoms.reverse();
                    true
                }
                ("changed-value", Content::IndexLeaf(leaf)) if !leaf.datoms.is_empty() => {
                    let v = &mut leaf.datoms[0].v;
                    *v = match v {
                        Value::Long(n) => Value::Long(n.wrapping_add(1)),
                        Value::String(s) => Value::String(format!("{s}x")),
                        _ => Value::Boolean(true),
                    };
                    true
                }
                ("rename-key", Content::IndexLeaf(_)) => {
                    node.key.push_str("-x");
                    true
                }
                _ => false,
            };
            if done {
                break;
            }
        }
        Ok(nodes)
    }
}

impl tx_xform::Guest for Hostile {
    fn transform_tx(mut tx: Transaction) -> Result<Transaction, XformError> {
        if tx.tx < 2 {
            return Ok(tx);
        }
        match mode().as_str() {
            "tx-changed-number" => tx.tx += 1,
            "tx-unknown-attribute" => {
                if let Some(d) = tx.datoms.first_mut() {
                    d.attribute = ":no/such-attribute".into();
                }
            }
            "tx-wrong-type" => {
                if let Some(d) = tx.datoms.iter_mut().find(|d| !matches!(d.v, Value::Boolean(_))) {
                    d.v = Value::Boolean(true);
                }
            }
            _ => {}
        }
        Ok(tx)
    }
}

export!(Hostile);
