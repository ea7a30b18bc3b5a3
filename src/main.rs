fn main() {
    std::process::exit(eva_admin::cli::run());
}
