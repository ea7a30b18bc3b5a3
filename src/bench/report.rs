//! What a benchmark found: one [`Measure`] per row of the table, with the
//! quantities behind each ratio, the machine and the workload. Serialises
//! to the JSON the bench writes; [`super::markdown`] renders it.

use serde::Serialize;

use super::machine::Machine;
use super::size::{Size, Workload};
use super::stats::Summary;

/// The whole report of one `eva-admin bench` run.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// The machine and build measured.
    pub machine: Machine,
    /// The size asked for.
    pub size: Size,
    /// The source database's workload.
    pub workload: Workload,
    /// The source database as stored.
    pub database: DatabaseFacts,
    /// Runs per measurement.
    pub runs: usize,
    /// When the bench started (RFC 3339, UTC).
    pub started: String,
    /// Wall time of the whole bench, in seconds.
    pub elapsed_seconds: f64,
    /// The measurements, in table order.
    pub measures: Vec<Measure>,
}

impl BenchReport {
    /// The measure with this id, if the report has it.
    pub fn measure(&self, id: &str) -> Option<&Measure> {
        self.measures.iter().find(|m| m.id == id)
    }
}

/// The source database every measurement reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct DatabaseFacts {
    /// Tx-log entries (transaction 0 and the schema included).
    pub entries: u64,
    /// Keys in its namespace.
    pub keys: u64,
    /// Bytes of those keys and values.
    pub bytes: u64,
    /// Datoms in its tx-log entries (every assertion and retraction, the
    /// history): what the per-datom figures divide by.
    pub datoms: u64,
    /// Seconds `db generate` took to write it (schema and data transactions).
    pub generate_seconds: f64,
}

impl DatabaseFacts {
    /// Everything stored (keys and values) per datom of history.
    pub fn bytes_per_datom(&self) -> f64 {
        self.bytes as f64 / self.datoms.max(1) as f64
    }

    /// How fast `db generate` wrote the datoms.
    pub fn generated_datoms_per_second(&self) -> f64 {
        self.datoms as f64 / self.generate_seconds.max(f64::MIN_POSITIVE)
    }
}

/// One row of the table: a quantity measured over the runs, compared with
/// its target when it has one.
#[derive(Debug, Clone, Serialize)]
pub struct Measure {
    /// A short id: `P1-sled`, `P2`, `P2-batch-16`, `rebuild`…
    pub id: String,
    /// What is measured, in a few words.
    pub what: String,
    /// How it is taken, in a sentence.
    pub how: String,
    /// The unit of the result.
    pub unit: Unit,
    /// The result over the runs; `None` when skipped.
    pub result: Option<Summary>,
    /// The target, when there is one.
    pub target: Option<Target>,
    /// Why the measure was not taken, when it was not.
    pub skipped: Option<String>,
    /// The quantities the result is the ratio of, each over the runs.
    pub parts: Vec<Part>,
    /// Where the measured time or memory goes, each over the runs: taken
    /// for the measures whose target is hard to meet, shown when it is not.
    pub breakdown: Vec<Part>,
    /// When the target is not met: why, in words built from this run's
    /// numbers (what the breakdown shows and what would have to change).
    pub why_missed: Option<String>,
}

impl Measure {
    /// Whether the median meets the target; `None` without a target or a result.
    pub fn met(&self) -> Option<bool> {
        Some(self.target?.met(self.result.as_ref()?.median))
    }
}

/// A quantity behind a ratio (a throughput, a peak memory…), over the runs.
#[derive(Debug, Clone, Serialize)]
pub struct Part {
    /// What it is.
    pub name: String,
    /// Its unit.
    pub unit: Unit,
    /// Its samples, median and range.
    pub summary: Summary,
}

/// The unit of a measure or part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// A dimensionless ratio.
    Ratio,
    /// Microseconds.
    Microseconds,
    /// Seconds.
    Seconds,
    /// Milliseconds.
    Milliseconds,
    /// Megabytes (10⁶ bytes) of the source database per second.
    MegabytesPerSecond,
    /// Mebibytes (2²⁰ bytes).
    Mebibytes,
    /// Datoms of the source database's history per second.
    DatomsPerSecond,
}

impl Unit {
    /// The unit's symbol after a number ("" for a ratio).
    pub fn symbol(self) -> &'static str {
        match self {
            Unit::Ratio => "",
            Unit::Microseconds => " µs",
            Unit::Seconds => " s",
            Unit::Milliseconds => " ms",
            Unit::MegabytesPerSecond => " MB/s",
            Unit::Mebibytes => " MiB",
            Unit::DatomsPerSecond => " datoms/s",
        }
    }
}

/// A performance target.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The median must be at least this.
    AtLeast(f64),
    /// The median must be at most this.
    AtMost(f64),
}

impl Target {
    /// Whether `value` meets the target.
    pub fn met(self, value: f64) -> bool {
        match self {
            Target::AtLeast(t) => value >= t,
            Target::AtMost(t) => value <= t,
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::AtLeast(t) => write!(f, "≥ {t}"),
            Target::AtMost(t) => write!(f, "≤ {t}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measure(samples: Vec<f64>, target: Option<Target>) -> Measure {
        Measure {
            id: "x".into(),
            what: String::new(),
            how: String::new(),
            unit: Unit::Ratio,
            result: Summary::of(samples),
            target,
            skipped: None,
            parts: Vec::new(),
            breakdown: Vec::new(),
            why_missed: None,
        }
    }

    #[test]
    fn a_target_is_met_by_the_median() {
        let m = measure(vec![0.7, 0.9, 0.85], Some(Target::AtLeast(0.8)));
        assert_eq!(m.met(), Some(true));
        let m = measure(vec![0.05, 0.01, 0.04], Some(Target::AtMost(0.03)));
        assert_eq!(m.met(), Some(false));
        assert_eq!(measure(vec![1.0], None).met(), None);
        assert_eq!(measure(vec![], Some(Target::AtMost(1.0))).met(), None);
        assert_eq!(Target::AtLeast(0.8).to_string(), "≥ 0.8");
    }
}
