//! Targets over files: every kind of TOML config, our Parquet shards,
//! `manifest.json`, benchmark files, `metrics.jsonl` and checkpoints.
//!
//! The seeds are the repository's own configs and benchmarks, and a dataset, a
//! corpus and a checkpoint that `lastmile` writes once into the fixtures
//! directory ([`fixtures`]). A reader may refuse a mutated file, but with an
//! error that names it, never with a panic.

use crate::mutate::{mutate, mutate_fields};
use crate::{repo, Target};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The whole cause chain of an error, as `main` prints it.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// A refusal must name the file (or the directory) it is about.
fn names_file(message: &str, path: &Path) -> Result<(), String> {
    if message.contains(&path.display().to_string()) {
        Ok(())
    } else {
        Err(format!("the error does not name {}: {message}", path.display()))
    }
}

fn lastmile(root: &Path, args: &[&str]) {
    let status = Command::new(env!("CARGO_BIN_EXE_lastmile")).current_dir(root).arg("--quiet").args(args).output().unwrap();
    assert!(status.status.success(), "lastmile {args:?}: {}", String::from_utf8_lossy(&status.stderr));
}

const MODEL: &str =
    "vocab_size = 300\nseq_len = 24\nd_model = 16\nn_heads = 2\ndenoiser_layers = 1\ndecoder_layers = 1\nembed_norm = 4.0\n";
const TRAIN: &str = "model = \"model.toml\"\ncorpus = \"outputs/corpus/excel\"\ntokenizer = \"tok/tokenizer.json\"\nout = \"run\"\n\
batch_size = 4\nmax_steps = 2\neval_every = 2\neval_batches = 1\ncheckpoint_every = 1\nema_decay = 0.9\n";
const CORRUPT: &str = "lang = \"excel\"\nout = \"ds\"\nseed = 5\ntarget_pairs = 300\nmax_chains = 2000\nchains_per_unit = 128\n\
batch_size = 64\nvalid_fraction = 0.1\n[[source]]\nkind = \"rules\"\ncorpus = \"outputs/corpus/excel\"\n\
[output]\nshard_rows = 100\nrow_group_rows = 50\n";

/// Makes (once) and returns the fixtures directory: a mined Excel corpus, a
/// rule-based pairs dataset, and a two-step checkpoint, all written by `lastmile`.
pub fn fixtures(work: &Path) -> PathBuf {
    let root = work.join("fixtures");
    if root.join(".done").exists() {
        return root;
    }
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let euses = std::fs::read_to_string(repo("corpora/excel/euses-formulas.txt")).unwrap();
    let slice: String = euses.lines().take(1500).map(|l| format!("{l}\n")).collect();
    std::fs::write(root.join("formulas.txt"), slice).unwrap();
    std::fs::write(
        root.join("excel.toml"),
        "lang = \"excel\"\n[[source]]\nkind = \"lines\"\npath = \"formulas.txt\"\nstrip_quotes = true\nprefix = \"=\"\n[split]\nvalid_fraction = 0.1\nseed = \"t\"\n",
    )
    .unwrap();
    std::fs::write(root.join("model.toml"), MODEL).unwrap();
    std::fs::write(root.join("train.toml"), TRAIN).unwrap();
    std::fs::write(root.join("corrupt.toml"), CORRUPT).unwrap();
    lastmile(&root, &["mine", "--config", "excel.toml"]);
    lastmile(&root, &["corrupt", "--config", "corrupt.toml"]);
    lastmile(&root, &["tokenizer", "train", "--corpus", "outputs/corpus/excel", "--vocab-size", "300", "--out", "tok/tokenizer.json"]);
    lastmile(&root, &["pretrain", "--config", "train.toml"]);
    std::fs::write(root.join(".done"), "").unwrap();
    root
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz/scratch").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn files_in(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    files
}

