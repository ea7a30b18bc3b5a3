fn main() {
    // Die quietly on a closed pipe (`eva-admin ... | head`), as Unix tools do,
    // instead of panicking in `println!`.
    #[cfg(unix)]
    // SAFETY: called first thing, before any other thread exists; restoring
    // the default disposition of SIGPIPE has no other effect.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    std::process::exit(eva_admin::cli::run());
}
