//! A misbehaving plugin for the host's tests, behaviour chosen by `mode=`
//! (and `after=N` where a mode waits N batches before acting):
//! - read hook: loop, grow, trap, read-fail-after (changes every entry's
//!   instant, then traps after N batches), read-dangling (points an inner
//!   node at a key the source lacks);
//! - write hook, each a rewrite that a node-by-node look may accept but
//!   that changes what readers see: dangling, unsorted, changed-value,
//!   rename-key, attr-retarget (a datom's attribute id and ident changed
//!   together), tx-change, entity-change, invent, swap-children,
//!   cross-index, roots-swap, roots-drop, huge-leaf, key-at (a leaf
//!   written at `target=KEY`), key-empty, key-huge, fail-after;
//! - text meant to fool a terminal: report-escape (its end-of-run report
//!   clears the screen, sets the window title and prints a fake green
//!   "verify: OK"), error-escape (the same as its error), error-huge (a
//!   100 MiB error), stderr-escape (the same on stderr, then a trap);
//! - rebuild mode: tx-unknown-attribute, tx-wrong-type, tx-changed-number
//!   (from transaction 2 on).
//!
//! Every mode must be stopped by the host with a message naming the plugin.

wit_bindgen::generate!({ path: "../../../wit", world: "host" });

use std::cell::RefCell;

use eva::xform::types::{
    Content, Datom, Description, Hook, IndexKind, Node, Transaction, Value, XformError,
};
use exports::eva::xform::{plugin, read_xform, tx_xform, write_xform};

/// Clears the screen, sets the window title, then a fake green line of
/// eva-admin's own output.
const FOOL: &str = "\u{1b}[2J\u{1b}[H\u{1b}]0;owned\u{7}\u{1b}[32mverify: OK\u{1b}[0m\r\nequal as of transaction 999";

/// What the plugin remembers between batches.
#[derive(Default)]
struct State {
    mode: String,
    after: u64,
    batches: u64,
    /// Attributes seen: (id, ident, value kind).
    attributes: Vec<(u64, String, u8)>,
    /// A key of an AEVT node seen, for cross-index.
    aevt_node: Option<String>,
    /// The key `key-at` writes a leaf at.
    target: String,
    done: bool,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

fn mode() -> String {
    STATE.with(|s| s.borrow().mode.clone())
}

fn kind_of(v: &Value) -> u8 {
    match v {
        Value::Long(_) => 0,
        Value::Double(_) => 1,
        Value::Boolean(_) => 2,
        Value::String(_) => 3,
        Value::Keyword(_) => 4,
        Value::Ref(_) => 5,
        Value::Instant(_) => 6,
        Value::Uuid(_) => 7,
        Value::Bytes(_) => 8,
        Value::Bigint(_) => 9,
        Value::Bigdec(_) => 10,
    }
}

/// Counts a batch; true once `after` batches have gone by.
fn batch_due() -> bool {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        s.batches += 1;
        s.batches > s.after
    })
}

/// Remembers what later rewrites need from the nodes of a batch.
fn learn(nodes: &[Node]) {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        for node in nodes {
            let datoms: &[Datom] = match &node.content {
                Content::IndexLeaf(leaf) => {
                    if leaf.index == IndexKind::Aevt && s.aevt_node.is_none() {
                        s.aevt_node = Some(node.key.clone());
                    }
                    &leaf.datoms
                }
                Content::IndexInner(inner) => {
                    if inner.index == IndexKind::Aevt {
                        s.aevt_node = Some(node.key.clone());
                    }
                    &inner.separators
                }
                Content::TxLogEntry(entry) => &entry.datoms,
                Content::DatabaseInfo(_) | Content::TxLogHead(_) => &[],
            };
            for d in datoms {
                if !s.attributes.iter().any(|(a, _, _)| *a == d.a) {
                    s.attributes.push((d.a, d.attribute.clone(), kind_of(&d.v)));
                }
            }
        }
    })
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
        STATE.with(|s| {
            let mut s = s.borrow_mut();
            for (key, value) in config {
                match key.as_str() {
                    "mode" => s.mode = value,
                    "after" => s.after = value.parse().unwrap_or(0),
                    "target" => s.target = value,
                    _ => {}
                }
            }
        });
        Ok(())
    }

    fn finish() -> Result<String, XformError> {
        match mode().as_str() {
            "report-escape" => Ok(FOOL.to_string()),
            _ => Ok(String::new()),
        }
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
            "read-dangling" => {
                let mut nodes = nodes;
                if let Some(inner) = nodes.iter_mut().find_map(|n| match &mut n.content {
                    Content::IndexInner(inner) => Some(inner),
                    _ => None,
                }) {
                    inner.children[0] = "no-such-node".into();
                }
                Ok(nodes)
            }
            "read-fail-after" => {
                if batch_due() {
                    panic!("hostile plugin fails after its batches on purpose");
                }
                Ok(shift_instants(nodes))
            }
            _ => Ok(nodes),
        }
    }
}

