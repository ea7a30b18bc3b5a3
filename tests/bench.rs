//! The benchmark harness, on a tiny database in a debug build: the report
//! has every measure, each sane, and the raw-copy baseline copies exactly
//! the source namespace's keys and bytes. Timings are never asserted.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use assert_cmd::Command;
use eva_admin::bench::raw_copy::{first_difference, raw_copy};
use eva_admin::bench::{self, BenchError, BenchOptions, Group, NoProgress, Size, Unit, markdown};
use eva_admin::db::Database;
use eva_admin::db::generate::{GenerateOptions, generate};
use eva_admin::model::Format;
use eva_admin::plugin::PluginOptions;
use eva_admin::store::{self, ValueStore};

const BIN: &str = env!("CARGO_BIN_EXE_eva-admin");

/// Every row, in table order.
const IDS: [&str; 13] = [
    "P1-sled",
    "P1-postgres",
    "P1-sqlite",
    "P2",
    "P2-floor",
    "P2-batch-1",
    "P2-batch-16",
    "P2-batch-256",
    "P3",
    "P4",
    "P5",
    "P5-quick",
    "rebuild",
];

fn plugin_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("plugins/out");
    assert!(
        dir.join("identity.wasm").exists(),
        "{} has no identity.wasm: run `bash plugins/build.sh` first",
        dir.display()
    );
    dir
}

/// The tiny bench with 3 runs, its stores in `dir`.
fn tiny(dir: &std::path::Path) -> BenchOptions {
    BenchOptions {
        dir: Some(dir.to_path_buf()),
        plugin_dir: plugin_dir(),
        plugin_options: PluginOptions {
            cache_dir: Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache")),
            ..PluginOptions::default()
        },
        exe: Some(PathBuf::from(BIN)),
        ..BenchOptions::new(Size::Tiny)
    }
}

