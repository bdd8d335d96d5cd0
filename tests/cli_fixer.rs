//! End to end on a temp dir: a rule-based dataset from real EUSES formulas,
//! fixers trained on it and on its identity control with one tiny recipe
//! (resumption gives the same weights as an uninterrupted run), both scored
//! on the real Excel benchmark by `eval fixer`, and the data-quality report
//! built from them.

mod common;

use assert_cmd::Command;
use std::fs;
use std::path::Path;

fn lastmile(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("lastmile").unwrap();
    cmd.current_dir(dir);
    cmd
}

const CORRUPT: &str = r#"
lang = "excel"
out = "ds"
seed = 1
target_pairs = 400
max_chains = 2000
chains_per_unit = 256
batch_size = 256
valid_fraction = 0.1
[[source]]
kind = "rules"
corpus = "outputs/corpus/excel"
[filter]
min_token_edits = 1
max_token_edits = 4
max_length_change = 0.4
"#;

const RECIPE: &str =
    "steps = 24\nbatch_size = 16\nlr = 3e-3\nwarmup_steps = 4\nmax_len = 48\ncheckpoint_every = 8\nd_model = 32\nn_heads = 2\nlayers = 1\n";

#[test]
fn fixers_train_resume_evaluate_and_compare() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    common::excel_slice(root, 2000);
    fs::write(root.join("corrupt.toml"), CORRUPT).unwrap();
    fs::write(root.join("recipe.toml"), RECIPE).unwrap();
    let (tokenizer, bench) = (common::repo_file("models/excel/tokenizer.json"), common::repo_file("corpora/benchmarks/repair/excel.json"));
    let (tokenizer, bench) = (tokenizer.to_str().unwrap(), bench.to_str().unwrap());
    lastmile(root).args(["mine", "--quiet", "--config", "excel.toml"]).assert().success();
    lastmile(root).args(["corrupt", "--quiet", "--config", "corrupt.toml"]).assert().success();
    let train = |pairs: &str, out: &str, extra: &[&str]| {
        lastmile(root)
            .args(["fixer", "train", "--quiet", "--pairs", pairs, "--tokenizer", tokenizer, "--recipe", "recipe.toml", "--out", out])
            .args(extra)
            .assert()
            .success();
    };
    train("ds", "dq/rules-s0", &[]);
    train("identity:ds:300", "dq/identity-s0", &[]);
    for file in ["config.json", "model.safetensors", "tokenizer.json", "recipe.json", "data.json", "metrics.jsonl"] {
        assert!(root.join("dq/rules-s0").join(file).exists(), "{file}");
    }
    let data: serde_json::Value = serde_json::from_slice(&fs::read(root.join("dq/identity-s0/data.json")).unwrap()).unwrap();
    assert_eq!(data["taken"][0], 300);
    assert_eq!(fs::read_to_string(root.join("dq/rules-s0/metrics.jsonl")).unwrap().lines().count(), 24);

    // stopped after 8 of 16 steps and resumed: the same bytes as the uninterrupted run
    fs::write(root.join("recipe16.toml"), RECIPE.replace("steps = 24", "steps = 16")).unwrap();
    let run16 = |out: &str, extra: &[&str]| {
        lastmile(root)
            .args(["fixer", "train", "--quiet", "--pairs", "ds", "--tokenizer", tokenizer, "--recipe", "recipe16.toml", "--out", out])
            .args(extra)
            .assert()
    };
    run16("resumed", &["--stop-after", "8"]).success();
    let state = fs::read_to_string(root.join("resumed/checkpoint/state.json")).unwrap();
    assert!(state.contains("\"step\": 8"), "{state}");
    assert!(!root.join("resumed/model.safetensors").exists(), "a stopped run has no final weights yet");
    // a checkpoint only resumes under its own recipe
    let refused = lastmile(root)
        .args([
            "fixer",
            "train",
            "--quiet",
            "--pairs",
            "ds",
            "--tokenizer",
            tokenizer,
            "--recipe",
            "recipe.toml",
            "--out",
            "resumed",
            "--resume",
        ])
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    assert!(stderr.contains("another recipe") && stderr.contains("state.json"), "{stderr}");
    run16("resumed", &["--resume"]).success();
    run16("straight", &[]).success();
    assert_eq!(
        fs::read(root.join("resumed/model.safetensors")).unwrap(),
        fs::read(root.join("straight/model.safetensors")).unwrap(),
        "resumed and uninterrupted runs end with the same weights"
    );
    assert_eq!(fs::read_to_string(root.join("resumed/metrics.jsonl")).unwrap().lines().count(), 16);

    for run in ["rules-s0", "identity-s0"] {
        lastmile(root)
            .args(["eval", "fixer", "--quiet", "--fixer", &format!("dq/{run}"), "--bench", bench, "--lang", "excel"])
            .args(["--beam", "3", "--limit", "12", "--out", &format!("dq/{run}/eval")])
            .assert()
            .success();
    }
    let results: serde_json::Value = serde_json::from_slice(&fs::read(root.join("dq/rules-s0/eval/results.json")).unwrap()).unwrap();
    assert_eq!(results["top1"].as_array().unwrap().len(), 12);
    assert_eq!(results["report"]["items"], 12);
    assert!(results["report"]["pass_at"]["3"].as_f64().unwrap() >= results["report"]["pass_at"]["1"].as_f64().unwrap());
    // predictions.jsonl: one line per item, in benchmark order, agreeing with top1
    let predictions = fs::read_to_string(root.join("dq/rules-s0/eval/predictions.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = predictions.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 12);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["id"], format!("excel/{i}"));
        assert_eq!(line["correct"], results["top1"][i]);
        assert!(results["guided"][i].is_boolean());
        let beams = line["beams"].as_array().unwrap();
        assert!(beams.len() <= 3 && beams.len() == line["valid"].as_array().unwrap().len(), "{line}");
    }

    // fidelity: the correct versions decoded as inputs; the same count as scoring a
    // benchmark whose broken sides are those correct versions
    let fidelity = &results["fidelity"];
    assert_eq!(fidelity["items"], 12);
    let copies: Vec<serde_json::Value> = serde_json::from_str::<Vec<serde_json::Value>>(&fs::read_to_string(bench).unwrap())
        .unwrap()
        .into_iter()
        .map(|item| serde_json::json!({ "Buggy": item["GroundTruth"], "GroundTruth": item["GroundTruth"] }))
        .collect();
    fs::write(root.join("copies.json"), serde_json::to_vec(&copies).unwrap()).unwrap();
    lastmile(root)
        .args(["eval", "fixer", "--quiet", "--fixer", "dq/rules-s0", "--bench", "copies.json", "--lang", "excel", "--no-fidelity"])
        .args(["--beam", "3", "--limit", "12", "--out", "dq/rules-s0/copies"])
        .assert()
        .success();
    let copied = fs::read_to_string(root.join("dq/rules-s0/copies/predictions.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|line| line["beams"].get(0) == Some(&line["broken"]))
        .count();
    assert_eq!(fidelity["unchanged"], copied, "{fidelity}");
    let no_fidelity: serde_json::Value = serde_json::from_slice(&fs::read(root.join("dq/rules-s0/copies/results.json")).unwrap()).unwrap();
    assert!(no_fidelity.get("fidelity").is_none(), "--no-fidelity decodes the broken sides only");
    let md = fs::read_to_string(root.join("dq/rules-s0/eval/results.md")).unwrap();
    assert!(md.contains("Fidelity: the 12 correct versions as inputs, top beam unchanged"), "{md}");

    // the fixer's own predictions, scored by `eval predictions`, give its figures exactly
    lastmile(root)
        .args(["eval", "predictions", "--quiet", "--predictions", "dq/rules-s0/eval/predictions.jsonl", "--bench", bench])
        .args(["--lang", "excel", "--limit", "12", "--out", "dq/rules-s0/rescored"])
        .assert()
        .success();
    let rescored: serde_json::Value = serde_json::from_slice(&fs::read(root.join("dq/rules-s0/rescored/results.json")).unwrap()).unwrap();
    assert_eq!(rescored["report"], results["report"], "the same harness, the same figures");
    assert_eq!(rescored["top1"], results["top1"]);
    assert_eq!(rescored["guided"], results["guided"]);
    // a prediction for an item outside the benchmark is an error naming the line
    fs::write(root.join("bad.jsonl"), "{\"id\": \"excel/0\", \"beams\": [\"=1\"]}\n{\"id\": \"nope/1\", \"beams\": [\"=1\"]}\n").unwrap();
    let failed = lastmile(root)
        .args(["eval", "predictions", "--quiet", "--predictions", "bad.jsonl", "--bench", bench, "--lang", "excel", "--out", "bad"])
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&failed.get_output().stderr).to_string();
    assert!(stderr.contains("bad.jsonl:2: id \"nope/1\" is not an item"), "{stderr}");

    lastmile(root).args(["eval", "data-quality", "--quiet", "--dir", "dq", "--seconds", "60"]).assert().success();
    let report = fs::read_to_string(root.join("dq/report.md")).unwrap();
    assert!(report.contains("| identity |") && report.contains("| rules |"), "{report}");
    assert!(report.contains("| identity | rules | 0 |") && report.contains("| identity | rules | pooled |"), "{report}");
    assert!(report.contains("took 1.0 min"), "{report}");
    // the same fixers under checker-guided decoding, with their own paired tests
    let guided = &report[report.find("### Checker-guided decoding").expect("a guided section")..];
    assert!(guided.contains("| identity |") && guided.contains("| identity | rules | pooled |"), "{guided}");
    assert!(report.contains("### By edit family of the benchmark item"), "{report}");
    let json: serde_json::Value = serde_json::from_slice(&fs::read(root.join("dq/report.json")).unwrap()).unwrap();
    assert_eq!(json["items"], 12);
    let regimes = json["regimes"].as_array().unwrap();
    assert_eq!(regimes.len(), 1, "every fixer here was trained from scratch");
    assert_eq!(regimes[0]["regime"], "from_scratch");
    assert_eq!(regimes[0]["sources"].as_array().unwrap().len(), 2);
    assert_eq!(regimes[0]["guided_sources"].as_array().unwrap().len(), 2);
}
