//! The rows of the report: each measure's words and target, its samples
//! taken (with a phase of progress) and turned into a ratio and the
//! quantities behind it.

use super::lab::{Lab, PAGE};
use super::measure::{self, IncrementalRuns, Pairs, StoreCalls, copy::Backend};
use super::plugin_cost::BATCH_SIZES;
use super::report::{Measure, Part, Target, Unit};
use super::shortfall::{self, IncrementalShortfall, MemoryShortfall, PluginShortfall};
use super::stats::Summary;
use super::{BenchError, BenchOptions, BenchProgress, Group};

/// P1: full migration ÷ raw copy, into sled or PostgreSQL (skipped
/// without `--postgres`).
pub(super) async fn copy(
    lab: &mut Lab,
    backend: Backend,
    options: &BenchOptions,
    progress: &mut dyn BenchProgress,
) -> Result<Measure, BenchError> {
    let (id, name, into) = match backend {
        Backend::Sled => (
            "P1-sled",
            "sled→sled",
            "an empty sled store, then a full migration into another",
        ),
        Backend::Postgres => (
            "P1-postgres",
            "sled→PostgreSQL",
            "the bench's namespace in the PostgreSQL store, then (the namespace emptied) a full migration into it",
        ),
    };
    let mut m = Measure::new(
        id,
        &format!("full migration ÷ raw key-value copy, {name} (throughput)"),
        &format!(
            "Per run: a raw copy (scan the source namespace in pages of {PAGE}, create_many each page) into {into}; throughput = source bytes ÷ wall time, flush included."
        ),
        Unit::Ratio,
        Some(Target::AtLeast(0.8)),
    );
    if let Some(why) = options.unselected(Group::P1) {
        m.skip(why);
        return Ok(m);
    }
    let runs = options.runs;
    if backend == Backend::Postgres && lab.postgres_url().is_none() {
        m.skip("no --postgres");
        return Ok(m);
    }
    progress.phase(&format!("P1 {name}"), runs as u64);
    let pairs = measure::migration_vs_raw_copy(lab, backend, runs, &mut || progress.step()).await?;
    m.throughputs(&pairs, lab.facts.bytes, "raw copy", "migration");
    m.datom_rate("migration", &pairs.subject, lab.facts.datoms);
    Ok(m)
}

/// P1-sqlite: full migration SQLite→SQLite ÷ `sqlite3 .backup` of the
/// same file (skipped where the sqlite3 program is missing).
pub(super) async fn sqlite_backup(
    lab: &mut Lab,
    options: &BenchOptions,
    progress: &mut dyn BenchProgress,
) -> Result<Measure, BenchError> {
    let mut m = Measure::new(
        "P1-sqlite",
        "full migration ÷ SQLite's own backup of the same file, SQLite→SQLite (throughput)",
        "Once: the source copied raw into a SQLite file. Per run: `sqlite3 SRC \".backup DST\"` into a new file (the program started and the pages copied), then a full migration into a new SQLite store; throughput = source bytes ÷ wall time.",
        Unit::Ratio,
        Some(Target::AtLeast(0.5)),
    );
    if let Some(why) = options.unselected(Group::P1) {
        m.skip(why);
        return Ok(m);
    }
    if !measure::sqlite3_available() {
        m.skip("the sqlite3 program is missing (apt-get install sqlite3)");
        return Ok(m);
    }
    let runs = options.runs;
    progress.phase("P1 SQLite→SQLite against sqlite3 .backup", runs as u64);
    let pairs = measure::migration_vs_sqlite_backup(lab, runs, &mut || progress.step()).await?;
    m.throughputs(&pairs, lab.facts.bytes, "sqlite3 .backup", "migration");
    m.datom_rate("migration", &pairs.subject, lab.facts.datoms);
    Ok(m)
}

