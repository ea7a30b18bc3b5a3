//! What the SQL backends share: the `eva_kv` table shape (Eva's), the time
//! allowed to reach a server, and how big batches are cut into statements.

use std::time::Duration;

use super::Entry;

/// SQLite DDL. `TEXT` compares with the default `BINARY` collation, i.e. byte-wise.
pub(crate) const SQLITE_DDL: &str = "CREATE TABLE IF NOT EXISTS eva_kv (
    namespace TEXT NOT NULL,
    id TEXT NOT NULL,
    attrs TEXT,
    val BLOB NOT NULL,
    PRIMARY KEY (namespace, id)
)";

/// PostgreSQL DDL. The key columns use the `C` collation so the primary key's
/// index is in byte order; queries still say `COLLATE "C"` in case the table
/// was created by someone else with the database's default collation.
pub(crate) const POSTGRES_DDL: &str = r#"CREATE TABLE IF NOT EXISTS eva_kv (
    namespace TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    attrs TEXT,
    val BYTEA NOT NULL,
    PRIMARY KEY (namespace, id)
)"#;

/// MariaDB DDL. `VARBINARY` keys compare byte-wise and case-sensitively;
/// `LONGBLOB` holds values far beyond the 4 MiB the store promises (the
/// server's `max_allowed_packet` is the practical limit).
pub(crate) const MYSQL_DDL: &str = "CREATE TABLE IF NOT EXISTS eva_kv (
    namespace VARBINARY(255) NOT NULL,
    id VARBINARY(1024) NOT NULL,
    attrs TEXT NULL,
    val LONGBLOB NOT NULL,
    PRIMARY KEY (namespace, id)
) ENGINE=InnoDB";

/// How long opening a server store may take (connect, authenticate, create
/// the table) before it is reported as unreachable.
pub(crate) const OPEN_TIMEOUT: Duration = Duration::from_secs(5);

/// A timeout as messages show it: `5 s`, `1.5 s`.
pub(crate) fn show_secs(limit: Duration) -> String {
    format!("{} s", limit.as_secs_f64())
}

/// At most this many rows go into one statement.
pub(crate) const MAX_ROWS_PER_STATEMENT: usize = 1000;

/// At most this many keys go into one `IN (…)` / `= ANY(…)` lookup.
pub(crate) const MAX_KEYS_PER_LOOKUP: usize = 1000;

/// Cuts `entries` into consecutive chunks of at most `max_rows` entries and
/// roughly at most `max_bytes` of keys and values; an entry bigger than
/// `max_bytes` travels alone.
pub(crate) fn chunk_entries(entries: &[Entry], max_rows: usize, max_bytes: usize) -> Vec<&[Entry]> {
    let max_rows = max_rows.max(1);
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, (key, value)) in entries.iter().enumerate() {
        let size = key.len() + value.len();
        if i > start && (i - start >= max_rows || bytes + size > max_bytes) {
            chunks.push(&entries[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < entries.len() {
        chunks.push(&entries[start..]);
    }
    chunks
}

/// `?, ?, …` with `n` placeholders, or `(?, ?, ?), …` for rows when
/// `per_row > 1`.
pub(crate) fn placeholders(n: usize, per_row: usize) -> String {
    let row = if per_row == 1 {
        "?".to_string()
    } else {
        format!("({})", vec!["?"; per_row].join(", "))
    };
    vec![row; n].join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(sizes: &[usize]) -> Vec<Entry> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| (format!("{i}"), vec![0; n]))
            .collect()
    }

    #[test]
    fn chunks_by_rows_and_bytes_keeping_order() {
        let e = entries(&[10; 7]);
        let lens: Vec<usize> = chunk_entries(&e, 3, 1 << 20)
            .iter()
            .map(|c| c.len())
            .collect();
        assert_eq!(lens, [3, 3, 1]);

        let e = entries(&[40, 40, 40, 200, 10]);
        let lens: Vec<usize> = chunk_entries(&e, 100, 100)
            .iter()
            .map(|c| c.len())
            .collect();
        assert_eq!(lens, [2, 1, 1, 1]);
        let flat: Vec<&Entry> = chunk_entries(&e, 100, 100).into_iter().flatten().collect();
        assert_eq!(flat.len(), e.len());

        assert!(chunk_entries(&[], 10, 10).is_empty());
    }

    #[test]
    fn builds_placeholders() {
        assert_eq!(placeholders(3, 1), "?, ?, ?");
        assert_eq!(placeholders(2, 3), "(?, ?, ?), (?, ?, ?)");
    }
}
