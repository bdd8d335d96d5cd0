//! One training step (forward, backward, AdamW) and one sampling step (one
//! denoiser pass plus the decode of `x0_hat`, as a rollout does) for `tiny` and
//! `small`, batch 32, next to the PyTorch reference of the same model
//! (`tests/benches/torch_reference.py`, run in the same process tree when
//! `python3 -c 'import torch'` works). Run with `make bench`.

#[path = "../common/repo_file.rs"]
mod repo_file;
use repo_file::repo_file;
use candle_core::{Device, Tensor};
use lastmile::diffusion::{randn, NoiseSchedule};
use lastmile::kernels::precision::{with_matmul_precision, MatmulPrecision};
use lastmile::model::init_model;
use lastmile::model::ModelConfig;
use lastmile::train::{diffusion_loss, AdamW, AdamWParams};
use rand::{Rng, SeedableRng};
use std::process::Command;
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Untimed steps before the timed ones, on both sides. A fresh process needs about four
/// training steps before its step time settles (the allocator's arenas fill: in
/// `examples`-style timing the first tiny steps took 2.5, 1.7, 1.0 and 0.87 s, then
/// 0.59-0.65 s); a training run takes thousands, so the bench times the steady state and
/// gives PyTorch the same warm-up.
const WARMUP: usize = 5;

/// Timed steps per measurement (the median is reported), on both sides.
const REPS: usize = 9;