/// P2: migration through identity.wasm ÷ without plugins, the same through
/// a transform compiled into the host (the floor under P2), then the
/// host's cost per node at each batch size (all but the floor skipped
/// without identity.wasm).
pub(super) async fn plugin(
    lab: &mut Lab,
    options: &BenchOptions,
    progress: &mut dyn BenchProgress,
) -> Result<Vec<Measure>, BenchError> {
    let mut p2 = Measure::new(
        "P2",
        "full migration with the identity plugin ÷ without plugins (throughput)",
        "Per run: a full migration into an empty sled store without plugins, then one through identity.wasm (read and write hooks, every batch unchanged; loaded before the clock starts).",
        Unit::Ratio,
        Some(Target::AtLeast(0.85)),
    );
    let mut floor = Measure::new(
        "P2-floor",
        "full migration through a transform compiled into the host, returning every batch unchanged ÷ without (throughput): the most any plugin seeing whole nodes can reach",
        "Per run: a full migration into an empty sled store without transforms, then one through a native identity transform (both hooks): every node decoded whole, checked and encoded again, nothing crossing into a sandbox.",
        Unit::Ratio,
        None,
    );
    let mut costs: Vec<Measure> = BATCH_SIZES
        .iter()
        .map(|batch| {
            Measure::new(
                &format!("P2-batch-{batch}"),
                &format!("host's cost per node of a plugin call, batch {batch}"),
                "",
                Unit::Microseconds,
                None,
            )
        })
        .collect();
    if let Some(why) = options.unselected(Group::P2) {
        for m in [&mut p2, &mut floor].into_iter().chain(&mut costs) {
            m.skip(why);
        }
        return Ok([p2, floor].into_iter().chain(costs).collect());
    }
    if lab.workload.format == crate::model::Format::V2 {
        let why = "plugins see format 1 nodes only (run the bench with --storage-format 1 for these rows)";
        for m in [&mut p2, &mut floor].into_iter().chain(&mut costs) {
            m.skip(why);
        }
        return Ok([p2, floor].into_iter().chain(costs).collect());
    }
    let runs = options.runs;
    progress.phase("P2 floor (native identity)", runs as u64);
    let floor_pairs = measure::native_identity_vs_none(lab, runs, &mut || progress.step()).await?;
    floor.throughputs(
        &floor_pairs,
        lab.facts.bytes,
        "without transforms",
        "native identity",
    );

    let identity = options.plugin_dir.join("identity.wasm");
    if !identity.is_file() {
        let why = format!(
            "no identity.wasm in {} (build it: bash plugins/build.sh; or pass --plugin-dir)",
            options.plugin_dir.display()
        );
        for m in std::iter::once(&mut p2).chain(&mut costs) {
            m.skip(&why);
        }
        return Ok([p2, floor].into_iter().chain(costs).collect());
    }
    let sandbox = &options.plugin_options;
    progress.phase("P2 identity plugin", runs as u64);
    let plugin_pairs =
        measure::identity_vs_none(lab, &identity, sandbox, runs, &mut || progress.step()).await?;
    p2.throughputs(
        &plugin_pairs,
        lab.facts.bytes,
        "without plugins",
        "with identity",
    );
    progress.phase("P2 cost per node", runs as u64);
    let (samples, datoms) =
        measure::host_cost_per_node(lab, &identity, sandbox, &BATCH_SIZES, runs, &mut || {
            progress.step()
        })
        .await?;
    for ((m, samples), batch) in costs.iter_mut().zip(samples).zip(BATCH_SIZES) {
        m.how = format!(
            "Per run: identity.wasm's read hook called on up to 2048 of the source's index leaves ({datoms:.0} datoms each on average), {batch} node(s) per call, conversions both ways included; time ÷ nodes."
        );
        m.result = Summary::of(samples);
    }
    let nodes = lab.facts.keys;
    explain_plugin(&mut p2, &floor, &costs, &plugin_pairs, &floor_pairs, nodes);
    Ok([p2, floor].into_iter().chain(costs).collect())
}

