//! Rollout: reverse-diffusion chains from a checkpoint, every visited step
//! decoded, (c_t, c_0) pairs filtered and written as a sharded Parquet dataset.
//!
//! Work is cut into deterministic units of chains (see [`units`]); any number
//! of ranks compute them, a crash loses at most the unit in flight, and the
//! final dataset (the first `target_pairs` globally distinct pairs in unit
//! order) is byte-identical however the work was split or interrupted.
//!
//! Imports `diffusion/`, `lang`, `dataset/`, `tokenizer/`, `model/`, `dist/` (rank detection).

mod chain;
mod config;
mod error;
mod filter;
mod finalize;
mod readout;
mod source;
pub mod units;

pub use chain::{run_batch, Anchors, Chain, DecodedStep};
pub use config::{BrokenRule, FilterConfig, RolloutConfig, Selection, SourceConfig, WindowConfig, WindowVocabulary};
pub use error::RolloutError;
pub use filter::{Accepted, FilterCounts, PairFilter, Rejection};
pub use finalize::FinalSummary;
pub use readout::FamilyVocabulary;
pub use units::{Rank, Timing, UnitDir, UnitMarker};

use crate::dataset::{load_decontaminator, write_parquet_atomic, ChainStepRecord, Decontaminator, PairRecord};
use crate::diffusion::{NoiseSchedule, Sampler};
use crate::model::CodeFusion;
use crate::progress::{Progress, ProgressFn, Unit};
use crate::tokenizer::CodeTokenizer;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use source::{weighted_draw, Denoiser, RulePool, Source, SourceKind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where a kept pair comes from.
struct Origin {
    /// Its timestep (0 for a rule-based pair).
    t: usize,
    /// The `source` column.
    source: String,
    /// Its chain (or snippet slot).
    chain_id: u64,
}

/// What one unit gathers while it runs.
struct UnitWork<'f> {
    filter: PairFilter<'f>,
    timing: Timing,
    pairs: Vec<PairRecord>,
    log: Vec<ChainStepRecord>,
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

/// A rollout of one configuration: diffusion chains from a loaded checkpoint,
/// rule-based corruptions, or a mix, into one dataset layout.
pub struct Rollout<'a> {
    config: &'a RolloutConfig,
    checkpoint: String,
    schedule: NoiseSchedule,
    sources: Vec<Source<'a>>,
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
        Self::prepare(config, None, NO_CHECKPOINT, root)
    }

    fn prepare(
        config: &'a RolloutConfig,
        denoiser: Option<Denoiser<'a>>,
        checkpoint_sha256: &str,
        root: &Path,
    ) -> Result<Self, RolloutError> {
        config.validate().map_err(|reason| RolloutError::Config { path: "rollout config".into(), reason })?;
        let sources = config.sources.iter().map(|source| Source::prepare(source, config, denoiser, root)).collect::<Result<_, _>>()?;
        let decontaminator = load_decontaminator(&config.decontaminate, root, config.lang.language())?;
        Ok(Rollout {
            config,
            checkpoint: checkpoint_sha256.to_string(),
            // rules-only rollouts log no chains; the spec's T keeps t_frac defined
            schedule: NoiseSchedule::sqrt(denoiser.map_or(1200, |d| d.model.config().diffusion_steps)),
            sources,
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
        let mut work = UnitWork {
            filter: PairFilter::new(config.lang.language(), config.filter, &self.decontaminator),
            timing: Timing::default(),
            pairs: Vec::new(),
            log: Vec::new(),
        };
        let first = u * config.chains_per_unit;
        let last = ((u + 1) * config.chains_per_unit).min(config.max_chains);
        for batch_start in (first..last).step_by(config.batch_size) {
            let b = config.batch_size.min(last - batch_start);
            let source = self.pick_source(&mut rng);
            let (denoiser, anchored) = match &source.kind {
                SourceKind::Rules(pool) => {
                    let clock = Instant::now();
                    self.corrupt_batch(pool, batch_start, b, &mut work, &mut rng);
                    work.timing.filter_s += clock.elapsed().as_secs_f64();
                    continue;
                }
                SourceKind::Unconditional(denoiser) => (denoiser, None),
                SourceKind::Anchored(denoiser, pool) => (denoiser, Some(pool.draw(batch_start, b, &self.schedule, &mut rng))),
            };
            let clock = Instant::now();
            let sampler = Sampler::new(denoiser.model, &self.schedule, &config.sampler);
            let chains = run_batch(&sampler, anchored.as_ref().map(|batch| batch.anchors()), b, batch_start as u64, &mut rng)?;
            work.timing.denoise_s += clock.elapsed().as_secs_f64();
            self.keep_chains(chains, source.config, denoiser.tokenizer, &mut work, &mut rng)?;
        }
        write_parquet_atomic(&self.units.pairs(u), &PairRecord::to_batch(&work.pairs), config.output)?;
        write_parquet_atomic(&self.units.chains(u), &ChainStepRecord::to_batch(&work.log), config.output)?;
        let marker = UnitMarker { unit: u, chains: last - first, counts: work.filter.counts, timing: work.timing, rank };
        self.units.write_marker(&marker)?;
        Ok(marker)
    }

    /// The source of the next batch, drawn by weight.
    fn pick_source(&self, rng: &mut ChaCha8Rng) -> &Source<'a> {
        let weights: Vec<f64> = self.sources.iter().map(|s| s.config.weight()).collect();
        let total = weights.iter().sum::<f64>();
        &self.sources[weighted_draw(&weights, total, rng).unwrap_or(self.sources.len() - 1)]
    }

    /// Decodes every step of `chains` and keeps the pairs the selection picks
    /// and the filters pass, with each chain's log.
    fn keep_chains(
        &self,
        chains: Vec<Chain>,
        source: &SourceConfig,
        tokenizer: &CodeTokenizer,
        work: &mut UnitWork<'_>,
        rng: &mut ChaCha8Rng,
    ) -> Result<(), RolloutError> {
        work.timing.chain_steps += chains.iter().map(|c| c.steps.len() as u64).sum::<u64>();
        for chain in chains {
            let clock = Instant::now();
            let texts = chain.decode(tokenizer)?;
            work.timing.decode_s += clock.elapsed().as_secs_f64();
            let clock = Instant::now();
            self.select_pairs(&chain, &texts, source, &mut work.filter, rng, &mut work.pairs);
            work.log.extend(chain.log(self.schedule.steps(), source.name()));
            work.timing.filter_s += clock.elapsed().as_secs_f64();
        }
        Ok(())
    }

    /// Corrupts the snippets of `b` slots from `batch_start` with the language's
    /// operators drawn by weight, keeping the pairs the filters keep. A snippet
    /// that no drawn operator applies to counts as `unchanged`.
    fn corrupt_batch(&self, pool: &RulePool<'_>, batch_start: usize, b: usize, work: &mut UnitWork<'_>, rng: &mut ChaCha8Rng) {
        let lang = self.config.lang.language();
        let operators = lang.corruptions();
        let weight: Vec<f64> = operators.iter().map(|o| pool.operators.get(o.name).copied().unwrap_or(1.0)).collect();
        let total: f64 = weight.iter().sum();
        for slot in batch_start..batch_start + b {
            let fixed = &pool.texts[slot % pool.texts.len()];
            // operators drawn by weight without replacement until one applies,
            // so a snippet only one operator fits still gets that one
            let (mut left, mut left_total, mut made) = (weight.clone(), total, None);
            while made.is_none() && left_total > 0.0 {
                let k = weighted_draw(&left, left_total, rng);
                let Some(k) = k.or_else(|| left.iter().rposition(|w| *w > 0.0)) else { break };
                made = (operators[k].apply)(fixed, rng).map(|broken| (operators[k].name, broken));
                left_total -= left[k];
                left[k] = 0.0;
            }
            let (name, broken) = made.unwrap_or(("none", fixed.clone()));
            let fixed_valid = lang.check(fixed).is_ok();
            if let Ok(accepted) = work.filter.check(&broken, fixed, fixed_valid) {
                let origin = Origin { t: 0, source: format!("rules:{name}"), chain_id: slot as u64 };
                work.pairs.push(self.pair_record(broken, fixed, fixed_valid, &accepted, origin));
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
                let origin = Origin { t: chain.steps[k].t, source: source.name().to_string(), chain_id: chain.chain_id };
                pairs.push(self.pair_record(broken.clone(), &fixed, fixed_valid, &accepted, origin));
                kept += 1;
            }
        }
    }

    /// The row of a kept pair from `origin`.
    fn pair_record(&self, broken: String, fixed: &str, fixed_valid: bool, accepted: &Accepted, origin: Origin) -> PairRecord {
        let Origin { t, source, chain_id } = origin;
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
