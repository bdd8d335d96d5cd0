//! Statistics and plots of what the pipeline produces: per language and per
//! noise bucket, the localization, diversity and complexity of repair pairs,
//! the fraction of broken snippets that fail the syntax check, and the chain
//! trends of the repair paper's Figure 2. Works on any Parquet with `broken`
//! and `fixed` columns, so other generators can be compared.
//!
//! Imports `lang`, `dataset/`, `plot/`.

pub mod families;
pub mod measure;

mod report;

pub use report::{write_report, ReportFiles};

use crate::io_error::IoError;
use crate::lang::LangId;
use measure::{distinct_n, mean_pairwise_similarity, measure, Distribution, PairMeasure};
use polars::prelude::*;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What can go wrong computing statistics.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// Polars could not read or aggregate the input.
    #[error("{path}: {source}")]
    Polars {
        /// The input.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: PolarsError,
    },
    /// The input lacks something needed.
    #[error("{path}: {reason}")]
    Input {
        /// The input.
        path: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// Writing a report file failed.
    #[error(transparent)]
    Io(#[from] crate::io_error::IoError),
    /// Drawing a plot failed.
    #[error(transparent)]
    Plot(#[from] crate::plot::PlotError),
    /// Writing a report file failed.
    #[error(transparent)]
    Dataset(#[from] crate::dataset::DatasetError),
}

/// One pair as read from any Parquet input.
#[derive(Debug, Clone, PartialEq)]
pub struct PairRow {
    /// Language, when the input has a `lang` column.
    pub lang: Option<String>,
    /// The broken side.
    pub broken: String,
    /// The fixed side.
    pub fixed: String,
    /// `t / (T - 1)`, when the input has a `t_frac` column.
    pub t_frac: Option<f32>,
    /// What made the pair (`anchored`, `unconditional`, `rules:<operator>`),
    /// when the input has a `source` column.
    pub source: Option<String>,
}

/// The Parquet files of an input: a dataset directory (its `data/*.parquet`),
/// a directory of Parquet files, or one file.
pub fn input_files(path: &Path) -> Result<Vec<PathBuf>, StatsError> {
    let dir = if path.join("data").is_dir() { path.join("data") } else { path.to_path_buf() };
    if dir.is_file() {
        return Ok(vec![dir]);
    }
    let entries = std::fs::read_dir(&dir).map_err(IoError::at(dir.clone()))?;
    let mut files: Vec<PathBuf> =
        entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|e| e == "parquet")).collect();
    files.sort();
    if files.is_empty() {
        return Err(StatsError::Input { path: dir, reason: "no .parquet files".into() });
    }
    Ok(files)
}

fn polars_error(path: &Path) -> impl FnOnce(PolarsError) -> StatsError + '_ {
    move |source| StatsError::Polars { path: path.to_path_buf(), source }
}

fn scan(files: &[PathBuf]) -> PolarsResult<LazyFrame> {
    let paths: Vec<PlRefPath> = files.iter().map(|p| PlRefPath::new(p.to_string_lossy().as_ref())).collect();
    LazyFrame::scan_parquet_files(paths.into_iter().collect(), ScanArgsParquet::default())
}

/// Reads the pairs of an input (`broken`, `fixed`, and `lang`, `source`,
/// `t_frac` where present) with the `parquet` crate, which answers a malformed
/// file with an error; polars' reader panics or reads out of bounds on some.
/// Columns of other generators are cast: any string type to `Utf8`, any
/// numeric `t_frac` to `Float32`.
pub fn load_pairs(path: &Path) -> Result<Vec<PairRow>, StatsError> {
    let mut rows = Vec::new();
    for file in input_files(path)? {
        for batch in crate::dataset::read_batches(&file)? {
            rows.extend(pairs_of_batch(&batch, &file)?);
        }
    }
    Ok(rows)
}

