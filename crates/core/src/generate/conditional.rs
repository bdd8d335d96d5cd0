//! NL-to-code generation (CodeFusion's task): `chains` reverse processes from
//! pure noise per utterance, all attending to its encoding, each read out
//! (under the language's checker when one is given), then deduplicated and
//! ranked: programs the checker accepts before the argmax of a chain that had
//! none, then the programs most chains agree on first, ties by the model's mean
//! log-probability of their tokens. Every utterance's noise comes from the
//! stream of the seed that its text's hash names, so its candidates do not
//! depend on what else is in the run, nor where. A model trained on literal
//! slots ([`crate::model::ModelConfig::literal_slots`]) reads the utterance
//! with its values as placeholders, and every read-out has them filled back
//! before the checker sees it.
//!
//! [`generate_from_exemplars`] starts each utterance's chains from programs
//! that answer similar utterances (the nearest train items) noised to a level
//! of the schedule instead of from pure noise, the repair paper's "noise it and
//! resume the reverse process" applied to generation: the model edits a
//! retrieved program towards what the utterance asks.

use super::GenerateError;
use crate::dataset::{LiteralSlots, Nl2CodeItem};
use crate::diffusion::constrained::{read_out_n, splice_accepted_n, Constraint};
use crate::diffusion::{source_batch, EosInWindow, NoiseSchedule, Sampler, SamplerConfig, Start};
use crate::lang::Language;
use crate::model::CodeFusion;
use crate::progress::{Progress, ProgressFn, Unit};
use crate::tokenizer::{fixed_row, len_with_eos, CodeTokenizer, EOS};
use candle_core::Tensor;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// How [`generate_ranked`] samples.
#[derive(Debug, Clone, PartialEq)]
pub struct RankedConfig {
    /// The reverse process.
    pub sampler: SamplerConfig,
    /// Chains per utterance (at least `k`; more chains, better votes).
    pub chains: usize,
    /// Candidates kept per utterance.
    pub k: usize,
    /// Seed of the noise (each utterance draws from a stream named by its text).
    pub seed: u64,
    /// Positions of each chain (the longest program it can write, with its
    /// `<eos>`); `None` is the model length `n`.
    pub len: Option<usize>,
    /// Token lengths (without `<eos>`) the chains are held to, in turn (chain
    /// `c` writes `lengths[c % lengths.len()]` tokens, `<eos>` and `<pad>` held after
    /// them); `None`: every chain places its own `<eos>` within `len`. Chains
    /// of several lengths cannot all agree, so the top-k holds more distinct
    /// programs, and a short program is not lost among positions the model
    /// must fill with padding.
    pub lengths: Option<Vec<usize>>,
    /// Programs read out of each chain under the checker: its most probable
    /// accepted one, which votes, and up to `alternatives - 1` next ones, which
    /// rank after every voted program by their log-probability and fill a
    /// top-k that the chains' votes leave short.
    pub alternatives: usize,
    /// Read out only programs whose values the utterance shows
    /// ([`Language::grounded`]: CF rules' numbers and text values), when a checker
    /// reads them out; a chain with no such program keeps its argmax.
    pub grounded: bool,
    /// Where chains given exemplars ([`generate_from_exemplars`]) start: their
    /// programs noised to this fraction of the schedule (0 keeps them nearly
    /// clean, 1 is pure noise). Such a chain takes this share of
    /// `sampler.steps` (at least one), the step size of a chain from noise.
    pub exemplar_level: f64,
}

impl RankedConfig {
    /// The reverse process of a chain from an exemplar: the share of
    /// `sampler.steps` that `exemplar_level` is (at least one), so that it steps
    /// as a chain from noise does.
    pub fn exemplar_sampler(&self) -> SamplerConfig {
        match self.sampler.steps {
            Some(steps) => SamplerConfig { steps: Some(((steps as f64 * self.exemplar_level).round() as usize).max(1)), ..self.sampler },
            None => self.sampler,
        }
    }
}

/// A program to start chains from, with the utterance it answers (whose
/// numbers and quoted values are its literal slots).
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// The utterance the program answers.
    pub utterance: String,
    /// The program.
    pub code: String,
}

