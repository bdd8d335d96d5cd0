//! Repair throughput for `tiny` (Excel, n = 32) on this machine: repairs per
//! second at each noise level, for the two samplers `lastmile repair` offers —
//! a fixed number of respaced steps from every level (`--steps 50`, the
//! default) and a fixed stride (`--stride 60`, the evaluation's: a chain from
//! level l takes 20·l + 1 steps). One repair = one input, one level, one
//! sample. Uses the nightly checkpoint when `make run` made one, else a freshly
//! initialised model (same cost). Inputs: the Excel benchmark's broken
//! formulas that fit the model. Run with `make bench`.

#[path = "../common/repo_file.rs"]
mod repo_file;
use candle_core::Device;
use lastmile::diffusion::{SamplerConfig, Update};
use lastmile::eval::load_bench;
use lastmile::lang::LangId;
use lastmile::model::init_model;
use lastmile::model::ModelConfig;
use lastmile::repair::{RepairConfig, Repairer};
use lastmile::tokenizer::CodeTokenizer;
use repo_file::repo_file;
use std::time::Instant;

/// The allocator `lastmile` itself runs with (`src/main.rs`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    lastmile::alloc::tune_for_tensors();
    println!("{}", lastmile::machine::Machine::detect());
    let root = repo_file("");
    let bench = load_bench(&root.join("corpora/benchmarks/repair/excel.json")).unwrap();
    let checkpoint = root.join("outputs/nightly/excel/run/checkpoint");
    let (model, tokenizer, what) = if checkpoint.join("model.safetensors").exists() {
        let loaded = lastmile::checkpoint::load(&checkpoint, &Device::Cpu).unwrap();
        let (model, tokenizer) = (loaded.model, loaded.tokenizer);
        (model, tokenizer, "nightly checkpoint")
    } else {
        let truths: Vec<String> = bench.iter().map(|i| i.truth.clone()).collect();
        let tokenizer = CodeTokenizer::train(truths.iter(), 4096).unwrap();
        let config = ModelConfig::load(&root.join("configs/model/tiny-excel.toml")).unwrap();
        let (model, _vars) = init_model(&config, &Device::Cpu, 0).unwrap();
        (model, tokenizer, "random initialisation")
    };
    let n = model.config().seq_len;
    let inputs: Vec<String> =
        bench.iter().map(|i| i.broken.clone()).filter(|b| tokenizer.encode_fixed(b, n).unwrap().is_some()).take(64).collect();
    let excel = LangId::Excel.language();
    let repairer = Repairer::new(&model, &tokenizer, excel);
    println!("repair, tiny-excel ({what}), {} threads, {} inputs, batch 64, 1 sample", rayon::current_num_threads(), inputs.len());
    println!("{:>7} {:>16} {:>16}", "level", "steps 50 rep/s", "stride 60 rep/s");
    for level in [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9] {
        let mut rates = Vec::new();
        for sampler in [
            SamplerConfig { steps: Some(50), stride: None, clamp: false, update: Update::Ddpm, likelihood: 0.0 },
            SamplerConfig { steps: None, stride: Some(60), clamp: false, update: Update::Ddpm, likelihood: 0.0 },
        ] {
            let config = RepairConfig {
                levels: vec![level],
                samples: 1,
                sampler,
                batch_size: 64,
                seed: 0,
                localise: None,
                rank: None,
                constrained: None,
            };
            let clock = Instant::now();
            let out = repairer.repair(&inputs, &config).unwrap();
            assert_eq!(out.len(), inputs.len());
            rates.push(inputs.len() as f64 / clock.elapsed().as_secs_f64());
        }
        println!("{level:>7.1} {:>16.1} {:>16.1}", rates[0], rates[1]);
    }
}
