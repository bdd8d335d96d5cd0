//! Repair by noise injection: embed the broken snippet, noise it to level `t`,
//! resume the reverse process, decode. Candidates come from several levels and
//! noise samples, batched across snippets; pooling picks one.
//!
//! Imports `diffusion/`, `lang`, `tokenizer/`, `model/`, `dataset/`.

pub mod baseline;
mod localise;
pub mod output;
pub mod plausibility;
mod pool;
pub mod proposals;
pub mod revise;

use localise::repair_site_tokens;
pub use localise::{error_token, furthest_progress, Localise, MAX_SITES};
pub use plausibility::{plausibility, plausibility_by_text, token_plausibility, Plausibility, PlausibilityError};
pub use pool::{any_correct, choose, ranked, Candidate, Pooling, RANK_EDIT_COST, RANK_VOTE_WEIGHT};

use crate::diffusion::{bucketed_batch, constrained, EosInWindow, NoiseSchedule, Sampler, SamplerConfig, Start, Update, Window};
use crate::lang::edit::token_edit_distance;
use crate::lang::Language;
use crate::model::CodeFusion;
use crate::progress::{Progress, ProgressFn, Unit};
use crate::tokenizer::{CodeTokenizer, TokenizerError};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// What can go wrong repairing a batch (a per-item problem is an [`ItemError`]).
#[derive(Debug, thiserror::Error)]
pub enum RepairError {
    /// The model failed.
    #[error("model: {0}")]
    Model(#[from] candle_core::Error),
    /// Tokenising or decoding failed.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    /// Scoring the candidates' plausibility failed.
    #[error("ranking candidates: {0}")]
    Plausibility(#[from] PlausibilityError),
    /// The settings cannot work (a sampling length that does not fit the model).
    #[error("{0}")]
    Config(String),
}

/// Why one input got no candidates.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
pub enum ItemError {
    /// The input does not fit the model.
    #[error("input is {tokens} tokens with <eos>; the model takes at most {max}")]
    TooLong {
        /// Its length in tokens, `<eos>` included.
        tokens: usize,
        /// The model length `n`.
        max: usize,
    },
}

/// Noise levels, samples and sampler of a repair run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepairConfig {
    /// Noise levels as fractions of `T - 1`.
    pub levels: Vec<f64>,
    /// Noise samples per level.
    pub samples: usize,
    /// The reverse process.
    pub sampler: SamplerConfig,
    /// Chains denoised together.
    pub batch_size: usize,
    /// Seed of the noise.
    pub seed: u64,
    /// Error-localised repair instead of the paper's whole-snippet noising.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub localise: Option<Localise>,
    /// Score every valid candidate's [`plausibility`] (what
    /// [`Pooling::Ranked`] chooses by); `None`: candidates are not scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank: Option<Plausibility>,
    /// The paper's method (no `localise`) read out under the checker: each
    /// chain's snippet is the most probable combination of its tokens that
    /// passes, as the localised method reads its windows, the whole snippet
    /// being the window; `None`: the argmax at each position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constrained: Option<WholeReadout>,
}

/// The checker-constrained read-out of the paper's whole-snippet method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WholeReadout {
    /// Nats charged per token the read-out changes from the input
    /// ([`constrained::charge_edits`]); 0 ranks by the model's probability alone.
    #[serde(default)]
    pub edit_cost: f32,
    /// Tokens considered at each position (its most probable ones).
    #[serde(default = "default_top_k")]
    pub top_k: usize,
    /// Combinations checked at most per chain.
    #[serde(default = "default_budget")]
    pub budget: usize,
    /// Accepted read-outs kept per chain, most probable first, each a
    /// candidate of the chain's level and sample (ranked pooling weighs them).
    #[serde(default = "localise::one")]
    pub alternatives: usize,
}

/// The localised method's search (top 8, 256 tries) and one read-out a chain;
/// `lastmile repair --method paper --constrained` searches wider by default
/// (top 64, 8,192 tries, 4 read-outs), the setting measured best on the Excel
/// benchmark.
impl Default for WholeReadout {
    fn default() -> Self {
        WholeReadout { edit_cost: 0.0, top_k: default_top_k(), budget: default_budget(), alternatives: 1 }
    }
}

fn default_top_k() -> usize {
    constrained::Constraint::default().top_k
}

fn default_budget() -> usize {
    constrained::Constraint::default().budget
}