impl Exemplar {
    /// The program as a chain starts from it: with `slots` (a model trained on
    /// literal slots), the values its utterance shows as that utterance's
    /// placeholders (`GreaterThan(267)` → `GreaterThan(N0)`), so that the asked
    /// utterance's values fill them back.
    pub fn program(&self, slots: bool) -> String {
        match slots {
            true => LiteralSlots::of(&self.utterance).mask_code(&self.code),
            false => self.code.clone(),
        }
    }
}

impl From<&Nl2CodeItem> for Exemplar {
    /// A benchmark item as an exemplar (an item without an utterance slots nothing).
    fn from(item: &Nl2CodeItem) -> Self {
        Exemplar { utterance: item.utterance.clone().unwrap_or_default(), code: item.code.clone() }
    }
}

/// One ranked program.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    /// The program.
    pub text: String,
    /// Chains that read out to it.
    pub votes: usize,
    /// The best mean log-probability of its tokens (through `<eos>`) among those chains.
    pub log_prob: f32,
}

/// Up to `config.k` distinct programs for each utterance, best first, its
/// chains from pure noise. An utterance is encoded as training encodes it: its
/// ids cut to the encoder's length with `<eos>`. Reports one [`Unit::Batches`]
/// count per utterance (its chains run as one batch).
pub fn generate_ranked(
    model: &CodeFusion,
    tokenizer: &CodeTokenizer,
    schedule: &NoiseSchedule,
    checker: Option<&dyn Language>,
    utterances: &[&str],
    config: &RankedConfig,
    progress: &mut ProgressFn,
) -> Result<Vec<Vec<Candidate>>, GenerateError> {
    generate_from_exemplars(model, tokenizer, schedule, checker, utterances, &[], config, progress)
}

/// [`generate_ranked`] with chains started from exemplars: utterance `i`'s
/// chain `c` starts from `exemplars[i][c % len]` noised to
/// `config.exemplar_level` (its program with the exemplar utterance's values as
/// literal slots, for a model trained on them, so that the utterance's own
/// values fill them back). An utterance without exemplars (`exemplars` shorter,
/// or an empty list) starts from pure noise. Chains that start from exemplars
/// take their lengths from them: `config.lengths` with exemplars is an error.
#[allow(clippy::too_many_arguments)]
pub fn generate_from_exemplars(
    model: &CodeFusion,
    tokenizer: &CodeTokenizer,
    schedule: &NoiseSchedule,
    checker: Option<&dyn Language>,
    utterances: &[&str],
    exemplars: &[Vec<Exemplar>],
    config: &RankedConfig,
    progress: &mut ProgressFn,
) -> Result<Vec<Vec<Candidate>>, GenerateError> {
    if model.config().encoder_layers == 0 {
        return Err(GenerateError::Config("this checkpoint has no encoder: NL-to-code needs a model trained with `[pairs]`".into()));
    }
    if config.lengths.is_some() && exemplars.iter().any(|e| !e.is_empty()) {
        return Err(GenerateError::Config("chains started from exemplars take their lengths from them: leave out the held lengths".into()));
    }
    if !(0.0..=1.0).contains(&config.exemplar_level) {
        return Err(GenerateError::Config(format!("the exemplar level must be within 0..=1, got {}", config.exemplar_level)));
    }
    let chains = config.chains.max(config.k).max(1);
    let m = model.config().source_len();
    let mut out = Vec::with_capacity(utterances.len());
    for (i, utterance) in utterances.iter().enumerate() {
        // a model trained on literal slots reads `N0` where the utterance shows a number
        let slots = model.config().literal_slots.then(|| LiteralSlots::of(utterance));
        let decode = |ids: &[u32]| {
            tokenizer.decode_snippet(ids).map(|text| match &slots {
                Some(slots) => slots.fill(&text),
                None => text,
            })
        };
        let asked = slots.as_ref().map_or_else(|| utterance.to_string(), |s| s.mask_utterance(utterance));
        let mut source = tokenizer.encode(&asked)?;
        source.truncate(m - 1);
        source.push(EOS);
        let (ids, lengths) = source_batch(&[&source], model.device())?;
        let context = model.encode(&ids, &lengths, false)?.expect("a model with an encoder encodes").repeat_each(chains)?;
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        rng.set_stream(stream_of(utterance));
        let starts = exemplars.get(i).filter(|e| !e.is_empty());
        let sampler_config = if starts.is_some() { config.exemplar_sampler() } else { config.sampler };
        let sampler = Sampler::new(model, schedule, &sampler_config).conditioned(&context).scored();
        let accept = |ids: &[u32]| {
            checker.is_none_or(|checker| {
                decode(ids).is_ok_and(|text| checker.check(&text).is_ok() && (!config.grounded || checker.grounded(&text, utterance)))
            })
        };
        let read = Reading { checked: checker.is_some(), alternatives: config.alternatives.max(1) };
        let (rows, scores) = match (starts, &config.lengths) {
            (Some(starts), _) => {
                let tokens = exemplar_rows(model, tokenizer, starts, chains, config.len)?;
                free_chains(&sampler, Start::Tokens { tokens: &tokens, t: schedule.level(config.exemplar_level) }, read, &mut rng, accept)?
            }
            (None, None) => free_chains(&sampler, Start::Noise { batch: chains, len: config.len }, read, &mut rng, accept)?,
            (None, Some(lengths)) => held_chains(model, schedule, &sampler, chains, lengths, read, &mut rng, accept)?,
        };
        let mut found: BTreeMap<String, Candidate> = BTreeMap::new();
        for (read, scores) in rows.iter().zip(&scores) {
            for (alternative, row) in read.iter().enumerate() {
                let kept = len_with_eos(row).min(row.len());
                let log_prob = row[..kept].iter().enumerate().map(|(p, &id)| scores[p][id as usize]).sum::<f32>() / kept.max(1) as f32;
                let text = decode(row)?;
                let entry = found.entry(text.clone()).or_insert(Candidate { text, votes: 0, log_prob: f32::NEG_INFINITY });
                // only a chain's own read-out votes
                entry.votes += usize::from(alternative == 0);
                entry.log_prob = entry.log_prob.max(log_prob);
            }
        }
        // a program the checker accepts ranks before a chain's refused argmax,
        // however many chains wrote that
        let mut ranked: Vec<(bool, Candidate)> = found
            .into_values()
            .filter(|c| !c.text.trim().is_empty())
            .map(|c| (checker.is_some_and(|checker| checker.check(&c.text).is_ok()), c))
            .collect();
        ranked.sort_by(|(a_passes, a), (b_passes, b)| {
            b_passes.cmp(a_passes).then(b.votes.cmp(&a.votes)).then(b.log_prob.total_cmp(&a.log_prob)).then(a.text.cmp(&b.text))
        });
        let mut ranked: Vec<Candidate> = ranked.into_iter().map(|(_, c)| c).collect();
        ranked.truncate(config.k);
        out.push(ranked);
        progress(Progress::count(Unit::Batches, (i + 1) as u64, Some(utterances.len() as u64)));
    }
    Ok(out)
}