/// The pairs of one record batch of `file`.
fn pairs_of_batch(batch: &arrow::array::RecordBatch, file: &Path) -> Result<Vec<PairRow>, StatsError> {
    use arrow::array::{Array, Float32Array, StringArray};
    use arrow::datatypes::DataType as ArrowType;
    let cast = |name: &str, to: &ArrowType| -> Result<Option<arrow::array::ArrayRef>, StatsError> {
        let Some(column) = batch.column_by_name(name) else { return Ok(None) };
        arrow::compute::cast(column, to)
            .map(Some)
            .map_err(|e| StatsError::Input { path: file.to_path_buf(), reason: format!("column `{name}`: {e}") })
    };
    let strings = |name: &str| -> Result<Option<Vec<Option<String>>>, StatsError> {
        Ok(cast(name, &ArrowType::Utf8)?.map(|array| {
            let array = array.as_any().downcast_ref::<StringArray>().expect("cast to Utf8 gives a StringArray");
            array.iter().map(|v| v.map(str::to_string)).collect()
        }))
    };
    let needed = |name: &str| -> Result<Vec<Option<String>>, StatsError> {
        strings(name)?.ok_or_else(|| {
            let columns: Vec<String> = batch.schema().fields().iter().map(|f| f.name().to_string()).collect();
            StatsError::Input { path: file.to_path_buf(), reason: format!("no `{name}` column (columns: {})", columns.join(", ")) }
        })
    };
    let broken = needed("broken")?;
    let fixed = needed("fixed")?;
    let lang = strings("lang")?;
    let source = strings("source")?;
    let t_frac: Option<Vec<Option<f32>>> = cast("t_frac", &ArrowType::Float32)?.map(|array| {
        let array = array.as_any().downcast_ref::<Float32Array>().expect("cast to Float32 gives a Float32Array");
        array.iter().collect()
    });
    Ok((0..batch.num_rows())
        .map(|i| PairRow {
            lang: lang.as_ref().and_then(|l| l[i].clone()),
            broken: broken[i].clone().unwrap_or_default(),
            fixed: fixed[i].clone().unwrap_or_default(),
            t_frac: t_frac.as_ref().and_then(|t| t[i]),
            source: source.as_ref().and_then(|s| s[i].clone()),
        })
        .collect())
}

/// Statistics of one group of pairs.
#[derive(Debug, Clone, Serialize)]
pub struct GroupStats {
    /// Pairs in the group.
    pub pairs: usize,
    /// Token edit distance (complexity).
    pub token_edit_distance: Distribution,
    /// Mean localization over pairs with two or more edits (tokens).
    pub localization: Option<f64>,
    /// Mean first-to-last edit span (tokens).
    pub span: f64,
    /// Fraction of broken snippets failing the strict syntax check.
    pub broken_invalid: f64,
    /// Distinct-n for n = 1..4 over broken snippets.
    pub distinct_n: [f64; 4],
    /// Mean pairwise n-gram Jaccard similarity for n = 1..4 over a sample.
    pub pairwise_similarity: [Option<f64>; 4],
    /// Size of that sample.
    pub similarity_sample: usize,
}

/// Pairs sampled (evenly strided) for the quadratic pairwise similarity.
pub const SIMILARITY_SAMPLE: usize = 200;

fn group_stats(measures: &[&PairMeasure]) -> GroupStats {
    let n = measures.len();
    let edits: Vec<usize> = measures.iter().map(|m| m.token_edit_distance).collect();
    let localized: Vec<f64> = measures.iter().filter_map(|m| m.localization).collect();
    let sequences: Vec<&[String]> = measures.iter().map(|m| m.broken_tokens.as_slice()).collect();
    let stride = n.div_ceil(SIMILARITY_SAMPLE).max(1);
    let sample: Vec<&[String]> = sequences.iter().step_by(stride).copied().collect();
    GroupStats {
        pairs: n,
        token_edit_distance: Distribution::of(&edits),
        localization: (!localized.is_empty()).then(|| localized.iter().sum::<f64>() / localized.len() as f64),
        span: measures.iter().map(|m| m.span as f64).sum::<f64>() / n.max(1) as f64,
        broken_invalid: measures.iter().filter(|m| m.broken_invalid).count() as f64 / n.max(1) as f64,
        distinct_n: [1, 2, 3, 4].map(|k| distinct_n(&sequences, k)),
        pairwise_similarity: [1, 2, 3, 4].map(|k| mean_pairwise_similarity(&sample, k)),
        similarity_sample: sample.len(),
    }
}

/// One noise bucket of a language.
#[derive(Debug, Clone, Serialize)]
pub struct BucketStats {
    /// Lower end of `t / (T - 1)`.
    pub t_lo: f64,
    /// Upper end.
    pub t_hi: f64,
    /// The statistics.
    pub stats: GroupStats,
}

/// Statistics of one language.
#[derive(Debug, Clone, Serialize)]
pub struct LangStats {
    /// Language name.
    pub lang: String,
    /// Over all its pairs.
    pub overall: GroupStats,
    /// Per noise bucket (empty when the input has no `t_frac`).
    pub by_t: Vec<BucketStats>,
    /// Share of each edit family ([`families::EditFamily::ALL`] order) over all its pairs.
    pub families: [f64; 7],
    /// Per source kind (`anchored`, `unconditional`, `rules`; empty without a
    /// `source` column): the same measures side by side (Figure 7).
    pub by_source: Vec<SourceStats>,
    /// Jensen-Shannon distance of `families` to the real benchmark's, when one was given.
    pub realism_js: Option<f64>,
}

