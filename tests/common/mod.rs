//! Fixtures shared by the end-to-end tests.

mod repo_file;
pub use repo_file::repo_file;
use std::fs;
use std::path::Path;

/// The mine config every end-to-end test uses for its Excel slice.
pub const EXCEL_MINE_CONFIG: &str =
    "lang = \"excel\"\n[[source]]\nkind = \"lines\"\npath = \"formulas.txt\"\nstrip_quotes = true\nprefix = \"=\"\n[split]\nvalid_fraction = 0.1\nseed = \"t\"\n";

/// Writes the first `formulas` lines of the real EUSES Excel corpus to
/// `root/formulas.txt` and the mine config that reads them to `root/excel.toml`.
pub fn excel_slice(root: &Path, formulas: usize) {
    let euses = fs::read_to_string(repo_file("corpora/excel/euses-formulas.txt")).unwrap();
    let lines: String = euses.lines().take(formulas).map(|l| format!("{l}\n")).collect();
    fs::write(root.join("formulas.txt"), lines).unwrap();
    fs::write(root.join("excel.toml"), EXCEL_MINE_CONFIG).unwrap();
}
