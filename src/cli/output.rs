//! How results look: human tables and `--json`, written to stdout.

use std::io::Write;

use anyhow::Result;
use base64::Engine;
use serde_json::{Value as Json, json};

use crate::db::TxReport;
use crate::db::generate::GenerateSummary;
use crate::db::stats::{DbStats, KINDS, Tally};
use crate::model::{Datom, Schema, Value};

/// Writes `text` to stdout. A closed pipe (`| head`) is not an error.
pub(super) fn emit(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// A datom's attribute as people read it: its ident when the schema knows it.
fn attribute_name(schema: &Schema, a: u64) -> String {
    schema
        .by_id(a)
        .map_or_else(|| a.to_string(), |attr| attr.ident.clone())
}

/// Datoms as an aligned table: E, A, V, TX, ADDED.
pub(super) fn datoms_table(datoms: &[Datom], schema: &Schema) -> String {
    let rows: Vec<[String; 5]> = datoms
        .iter()
        .map(|d| {
            [
                d.e.to_string(),
                attribute_name(schema, d.a),
                d.v.to_string(),
                d.tx.to_string(),
                d.added.to_string(),
            ]
        })
        .collect();
    let header = ["E", "A", "V", "TX", "ADDED"].map(String::from);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            // Long values do not widen the column past 60 characters.
            *w = (*w).max(cell.chars().count().min(60));
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let line = format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {:>w3$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A value in JSON: numbers stay numbers, everything else is a string in
/// its usual text form (instants RFC 3339, bytes base64, big numbers exact).
pub(super) fn value_json(v: &Value) -> Json {
    match v {
        Value::Long(n) => json!(n),
        Value::Double(x) if x.is_finite() => json!(x),
        Value::Double(x) => json!(x.to_string()),
        Value::Boolean(b) => json!(b),
        Value::String(s) | Value::Keyword(s) => json!(s),
        Value::Ref(id) => json!(id),
        Value::Instant(ms) => match chrono::DateTime::from_timestamp_millis(*ms) {
            Some(t) => json!(t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()),
            None => json!(ms),
        },
        Value::Uuid(u) => json!(u.to_string()),
        Value::Bytes(b) => json!(base64::engine::general_purpose::STANDARD.encode(b)),
        Value::BigInt(n) => json!(n.to_string()),
        Value::BigDec(d) => json!(d.to_string()),
    }
}

/// Datoms as a JSON array, one datom per line.
pub(super) fn datoms_json(datoms: &[Datom], schema: &Schema) -> String {
    let lines: Vec<String> = datoms
        .iter()
        .map(|d| {
            json!({
                "e": d.e,
                "a": d.a,
                "attribute": schema.by_id(d.a).map(|a| a.ident.as_str()),
                "v": value_json(&d.v),
                "type": d.v.value_type().keyword(),
                "tx": d.tx,
                "added": d.added,
            })
            .to_string()
        })
        .collect();
    if lines.is_empty() {
        "[]\n".into()
    } else {
        format!("[\n{}\n]\n", lines.join(",\n"))
    }
}

/// A committed transaction: its number, size and temp ids.
pub(super) fn tx_report(report: &TxReport, json: bool) -> String {
    if json {
        let tempids: serde_json::Map<String, Json> = report
            .tempids
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        return format!(
            "{}\n",
            json!({"tx": report.tx, "datoms": report.datoms.len(), "tempids": tempids})
        );
    }
    let mut out = format!(
        "committed transaction {} ({} datoms)\n",
        report.tx,
        report.datoms.len()
    );
    if !report.tempids.is_empty() {
        out.push_str("tempids:\n");
        let width = report
            .tempids
            .keys()
            .map(|k| k.len() + 2)
            .max()
            .unwrap_or(0);
        for (temp, id) in &report.tempids {
            out.push_str(&format!("  {:<width$}  {id}\n", format!("{temp:?}")));
        }
    }
    out
}

/// Bytes as people read them: `512 B`, `1.5 KiB`, `3.2 MiB`.
pub(super) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{size:.1} {}", UNITS[unit])
    }
}

/// Statistics as a table, or as JSON.
pub(super) fn stats(stats: &DbStats, json: bool) -> String {
    let tally_json = |t: &Tally| json!({"count": t.count, "bytes": t.bytes});
    if json {
        let nodes: serde_json::Map<String, Json> = KINDS
            .iter()
            .map(|k| {
                let t = stats.nodes.get(k).copied().unwrap_or_default();
                (k.name().to_string(), tally_json(&t))
            })
            .collect();
        return format!(
            "{}\n",
            json!({
                "database": stats.database,
                "store": stats.store,
                "entries": stats.entries,
                "datoms": stats.datoms,
                "bytes_per_datom": bytes_per_datom(stats),
                "nodes": nodes,
                "other": tally_json(&stats.other),
                "total": tally_json(&stats.total),
            })
        );
    }
    let mut out = format!(
        "database `{}` in {}\ntx-log entries: {}\ndatoms (history): {}\nbytes a datom: {:.0}\n\n{:<14} {:>10} {:>14} {:>10}\n",
        stats.database,
        stats.store,
        stats.entries,
        stats.datoms,
        bytes_per_datom(stats),
        "kind",
        "count",
        "bytes",
        "size"
    );
    let mut row = |name: &str, t: &Tally| {
        out.push_str(&format!(
            "{name:<14} {:>10} {:>14} {:>10}\n",
            t.count,
            t.bytes,
            human_bytes(t.bytes)
        ));
    };
    for kind in KINDS {
        row(
            kind.name(),
            &stats.nodes.get(&kind).copied().unwrap_or_default(),
        );
    }
    row("other", &stats.other);
    row("total", &stats.total);
    out
}

/// Everything the namespace holds, in bytes, per datom of history.
fn bytes_per_datom(stats: &DbStats) -> f64 {
    stats.total.bytes as f64 / stats.datoms.max(1) as f64
}

/// What `db generate` did.
pub(super) fn generate_summary(
    summary: &GenerateSummary,
    database: &str,
    created: bool,
    seconds: f64,
) -> String {
    let mut out = String::new();
    if created {
        out.push_str(&format!("created database `{database}`\n"));
    }
    if summary.schema_committed {
        out.push_str(&format!(
            "defined the demo schema in transaction {}\n",
            summary.first_tx.saturating_sub(1)
        ));
    }
    let last = summary.first_tx + summary.transactions.saturating_sub(1);
    out.push_str(&format!(
        "generated {} transactions ({}..={}): {} statements, {} datoms written, {} people\n\
         tx-log entries: {} ({:.1} s, {:.0} transactions/s, {:.0} datoms/s)\n",
        summary.transactions,
        summary.first_tx,
        last,
        summary.statements,
        summary.datoms,
        summary.people,
        summary.entries,
        seconds,
        summary.transactions as f64 / seconds.max(1e-9),
        summary.datoms as f64 / seconds.max(1e-9),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_name_attributes() {
        let schema = Schema::from_current_datoms(&crate::model::builtin::bootstrap_datoms());
        let datoms = vec![Datom {
            e: 1,
            a: crate::model::builtin::IDENT,
            v: Value::Keyword(":db/ident".into()),
            tx: 0,
            added: true,
        }];
        let table = datoms_table(&datoms, &schema);
        assert!(
            table.starts_with("E  A          V          TX  ADDED\n"),
            "{table}"
        );
        assert!(
            table.contains("1  :db/ident  :db/ident   0  true"),
            "{table}"
        );
        assert!(datoms_json(&datoms, &schema).contains(r#""attribute":":db/ident""#));
    }

    #[test]
    fn bytes_read_like_sizes() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }
}
