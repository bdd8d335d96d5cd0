//! End to end on a temp dir: `lastmile corrupt` turns a slice of the real EUSES
//! corpus into a rule-based pair dataset with the rollout's layout, schema,
//! manifest, filters and decontamination; the dataset does not depend on ranks
//! or reruns, `rollout` reads the same config to the same bytes, and bad
//! configs fail naming the file and the reason.

mod common;

use assert_cmd::Command;
use lastmile::dataset::{pair_schema, read_pairs, Manifest};
use lastmile::lang::LangId;
use std::fs;
use std::path::{Path, PathBuf};

fn lastmile(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("lastmile").unwrap();
    cmd.current_dir(dir);
    cmd
}

const CORRUPT: &str = r#"
lang = "excel"
out = "ds"
seed = 5
target_pairs = 600
max_chains = 2000
chains_per_unit = 128
batch_size = 64
valid_fraction = 0.1
[[source]]
kind = "rules"
corpus = "outputs/corpus/excel"
[source.operators]
close_paren_drop = 3
comparison_split = 0
[filter]
min_token_edits = 1
max_token_edits = 4
max_length_change = 0.4
[[decontaminate]]
path = "bench.json"
fields = ["Buggy", "GroundTruth"]
[output]
shard_rows = 250
row_group_rows = 100
"#;

fn setup(root: &Path) {
    common::excel_slice(root, 3000);
    fs::copy(common::repo_file("corpora/benchmarks/repair/excel.json"), root.join("bench.json")).unwrap();
    fs::write(root.join("corrupt.toml"), CORRUPT).unwrap();
    lastmile(root).args(["mine", "--quiet", "--config", "excel.toml"]).assert().success();
}

fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().strip_prefix(dir).unwrap().to_path_buf(), fs::read(e.path()).unwrap()))
        .collect();
    files.sort();
    files
}

fn fresh(root: &Path) {
    for d in ["ds", ".ds.units"] {
        let _ = fs::remove_dir_all(root.join(d));
    }
}

