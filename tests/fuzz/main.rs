//! Fuzzing of every input surface: each language's lexer, checker, sketch and
//! corruption operators, the tokenizer, IronCalc execution, every TOML config,
//! our Parquet shards, `manifest.json`, benchmark files, `metrics.jsonl` and
//! checkpoints.
//!
//! Inputs are real ones, mutated: lines of the corpora and benchmarks, the
//! repository's configs, a dataset and a checkpoint that `lastmile` itself
//! writes at start-up (mutate.rs). Every target must answer each input
//! without a panic, within [`HANG_SECONDS`], with at most [`MEMORY_BYTES`] of
//! memory, and, where it reads a file, with an error that names the file.
//!
//! - `cargo test --test fuzz` (part of `make test`): a fixed-seed pass of
//!   [`DEFAULT_ITERATIONS`] inputs per target, plus every kept regression case.
//! - `make fuzz FUZZ_SECONDS=600` (or `FUZZ_INPUTS=1000000`, `FUZZ_JOBS=2`):
//!   every target for that long, the table of docs/reliability.md written to
//!   `outputs/fuzz/report.md`.
//! - `cargo test --test fuzz -- --list`, `-- <name filter>`, `--seed N`,
//!   `--iterations N`, `--seconds S`, `--jobs N`, `--report PATH`.
//!
//! With `--report`, each finished target's outcome is kept beside the report
//! (`outcomes/<target>.json`, with its seed, budget and the commit it ran at):
//! a long run that is stopped resumes at the targets it had not finished, and
//! the report names each target's commit. Delete a target's file to run it
//! again after changing the code it fuzzes.
//!
//! Each target runs in a process of its own, which writes the input it is on to
//! a file before running it: a crash that cannot be caught (a stack overflow,
//! an abort) is still recorded with the input that caused it, and the other
//! targets go on. Inputs that ever failed are kept under
//! `tests/fuzz/regressions/<target>/` and replayed on every run.

#[path = "../common/repo_file.rs"]
mod repo_file;
use repo_file::repo_file;
mod file_targets;
mod meter;
mod mutate;
mod text_targets;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[global_allocator]
static METER: meter::Meter = meter::Meter;

/// Inputs per target in the fixed-seed pass of `make test`.
const DEFAULT_ITERATIONS: u64 = 300;
/// One input running longer than this is a hang.
const HANG_SECONDS: u64 = 10;
/// One input needing more memory than this (above what was live before it) is a failure.
const MEMORY_BYTES: usize = 1 << 30;

/// One input surface under test.
pub trait Target {
    /// The target's name (`check-excel`, `parquet-pairs`, ...).
    fn name(&self) -> String;
    /// The next input, drawn from the target's real seeds.
    fn generate(&mut self, rng: &mut ChaCha8Rng) -> Vec<u8>;
    /// Runs the surface on `input`; `Err` names a broken property (a panic is
    /// caught by the runner).
    fn run(&mut self, input: &[u8]) -> Result<(), String>;
}

/// How a run is set up, from the command line.
struct Options {
    seed: u64,
    iterations: Option<u64>,
    seconds: Option<f64>,
    report: Option<PathBuf>,
    jobs: usize,
    worker: Option<String>,
    list: bool,
    filters: Vec<String>,
}

fn options() -> Options {
    let mut o = Options { seed: 0, iterations: None, seconds: None, report: None, jobs: 1, worker: None, list: false, filters: Vec::new() };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().unwrap_or_else(|| panic!("{name} needs a value"));
        match arg.as_str() {
            "--seed" => o.seed = value("--seed").parse().expect("--seed: an integer"),
            "--iterations" => o.iterations = Some(value("--iterations").parse().expect("--iterations: an integer")),
            "--seconds" => o.seconds = Some(value("--seconds").parse().expect("--seconds: a number")),
            "--report" => o.report = Some(PathBuf::from(value("--report"))),
            "--jobs" => o.jobs = value("--jobs").parse::<usize>().expect("--jobs: an integer").max(1),
            "--worker" => o.worker = Some(value("--worker")),
            "--list" => o.list = true,
            // what libtest's harness would accept with a value
            "--test-threads" | "--skip" | "--format" | "--color" | "-Z" => {
                value(&arg);
            }
            a if a.starts_with('-') => {}
            filter => o.filters.push(filter.to_string()),
        }
    }
    if o.seconds.is_none() {
        o.seconds = std::env::var("LASTMILE_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok());
    }
    o
}

