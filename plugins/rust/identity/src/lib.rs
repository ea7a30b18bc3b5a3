//! The identity plugin: both hooks return every batch unchanged. A
//! migration through it must equal one without plugins (the host's
//! conversions and the sandbox, and nothing else, are exercised).

wit_bindgen::generate!({ path: "../../../wit", world: "xform-plugin" });

use eva::xform::types::{Description, Hook, Node, XformError};
use exports::eva::xform::{plugin, read_xform, write_xform};

struct Identity;

impl plugin::Guest for Identity {
    fn describe() -> Description {
        Description {
            name: "identity".into(),
            version: "0.1.0".into(),
            hooks: vec![Hook::Read, Hook::Write],
            wit_version: "0.2.0".into(),
        }
    }

    fn init(_config: Vec<(String, String)>) -> Result<(), XformError> {
        Ok(())
    }

    fn finish() -> Result<String, XformError> {
        Ok(String::new())
    }
}

impl read_xform::Guest for Identity {
    fn transform_read(nodes: Vec<Node>) -> Result<Vec<Node>, XformError> {
        Ok(nodes)
    }
}

impl write_xform::Guest for Identity {
    fn transform_write(nodes: Vec<Node>) -> Result<Vec<Node>, XformError> {
        Ok(nodes)
    }
}

export!(Identity);