/// How each chain is read out.
#[derive(Clone, Copy)]
struct Reading {
    /// Under the checker (else the argmax).
    checked: bool,
    /// Accepted programs per chain, the voting one first.
    alternatives: usize,
}

/// Each chain's read-outs (the voting one first) and its final scores.
type ChainReads = (Vec<Vec<Vec<u32>>>, Vec<Vec<Vec<f32>>>);

/// `chains` rows of `len` positions, chain `c` holding `starts[c % len]`'s
/// program (slotted by its utterance), `<eos>`, then `<pad>`; a program too long
/// is cut to leave room for its `<eos>`. Without `len`, the rows are twice the
/// longest exemplar with its `<eos>`, rounded up to the model's length bucket
/// (at most `n`): room to grow the program, without paying for positions no
/// chain will fill.
fn exemplar_rows(
    model: &CodeFusion,
    tokenizer: &CodeTokenizer,
    starts: &[Exemplar],
    chains: usize,
    len: Option<usize>,
) -> Result<Tensor, GenerateError> {
    let config = model.config();
    let encoded: Vec<Vec<u32>> =
        starts.iter().map(|start| tokenizer.encode(&start.program(config.literal_slots))).collect::<Result<_, _>>()?;
    let longest = encoded.iter().map(|ids| ids.len() + 1).max().unwrap_or(1);
    let len = len.unwrap_or_else(|| config.trimmed_len(2 * longest)).clamp(1, config.seq_len);
    let rows: Vec<Vec<u32>> = encoded
        .iter()
        .map(|ids| fixed_row(&ids[..ids.len().min(len - 1)], 0, 0, len).expect("a program cut to len - 1 fits its row"))
        .collect();
    let flat: Vec<u32> = (0..chains).flat_map(|c| rows[c % rows.len()].iter().copied()).collect();
    Ok(Tensor::from_vec(flat, (chains, len), model.device())?)
}

