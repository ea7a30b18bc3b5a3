//! The plugin flags and a plugin's words as a user meets them through the
//! built binary: absurd limits are usage errors (never a panic), and text a
//! plugin returns or prints reaches the terminal escaped and bounded.

mod common;

use std::time::Duration;

use assert_cmd::cargo::cargo_bin_cmd;

use common::plugin_fixtures::{DB, cache_dir, guest};

/// The binary with `args`, the tests' compile cache, killed after a minute.
fn eva(args: &[&str]) -> assert_cmd::Command {
    let mut cmd = cargo_bin_cmd!("eva-admin");
    cmd.args(args)
        .env("EVA_ADMIN_CACHE_DIR", cache_dir())
        .timeout(Duration::from_secs(60));
    cmd
}

/// A generated source store in `dir`.
fn source(dir: &std::path::Path) -> String {
    let src = format!("sqlite:{}", dir.join("src.db").display());
    let out = eva(&["db", "generate", &src, "--db", DB, "--txs", "20"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    src
}

#[test]
fn absurd_sandbox_limits_are_usage_errors_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path());
    let dst = format!("sqlite:{}", dir.path().join("dst.db").display());
    let plugin = guest("identity");
    let plugin = plugin.to_str().unwrap();
    for (flag, value) in [
        ("--plugin-timeout", "1e20"),
        ("--plugin-timeout", "18446744073709551616"),
        ("--plugin-timeout", "-1"),
        ("--plugin-timeout", "NaN"),
        ("--plugin-timeout", "inf"),
        ("--plugin-timeout", "0"),
        ("--plugin-timeout", "2 weeks"),
        ("--plugin-memory", "0"),
        ("--plugin-memory", "99999999999999999999"),
        ("--plugin-fuel", "0"),
        ("--checkpoint-secs", "1e300"),
    ] {
        let arg = format!("{flag}={value}");
        let out = eva(&["migrate", &src, &dst, "--db", DB, "--plugin", plugin, &arg])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(!stderr.contains("panicked"), "{flag} {value}: {stderr}");
        assert!(stderr.contains(flag), "{flag} {value}: {stderr}");
    }
    // The forms the help promises are taken.
    for value in ["2s", "500ms", "1.5m", "3"] {
        let out = eva(&["plugin", "check", plugin, "--plugin-timeout", value])
            .output()
            .unwrap();
        assert!(out.status.success(), "{value}: {out:?}");
    }
}

/// A plugin's error, report and stderr may try to clear the screen, set the
/// window title, print a fake "verify: OK" or flood the terminal: what the
/// user sees has no control character but the line ends, is bounded, and
/// still names the plugin.
#[test]
fn a_plugins_words_reach_the_terminal_escaped_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path());
    let plugin = guest("hostile");
    let plugin = plugin.to_str().unwrap();
    for (mode, succeeds) in [
        ("report-escape", true),
        ("error-escape", false),
        ("error-huge", false),
        ("stderr-escape", false),
    ] {
        let dst = format!("sqlite:{}", dir.path().join(format!("{mode}.db")).display());
        let config = format!("mode={mode}");
        let out = eva(&[
            "migrate",
            &src,
            &dst,
            "--db",
            DB,
            "--plugin",
            plugin,
            "--plugin-config",
            &config,
            "--plugin-memory",
            "512",
        ])
        .output()
        .unwrap();
        assert_eq!(out.status.success(), succeeds, "{mode}: {out:?}");
        for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            let text = String::from_utf8_lossy(bytes);
            assert!(
                !text.chars().any(|c| c.is_control() && c != '\n'),
                "{mode} {stream}: {text:?}"
            );
            assert!(
                text.len() < 16 << 10,
                "{mode} {stream}: {} bytes",
                text.len()
            );
            assert!(
                !text.lines().any(|l| l.starts_with("verify: OK")),
                "{mode} {stream}: a line of its own"
            );
        }
        let said = String::from_utf8_lossy(if succeeds { &out.stdout } else { &out.stderr });
        assert!(said.contains("hostile"), "{mode}: {said}");
        if mode == "error-huge" {
            assert!(said.contains("bytes more)"), "{mode}: {said}");
        }
        if mode == "stderr-escape" {
            // The trap's cause, not a backtrace (a Rust guest built for
            // wasm32-unknown-unknown has no stderr to leave last words on).
            assert!(said.contains("unreachable"), "{mode}: {said}");
            assert!(!said.contains("backtrace"), "{mode}: {said}");
        }
    }
}
