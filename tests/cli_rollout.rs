//! End to end on a temp dir: a pipeline file mines a slice of the real Excel
//! corpus, trains a tokenizer, pretrains a small model for a few steps, rolls
//! out a dataset and computes its statistics; then the dataset is proven
//! independent of how the work was split (one rank, two concurrent ranks, a
//! run killed with SIGKILL and resumed), and stages are proven cached.

mod common;

use assert_cmd::Command;
use lastmile::dataset::{list_shards, pair_schema, read_pairs, Manifest};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn lastmile(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("lastmile").unwrap();
    cmd.current_dir(dir);
    cmd
}

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8(cmd.assert().success().get_output().stdout.clone()).unwrap()
}

const PIPELINE: &str = r#"
name = "t"
[[stage]]
name = "mine"
args = ["mine", "--config", "excel.toml"]
inputs = ["excel.toml", "formulas.txt"]
outputs = ["outputs/corpus/excel"]
[[stage]]
name = "tokenizer"
args = ["tokenizer", "train", "--corpus", "outputs/corpus/excel", "--vocab-size", "400", "--out", "tok/tokenizer.json"]
inputs = ["outputs/corpus/excel"]
outputs = ["tok/tokenizer.json"]
[[stage]]
name = "pretrain"
args = ["pretrain", "--config", "train.toml", "--resume"]
inputs = ["train.toml", "model.toml", "outputs/corpus/excel", "tok/tokenizer.json"]
outputs = ["run"]
[[stage]]
name = "rollout"
args = ["rollout", "--config", "rollout.toml"]
inputs = ["rollout.toml", "run", "outputs/corpus/excel"]
outputs = ["ds"]
[[stage]]
name = "stats"
args = ["stats", "ds"]
inputs = ["ds"]
outputs = ["ds/stats/stats.json"]
"#;

const ROLLOUT: &str = r#"
checkpoint = "run/checkpoint"
lang = "excel"
out = "ds"
seed = 3
target_pairs = 100000
max_chains = 80
chains_per_unit = 16
batch_size = 8
valid_fraction = 0.2
[sampler]
steps = 8
update = "ddpm"
[[source]]
kind = "anchored"
weight = 3
corpus = "outputs/corpus/excel"
t0 = [0.02, 0.3]
[[source]]
kind = "unconditional"
[filter]
min_token_edits = 1
max_token_edits = 40
[[decontaminate]]
path = "bench.json"
fields = ["Buggy", "GroundTruth"]
[output]
shard_rows = 40
row_group_rows = 16
"#;

fn setup(root: &Path) {
    common::excel_slice(root, 3000);
    fs::copy(common::repo_file("corpora/benchmarks/repair/excel.json"), root.join("bench.json")).unwrap();
    fs::create_dir_all(root.join("pydex")).unwrap();
    for file in ["2865_syntaxincorrect_correct_pair.json", "2868_syntaxincorrect_correct_pair.json"] {
        fs::copy(common::repo_file("corpora/benchmarks/pydex").join(file), root.join("pydex").join(file)).unwrap();
    }
    fs::write(
        root.join("model.toml"),
        "vocab_size = 400\nseq_len = 24\nd_model = 32\nn_heads = 2\ndenoiser_layers = 1\ndecoder_layers = 1\nembed_norm = 4.0\n",
    )
    .unwrap();
    fs::write(
        root.join("train.toml"),
        "model = \"model.toml\"\ncorpus = \"outputs/corpus/excel\"\ntokenizer = \"tok/tokenizer.json\"\nout = \"run\"\nbatch_size = 8\nmax_steps = 3\neval_every = 3\neval_batches = 1\ncheckpoint_every = 3\n",
    )
    .unwrap();
    fs::write(root.join("rollout.toml"), ROLLOUT).unwrap();
    fs::write(root.join("pipeline.toml"), PIPELINE).unwrap();
}

/// Every file of a dataset directory except the stats report, by relative path.
fn dataset_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && !e.path().starts_with(dir.join("stats")))
        .map(|e| (e.path().strip_prefix(dir).unwrap().to_path_buf(), fs::read(e.path()).unwrap()))
        .collect();
    files.sort();
    files
}

