//! What a plugin instance may touch: nothing. A WASI context with no files,
//! no environment, no arguments, no network, fixed clocks and a fixed random
//! source (so transforms are deterministic, which resume relies on), a
//! memory cap, and stdout/stderr captured line by line (see `guest_output`).

use std::time::Duration;

use super::guest_output::GuestOutput;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{
    HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};

/// The data every plugin store carries.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    /// The memory budget (wasmtime asks it before any memory or table is
    /// created or grows).
    pub limits: MemoryCap,
    /// The guest's stdout, logged.
    pub stdout: GuestOutput,
    /// The guest's stderr, logged; its last lines go into trap messages.
    pub stderr: GuestOutput,
}

impl HostState {
    /// A sandbox with a memory cap of `cap_bytes` for the guest called
    /// `label` in log lines.
    pub fn new(cap_bytes: u64, label: &str) -> HostState {
        let seed: Vec<u8> = (0u8..=255).collect();
        let stdout = GuestOutput::new(label, "stdout");
        let stderr = GuestOutput::new(label, "stderr");
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(FixedClock)
            .monotonic_clock(FixedClock)
            .secure_random(wasmtime_wasi::Deterministic::new(seed.clone()))
            .insecure_random(wasmtime_wasi::Deterministic::new(seed))
            .insecure_random_seed(0)
            .build();
        HostState {
            wasi,
            table: ResourceTable::new(),
            limits: MemoryCap::new(usize::try_from(cap_bytes).unwrap_or(usize::MAX)),
            stdout,
            stderr,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A clock that always reads the epoch: guests see no time pass.
struct FixedClock;

impl HostWallClock for FixedClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FixedClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// Most linear memories one plugin instance may create. Rust guests have
/// one, Python and JavaScript components a few (one per core instance that
/// owns one); a guest declaring more is refused at instantiation.
pub const MAX_MEMORIES: usize = 16;
/// Most tables one plugin instance may create (components use one or two
/// per core instance).
pub const MAX_TABLES: usize = 64;
/// Most core instances one plugin component may create.
pub const MAX_INSTANCES: usize = 64;
/// Bytes one table element is counted as: wasmtime keeps a pointer per
/// element.
const TABLE_ELEMENT_BYTES: usize = std::mem::size_of::<usize>();

/// One memory budget for a whole plugin instance: every linear memory and
/// every table it creates or grows draws from the same `cap` bytes (a
/// guest cannot escape the cap by spreading over many memories or
/// tables), and the number of memories, tables and core instances is
/// bounded too. Remembers when it refused.
pub struct MemoryCap {
    cap: usize,
    used: usize,
    /// Set once a growth was refused.
    pub hit: bool,
}

impl MemoryCap {
    /// A budget of `cap` bytes, none used.
    pub fn new(cap: usize) -> MemoryCap {
        MemoryCap {
            cap,
            used: 0,
            hit: false,
        }
    }

    /// The cap in MiB, for messages.
    pub fn cap_mib(&self) -> u64 {
        (self.cap >> 20) as u64
    }

    /// Bytes granted so far, over all memories and tables.
    pub fn used(&self) -> usize {
        self.used
    }

    /// Grants `extra` more bytes when the budget allows it.
    fn draw(&mut self, extra: usize, what: &str) -> wasmtime::Result<bool> {
        match self.used.checked_add(extra) {
            Some(total) if total <= self.cap => {
                self.used = total;
                Ok(true)
            }
            _ => {
                self.hit = true;
                Err(wasmtime::format_err!(
                    "memory cap of {} MiB reached (growing a {what} by {} bytes with {} in use)",
                    self.cap_mib(),
                    extra,
                    self.used
                ))
            }
        }
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.draw(desired.saturating_sub(current), "linear memory")
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let extra = desired
            .saturating_sub(current)
            .saturating_mul(TABLE_ELEMENT_BYTES);
        self.draw(extra, "table")
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memories_and_tables_draw_from_one_budget() {
        let mut cap = MemoryCap::new(100 << 20);
        assert!(cap.memory_growing(0, 60 << 20, None).unwrap());
        assert!(cap.memory_growing(0, 30 << 20, None).unwrap());
        // A second memory may not take what the first left.
        assert!(cap.memory_growing(0, 20 << 20, None).is_err());
        assert!(cap.hit);
        let mut cap = MemoryCap::new(16 << 20);
        let entries = (8 << 20) / TABLE_ELEMENT_BYTES;
        assert!(cap.table_growing(0, entries, None).unwrap());
        assert!(cap.table_growing(0, entries + 1, None).is_err());
        assert_eq!(cap.used(), 8 << 20);
    }

    #[test]
    fn growth_counts_only_the_difference() {
        let mut cap = MemoryCap::new(10);
        assert!(cap.memory_growing(0, 4, None).unwrap());
        assert!(cap.memory_growing(4, 8, None).unwrap());
        assert_eq!(cap.used(), 8);
        assert!(cap.memory_growing(8, 11, None).is_err());
    }
}
