//! Data-parallel pretraining under `mpirun` (a build with `--features mpi` and
//! Open MPI's `mpirun` on the PATH; `.ci/run` installs it): two ranks match one
//! process within float reduction order, a 2-rank checkpoint resumes in one
//! process, and a rank killed mid-run ends the run cleanly; a relaunch resumes to
//! the weights of an uninterrupted run.
#![cfg(feature = "mpi")]

mod common;

use assert_cmd::Command;
use candle_core::{Device, Tensor};
use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Largest |w_1 - w_2| allowed between a 1-process and a 2-rank run after 20
/// steps: the two sum the same gradients in a different order (one batch of 8
/// against two halves of 4 and a sum), so they differ by float rounding, which
/// AdamW's normalised updates carry into the weights (measured: README,
/// "Data-parallel pretraining").
const TOLERANCE: f32 = 1e-3;

fn lastmile(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("lastmile").unwrap();
    cmd.current_dir(dir).env("LASTMILE_THREADS", "1");
    cmd
}

/// `mpirun -np 2 lastmile -q pretrain ARGS` in `dir`, as root if need be, one thread per rank.
fn mpirun(dir: &Path, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new("mpirun");
    cmd.current_dir(dir)
        .args(["-np", "2", "--oversubscribe", "-x", "LASTMILE_THREADS=1", "-x", "RAYON_NUM_THREADS=1"])
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .arg(assert_cmd::cargo::cargo_bin("lastmile"))
        .args(["-q", "pretrain"])
        .args(args);
    cmd
}

fn setup(root: &Path) {
    common::excel_slice(root, 2000);
    fs::write(
        root.join("model.toml"),
        "vocab_size = 300\nseq_len = 24\nd_model = 32\nn_heads = 2\ndenoiser_layers = 1\ndecoder_layers = 1\nembed_norm = 4.0\ntied_head = true\n",
    )
    .unwrap();
    lastmile(root).args(["-q", "mine", "--config", "excel.toml", "--out", "corpus"]).assert().success();
    lastmile(root)
        .args(["-q", "tokenizer", "train", "--corpus", "corpus/excel", "--vocab-size", "300", "--out", "tokenizer.json"])
        .assert()
        .success();
    for (name, steps) in [("solo", 20), ("duo", 20), ("half", 20), ("long", 200), ("killed", 200)] {
        fs::write(
            root.join(format!("{name}.toml")),
            format!(
                "model = \"model.toml\"\ncorpus = \"corpus/excel\"\ntokenizer = \"tokenizer.json\"\nout = \"{name}\"\nseed = 7\n\
                 batch_size = 8\nlr = 1e-3\nwarmup_steps = 5\nmax_steps = {steps}\neval_every = 10\neval_batches = 1\n\
                 checkpoint_every = 5\nema_decay = 0.9\ncpd_prob = 0.2\nspan_prob = 0.3\nspan_max = 3\nlow_noise_prob = 0.5\n\
                 low_noise_max = 240\nmse_weight = 16.0\n"
            ),
        )
        .unwrap();
    }
}

fn weights(path: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(path, &Device::Cpu).unwrap()
}

/// The largest absolute difference between two runs' weights (same names).
fn max_diff(a: &Path, b: &Path) -> f32 {
    let (a, b) = (weights(a), weights(b));
    assert_eq!(a.len(), b.len());
    a.iter()
        .map(|(name, x)| (x - &b[name]).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap())
        .fold(0.0, f32::max)
}

fn metrics_lines(run: &Path) -> usize {
    fs::read_to_string(run.join("metrics.jsonl")).unwrap().lines().count()
}

/// The lastmile processes whose parent is `parent`.
fn children(parent: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else { continue };
        // pid (comm) state ppid ...
        let after = &stat[stat.rfind(')').unwrap_or(0) + 1..];
        let ppid = after.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) && stat.contains("(lastmile)") {
            found.push(pid);
        }
    }
    found
}