/// P2's breakdown, run by run — the migration without plugins, what seeing
/// whole nodes adds (P2-floor's extra time), the rest of the identity run
/// (crossing into the guest and back) and the identity run as measured —
/// and, when P2 misses its target, why.
fn explain_plugin(
    p2: &mut Measure,
    floor: &Measure,
    costs: &[Measure],
    plugin: &Pairs,
    native: &Pairs,
    nodes: u64,
) {
    let records: Vec<f64> = native
        .subject
        .iter()
        .zip(&native.baseline)
        .map(|(with, without)| (with - without).max(0.0))
        .collect();
    let crossings: Vec<f64> = plugin
        .subject
        .iter()
        .zip(&plugin.baseline)
        .zip(&records)
        .map(|((with, without), records)| (with - without - records).max(0.0))
        .collect();
    p2.breakdown_part("without plugins", Unit::Seconds, &plugin.baseline);
    p2.breakdown_part(
        "decoding, checking and encoding every node (P2-floor's extra time)",
        Unit::Seconds,
        &records,
    );
    p2.breakdown_part(
        "crossing into the guest and back (the rest of the identity run)",
        Unit::Seconds,
        &crossings,
    );
    p2.breakdown_part(
        "with identity.wasm, as measured",
        Unit::Seconds,
        &plugin.subject,
    );
    if p2.met() == Some(false) {
        let median = |samples: &[f64]| shortfall::median_of(samples, |s| *s);
        let measured_per_node = costs.last().and_then(|m| m.result.as_ref());
        p2.why_missed = Some(shortfall::plugin(&PluginShortfall {
            plain: median(&plugin.baseline),
            identity: median(&plugin.subject),
            records: median(&records),
            crossings: median(&crossings),
            floor: floor.result.as_ref().map_or(0.0, |s| s.median),
            target: match p2.target {
                Some(Target::AtLeast(t) | Target::AtMost(t)) => t,
                None => 0.0,
            },
            nodes,
            measured_micros_per_node: measured_per_node.map(|s| s.median),
        }));
    }
}

/// P3: incremental run after 1 % growth ÷ full run.
pub(super) async fn incremental(
    lab: &mut Lab,
    options: &BenchOptions,
    progress: &mut dyn BenchProgress,
) -> Result<Measure, BenchError> {
    let mut m = Measure::new(
        "P3",
        "incremental run after the source grew by 1 % ÷ full run (time)",
        "Per run: a byte-exact copy of the source is migrated in full into an empty sled store; it then grows by 1 % of its transactions (at least one) and the same migration runs again, copying what is new.",
        Unit::Ratio,
        Some(Target::AtMost(0.03)),
    );
    if let Some(why) = options.unselected(Group::P3) {
        m.skip(why);
        return Ok(m);
    }
    let runs = options.runs;
    progress.phase("P3 incremental run", runs as u64);
    let taken = measure::incremental_vs_full(lab, runs, &mut || progress.step()).await?;
    let pairs = &taken.seconds;
    m.result = Summary::of(pairs.ratios());
    m.part("full run", Unit::Seconds, &pairs.baseline);
    m.part("incremental run", Unit::Seconds, &pairs.subject);
    explain_incremental(&mut m, &taken);
    Ok(m)
}

/// P3's breakdown: the incremental run's store calls by kind, and the rest
/// of its time; when P3 misses its target, why.
fn explain_incremental(m: &mut Measure, taken: &IncrementalRuns) {
    let calls = &taken.calls;
    let rest: Vec<f64> = calls
        .iter()
        .zip(&taken.seconds.subject)
        .map(|(c, total)| (total - c.seconds()).max(0.0) * 1e3)
        .collect();
    let names = calls.first().map(StoreCalls::named).unwrap_or_default();
    for (kind, (name, _)) in names.iter().enumerate() {
        let ms: Vec<f64> = calls
            .iter()
            .map(|c| c.named()[kind].1.seconds * 1e3)
            .collect();
        m.breakdown_part(name, Unit::Milliseconds, &ms);
    }
    m.breakdown_part(
        "the rest (the copier, the migration's own work)",
        Unit::Milliseconds,
        &rest,
    );
    let (Some(Target::AtMost(target)), Some(false)) = (m.target, m.met()) else {
        return;
    };
    let median = |of: &dyn Fn(&StoreCalls) -> f64| shortfall::median_of(calls, of);
    m.why_missed = Some(shortfall::incremental(&IncrementalShortfall {
        full: shortfall::median_of(&taken.seconds.baseline, |s| *s),
        incremental: shortfall::median_of(&taken.seconds.subject, |s| *s),
        target,
        flushes: (
            median(&|c| c.flushes.calls as f64),
            median(&|c| c.flushes.seconds),
        ),
        creates: (
            median(&|c| c.creates.keys as f64),
            median(&|c| c.creates.seconds),
        ),
        checks: (
            median(&|c| c.checks.keys as f64),
            median(&|c| c.checks.calls as f64),
            median(&|c| c.checks.seconds),
        ),
        rest: shortfall::median_of(&rest, |s| *s / 1e3),
    }));
}

