//! Rollout throughput for `tiny` (Excel, n = 32) on this machine: kept pairs
//! per second and the time split between denoising, decoding and filtering,
//! with the settings of `configs/rollout/excel-nightly.toml`, and the projected
//! time for its 20,000 pairs. Uses the nightly checkpoint when `make run` made
//! one (`outputs/nightly/excel/run/checkpoint`); else a freshly initialised
//! model (same cost per step, fewer kept pairs) and a tokenizer trained here.
//! Needs the mined Excel corpus (`make mine`). Run with `make bench`.

#[path = "../common/repo_file.rs"]
mod repo_file;
use repo_file::repo_file;
use candle_core::Device;
use lastmile::dataset::read_corpus_split;
use lastmile::kernels::precision::{with_matmul_precision, MatmulPrecision};
use lastmile::model::init_model;
use lastmile::model::ModelConfig;
use lastmile::rollout::{Rollout, RolloutConfig};
use lastmile::tokenizer::CodeTokenizer;
use std::time::Instant;

/// The allocator `lastmile` itself runs with (`src/main.rs`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    lastmile::alloc::tune_for_tensors();
    println!("{}", lastmile::machine::Machine::detect());
    let root = repo_file("");
    let mut config = RolloutConfig::load(&root.join("configs/rollout/excel-nightly.toml")).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    config.out = scratch.path().join("bench-dataset");
    let units = 3;
    config.max_chains = units * config.chains_per_unit;
    config.target_pairs = usize::MAX;
    let checkpoint = root.join(config.checkpoint.as_ref().expect("the nightly config names a checkpoint"));
    let (model, tokenizer, sha, what) = if checkpoint.join("model.safetensors").exists() {
        let loaded = lastmile::checkpoint::load(&checkpoint, &Device::Cpu).unwrap();
        let (model, tokenizer) = (loaded.model, loaded.tokenizer);
        let sha = loaded.sha256.clone();
        (model, tokenizer, sha, "nightly checkpoint")
    } else {
        let corpus = read_corpus_split(&root.join("outputs/corpus/excel"), "train").expect("run `make mine` first");
        let texts: Vec<String> = corpus.into_iter().map(|r| r.text).collect();
        let tokenizer = CodeTokenizer::train(texts.iter(), 4096).unwrap();
        let model_config = ModelConfig::load(&root.join("configs/model/tiny-excel.toml")).unwrap();
        let (model, _vars) = init_model(&model_config, &Device::Cpu, 0).unwrap();
        (model, tokenizer, "random-init".to_string(), "random initialisation")
    };
    let rollout = Rollout::new(&config, &model, &tokenizer, &sha, &root).unwrap();
    // the same units at each matmul precision (`--matmul-precision`; the default
    // `highest` first): `medium` and `low` run only where the CPU has the kernels
    let mut rate = 0.0;
    for precision in [MatmulPrecision::Highest, MatmulPrecision::Medium, MatmulPrecision::Low] {
        let unit_rate = with_matmul_precision(precision, || run_units(&rollout, &config, units, what, precision));
        if precision == MatmulPrecision::Highest {
            rate = unit_rate;
        }
    }
    // SAFETY: getrusage writes into the zeroed struct we own
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } == 0 {
        println!("  peak resident memory: {:.0} MB", usage.ru_maxrss as f64 / 1024.0);
    }
    println!("  projected for 20,000 pairs at highest: {:.1} min (target: <= 15)", 20_000.0 / rate.max(1e-9) / 60.0);
}

/// Runs `units` units and prints their throughput and time split; returns kept pairs per second.
fn run_units(rollout: &Rollout, config: &RolloutConfig, units: usize, what: &str, precision: MatmulPrecision) -> f64 {
    let clock = Instant::now();
    let (mut kept, mut candidates, mut chains) = (0u64, 0u64, 0usize);
    let mut timing = lastmile::rollout::Timing::default();
    for u in 0..units {
        let marker = rollout.run_unit(u, 0).unwrap();
        kept += marker.counts.kept;
        candidates += marker.counts.candidates;
        chains += marker.chains;
        timing += marker.timing;
    }
    let wall = clock.elapsed().as_secs_f64();
    let busy = timing.denoise_s + timing.decode_s + timing.filter_s;
    let rate = kept as f64 / wall;
    let sampler = config.sampler.describe();
    println!(
        "rollout, tiny-excel ({what}), --matmul-precision {precision}, {} threads: {chains} chains ({sampler}, batch {}), {} chain-steps",
        rayon::current_num_threads(),
        config.batch_size,
        timing.chain_steps
    );
    println!(
        "  {wall:.1} s wall; {candidates} candidates, {kept} kept: {rate:.1} pairs/s, {:.1} chains/s, {:.1} chain-steps/s, {:.3} kept pairs per chain-step",
        chains as f64 / wall,
        timing.chain_steps as f64 / wall,
        kept as f64 / timing.chain_steps.max(1) as f64
    );
    println!(
        "  split: denoise {:.1} s ({:.1}%), decode {:.2} s ({:.1}%), filter {:.2} s ({:.1}%)",
        timing.denoise_s,
        100.0 * timing.denoise_s / busy,
        timing.decode_s,
        100.0 * timing.decode_s / busy,
        timing.filter_s,
        100.0 * timing.filter_s / busy
    );
    rate
}