/// Every entry's instant one millisecond later.
fn shift_instants(mut nodes: Vec<Node>) -> Vec<Node> {
    for node in &mut nodes {
        if let Content::TxLogEntry(entry) = &mut node.content {
            entry.instant += 1;
        }
    }
    nodes
}

/// Applies a one-shot rewrite of `mode` to `node`; true when it did.
fn rewrite(mode: &str, node: &mut Node) -> bool {
    let (aevt_node, target, attributes) = STATE.with(|s| {
        let s = s.borrow();
        (s.aevt_node.clone(), s.target.clone(), s.attributes.clone())
    });
    match (mode, &mut node.content) {
        ("attr-retarget", Content::IndexLeaf(leaf)) if leaf.index == IndexKind::Eavt => {
            // A datom alone for its entity among its neighbours, so the
            // leaf stays sorted whatever its attribute.
            let n = leaf.datoms.len();
            for i in 1..n.saturating_sub(1) {
                let (prev, d, next) = (&leaf.datoms[i - 1], &leaf.datoms[i], &leaf.datoms[i + 1]);
                if prev.e >= d.e || next.e <= d.e {
                    continue;
                }
                let other = attributes
                    .iter()
                    .find(|(a, _, k)| *a != d.a && *k == kind_of(&d.v) && *a > 63);
                if let Some((a, ident, _)) = other {
                    leaf.datoms[i].a = *a;
                    leaf.datoms[i].attribute = ident.clone();
                    return true;
                }
            }
            false
        }
        ("tx-change", Content::IndexLeaf(leaf)) if !leaf.datoms.is_empty() => {
            let last = leaf.datoms.len() - 1;
            leaf.datoms[last].tx += 1;
            true
        }
        ("entity-change", Content::IndexLeaf(leaf))
            if leaf.index == IndexKind::Aevt && leaf.datoms.len() >= 2 =>
        {
            // Between its neighbours, so the leaf stays sorted.
            let (a, b) = (&leaf.datoms[0], &leaf.datoms[1]);
            if a.a == b.a && b.e > a.e + 1 {
                leaf.datoms[0].e += 1;
                return true;
            }
            false
        }
        ("invent", Content::IndexLeaf(leaf)) if leaf.index == IndexKind::Eavt => {
            if let Some(last) = leaf.datoms.last() {
                let mut d = last.clone();
                d.tx += 1;
                leaf.datoms.push(d);
                return true;
            }
            false
        }
        ("swap-children", Content::IndexInner(inner)) if inner.children.len() >= 2 => {
            inner.children.swap(0, 1);
            true
        }
        ("cross-index", Content::IndexInner(inner)) if inner.index == IndexKind::Eavt => {
            match aevt_node {
                Some(key) => {
                    inner.children[0] = key;
                    true
                }
                None => false,
            }
        }
        ("roots-swap", Content::TxLogEntry(entry)) if entry.tx >= 2 => {
            std::mem::swap(&mut entry.roots.eavt, &mut entry.roots.aevt);
            true
        }
        ("roots-drop", Content::TxLogEntry(entry)) if entry.tx >= 2 => {
            entry.roots.avet = None;
            true
        }
        ("huge-leaf", Content::IndexLeaf(leaf)) if !leaf.datoms.is_empty() => {
            let first = leaf.datoms[0].clone();
            leaf.datoms = (0..1_000_000u64)
                .map(|i| Datom {
                    tx: first.tx + i,
                    ..first.clone()
                })
                .collect();
            true
        }
        ("key-at", Content::IndexLeaf(_)) => {
            node.key = target;
            true
        }
        ("key-empty", Content::IndexLeaf(_)) => {
            node.key = String::new();
            true
        }
        ("key-huge", Content::IndexLeaf(_)) => {
            node.key = "k".repeat(100 << 20);
            true
        }
        _ => false,
    }
}

impl write_xform::Guest for Hostile {
    fn transform_write(mut nodes: Vec<Node>) -> Result<Vec<Node>, XformError> {
        let mode = mode();
        match mode.as_str() {
            "error-escape" => return Err(XformError { message: FOOL.to_string() }),
            "error-huge" => return Err(XformError { message: "e".repeat(100 << 20) }),
            "stderr-escape" => {
                eprintln!("{FOOL}");
                panic!("{FOOL}");
            }
            _ => {}
        }
        learn(&nodes);
        if mode == "fail-after" {
            if batch_due() {
                panic!("hostile plugin fails after its batches on purpose");
            }
            return Ok(shift_instants(nodes));
        }
        let once = STATE.with(|s| s.borrow().done);
        if !once {
            for node in &mut nodes {
                if rewrite(&mode, node) {
                    STATE.with(|s| s.borrow_mut().done = true);
                    break;
                }
            }
        }
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
