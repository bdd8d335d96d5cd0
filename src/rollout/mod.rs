//! Rollout: reverse-diffusion chains from a checkpoint, every visited step
//! decoded, (c_t, c_0) pairs filtered and written as a sharded Parquet dataset.
//!
//! Work is cut into deterministic units of chains (see [`units`]); any number
//! of ranks compute them, a crash loses at most the unit in flight, and the
//! final dataset (the first `target_pairs` globally distinct pairs in unit
//! order) is byte-identical however the work was split or interrupted.

mod chain;
mod config;
mod filter;
mod finalize;
mod readout;
pub mod units;

pub use chain::{run_batch, splice_window, windowed_variant, Chain, DecodedStep, Start, Window};
pub use config::{BrokenRule, FilterConfig, RolloutConfig, Selection, SourceConfig, WindowConfig, WindowVocabulary};
pub use filter::{Accepted, FilterCounts, PairFilter, Rejection};
pub use finalize::FinalSummary;
pub use readout::FamilyVocabulary;
pub use units::{Rank, Timing, UnitDir, UnitMarker};

use crate::dataset::{
    load_decontaminator, read_corpus_split, write_parquet_atomic, ChainStepRecord, DatasetError, Decontaminator, PairRecord,
};
use crate::diffusion::NoiseSchedule;
use crate::model::CodeFusion;
use crate::progress::{Progress, ProgressFn, Unit};
use crate::tokenizer::{CodeTokenizer, TokenizerError};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What can go wrong in a rollout.
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    /// A file system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The configuration (or a file it names) is invalid.
    #[error("{path}: {reason}")]
    Config {
        /// The offending file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing Parquet failed.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// Tokenising or decoding failed.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    /// The model failed.
    #[error("model: {0}")]
    Model(#[from] candle_core::Error),
    /// Rank or world size is invalid.
    #[error("rank: {0}")]
    Rank(String),
    /// Finalizing before the needed units exist.
    #[error("incomplete rollout: {0}")]
    Incomplete(String),
    /// The written dataset differs from its own manifest (a failing disk, a
    /// concurrent writer); the previous dataset stays in place.
    #[error("{path}: the written dataset does not verify against its manifest: {reason}")]
    Unverified {
        /// The staging directory.
        path: PathBuf,
        /// The first difference.
        reason: String,
    },
}

impl RolloutError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RolloutError::Io { path: path.into(), source }
    }
}

/// What a rank did.
#[derive(Debug, Clone, Default)]
pub struct RankSummary {
    /// Units computed by this process.
    pub computed: usize,
    /// Units found complete and skipped.
    pub skipped: usize,
    /// Chains this process ran.
    pub chains: usize,
    /// Filter counts of the units this process computed.
    pub counts: FilterCounts,
    /// Where this process's time went.
    pub timing: Timing,
    /// Set when this process finalized the dataset.
    pub finalized: Option<FinalSummary>,
}

/// Real snippets anchored chains start from, shuffled by the seed.
struct AnchorPool {
    texts: Vec<String>,
    ids: Vec<Vec<u32>>,
    /// Per row and position, whether the token is structural
    /// (`Language::structural_spans`); empty unless a window is focused.
    structural: Vec<Vec<bool>>,
    /// What a window starting on each token rewrites and may be read out as
    /// (`readout::FamilyVocabulary`); `None` unless a window is focused.
    family: Option<FamilyVocabulary>,
}