#[tokio::test]
async fn tiny_bench_reports_every_measure_sanely_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = tiny(dir.path());
    options.postgres = common::servers::postgres_url().await;
    let report = bench::run(&options, &mut NoProgress).await.unwrap();

    assert_eq!(report.runs, 3);
    let ids: Vec<&str> = report.measures.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, IDS);
    assert!(report.database.keys > 0 && report.database.bytes > 0);
    assert_eq!(report.database.entries, Size::Tiny.workload().txs + 2);
    // Every data transaction writes its statements and its instant.
    let d = &report.database;
    assert!(d.datoms > Size::Tiny.workload().txs * 2, "{d:?}");
    assert!(
        d.generate_seconds > 0.0 && d.bytes_per_datom() > 0.0,
        "{d:?}"
    );
    for m in &report.measures {
        if m.id == "P1-postgres" && options.postgres.is_none() {
            assert_eq!(m.skipped.as_deref(), Some("no --postgres"));
            assert!(m.result.is_none());
            continue;
        }
        assert_eq!(m.skipped, None, "{} skipped", m.id);
        let result = m
            .result
            .as_ref()
            .unwrap_or_else(|| panic!("{} has no result", m.id));
        assert_eq!(result.samples.len(), 3, "{}", m.id);
        assert!(
            result.min <= result.median && result.median <= result.max,
            "{}",
            m.id
        );
        assert!(
            result.samples.iter().all(|s| s.is_finite() && *s > 0.0),
            "{}: {:?}",
            m.id,
            result.samples
        );
        assert_eq!(m.met().is_some(), m.target.is_some(), "{}", m.id);
        for part in &m.parts {
            let s = &part.summary;
            assert_eq!(s.samples.len(), 3, "{} {}", m.id, part.name);
            assert!(s.min <= s.median && s.median <= s.max);
            assert!(s.samples.iter().all(|x| x.is_finite() && *x > 0.0));
        }
        if m.unit == Unit::Ratio {
            // The two quantities the ratio is of come first (P4 adds the
            // throughputs of the same child runs; P1 and P5 the subject's
            // rate in datoms a second).
            let parts = match m.id.as_str() {
                "P4" => 4,
                "P1-sled" | "P1-postgres" | "P1-sqlite" | "P5" => 3,
                _ => 2,
            };
            assert_eq!(m.parts.len(), parts, "{}: a ratio of two quantities", m.id);
            if parts == 3 {
                assert_eq!(m.parts[2].unit, Unit::DatomsPerSecond, "{}", m.id);
            }
        }
    }
    // A rate in datoms is the same run's rate in bytes, converted.
    for id in ["P1-sled", "P5"] {
        let m = report.measure(id).unwrap();
        let (mb, datoms) = (&m.parts[1].summary, &m.parts[2].summary);
        for (rate, mb) in datoms.samples.iter().zip(&mb.samples) {
            let expected = mb * 1e6 / d.bytes as f64 * d.datoms as f64;
            assert!(
                (rate - expected).abs() < 1e-6 * expected,
                "{id}: {rate} vs {expected}"
            );
        }
    }
    // Each ratio is its parts' ratio, run by run.
    let p3 = report.measure("P3").unwrap();
    let (full, incremental) = (&p3.parts[0].summary, &p3.parts[1].summary);
    for (i, ratio) in p3.result.as_ref().unwrap().samples.iter().enumerate() {
        let expected = incremental.samples[i] / full.samples[i];
        assert!((ratio - expected).abs() < 1e-9 * expected.max(1.0));
    }
    let p4 = report.measure("P4").unwrap();
    let units: Vec<Unit> = p4.parts.iter().map(|p| p.unit).collect();
    assert_eq!(
        units,
        [
            Unit::Mebibytes,
            Unit::Mebibytes,
            Unit::MegabytesPerSecond,
            Unit::MegabytesPerSecond
        ]
    );
    for (i, ratio) in p4.result.as_ref().unwrap().samples.iter().enumerate() {
        let expected = p4.parts[1].summary.samples[i] / p4.parts[0].summary.samples[i];
        assert!((ratio - expected).abs() < 1e-9 * expected.max(1.0));
    }

    // Where the time and memory go: P2's four quantities, the incremental
    // run's store calls by kind and the rest of its time, P4's peaks with
    // and without writing; each sample a real, non-negative quantity.
    for (id, unit, parts) in [
        ("P2", Unit::Seconds, 4),
        ("P3", Unit::Milliseconds, 7),
        ("P4", Unit::Mebibytes, 4),
    ] {
        let m = report.measure(id).unwrap();
        assert_eq!(m.breakdown.len(), parts, "{id}: {:?}", m.breakdown);
        for part in &m.breakdown {
            assert_eq!(part.unit, unit, "{id} {}", part.name);
            assert_eq!(part.summary.samples.len(), 3, "{id} {}", part.name);
            assert!(
                part.summary
                    .samples
                    .iter()
                    .all(|x| x.is_finite() && *x >= 0.0)
            );
        }
        assert_eq!(m.why_missed.is_some(), m.met() == Some(false), "{id}");
    }
    // The incremental run wrote something and flushed it: its creates and
    // flushes took time.
    let p3_calls = &report.measure("P3").unwrap().breakdown;
    assert!(p3_calls[0].summary.min > 0.0 && p3_calls[1].summary.min > 0.0);
    // Reading alone holds no more than reading and writing.
    let p4_peaks = &report.measure("P4").unwrap().breakdown;
    assert!(p4_peaks[1].summary.median <= p4_peaks[0].summary.median);
    assert!(p4_peaks[3].summary.median <= p4_peaks[2].summary.median);

    let page = markdown::render(&report);
    // A missed target is explained on the page, with its breakdown.
    let p2 = report.measure("P2").unwrap();
    assert_eq!(p2.met(), Some(false), "identity.wasm is far from 0.85");
    assert!(page.contains("## Targets not met"));
    assert!(page.contains("### P2\n\nWith identity.wasm a full migration took"));
    assert!(page.contains("| with identity.wasm, as measured |"));
    for id in IDS {
        assert!(
            page.contains(&format!("| {id} |")),
            "{id} missing from\n{page}"
        );
    }
    assert!(
        page.contains("| measure | what it is | median | spread (min – max) | target | met? |")
    );
    assert!(page.contains(&format!("{} cores", report.machine.cores)));
    let json: serde_json::Value = serde_json::to_value(&report).unwrap();
    assert_eq!(json["measures"].as_array().unwrap().len(), IDS.len());
    assert_eq!(json["runs"], 3);

    // Every store the bench made is gone.
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// In format 2 the bench measures the same rows but the plugin ones,
/// which say why they are skipped; the source is stored compactly.
#[tokio::test]
async fn a_format_2_bench_skips_the_plugin_rows_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let options = BenchOptions {
        format: Format::V2,
        only: Some(vec![Group::P1, Group::P2, Group::P5]),
        ..tiny(dir.path())
    };
    let report = bench::run(&options, &mut NoProgress).await.unwrap();
    assert_eq!(report.workload.format, Format::V2);
    for m in &report.measures {
        match m.id.as_str() {
            "P1-sled" | "P1-sqlite" | "P5" | "P5-quick" => {
                assert!(m.result.is_some(), "{}: {:?}", m.id, m.skipped)
            }
            id if id.starts_with("P2") => {
                let why = m.skipped.as_deref().unwrap_or_default();
                assert!(why.contains("format 1"), "{id}: {why}");
            }
            _ => assert!(m.result.is_none(), "{}", m.id),
        }
    }
    let md = markdown::render(&report);
    assert!(md.contains("--storage-format 2") && md.contains("storage format 2"));
}