#[test]
fn corrupt_writes_a_rollout_shaped_dataset_of_rule_based_mistakes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    setup(root);
    lastmile(root).args(["corrupt", "--quiet", "--config", "corrupt.toml"]).assert().success();

    let ds = root.join("ds");
    let manifest = Manifest::load(&ds).unwrap();
    assert_eq!(manifest.checkpoint, "none");
    assert_eq!(manifest.rows.values().sum::<usize>(), 600);
    let excel = LangId::Excel.language();
    let known: Vec<&str> = excel.corruptions().iter().map(|c| c.name).collect();
    let bench: Vec<serde_json::Value> = serde_json::from_str(&fs::read_to_string(root.join("bench.json")).unwrap()).unwrap();
    let bench_sketches: std::collections::HashSet<String> =
        bench.iter().flat_map(|i| ["Buggy", "GroundTruth"].map(|f| excel.sketch(i[f].as_str().unwrap()))).collect();
    let (mut pairs, mut operators) = (Vec::new(), std::collections::BTreeSet::new());
    for file in &manifest.files {
        let path = ds.join(&file.path);
        let meta = parquet::file::reader::SerializedFileReader::new(fs::File::open(&path).unwrap()).unwrap();
        use parquet::file::reader::FileReader;
        let schema = parquet::arrow::parquet_to_arrow_schema(meta.metadata().file_metadata().schema_descr(), None).unwrap();
        assert_eq!(schema.fields(), pair_schema().fields(), "{}: the rollout's schema", file.path);
        let rows = read_pairs(&path).unwrap();
        assert_eq!(rows.len(), file.rows);
        assert_eq!(lastmile::dataset::file_sha256(&path).unwrap(), (file.sha256.clone(), file.bytes));
        pairs.extend(rows);
    }
    for p in &pairs {
        let op = p.source.strip_prefix("rules:").unwrap_or_else(|| panic!("source {}", p.source));
        assert!(known.contains(&op) && op != "comparison_split", "{op}: a known operator, not one switched off");
        operators.insert(op.to_string());
        assert!(p.fixed_valid && p.broken != p.fixed && (1..=4).contains(&p.token_edit_distance), "{p:?}");
        assert!(!bench_sketches.contains(&excel.sketch(&p.fixed)), "decontaminated: {}", p.fixed);
        assert_eq!((p.t, p.seed, p.checkpoint.as_str()), (0, 5, "none"));
    }
    assert!(operators.len() >= 8, "most operators occur on real formulas: {operators:?}");
    let invalid = pairs.iter().filter(|p| excel.check(&p.broken).is_err()).count();
    assert!(invalid * 10 >= pairs.len() * 7, "most rule-based mistakes break the formula: {invalid} of {}", pairs.len());
    let card = fs::read_to_string(ds.join("README.md")).unwrap();
    assert!(card.contains("rule-based corruption operators (excel)"), "{card}");
    assert!(ds.join("chains.parquet").exists());
    let once = files(&ds);

    // A rerun, two ranks, and `rollout` on the same config: the same bytes.
    fresh(root);
    lastmile(root).args(["corrupt", "--quiet", "--config", "corrupt.toml"]).assert().success();
    assert_eq!(files(&ds), once, "deterministic");
    fresh(root);
    lastmile(root).args(["corrupt", "--quiet", "--config", "corrupt.toml", "--rank", "1", "--world-size", "2"]).assert().success();
    lastmile(root).args(["corrupt", "--quiet", "--config", "corrupt.toml", "--rank", "0", "--world-size", "2"]).assert().success();
    assert_eq!(files(&ds), once, "independent of the ranks");
    fresh(root);
    lastmile(root).args(["rollout", "--quiet", "--config", "corrupt.toml"]).assert().success();
    assert_eq!(files(&ds), once, "rollout runs a rules-only config without a model");

    // Realism: the edit families of the rules source next to the real benchmark's.
    lastmile(root).args(["stats", "--quiet", "ds", "--real", "bench.json"]).assert().success();
    let stats: serde_json::Value = serde_json::from_str(&fs::read_to_string(ds.join("stats/stats.json")).unwrap()).unwrap();
    let excel_stats = &stats["languages"][0];
    assert_eq!(excel_stats["by_source"][0]["source"], "rules");
    let js = excel_stats["by_source"][0]["realism_js"].as_f64().unwrap();
    assert!(js > 0.0 && js < 1.0, "{js}");
    let real: Vec<f64> = stats["real"]["families"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert!((real.iter().sum::<f64>() - 1.0).abs() < 1e-9 && real[0] > 0.3, "brackets lead the real Excel mistakes: {real:?}");
    let md = fs::read_to_string(ds.join("stats/stats.md")).unwrap();
    assert!(md.contains("edit families") && md.contains("by source (Figure 7)") && ds.join("stats/edit_families.png").exists());

    // The dataset verifies against its manifest; a flipped byte is found, and stats refuses it.
    let out = lastmile(root).args(["verify", "ds"]).assert().success().get_output().stdout.clone();
    assert!(String::from_utf8_lossy(&out).contains("ds: verified"), "{}", String::from_utf8_lossy(&out));
    let manifest = Manifest::load(&ds).unwrap();
    let shard = ds.join(&manifest.files[0].path);
    let original = fs::read(&shard).unwrap();
    let mut flipped = original.clone();
    flipped[original.len() / 3] ^= 1;
    fs::write(&shard, &flipped).unwrap();
    let err = lastmile(root).args(["verify", "ds"]).assert().code(1).get_output().stderr.clone();
    let err = String::from_utf8_lossy(&err).to_string();
    assert!(err.contains(&format!("ds: {}: sha256", manifest.files[0].path)) && err.contains("does not verify"), "{err}");
    let err = lastmile(root).args(["stats", "--quiet", "ds"]).assert().failure().get_output().stderr.clone();
    assert!(String::from_utf8_lossy(&err).contains("does not verify against its manifest"));
    fs::write(&shard, &original).unwrap();

    // A length floor: every fixed side is a snippet of at least that many characters,
    // where the same config without it draws shorter ones too.
    let shortest = |ds: &Path| {
        let manifest = Manifest::load(ds).unwrap();
        manifest.files.iter().flat_map(|f| read_pairs(&ds.join(&f.path)).unwrap()).map(|p| p.fixed.chars().count()).min().unwrap()
    };
    assert!(shortest(&ds) < 30, "the corpus slice holds short formulas");
    fresh(root);
    fs::write(
        root.join("long.toml"),
        CORRUPT.replace("corpus = \"outputs/corpus/excel\"", "corpus = \"outputs/corpus/excel\"\nmin_chars = 30"),
    )
    .unwrap();
    lastmile(root).args(["corrupt", "--quiet", "--config", "long.toml"]).assert().success();
    assert!(shortest(&ds) >= 30, "min_chars = 30 keeps shorter snippets out");
    fresh(root);
    fs::write(
        root.join("none.toml"),
        CORRUPT.replace("corpus = \"outputs/corpus/excel\"", "corpus = \"outputs/corpus/excel\"\nmin_chars = 100000"),
    )
    .unwrap();
    let err = lastmile(root).args(["corrupt", "--config", "none.toml"]).assert().failure().get_output().stderr.clone();
    let err = String::from_utf8(err).unwrap();
    assert!(err.contains("no train snippet of at least 100000 characters"), "{err}");

    // Bad configs: the file and the reason.
    let bad = CORRUPT.replace("close_paren_drop = 3", "close_paren_dorp = 3");
    fs::write(root.join("bad.toml"), bad).unwrap();
    let err = lastmile(root).args(["corrupt", "--config", "bad.toml"]).assert().failure().get_output().stderr.clone();
    let err = String::from_utf8(err).unwrap();
    assert!(err.contains("bad.toml") && err.contains("unknown excel operator `close_paren_dorp`"), "{err}");
    let model = CORRUPT
        .replace("kind = \"rules\"", "kind = \"anchored\"\nt0 = [0.1, 0.2]")
        .replace("[source.operators]\nclose_paren_drop = 3\ncomparison_split = 0\n", "");
    fs::write(root.join("model.toml"), format!("checkpoint = \"run\"\n{model}")).unwrap();
    let err = lastmile(root).args(["corrupt", "--config", "model.toml"]).assert().failure().get_output().stderr.clone();
    assert!(String::from_utf8(err).unwrap().contains("use `lastmile rollout`"));
}