/// A focused window's first token, `0..=row.len()` (the last: the end of the
/// snippet): a structural position (`marks[i]`) weighs
/// `window.structural_weight` times the weight of the class a window there
/// rewrites (`window.classes`, by `family`), the end that times the `end`
/// weight, any other position 1; the first and last token further weigh
/// their `first` and `last` weights.
fn window_start(row: &[u32], marks: &[bool], family: Option<&FamilyVocabulary>, window: &WindowConfig, rng: &mut ChaCha8Rng) -> usize {
    let class_weight = |id: u32| match family.and_then(|f| f.varied(id)) {
        Some(class) => window.class_weight(class.name()),
        None => 1.0,
    };
    let (first, last) = (window.class_weight(config::FIRST), window.class_weight(config::LAST));
    let weight_of = |i: usize| {
        let base = match (marks.get(i), row.get(i)) {
            (Some(true), Some(&id)) => window.structural_weight * class_weight(id),
            (Some(_), _) => 1.0,
            (None, _) => return window.structural_weight * window.class_weight(config::END),
        };
        // a one-token snippet's only token is both
        base * if i == 0 { first } else { 1.0 } * if i + 1 == marks.len() { last } else { 1.0 }
    };
    let total: f64 = (0..=marks.len()).map(weight_of).sum();
    let mut draw = rng.random::<f64>() * total;
    (0..=marks.len())
        .find(|&i| {
            draw -= weight_of(i);
            draw < 0.0 && weight_of(i) > 0.0
        })
        .unwrap_or(marks.len())
}

/// Sorts each block of `block` consecutive pool entries by token length.
/// Unit `u` anchors its chains on block `u` (until the pool wraps), so a unit
/// keeps the same shuffled snippets while its batches hold similar lengths and
/// a length-bucketed model runs each batch at its own short length instead of
/// the length of the longest formula among 64 random ones.
fn sort_blocks_by_length<T>(pool: &mut [(String, T)], block: usize, ids: impl Fn(&T) -> &[u32]) {
    for chunk in pool.chunks_mut(block.max(1)) {
        chunk.sort_by_key(|(_, row)| crate::tokenizer::len_with_eos(ids(row)));
    }
}

/// The model side of a rollout: weights and the tokenizer they were trained with.
#[derive(Clone, Copy)]
struct Denoiser<'a> {
    model: &'a CodeFusion,
    tokenizer: &'a CodeTokenizer,
}

/// A rollout of one configuration: diffusion chains from a loaded checkpoint,
/// rule-based corruptions, or a mix, into one dataset layout.
pub struct Rollout<'a> {
    config: &'a RolloutConfig,
    denoiser: Option<Denoiser<'a>>,
    checkpoint: String,
    schedule: NoiseSchedule,
    anchors: Vec<Option<AnchorPool>>,
    decontaminator: Decontaminator,
    out: PathBuf,
    units: UnitDir,
}

/// What the manifest and the pairs name as the checkpoint of a rollout without a model.
pub const NO_CHECKPOINT: &str = "none";

impl<'a> Rollout<'a> {
    /// Prepares a rollout: loads anchor corpora and decontamination benchmarks
    /// (paths relative to `root`). `checkpoint_sha256` identifies the weights.
    pub fn new(
        config: &'a RolloutConfig,
        model: &'a CodeFusion,
        tokenizer: &'a CodeTokenizer,
        checkpoint_sha256: &str,
        root: &Path,
    ) -> Result<Self, RolloutError> {
        Self::prepare(config, Some(Denoiser { model, tokenizer }), checkpoint_sha256, root)
    }

    /// Prepares a rollout whose sources are all `rules` (`lastmile corrupt`): no model.
    pub fn without_model(config: &'a RolloutConfig, root: &Path) -> Result<Self, RolloutError> {
        if let Some(source) = config.sources.iter().find(|s| s.needs_model()) {
            let reason = format!("a `{}` source runs the model: use `lastmile rollout` with a checkpoint", source.name());
            return Err(RolloutError::Config { path: "rollout config".into(), reason });
        }
        Self::prepare(config, None, NO_CHECKPOINT, root)
    }