/// How a batch's chains are read out.
#[derive(Clone, Copy)]
struct ReadOut {
    /// Nats charged per changed token (with scores).
    edit_cost: f32,
    /// How far the checker-constrained search looks.
    limits: constrained::Constraint,
    /// Accepted read-outs kept per chain.
    alternatives: usize,
}

/// A repair keeps the model's `<eos>` inside a window: it may shorten its input.
const EOS_IN_WINDOW: EosInWindow = EosInWindow::EndsSnippet;

/// One chain to run: an input's row, its noise sample and, for localised
/// repair, its window.
struct Job {
    item: usize,
    sample: usize,
    ids: Vec<u32>,
    window: Option<Window>,
    /// [`Language::comment_bytes`] of the input: a read-out may not write more.
    comment_bytes: usize,
}

/// What one input asks of the model.
enum Plan {
    /// Rows to run at every level and sample, each with its window (`None`:
    /// the whole snippet is noised, the paper's method).
    Chains(Vec<(Vec<u32>, Option<Window>)>),
    /// Nothing to localise (the checker accepts it): the input itself at every
    /// level and sample, no chain run.
    Unchanged(Vec<u32>),
}

impl Default for RepairConfig {
    fn default() -> Self {
        RepairConfig {
            levels: (1..=9).map(|k| k as f64 / 10.0).collect(),
            samples: 1,
            sampler: SamplerConfig { steps: Some(50), stride: None, clamp: false, update: Update::Ddpm, likelihood: 0.0 },
            batch_size: 64,
            seed: 0,
            localise: None,
            rank: None,
            constrained: None,
        }
    }
}

/// A loaded model ready to repair snippets of one language.
pub struct Repairer<'a> {
    model: &'a CodeFusion,
    tokenizer: &'a CodeTokenizer,
    lang: &'a dyn Language,
    schedule: NoiseSchedule,
}

impl<'a> Repairer<'a> {
    /// A repairer for `lang` with a loaded checkpoint.
    pub fn new(model: &'a CodeFusion, tokenizer: &'a CodeTokenizer, lang: &'a dyn Language) -> Self {
        Repairer { model, tokenizer, lang, schedule: NoiseSchedule::sqrt(model.config().diffusion_steps) }
    }