/// A path inside the repository (the seeds: corpora, benchmarks, configs, models).
pub fn repo(path: &str) -> PathBuf {
    repo_file("").join(path)
}

/// Where the fuzzing process keeps its scratch files and its fixtures.
fn work_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn regressions_dir(target: &str) -> PathBuf {
    repo_file("tests/fuzz/regressions").join(target)
}

/// The target called `name`, ready to run.
fn build(name: &str) -> Box<dyn Target> {
    text_targets::build(name)
        .or_else(|| file_targets::build(name, &file_targets::fixtures(&work_dir())))
        .unwrap_or_else(|| panic!("no fuzz target `{name}` (--list shows them)"))
}

fn target_names() -> Vec<String> {
    let mut names = text_targets::names();
    names.extend(file_targets::names());
    names
}

/// What one target's process reports, as its last stdout line.
#[derive(serde::Serialize, serde::Deserialize, Default, Clone)]
struct Outcome {
    target: String,
    inputs: u64,
    regressions: u64,
    /// The commit the target ran at.
    #[serde(default)]
    commit: String,
    seconds: f64,
    slowest_ms: f64,
    peak_mb: f64,
    failures: Vec<Failure>,
}

#[derive(serde::Serialize, serde::Deserialize, Clone)]
struct Failure {
    kind: String,
    detail: String,
    input: String,
}

/// Where the last caught panic happened (`file:line:column`).
static PANIC_LOCATION: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

/// Milliseconds since the epoch at which the current input started; 0 between inputs.
static STARTED_MS: AtomicU64 = AtomicU64::new(0);

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

fn current_input_file(target: &str) -> PathBuf {
    work_dir().join(format!("{target}.current"))
}

/// Keeps a failing input where the next runs replay it.
fn keep_failure(target: &str, input: &[u8]) -> String {
    use sha2::Digest;
    let dir = work_dir().join("failures").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    let name = hex::encode(&sha2::Sha256::digest(input)[..8]);
    let path = dir.join(name);
    std::fs::write(&path, input).unwrap();
    path.display().to_string()
}

/// Runs one target in this process and prints its [`Outcome`].
fn work(name: &str, options: &Options) {
    let mut target = build(name);
    let current = std::fs::File::create(current_input_file(name)).unwrap();
    std::thread::spawn(|| loop {
        std::thread::sleep(Duration::from_millis(200));
        let started = STARTED_MS.load(Ordering::Relaxed);
        if started != 0 && now_ms().saturating_sub(started) > HANG_SECONDS * 1000 {
            // the parent reads the input from the current-input file
            eprintln!("hang: one input ran over {HANG_SECONDS} s");
            std::process::exit(3);
        }
    });
    // a caught panic is a finding, reported once in the table, not a backtrace per input
    // (only where it happened is kept, to name it beside the message)
    std::panic::set_hook(Box::new(|info| {
        *PANIC_LOCATION.lock().unwrap() = info.location().map(|l| l.to_string()).unwrap_or_default();
    }));

    let mut outcome = Outcome { target: name.to_string(), ..Outcome::default() };
    let one = |target: &mut Box<dyn Target>, input: &[u8], outcome: &mut Outcome| {
        current.set_len(0).unwrap();
        current.write_all_at(input, 0).unwrap();
        let base = meter::start();
        let clock = Instant::now();
        STARTED_MS.store(now_ms(), Ordering::Relaxed);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target.run(input)));
        STARTED_MS.store(0, Ordering::Relaxed);
        let ms = clock.elapsed().as_secs_f64() * 1e3;
        let peak = meter::peak_above(base);
        outcome.slowest_ms = outcome.slowest_ms.max(ms);
        outcome.peak_mb = outcome.peak_mb.max(peak as f64 / (1 << 20) as f64);
        let failure = match result {
            Err(panic) => {
                let detail = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                Some(("panic", format!("{detail} (at {})", PANIC_LOCATION.lock().unwrap())))
            }
            Ok(Err(reason)) => Some(("property", reason)),
            Ok(Ok(())) if peak > MEMORY_BYTES => Some(("memory", format!("{} MB for one input", peak >> 20))),
            Ok(Ok(())) => None,
        };
        if let Some((kind, detail)) = failure {
            if outcome.failures.len() < 20 {
                let input = keep_failure(name, input);
                outcome.failures.push(Failure { kind: kind.to_string(), detail: detail.chars().take(300).collect(), input });
            }
        }
    };

    let clock = Instant::now();
    let regressions = regressions_dir(name);
    if let Ok(entries) = std::fs::read_dir(&regressions) {
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            one(&mut target, &std::fs::read(&path).unwrap(), &mut outcome);
            outcome.regressions += 1;
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let deadline = options.seconds.map(|s| clock + Duration::from_secs_f64(s));
    let iterations = match (options.iterations, deadline) {
        (Some(n), _) => n,
        (None, Some(_)) => u64::MAX,
        (None, None) => DEFAULT_ITERATIONS,
    };
    while outcome.inputs < iterations && deadline.is_none_or(|d| Instant::now() < d) {
        let input = target.generate(&mut rng);
        one(&mut target, &input, &mut outcome);
        outcome.inputs += 1;
    }
    outcome.seconds = clock.elapsed().as_secs_f64();
    println!("{}", serde_json::to_string(&outcome).unwrap());
}

