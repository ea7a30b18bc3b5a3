//! {{name}}: an eva-admin plugin. As generated it returns every batch
//! unchanged; edit the hooks below. The contract is `wit/xform.wit`.

wit_bindgen::generate!({ path: "wit", world: "xform-plugin" });

use eva::xform::types::{Content, Description, Hook, Node, XformError};
use exports::eva::xform::{plugin, read_xform, write_xform};

struct Plugin;

impl plugin::Guest for Plugin {
    fn describe() -> Description {
        Description {
            name: "{{name}}".into(),
            version: "0.1.0".into(),
            hooks: vec![Hook::Read, Hook::Write],
            wit_version: "0.2.0".into(),
        }
    }

    /// The `--plugin-config {{name}}:KEY=VALUE` pairs; refuse unknown keys.
    fn init(config: Vec<(String, String)>) -> Result<(), XformError> {
        match config.first() {
            Some((key, _)) => Err(XformError {
                message: format!("{{name}}: unknown config key `{key}`"),
            }),
            None => Ok(()),
        }
    }

    /// A short report, printed in the migration summary.
    fn finish() -> Result<String, XformError> {
        Ok(String::new())
    }
}

impl read_xform::Guest for Plugin {
    /// Nodes as read from the source, before their children are fetched.
    fn transform_read(nodes: Vec<Node>) -> Result<Vec<Node>, XformError> {
        Ok(nodes)
    }
}

impl write_xform::Guest for Plugin {
    /// Nodes about to be written, children first; return one per input.
    fn transform_write(mut nodes: Vec<Node>) -> Result<Vec<Node>, XformError> {
        for node in &mut nodes {
            // Index leaves and tx-log entries carry datoms; a datom's
            // `attribute` is its ident, e.g. ":person/email". Dropping
            // datoms keeps a leaf sorted; changing values may not.
            if let Content::IndexLeaf(leaf) = &mut node.content {
                leaf.datoms.retain(|_datom| true);
            }
        }
        Ok(nodes)
    }
}

export!(Plugin);