/// P4: peak memory migrating the 10× database ÷ the source (skipped
/// without an executable to run).
pub(super) async fn memory(
    lab: &mut Lab,
    options: &BenchOptions,
    progress: &mut dyn BenchProgress,
) -> Result<Measure, BenchError> {
    let mut m = Measure::new(
        "P4",
        "peak resident memory migrating a database 10× larger ÷ the smaller one",
        "Per run: `eva-admin migrate` of the source and then of a database of 10× its transactions, each a child process into an empty sled store; its peak resident set size is VmHWM of /proc/<pid>/status read every 2 ms, or wait4's ru_maxrss when that exceeds the bench's own peak. The same runs' throughputs (bytes of each source ÷ the process's wall time, start-up included) show how the migration scales.",
        Unit::Ratio,
        Some(Target::AtMost(1.3)),
    );
    if let Some(why) = options.unselected(Group::P4) {
        m.skip(why);
        return Ok(m);
    }
    let Some(exe) = &options.exe else {
        m.skip("no eva-admin executable to run as a child process");
        return Ok(m);
    };
    let large = lab.workload.scaled(measure::FACTOR).txs;
    progress.phase("P4 generating the 10× larger database", large);
    let sources = measure::MemorySources::make(lab, |_| progress.step()).await?;
    progress.phase("P4 peak memory", options.runs as u64);
    let taken =
        measure::peak_memory(lab, exe, &sources, options.runs, &mut || progress.step()).await;
    let large_bytes = sources.large_bytes;
    sources.remove()?;
    let taken = taken?;
    let mib =
        |bytes: &[f64]| -> Vec<f64> { bytes.iter().map(|b| b / f64::from(1 << 20)).collect() };
    let rss = &taken.peak_rss;
    m.result = Summary::of(rss.ratios());
    m.part("peak RSS, source", Unit::Mebibytes, &mib(&rss.baseline));
    m.part("peak RSS, 10× source", Unit::Mebibytes, &mib(&rss.subject));
    let secs = &taken.seconds;
    m.part(
        "migration, source (the whole process)",
        Unit::MegabytesPerSecond,
        &megabytes_per_second(lab.facts.bytes, &secs.baseline),
    );
    m.part(
        "migration, 10× source (the whole process)",
        Unit::MegabytesPerSecond,
        &megabytes_per_second(large_bytes, &secs.subject),
    );
    let reading = &taken.reading_only;
    m.breakdown_part("peak RSS, source", Unit::Mebibytes, &mib(&rss.baseline));
    m.breakdown_part(
        "peak RSS, source, reading only (`--dry-run`)",
        Unit::Mebibytes,
        &mib(&reading.baseline),
    );
    m.breakdown_part("peak RSS, 10× source", Unit::Mebibytes, &mib(&rss.subject));
    m.breakdown_part(
        "peak RSS, 10× source, reading only (`--dry-run`)",
        Unit::Mebibytes,
        &mib(&reading.subject),
    );
    if m.met() == Some(false) {
        let median = |bytes: &[f64]| shortfall::median_of(&mib(bytes), |s| *s);
        m.why_missed = Some(shortfall::memory(&MemoryShortfall {
            small: median(&rss.baseline),
            large: median(&rss.subject),
            small_reading: median(&reading.baseline),
            large_reading: median(&reading.subject),
        }));
    }
    Ok(m)
}

