//! Durations on the command line: `2s`, `500ms`, `1.5m`, `1h` or a plain
//! number of seconds, each flag with the range that makes sense for it.
//! Parsing never panics: a value that is not finite, negative, or outside
//! the flag's range is a usage error naming the accepted form.

use std::time::Duration;

/// Parses `text` as a duration within `min..=max`.
pub fn parse_duration(text: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let scale = match unit {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(usage(text, min, max)),
    };
    let seconds = number
        .trim()
        .parse::<f64>()
        .ok()
        .map(|n| n * scale)
        .filter(|s| s.is_finite() && *s >= 0.0)
        .ok_or_else(|| usage(text, min, max))?;
    // In range as seconds first: `Duration::from_secs_f64` panics on values
    // it cannot hold.
    if seconds < min.as_secs_f64() || seconds > max.as_secs_f64() {
        return Err(usage(text, min, max));
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn usage(text: &str, min: Duration, max: Duration) -> String {
    format!(
        "`{text}` is not a duration from {} to {} (write e.g. 2s, 500ms, 1.5m or a number of seconds)",
        show(min),
        show(max)
    )
}

/// A duration as a user would write it.
pub fn show(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        "0s".to_string()
    } else if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_millis(1);
    const MAX: Duration = Duration::from_secs(3600);

    #[test]
    fn accepts_units_and_plain_seconds() {
        let p = |t| parse_duration(t, MIN, MAX);
        assert_eq!(p("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(p("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(p("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(p("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(p("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(p(" 3 s "), Ok(Duration::from_secs(3)));
    }

    #[test]
    fn refuses_absurd_values_without_panicking() {
        for bad in [
            "1e20",
            "inf",
            "NaN",
            "-1",
            "0",
            "2x",
            "",
            "s",
            "18446744073709551616",
            "1e309",
            "3601",
            "0.0001",
        ] {
            let err = parse_duration(bad, MIN, MAX).unwrap_err();
            assert!(err.contains("from 1ms to 1h"), "{bad}: {err}");
        }
    }
}