#[tokio::test]
async fn raw_copy_holds_exactly_the_source_namespace_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let url = |name: &str| format!("sled:{}", dir.path().join(name).display());
    let src = store::open(&url("src")).await.unwrap();
    let db = Database::create(src.clone(), "demo").await.unwrap();
    generate(
        &db,
        &GenerateOptions {
            txs: 30,
            datoms_per_tx: 5,
            seed: 7,
        },
        |_| {},
    )
    .await
    .unwrap();
    // Another database in the same store must not be copied.
    Database::create(src.clone(), "other").await.unwrap();
    let dst = store::open(&url("dst")).await.unwrap();
    let copy = raw_copy(src.as_ref(), dst.as_ref(), "demo", 17)
        .await
        .unwrap();

    let all = |store: Arc<dyn ValueStore>, ns: &'static str| async move {
        let mut entries = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = store.scan(ns, after.as_deref(), 100).await.unwrap();
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            entries.extend(page);
        }
        entries
    };
    let source = all(src.clone(), "demo").await;
    let copied = all(dst.clone(), "demo").await;
    assert_eq!(copied, source);
    assert_eq!(copy.keys, source.len() as u64);
    assert_eq!(
        copy.bytes,
        source
            .iter()
            .map(|(k, v)| (k.len() + v.len()) as u64)
            .sum::<u64>()
    );
    assert_eq!(copy.batches, (source.len() as u64).div_ceil(17));
    assert_eq!(copy.already_present, 0);
    assert!(all(dst.clone(), "other").await.is_empty());
    assert_eq!(
        first_difference(src.as_ref(), dst.as_ref(), "demo", 10)
            .await
            .unwrap(),
        None
    );

    // Copying again changes nothing: create never overwrites.
    let again = raw_copy(src.as_ref(), dst.as_ref(), "demo", 64)
        .await
        .unwrap();
    assert_eq!(again.already_present, again.keys);
    assert_eq!(all(dst, "demo").await, source);
}

#[tokio::test]
async fn fewer_than_three_runs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let options = BenchOptions {
        runs: 2,
        ..tiny(dir.path())
    };
    let err = bench::run(&options, &mut NoProgress).await.unwrap_err();
    assert!(
        matches!(err, BenchError::TooFewRuns { runs: 2, min: 3 }),
        "{err}"
    );
}

#[test]
fn the_command_writes_markdown_and_json_and_refuses_two_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench.md");
    let stores = dir.path().join("stores");
    let assert = Command::new(BIN)
        .args(["bench", "--size", "tiny", "--out"])
        .arg(&out)
        .arg("--dir")
        .arg(&stores)
        .arg("--plugin-dir")
        .arg(plugin_dir())
        .env(
            "EVA_ADMIN_CACHE_DIR",
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache"),
        )
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).to_string();
    assert!(stdout.contains("| P1-sled |"), "{stdout}");
    let page = std::fs::read_to_string(&out).unwrap();
    assert!(page.starts_with("# Benchmarks"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("bench.json")).unwrap())
            .unwrap();
    assert_eq!(json["size"], "tiny");
    assert_eq!(std::fs::read_dir(&stores).unwrap().count(), 0);

    let refused = Command::new(BIN)
        .args(["bench", "--runs", "2"])
        .current_dir(dir.path())
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&refused.get_output().stderr).to_string();
    assert!(stderr.contains("at least 3 runs"), "{stderr}");
    assert!(!dir.path().join("BENCHMARKS.md").exists());
}