/// Chains from `start` (pure noise, or rows noised to a level), each placing its
/// own `<eos>`.
fn free_chains(
    sampler: &Sampler,
    start: Start,
    read: Reading,
    rng: &mut ChaCha8Rng,
    accept: impl Fn(&[u32]) -> bool,
) -> Result<ChainReads, GenerateError> {
    let sampled = sampler.run(start, rng, &mut |_| {})?;
    let scores = super::final_scores(sampled.scores)?;
    let rows = sampled
        .tokens
        .iter()
        .zip(&scores)
        .map(|(row, scores)| {
            let positions: Vec<usize> = (0..row.len()).collect();
            let found = match read.checked {
                true => read_out_n(row, &positions, scores, Constraint::default(), read.alternatives, &accept),
                false => Vec::new(),
            };
            if found.is_empty() {
                vec![row.clone()]
            } else {
                found
            }
        })
        .collect();
    Ok((rows, scores))
}

/// `chains` chains held to `lengths` in turn: `<mask>` slots for the program,
/// `<eos>` and `<pad>` held clean after them.
#[allow(clippy::too_many_arguments)]
fn held_chains(
    model: &CodeFusion,
    schedule: &NoiseSchedule,
    sampler: &Sampler,
    chains: usize,
    lengths: &[usize],
    read: Reading,
    rng: &mut ChaCha8Rng,
    accept: impl Fn(&[u32]) -> bool,
) -> Result<ChainReads, GenerateError> {
    let drawn: Vec<usize> = (0..chains).map(|c| lengths[c % lengths.len()]).collect();
    let (held, windows, tokens) = super::held_rows(model, &drawn)?;
    let start = Start::Windows { tokens: &tokens, windows: &windows, readout: None, t: schedule.steps() - 1 };
    let sampled = sampler.run(start, rng, &mut |_| {})?;
    let scores = super::final_scores(sampled.scores)?;
    let eos = EosInWindow::EndsSnippet;
    let rows = (0..chains)
        .map(|j| match read.checked {
            true => splice_accepted_n(
                windows[j],
                &held[j],
                &sampled.tokens[j],
                &scores[j],
                eos,
                Constraint::default(),
                read.alternatives,
                &accept,
            ),
            false => vec![windows[j].splice(&held[j], &sampled.tokens[j], eos)],
        })
        .collect();
    Ok((rows, scores))
}

