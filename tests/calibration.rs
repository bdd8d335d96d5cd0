//! Checker calibration on real data: the strict checkers must agree with the
//! reference implementations (CPython's parser, `bash -n`) on golden files made
//! by `tests/golden/make_*_labels.py`, and accept every human fix of the repair
//! benchmarks.

#[path = "common/repo_file.rs"]
mod repo_file;
use repo_file::repo_file;
use lastmile::lang::LangId;
use lastmile::mine::unquote_csv;
use serde_json::Value;

fn golden(path: &str) -> Vec<(String, bool)> {
    let text = std::fs::read_to_string(repo_file("").join(path)).unwrap();
    text.lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            (v["text"].as_str().unwrap().to_string(), v["valid"].as_bool().unwrap())
        })
        .collect()
}

fn agreement(lang: LangId, golden_path: &str) -> f64 {
    let rows = golden(golden_path);
    assert!(rows.len() >= 2000, "golden file too small: {}", rows.len());
    let checker = lang.language();
    let mut disagreements = Vec::new();
    for (text, valid) in &rows {
        let ours = checker.check(text);
        if ours.is_ok() != *valid {
            disagreements.push(format!("reference={valid} ours={:?}: {text:?}", ours.err().map(|e| e.to_string())));
        }
    }
    let rate = 1.0 - disagreements.len() as f64 / rows.len() as f64;
    eprintln!("{lang}: agreement {:.2}% on {} snippets; disagreements:", rate * 100.0, rows.len());
    for d in disagreements.iter().take(30) {
        eprintln!("  {d}");
    }
    rate
}

#[test]
fn python_checker_agrees_with_cpython() {
    let rate = agreement(LangId::Python, "tests/golden/python_labels.jsonl");
    assert!(rate >= 0.99, "agreement {rate}");
}

#[test]
fn bash_checker_agrees_with_bash_n() {
    let rate = agreement(LangId::Bash, "tests/golden/bash_labels.jsonl");
    assert!(rate >= 0.99, "agreement {rate}");
}

fn benchmark(path: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo_file("").join(path)).unwrap();
    let items: Vec<Value> = serde_json::from_str(&text).unwrap();
    items.iter().map(|v| (v["Buggy"].as_str().unwrap().to_string(), v["GroundTruth"].as_str().unwrap().to_string())).collect()
}

/// Checks a repair benchmark: returns the fixes that fail (with their errors)
/// and how many buggy inputs fail, out of the number of items.
fn benchmark_rejections(lang: LangId, path: &str) -> (Vec<String>, usize, usize) {
    let items = benchmark(path);
    let checker = lang.language();
    let fixed_rejected: Vec<String> =
        items.iter().filter_map(|(_, fixed)| checker.check(fixed).err().map(|e| format!("{e}: {fixed:?}"))).collect();
    let rejected = items.iter().filter(|(buggy, _)| checker.check(buggy).is_err()).count();
    eprintln!("{lang}: {}/{} ground truths rejected, {rejected}/{} buggy inputs rejected", fixed_rejected.len(), items.len(), items.len());
    for f in &fixed_rejected {
        eprintln!("  {f}");
    }
    (fixed_rejected, rejected, items.len())
}

#[test]
fn excel_benchmark_fixes_pass_and_most_buggy_fail() {
    let (fixed_rejected, rejected, total) = benchmark_rejections(LangId::Excel, "corpora/benchmarks/repair/excel.json");
    assert_eq!(total, 200);
    assert!(fixed_rejected.is_empty(), "{fixed_rejected:#?}");
    assert!(rejected >= 190, "only {rejected}/200 buggy formulas rejected");
}

#[test]
fn powershell_benchmark_fixes_parse() {
    let (fixed_rejected, rejected, total) = benchmark_rejections(LangId::Powershell, "corpora/benchmarks/repair/powershell.json");
    assert_eq!(total, 150);
    // Every fix parses with the patched grammar (vendor/tree-sitter-powershell):
    // upstream rejected 12 of them.
    assert!(fixed_rejected.is_empty(), "{} ground truths rejected: {fixed_rejected:#?}", fixed_rejected.len());
    assert!(rejected >= 128, "only {rejected}/150 buggy commands rejected");
}

#[test]
fn excel_checker_accepts_nearly_all_euses_formulas() {
    let path = repo_file("corpora/excel/euses-formulas.txt");
    let text = std::fs::read_to_string(path).unwrap();
    let checker = LangId::Excel.language();
    let mut reasons = std::collections::BTreeMap::<String, usize>::new();
    let mut total = 0;
    let mut rejected = Vec::new();
    for line in text.lines() {
        total += 1;
        let formula = format!("={}", unquote_csv(line));
        if let Err(e) = checker.check(&formula) {
            *reasons.entry(e.message.split('`').next().unwrap_or("").to_string()).or_default() += 1;
            rejected.push(formula);
        }
    }
    let rate = rejected.len() as f64 / total as f64;
    eprintln!("EUSES: {}/{total} rejected ({:.3}%); reasons: {reasons:?}", rejected.len(), rate * 100.0);
    for r in rejected.iter().take(20) {
        eprintln!("  {r}");
    }
    assert_eq!(total, 89_295);
    assert!(rate < 0.01, "rejection rate {rate}");
}