/// Reads a file that mutations start from.
fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A target that writes each input to one file and runs a reader on it.
struct FileTarget {
    name: &'static str,
    seeds: Vec<Vec<u8>>,
    /// Whether the seeds are text, so that field-level edits apply.
    text: bool,
    dir: PathBuf,
    file_name: &'static str,
    reader: Box<dyn FnMut(&Path, &[u8]) -> Result<(), String>>,
}

impl Target for FileTarget {
    fn name(&self) -> String {
        self.name.to_string()
    }

    fn generate(&mut self, rng: &mut ChaCha8Rng) -> Vec<u8> {
        let seed = &self.seeds[rng.random_range(0..self.seeds.len())];
        match rng.random_range(0..10) {
            0 => Vec::new(),
            1..=4 if self.text => mutate_fields(&String::from_utf8_lossy(seed), rng).into_bytes(),
            _ => mutate(seed, &[], &self.seeds, rng),
        }
    }

    fn run(&mut self, input: &[u8]) -> Result<(), String> {
        // a new file each time, renamed into place: a reader that still maps the
        // previous input must not see it truncated under it
        let path = self.dir.join(self.file_name);
        let staged = self.dir.join(format!(".{}.next", self.file_name));
        std::fs::write(&staged, input).unwrap();
        std::fs::rename(&staged, &path).unwrap();
        (self.reader)(&path, input)
    }
}

/// The kinds of config and the repository files that seed them.
const CONFIGS: [(&str, &str); 7] = [
    ("config-corpus", "configs/corpus"),
    ("config-train", "configs/train"),
    ("config-model", "configs/model"),
    ("config-rollout", "configs/rollout"),
    ("config-corrupt", "configs/corrupt"),
    ("config-fixer", "configs/fixer"),
    ("config-pipeline", "pipelines"),
];

/// The names of the file targets.
pub fn names() -> Vec<String> {
    let mut names: Vec<String> = CONFIGS.iter().map(|(n, _)| n.to_string()).collect();
    names.extend(
        ["parquet-pairs", "parquet-corpus", "dataset-shard", "manifest", "bench-json", "metrics-jsonl", "checkpoint"].map(String::from),
    );
    names
}

fn config_reader(name: &str) -> Box<dyn FnMut(&Path, &[u8]) -> Result<(), String>> {
    let refusal = |path: &Path, message: String| names_file(&message, path);
    match name {
        "config-corpus" => Box::new(move |path, _| match lastmile::mine::CorpusConfig::load(path) {
            Ok(_) => Ok(()),
            Err(e) => refusal(path, chain(&e)),
        }),
        "config-train" => Box::new(move |path, _| match lastmile::train::TrainConfig::load(path) {
            Ok(_) => Ok(()),
            Err(e) => refusal(path, chain(&e)),
        }),
        "config-model" => Box::new(move |path, _| match lastmile::model::ModelConfig::load(path) {
            Ok(config) => {
                let _ = config.parameter_count();
                Ok(())
            }
            Err(e) => refusal(path, e),
        }),
        "config-rollout" | "config-corrupt" => Box::new(move |path, _| match lastmile::rollout::RolloutConfig::load(path) {
            Ok(_) => Ok(()),
            Err(e) => refusal(path, chain(&e)),
        }),
        "config-fixer" => Box::new(move |path, _| match lastmile::fixer::FixerRecipe::load(path) {
            Ok(_) => Ok(()),
            Err(e) => refusal(path, chain(&e)),
        }),
        "config-pipeline" => Box::new(move |path, _| match lastmile::pipeline::Pipeline::load(path) {
            Ok(_) => Ok(()),
            Err(e) => refusal(path, chain(&e)),
        }),
        _ => unreachable!(),
    }
}