/// Runs one target's process and reads its outcome, or records how it died.
fn supervise(name: &str, options: &Options) -> Outcome {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args(["--worker", name, "--seed", &options.seed.to_string()]);
    // errors that capture a backtrace (anyhow, candle) would spend most of a
    // worker's time symbolising them; a panic's location is kept by the hook
    command.env("RUST_BACKTRACE", "0").env("RUST_LIB_BACKTRACE", "0");
    if let Some(n) = options.iterations {
        command.args(["--iterations", &n.to_string()]);
    }
    if let Some(s) = options.seconds {
        command.args(["--seconds", &s.to_string()]);
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    if let Some(outcome) = stdout.lines().last().and_then(|l| serde_json::from_str::<Outcome>(l).ok()) {
        return outcome;
    }
    let input = std::fs::read(current_input_file(name)).unwrap_or_default();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let kind = match output.status.code() {
        Some(3) => "hang",
        // what Rust prints when the allocator refuses (meter::CAP_BYTES)
        _ if stderr.contains("memory allocation of") => "memory",
        _ => "crash",
    };
    let detail = format!("{} ({})", stderr.lines().last().unwrap_or("").chars().take(300).collect::<String>(), output.status);
    Outcome {
        target: name.to_string(),
        failures: vec![Failure { kind: kind.into(), detail, input: keep_failure(name, &input) }],
        ..Outcome::default()
    }
}

/// The settings a kept outcome must have been run under to be reused: the
/// same seed and budget.
fn settings(options: &Options) -> String {
    format!("seed {} iterations {:?} seconds {:?}", options.seed, options.iterations, options.seconds)
}

/// The commit this checkout is at (`-dirty` with uncommitted changes to
/// tracked files), or `unknown` outside git.
fn commit() -> String {
    static COMMIT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    COMMIT
        .get_or_init(|| {
            let git = |args: &[&str]| {
                Command::new("git")
                    .args(args)
                    .current_dir(repo_file(""))
                    .output()
                    .ok()
                    .filter(|o| o.status.success())
                    .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            };
            match (git(&["rev-parse", "--short", "HEAD"]), git(&["status", "--porcelain", "--untracked-files=no"])) {
                (Some(head), Some(changes)) if !changes.is_empty() => format!("{head}-dirty"),
                (Some(head), _) => head,
                _ => "unknown".into(),
            }
        })
        .clone()
}

/// A finished target's outcome, kept beside the report so a stopped run resumes.
#[derive(serde::Serialize, serde::Deserialize)]
struct Kept {
    settings: String,
    outcome: Outcome,
}

fn kept_path(options: &Options, name: &str) -> Option<PathBuf> {
    let report = options.report.as_ref()?;
    Some(report.parent().unwrap_or(Path::new(".")).join("outcomes").join(format!("{name}.json")))
}

/// The outcome of `name` from an earlier run with the same settings, if it finished.
fn kept(options: &Options, name: &str) -> Option<Outcome> {
    let kept: Kept = serde_json::from_slice(&std::fs::read(kept_path(options, name)?).ok()?).ok()?;
    (kept.settings == settings(options)).then_some(kept.outcome)
}

fn keep(options: &Options, outcome: &Outcome) {
    let Some(path) = kept_path(options, &outcome.target) else { return };
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let tmp = path.with_extension("json.tmp");
    let kept = Kept { settings: settings(options), outcome: outcome.clone() };
    std::fs::write(&tmp, serde_json::to_vec(&kept).unwrap()).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
}

/// Runs every target, `options.jobs` processes at a time, reusing the kept
/// outcomes of an earlier run with the same settings; outcomes in `names` order.
fn run_all(names: &[String], options: &Options) -> Vec<Outcome> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let outcomes: Vec<std::sync::Mutex<Option<Outcome>>> = names.iter().map(|_| Default::default()).collect();
    std::thread::scope(|scope| {
        for _ in 0..options.jobs.min(names.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(name) = names.get(i) else { break };
                let (outcome, reused) = match kept(options, name) {
                    Some(outcome) => (outcome, " (kept from an earlier run)"),
                    None => (Outcome { commit: commit(), ..supervise(name, options) }, ""),
                };
                // only a clean outcome is kept: a failure must be seen again until fixed
                if reused.is_empty() && outcome.failures.is_empty() {
                    keep(options, &outcome);
                }
                let status = if outcome.failures.is_empty() { "ok" } else { "FAILED" };
                println!(
                    "fuzz {name}: {} inputs, {} regression cases, {:.1} s ... {status}{reused}",
                    outcome.inputs, outcome.regressions, outcome.seconds
                );
                std::io::stdout().flush().unwrap();
                *outcomes[i].lock().unwrap() = Some(outcome);
            });
        }
    });
    outcomes.into_iter().map(|o| o.into_inner().unwrap().expect("every target ran")).collect()
}

