//! The `eva-admin` command line. (Stub.)

/// Runs the command line; returns the process exit code.
pub fn run() -> i32 {
    0
}
