//! End to end: mine a slice of the real Excel corpus, train a tokenizer, pretrain
//! a small model for a few steps, resume it, sample and evaluate, all through the
//! CLI on a temp dir.

mod common;

use assert_cmd::Command;
use std::fs;
use std::path::Path;

fn lastmile(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("lastmile").unwrap();
    cmd.current_dir(dir);
    cmd
}

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8(cmd.assert().success().get_output().stdout.clone()).unwrap()
}

#[test]
fn tokenizer_pretrain_resume_sample_and_eval() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    common::excel_slice(root, 4000);
    lastmile(root).args(["-q", "mine", "--config", "excel.toml"]).assert().success();
    let out = stdout(lastmile(root).args([
        "tokenizer",
        "train",
        "--corpus",
        "outputs/corpus/excel",
        "--vocab-size",
        "400",
        "--out",
        "tok/tokenizer.json",
        "--seq-len",
        "24",
    ]));
    assert!(out.contains("vocabulary 400") && out.contains("length 24: "), "{out}");

    fs::write(
        root.join("model.toml"),
        "vocab_size = 400\nseq_len = 24\nd_model = 32\nn_heads = 2\ndenoiser_layers = 1\ndecoder_layers = 1\nembed_norm = 4.0\n",
    )
    .unwrap();
    let out = stdout(lastmile(root).args(["model", "info", "model.toml"]));
    assert!(out.contains("model.toml") && out.contains("0.0"), "{out}");
    fs::write(
        root.join("train.toml"),
        "model = \"model.toml\"\ncorpus = \"outputs/corpus/excel\"\ntokenizer = \"tok/tokenizer.json\"\nout = \"run\"\nbatch_size = 8\nmax_steps = 4\neval_every = 2\neval_batches = 1\ncheckpoint_every = 2\ncpd_prob = 0.5\n",
    )
    .unwrap();
    let out = stdout(lastmile(root).args(["pretrain", "--config", "train.toml", "--max-steps", "2"]));
    assert!(out.starts_with("2 steps"), "{out}");
    let out = stdout(lastmile(root).args(["pretrain", "--config", "train.toml", "--resume"]));
    assert!(out.starts_with("4 steps"), "{out}");
    let metrics = fs::read_to_string(root.join("run/metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 4);
    for file in ["model.safetensors", "config.json", "tokenizer.json", "optimizer.safetensors", "state.json"] {
        assert!(root.join("run/checkpoint").join(file).exists(), "{file}");
    }
    assert!(root.join("run/loss.png").exists());

    let out = stdout(lastmile(root).args([
        "sample",
        "--checkpoint",
        "run/checkpoint",
        "-n",
        "6",
        "--steps",
        "20",
        "--lang",
        "excel",
        "--out",
        "samples.jsonl",
    ]));
    assert!(out.contains("/6 (") && out.contains("distinct"), "{out}");
    assert_eq!(fs::read_to_string(root.join("samples.jsonl")).unwrap().lines().count(), 6);
    // same seed, same samples
    stdout(lastmile(root).args([
        "sample",
        "--checkpoint",
        "run/checkpoint",
        "-n",
        "6",
        "--steps",
        "20",
        "--clamp",
        "--update",
        "ddpm",
        "--out",
        "a.jsonl",
    ]));
    stdout(lastmile(root).args([
        "sample",
        "--checkpoint",
        "run/checkpoint",
        "-n",
        "6",
        "--steps",
        "20",
        "--clamp",
        "--update",
        "ddpm",
        "--out",
        "b.jsonl",
    ]));
    assert_eq!(fs::read(root.join("a.jsonl")).unwrap(), fs::read(root.join("b.jsonl")).unwrap());
    // bf16 products (where the CPU has them): the same bytes run to run too
    let medium = |out: &str| {
        let args = ["--matmul-precision", "medium", "sample", "--checkpoint", "run/checkpoint", "-n", "6", "--steps", "20"];
        stdout(lastmile(root).args(args).args(["--clamp", "--update", "ddpm", "--out", out]));
        fs::read(root.join(out)).unwrap()
    };
    let first = medium("m1.jsonl");
    assert_eq!(String::from_utf8_lossy(&first).lines().count(), 6);
    assert_eq!(first, medium("m2.jsonl"));
    let err = lastmile(root).args(["--matmul-precision", "bf16", "model", "info", "model.toml"]).assert().failure();
    let err = String::from_utf8_lossy(&err.get_output().stderr).to_string();
    assert!(err.contains("bf16") && err.contains("highest"), "{err}");

    // length-conditioned and checker-constrained sampling: the same chains, so each
    // constrained sample is the argmax one or passes the check; deterministic
    let sample = |extra: &[&str], out: &str| {
        let mut args = vec!["sample", "--checkpoint", "run/checkpoint", "-n", "12", "--steps", "10", "--clamp", "--lang", "excel"];
        args.extend_from_slice(&["--lengths", "outputs/corpus/excel", "--out", out]);
        args.extend_from_slice(extra);
        stdout(lastmile(root).args(&args));
        let rows: Vec<serde_json::Value> =
            fs::read_to_string(root.join(out)).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        rows
    };
    let plain = sample(&[], "lengths.jsonl");
    let constrained = sample(&["--constrained"], "constrained.jsonl");
    assert_eq!((plain.len(), constrained.len()), (12, 12));
    for (p, c) in plain.iter().zip(&constrained) {
        assert!(p["text"] == c["text"] || c["valid"] == true, "{p} -> {c}");
        assert!(c["text"].as_str().unwrap().len() < 400, "a drawn corpus length bounds the sample: {c}");
    }
    sample(&["--constrained"], "constrained2.jsonl");
    assert_eq!(fs::read(root.join("constrained.jsonl")).unwrap(), fs::read(root.join("constrained2.jsonl")).unwrap());
    // generation then the model's own repair: the same chains, so each raw sample is
    // the plain one; a repaired sample passes the check; deterministic
    let repaired = sample(&["--repair-rounds", "2"], "repaired.jsonl");
    assert_eq!(repaired.len(), 12);
    for (p, r) in plain.iter().zip(&repaired) {
        assert_eq!(p["text"], r["raw"], "{p} -> {r}");
        if r["repaired"] == true {
            assert!(r["valid"] == true && r["text"] != r["raw"], "{r}");
        } else {
            assert_eq!(r["text"], r["raw"], "{r}");
        }
        if p["valid"] == true {
            assert_eq!(r["repaired"], false, "a sample that passes is not repaired: {r}");
        }
    }
    sample(&["--repair-rounds", "2"], "repaired2.jsonl");
    assert_eq!(fs::read(root.join("repaired.jsonl")).unwrap(), fs::read(root.join("repaired2.jsonl")).unwrap());
    let err = lastmile(root).args(["sample", "--checkpoint", "run/checkpoint", "--repair-rounds", "2"]).assert().failure();
    assert!(String::from_utf8_lossy(&err.get_output().stderr).contains("--lang"));

    let out = stdout(lastmile(root).args([
        "eval",
        "denoiser",
        "--checkpoint",
        "run/checkpoint",
        "--corpus",
        "outputs/corpus/excel",
        "--out",
        "eval",
        "--examples",
        "16",
        "--every",
        "600",
    ]));
    assert!(out.contains("t=    0") && out.contains("t= 1199") && out.contains("chance"), "{out}");
    assert!(root.join("eval/accuracy_by_t.png").exists() && root.join("eval/accuracy_by_t.json").exists());

    let fail = lastmile(root).args(["pretrain", "--config", "missing.toml"]).assert().failure();
    let stderr = String::from_utf8_lossy(&fail.get_output().stderr).to_string();
    assert!(stderr.contains("missing.toml"), "{stderr}");
}