fn report(outcomes: &[Outcome], options: &Options) -> String {
    let mut md =
        String::from("| target | inputs | regression cases | seconds | slowest input (ms) | peak memory (MB) | failures | commit |\n");
    md.push_str("|---|---:|---:|---:|---:|---:|---|---|\n");
    for o in outcomes {
        let failures = match o.failures.len() {
            0 => "0".to_string(),
            n => format!("{n}: {}", o.failures.iter().map(|f| f.kind.as_str()).collect::<Vec<_>>().join(", ")),
        };
        md.push_str(&format!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {} | {} |\n",
            o.target, o.inputs, o.regressions, o.seconds, o.slowest_ms, o.peak_mb, failures, o.commit
        ));
    }
    let inputs: u64 = outcomes.iter().map(|o| o.inputs).sum();
    md.push_str(&format!("\n{} targets, {inputs} inputs, seed {}.\n", outcomes.len(), options.seed));
    md
}

fn main() {
    let options = options();
    if let Some(name) = &options.worker {
        work(name, &options);
        return;
    }
    let names: Vec<String> = target_names()
        .into_iter()
        .filter(|n| options.filters.is_empty() || options.filters.iter().any(|f| n.contains(f.as_str())))
        .collect();
    if options.list {
        names.iter().for_each(|n| println!("{n}"));
        return;
    }
    // the fixtures are made afresh by this build's `lastmile` (a cached target
    // directory may hold an older one's), once, before the workers read them
    let _ = std::fs::remove_file(work_dir().join("fixtures/.done"));
    file_targets::fixtures(&work_dir());
    let outcomes = run_all(&names, &options);
    let mut failed = false;
    for outcome in &outcomes {
        for f in &outcome.failures {
            println!("{}: {}: {}\n    input kept at {}", outcome.target, f.kind, f.detail, f.input);
            failed = true;
        }
    }
    let table = report(&outcomes, &options);
    if let Some(path) = &options.report {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, &table).unwrap();
    }
    println!("\n{table}");
    if failed {
        println!("a failing input is kept under {}/failures; copy it to tests/fuzz/regressions/<target>/ once fixed", work_dir().display());
        std::process::exit(1);
    }
}