#[test]
fn two_mpi_ranks_match_one_process_resume_anywhere_and_survive_a_dead_rank() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    setup(root);
    let model = |run: &str| root.join(run).join("checkpoint/model.safetensors");

    // 1 process and 2 ranks, 20 steps each, same seed and config
    lastmile(root).args(["-q", "pretrain", "--config", "solo.toml"]).assert().success();
    let duo = mpirun(root, &["--config", "duo.toml"]).output().unwrap();
    assert!(duo.status.success(), "mpirun: {}", String::from_utf8_lossy(&duo.stderr));
    let diff = max_diff(&model("solo"), &model("duo"));
    eprintln!("1 process vs 2 ranks after 20 steps: max |dw| = {diff:e}");
    assert!(diff <= TOLERANCE, "2 ranks differ from 1 process by {diff}");
    assert_eq!(metrics_lines(&root.join("duo")), 20, "rank 0 alone writes metrics");

    // a 2-rank checkpoint (step 10) resumed by 1 process: the same 20-step run
    let half = mpirun(root, &["--config", "half.toml", "--max-steps", "10"]).output().unwrap();
    assert!(half.status.success(), "{}", String::from_utf8_lossy(&half.stderr));
    lastmile(root).args(["-q", "pretrain", "--config", "half.toml", "--resume"]).assert().success();
    let diff = max_diff(&model("solo"), &model("half"));
    eprintln!("2 ranks to step 10, then 1 process to 20, vs 1 process: max |dw| = {diff:e}");
    assert!(diff <= TOLERANCE, "resumed in 1 process: {diff} from the 1-process run");
    assert_eq!(metrics_lines(&root.join("half")), 20);

    // a rank killed mid-run: mpirun ends the other rank and fails within seconds
    let long = mpirun(root, &["--config", "long.toml"]).output().unwrap();
    assert!(long.status.success(), "{}", String::from_utf8_lossy(&long.stderr));
    let mut run = mpirun(root, &["--config", "killed.toml"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let started = Instant::now();
    while !root.join("killed/checkpoint/state.json").exists() && started.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(2));
    }
    let ranks = children(run.id());
    assert_eq!(ranks.len(), 2, "two rank processes under mpirun: {ranks:?}");
    std::process::Command::new("kill").args(["-9", &ranks[1].to_string()]).status().unwrap();
    let killed_at = Instant::now();
    let status = loop {
        if let Some(status) = run.try_wait().unwrap() {
            break status;
        }
        assert!(killed_at.elapsed() < Duration::from_secs(30), "the surviving rank hangs");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success(), "a run with a dead rank does not report success");
    // the last complete checkpoint is valid: a relaunch resumes from it to the
    // uninterrupted run's weights (2 ranks both times: the same sums, bitwise)
    let state: serde_json::Value = serde_json::from_str(&fs::read_to_string(root.join("killed/checkpoint/state.json")).unwrap()).unwrap();
    let saved = state["step"].as_u64().unwrap();
    eprintln!(
        "rank {} killed; mpirun ended in {:.1} s with {status}; last checkpoint: step {saved}",
        ranks[1],
        killed_at.elapsed().as_secs_f64()
    );
    assert!(saved.is_multiple_of(5) && saved < 200, "killed before the end, at a checkpoint step: {saved}");
    let resumed = mpirun(root, &["--config", "killed.toml", "--resume"]).output().unwrap();
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    assert_eq!(max_diff(&model("long"), &model("killed")), 0.0, "resumed after a dead rank = uninterrupted");

    // the pipeline runner launches its parallel stage on 2 ranks, the others once
    fs::write(root.join("piped.toml"), fs::read_to_string(root.join("duo.toml")).unwrap().replace("\"duo\"", "\"piped\"")).unwrap();
    fs::write(
        root.join("pipe.toml"),
        "name = \"pipe\"\n[[stage]]\nname = \"pretrain\"\nparallel = true\nargs = [\"pretrain\", \"--config\", \"piped.toml\", \"--max-steps\", \"6\"]\n\
         inputs = [\"piped.toml\"]\noutputs = [\"piped/checkpoint\"]\n[[stage]]\nname = \"denoiser\"\nargs = [\"eval\", \"denoiser\", \
         \"--checkpoint\", \"piped/checkpoint\", \"--corpus\", \"corpus/excel\", \"--examples\", \"8\", \"--t\", \"0\", \"--out\", \"piped/den\"]\n\
         inputs = [\"piped/checkpoint\"]\noutputs = [\"piped/den\"]\n",
    )
    .unwrap();
    let launcher = "mpirun -np 2 --oversubscribe -x LASTMILE_THREADS=1 -x RAYON_NUM_THREADS=1";
    let piped = lastmile(root)
        .args(["pipeline", "run", "pipe.toml", "--launcher", launcher])
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&piped.stdout);
    assert!(piped.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&piped.stderr));
    assert!(stdout.contains(&format!("[pretrain] {launcher} lastmile pretrain")), "{stdout}");
    assert!(stdout.contains("data-parallel over 2 ranks (mpi)"), "{stdout}");
    assert_eq!(metrics_lines(&root.join("piped")), 6);
    assert!(root.join("piped/den").exists());
    // a runner started on every rank would run the single-process stages N times: refused
    let refused = std::process::Command::new("mpirun")
        .current_dir(root)
        .args(["-np", "2", "--oversubscribe"])
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .arg(assert_cmd::cargo::cargo_bin("lastmile"))
        .args(["pipeline", "run", "pipe.toml"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--launcher \"mpirun -np 2\""),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
