//! Compiles the vendored, patched tree-sitter-powershell grammar
//! (`vendor/tree-sitter-powershell/` at the repository root, see its README) into
//! the crate.

use std::path::Path;

fn main() {
    let src = Path::new("../../vendor/tree-sitter-powershell/src");
    let mut build = cc::Build::new();
    build.std("c11").include(src).warnings(false);
    for file in ["parser.c", "scanner.c"] {
        let path = src.join(file);
        println!("cargo:rerun-if-changed={}", path.display());
        build.file(path);
    }
    // The generated parser is 4.6 MB of tables: optimise it in every profile
    // (the checker runs on every mined and generated snippet).
    build.opt_level(2);
    build.compile("tree-sitter-powershell");
}
