//! End to end through the CLI: NL-to-code generation with the shipped models and
//! the NL2Bash evaluation on a subset of its test split.

#[path = "common/repo_file.rs"]
mod repo_file;

use assert_cmd::Command;
use lastmile::lang::LangId;

fn lastmile() -> Command {
    let mut cmd = Command::cargo_bin("lastmile").unwrap();
    cmd.current_dir(repo_file::repo_file("."));
    cmd
}

/// The shipped Bash model answers an utterance with distinct commands the Bash
/// check accepts, the same on every run; a grounded CF read-out takes the number
/// the utterance shows or keeps a chain's argmax.
#[test]
fn shipped_models_generate_checked_candidates() {
    // a small, fast sampling of the shipped model of `lang`
    let generate = |lang: &str, nl: &str, extra: &[&str]| {
        let mut args = vec!["nl2code", "generate", "--lang", lang, "--nl", nl, "-k", "3", "--chains", "3", "--steps", "6"];
        args.extend_from_slice(extra);
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let args = generate("bash", "find all txt files in the current folder", &["--lengths", "6,8", "--json"]);
    let out = lastmile().args(&args).assert().success().get_output().stdout.clone();
    let candidates: Vec<serde_json::Value> = serde_json::from_slice(&out).unwrap();
    assert!(!candidates.is_empty() && candidates.len() <= 3, "{candidates:?}");
    let bash = LangId::Bash.language();
    let texts: Vec<&str> = candidates.iter().map(|c| c["text"].as_str().unwrap()).collect();
    assert!(texts.iter().all(|t| bash.check(t).is_ok()), "{texts:?}");
    let again = lastmile().args(&args).assert().success().get_output().stdout.clone();
    assert_eq!(out, again, "same seed, same candidates");

    let grounded = generate("cf", "Highlight sales below 900000", &["--grounded"]);
    let out = String::from_utf8(lastmile().args(&grounded).assert().success().get_output().stdout.clone()).unwrap();
    assert!(!out.trim().is_empty(), "{out}");
}

/// `eval nl2code --every` scores a fixed subset of NL2Bash by template match.
#[test]
fn nl2bash_subset_is_scored_by_template() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bash");
    lastmile()
        .args(["-q", "eval", "nl2code", "--bench", "corpora/benchmarks/nl2code/bash.json", "--lang", "bash", "--every", "100", "--out"])
        .arg(&out)
        .assert()
        .success();
    let md = std::fs::read_to_string(out.join("results.md")).unwrap();
    assert!(md.contains("26 test items scored (1 test item in 100,") && md.contains("| template@1 |"), "{md}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(json["test_every"], 100);
    assert!(json["methods"][0]["rates"]["template"].as_array().is_some_and(|t| t.len() == 3));
    // 0 is not a subset
    lastmile()
        .args(["-q", "eval", "nl2code", "--bench", "corpora/benchmarks/nl2code/bash.json", "--lang", "bash", "--every", "0", "--out"])
        .arg(&out)
        .assert()
        .failure();
}

/// The shipped CF model reads numbers and quoted text values as literal slots:
/// values it never saw in training come back as the utterance writes them (a
/// number with a thousands separator as its value), never respelt; "below" before
/// a number, which its benchmark's train split never says, is `LessThan`.
#[test]
fn shipped_cf_model_copies_the_values_an_utterance_shows() {
    let first = |nl: &str| {
        let out = lastmile().args(["nl2code", "generate", "--lang", "cf", "--length", "32", "-k", "1", "--nl", nl]).assert().success();
        String::from_utf8(out.get_output().stdout.clone()).unwrap().trim().to_string()
    };
    assert_eq!(first("Highlight sales below 900000"), "LessThan(900000)");
    assert_eq!(first("Color cells greater than 73125"), "GreaterThan(73125)");
    assert_eq!(first("Format cells that are between 12 and 4,500"), "Between(12, 4500)");
    let text = first("Color cells that contain 'overdue'");
    assert!(text.starts_with("Text") && text.contains("(overdue)"), "{text}");
}

/// Chains started from the programs of the nearest train items (`--exemplars`),
/// noised to a level and resumed, keep what those programs share with the request
/// and take its values: the exemplars' own numbers are slots that the utterance's
/// numbers fill.
#[test]
fn shipped_cf_model_edits_the_nearest_train_programs() {
    let bench = "corpora/benchmarks/nl2code/cfrule.json";
    let first = |nl: &str| {
        let args = ["nl2code", "generate", "--lang", "cf", "--length", "32", "-k", "1", "--exemplars", "5", "--exemplar-level", "0.3"];
        let out = lastmile().args(args).args(["--exemplars-from", bench, "--nl", nl]).assert().success();
        String::from_utf8(out.get_output().stdout.clone()).unwrap().trim().to_string()
    };
    assert_eq!(first("Highlight sales below 900000"), "LessThan(900000)");
    assert_eq!(first("Color cells greater than 73125"), "GreaterThan(73125)");
    assert_eq!(first("Format cells that are between 12 and 4,500"), "Between(12, 4500)");
    // exemplars come from a benchmark's train split, which must be named
    let out = lastmile().args(["nl2code", "generate", "--lang", "cf", "--nl", "x", "--exemplars", "5"]).assert().failure();
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains("--exemplars-from"), "{stderr}");
}
