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

use super::GenerateError;
use crate::dataset::LiteralSlots;
use crate::diffusion::constrained::{read_out_n, splice_accepted_n, Constraint};
use crate::diffusion::{source_batch, EosInWindow, NoiseSchedule, Sampler, SamplerConfig, Start};
use crate::lang::Language;
use crate::model::CodeFusion;
use crate::progress::{Progress, ProgressFn, Unit};
use crate::tokenizer::{len_with_eos, CodeTokenizer, EOS};
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

/// Up to `config.k` distinct programs for each utterance, best first. An
/// utterance is encoded as training encodes it: its ids cut to the encoder's
/// length with `<eos>`. Reports one [`Unit::Batches`] count per utterance (its chains run as one batch).
pub fn generate_ranked(
    model: &CodeFusion,
    tokenizer: &CodeTokenizer,
    schedule: &NoiseSchedule,
    checker: Option<&dyn Language>,
    utterances: &[&str],
    config: &RankedConfig,
    progress: &mut ProgressFn,
) -> Result<Vec<Vec<Candidate>>, GenerateError> {
    if model.config().encoder_layers == 0 {
        return Err(GenerateError::Config("this checkpoint has no encoder: NL-to-code needs a model trained with `[pairs]`".into()));
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
        let sampler = Sampler::new(model, schedule, &config.sampler).conditioned(&context).scored();
        let accept = |ids: &[u32]| {
            checker.is_none_or(|checker| {
                decode(ids).is_ok_and(|text| checker.check(&text).is_ok() && (!config.grounded || checker.grounded(&text, utterance)))
            })
        };
        let read = Reading { checked: checker.is_some(), alternatives: config.alternatives.max(1) };
        let (rows, scores) = match &config.lengths {
            None => free_chains(&sampler, chains, config.len, read, &mut rng, accept)?,
            Some(lengths) => held_chains(model, schedule, &sampler, chains, lengths, read, &mut rng, accept)?,
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

/// `chains` chains from noise over `len` positions, each placing its own `<eos>`.
fn free_chains(
    sampler: &Sampler,
    chains: usize,
    len: Option<usize>,
    read: Reading,
    rng: &mut ChaCha8Rng,
    accept: impl Fn(&[u32]) -> bool,
) -> Result<ChainReads, GenerateError> {
    let sampled = sampler.run(Start::Noise { batch: chains, len }, rng, &mut |_| {})?;
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
        RankedConfig { sampler, chains: 6, k, seed: 3, len: None, lengths: None, alternatives: 1, grounded: false }
    }

    #[test]
    fn ranked_candidates_are_distinct_checked_and_the_same_wherever_an_utterance_sits() {
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