    fn prepare(
        config: &'a RolloutConfig,
        denoiser: Option<Denoiser<'a>>,
        checkpoint_sha256: &str,
        root: &Path,
    ) -> Result<Self, RolloutError> {
        config.validate().map_err(|reason| RolloutError::Config { path: "rollout config".into(), reason })?;
        let mut anchors = Vec::new();
        for source in &config.sources {
            anchors.push(match (source, denoiser) {
                (SourceConfig::Unconditional { .. }, _) => None,
                (SourceConfig::Anchored { corpus, window, .. }, Some(Denoiser { model, tokenizer })) => {
                    let dir = root.join(corpus);
                    let n = model.config().seq_len;
                    let records = read_corpus_split(&dir, "train")?;
                    // structural marks and token classes only where a window's start or read-out needs them
                    let focused = window
                        .as_ref()
                        .is_some_and(|w| w.structural_weight != 1.0 || !w.classes.is_empty() || w.vocabulary != WindowVocabulary::All);
                    let lang = config.lang.language();
                    let mut pool = Vec::new();
                    for record in records {
                        let spans = if focused { lang.structural_spans(&record.text) } else { Vec::new() };
                        if let Some((ids, marks)) = tokenizer.encode_fixed_marked(&record.text, n, &spans)? {
                            pool.push((record.text, (ids, marks)));
                        }
                    }
                    if pool.is_empty() {
                        return Err(RolloutError::Config {
                            path: dir,
                            reason: format!("no train snippet fits the model length {n}; mine the corpus first"),
                        });
                    }
                    pool.shuffle(&mut ChaCha8Rng::seed_from_u64(config.seed));
                    if model.config().length_bucket.is_some() {
                        sort_blocks_by_length(&mut pool, config.chains_per_unit, |(ids, _)| ids.as_slice());
                    }
                    let (texts, rows): (Vec<String>, Vec<(Vec<u32>, Vec<bool>)>) = pool.into_iter().unzip();
                    let (ids, marks): (Vec<Vec<u32>>, Vec<Vec<bool>>) = rows.into_iter().unzip();
                    let family = match (focused, window) {
                        (true, Some(w)) => Some(FamilyVocabulary::new(&tokenizer.token_texts()?, |c| w.class_weight(c.name()))),
                        _ => None,
                    };
                    let structural = if focused { marks } else { Vec::new() };
                    Some(AnchorPool { texts, ids, structural, family })
                }
                (SourceConfig::Rules { corpus, .. }, _) => {
                    let dir = root.join(corpus);
                    let mut texts: Vec<String> = read_corpus_split(&dir, "train")?.into_iter().map(|r| r.text).collect();
                    if texts.is_empty() {
                        return Err(RolloutError::Config { path: dir, reason: "no train snippet; mine the corpus first".into() });
                    }
                    texts.shuffle(&mut ChaCha8Rng::seed_from_u64(config.seed));
                    Some(AnchorPool { texts, ids: Vec::new(), structural: Vec::new(), family: None })
                }
                (SourceConfig::Anchored { .. }, None) => unreachable!("without_model refuses model sources"),
            });
        }
        let decontaminator = load_decontaminator(&config.decontaminate, root, config.lang.language())?;
        Ok(Rollout {
            config,
            denoiser,
            checkpoint: checkpoint_sha256.to_string(),
            // rules-only rollouts log no chains; the spec's T keeps t_frac defined
            schedule: NoiseSchedule::sqrt(denoiser.map_or(1200, |d| d.model.config().diffusion_steps)),
            anchors,
            decontaminator,
            out: root.join(&config.out),
            units: UnitDir::for_dataset(&root.join(&config.out)),
        })
    }

    /// Computes unit `u` and writes its files and marker.
    pub fn run_unit(&self, u: usize, rank: usize) -> Result<UnitMarker, RolloutError> {
        let config = self.config;
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        rng.set_stream(u as u64 + 1);
        let mut filter = PairFilter::new(config.lang.language(), config.filter, &self.decontaminator);
        let mut timing = Timing::default();
        let (mut pairs, mut log) = (Vec::new(), Vec::new());
        let first = u * config.chains_per_unit;
        let last = ((u + 1) * config.chains_per_unit).min(config.max_chains);
        for batch_start in (first..last).step_by(config.batch_size) {
            let b = config.batch_size.min(last - batch_start);
            let which = self.pick_source(&mut rng);
            if let SourceConfig::Rules { operators, .. } = &config.sources[which] {
                let clock = Instant::now();
                self.corrupt_batch(which, operators, batch_start, b, &mut filter, &mut rng, &mut pairs);
                timing.filter_s += clock.elapsed().as_secs_f64();
                continue;
            }
            let denoiser = self.denoiser.expect("validated: model sources have a model");
            let clock = Instant::now();
            let chains = self.run_chains(denoiser.model, which, batch_start, b, &mut rng)?;
            timing.denoise_s += clock.elapsed().as_secs_f64();
            timing.chain_steps += chains.iter().map(|c| c.steps.len() as u64).sum::<u64>();
            let source = &config.sources[which];
            for chain in chains {
                let clock = Instant::now();
                let texts = chain.decode(denoiser.tokenizer)?;
                timing.decode_s += clock.elapsed().as_secs_f64();
                let clock = Instant::now();
                self.select_pairs(&chain, &texts, source, &mut filter, &mut rng, &mut pairs);
                log.extend(chain.log(self.schedule.steps(), source.name()));
                timing.filter_s += clock.elapsed().as_secs_f64();
            }
        }
        write_parquet_atomic(&self.units.pairs(u), &PairRecord::to_batch(&pairs), config.output)?;
        write_parquet_atomic(&self.units.chains(u), &ChainStepRecord::to_batch(&log), config.output)?;
        let marker = UnitMarker { unit: u, chains: last - first, counts: filter.counts, timing, rank };
        self.units.write_marker(&marker)?;
        Ok(marker)
    }