    /// The language it repairs.
    pub fn language(&self) -> &'a dyn Language {
        self.lang
    }

    /// All candidates for every input (in level, then sample order), or why
    /// an input has none. Chains of one level are batched across inputs.
    pub fn repair(&self, inputs: &[String], config: &RepairConfig) -> Result<Vec<Result<Vec<Candidate>, ItemError>>, RepairError> {
        self.repair_with_progress(inputs, config, &mut crate::progress::ignore)
    }

    /// [`Repairer::repair`], reporting after every batch of chains.
    pub fn repair_with_progress(
        &self,
        inputs: &[String],
        config: &RepairConfig,
        progress: &mut ProgressFn<'_>,
    ) -> Result<Vec<Result<Vec<Candidate>, ItemError>>, RepairError> {
        let mut out: Vec<Result<Vec<Candidate>, ItemError>> = Vec::with_capacity(inputs.len());
        let mut jobs: Vec<Job> = Vec::new();
        for (item, text) in inputs.iter().enumerate() {
            match self.plan(text, config.localise.as_ref())? {
                Err(error) => out.push(Err(error)),
                Ok(Plan::Unchanged(ids)) => {
                    let candidate = self.candidate(text, &ids, 0.0, 0)?;
                    let every = config.levels.iter().flat_map(|&level| (0..config.samples).map(move |sample| (level, sample)));
                    out.push(Ok(every.map(|(level, sample)| Candidate { level, sample, ..candidate.clone() }).collect()));
                }
                Ok(Plan::Chains(variants)) => {
                    out.push(Ok(Vec::new()));
                    let comment_bytes = self.lang.comment_bytes(text);
                    for sample in 0..config.samples {
                        jobs.extend(variants.iter().map(|(ids, window)| Job {
                            item,
                            sample,
                            ids: ids.clone(),
                            window: *window,
                            comment_bytes,
                        }));
                    }
                }
            }
        }
        let batch_size = config.batch_size.max(1);
        let total = jobs.len().div_ceil(batch_size) * config.levels.len();
        let mut done = 0;
        for (li, &level) in config.levels.iter().enumerate() {
            let t = self.schedule.level(level);
            let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
            rng.set_stream(li as u64);
            for chunk in jobs.chunks(batch_size) {
                for (job, read) in chunk.iter().zip(self.run_chunk(chunk, t, config, &mut rng)?) {
                    for ids in read {
                        let candidate = self.candidate(&inputs[job.item], &ids, level, job.sample)?;
                        if let Ok(list) = &mut out[job.item] {
                            list.push(candidate);
                        }
                    }
                }
                done += 1;
                progress(Progress::count(Unit::Batches, done as u64, Some(total as u64)));
            }
        }
        for list in out.iter_mut().flatten() {
            list.sort_by(|a, b| a.level.total_cmp(&b.level).then(a.sample.cmp(&b.sample)));
        }
        if let Some(localise) = config.localise.as_ref().filter(|l| l.rounds > 1) {
            self.next_round(inputs, &mut out, config, localise, progress)?;
        }
        if let Some(localise) = config.localise.as_ref().filter(|l| l.revise.unwrap_or_else(|| self.lang.proposes_single_edits())) {
            let margins = revise::Margins {
                name: localise.revise_name_margin.unwrap_or(revise::NAME_MARGIN),
                edit: localise.revise_margin.unwrap_or(revise::EDIT_MARGIN),
            };
            self.revise(inputs, &mut out, config, margins)?;
        }
        if config.localise.as_ref().is_some_and(|l| l.proposals.unwrap_or_else(|| self.lang.proposes_single_edits())) {
            self.propose(inputs, &mut out);
        }
        if let Some(localise) = config.localise.as_ref().filter(|l| l.idioms) {
            self.propose_idioms(inputs, &mut out, localise.sites);
        }
        if let Some(rank) = &config.rank {
            self.score(&mut out, rank, batch_size)?;
        }
        Ok(out)
    }

    /// Appends the [`proposals::repeated_substitutions`] and
    /// [`proposals::single_edits`] of every input the checker
    /// rejects to the front of its candidates, at level 0, all of them sample 0
    /// (one deterministic set: pass@k counts chains' samples only).
    fn propose(&self, inputs: &[String], out: &mut [Result<Vec<Candidate>, ItemError>]) {
        let proposed: Vec<Vec<String>> = {
            use rayon::prelude::*;
            inputs
                .par_iter()
                .map(|text| match self.lang.check(text) {
                    Ok(()) => Vec::new(),
                    Err(error) => {
                        let comment_bytes = self.lang.comment_bytes(text);
                        let accept = |t: &str| acceptable(self.lang, t, comment_bytes);
                        let mut all = proposals::repeated_substitutions(self.lang, text, error.offset, accept);
                        all.extend(proposals::single_edits(self.lang, text, error.offset, accept));
                        all
                    }
                })
                .collect()
        };
        self.prepend(inputs, out, proposed, false);
    }

    /// Appends the checker-accepted [`Language::idiom_edits`] of every input
    /// the checker rejects, or (with `sites`) that has repair sites, to the
    /// front of its candidates, at level 0, sample 0, as [`Repairer::propose`]
    /// does: an input that parses and has no site is left alone. Those of a
    /// rejected input are [`Candidate::preferred`]; those of an input that
    /// parses compete with its read-outs by score alone (a correct command
    /// with a site, `$run "Y"`, must not be rewritten for it).
    fn propose_idioms(&self, inputs: &[String], out: &mut [Result<Vec<Candidate>, ItemError>], sites: bool) {
        let (rejected, accepted): (Vec<Vec<String>>, Vec<Vec<String>>) = {
            use rayon::prelude::*;
            inputs
                .par_iter()
                .map(|text| {
                    let parses = self.lang.check(text).is_ok();
                    if parses && (!sites || self.lang.repair_sites(text).is_empty()) {
                        return (Vec::new(), Vec::new());
                    }
                    let comment_bytes = self.lang.comment_bytes(text);
                    let edits =
                        self.lang.idiom_edits(text).into_iter().filter(|edited| acceptable(self.lang, edited, comment_bytes)).collect();
                    match parses {
                        true => (Vec::new(), edits),
                        false => (edits, Vec::new()),
                    }
                })
                .unzip()
        };
        self.prepend(inputs, out, accepted, false);
        self.prepend(inputs, out, rejected, true);
    }

    /// Puts each input's `proposed` snippets before its candidates, at level
    /// 0, sample 0 (one deterministic set: pass@k counts chains' samples only).
    fn prepend(&self, inputs: &[String], out: &mut [Result<Vec<Candidate>, ItemError>], proposed: Vec<Vec<String>>, preferred: bool) {
        for ((input, list), texts) in inputs.iter().zip(out.iter_mut()).zip(proposed) {
            let Ok(list) = list else { continue };
            let proposed = texts.into_iter().map(|text| Candidate {
                level: 0.0,
                sample: 0,
                valid: true,
                token_edit_distance: token_edit_distance(self.lang, input, &text),
                text,
                plausibility: None,
                preferred,
            });
            list.splice(0..0, proposed);
        }
    }

    /// Replaces every candidate of each input the checker accepts by its
    /// [`revise::revisions`] where it has one (by the rank settings' noise, or
    /// the default's), so that every pooling returns it.
    fn revise(
        &self,
        inputs: &[String],
        out: &mut [Result<Vec<Candidate>, ItemError>],
        config: &RepairConfig,
        margins: revise::Margins,
    ) -> Result<(), RepairError> {
        let items: Vec<usize> = (0..inputs.len()).filter(|&i| out[i].is_ok() && self.lang.check(&inputs[i]).is_ok()).collect();
        if items.is_empty() {
            return Ok(());
        }
        let texts: Vec<&str> = items.iter().map(|&i| inputs[i].as_str()).collect();
        let settings = config.rank.clone().unwrap_or_default();
        let comment_bytes: Vec<usize> = texts.iter().map(|text| self.lang.comment_bytes(text)).collect();
        let accept = |input: usize, text: &str| acceptable(self.lang, text, comment_bytes[input]);
        let revised =
            revise::revisions(self.model, self.tokenizer, self.lang, &texts, &settings, margins, config.batch_size.max(1), accept)?;
        for (item, revision) in items.into_iter().zip(revised) {
            let (Ok(list), Some(revision)) = (&mut out[item], revision) else { continue };
            for candidate in list.iter_mut() {
                candidate.text = revision.text.clone();
                candidate.valid = true;
                candidate.token_edit_distance = revision.token_edit_distance;
                candidate.plausibility = Some(revision.plausibility);
            }
        }
        Ok(())
    }

    /// Sets the [`plausibility`] of every valid candidate, each distinct text
    /// scored once.
    fn score(&self, out: &mut [Result<Vec<Candidate>, ItemError>], rank: &Plausibility, batch_size: usize) -> Result<(), RepairError> {
        let texts = out.iter().flatten().flatten().filter(|c| c.valid).map(|c| c.text.as_str());
        let by_text = plausibility_by_text(self.model, self.tokenizer, texts, rank, batch_size)?;
        for candidate in out.iter_mut().flatten().flatten() {
            candidate.plausibility = by_text.get(&candidate.text).copied().filter(|_| candidate.valid);
        }
        Ok(())
    }

    /// Repairs again every input without a valid candidate, from its
    /// [`furthest_progress`] candidate, and appends the new
    /// candidates (edit distances to the original input) after its own.
    fn next_round(
        &self,
        inputs: &[String],
        out: &mut [Result<Vec<Candidate>, ItemError>],
        config: &RepairConfig,
        localise: &Localise,
        progress: &mut ProgressFn<'_>,
    ) -> Result<(), RepairError> {
        let mut items = Vec::new();
        let mut partial = Vec::new();
        for (item, candidates) in out.iter().enumerate() {
            let Ok(candidates) = candidates else { continue };
            if candidates.iter().any(|c| c.valid) {
                continue;
            }
            if let Some(candidate) = furthest_progress(self.lang, &inputs[item], candidates) {
                items.push(item);
                partial.push(candidate.text.clone());
            }
        }
        if items.is_empty() {
            return Ok(());
        }
        // the candidates are scored once, after the last round
        let next =
            RepairConfig { localise: Some(Localise { rounds: localise.rounds - 1, ..localise.clone() }), rank: None, ..config.clone() };
        let repaired = self.repair_with_progress(&partial, &next, progress)?;
        for (item, candidates) in items.into_iter().zip(repaired) {
            let (Ok(list), Ok(more)) = (&mut out[item], candidates) else { continue };
            list.extend(
                more.into_iter().map(|c| Candidate { token_edit_distance: token_edit_distance(self.lang, &inputs[item], &c.text), ..c }),
            );
        }
        Ok(())
    }

    /// The rows `text` is repaired from, or why it cannot be.
    fn plan(&self, text: &str, localise: Option<&Localise>) -> Result<Result<Plan, ItemError>, RepairError> {
        let n = self.model.config().seq_len;
        let (ids, offsets) = self.tokenizer.encode_with_offsets(text)?;
        let Some(whole) = crate::tokenizer::fixed_row(&ids, 0, 0, n) else {
            return Ok(Err(ItemError::TooLong { tokens: ids.len() + 1, max: n }));
        };
        let Some(localise) = localise else { return Ok(Ok(Plan::Chains(vec![(whole, None)]))) };
        let error = self.lang.check(text).err().map(|error| error_token(&offsets, error.offset));
        let sites = match localise.sites {
            true => repair_site_tokens(self.lang, text, &offsets, error),
            false => Vec::new(),
        };
        if error.is_none() && sites.is_empty() {
            return Ok(Ok(Plan::Unchanged(whole)));
        }
        let variants: Vec<_> = error
            .into_iter()
            .chain(sites)
            .flat_map(|at| localise.radii.iter().flat_map(move |&r| localise.inserts.iter().map(move |&k| (at, r, k))))
            .filter_map(|(at, r, k)| Window::around(&ids, at, r, k, n))
            .map(|(row, window)| (row, Some(window)))
            .collect();
        Ok(Ok(Plan::Chains(match variants.is_empty() {
            true => vec![(whole, Some(Window::whole(n)))],
            false => variants,
        })))
    }

    /// One batch of chains at timestep `t`: each job's read-outs (one, or a
    /// whole-snippet read-out's alternatives, most probable first), its
    /// window spliced back into its row (under the checker with a constrained
    /// read-out).
    fn run_chunk(&self, chunk: &[Job], t: usize, config: &RepairConfig, rng: &mut ChaCha8Rng) -> Result<Vec<Vec<Vec<u32>>>, RepairError> {
        let rows: Vec<&[u32]> = chunk.iter().map(|job| job.ids.as_slice()).collect();
        let (tokens, _) = bucketed_batch(self.model, &rows, 0)?;
        let sampler = Sampler::new(self.model, &self.schedule, &config.sampler);
        let n = self.model.config().seq_len;
        let Some(localise) = &config.localise else {
            let start = Start::Tokens { tokens: &tokens, t };
            return match &config.constrained {
                None => Ok(sampler.run(start, rng, &mut |_| {})?.tokens.into_iter().map(|ids| vec![ids]).collect()),
                Some(readout) => {
                    // the paper's chain, unchanged; only its read-out is constrained
                    let sampled = sampler.scored().run(start, rng, &mut |_| {})?;
                    let windows = vec![Window::whole(n); chunk.len()];
                    let read = ReadOut {
                        edit_cost: readout.edit_cost,
                        limits: constrained::Constraint { top_k: readout.top_k, budget: readout.budget },
                        alternatives: readout.alternatives.max(1),
                    };
                    self.read_out(chunk, &windows, sampled.tokens, sampled.scores.as_ref(), read)
                }
            };
        };
        let windows: Vec<Window> = chunk.iter().map(|job| job.window.unwrap_or(Window::whole(n))).collect();
        let start = Start::Windows { tokens: &tokens, windows: &windows, readout: None, t };
        // the final step's (b, len, V) log-probabilities, only for a constrained read-out
        let sampled = match localise.constrained {
            true => sampler.scored().run(start, rng, &mut |_| {})?,
            false => sampler.run(start, rng, &mut |_| {})?,
        };
        let read = ReadOut {
            edit_cost: localise.edit_cost,
            limits: constrained::Constraint::default(),
            alternatives: localise.alternatives.max(1),
        };
        self.read_out(chunk, &windows, sampled.tokens, sampled.scores.as_ref(), read)
    }

    /// Each job's `decoded` window spliced back into its row: under the
    /// checker as `read` says where the final step's `scores` are given,
    /// else the argmax read-out alone.
    fn read_out(
        &self,
        chunk: &[Job],
        windows: &[Window],
        decoded: Vec<Vec<u32>>,
        scores: Option<&candle_core::Tensor>,
        read: ReadOut,
    ) -> Result<Vec<Vec<Vec<u32>>>, RepairError> {
        use rayon::prelude::*;
        let scores = scores.map(|s| s.to_vec3::<f32>()).transpose()?;
        let accept =
            |job: &Job, ids: &[u32]| self.tokenizer.decode_snippet(ids).is_ok_and(|text| acceptable(self.lang, &text, job.comment_bytes));
        // each chain's search is independent (and can check thousands of snippets)
        Ok(chunk
            .par_iter()
            .zip(windows)
            .zip(decoded)
            .enumerate()
            .map(|(j, ((job, &window), out))| match &scores {
                Some(scores) => {
                    let mut charged = std::borrow::Cow::Borrowed(&scores[j]);
                    // the (n x V) scores are copied only when edits are charged
                    if read.edit_cost > 0.0 {
                        constrained::charge_edits(charged.to_mut(), &job.ids, window, read.edit_cost);
                    }
                    let accept = |ids: &[u32]| accept(job, ids);
                    constrained::splice_accepted_n(window, &job.ids, &out, &charged, EOS_IN_WINDOW, read.limits, read.alternatives, accept)
                }
                None => vec![window.splice(&job.ids, &out, EOS_IN_WINDOW)],
            })
            .collect())
    }

    /// The candidate `ids` make for `input`.
    fn candidate(&self, input: &str, ids: &[u32], level: f64, sample: usize) -> Result<Candidate, RepairError> {
        let text = self.tokenizer.decode_snippet(ids)?;
        Ok(Candidate {
            level,
            sample,
            valid: self.lang.check(&text).is_ok(),
            token_edit_distance: token_edit_distance(self.lang, input, &text),
            text,
            plausibility: None,
            preferred: false,
        })
    }
}