/// The pairs of one source kind.
#[derive(Debug, Clone, Serialize)]
pub struct SourceStats {
    /// `anchored`, `unconditional`, `rules` (the `source` column up to its `:`).
    pub source: String,
    /// The measures.
    pub stats: GroupStats,
    /// Share of each edit family.
    pub families: [f64; 7],
    /// Jensen-Shannon distance of `families` to the real benchmark's, when one was given.
    pub realism_js: Option<f64>,
}

/// The real mistakes pairs are held against: a benchmark's Buggy -> GroundTruth edits.
#[derive(Debug, Clone, Serialize)]
pub struct RealEdits {
    /// The benchmark.
    pub path: String,
    /// Its items.
    pub pairs: usize,
    /// Share of each edit family.
    pub families: [f64; 7],
}

/// Mean per-step change of chains in one noise bucket (the repair paper's Figure 2).
#[derive(Debug, Clone, Serialize)]
pub struct ChainTrend {
    /// `unconditional` or `anchored`.
    pub source: String,
    /// Lower end of the `t / (T - 1)` bucket.
    pub t_lo: f64,
    /// Steps in the bucket.
    pub steps: u64,
    /// Mean tokens changed per step.
    pub tokens_changed: f64,
    /// Mean distance between the first and last changed token.
    pub change_span: f64,
    /// Largest such distance.
    pub max_change_span: u64,
}

/// Everything `lastmile stats` reports.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetStats {
    /// The input.
    pub input: String,
    /// Pairs read.
    pub pairs: usize,
    /// Per language.
    pub languages: Vec<LangStats>,
    /// Chain trends, when the input is a dataset with `chains.parquet`.
    pub chain_trends: Option<Vec<ChainTrend>>,
    /// The real benchmark's edit families, when one was given (`--real`).
    pub real: Option<RealEdits>,
}

impl DatasetStats {
    /// Classifies the real benchmark's edits and sets every language's and
    /// source's realism: the Jensen-Shannon distance of its edit families to
    /// the benchmark's. The benchmark is in `lang`.
    pub fn compare_to_real(&mut self, path: &Path, items: &[crate::dataset::BenchItem], lang: LangId) {
        let real: Vec<families::EditFamily> = items.iter().map(|i| families::classify_at_error(lang.language(), &i.broken, &i.truth)).collect();
        let real = families::distribution(&real);
        for l in self.languages.iter_mut().filter(|l| l.lang == lang.name()) {
            l.realism_js = Some(families::jensen_shannon(&l.families, &real));
            for s in &mut l.by_source {
                s.realism_js = Some(families::jensen_shannon(&s.families, &real));
            }
        }
        self.real = Some(RealEdits { path: path.display().to_string(), pairs: items.len(), families: real });
    }
}

/// Noise buckets of width 0.1.
pub const T_BUCKETS: usize = 10;

/// Computes the statistics of `pairs`; `default_lang` serves rows without a
/// `lang` (an input from another generator).
pub fn compute(input: &Path, pairs: &[PairRow], default_lang: Option<LangId>) -> Result<DatasetStats, StatsError> {
    let mut langs: Vec<LangId> = Vec::with_capacity(pairs.len());
    for row in pairs {
        let lang = match (&row.lang, default_lang) {
            (Some(name), _) => name.parse::<LangId>().map_err(|reason| StatsError::Input { path: input.to_path_buf(), reason })?,
            (None, Some(lang)) => lang,
            (None, None) => {
                return Err(StatsError::Input { path: input.to_path_buf(), reason: "no `lang` column: pass the language (--lang)".into() })
            }
        };
        langs.push(lang);
    }
    let measures: Vec<PairMeasure> =
        pairs.par_iter().zip(&langs).map(|(row, lang)| measure(lang.language(), &row.broken, &row.fixed)).collect();
    let mut by_lang: BTreeMap<LangId, Vec<usize>> = BTreeMap::new();
    for (i, lang) in langs.iter().enumerate() {
        by_lang.entry(*lang).or_default().push(i);
    }
    let languages = by_lang
        .into_iter()
        .map(|(lang, rows)| {
            let all: Vec<&PairMeasure> = rows.iter().map(|&i| &measures[i]).collect();
            let mut buckets: Vec<Vec<&PairMeasure>> = vec![Vec::new(); T_BUCKETS];
            for &i in &rows {
                if let Some(t) = pairs[i].t_frac {
                    buckets[((t.clamp(0.0, 1.0) * T_BUCKETS as f32) as usize).min(T_BUCKETS - 1)].push(&measures[i]);
                }
            }
            let by_t = buckets
                .iter()
                .enumerate()
                .filter(|(_, b)| !b.is_empty())
                .map(|(k, b)| BucketStats {
                    t_lo: k as f64 / T_BUCKETS as f64,
                    t_hi: (k + 1) as f64 / T_BUCKETS as f64,
                    stats: group_stats(b),
                })
                .collect();
            let edit_families: Vec<families::EditFamily> = rows.iter().map(|&i| measures[i].family).collect();
            let mut by_source: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
            for &i in &rows {
                if let Some(source) = &pairs[i].source {
                    by_source.entry(source.split(':').next().unwrap_or_default()).or_default().push(i);
                }
            }
            let by_source = by_source
                .into_iter()
                .map(|(source, rows)| SourceStats {
                    source: source.to_string(),
                    stats: group_stats(&rows.iter().map(|&i| &measures[i]).collect::<Vec<_>>()),
                    families: families::distribution(&rows.iter().map(|&i| measures[i].family).collect::<Vec<_>>()),
                    realism_js: None,
                })
                .collect();
            LangStats {
                lang: lang.name().to_string(),
                overall: group_stats(&all),
                by_t,
                families: families::distribution(&edit_families),
                by_source,
                realism_js: None,
            }
        })
        .collect();
    Ok(DatasetStats { input: input.display().to_string(), pairs: pairs.len(), languages, chain_trends: None, real: None })
}

