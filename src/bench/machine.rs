//! The machine a benchmark ran on: cores, memory, operating system, and the
//! eva-admin build measured.

use serde::Serialize;

/// Facts about the machine and the build, for the report's heading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Machine {
    /// Cores available to this process (`std::thread::available_parallelism`).
    pub cores: usize,
    /// Total memory, from `/proc/meminfo` (`None` where there is none).
    pub memory_bytes: Option<u64>,
    /// The processor's model name, from `/proc/cpuinfo`, when known.
    pub cpu: Option<String>,
    /// Operating system and architecture, with the distribution and kernel
    /// release when known.
    pub os: String,
    /// The eva-admin version measured.
    pub version: String,
    /// The git commit it was built from: the `EVA_ADMIN_GIT_COMMIT`
    /// environment variable at build time, when it was set.
    pub commit: Option<String>,
    /// Whether the measured code was built with optimisations.
    pub release_build: bool,
}

impl Machine {
    /// Reads the facts of the running machine and build.
    pub fn detect() -> Machine {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let read = |path: &str| std::fs::read_to_string(path).ok();
        let mut os = format!("{} {}", std::env::consts::OS, std::env::consts::ARCH);
        if let Some(name) = read("/etc/os-release").as_deref().and_then(os_name) {
            os = format!("{name}, {os}");
        }
        if let Some(kernel) = read("/proc/sys/kernel/osrelease") {
            os = format!("{os}, kernel {}", kernel.trim());
        }
        Machine {
            cores,
            memory_bytes: read("/proc/meminfo").as_deref().and_then(mem_total),
            cpu: read("/proc/cpuinfo").as_deref().and_then(cpu_model),
            os,
            version: env!("CARGO_PKG_VERSION").to_string(),
            commit: option_env!("EVA_ADMIN_GIT_COMMIT")
                .filter(|c| !c.is_empty())
                .map(String::from),
            release_build: !cfg!(debug_assertions),
        }
    }
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut words = line.split_whitespace().skip(1);
    let value: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => Some(value.saturating_mul(1024)),
        None => Some(value),
        Some(_) => None,
    }
}

/// The first `model name` of `/proc/cpuinfo`.
fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// `PRETTY_NAME` of `/etc/os-release`.
fn os_name(release: &str) -> Option<String> {
    release
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim().trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_proc_files() {
        let meminfo = "MemTotal:       24576000 kB\nMemFree:  1 kB\n";
        assert_eq!(mem_total(meminfo), Some(24_576_000 * 1024));
        assert_eq!(mem_total("MemFree: 1 kB"), None);
        let cpuinfo = "processor\t: 0\nmodel name\t: Some CPU @ 2.0GHz\n";
        assert_eq!(cpu_model(cpuinfo).as_deref(), Some("Some CPU @ 2.0GHz"));
        assert_eq!(
            os_name("NAME=x\nPRETTY_NAME=\"Debian GNU/Linux 13\"\n").as_deref(),
            Some("Debian GNU/Linux 13")
        );
    }

    #[test]
    fn detects_at_least_one_core() {
        let machine = Machine::detect();
        assert!(machine.cores >= 1);
        assert!(!machine.version.is_empty());
    }
}