/// Whether a checker-constrained read-out may answer with `text`: it passes
/// the strict check, and not by turning code into a comment (at most the
/// input's `comment_bytes` of comment).
fn acceptable(lang: &dyn Language, text: &str, comment_bytes: usize) -> bool {
    lang.check(text).is_ok() && lang.comment_bytes(text) <= comment_bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::LangId;
    use crate::model::ModelConfig;

    #[test]
    fn every_level_and_sample_gives_a_candidate_and_long_inputs_an_error() {
        let (model, tokenizer) = crate::test_models::tiny_excel();
        let excel = LangId::Excel.language();
        let repairer = Repairer::new(&model, &tokenizer, excel);
        let long = format!("={}", vec!["A1"; 40].join("+"));
        let inputs = vec!["=SUM(A1:B4".to_string(), long, "=A1+".to_string()];
        let repair = RepairConfig {
            levels: vec![0.1, 0.5],
            samples: 3,
            batch_size: 4,
            sampler: SamplerConfig { steps: Some(5), ..Default::default() },
            seed: 1,
            localise: None,
            rank: None,
            constrained: None,
        };
        let out = repairer.repair(&inputs, &repair).unwrap();
        assert_eq!(out[0].as_ref().unwrap().len(), 6);
        assert!(matches!(out[1], Err(ItemError::TooLong { max: 16, .. })));
        let third = out[2].as_ref().unwrap();
        assert_eq!(third.iter().map(|c| (c.level, c.sample)).collect::<Vec<_>>()[..3], [(0.1, 0), (0.1, 1), (0.1, 2)]);
        assert_eq!(repairer.repair(&inputs, &repair).unwrap(), out, "same seed, same candidates");
    }

    /// A tokenizer of the PowerShell benchmark's texts and an untrained tiny
    /// model over it: repairs whose read-outs are junk, so what a test sees
    /// comes from the method, not from what a model learnt.
    fn untrained_powershell_model() -> (CodeTokenizer, CodeFusion) {
        let path = crate::repo_file("corpora/benchmarks/repair/powershell.json");
        let bench = crate::dataset::load_bench(&path).unwrap();
        let texts: Vec<String> = bench.iter().flat_map(|i| [i.truth.clone(), i.broken.clone()]).collect();
        let tokenizer = CodeTokenizer::train(texts.iter(), 600).unwrap();
        let config = ModelConfig {
            vocab_size: 600,
            seq_len: 64,
            d_model: 16,
            n_heads: 2,
            denoiser_layers: 1,
            decoder_layers: 1,
            ..ModelConfig::tiny()
        };
        let (model, _vars) = crate::model::init_model(&config, &candle_core::Device::Cpu, 0).unwrap();
        (tokenizer, model)
    }

    #[test]
    fn a_parsing_input_is_repaired_at_its_repair_sites_and_kept_without_them() {
        let powershell = LangId::Powershell.language();
        let (tokenizer, model) = untrained_powershell_model();
        // both parse; the first names a program it does not run (no `&`), the second is a cmdlet call
        let inputs = vec![r#""C:\Program Files\tools\setup.exe""#.to_string(), "Get-ChildItem -Path C:\\temp -Recurse".to_string()];
        assert!(inputs.iter().all(|i| powershell.check(i).is_ok()));
        let localise =
            Localise { radii: vec![1], inserts: vec![1], sites: true, idioms: false, revise: Some(false), ..Localise::default() };
        let repair = RepairConfig {
            levels: vec![0.5, 1.0],
            samples: 3,
            batch_size: 8,
            sampler: SamplerConfig { stride: Some(200), ..Default::default() },
            seed: 5,
            localise: Some(localise.clone()),
            rank: None,
            constrained: None,
        };
        let repairer = Repairer::new(&model, &tokenizer, powershell);
        let out = repairer.repair(&inputs, &repair).unwrap();
        let (site, plain) = (out[0].as_ref().unwrap(), out[1].as_ref().unwrap());
        assert_eq!(site.len(), 6);
        assert!(site.iter().any(|c| c.text != inputs[0]), "an untrained model writes junk at the head: the site was noised");
        let (ids, _) = tokenizer.encode_with_offsets(&inputs[0]).unwrap();
        let tail = tokenizer.decode_snippet(&ids[2..]).unwrap();
        for c in site {
            assert!(c.text.ends_with(&tail), "{} -> {}: only the head's window changes", inputs[0], c.text);
        }
        assert!(plain.iter().all(|c| c.text == inputs[1]), "no error and no site: unchanged");
        let no_sites = RepairConfig { localise: Some(Localise { sites: false, ..localise }), ..repair };
        let out = repairer.repair(&inputs, &no_sites).unwrap();
        assert!(out[0].as_ref().unwrap().iter().all(|c| c.text == inputs[0]), "without sites a parsing input is kept");
    }

    #[test]
    fn documented_fixes_of_a_rejected_input_rank_first_and_a_parsing_inputs_only_compete() {
        let powershell = LangId::Powershell.language();
        let (tokenizer, model) = untrained_powershell_model();
        // a benchmark item (rejected: a string followed by a stray token), and a
        // program named alone (parses, has a site)
        let inputs =
            vec![r#""C:\path\ffmpeg.exe" -i stuff.mp3 stuff.wav"#.to_string(), r#""C:\Program Files\tools\setup.exe""#.to_string()];
        let fixes = [r#"& "C:\path\ffmpeg.exe" -i stuff.mp3 stuff.wav"#, r#"& "C:\Program Files\tools\setup.exe""#];
        assert!(powershell.check(&inputs[0]).is_err() && powershell.check(&inputs[1]).is_ok());
        let repair = RepairConfig {
            levels: vec![0.3],
            samples: 2,
            batch_size: 8,
            sampler: SamplerConfig { stride: Some(200), ..Default::default() },
            seed: 3,
            localise: Some(Localise { radii: vec![1], inserts: vec![1], revise: Some(false), ..Localise::default() }),
            rank: Some(Plausibility::default()),
            constrained: None,
        };
        let repairer = Repairer::new(&model, &tokenizer, powershell);
        let out = repairer.repair(&inputs, &repair).unwrap();
        let (rejected, parsing) = (out[0].as_ref().unwrap(), out[1].as_ref().unwrap());
        let fix = rejected.iter().find(|c| c.text == fixes[0]).expect("the call operator is proposed");
        assert!(fix.preferred && fix.valid && fix.level == 0.0);
        assert_eq!(
            choose(rejected, powershell, Pooling::Ranked).unwrap().text,
            fixes[0],
            "an untrained model's read-outs do not outrank it"
        );
        let proposed = parsing.iter().find(|c| c.text == fixes[1]).expect("proposed at the site");
        assert!(!proposed.preferred, "an input that parses is rewritten only if the model prefers it");
        let without = RepairConfig { localise: Some(Localise { idioms: false, ..repair.localise.clone().unwrap() }), ..repair };
        let out = repairer.repair(&inputs, &without).unwrap();
        assert!(out.iter().flatten().flatten().all(|c| !c.preferred && c.level > 0.0), "--no-idioms: read-outs only");
    }

    #[test]
    fn a_read_out_never_passes_the_checker_by_commenting_code_out() {
        let powershell = LangId::Powershell.language();
        // a benchmark command and what a checker-constrained read-out of models/powershell answered
        // before comments were counted: everything after the `#` no longer had to parse
        let input = r#"Add-Entity -TableName $myTableName -RowKey "XYZ" -JsonString {"TO":["abc@xyz.com"],"BCC":[]}"#;
        let commented = r#"BeforeAllAd #-Entity -TableName $myTableName -RowKey "XYZ" -JsonString {"TO":["abc@xyz.com"],"BCC":[]}"#;
        let fixed = r#"Add-Entity -TableName $myTableName -RowKey "XYZ" -JsonString '{"TO":["abc@xyz.com"],"BCC":[]}'"#;
        assert!(powershell.check(input).is_err() && powershell.check(commented).is_ok());
        let budget = powershell.comment_bytes(input);
        assert!(!acceptable(powershell, commented, budget), "commented out");
        assert!(acceptable(powershell, fixed, budget), "the real fix");
        let noted = "Get-Process # running ones\nStop-Process -Name x";
        assert!(acceptable(powershell, noted, powershell.comment_bytes(noted)), "the input's own comment is kept");
        assert!(!acceptable(powershell, input, budget), "and the checker still decides");
    }

    #[test]
    fn localised_repair_rewrites_only_the_window_on_real_benchmark_formulas() {
        let path = crate::repo_file("corpora/benchmarks/repair/excel.json");
        let bench = crate::dataset::load_bench(&path).unwrap();
        let excel = LangId::Excel.language();
        let texts: Vec<String> = bench.iter().map(|i| i.truth.clone()).collect();
        let tokenizer = CodeTokenizer::train(texts.iter(), 400).unwrap();
        let config = ModelConfig {
            vocab_size: 400,
            seq_len: 48,
            d_model: 16,
            n_heads: 2,
            denoiser_layers: 1,
            decoder_layers: 1,
            length_bucket: Some(8),
            ..ModelConfig::tiny()
        };
        let (model, _vars) = crate::model::init_model(&config, &candle_core::Device::Cpu, 0).unwrap();
        let mut inputs: Vec<String> =
            bench.iter().map(|i| i.broken.clone()).filter(|b| excel.check(b).is_err() && b.len() < 60).take(6).collect();
        inputs.push(bench[0].truth.clone()); // a formula the checker accepts
        let localise = Localise {
            radii: vec![1],
            inserts: vec![0, 1],
            constrained: false,
            edit_cost: 0.0,
            rounds: 1,
            sites: true,
            proposals: Some(false),
            idioms: true,
            revise: Some(false),
            revise_margin: None,
            revise_name_margin: None,
            alternatives: 1,
        };
        let repair = RepairConfig {
            levels: vec![0.5],
            samples: 2,
            batch_size: 8,
            sampler: SamplerConfig { stride: Some(200), ..Default::default() },
            seed: 3,
            localise: Some(localise.clone()),
            rank: None,
            constrained: None,
        };
        let repairer = Repairer::new(&model, &tokenizer, excel);
        let out = repairer.repair(&inputs, &repair).unwrap();
        // the same chains read out under the checker: each candidate is the
        // argmax one, or another that passes the check (no rng draw differs)
        let constrained = RepairConfig { localise: Some(Localise { constrained: true, ..localise.clone() }), ..repair.clone() };
        let checked = repairer.repair(&inputs, &constrained).unwrap();
        let mut changed = 0;
        for (free, held) in out.iter().zip(&checked) {
            for (a, b) in free.as_ref().unwrap().iter().zip(held.as_ref().unwrap()) {
                assert!(a.text == b.text || b.valid, "{} -> {}: a constrained read-out passes the check", a.text, b.text);
                changed += usize::from(a.text != b.text);
            }
        }
        assert!(changed > 0, "the checker changed some read-out");
        let (valid, out) = out.split_last().unwrap();
        assert!(valid.as_ref().unwrap().iter().all(|c| &c.text == inputs.last().unwrap()), "a valid input comes back unchanged");
        for (input, candidates) in inputs.iter().zip(out) {
            let candidates = candidates.as_ref().unwrap();
            assert_eq!(candidates.len(), 2 * 2, "two variants for each of two samples");
            let (ids, offsets) = tokenizer.encode_with_offsets(input).unwrap();
            let at = error_token(&offsets, excel.check(input).unwrap_err().offset);
            for c in candidates {
                // an untrained model writes junk, but only inside the window
                let prefix = tokenizer.decode_snippet(&ids[..at.saturating_sub(1)]).unwrap();
                assert!(c.text.starts_with(&prefix), "{input} -> {}: the part before the window is kept", c.text);
            }
        }
    }
}
