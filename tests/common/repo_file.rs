//! Paths inside the repository, found when the tests run.

/// `relative` inside the repository. `cargo test` sets `CARGO_MANIFEST_DIR`
/// when it runs a test; read then, a test binary built from a checkout
/// elsewhere that shares the target directory reads this checkout's files,
/// where `env!` would keep the first checkout's path.
pub fn repo_file(relative: &str) -> std::path::PathBuf {
    let root = std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR");
    std::path::Path::new(&root).join(relative)
}