/// Copies the files of `from` into a fresh `to` (copies, not links: the
/// targets write over their copies).
fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    for entry in walkdir::WalkDir::new(from).into_iter().filter_map(Result::ok) {
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The file target called `name`; `None` if there is none.
pub fn build(name: &str, fixtures: &Path) -> Option<Box<dyn Target>> {
    let dataset = fixtures.join("ds");
    let target: FileTarget = match name {
        n if CONFIGS.iter().any(|(c, _)| *c == n) => {
            let &(name, dir) = CONFIGS.iter().find(|(c, _)| *c == n).unwrap();
            let mut seeds: Vec<Vec<u8>> = files_in(&repo(dir), "toml").iter().map(|p| read(p)).collect();
            if n == "config-model" {
                seeds.push(read(&fixtures.join("run/checkpoint/config.json")));
            }
            FileTarget { name, seeds, text: true, dir: scratch(n), file_name: "config.toml", reader: config_reader(n) }
        }
        "parquet-pairs" => FileTarget {
            name: "parquet-pairs",
            seeds: files_in(&dataset.join("data"), "parquet").iter().map(|p| read(p)).collect(),
            text: false,
            dir: scratch(name),
            file_name: "train-00000-of-00001.parquet",
            reader: Box::new(|path, _| {
                let results = [
                    lastmile::dataset::read_pairs(path).map(|_| ()).map_err(|e| chain(&e)),
                    lastmile::dataset::read_string_column(path, "broken").map(|_| ()).map_err(|e| chain(&e)),
                    lastmile::stats::load_pairs(path).map(|_| ()).map_err(|e| chain(&e)),
                ];
                results.into_iter().filter_map(Result::err).try_for_each(|message| names_file(&message, path))
            }),
        },
        "parquet-corpus" => FileTarget {
            name: "parquet-corpus",
            seeds: files_in(&fixtures.join("outputs/corpus/excel"), "parquet").iter().map(|p| read(p)).collect(),
            text: false,
            dir: scratch(name),
            file_name: "train-00000-of-00001.parquet",
            reader: Box::new(|path, _| match lastmile::dataset::read_corpus_split(path.parent().unwrap(), "train") {
                Ok(_) => Ok(()),
                Err(e) => names_file(&chain(&e), path),
            }),
        },
        "dataset-shard" => {
            // one shard of a verified dataset changed: `verify` must notice
            let dir = scratch(name).join("ds");
            copy_dir(&dataset, &dir);
            let shard = files_in(&dataset.join("data"), "parquet").remove(0);
            let original = read(&shard);
            let file_name = "train-00000-of-00003.parquet";
            assert_eq!(shard.file_name().unwrap(), file_name, "the fixture dataset's first shard");
            FileTarget {
                name: "dataset-shard",
                seeds: vec![original.clone()],
                text: false,
                dir: dir.join("data"),
                file_name,
                reader: Box::new(move |path, input| {
                    let dataset = path.parent().unwrap().parent().unwrap();
                    match lastmile::dataset::verify_dataset(dataset) {
                        Ok(v) if v.ok() && input != original.as_slice() => Err("a changed shard verified".into()),
                        Ok(v) if !v.ok() && input == original.as_slice() => Err("the unchanged dataset failed to verify".into()),
                        Ok(_) => Ok(()),
                        Err(e) => names_file(&chain(&e), dataset),
                    }
                }),
            }
        }
        "manifest" => {
            let dir = scratch(name).join("ds");
            copy_dir(&dataset, &dir);
            std::fs::remove_file(dir.join("manifest.json")).unwrap();
            FileTarget {
                name: "manifest",
                seeds: vec![read(&dataset.join("manifest.json"))],
                text: true,
                dir,
                file_name: "manifest.json",
                reader: Box::new(|path, _| {
                    let dataset = path.parent().unwrap();
                    if let Err(e) = lastmile::dataset::Manifest::load(dataset) {
                        names_file(&chain(&e), dataset)?;
                    }
                    match lastmile::dataset::verify_dataset(dataset) {
                        Ok(_) => Ok(()),
                        Err(e) => names_file(&chain(&e), dataset),
                    }
                }),
            }
        }
        "bench-json" => {
            let excel = read(&repo("corpora/benchmarks/repair/excel.json"));
            let powershell = read(&repo("corpora/benchmarks/repair/powershell.json"));
            let pydex = files_in(&repo("corpora/benchmarks/pydex"), "json").into_iter().take(5).map(|p| read(&p));
            FileTarget {
                name: "bench-json",
                seeds: [excel, powershell].into_iter().chain(pydex).collect(),
                text: true,
                dir: scratch(name),
                file_name: "bench.json",
                reader: Box::new(|path, _| {
                    if let Err(e) = lastmile::dataset::load_bench(path) {
                        names_file(&chain(&e), path)?;
                    }
                    match lastmile::dataset::load_inputs(path, None) {
                        Ok(_) => Ok(()),
                        Err(e) => names_file(&chain(&e), path),
                    }
                }),
            }
        }
        "metrics-jsonl" => FileTarget {
            name: "metrics-jsonl",
            seeds: vec![read(&fixtures.join("run/metrics.jsonl"))],
            text: true,
            dir: scratch(name),
            file_name: "metrics.jsonl",
            reader: Box::new(|path, input| {
                lastmile::train::truncate_metrics(path, 1).map_err(|e| chain(&e))?;
                // what is kept is whole lines of the input (a CRLF line without its
                // `\r`), each of a step up to 1
                let kept = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
                let lines: Vec<&[u8]> = input.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l)).collect();
                for line in kept.lines() {
                    let step = serde_json::from_str::<serde_json::Value>(line).ok().and_then(|v| v["step"].as_u64());
                    if !lines.contains(&line.as_bytes()) || step.is_none_or(|s| s > 1) {
                        return Err(format!("kept a line that is not a step <= 1 of the input: {line:?}"));
                    }
                }
                Ok(())
            }),
        },
        "checkpoint" => return Some(Box::new(CheckpointTarget::new(fixtures))),
        _ => return None,
    };
    Some(Box::new(target))
}

