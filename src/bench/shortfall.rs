//! Why a target was missed, in words built from the run's own numbers: for
//! P2, P3 and P4 the report then says where the time or memory goes and
//! what would have to change, next to the breakdown it measured. The
//! profiles behind these words are in `docs/performance.md`.

use super::stats::Summary;
use crate::migrate::MigrateOptions;
use crate::migrate::cache::EVER_HELD_FILTER_BYTES;

/// The medians P2's explanation is built from (seconds, except where named).
pub(crate) struct PluginShortfall {
    /// A full migration without plugins.
    pub plain: f64,
    /// The same through identity.wasm.
    pub identity: f64,
    /// What a native identity transform adds (decode, check, encode).
    pub records: f64,
    /// The rest of what identity.wasm adds: crossing into the guest and back.
    pub crossings: f64,
    /// P2-floor's ratio.
    pub floor: f64,
    /// P2's target ratio.
    pub target: f64,
    /// Nodes each hook sees.
    pub nodes: u64,
    /// The host's cost per node measured directly at the largest batch,
    /// in µs, when it was.
    pub measured_micros_per_node: Option<f64>,
}

/// P2: the plugin's extra time, split into seeing whole nodes and crossing
/// into the guest.
pub(crate) fn plugin(p: &PluginShortfall) -> String {
    let per_node = p.crossings / (2.0 * p.nodes.max(1) as f64) * 1e6;
    let measured = p
        .measured_micros_per_node
        .map(|us| format!(", next to the {us:.1} µs measured directly on index leaves above"))
        .unwrap_or_default();
    format!(
        "With identity.wasm a full migration took {:.3} s against {:.3} s without plugins. \
         Of the {:.3} s it adds, {:.3} s is what any transform that sees whole nodes costs \
         (P2-floor: every node decoded, checked against the rules of docs/plugins.md and encoded again, \
         nothing crossing into a sandbox) and the other {:.3} s is crossing into the guest and back: \
         {:.1} µs per node per hook over 2 hooks × {} nodes{}. \
         The floor alone is {:.2}: no plugin that receives nodes as WIT records, as the `eva:xform` \
         interface has them, can reach {}, whatever the guest does. Reaching it needs an interface \
         change — plugins declaring the node kinds and indexes they want, everything else passing \
         through as bytes as in a plain migration — recorded as a follow-up \
         (docs/performance.md, \"Targets not met\", with the profile of one crossing).",
        p.identity,
        p.plain,
        p.identity - p.plain,
        p.records,
        p.crossings,
        per_node,
        p.nodes,
        measured,
        p.floor,
        p.target,
    )
}

/// The medians P3's explanation is built from (seconds and counts).
pub(crate) struct IncrementalShortfall {
    /// The full run.
    pub full: f64,
    /// The incremental run.
    pub incremental: f64,
    /// The target ratio.
    pub target: f64,
    /// Destination flushes: calls, seconds.
    pub flushes: (f64, f64),
    /// New nodes created: keys, seconds.
    pub creates: (f64, f64),
    /// Existence checks: keys, calls, seconds.
    pub checks: (f64, f64, f64),
    /// Everything else: seconds.
    pub rest: f64,
}

/// P3: the incremental run's fixed costs against a full run of a small
/// database.
pub(crate) fn incremental(p: &IncrementalShortfall) -> String {
    let ms = |s: f64| format!("{:.2} ms", s * 1e3);
    let share = |s: f64| s / p.full;
    let barriers = p.flushes.1 + p.creates.1;
    format!(
        "An incremental run took {} against {} for the full run; the target allows {}. \
         Its store calls are in the table below. {} of it are the destination's flushes \
         ({:.0} calls, each a sync when something was written since the last): the resume \
         protocol's barriers (the new nodes durable before the head moves; the head and the status \
         record durable before the command returns). {} is creating the {:.0} new nodes, \
         {} the existence checks of {:.0} keys in {:.0} calls (the children of new nodes the run \
         does not yet know: asking is what lets it skip the unchanged tree instead of walking it), \
         and {} everything else. The barriers and the writes of what is new cannot go: they alone \
         are {:.3} of the full run, the checks another {:.3}. These costs are per run and barely \
         grow with the database, so the ratio falls as the database grows \
         (docs/performance.md, \"Targets not met\", has a `medium` run).",
        ms(p.incremental),
        ms(p.full),
        ms(p.full * p.target),
        ms(p.flushes.1),
        p.flushes.0,
        ms(p.creates.1),
        p.creates.0,
        ms(p.checks.2),
        p.checks.0,
        p.checks.1,
        ms(p.rest),
        share(barriers),
        share(p.checks.2),
    )
}

/// The medians P4's explanation is built from (MiB).
pub(crate) struct MemoryShortfall {
    /// Peak of migrating the smaller source.
    pub small: f64,
    /// Peak of migrating the larger source.
    pub large: f64,
    /// Peak of reading the smaller source only (`--dry-run`).
    pub small_reading: f64,
    /// Peak of reading the larger source only.
    pub large_reading: f64,
}

/// P4: how much of each peak reading alone holds, and whose memory it is.
pub(crate) fn memory(p: &MemoryShortfall) -> String {
    let defaults = MigrateOptions::default();
    format!(
        "Migrating the 10× database peaked at {:.0} MiB against {:.0} MiB. Reading alone \
         (`migrate --dry-run`: every node read and walked, nothing written) peaks at {:.0} MiB \
         against {:.0} MiB; writing into the destination adds the other {:.0} MiB and {:.0} MiB. \
         The copier's own structures are bounded whatever the size ({} keys known present, \
         a {} MiB filter of keys held, one batch of {} nodes in flight: under 8 MiB together). \
         The growth is sled's, on both sides: it keeps the pages it has read or written, \
         deserialised, far beyond its configured 64 MiB cache (a heap profile in \
         docs/performance.md, where the same migration between SQLite stores stays within \
         tens of MiB). Meeting the target needs a store-level change — another embedded \
         default, or a sled whose cache bounds its memory — not a change to the migration.",
        p.large,
        p.small,
        p.large_reading,
        p.small_reading,
        (p.large - p.large_reading).max(0.0),
        (p.small - p.small_reading).max(0.0),
        defaults.cache_keys,
        EVER_HELD_FILTER_BYTES >> 20,
        defaults.batch_size,
    )
}

/// The median of each run's `value`.
pub(crate) fn median_of<T>(runs: &[T], value: impl Fn(&T) -> f64) -> f64 {
    Summary::of(runs.iter().map(value).collect()).map_or(0.0, |s| s.median)
}
