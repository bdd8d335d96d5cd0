//! `lastmile repair --lang powershell` with the shipped model (models/powershell),
//! as a user runs it from the repository: the default checkpoint, the default
//! method (localised at the checker's error and PowerShell's repair sites).

#[path = "common/repo_file.rs"]
mod repo_file;

use assert_cmd::Command;
use lastmile::lang::LangId;

fn repair(snippet: &str) -> String {
    let mut cmd = Command::cargo_bin("lastmile").unwrap();
    cmd.current_dir(repo_file::repo_file("")).args(["repair", "--lang", "powershell", "--quiet", snippet]);
    let out = cmd.assert().success().get_output().stdout.clone();
    String::from_utf8(out).unwrap().trim_end_matches('\n').to_string()
}

#[test]
fn the_shipped_model_closes_a_block_and_keeps_a_working_command() {
    let powershell = LangId::Powershell.language();
    let broken = r#"if ($a -eq 1) { Write-Host "one""#;
    assert!(powershell.check(broken).is_err());
    let repaired = repair(broken);
    assert!(powershell.check(&repaired).is_ok(), "{broken} -> {repaired}: the repair passes the check");
    assert!(repaired.starts_with(r#"if ($a -eq 1) { Write-Host"#), "{broken} -> {repaired}: only the window changes");
    // parses and has no repair site: returned as it is, no chain run
    let working = r"Get-ChildItem -Path C:\temp -Recurse";
    assert_eq!(repair(working), working);
}