fn assert_same_dataset(a: &[(PathBuf, Vec<u8>)], b: &Path, what: &str) {
    let b = dataset_files(b);
    let names = |f: &[(PathBuf, Vec<u8>)]| f.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
    assert_eq!(names(a), names(&b), "{what}: file lists differ");
    for ((path, x), (_, y)) in a.iter().zip(&b) {
        assert!(x == y, "{what}: {} differs", path.display());
    }
}

fn remove_units(root: &Path) {
    fs::remove_dir_all(root.join(".ds.units")).unwrap();
    fs::remove_dir_all(root.join("ds")).unwrap();
}

#[test]
fn pipeline_rollout_stats_ranks_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    setup(root);

    // The pipeline runs every stage, then caches all of them.
    let out = stdout(lastmile(root).args(["pipeline", "run", "pipeline.toml"]));
    for stage in ["mine", "tokenizer", "pretrain", "rollout", "stats"] {
        assert!(out.contains(&format!("[{stage}] done")), "{stage}: {out}");
    }
    let out = stdout(lastmile(root).args(["pipeline", "run", "pipeline.toml"]));
    assert_eq!(out.matches("cached").count(), 5, "{out}");

    // The dataset: layout, schema, manifest checksums, card, filters.
    let ds = root.join("ds");
    let data: Vec<_> = fs::read_dir(ds.join("data")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(data.iter().all(|f| f.ends_with(".parquet") && f.contains("-of-")), "{data:?}");
    let manifest = Manifest::load(&ds).unwrap();
    let mut rows = 0;
    for file in &manifest.files {
        let path = ds.join(&file.path);
        let pairs = read_pairs(&path).unwrap();
        assert_eq!(pairs.len(), file.rows);
        rows += pairs.len();
        let meta = parquet::file::reader::SerializedFileReader::new(fs::File::open(&path).unwrap()).unwrap();
        use parquet::file::reader::FileReader;
        let schema = parquet::arrow::parquet_to_arrow_schema(meta.metadata().file_metadata().schema_descr(), None).unwrap();
        assert_eq!(schema.fields(), pair_schema().fields(), "{}", file.path);
        for pair in &pairs {
            assert!(pair.token_edit_distance >= 1 && pair.token_edit_distance <= 40);
            assert!(pair.fixed_valid && pair.broken != pair.fixed);
            assert_eq!(pair.seed, 3);
            assert_eq!(pair.checkpoint, manifest.checkpoint);
        }
        let (sha, bytes) = lastmile::dataset::file_sha256(&path).unwrap();
        assert_eq!((sha, bytes), (file.sha256.clone(), file.bytes));
    }
    assert!(rows > 20, "only {rows} pairs");
    assert!(manifest.files.len() >= 2, "shards of 40 rows: {:?}", manifest.files);
    assert!(list_shards(&ds.join("data"), "train").unwrap().len() >= 2);
    assert_eq!(manifest.report["chains"], 80, "budget of 80 chains spent");
    let card = fs::read_to_string(ds.join("README.md")).unwrap();
    assert!(card.starts_with("---\n") && card.contains("split: train") && card.contains("## Filters"));
    assert!(ds.join("chains.parquet").exists());
    let stats: serde_json::Value = serde_json::from_str(&fs::read_to_string(ds.join("stats/stats.json")).unwrap()).unwrap();
    assert_eq!(stats["pairs"], rows);
    assert!(stats["chain_trends"].as_array().is_some_and(|t| !t.is_empty()));
    assert!(ds.join("stats/edit_distance.png").exists() && ds.join("stats/stats.md").exists());
    let solo = dataset_files(&ds);

    // Same seed, same bytes: a second uninterrupted run from scratch.
    remove_units(root);
    stdout(lastmile(root).args(["-q", "rollout", "--config", "rollout.toml"]));
    assert_same_dataset(&solo, &ds, "rerun");

    // Two ranks in two concurrent processes.
    remove_units(root);
    let bin = assert_cmd::cargo::cargo_bin("lastmile");
    let mut rank1 = std::process::Command::new(&bin)
        .current_dir(root)
        .args(["-q", "rollout", "--config", "rollout.toml"])
        .env("RANK", "1")
        .env("WORLD_SIZE", "2")
        .spawn()
        .unwrap();
    stdout(lastmile(root).args(["-q", "rollout", "--config", "rollout.toml", "--rank", "0", "--world-size", "2"]));
    assert!(rank1.wait().unwrap().success());
    let markers: Vec<serde_json::Value> = (0..5)
        .map(|u| serde_json::from_str(&fs::read_to_string(root.join(format!(".ds.units/unit-{u:06}.done.json"))).unwrap()).unwrap())
        .collect();
    assert!(markers.iter().any(|m| m["rank"] == 1) && markers.iter().any(|m| m["rank"] == 0));
    assert_same_dataset(&solo, &ds, "two ranks");

    // Killed with SIGKILL after its first unit, then resumed.
    remove_units(root);
    let mut child = std::process::Command::new(&bin).current_dir(root).args(["-q", "rollout", "--config", "rollout.toml"]).spawn().unwrap();
    let started = Instant::now();
    while !root.join(".ds.units/unit-000000.done.json").exists() && started.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!root.join("ds").exists(), "killed before finalizing");
    let out = stdout(lastmile(root).args(["rollout", "--config", "rollout.toml"]));
    assert!(out.contains("skipped"), "{out}");
    assert_same_dataset(&solo, &ds, "killed and resumed");

    // A target below the budget stops early and cuts at exactly the target.
    let out = stdout(lastmile(root).args(["rollout", "--config", "rollout.toml", "--target-pairs", "7", "--out", "small"]));
    let manifest = Manifest::load(&root.join("small")).unwrap();
    assert_eq!(manifest.rows.values().sum::<usize>(), 7, "{out}");

    // A windowed anchored source: every broken side is its fixed side with one
    // local rewrite of at most width + inserts model tokens.
    let windowed = ROLLOUT.replace("t0 = [0.02, 0.3]", "t0 = [0.05, 0.4]\nwindow = { width = [1, 2], inserts = [0, 1] }");
    fs::write(root.join("window.toml"), windowed.replace("kind = \"unconditional\"", "kind = \"unconditional\"\nweight = 0")).unwrap();
    stdout(lastmile(root).args(["-q", "rollout", "--config", "window.toml", "--out", "win"]));
    let tokenizer: serde_json::Value = serde_json::from_str(&fs::read_to_string(root.join("tok/tokenizer.json")).unwrap()).unwrap();
    let longest_token = tokenizer["model"]["vocab"].as_object().unwrap().keys().map(|k| k.chars().count()).max().unwrap();
    let manifest = Manifest::load(&root.join("win")).unwrap();
    let mut windowed_pairs = 0;
    for file in &manifest.files {
        for pair in read_pairs(&root.join("win").join(&file.path)).unwrap() {
            assert_eq!(pair.source, "window");
            let (b, f): (Vec<char>, Vec<char>) = (pair.broken.chars().collect(), pair.fixed.chars().collect());
            let prefix = b.iter().zip(&f).take_while(|(x, y)| x == y).count();
            let suffix = b.iter().rev().zip(f.iter().rev()).take_while(|(x, y)| x == y).count().min(b.len().min(f.len()) - prefix);
            let (changed_fixed, changed_broken) = (f.len() - prefix - suffix, b.len() - prefix - suffix);
            assert!(
                changed_fixed <= 2 * longest_token && changed_broken <= 3 * longest_token,
                "{:?} -> {:?}: not one local rewrite",
                pair.fixed,
                pair.broken
            );
            windowed_pairs += 1;
        }
    }
    assert!(windowed_pairs > 5, "only {windowed_pairs} windowed pairs");

    // A family read-out: windows are read out only as punctuation of one class
    // or deleted, so what a broken side has in place of its fixed side is
    // punctuation (or nothing), never a name or a number.
    let family = windowed.replace(
        "window = { width = [1, 2], inserts = [0, 1] }",
        "window = { width = [1, 1], inserts = [0, 1], structural_weight = 50.0, vocabulary = \"family\", classes = { bracket = 4.0 } }",
    );
    fs::write(root.join("family.toml"), family.replace("kind = \"unconditional\"", "kind = \"unconditional\"\nweight = 0")).unwrap();
    stdout(lastmile(root).args(["-q", "rollout", "--config", "family.toml", "--out", "fam"]));
    let manifest = Manifest::load(&root.join("fam")).unwrap();
    let mut family_pairs = 0;
    for file in &manifest.files {
        for pair in read_pairs(&root.join("fam").join(&file.path)).unwrap() {
            let (b, f): (Vec<char>, Vec<char>) = (pair.broken.chars().collect(), pair.fixed.chars().collect());
            let prefix = b.iter().zip(&f).take_while(|(x, y)| x == y).count();
            let suffix = b.iter().rev().zip(f.iter().rev()).take_while(|(x, y)| x == y).count().min(b.len().min(f.len()) - prefix);
            let written = &b[prefix..b.len() - suffix];
            assert!(
                written.iter().all(|&c| c.is_whitespace() || lastmile::lang::PunctuationClass::of_char(c).is_some()),
                "{:?} -> {:?}: the window wrote {:?}",
                pair.fixed,
                pair.broken,
                written.iter().collect::<String>()
            );
            family_pairs += 1;
        }
    }
    assert!(family_pairs > 5, "only {family_pairs} family pairs");

    // `first_kept`: at most one pair per chain, where `all_distinct` keeps several of some.
    let first = family.replace("valid_fraction = 0.2", "valid_fraction = 0.2\nselection = \"first_kept\"");
    fs::write(root.join("first.toml"), first.replace("kind = \"unconditional\"", "kind = \"unconditional\"\nweight = 0")).unwrap();
    stdout(lastmile(root).args(["-q", "rollout", "--config", "first.toml", "--out", "first"]));
    let chains = |dir: &str| -> (usize, usize) {
        let manifest = Manifest::load(&root.join(dir)).unwrap();
        let ids: Vec<u64> =
            manifest.files.iter().flat_map(|f| read_pairs(&root.join(dir).join(&f.path)).unwrap()).map(|p| p.chain_id).collect();
        (ids.len(), ids.iter().collect::<std::collections::HashSet<_>>().len())
    };
    let ((all, all_chains), (first, first_chains)) = (chains("fam"), chains("first"));
    assert!(all > all_chains, "all_distinct: {all} pairs from {all_chains} chains");
    assert!(first == first_chains && first > 5, "first_kept: {first} pairs from {first_chains} chains");

    // Editing the rollout config reruns rollout and stats only.
    fs::write(root.join("rollout.toml"), ROLLOUT.replace("seed = 3", "seed = 4")).unwrap();
    let out = stdout(lastmile(root).args(["pipeline", "run", "pipeline.toml"]));
    assert_eq!(out.matches("cached").count(), 3, "{out}");
    assert!(out.contains("[rollout] done") && out.contains("[stats] done"), "{out}");

    // Stats of a foreign Parquet with only broken/fixed columns.
    let foreign = root.join("foreign.parquet");
    {
        use arrow::array::{RecordBatch, StringArray};
        use arrow::datatypes::{DataType, Field, Schema};
        use std::sync::Arc;
        let schema = Arc::new(Schema::new(vec![Field::new("broken", DataType::Utf8, false), Field::new("fixed", DataType::Utf8, false)]));
        let broken = StringArray::from(vec!["=SUM(A1", "=A1+", "=MAX(B1:B9"]);
        let fixed = StringArray::from(vec!["=SUM(A1)", "=A1+1", "=MAX(B1:B9)"]);
        let batch = RecordBatch::try_new(schema, vec![Arc::new(broken), Arc::new(fixed)]).unwrap();
        lastmile::dataset::write_parquet_atomic(&foreign, &batch, Default::default()).unwrap();
    }
    let fail = lastmile(root).args(["stats", "foreign.parquet"]).assert().failure();
    assert!(String::from_utf8_lossy(&fail.get_output().stderr).contains("--lang"));
    let out = stdout(lastmile(root).args(["stats", "foreign.parquet", "--lang", "excel", "--out", "fstats"]));
    assert!(out.contains("excel: 3 pairs") && out.contains("broken invalid 100.0%"), "{out}");

    // Repair: every benchmark item gets levels x samples x variants candidates
    // and both baselines, or a per-item error; bad input files are located.
    // The paper's method has one variant; the default, localised, one per
    // radius and insert count (here one).
    stdout(lastmile(root).args([
        "repair",
        "--checkpoint",
        "run/checkpoint",
        "--lang",
        "excel",
        "--input",
        "bench.json",
        "--levels",
        "0.1,0.5",
        "-k",
        "2",
        "--steps",
        "4",
        "--method",
        "paper",
        "--out",
        "rep.jsonl",
    ]));
    let lines: Vec<serde_json::Value> =
        fs::read_to_string(root.join("rep.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 200);
    for line in &lines {
        match line["candidates"].as_array() {
            Some(c) => assert_eq!(c.len(), 4, "{line}"),
            None => assert!(line["error"].as_str().unwrap().contains("tokens"), "{line}"),
        }
        assert!(line["baselines"]["rule_based"].is_string());
    }
    stdout(lastmile(root).args([
        "repair",
        "--checkpoint",
        "run/checkpoint",
        "--lang",
        "excel",
        "--input",
        "bench.json",
        "--levels",
        "0.1,0.5",
        "-k",
        "2",
        "--stride",
        "200",
        "--radii",
        "1",
        "--inserts",
        "0",
        "--proposals=false",
        "--out",
        "rep.parquet",
    ]));
    let rows = lastmile::dataset::read_string_column(&root.join("rep.parquet"), "broken").unwrap();
    let with_candidates = lines.iter().filter(|l| l["candidates"].is_array()).count();
    assert_eq!(rows.len(), with_candidates * 4 + (200 - with_candidates), "long format: a row per candidate, one per failed input");
    let out = stdout(lastmile(root).args(["repair", "--checkpoint", "run/checkpoint", "--lang", "excel", "--steps", "4", "=SUM(A1:A3"]));
    assert_eq!(out.lines().count(), 1, "{out}");
    fs::write(root.join("bad.jsonl"), "{\"broken\": \"=A1\"}\n{oops\n").unwrap();
    let fail =
        lastmile(root).args(["repair", "--checkpoint", "run/checkpoint", "--lang", "excel", "--input", "bad.jsonl"]).assert().failure();
    assert!(String::from_utf8_lossy(&fail.get_output().stderr).contains("bad.jsonl:2"));

    // The evaluation harness scores every method and writes its report.
    let out = stdout(lastmile(root).args([
        "eval",
        "repair",
        "--bench",
        "bench.json",
        "--checkpoint",
        "run/checkpoint",
        "--lang",
        "excel",
        "--levels",
        "0.1,0.5",
        "-k",
        "2",
        "--steps",
        "4",
        "--limit",
        "12",
        "--out",
        "eval",
    ]));
    for method in
        ["identity", "rule-based", "best level", "vote", "guided", "ranked by plausibility", "any (oracle)", "CodeFusion 60M (paper)"]
    {
        assert!(out.contains(method), "{method}: {out}");
    }
    let results: serde_json::Value = serde_json::from_str(&fs::read_to_string(root.join("eval/results.json")).unwrap()).unwrap();
    assert_eq!(results["report"]["items"], 12);
    let rule = results["report"]["methods"]["rule_based"]["exec"].as_f64().unwrap();
    let any = &results["report"]["methods"]["any"];
    assert!(rule > 0.0, "the rule-based fixer repairs some real benchmark formulas");
    assert!(any["exec"].as_f64().unwrap() >= results["report"]["methods"]["guided"]["exec"].as_f64().unwrap());
    assert!(root.join("eval/results.md").exists() && root.join("eval/by_level.png").exists());
    assert!(out.contains("## By kind of mistake (exec)") && out.contains("| bracket_end |"), "{out}");

    // PyDex (a directory of assignment files) through the same harness, by the BIFI metric;
    // the Excel model cannot take Python, so this shows the per-item path, then the summary.
    stdout(lastmile(root).args([
        "eval",
        "repair",
        "--bench",
        "pydex",
        "--checkpoint",
        "run/checkpoint",
        "--lang",
        "python",
        "--levels",
        "0.1",
        "-k",
        "1",
        "--stride",
        "200",
        "--limit",
        "5",
        "--out",
        "eval-py",
    ]));
    let out = stdout(lastmile(root).args(["eval", "summary", "eval/results.json", "eval-py/results.json", "--out", "summary.md"]));
    assert!(out.starts_with("| method | excel sketch | excel exec | python sketch | python bifi |"), "{out}");
    assert!(out.contains("| BIFI (paper) | | | | 76.0% |"), "{out}");
    let fail = lastmile(root).args(["eval", "summary", "bench.json"]).assert().failure();
    assert!(String::from_utf8_lossy(&fail.get_output().stderr).contains("bench.json"));
}
