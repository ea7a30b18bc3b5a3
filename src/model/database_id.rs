//! What a database id may be. An id names a namespace in every store and
//! is the key of the database's database-info, and messages and commands
//! show it: it must fit every backend's key columns (MariaDB's namespace
//! column is 255 bytes) with room for the status record's suffix, and must
//! read the same on a terminal as it does in a script.

/// The longest database id, in bytes (UTF-8).
pub const MAX_DATABASE_ID_BYTES: usize = 128;

/// Checks a database id (or a key suffix, which lands in the same keys):
/// 1 to [`MAX_DATABASE_ID_BYTES`] bytes, no control or invisible
/// formatting characters, no leading or trailing white space. The error
/// says what is wrong, for the message that names the flag.
pub fn check_database_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("it is empty".to_string());
    }
    if id.len() > MAX_DATABASE_ID_BYTES {
        return Err(format!(
            "it is {} bytes long; at most {MAX_DATABASE_ID_BYTES} fit every store",
            id.len()
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|&c| c.is_control() || crate::safe_text::is_format_control(c))
    {
        return Err(format!(
            "it holds the character U+{:04X}, which a terminal does not show as itself",
            c as u32
        ));
    }
    if id.trim() != id {
        return Err("it starts or ends with white space".to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_people_use_pass() {
        for id in ["demo", "prod-2026", "a.b_c", "données", "x y"] {
            assert_eq!(check_database_id(id), Ok(()), "{id}");
        }
        assert!(check_database_id(&"a".repeat(MAX_DATABASE_ID_BYTES)).is_ok());
    }

    #[test]
    fn ids_that_would_mislead_or_not_fit_are_refused() {
        for (id, why) in [
            ("", "empty"),
            (" ", "white space"),
            (" demo", "white space"),
            ("demo\n", "U+000A"),
            ("de\tmo", "U+0009"),
            ("demo\u{202e}", "U+202E"),
            ("\u{7}", "U+0007"),
        ] {
            let err = check_database_id(id).unwrap_err();
            assert!(err.contains(why), "{id:?}: {err}");
        }
        let err = check_database_id(&"a".repeat(10_000)).unwrap_err();
        assert!(err.contains("10000 bytes"), "{err}");
    }
}
