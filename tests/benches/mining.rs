//! Mining throughput: all five corpora with the default configs, in the bench
//! (release) profile. Target: under 30 s in total on a 2-core machine.
//! Run with `make bench` (or `cargo bench --bench mining`).

#[path = "../common/repo_file.rs"]
mod repo_file;
use repo_file::repo_file;
use lastmile::mine::{mine, CorpusConfig};
use std::time::Instant;

fn main() {
    println!("{}", lastmile::machine::Machine::detect());
    let root = repo_file("");
    let out = tempfile::tempdir().expect("temp dir");
    let mut paths: Vec<_> = std::fs::read_dir(root.join("configs/corpus"))
        .expect("configs/corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    println!("mining throughput, {} threads", rayon::current_num_threads());
    println!("{:<11} {:>9} {:>8} {:>8} {:>10} {:>9}", "lang", "inputs", "kept", "MB", "seconds", "inputs/s");
    let (mut total_s, mut total_inputs) = (0.0, 0);
    for path in paths {
        let config = CorpusConfig::load(&path).expect("valid config");
        let bytes = std::sync::atomic::AtomicU64::new(0);
        let started = Instant::now();
        let report = mine(&config, &root, &out.path().join(config.lang.name()), &mut |p| {
            bytes.store(p.total.unwrap_or(0), std::sync::atomic::Ordering::Relaxed)
        })
        .expect("mining succeeds");
        let seconds = started.elapsed().as_secs_f64();
        total_s += seconds;
        total_inputs += report.inputs;
        println!(
            "{:<11} {:>9} {:>8} {:>8.1} {:>10.2} {:>9.0}",
            config.lang.name(),
            report.inputs,
            report.kept_total(),
            bytes.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e6,
            seconds,
            report.inputs as f64 / seconds
        );
    }
    println!("{:<11} {:>9} {:>8} {:>8} {:>10.2} {:>9.0}", "all", total_inputs, "", "", total_s, total_inputs as f64 / total_s);
    println!("target: all five corpora in < 30 s: {}", if total_s < 30.0 { "met" } else { "NOT met" });
}