/// Buckets of the chain trends.
pub const TREND_BUCKETS: i32 = 20;

/// Aggregates a chain log (`chains.parquet`) with polars: per source and
/// `t` bucket, mean tokens changed and change span of steps after the first.
pub fn chain_trends(path: &Path) -> Result<Vec<ChainTrend>, StatsError> {
    // a full decode with the `parquet` crate first: it answers a malformed file
    // with an error, where polars' reader may panic or read out of bounds
    crate::dataset::read_batches(path)?;
    let bucket = (col("t_frac").cast(DataType::Float64) * lit(f64::from(TREND_BUCKETS))).cast(DataType::Int32);
    let bucket = when(bucket.clone().gt(lit(TREND_BUCKETS - 1))).then(lit(TREND_BUCKETS - 1)).otherwise(bucket);
    let frame = scan(&[path.to_path_buf()])
        .map(|lf| {
            lf.filter(col("step").gt(lit(0u32)))
                .with_column(bucket.alias("bucket"))
                .group_by([col("source"), col("bucket")])
                .agg([
                    len().alias("steps"),
                    col("tokens_changed").cast(DataType::Float64).mean().alias("tokens_changed"),
                    col("change_span").cast(DataType::Float64).mean().alias("change_span"),
                    col("change_span").cast(DataType::UInt64).max().alias("max_change_span"),
                ])
                .sort(["source", "bucket"], SortMultipleOptions::default())
        })
        .and_then(|lf| lf.collect())
        .map_err(polars_error(path))?;
    let get = |name: &str| frame.column(name).map_err(polars_error(path));
    let source = get("source")?.str().map_err(polars_error(path))?.clone();
    let bucket = get("bucket")?.i32().map_err(polars_error(path))?.clone();
    let steps = get("steps")?.cast(&DataType::UInt64).map_err(polars_error(path))?;
    let steps = steps.u64().map_err(polars_error(path))?.clone();
    let changed = get("tokens_changed")?.f64().map_err(polars_error(path))?.clone();
    let span = get("change_span")?.f64().map_err(polars_error(path))?.clone();
    let max_span = get("max_change_span")?.u64().map_err(polars_error(path))?.clone();
    Ok((0..frame.height())
        .map(|i| ChainTrend {
            source: source.get(i).unwrap_or_default().to_string(),
            t_lo: f64::from(bucket.get(i).unwrap_or(0)) / f64::from(TREND_BUCKETS),
            steps: steps.get(i).unwrap_or(0),
            tokens_changed: changed.get(i).unwrap_or(0.0),
            change_span: span.get(i).unwrap_or(0.0),
            max_change_span: max_span.get(i).unwrap_or(0),
        })
        .collect())
}

/// Reads and measures an input: pairs, and chain trends when `chains.parquet`
/// sits next to `data/`.
pub fn dataset_stats(input: &Path, default_lang: Option<LangId>) -> Result<DatasetStats, StatsError> {
    let pairs = load_pairs(input)?;
    let mut stats = compute(input, &pairs, default_lang)?;
    let chains = input.join("chains.parquet");
    if chains.is_file() {
        stats.chain_trends = Some(chain_trends(&chains)?);
    }
    Ok(stats)
}
