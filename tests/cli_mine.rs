//! End to end: `lastmile mine` and `lastmile check` on a temp dir holding slices
//! of the real corpora, including bad input that must be reported, not fatal.

#[path = "common/repo_file.rs"]
mod repo_file;
use repo_file::repo_file;
use assert_cmd::Command;
use lastmile::dataset::read_corpus_split;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    repo_file("")
}

fn lastmile(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("lastmile").unwrap();
    cmd.current_dir(dir).arg("--quiet");
    cmd
}

/// A work dir with the first `n` lines of the EUSES formulas plus bad lines, a
/// few Python stdlib files, and configs pointing at them.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("data/py")).unwrap();
    fs::create_dir_all(root.join("configs")).unwrap();

    let euses = fs::read_to_string(repo().join("corpora/excel/euses-formulas.txt")).unwrap();
    let mut lines: Vec<u8> = euses.lines().take(3000).flat_map(|l| format!("{l}\n").into_bytes()).collect();
    lines.extend_from_slice(b"\"SUM(A1:A3\"\n\"\xff\xfe broken\"\n\"IF(FALSE,NA())\"\n");
    fs::write(root.join("data/formulas.txt"), lines).unwrap();
    fs::write(root.join("data/bench.json"), r#"[{"Buggy": "=IF(FALSE,NA", "GroundTruth": "=IF(FALSE,NA())"}]"#).unwrap();
    fs::write(root.join("data/broken.json"), "[{\"Code\": \"=A1\"},\n  {oops}]").unwrap();
    for name in ["colorsys.py", "bisect.py", "keyword.py"] {
        fs::copy(repo().join("corpora/python/cpython-lib").join(name), root.join("data/py").join(name)).unwrap();
    }
    fs::write(root.join("data/py/zz_broken.py"), "def f(:\n    pass\n").unwrap();

    fs::write(
        root.join("configs/excel.toml"),
        r#"
lang = "excel"
[[source]]
kind = "lines"
path = "data/formulas.txt"
strip_quotes = true
prefix = "="
[[source]]
kind = "lines"
path = "data/missing.txt"
[[source]]
kind = "json"
path = "data/broken.json"
field = "Code"
[output]
shard_rows = 500
row_group_rows = 100
[[decontaminate]]
path = "data/bench.json"
fields = ["Buggy", "GroundTruth"]
"#,
    )
    .unwrap();
    fs::write(
        root.join("configs/python.toml"),
        r#"
lang = "python"
[[source]]
kind = "source_tree"
path = "data/py"
extensions = ["py"]
"#,
    )
    .unwrap();
    dir
}

fn report(dir: &Path, lang: &str) -> Value {
    serde_json::from_str(&fs::read_to_string(dir.join("outputs/corpus").join(lang).join("report.json")).unwrap()).unwrap()
}