fn time<F: FnMut()>(mut f: F) -> f64 {
    for _ in 0..WARMUP {
        f();
    }
    median(
        (0..REPS)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

/// Median seconds of a training step, a sampling step, and sampling steps at
/// `--matmul-precision medium` (bf16 products where the CPU has AVX-512 BF16)
/// and `low` (int8 products where it has AVX-512 VNNI).
fn rust_step_times(config: &ModelConfig, batch: usize) -> (f64, f64, f64, f64) {
    let device = Device::Cpu;
    let (model, vars) = init_model(config, &device, 0).unwrap();
    let mut optimizer = AdamW::new(vars.data().lock().unwrap().clone(), AdamWParams::default()).unwrap();
    let schedule = NoiseSchedule::sqrt(config.diffusion_steps);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let (n, d) = (config.seq_len, config.d_model);
    let ids: Vec<u32> = (0..batch * n).map(|_| rng.random_range(0..config.vocab_size as u32)).collect();
    let tokens = Tensor::from_vec(ids, (batch, n), &device).unwrap();
    let train = time(|| {
        let t: Vec<u32> = (0..batch).map(|_| rng.random_range(0..config.diffusion_steps as u32)).collect();
        let eps = randn(&mut rng, &[batch, n, d], &device).unwrap();
        let loss = diffusion_loss(&model, &schedule, &tokens, &t, &eps, None, None, 1.0, true).unwrap();
        optimizer.step(&loss.total.backward().unwrap(), 5e-4, None).unwrap();
    });
    // where a training step goes: the forward loss, its backward, the optimizer
    let (mut forward, mut backward, mut update) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..REPS {
        let t: Vec<u32> = (0..batch).map(|_| rng.random_range(0..config.diffusion_steps as u32)).collect();
        let eps = randn(&mut rng, &[batch, n, d], &device).unwrap();
        let start = Instant::now();
        let loss = diffusion_loss(&model, &schedule, &tokens, &t, &eps, None, None, 1.0, true).unwrap();
        forward.push(start.elapsed().as_secs_f64());
        let start = Instant::now();
        let grads = loss.total.backward().unwrap();
        backward.push(start.elapsed().as_secs_f64());
        let start = Instant::now();
        optimizer.step(&grads, 5e-4, None).unwrap();
        update.push(start.elapsed().as_secs_f64());
    }
    println!(
        "       rust train step parts (median): forward {:.3} s, backward {:.3} s, AdamW {:.3} s",
        median(forward),
        median(backward),
        median(update)
    );
    let x = randn(&mut rng, &[batch, n, d], &device).unwrap();
    let t = vec![(config.diffusion_steps / 2) as u32; batch];
    let sample_step = || {
        let x0_hat = model.denoise(&x, &t, None, false).unwrap();
        model.decode_tokens(&x0_hat, None).unwrap();
    };
    let sample = time(sample_step);
    let sample_medium = with_matmul_precision(MatmulPrecision::Medium, || time(sample_step));
    let sample_low = with_matmul_precision(MatmulPrecision::Low, || time(sample_step));
    (train, sample, sample_medium, sample_low)
}

/// This process's peak resident memory in MB (`VmHWM` of `/proc/self/status`).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb / 1024.0)
}

/// PyTorch's figures for one preset: train and sample step seconds, its version, its
/// peak resident memory in MB, and its training step's parts (forward, backward, AdamW).
fn torch_step_times(preset: &str, threads: usize) -> Option<(f64, f64, String, f64, [f64; 3])> {
    let script = repo_file("tests/benches/torch_reference.py");
    let script = script.to_str()?;
    let out = Command::new("python3")
        .args([script, "--config", preset, "--threads", &threads.to_string(), "--warmup", &WARMUP.to_string(), "--reps", &REPS.to_string()])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("torch reference failed: {}", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or(""));
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let rss = v["peak_rss_mb"].as_f64().unwrap_or(f64::NAN);
    let part = |k: &str| v["train_parts_s"][k].as_f64().unwrap_or(f64::NAN);
    let parts = [part("forward"), part("backward"), part("adamw")];
    Some((v["train_step_s"].as_f64()?, v["sample_step_s"].as_f64()?, v["impl"].as_str()?.to_string(), rss, parts))
}

fn main() {
    println!("{}", lastmile::machine::Machine::detect());
    lastmile::alloc::tune_for_tensors();
    let threads = rayon::current_num_threads();
    println!("CodeFusion step times, batch 32, {threads} threads, median of {REPS} after {WARMUP} untimed steps (both sides)");
    println!(
        "{:<6} {:>14} {:>14} {:>14} {:>14} {:>9} {:>9}",
        "config", "rust train s", "torch train s", "rust sample s", "torch sample s", "train x", "sample x"
    );
    // `cargo bench --bench model_step -- tiny` times one preset; no argument, all.
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    for (preset, config) in [("tiny", ModelConfig::tiny()), ("small", ModelConfig::small())] {
        if !only.is_empty() && !only.iter().any(|o| o == preset) {
            continue;
        }
        let (train, sample, sample_medium, sample_low) = rust_step_times(&config, 32);
        let torch = torch_step_times(preset, threads);
        match &torch {
            Some((torch_train, torch_sample, version, _, [forward, backward, adamw])) => {
                println!("       torch train step parts (median): forward {forward:.3} s, backward {backward:.3} s, AdamW {adamw:.3} s");
                println!(
                    "{preset:<6} {train:>14.3} {torch_train:>14.3} {sample:>14.3} {torch_sample:>14.3} {:>9.2} {:>9.2}   ({version}; x = rust time / torch time)",
                    train / torch_train,
                    sample / torch_sample
                )
            }
            None => println!("{preset:<6} {train:>14.3} {:>14} {sample:>14.3} {:>14}   (torch not installed: pip install torch)", "-", "-"),
        }
        let medium =
            if lastmile::kernels::bf16::available() { "bf16 products (AVX-512 BF16)" } else { "f32: this CPU has no AVX-512 BF16" };
        let low =
            if lastmile::kernels::int8::available() { "int8 products (AVX-512 VNNI)" } else { "as medium: this CPU has no AVX-512 VNNI" };
        for (name, kernel, seconds) in [("medium", medium, sample_medium), ("low", low, sample_low)] {
            match &torch {
                Some((_, torch_sample, ..)) => println!(
                    "       sample at --matmul-precision {name}, {kernel}: rust {seconds:.3} s, sample x {:.2}",
                    seconds / torch_sample
                ),
                None => println!("       sample at --matmul-precision {name}, {kernel}: rust {seconds:.3} s"),
            }
        }
        // the Rust peak so far: the presets run smallest first, so it is this preset's
        println!(
            "       peak resident memory (training and sampling): rust {:.0} MB, torch {:.0} MB",
            peak_rss_mb().unwrap_or(f64::NAN),
            torch.map_or(f64::NAN, |t| t.3)
        );
    }
}
