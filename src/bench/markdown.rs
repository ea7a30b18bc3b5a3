//! The report as Markdown: the page `BENCHMARKS.md` holds, and the table
//! the command prints.

use std::fmt::Write;

use super::report::{BenchReport, Measure, Part, Unit};
use super::stats::Summary;

/// The whole page: heading, machine, workload, the table of measures, the
/// quantities behind each ratio and how each measure is taken.
pub fn render(report: &BenchReport) -> String {
    let mut out = String::new();
    let m = &report.machine;
    let _ = writeln!(out, "# Benchmarks\n");
    let postgres = report
        .measure("P1-postgres")
        .is_some_and(|m| m.result.is_some());
    let _ = writeln!(
        out,
        "Written by `eva-admin bench --size {} --runs {}{}{}` on {} ({:.0} s). \
         Every measure is a ratio of two quantities taken side by side in each run; \
         the median over the runs is compared with the target. \
         How to run it and what each measure means: [docs/performance.md](docs/performance.md).\n",
        report.size.name(),
        report.runs,
        if postgres { " --postgres URL" } else { "" },
        match report.workload.format {
            crate::model::Format::V1 => "",
            crate::model::Format::V2 => " --storage-format 2",
        },
        report.started,
        report.elapsed_seconds
    );
    let _ = writeln!(out, "- **Machine:** {}", machine_line(report));
    let build = match &m.commit {
        Some(commit) => format!("eva-admin {} at commit {commit}", m.version),
        None => format!("eva-admin {}", m.version),
    };
    let profile = if m.release_build {
        "release build"
    } else {
        "debug build (timings are not representative)"
    };
    let _ = writeln!(out, "- **Build:** {build}, {profile}");
    let w = &report.workload;
    let d = &report.database;
    let _ = writeln!(
        out,
        "- **Source database:** the demo generator, {} transactions × {} statements (seed {}): \
         {} tx-log entries, {} datoms, {} keys, {:.1} MB in one sled store in storage format {} \
         ({:.0} bytes a datom), written by `db generate` at {:.0} datoms/s\n",
        w.txs,
        w.datoms_per_tx,
        w.seed,
        d.entries,
        d.datoms,
        d.keys,
        d.bytes as f64 / 1e6,
        w.format.number(),
        d.bytes_per_datom(),
        d.generated_datoms_per_second()
    );
    out.push_str(&table(report));
    out.push_str(&targets_not_met(report));
    let _ = writeln!(out, "\n## Behind the ratios\n");
    let _ = writeln!(out, "| measure | quantity | median | min – max |");
    let _ = writeln!(out, "|---|---|---|---|");
    for measure in &report.measures {
        for part in &measure.parts {
            let _ = writeln!(out, "| {} {}", measure.id, part_cells(part));
        }
    }
    let _ = writeln!(out, "\n## How each is taken\n");
    for measure in &report.measures {
        if !measure.how.is_empty() {
            let _ = writeln!(out, "- **{}**: {}", measure.id, measure.how);
        }
    }
    out
}

/// For each measure that misses its target: why, and the breakdown this
/// run measured. Empty when every target is met.
fn targets_not_met(report: &BenchReport) -> String {
    let mut out = String::new();
    // Only the misses the bench can explain (the others are in the table).
    let missed: Vec<&Measure> = report
        .measures
        .iter()
        .filter(|m| m.met() == Some(false))
        .filter(|m| m.why_missed.is_some() || !m.breakdown.is_empty())
        .collect();
    if missed.is_empty() {
        return out;
    }
    let _ = writeln!(out, "\n## Targets not met: where the time and memory go");
    for m in missed {
        let _ = writeln!(out, "\n### {}", m.id);
        if let Some(why) = &m.why_missed {
            let _ = writeln!(out, "\n{why}");
        }
        if m.breakdown.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n| {} | median | min – max |", m.id);
        let _ = writeln!(out, "|---|---|---|");
        for part in &m.breakdown {
            let _ = writeln!(out, "{}", part_cells(part));
        }
    }
    out
}

/// A part's cells of a table row: `| name | median | min – max |`.
fn part_cells(part: &Part) -> String {
    let s = &part.summary;
    format!(
        "| {} | {} | {} – {} |",
        part.name,
        number(s.median, part.unit),
        number(s.min, part.unit),
        number(s.max, part.unit)
    )
}

/// The table of measures: measure, what it is, median, spread, target, met?
pub fn table(report: &BenchReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| measure | what it is | median | spread (min – max) | target | met? |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for m in &report.measures {
        let _ = writeln!(out, "{}", row(m));
    }
    out
}

fn row(m: &Measure) -> String {
    let target = m.target.map_or("—".to_string(), |t| t.to_string());
    if let Some(why) = &m.skipped {
        return format!(
            "| {} | {} | skipped: {why} | | {target} | — |",
            m.id, m.what
        );
    }
    let Some(s) = &m.result else {
        return format!("| {} | {} | no result | | {target} | — |", m.id, m.what);
    };
    let met = match m.met() {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => "—",
    };
    format!(
        "| {} | {} | {} | {} | {target} | {met} |",
        m.id,
        m.what,
        number(s.median, m.unit),
        spread(s, m.unit)
    )
}

fn spread(s: &Summary, unit: Unit) -> String {
    format!(
        "±{:.0} % ({} – {})",
        s.spread() * 50.0,
        number(s.min, unit),
        number(s.max, unit)
    )
}

/// A number with a precision that suits its unit and size.
fn number(value: f64, unit: Unit) -> String {
    let digits = match unit {
        Unit::Ratio if value.abs() < 0.1 => 4,
        Unit::Ratio => 2,
        Unit::Seconds if value.abs() < 0.01 => 4,
        Unit::Seconds if value.abs() < 1.0 => 3,
        Unit::Milliseconds if value.abs() < 0.1 => 3,
        Unit::Milliseconds => 2,
        Unit::Seconds | Unit::Microseconds | Unit::MegabytesPerSecond | Unit::Mebibytes => 1,
        Unit::DatomsPerSecond => 0,
    };
    format!("{value:.digits$}{}", unit.symbol())
}

fn machine_line(report: &BenchReport) -> String {
    let m = &report.machine;
    let mut line = format!("{} cores", m.cores);
    if let Some(cpu) = &m.cpu {
        line = format!("{line} ({cpu})");
    }
    if let Some(bytes) = m.memory_bytes {
        line = format!(
            "{line}, {:.1} GiB memory",
            bytes as f64 / (1u64 << 30) as f64
        );
    }
    format!("{line}, {}", m.os)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_suit_their_units() {
        assert_eq!(number(0.8312, Unit::Ratio), "0.83");
        assert_eq!(number(0.01234, Unit::Ratio), "0.0123");
        assert_eq!(number(38.24, Unit::Microseconds), "38.2 µs");
        assert_eq!(number(0.2512, Unit::Seconds), "0.251 s");
        assert_eq!(number(0.00312, Unit::Seconds), "0.0031 s");
        assert_eq!(number(0.4912, Unit::Milliseconds), "0.49 ms");
        assert_eq!(number(0.0041, Unit::Milliseconds), "0.004 ms");
        let s = Summary::of(vec![0.9, 1.1, 1.0]).unwrap();
        assert_eq!(spread(&s, Unit::Ratio), "±10 % (0.90 – 1.10)");
    }
}
