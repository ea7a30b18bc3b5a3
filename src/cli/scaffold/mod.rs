//! `eva-admin plugin new`: a new plugin's directory, in Rust, Python or
//! JavaScript, with the WIT contract, an identity implementation of both
//! hooks to edit, and the build script for that language.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::ValueEnum;

/// The languages a plugin can be scaffolded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// Rust, built with Debian's rustc-web for wasm32 (wit-bindgen).
    Rust,
    /// Python, built with componentize-py.
    Python,
    /// JavaScript, built with componentize-js.
    Js,
}

/// The contract every plugin is built against.
const WIT: &str = include_str!("../../../wit/xform.wit");

/// (path inside the new directory, template) for each language; `{{name}}`
/// and `{{crate}}` are replaced, and a `.js` path of `plugin.js` is renamed
/// to `<name>.js`.
fn templates(lang: Lang) -> &'static [(&'static str, &'static str)] {
    match lang {
        Lang::Rust => &[
            ("Cargo.toml", include_str!("rust/Cargo.toml")),
            ("src/lib.rs", include_str!("rust/lib.rs")),
            ("build.sh", include_str!("rust/build.sh")),
            (".gitignore", "/target/\n*.wasm\n"),
        ],
        Lang::Python => &[
            ("app.py", include_str!("python/app.py")),
            ("build.sh", include_str!("python/build.sh")),
            (".gitignore", "*.wasm\n__pycache__/\n"),
        ],
        Lang::Js => &[
            ("plugin.js", include_str!("js/plugin.js")),
            ("componentize.mjs", include_str!("js/componentize.mjs")),
            ("build.sh", include_str!("js/build.sh")),
            (".gitignore", "*.wasm\n"),
        ],
    }
}

/// Writes the plugin `name` into `dir/name`, which must not exist or be
/// empty. Returns the directory written.
pub fn scaffold(dir: &Path, name: &str, lang: Lang) -> Result<PathBuf> {
    check_name(name)?;
    let root = dir.join(name);
    if root
        .read_dir()
        .is_ok_and(|mut entries| entries.next().is_some())
    {
        bail!(
            "{} already exists and is not empty; choose another name or directory",
            root.display()
        );
    }
    let crate_name = name.replace('-', "_");
    let mut files: Vec<(String, String)> = templates(lang)
        .iter()
        .map(|(path, text)| {
            let path = if *path == "plugin.js" {
                format!("{name}.js")
            } else {
                path.to_string()
            };
            let text = text
                .replace("{{name}}", name)
                .replace("{{crate}}", &crate_name);
            (path, text)
        })
        .collect();
    files.push(("wit/xform.wit".into(), WIT.into()));
    for (path, text) in files {
        let path = root.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(root)
}

/// A plugin name: lowercase letters, digits and dashes, starting with a
/// letter (it becomes a crate, module and file name).
fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let starts_well = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    if !starts_well
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        || name.ends_with('-')
    {
        bail!(
            "`{name}` is not a plugin name: use lowercase letters, digits and dashes, starting with a letter (e.g. `redact-emails`)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in ["a", "redact-emails", "x2"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Redact", "2x", "a_b", "a-", "../x", "a b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_language_gets_the_contract_and_a_build_script() {
        let dir = tempfile::tempdir().unwrap();
        for (lang, source) in [
            (Lang::Rust, "src/lib.rs"),
            (Lang::Python, "app.py"),
            (Lang::Js, "p-js.js"),
        ] {
            let name = match lang {
                Lang::Rust => "p-rust",
                Lang::Python => "p-python",
                Lang::Js => "p-js",
            };
            let root = scaffold(dir.path(), name, lang).unwrap();
            assert_eq!(
                std::fs::read_to_string(root.join("wit/xform.wit")).unwrap(),
                WIT
            );
            let build = std::fs::read_to_string(root.join("build.sh")).unwrap();
            assert!(build.contains(&format!("{name}.wasm")), "{build}");
            let code = std::fs::read_to_string(root.join(source)).unwrap();
            assert!(code.contains(&format!("\"{name}\"")), "{lang:?}");
            assert!(!code.contains("{{"), "{lang:?}: placeholder left");
            assert!(
                scaffold(dir.path(), name, lang).is_err(),
                "refuses to overwrite"
            );
        }
    }
}
