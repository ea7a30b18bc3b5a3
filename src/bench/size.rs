//! How big the benchmark's databases are: a named size and the demo
//! workload it stands for.

use serde::{Serialize, Serializer};

use crate::model::Format;

/// A named size of the benchmark's source database (the seeded demo
/// database of [`crate::db::generate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Size {
    /// A few dozen transactions: for the test suite, seconds in a debug build.
    Tiny,
    /// About a minute for the whole bench on 2 cores (release build).
    Small,
    /// A few times `small`.
    Medium,
    /// A long run: ten times `medium`, and 10× that for the memory measure.
    Large,
}

impl Size {
    /// Every size, smallest first.
    pub const ALL: [Size; 4] = [Size::Tiny, Size::Small, Size::Medium, Size::Large];

    /// The size's name as the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            Size::Tiny => "tiny",
            Size::Small => "small",
            Size::Medium => "medium",
            Size::Large => "large",
        }
    }

    /// The demo workload this size generates in format 1 (whose bytes a
    /// datom grow with the database, so its sizes stay small).
    pub fn workload(self) -> Workload {
        self.workload_in(Format::V1)
    }

    /// The demo workload this size generates in storage `format`. In
    /// format 2 the sizes are in datoms: `small` about 100,000, `medium`
    /// about 1 million, `large` about 10 million (10 statements a
    /// transaction give about 11.5 datoms).
    pub fn workload_in(self, format: Format) -> Workload {
        let txs = match (format, self) {
            (_, Size::Tiny) => 20,
            (Format::V1, Size::Small) => 300,
            (Format::V1, Size::Medium) => 1_000,
            (Format::V1, Size::Large) => 10_000,
            (Format::V2, Size::Small) => 8_700,
            (Format::V2, Size::Medium) => 87_000,
            (Format::V2, Size::Large) => 870_000,
        };
        Workload {
            txs,
            datoms_per_tx: if self == Size::Tiny { 5 } else { 10 },
            seed: 1,
            format,
        }
    }
}

/// What the generator is asked for: `txs` data transactions of
/// `datoms_per_tx` statements each, from `seed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Workload {
    /// Data transactions (after the schema transaction).
    pub txs: u64,
    /// Statements per data transaction.
    pub datoms_per_tx: usize,
    /// The generator's seed.
    pub seed: u64,
    /// The storage format the databases are written in.
    #[serde(serialize_with = "format_number")]
    pub format: Format,
}

/// A format as its number in the JSON report.
fn format_number<S: Serializer>(format: &Format, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u8(format.number())
}

impl Workload {
    /// The same workload with `factor` times the transactions (the memory
    /// measure's larger database).
    pub fn scaled(self, factor: u64) -> Workload {
        Workload {
            txs: self.txs.saturating_mul(factor),
            ..self
        }
    }

    /// The transactions that grow the database by `percent` % (at least one).
    pub fn growth(self, percent: u64) -> u64 {
        (self.txs.saturating_mul(percent) / 100).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_grow_and_growth_is_never_zero() {
        let txs: Vec<u64> = Size::ALL.iter().map(|s| s.workload().txs).collect();
        assert!(txs.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(Size::Tiny.workload().growth(1), 1);
        assert_eq!(Size::Medium.workload().growth(1), 10);
        assert_eq!(Size::Small.workload().scaled(10).txs, 3_000);
        let datoms: Vec<u64> = Size::ALL
            .iter()
            .map(|s| s.workload_in(Format::V2).txs)
            .collect();
        assert!(datoms.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(Size::Large.workload_in(Format::V2).txs, 870_000);
    }
}
