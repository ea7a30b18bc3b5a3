//! Peak memory of a child process. The memory measure runs each migration
//! as its own `eva-admin migrate` process, so that one run's allocations
//! (and the allocator's retained pages) cannot inflate another's.
//!
//! The kernel's answer when the child is reaped (`wait4`'s `ru_maxrss`,
//! like `getrusage(RUSAGE_CHILDREN)`) is not enough on its own: Linux
//! carries the high-water mark of the address space a process *leaves*
//! at `exec` into its `ru_maxrss`, and a child spawned with
//! `posix_spawn`/`vfork` leaves its parent's, so a child smaller than its
//! parent reports the parent's size. So, on Linux:
//!
//! - while the child runs, its `VmHWM` (the high-water mark of its own
//!   address space, in `/proc/<pid>/status`) is read every 2 ms, until it
//!   has exited (the child is reaped only then, so its pid cannot be
//!   reused meanwhile);
//! - when reaped, `ru_maxrss` is taken when it exceeds the parent's own
//!   high-water mark at spawn — then it can only be the child's own peak,
//!   exact — and the last `VmHWM` read otherwise (exact unless the peak
//!   came in the child's last 2 ms).
use std::io::{self, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How often the child's `VmHWM` is read.
const POLL: Duration = Duration::from_millis(2);

/// How a child process ended and what it used.
#[derive(Debug, Clone)]
pub struct ChildRun {
    /// Its exit code; `None` when a signal ended it.
    pub exit_code: Option<i32>,
    /// Its peak resident set size, in bytes.
    pub peak_rss_bytes: u64,
    /// Wall time from spawning to reaping it.
    pub elapsed: Duration,
    /// What it printed on stdout.
    pub stdout: String,
    /// What it printed on stderr.
    pub stderr: String,
}

impl ChildRun {
    /// True when it exited with status 0.
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// Runs `command` to its end (stdin empty, stdout and stderr collected)
/// and returns its exit code, peak resident set size and wall time.
/// Blocks the calling thread.
pub fn run_measuring_peak_rss(command: &mut Command) -> io::Result<ChildRun> {
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = libc::pid_t::try_from(child.id())
        .map_err(|_| io::Error::other("child process id out of range"))?;
    let parent_peak = vm_hwm("/proc/self/status");
    let stdout = collect(child.stdout.take());
    let stderr = collect(child.stderr.take());
    let status_file = format!("/proc/{pid}/status");
    let mut polled = None;
    // Until the child has exited (a zombie's status has no VmHWM line).
    while let Some(hwm) = vm_hwm(&status_file) {
        polled = Some(hwm);
        std::thread::sleep(POLL);
    }
    let (status, usage) = wait4(pid)?;
    let elapsed = started.elapsed();
    // The child is reaped: `child` must not wait for it again (dropping a
    // `Child` neither waits nor kills).
    drop(child);
    let exit_code = if libc::WIFEXITED(status) {
        Some(libc::WEXITSTATUS(status))
    } else {
        None
    };
    let max_rss = u64::try_from(usage.ru_maxrss).unwrap_or(0);
    // Linux reports KiB, macOS bytes.
    let rusage_peak = if cfg!(target_os = "macos") {
        max_rss
    } else {
        max_rss.saturating_mul(1024)
    };
    let peak_rss_bytes = match (parent_peak, polled) {
        (Some(parent), _) if rusage_peak > parent => rusage_peak,
        (_, Some(polled)) => polled,
        (_, None) => rusage_peak,
    };
    Ok(ChildRun {
        exit_code,
        peak_rss_bytes,
        elapsed,
        stdout: joined(stdout),
        stderr: joined(stderr),
    })
}

/// Waits for child `pid` to end; its raw wait status and resource usage.
fn wait4(pid: libc::pid_t) -> io::Result<(libc::c_int, libc::rusage)> {
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is a plain C struct of integers, for which all-zero
    // bytes are a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers are to live, writable locals of the types
        // wait4 expects; `pid` is our own child, not yet reaped.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == pid {
            return Ok((status, usage));
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// The `VmHWM` line of a `/proc/<pid>/status` file, in bytes; `None` when
/// the file or the line is missing (no procfs, or the process has exited).
fn vm_hwm(status_file: &str) -> Option<u64> {
    let status = std::fs::read_to_string(status_file).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

/// Reads a child's pipe to its end on a thread of its own (so that a full
/// pipe never blocks the child).
fn collect<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn joined(handle: std::thread::JoinHandle<String>) -> String {
    handle.join().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_exit_code_output_and_peak_memory_of_a_child() {
        let run = run_measuring_peak_rss(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
        )
        .unwrap();
        assert_eq!(run.exit_code, Some(3));
        assert_eq!(run.stdout.trim(), "out");
        assert_eq!(run.stderr.trim(), "err");
        assert!(run.peak_rss_bytes > 0);
    }

    #[test]
    fn a_small_child_of_a_big_parent_reports_its_own_peak() {
        // Make this (parent) process's high-water mark big.
        let ballast = vec![1u8; 256 << 20];
        std::hint::black_box(&ballast);
        let run = run_measuring_peak_rss(Command::new("sh").args(["-c", "sleep 0.05"])).unwrap();
        assert!(run.succeeded());
        assert!(run.peak_rss_bytes < 64 << 20, "{}", run.peak_rss_bytes);
        drop(ballast);
    }

    #[test]
    fn a_child_that_allocates_more_peaks_higher() {
        let small = run_measuring_peak_rss(Command::new("sh").args(["-c", "true"])).unwrap();
        // 64 MiB of zeros held in one shell variable.
        let big = run_measuring_peak_rss(Command::new("sh").args([
            "-c",
            "x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo ${#x}",
        ]))
        .unwrap();
        assert!(big.succeeded(), "{}", big.stderr);
        assert!(big.peak_rss_bytes > small.peak_rss_bytes + 32 * 1024 * 1024);
    }
}