/// The noise stream of an utterance: the first 8 bytes of its text's sha256.
fn stream_of(utterance: &str) -> u64 {
    let digest = Sha256::digest(utterance.as_bytes());
    u64::from_le_bytes(digest[..8].try_into().expect("a sha256 has 32 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diffusion::Update;
    use crate::lang::LangId;
    use crate::model::{init_model, ModelConfig};

    fn config(k: usize) -> RankedConfig {
        let sampler = SamplerConfig { steps: Some(4), stride: None, clamp: true, update: Update::Ddpm, likelihood: 0.0 };
        RankedConfig { sampler, chains: 6, k, seed: 3, len: None, lengths: None, alternatives: 1, grounded: false, exemplar_level: 0.5 }
    }

    /// A small conditioned model's config, with a tokenizer trained on the CF
    /// benchmark's train split (its code and utterances).
    fn tiny_conditioned() -> (ModelConfig, CodeTokenizer) {
        let bench = crate::dataset::load_nl2code(&crate::repo_file("corpora/benchmarks/nl2code/cfrule.json")).unwrap();
        let texts: Vec<String> = bench.train.iter().flat_map(|i| [i.code.clone(), i.utterance.clone().unwrap_or_default()]).collect();
        let tokenizer = CodeTokenizer::train(texts.iter(), 400).unwrap();
        let model_config = ModelConfig {
            vocab_size: 400,
            seq_len: 16,
            d_model: 32,
            n_heads: 2,
            denoiser_layers: 1,
            decoder_layers: 1,
            encoder_layers: 1,
            encoder_seq_len: Some(24),
            shared_source_embedding: true,
            ..ModelConfig::tiny()
        };
        (model_config, tokenizer)
    }

    fn exemplar(utterance: &str, code: &str) -> Exemplar {
        Exemplar { utterance: utterance.into(), code: code.into() }
    }

    #[test]
    fn exemplar_rows_hold_each_program_slotted_by_its_own_utterance_in_turn() {
        let (model_config, tokenizer) = tiny_conditioned();
        let starts =
            [exemplar("Color cells greater than 5", "GreaterThan(5)"), exemplar("Color cells that have Error", "TextContains(Error)")];
        let decoded = |slots: bool, len: Option<usize>| {
            let (model, _) = init_model(
                &ModelConfig { literal_slots: slots, length_bucket: Some(1), ..model_config.clone() },
                &candle_core::Device::Cpu,
                0,
            )
            .unwrap();
            let rows = exemplar_rows(&model, &tokenizer, &starts, 3, len).unwrap().to_vec2::<u32>().unwrap();
            rows.iter().map(|row| (row.len(), tokenizer.decode_snippet(row).unwrap())).collect::<Vec<_>>()
        };
        // chain c holds exemplar c % 2; a slotted model reads the exemplar's number
        // as its slot, so the asked utterance's number fills it
        assert_eq!(
            decoded(true, Some(16)),
            [(16, "GreaterThan(N0)".to_string()), (16, "TextContains(Error)".to_string()), (16, "GreaterThan(N0)".to_string())]
        );
        // by default, rows of twice the longest exemplar (with <eos>), at most the model's length
        let longest = ["GreaterThan(5)", "TextContains(Error)"].iter().map(|c| tokenizer.encode(c).unwrap().len() + 1).max().unwrap();
        assert_eq!(decoded(false, None)[0], ((2 * longest).min(16), "GreaterThan(5)".to_string()));
        // a program longer than the row is cut before its <eos>
        let cut = decoded(false, Some(3));
        assert!(cut.iter().all(|(len, text)| *len == 3 && "GreaterThan(5)TextContains(Error)".contains(text.as_str())), "{cut:?}");
    }

    #[test]
    fn chains_from_exemplars_differ_from_noise_and_without_exemplars_are_the_noise_chains() {
        let (model_config, tokenizer) = tiny_conditioned();
        let (model, _vars) = init_model(&model_config, &candle_core::Device::Cpu, 0).unwrap();
        let schedule = NoiseSchedule::sqrt(1200);
        let asked = ["Highlight sales below 900000", "Color cells that have value equal to Complete"];
        let starts = vec![vec![exemplar("Highlight cells less than 5", "LessThan(5)")], Vec::new()];
        let run = |starts: &[Vec<Exemplar>], config: &RankedConfig| {
            generate_from_exemplars(&model, &tokenizer, &schedule, None, &asked, starts, config, &mut |_| {})
        };
        let seeded = run(&starts, &config(6)).unwrap();
        let from_noise = generate_ranked(&model, &tokenizer, &schedule, None, &asked, &config(6), &mut |_| {}).unwrap();
        assert_ne!(seeded[0], from_noise[0], "the first utterance's chains start from its exemplar");
        assert_eq!(seeded[1], from_noise[1], "an utterance without exemplars starts from noise");
        assert_eq!(seeded, run(&starts, &config(6)).unwrap(), "same seed, same candidates");
        assert_ne!(seeded[0], run(&starts, &RankedConfig { exemplar_level: 0.05, ..config(6) }).unwrap()[0], "the level matters");
        let err = run(&starts, &RankedConfig { lengths: Some(vec![4]), ..config(6) }).unwrap_err();
        assert!(err.to_string().contains("take their lengths"), "{err}");
        let err = run(&starts, &RankedConfig { exemplar_level: 1.5, ..config(6) }).unwrap_err();
        assert!(err.to_string().contains("within 0..=1"), "{err}");
    }

    #[test]
    fn ranked_candidates_are_distinct_checked_and_the_same_wherever_an_utterance_sits() {
        let (model_config, tokenizer) = tiny_conditioned();
        let (model, _vars) = init_model(&model_config, &candle_core::Device::Cpu, 0).unwrap();
        let schedule = NoiseSchedule::sqrt(1200);
        let cf = LangId::Cf.language();
        let asked = ["Highlight sales below 900000", "Color cells that have value equal to Complete"];
        let mut reports = 0;
        let both = generate_ranked(&model, &tokenizer, &schedule, Some(cf), &asked, &config(3), &mut |_| reports += 1).unwrap();
        assert_eq!((both.len(), reports), (2, 2));
        for candidates in &both {
            assert!(!candidates.is_empty() && candidates.len() <= 3);
            let distinct: std::collections::HashSet<&str> = candidates.iter().map(|c| c.text.as_str()).collect();
            assert_eq!(distinct.len(), candidates.len(), "deduplicated");
            let passes = |c: &Candidate| cf.check(&c.text).is_ok();
            assert!(candidates.windows(2).all(|w| passes(&w[0]) != passes(&w[1]) || w[0].votes >= w[1].votes), "most votes first");
            assert!(candidates.iter().map(|c| c.votes).sum::<usize>() <= 6);
        }
        // alone, second in the list, or again: the same candidates
        let alone = generate_ranked(&model, &tokenizer, &schedule, Some(cf), &asked[1..], &config(3), &mut |_| {}).unwrap();
        assert_eq!(alone[0], both[1]);
        // an untrained model's argmax read-out differs from its checked one somewhere,
        // and a checked candidate passes the checker or is the argmax
        let plain = generate_ranked(&model, &tokenizer, &schedule, None, &asked, &config(6), &mut |_| {}).unwrap();
        for (checked, plain) in both.iter().zip(&plain) {
            for c in checked {
                assert!(cf.check(&c.text).is_ok() || plain.iter().any(|p| p.text == c.text), "{:?}", c.text);
            }
            // every program that passes ranks before every one that does not
            let passes: Vec<bool> = checked.iter().map(|c| cf.check(&c.text).is_ok()).collect();
            assert!(passes.windows(2).all(|w| w[0] || !w[1]), "{checked:?}");
        }
        // chains held to lengths 2 and 5 write programs of those token lengths (or
        // shorter, where a chain writes its own <eos>), deterministically
        let held = RankedConfig { lengths: Some(vec![2, 5]), ..config(6) };
        let by_length = generate_ranked(&model, &tokenizer, &schedule, None, &asked, &held, &mut |_| {}).unwrap();
        let widest = (4..400u32).map(|id| tokenizer.decode_snippet(&[id]).unwrap().len()).max().unwrap();
        for c in by_length.iter().flatten() {
            assert!(c.text.len() <= 5 * widest, "at most 5 tokens: {:?}", c.text);
        }
        let free = generate_ranked(&model, &tokenizer, &schedule, None, &asked, &config(6), &mut |_| {}).unwrap();
        assert_ne!(by_length, free, "held lengths change the chains");
        assert_eq!(by_length, generate_ranked(&model, &tokenizer, &schedule, None, &asked, &held, &mut |_| {}).unwrap());
        // alternatives fill the top-k: as many or more candidates, the voted ones first and unchanged
        let wide = RankedConfig { alternatives: 4, ..config(6) };
        let filled = generate_ranked(&model, &tokenizer, &schedule, Some(cf), &asked, &wide, &mut |_| {}).unwrap();
        let voted_only = generate_ranked(&model, &tokenizer, &schedule, Some(cf), &asked, &config(6), &mut |_| {}).unwrap();
        for (filled, voted) in filled.iter().zip(&voted_only) {
            assert!(filled.len() >= voted.len());
            let with_votes: Vec<&Candidate> = filled.iter().filter(|c| c.votes > 0).collect();
            assert_eq!(with_votes, voted.iter().collect::<Vec<_>>());
        }
        // grounded read-outs keep only rules whose values the utterance shows, or
        // the chain's argmax where none is found
        let grounded = RankedConfig { grounded: true, ..config(6) };
        for (candidates, utterance) in
            generate_ranked(&model, &tokenizer, &schedule, Some(cf), &asked, &grounded, &mut |_| {}).unwrap().iter().zip(asked)
        {
            for c in candidates {
                assert!(cf.grounded(&c.text, utterance) || plain.iter().flatten().any(|p| p.text == c.text), "{:?}", c.text);
            }
        }
        let too_long = RankedConfig { lengths: Some(vec![16]), ..config(6) };
        let err = generate_ranked(&model, &tokenizer, &schedule, None, &asked, &too_long, &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("does not fit"), "{err}");
        // a code-only model is a clear error
        let (code_only, _) =
            init_model(&ModelConfig { encoder_layers: 0, shared_source_embedding: false, ..model_config }, &candle_core::Device::Cpu, 0)
                .unwrap();
        let err = generate_ranked(&code_only, &tokenizer, &schedule, None, &asked, &config(3), &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("no encoder"), "{err}");
    }
}