    /// The source of the next batch, drawn by weight.
    fn pick_source(&self, rng: &mut ChaCha8Rng) -> usize {
        let sources = &self.config.sources;
        let mut draw = rng.random::<f64>() * sources.iter().map(SourceConfig::weight).sum::<f64>();
        let which = sources.iter().position(|s| {
            draw -= s.weight();
            draw < 0.0
        });
        which.unwrap_or(sources.len() - 1)
    }

    /// Runs `b` chains with ids from `batch_start` from source `which`: corpus
    /// snippets noised to a drawn level, or pure noise.
    fn run_chains(
        &self,
        model: &CodeFusion,
        which: usize,
        batch_start: usize,
        b: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<chain::Chain>, RolloutError> {
        let config = self.config;
        Ok(match (&self.anchors[which], &config.sources[which]) {
            (Some(pool), SourceConfig::Anchored { t0: [lo, hi], window, .. }) => {
                let picks: Vec<usize> = (batch_start..batch_start + b).map(|i| i % pool.ids.len()).collect();
                let texts: Vec<String> = picks.iter().map(|&i| pool.texts[i].clone()).collect();
                let ids: Vec<Vec<u32>> = picks.iter().map(|&i| pool.ids[i].clone()).collect();
                let frac = if hi > lo { rng.random_range(*lo..=*hi) } else { *lo };
                let t0 = self.schedule.level(frac);
                // windowed: one window per chain: where (any token, or the end), how wide, how many free slots
                let windowed: Option<(Vec<Vec<u32>>, Vec<chain::Window>)> = window.as_ref().map(|window| {
                    ids.iter()
                        .zip(&picks)
                        .map(|(row, &pick)| {
                            let len = crate::tokenizer::snippet_ids(row).len();
                            let at = match pool.structural.get(pick) {
                                Some(marks) => window_start(&row[..len], &marks[..len], pool.family.as_ref(), window, rng),
                                None => rng.random_range(0..=len),
                            };
                            let width = rng.random_range(window.width[0]..=window.width[1]);
                            let inserts = rng.random_range(window.inserts[0]..=window.inserts[1]);
                            chain::windowed_variant(row, at, width, inserts)
                        })
                        .unzip()
                });
                // a family read-out: per window position, the ids it may be decoded as
                let family = pool.family.as_ref().filter(|_| window.as_ref().is_some_and(|w| w.vocabulary == WindowVocabulary::Family));
                let change = window.as_ref().is_some_and(|w| w.change);
                let readout = windowed.as_ref().zip(family).map(|((ids, windows), family)| {
                    let cells = ids.iter().zip(windows).enumerate().flat_map(|(r, (row, w))| {
                        let inserts = row.iter().skip(w.lo).take_while(|&&id| id == crate::tokenizer::MASK).count();
                        family.window_cells(row, w.lo, w.hi, inserts, change).into_iter().map(move |(p, allowed)| (r, p, allowed))
                    });
                    crate::diffusion::RestrictedReadout { cells: cells.collect() }
                });
                let start = match &windowed {
                    None => Start::Anchors { texts: &texts, ids: &ids, t0 },
                    Some((ids, windows)) => Start::Windows { texts: &texts, ids, windows, readout: readout.as_ref(), t0 },
                };
                run_batch(model, &self.schedule, &config.sampler, start, b, batch_start as u64, rng)?
            }
            _ => run_batch(model, &self.schedule, &config.sampler, Start::Noise, b, batch_start as u64, rng)?,
        })
    }

    /// Corrupts the snippets of `b` slots from `batch_start` with the language's
    /// operators drawn by weight, keeping the pairs the filters keep. A snippet
    /// that no drawn operator applies to counts as `unchanged`.
    #[allow(clippy::too_many_arguments)]
    fn corrupt_batch(
        &self,
        which: usize,
        weights: &std::collections::BTreeMap<String, f64>,
        batch_start: usize,
        b: usize,
        filter: &mut PairFilter<'_>,
        rng: &mut ChaCha8Rng,
        pairs: &mut Vec<PairRecord>,
    ) {
        let config = self.config;
        let lang = config.lang.language();
        let operators = lang.corruptions();
        let weight: Vec<f64> = operators.iter().map(|o| weights.get(o.name).copied().unwrap_or(1.0)).collect();
        let total: f64 = weight.iter().sum();
        let pool = self.anchors[which].as_ref().expect("rules sources have a pool");
        for slot in batch_start..batch_start + b {
            let fixed = &pool.texts[slot % pool.texts.len()];
            // operators drawn by weight without replacement until one applies,
            // so a snippet only one operator fits still gets that one
            let (mut left, mut left_total, mut made) = (weight.clone(), total, None);
            while made.is_none() && left_total > 0.0 {
                let mut draw = rng.random::<f64>() * left_total;
                let k = left.iter().position(|w| {
                    draw -= w;
                    draw < 0.0 && *w > 0.0
                });
                let Some(k) = k.or_else(|| left.iter().rposition(|w| *w > 0.0)) else { break };
                made = (operators[k].apply)(fixed, rng).map(|broken| (operators[k].name, broken));
                left_total -= left[k];
                left[k] = 0.0;
            }
            let (name, broken) = made.unwrap_or(("none", fixed.clone()));
            let fixed_valid = lang.check(fixed).is_ok();
            if let Ok(accepted) = filter.check(&broken, fixed, fixed_valid) {
                pairs.push(self.pair_record(broken, fixed, fixed_valid, &accepted, 0, format!("rules:{name}"), slot as u64));
            }
        }
    }

    /// The candidate pairs of one chain (its decoded `texts`) that the
    /// selection picks and the filters keep, appended to `pairs`.
    fn select_pairs(
        &self,
        chain: &chain::Chain,
        texts: &[String],
        source: &SourceConfig,
        filter: &mut PairFilter<'_>,
        rng: &mut ChaCha8Rng,
        pairs: &mut Vec<PairRecord>,
    ) {
        let config = self.config;
        let (fixed, candidates) = match &chain.anchor {
            Some(anchor) => (anchor.clone(), texts.len()),
            None => (texts.last().cloned().unwrap_or_default(), texts.len().saturating_sub(1)),
        };
        let fixed_valid = config.lang.language().check(&fixed).is_ok();
        let distinct = || {
            let mut seen = std::collections::HashSet::new();
            (0..candidates).filter(|&k| seen.insert(texts[k].as_str())).collect::<Vec<usize>>()
        };
        let (picked, at_most): (Vec<usize>, usize) = match config.selection {
            Selection::Uniform if candidates > 0 => (vec![rng.random_range(0..candidates)], 1),
            Selection::Uniform => (vec![], 0),
            Selection::AllDistinct => (distinct(), usize::MAX),
            Selection::FirstKept => {
                let mut order = distinct();
                order.shuffle(rng);
                (order, 1)
            }
        };
        let mut kept = 0;
        for k in picked {
            if kept == at_most {
                break;
            }
            let broken = &texts[k];
            if let Ok(accepted) = filter.check(broken, &fixed, fixed_valid) {
                let (t, source) = (chain.steps[k].t, source.name().to_string());
                pairs.push(self.pair_record(broken.clone(), &fixed, fixed_valid, &accepted, t, source, chain.chain_id));
                kept += 1;
            }
        }
    }

    /// The row of a kept pair: `t` its timestep (0 for a rule-based pair),
    /// `chain_id` its chain (or snippet slot).
    #[allow(clippy::too_many_arguments)]
    fn pair_record(
        &self,
        broken: String,
        fixed: &str,
        fixed_valid: bool,
        accepted: &Accepted,
        t: usize,
        source: String,
        chain_id: u64,
    ) -> PairRecord {
        let config = self.config;
        let t_max = self.schedule.steps() - 1;
        PairRecord {
            id: pair_id(config.lang.name(), &broken, fixed),
            lang: config.lang.name().to_string(),
            broken,
            fixed: fixed.to_string(),
            t: t as u32,
            t_frac: t as f32 / t_max.max(1) as f32,
            token_edit_distance: accepted.token_edit_distance as u32,
            char_edit_distance: accepted.char_edit_distance as u32,
            broken_valid: accepted.broken_valid,
            fixed_valid,
            source,
            chain_id,
            seed: config.seed,
            checkpoint: self.checkpoint.clone(),
        }
    }

    /// Runs this rank's units until the target or the budget is reached; rank 0
    /// then waits (at most `wait`) for the other ranks and finalizes.
    pub fn run_rank(&self, rank: Rank, wait: Duration, progress: &mut ProgressFn<'_>) -> Result<RankSummary, RolloutError> {
        let config = self.config;
        let target = Some(config.target_pairs as u64);
        let pairs = |kept: usize| Progress::count(Unit::Pairs, kept as u64, target);
        if self.units.prepare(&config.unit_key(&self.checkpoint))? {
            progress(pairs(0).with_note("removed work units of another config or checkpoint"));
        }
        let total = config.total_units();
        let mut prefix = units::Prefix::new();
        let mut summary = RankSummary::default();
        for u in rank.units(total) {
            if prefix.advance(&self.units, total, config.target_pairs)? {
                break;
            }
            if self.units.read_marker(u)?.is_some() {
                summary.skipped += 1;
                progress(pairs(prefix.kept).with_status(format!("unit {u} already done")));
                continue;
            }
            let marker = self.run_unit(u, rank.rank)?;
            summary.computed += 1;
            summary.chains += marker.chains;
            summary.counts += marker.counts;
            summary.timing += marker.timing;
            prefix.advance(&self.units, total, config.target_pairs)?;
            let status = format!("unit {u}: {} kept of {} candidates", marker.counts.kept, marker.counts.candidates);
            progress(pairs(prefix.kept).with_status(status));
        }
        if rank.rank != 0 {
            return Ok(summary);
        }
        let waited = Instant::now();
        while !prefix.complete(total, config.target_pairs) {
            if waited.elapsed() > wait {
                return Err(RolloutError::Incomplete(format!(
                    "waited {:.0} s for the other ranks; units from {} on are missing. Rerun them, then `lastmile rollout --finalize`",
                    wait.as_secs_f64(),
                    prefix.next
                )));
            }
            progress(pairs(prefix.kept).with_status("waiting for other ranks"));
            std::thread::sleep(Duration::from_millis(500));
            prefix.advance(&self.units, total, config.target_pairs)?;
        }
        summary.finalized = Some(self.finalize()?);
        Ok(summary)
    }
}

/// The id of a pair: language and 16 hex digits of sha256(broken, NUL, fixed).
pub fn pair_id(lang: &str, broken: &str, fixed: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new().chain_update(broken).chain_update([0u8]).chain_update(fixed).finalize();
    format!("{lang}-{}", hex::encode(&digest[..8]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_sorted_by_length_and_keep_their_snippets() {
        use crate::tokenizer::{EOS, PAD};
        let row = |len: usize| {
            let mut ids = vec![7; len];
            ids.push(EOS);
            ids.resize(12, PAD);
            ids
        };
        let lens = [5, 1, 9, 3, 2, 8, 4];
        let mut pool: Vec<(String, Vec<u32>)> = lens.iter().map(|&l| (format!("s{l}"), row(l))).collect();
        sort_blocks_by_length(&mut pool, 3, Vec::as_slice);
        let names: Vec<&str> = pool.iter().map(|(t, _)| t.as_str()).collect();
        // blocks [5,1,9] [3,2,8] [4]: each sorted in place, none mixed with another
        assert_eq!(names, ["s1", "s5", "s9", "s2", "s3", "s8", "s4"]);
    }

    /// Windows of one token, no inserts, the read-out unchanged: only the start weights vary.
    fn one_token_window(structural_weight: f64, classes: &[(&str, f64)], vocabulary: WindowVocabulary) -> WindowConfig {
        WindowConfig {
            width: [1, 1],
            inserts: [0, 0],
            structural_weight,
            classes: classes.iter().map(|(k, w)| (k.to_string(), *w)).collect(),
            vocabulary,
            change: false,
        }
    }

    #[test]
    fn focused_windows_start_at_structural_tokens_and_the_end_by_weight() {
        // positions 1 and 3 structural, plus the end (4): weight 9 each, 1 each for 0 and 2
        let marks = [false, true, false, true];
        let row = [10, 11, 12, 13];
        let window = one_token_window(9.0, &[], WindowVocabulary::All);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut counts = [0usize; 5];
        for _ in 0..29_000 {
            counts[window_start(&row, &marks, None, &window, &mut rng)] += 1;
        }
        // expected 9/29 = 9,000 each for 1, 3, 4 and 1,000 each for 0, 2
        for (i, &c) in counts.iter().enumerate() {
            let expected = if i % 2 == 0 && i < 4 { 1_000.0 } else { 9_000.0 };
            assert!((c as f64 - expected).abs() < 0.1 * expected, "position {i}: {c} of 29,000 (expected {expected})");
        }
        assert_eq!(window_start(&[], &[], None, &window, &mut rng), 0, "an empty snippet: the end");
    }

    #[test]
    fn class_weights_scale_structural_starts_by_the_class_they_rewrite() {
        let mut texts: Vec<String> = crate::tokenizer::SPECIAL_TOKENS.iter().map(|_| String::new()).collect();
        texts.extend(["A1", ")", "+", "$"].map(String::from));
        let window = one_token_window(4.0, &[("bracket", 3.0), ("operator", 0.0), ("end", 0.25)], WindowVocabulary::Family);
        let family = FamilyVocabulary::new(&texts, |c| window.class_weight(c.name()));
        let row = [4, 5, 6, 7];
        let marks = [false, true, true, true];
        // weights: 1 (plain), 12 (bracket), 0 (operator), 4 (structural, no class), 1 (end): total 18
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut counts = [0usize; 5];
        for _ in 0..36_000 {
            counts[window_start(&row, &marks, Some(&family), &window, &mut rng)] += 1;
        }
        assert_eq!(counts[2], 0, "a class of weight 0 never starts a window");
        for (i, expected) in [(0, 2_000.0), (1, 24_000.0), (3, 8_000.0), (4, 2_000.0)] {
            assert!((counts[i] as f64 - expected).abs() < 0.1 * expected, "position {i}: {counts:?}");
        }
    }

    #[test]
    fn first_and_last_weights_scale_the_snippets_ends() {
        // `= ( A1 )`: structural 0, 1 and 3 (weight 2 each), the end (2), plain 2 (1)
        let marks = [true, true, false, true];
        let row = [10, 11, 12, 13];
        let window = one_token_window(2.0, &[("first", 0.0), ("last", 5.5)], WindowVocabulary::All);
        // weights 0 (first), 2, 1, 11 (last), 2 (end): total 16
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut counts = [0usize; 5];
        for _ in 0..32_000 {
            counts[window_start(&row, &marks, None, &window, &mut rng)] += 1;
        }
        assert_eq!(counts[0], 0, "the first token of weight 0 never starts a window");
        for (i, expected) in [(1, 4_000.0), (2, 2_000.0), (3, 22_000.0), (4, 4_000.0)] {
            assert!((counts[i] as f64 - expected).abs() < 0.1 * expected, "position {i}: {counts:?}");
        }
    }
}