/// P5: verify throughput ÷ migration throughput, in full and `--quick`.
pub(super) async fn verify(
    lab: &mut Lab,
    options: &BenchOptions,
    progress: &mut dyn BenchProgress,
) -> Result<Vec<Measure>, BenchError> {
    let mut full = Measure::new(
        "P5",
        "verify throughput ÷ migration throughput",
        "Per run: a full migration into an empty sled store, then `verify` of the source against it (every entry compared, every node reachable from any entry checked); throughput = source bytes ÷ wall time.",
        Unit::Ratio,
        Some(Target::AtLeast(1.0)),
    );
    let mut quick = Measure::new(
        "P5-quick",
        "verify --quick throughput ÷ migration throughput",
        "The same runs: after the full verify, `verify --quick` (the latest entry compared, every node of the latest view read and checked against its key); throughput = source bytes ÷ wall time.",
        Unit::Ratio,
        None,
    );
    if let Some(why) = options.unselected(Group::P5) {
        full.skip(why);
        quick.skip(why);
        return Ok(vec![full, quick]);
    }
    let runs = options.runs;
    progress.phase("P5 verify", runs as u64);
    let (pairs, quick_pairs) =
        measure::verify_vs_migration(lab, runs, &mut || progress.step()).await?;
    full.throughputs(&pairs, lab.facts.bytes, "migration", "verify");
    full.datom_rate("verify", &pairs.subject, lab.facts.datoms);
    quick.throughputs(&quick_pairs, lab.facts.bytes, "migration", "verify --quick");
    Ok(vec![full, quick])
}

/// Rebuild mode (no transforms) ÷ plain migration; no target yet.
pub(super) async fn rebuild(
    lab: &mut Lab,
    options: &BenchOptions,
    progress: &mut dyn BenchProgress,
) -> Result<Measure, BenchError> {
    let mut m = Measure::new(
        "rebuild",
        "rebuild mode throughput ÷ plain migration (no transforms)",
        "Per run: a full migration into an empty sled store, then `migrate --rebuild` with no transforms (every transaction replayed through the writer) into another.",
        Unit::Ratio,
        None,
    );
    if let Some(why) = options.unselected(Group::Rebuild) {
        m.skip(why);
        return Ok(m);
    }
    let runs = options.runs;
    progress.phase("rebuild mode", runs as u64);
    let pairs = measure::rebuild_vs_migration(lab, runs, &mut || progress.step()).await?;
    m.throughputs(&pairs, lab.facts.bytes, "migration", "rebuild");
    Ok(m)
}

impl Part {
    /// A part from its samples; `None` without any.
    fn of(name: &str, unit: Unit, samples: &[f64]) -> Option<Part> {
        Some(Part {
            name: name.to_string(),
            unit,
            summary: Summary::of(samples.to_vec())?,
        })
    }
}

impl Measure {
    fn new(id: &str, what: &str, how: &str, unit: Unit, target: Option<Target>) -> Measure {
        Measure {
            id: id.to_string(),
            what: what.to_string(),
            how: how.to_string(),
            unit,
            result: None,
            target,
            skipped: None,
            parts: Vec::new(),
            breakdown: Vec::new(),
            why_missed: None,
        }
    }

    fn skip(&mut self, why: &str) {
        self.skipped = Some(why.to_string());
    }

    /// A part giving `what`'s rate in datoms of the source's history per
    /// second, from the seconds of each run.
    fn datom_rate(&mut self, what: &str, seconds: &[f64], datoms: u64) {
        let rates: Vec<f64> = seconds.iter().map(|s| datoms as f64 / s).collect();
        self.part(what, Unit::DatomsPerSecond, &rates);
    }

    fn part(&mut self, name: &str, unit: Unit, samples: &[f64]) {
        if let Some(part) = Part::of(name, unit, samples) {
            self.parts.push(part);
        }
    }

    fn breakdown_part(&mut self, name: &str, unit: Unit, samples: &[f64]) {
        if let Some(part) = Part::of(name, unit, samples) {
            self.breakdown.push(part);
        }
    }

    /// The result from seconds taken side by side: the subject's throughput
    /// over the baseline's, and both throughputs in MB/s of `bytes`.
    fn throughputs(&mut self, pairs: &Pairs, bytes: u64, baseline: &str, subject: &str) {
        self.result = Summary::of(pairs.inverse_ratios());
        let rate = |secs: &[f64]| megabytes_per_second(bytes, secs);
        self.part(baseline, Unit::MegabytesPerSecond, &rate(&pairs.baseline));
        self.part(subject, Unit::MegabytesPerSecond, &rate(&pairs.subject));
    }
}

/// Throughputs in MB/s of `bytes` moved in each of `seconds`.
fn megabytes_per_second(bytes: u64, seconds: &[f64]) -> Vec<f64> {
    seconds.iter().map(|s| bytes as f64 / s / 1e6).collect()
}