#[test]
fn mine_writes_shards_and_a_report_that_counts_everything() {
    let ws = workspace();
    let root = ws.path();
    lastmile(root).args(["mine", "--config-dir", "configs"]).assert().success();

    let excel = report(root, "excel");
    let dropped = &excel["dropped"];
    let kept = excel["kept"]["train"].as_u64().unwrap() + excel["kept"]["valid"].as_u64().unwrap();
    let dropped_total: u64 = dropped.as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(excel["inputs"].as_u64().unwrap(), 3003, "3000 formulas + 3 crafted lines");
    assert_eq!(kept + dropped_total, 3003, "every input is kept or dropped for a reason");
    assert_eq!(dropped["invalid_utf8"], 1);
    assert!(dropped["syntax_error"].as_u64().unwrap() >= 1, "=SUM(A1:A3 is rejected");
    assert!(dropped["duplicate"].as_u64().unwrap() > 100, "EUSES repeats formulas");
    assert_eq!(dropped["contaminated"], 1, "=IF(FALSE,NA()) is a benchmark fix");
    let examples: Vec<String> =
        excel["bad_input"]["examples"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    assert!(examples.iter().any(|e| e.starts_with("data/formulas.txt:3002: invalid UTF-8")), "{examples:?}");
    assert!(examples.iter().any(|e| e.starts_with("data/missing.txt: ")), "{examples:?}");
    assert!(examples.iter().any(|e| e.starts_with("data/broken.json:2: invalid JSON")), "{examples:?}");

    let dir = root.join("outputs/corpus/excel");
    let train = read_corpus_split(&dir, "train").unwrap();
    let valid = read_corpus_split(&dir, "valid").unwrap();
    assert_eq!((train.len() + valid.len()) as u64, kept);
    assert!(!valid.is_empty() && valid.len() < train.len() / 10);
    let shards = lastmile::dataset::list_shards(&dir, "train").unwrap();
    let n = shards.len();
    assert!(n >= 2, "shard_rows = 500 splits the train split");
    assert!(shards[0].ends_with(format!("train-00000-of-{n:05}.parquet")));
    for record in &train {
        assert!(record.text.starts_with('='));
        assert_eq!(LangCheck::excel(&record.text), Ok(()));
        assert_eq!(record.n_chars as usize, record.text.chars().count());
        assert!(record.source == "data/formulas.txt" && record.source_line >= 1);
    }
    let names: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(names.iter().all(|n| n == "report.json" || n.ends_with(".parquet")), "{names:?}");

    let python = report(root, "python");
    assert_eq!(python["files"]["read"], 4);
    assert_eq!(python["files"]["unparsable"], 1);
    assert!(python["kept"]["train"].as_u64().unwrap() > 5);
}

struct LangCheck;
impl LangCheck {
    fn excel(text: &str) -> Result<(), String> {
        lastmile::lang::LangId::Excel.language().check(text).map_err(|e| e.to_string())
    }
}

#[test]
fn mining_is_deterministic() {
    let ws = workspace();
    let root = ws.path();
    let run = |out: &str| {
        lastmile(root).args(["mine", "--config", "configs/excel.toml", "--out", out]).assert().success();
        let dir = root.join(out).join("excel");
        let mut files: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        files.iter().map(|f| fs::read(f).unwrap()).collect::<Vec<_>>()
    };
    assert_eq!(run("a"), run("b"));
}

#[test]
fn bad_config_fails_before_any_work_with_its_path() {
    let ws = workspace();
    let root = ws.path();
    fs::write(root.join("configs/bad.toml"), "lang = \"cobol\"\n").unwrap();
    let out = lastmile(root).args(["mine", "--config-dir", "configs"]).assert().failure();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("configs/bad.toml") && stderr.contains("cobol"), "{stderr}");
    assert!(!root.join("outputs").exists(), "nothing mined before the configs are valid");
}

#[test]
fn check_reports_located_errors_and_pass_rate() {
    let ws = workspace();
    let root = ws.path();
    fs::write(root.join("f.txt"), "=SUM(A1:A3)\n=IF(A1>0,\"x\"\n=B2< =1\n").unwrap();
    let out = Command::cargo_bin("lastmile").unwrap().current_dir(root).args(["check", "--lang", "excel", "f.txt"]).assert().code(1);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.contains("f.txt:2:1:13: "), "{stdout}");
    assert!(stdout.contains("f.txt:3:1:6: "), "{stdout}");
    assert!(stdout.trim_end().ends_with("1/3 passed (33.33%), 2 failed"), "{stdout}");

    // one input convention: snippets as arguments beside files in any form
    fs::write(root.join("g.json"), "[\"=A1+\", {\"Buggy\": \"=MAX(B1:B2)\"}]").unwrap();
    let out = Command::cargo_bin("lastmile")
        .unwrap()
        .current_dir(root)
        .args(["check", "--lang", "excel", "=SUM(A1", "g.json", "=1+1"])
        .assert()
        .code(1);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.contains("argument:1:1:") && stdout.contains("g.json:1:1:"), "{stdout}");
    assert!(stdout.trim_end().ends_with("2/4 passed (50.00%), 2 failed"), "{stdout}");

    lastmile(root).args(["mine", "--config", "configs/excel.toml"]).assert().success();
    let shard = lastmile::dataset::list_shards(&root.join("outputs/corpus/excel"), "train").unwrap().remove(0);
    let out = Command::cargo_bin("lastmile").unwrap().current_dir(root).args(["check", "--lang", "excel"]).arg(&shard).assert().success();
    assert!(String::from_utf8_lossy(&out.get_output().stdout).contains("(100.00%)"));
}
