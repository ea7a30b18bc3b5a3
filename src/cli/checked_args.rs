//! Value parsers for arguments that name things or count things: a value
//! outside what makes sense is a usage error naming the flag (exit 2), not
//! silently replaced by the nearest value that works.

use std::ops::RangeInclusive;

use crate::model::check_database_id;

/// A database id (`--db`), as every store can hold and every terminal
/// shows it (`model::check_database_id`).
pub fn database_id(text: &str) -> Result<String, String> {
    check_database_id(text)
        .map(|()| text.to_string())
        .map_err(|why| format!("{:?} cannot be a database id: {why}", text))
}

/// A key suffix (`--status-suffix`): the same rule as an id, since it
/// lands in the same keys.
pub fn key_suffix(text: &str) -> Result<String, String> {
    check_database_id(text)
        .map(|()| text.to_string())
        .map_err(|why| format!("{:?} cannot be a key suffix: {why}", text))
}

/// A count within `range` (a batch size, a number of requests in flight…).
fn count_in(text: &str, range: RangeInclusive<usize>) -> Result<usize, String> {
    text.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            format!(
                "`{text}` is not a whole number from {} to {}",
                range.start(),
                range.end()
            )
        })
}

/// `--batch-size`: nodes per destination write.
pub fn batch_size(text: &str) -> Result<usize, String> {
    count_in(text, 1..=65_536)
}

/// `--concurrency`: parallel source reads.
pub fn concurrency(text: &str) -> Result<usize, String> {
    count_in(text, 1..=256)
}

/// `--log-every`: entries between status writes.
pub fn log_every(text: &str) -> Result<u64, String> {
    count_in(text, 1..=1_000_000_000).map(|n| n as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_outside_their_range_are_refused() {
        for text in [
            "0",
            "-1",
            "1e3",
            "",
            "18446744073709551615",
            "99999999999999999999",
        ] {
            assert!(batch_size(text).is_err(), "{text}");
            assert!(concurrency(text).is_err(), "{text}");
            assert!(log_every(text).is_err(), "{text}");
        }
        assert_eq!(batch_size("256"), Ok(256));
        assert_eq!(concurrency("4"), Ok(4));
        assert_eq!(log_every("25"), Ok(25));
    }

    #[test]
    fn ids_are_checked() {
        assert_eq!(database_id("demo"), Ok("demo".to_string()));
        let err = database_id("a\nb").unwrap_err();
        assert!(err.contains("\"a\\nb\"") && err.contains("U+000A"), "{err}");
        assert!(key_suffix("").is_err());
    }
}