/// A checkpoint directory with one of its files mutated or missing.
struct CheckpointTarget {
    files: Vec<(&'static str, Vec<u8>)>,
    dir: PathBuf,
}

impl CheckpointTarget {
    fn new(fixtures: &Path) -> Self {
        let files = ["config.json", "model.safetensors", "ema.safetensors", "tokenizer.json"]
            .map(|f| (f, read(&fixtures.join("run/checkpoint").join(f))))
            .to_vec();
        CheckpointTarget { files, dir: scratch("checkpoint") }
    }
}

impl Target for CheckpointTarget {
    fn name(&self) -> String {
        "checkpoint".into()
    }

    /// The first byte picks the file; 0x80 set means the file is missing;
    /// the rest is the file's mutated content.
    fn generate(&mut self, rng: &mut ChaCha8Rng) -> Vec<u8> {
        let which = rng.random_range(0..self.files.len());
        if rng.random_range(0..10) == 0 {
            return vec![which as u8 | 0x80];
        }
        let (name, seed) = &self.files[which];
        let content = match name.ends_with(".json") && rng.random_bool(0.5) {
            true => mutate_fields(&String::from_utf8_lossy(seed), rng).into_bytes(),
            false => mutate(seed, &[], &[], rng),
        };
        [vec![which as u8], content].concat()
    }

    fn run(&mut self, input: &[u8]) -> Result<(), String> {
        let Some((&head, content)) = input.split_first() else { return Ok(()) };
        let which = (head & 0x7f) as usize % self.files.len();
        for (i, (name, bytes)) in self.files.iter().enumerate() {
            let path = self.dir.join(name);
            match (i == which, head & 0x80 != 0) {
                (true, true) => {
                    let _ = std::fs::remove_file(&path);
                }
                (true, false) => std::fs::write(&path, content).unwrap(),
                (false, _) => std::fs::write(&path, bytes).unwrap(),
            }
        }
        match lastmile::checkpoint::load(&self.dir, &candle_core::Device::Cpu) {
            Ok(_) => Ok(()),
            Err(e) => names_file(&chain(&e), &self.dir),
        }
    }
}
