//! The hand-written guests of `plugins/wat/`, made into components at test
//! time: `plugins/wat/template.wat` is a core module implementing the read
//! side of `wit/xform.wit` by hand against the canonical ABI; each guest's
//! file (`plugins/wat/NAME.wat`) holds fragments that fill the template's
//! `;; @slot` lines. The module is parsed with `wat`, given the world
//! `hostile-wat` of `plugins/wat/wit/worlds.wit` (the repository's
//! `wit/` resolved first, so the guests follow the real contract) with
//! `wit_component::embed_component_metadata`, and encoded as a component.
//!
//! A guest file is a header comment, then fragments: a line `;; @SLOT`
//! (or `;; @SLOT xN`: the fragment N times, `{i}` replaced by 1..=N)
//! followed by the WAT to put in place of the template's `;; @SLOT` line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The world every hand-written guest is encoded against.
const WORLD: &str = "hostile-wat";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A componentized guest, at `<temporary dir>/<name>.wasm` (so the host
/// labels it `name` until it describes itself; its `describe` says `name`
/// too). The directory is removed when this is dropped.
pub struct WatGuest {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl WatGuest {
    /// The component file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The temporary directory holding it (a place for a test's stores).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// Builds `plugins/wat/<name>.wat` into a component file.
pub fn wat_guest(name: &str) -> WatGuest {
    let bytes =
        componentize(&core_text(name)).unwrap_or_else(|e| panic!("plugins/wat/{name}.wat: {e:#}"));
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join(format!("{name}.wasm"));
    std::fs::write(&path, bytes).expect("write the component");
    WatGuest { dir, path }
}

/// The core module's text of guest `name`: the template with the guest's
/// fragments in its slots, its name and the name's length.
pub fn core_text(name: &str) -> String {
    let dir = root().join("plugins/wat");
    let read = |file: &str| {
        std::fs::read_to_string(dir.join(file))
            .unwrap_or_else(|e| panic!("plugins/wat/{file}: {e}"))
    };
    let mut fragments = fragments(&read(&format!("{name}.wat")));
    let mut text = String::new();
    for line in read("template.wat").lines() {
        match slot_of(line) {
            Some((slot, _)) => {
                if let Some(fragment) = fragments.remove(slot) {
                    text.push_str(&fragment);
                }
            }
            None => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    assert!(
        fragments.is_empty(),
        "plugins/wat/{name}.wat fills slots the template does not have: {:?}",
        fragments.keys().collect::<Vec<_>>()
    );
    text.replace("@NAME_LEN@", &name.len().to_string())
        .replace("@NAME@", name)
}

/// `;; @SLOT` or `;; @SLOT xN` → (SLOT, N).
fn slot_of(line: &str) -> Option<(&str, usize)> {
    let rest = line.trim().strip_prefix(";; @")?;
    let mut words = rest.split_whitespace();
    let slot = words.next()?;
    let times = match words.next() {
        Some(n) => n
            .strip_prefix('x')
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("bad repeat count in `{line}`")),
        None => 1,
    };
    Some((slot, times))
}

/// A guest file's fragments by slot (fragments of one slot concatenated).
fn fragments(source: &str) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut current: Option<(String, usize, String)> = None;
    let mut flush = |current: Option<(String, usize, String)>| {
        if let Some((slot, times, body)) = current {
            let text = out.entry(slot).or_default();
            for i in 1..=times {
                text.push_str(&body.replace("{i}", &i.to_string()));
            }
        }
    };
    for line in source.lines() {
        if let Some((slot, times)) = slot_of(line) {
            flush(current.take());
            current = Some((slot.to_string(), times, String::new()));
        } else if let Some((_, _, body)) = &mut current {
            body.push_str(line);
            body.push('\n');
        }
    }
    flush(current);
    out
}

/// A component from the text of a core module written against the world
/// `hostile-wat`.
pub fn componentize(core_wat: &str) -> anyhow::Result<Vec<u8>> {
    let mut module = wat::parse_str(core_wat)?;
    let mut resolve = wit_parser::Resolve::default();
    resolve.push_dir(root().join("wit"))?;
    let (guests, _) = resolve.push_dir(root().join("plugins/wat/wit"))?;
    let world = resolve.select_world(&[guests], Some(WORLD))?;
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )?;
    wit_component::ComponentEncoder::default()
        .module(&module)?
        .validate(true)
        .encode()
}
