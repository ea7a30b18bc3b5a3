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
    /// The memory limiter (wasmtime asks it before any memory grows).
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
            limits: MemoryCap {
                cap: usize::try_from(cap_bytes).unwrap_or(usize::MAX),
                hit: false,
            },
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

/// Refuses to grow any linear memory past `cap` bytes, and remembers that it did.
pub struct MemoryCap {
    cap: usize,
    /// Set once a growth was refused.
    pub hit: bool,
}

impl MemoryCap {
    /// The cap in MiB, for messages.
    pub fn cap_mib(&self) -> u64 {
        (self.cap >> 20) as u64
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.cap {
            self.hit = true;
            return Err(wasmtime::format_err!(
                "memory cap of {} MiB reached",
                self.cap_mib()
            ));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}
