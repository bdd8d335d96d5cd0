//! Repair end to end on real data with a model trained in the test: the
//! training side (`train/`) builds the fixture, the repair side uses it, as a
//! user's checkpoint would be used. (Kept out of `repair/`'s unit tests so that
//! no inference stage imports `train/`, not even under `cfg(test)`.)

#[path = "common/repo_file.rs"]
mod repo_file;
use candle_core::{Device, Tensor};
use lastmile::diffusion::{randn, NoiseSchedule, SamplerConfig};
use lastmile::lang::LangId;
use lastmile::model::{init_model, ModelConfig};
use lastmile::repair::{choose, Pooling, RepairConfig, Repairer, WholeReadout};
use lastmile::tokenizer::CodeTokenizer;
use lastmile::train::{diffusion_loss, AdamW, AdamWParams};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use repo_file::repo_file;

/// A tiny model trained here, in seconds, to denoise a
/// handful of real formulas (the human fixes of the Excel benchmark) takes a
/// broken formula with a missing parenthesis back to a valid one.
#[test]
fn a_tiny_trained_model_repairs_a_known_broken_formula() {
    let bench = lastmile::eval::load_bench(&repo_file("corpora/benchmarks/repair/excel.json")).unwrap();
    let excel = LangId::Excel.language();
    let mut formulas: Vec<String> = bench.iter().map(|i| i.truth.clone()).filter(|t| t.len() <= 14 && excel.check(t).is_ok()).collect();
    formulas.dedup();
    formulas.truncate(8);
    formulas.push("=SUM(A1:A3)".into());
    let tokenizer = CodeTokenizer::train(formulas.iter(), 300).unwrap();
    let config =
        ModelConfig { vocab_size: 300, seq_len: 16, d_model: 32, n_heads: 2, denoiser_layers: 1, decoder_layers: 1, ..ModelConfig::tiny() };
    let (model, vars) = init_model(&config, &Device::Cpu, 0).unwrap();
    let flat: Vec<u32> = formulas.iter().flat_map(|f| tokenizer.encode_fixed(f, 16).unwrap().unwrap()).collect();
    let tokens = Tensor::from_vec(flat, (formulas.len(), 16), &Device::Cpu).unwrap();
    let schedule = NoiseSchedule::sqrt(1200);
    let mut optimizer = AdamW::new(vars.data().lock().unwrap().clone(), AdamWParams::default()).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for _ in 0..600 {
        let t: Vec<u32> = (0..formulas.len()).map(|_| rng.random_range(0..1200)).collect();
        let eps = randn(&mut rng, &[formulas.len(), 16, 32], &Device::Cpu).unwrap();
        let terms = diffusion_loss(&model, &schedule, &tokens, &t, &eps, None, None, 1.0, true).unwrap();
        optimizer.step(&terms.total.backward().unwrap(), 3e-3, Some(1.0)).unwrap();
    }
    let broken = "=SUM(A1:A3".to_string();
    assert!(excel.check(&broken).is_err());
    // low levels keep the input (missing parenthesis included); higher ones
    // leave room for the model's prior, which has only seen valid formulas
    let repair = RepairConfig {
        levels: vec![0.3, 0.5, 0.7],
        samples: 3,
        batch_size: 9,
        sampler: SamplerConfig { steps: Some(5), ..Default::default() },
        seed: 0,
        localise: None,
        rank: None,
        constrained: None,
    };
    let repairer = Repairer::new(&model, &tokenizer, excel);
    let candidates = repairer.repair(&[broken.clone()], &repair).unwrap().remove(0).unwrap();
    let valid: Vec<&str> = candidates.iter().filter(|c| c.valid).map(|c| c.text.as_str()).collect();
    assert!(!valid.is_empty(), "no valid candidate among {:?}", candidates.iter().map(|c| &c.text).collect::<Vec<_>>());
    assert!(valid.iter().all(|v| excel.check(v).is_ok()));
    let chosen = choose(&candidates, excel, Pooling::Guided).unwrap();
    assert!(chosen.valid, "guided pooling picks a valid candidate: {}", chosen.text);

    // the paper's chains from a low level, read out under the checker: the
    // same chains (each candidate is the argmax one or one that passes), and
    // with edits charged the missing `)` is among what comes back
    let low = RepairConfig { levels: vec![0.05, 0.1], ..repair };
    let plain = repairer.repair(&[broken.clone()], &low).unwrap().remove(0).unwrap();
    let checked = RepairConfig { constrained: Some(WholeReadout { edit_cost: 4.0, ..WholeReadout::default() }), ..low };
    let read = repairer.repair(&[broken.clone()], &checked).unwrap().remove(0).unwrap();
    assert_eq!(plain.len(), read.len());
    for (a, b) in plain.iter().zip(&read) {
        assert!(a.text == b.text || b.valid, "{} -> {}: a constrained read-out passes the check", a.text, b.text);
    }
    let texts: Vec<&str> = read.iter().map(|c| c.text.as_str()).collect();
    assert!(read.iter().all(|c| c.valid), "every read-out passes: {texts:?}");
    assert!(texts.contains(&"=SUM(A1:A3)"), "the missing `)` added: {texts:?}");

    // alternatives: each chain's most probable accepted read-outs, its first
    // the one read out alone, every one passing
    let readout = WholeReadout { edit_cost: 4.0, alternatives: 3, ..WholeReadout::default() };
    let several = RepairConfig { constrained: Some(readout), ..checked };
    let more = repairer.repair(&[broken], &several).unwrap().remove(0).unwrap();
    assert!(more.len() > read.len() && more.iter().all(|c| c.valid), "{:?}", more.iter().map(|c| &c.text).collect::<Vec<_>>());
    for one in &read {
        let chain: Vec<&str> = more.iter().filter(|c| (c.level, c.sample) == (one.level, one.sample)).map(|c| c.text.as_str()).collect();
        assert!((1..=3).contains(&chain.len()) && chain[0] == one.text, "{} first among {chain:?}", one.text);
    }
}
