//! The configured sources of a rollout, each prepared into what it draws
//! from: the model for unconditional chains, the model and a pool of corpus
//! snippets for anchored chains, a pool and the language's operators for
//! rule-based corruption. Each variant owns what it needs, so a source that
//! runs the model cannot exist without one. Adding a pair source touches
//! `SourceConfig` and this file.

use super::chain::Anchors;
use super::config::{self, RolloutConfig, SourceConfig, WindowConfig, WindowVocabulary};
use super::readout::FamilyVocabulary;
use super::RolloutError;
use crate::dataset::{read_corpus_split, CorpusRecord};
use crate::diffusion::{NoiseSchedule, RestrictedReadout, Window};
use crate::model::CodeFusion;
use crate::tokenizer::{len_with_eos, snippet_ids, CodeTokenizer, MASK};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::path::Path;

/// The model side of a rollout: weights and the tokenizer they were trained with.
#[derive(Clone, Copy)]
pub(super) struct Denoiser<'a> {
    pub model: &'a CodeFusion,
    pub tokenizer: &'a CodeTokenizer,
}

/// One configured source, prepared.
pub(super) struct Source<'a> {
    /// Its configuration (name, weight).
    pub config: &'a SourceConfig,
    /// What it draws from.
    pub kind: SourceKind<'a>,
}

/// What a prepared source draws from.
pub(super) enum SourceKind<'a> {
    /// Chains from pure noise.
    Unconditional(Denoiser<'a>),
    /// Chains from corpus snippets noised whole or in a window.
    Anchored(Denoiser<'a>, AnchorPool<'a>),
    /// Corpus snippets broken by the language's operators.
    Rules(RulePool<'a>),
}

/// Real snippets anchored chains start from, shuffled by the seed.
pub(super) struct AnchorPool<'a> {
    texts: Vec<String>,
    ids: Vec<Vec<u32>>,
    /// Per row and position, whether the token is structural
    /// (`Language::structural_spans`); empty unless a window is focused.
    structural: Vec<Vec<bool>>,
    /// What a window starting on each token rewrites and may be read out as;
    /// `None` unless a window is focused.
    family: Option<FamilyVocabulary>,
    /// Range of the starting level, fractions of `T - 1`.
    t0: [f64; 2],
    /// The window drawn per chain, or `None`: whole snippets are noised.
    window: Option<&'a WindowConfig>,
}

/// Snippets rule-based corruption breaks, shuffled by the seed.
pub(super) struct RulePool<'a> {
    pub texts: Vec<String>,
    /// Relative weight of each operator by name (1 when not listed).
    pub operators: &'a BTreeMap<String, f64>,
}

/// One drawn batch of anchored chains, owning what [`Anchors`] borrows.
pub(super) struct AnchoredBatch {
    texts: Vec<String>,
    rows: Vec<Vec<u32>>,
    windows: Option<Vec<Window>>,
    readout: Option<RestrictedReadout>,
    t0: usize,
}

impl AnchoredBatch {
    /// The batch as the chain runner takes it.
    pub fn anchors(&self) -> Anchors<'_> {
        Anchors { texts: &self.texts, rows: &self.rows, windows: self.windows.as_deref(), readout: self.readout.as_ref(), t0: self.t0 }
    }
}

impl<'a> Source<'a> {
    /// Prepares `source` of `rollout` (corpus paths relative to `root`); a
    /// source that runs the model needs a `denoiser`.
    pub fn prepare(
        source: &'a SourceConfig,
        rollout: &RolloutConfig,
        denoiser: Option<Denoiser<'a>>,
        root: &Path,
    ) -> Result<Self, RolloutError> {
        let kind = match (source, denoiser) {
            (SourceConfig::Unconditional { .. }, Some(denoiser)) => SourceKind::Unconditional(denoiser),
            (SourceConfig::Anchored { corpus, t0, min_chars, window, .. }, Some(denoiser)) => {
                let pool = AnchorPool::load(&root.join(corpus), *min_chars, *t0, window.as_ref(), rollout, denoiser)?;
                SourceKind::Anchored(denoiser, pool)
            }
            (SourceConfig::Rules { corpus, min_chars, operators, .. }, _) => {
                SourceKind::Rules(RulePool::load(&root.join(corpus), *min_chars, operators, rollout.seed)?)
            }
            (_, None) => {
                let reason = format!("a `{}` source runs the model: use `lastmile rollout` with a checkpoint", source.name());
                return Err(RolloutError::Config { path: "rollout config".into(), reason });
            }
        };
        Ok(Source { config: source, kind })
    }
}

impl<'a> AnchorPool<'a> {
    /// The train snippets of the corpus at `dir` of at least `min_chars`
    /// characters that fit the model, shuffled by the rollout's seed (and
    /// sorted by length within each unit's block when the model runs length
    /// buckets), with structural marks and the token families where a focused
    /// window needs them.
    fn load(
        dir: &Path,
        min_chars: usize,
        t0: [f64; 2],
        window: Option<&'a WindowConfig>,
        rollout: &RolloutConfig,
        denoiser: Denoiser<'_>,
    ) -> Result<Self, RolloutError> {
        let Denoiser { model, tokenizer } = denoiser;
        let n = model.config().seq_len;
        let focused = window.is_some_and(|w| w.structural_weight != 1.0 || !w.classes.is_empty() || w.vocabulary != WindowVocabulary::All);
        let lang = rollout.lang.language();
        let mut pool = Vec::new();
        for record in train_snippets(dir, min_chars)? {
            let spans = if focused { lang.structural_spans(&record.text) } else { Vec::new() };
            if let Some((ids, marks)) = tokenizer.encode_fixed_marked(&record.text, n, &spans)? {
                pool.push((record.text, (ids, marks)));
            }
        }
        if pool.is_empty() {
            let reason = format!("no train snippet{} fits the model length {n}; mine the corpus first", floor(min_chars));
            return Err(RolloutError::Config { path: dir.to_path_buf(), reason });
        }
        pool.shuffle(&mut ChaCha8Rng::seed_from_u64(rollout.seed));
        if model.config().length_bucket.is_some() {
            sort_blocks_by_length(&mut pool, rollout.chains_per_unit, |(ids, _)| ids.as_slice());
        }
        let (texts, rows): (Vec<String>, Vec<(Vec<u32>, Vec<bool>)>) = pool.into_iter().unzip();
        let (ids, marks): (Vec<Vec<u32>>, Vec<Vec<bool>>) = rows.into_iter().unzip();
        let family = match (focused, window) {
            (true, Some(w)) => Some(FamilyVocabulary::new(&tokenizer.token_texts()?, |c| w.class_weight(c.name()))),
            _ => None,
        };
        let structural = if focused { marks } else { Vec::new() };
        Ok(AnchorPool { texts, ids, structural, family, t0, window })
    }

    /// The anchors of the `b` chains from `batch_start` (the pool wraps), a
    /// starting level drawn from the range, and per chain its window where
    /// the source is windowed.
    pub fn draw(&self, batch_start: usize, b: usize, schedule: &NoiseSchedule, rng: &mut ChaCha8Rng) -> AnchoredBatch {
        let picks: Vec<usize> = (batch_start..batch_start + b).map(|i| i % self.ids.len()).collect();
        let texts: Vec<String> = picks.iter().map(|&i| self.texts[i].clone()).collect();
        let ids: Vec<Vec<u32>> = picks.iter().map(|&i| self.ids[i].clone()).collect();
        let [lo, hi] = self.t0;
        let frac = if hi > lo { rng.random_range(lo..=hi) } else { lo };
        let t0 = schedule.level(frac);
        let Some(window) = self.window else { return AnchoredBatch { texts, rows: ids, windows: None, readout: None, t0 } };
        // one window per chain: where (any token, or the end), how wide, how many free slots
        let (rows, windows): (Vec<Vec<u32>>, Vec<Window>) = ids
            .iter()
            .zip(&picks)
            .map(|(row, &pick)| {
                let len = snippet_ids(row).len();
                let at = match self.structural.get(pick) {
                    Some(marks) => window_start(&row[..len], &marks[..len], self.family.as_ref(), window, rng),
                    None => rng.random_range(0..=len),
                };
                let width = rng.random_range(window.width[0]..=window.width[1]);
                let inserts = rng.random_range(window.inserts[0]..=window.inserts[1]);
                Window::after(row, at, width, inserts)
            })
            .unzip();
        let readout = self.family_readout(&rows, &windows, window);
        AnchoredBatch { texts, rows, windows: Some(windows), readout, t0 }
    }

    /// A family read-out: per window position, the ids it may be decoded as.
    fn family_readout(&self, rows: &[Vec<u32>], windows: &[Window], window: &WindowConfig) -> Option<RestrictedReadout> {
        let family = self.family.as_ref().filter(|_| window.vocabulary == WindowVocabulary::Family)?;
        let cells = rows.iter().zip(windows).enumerate().flat_map(|(r, (row, w))| {
            let inserts = row.iter().skip(w.lo).take_while(|&&id| id == MASK).count();
            family.window_cells(row, w.lo, w.hi, inserts, window.change).into_iter().map(move |(p, allowed)| (r, p, allowed))
        });
        Some(RestrictedReadout { cells: cells.collect() })
    }
}

impl<'a> RulePool<'a> {
    /// The train snippets of the corpus at `dir` of at least `min_chars`
    /// characters, shuffled by `seed`.
    fn load(dir: &Path, min_chars: usize, operators: &'a BTreeMap<String, f64>, seed: u64) -> Result<Self, RolloutError> {
        let mut texts: Vec<String> = train_snippets(dir, min_chars)?.into_iter().map(|r| r.text).collect();
        if texts.is_empty() {
            let reason = format!("no train snippet{}; mine the corpus first", floor(min_chars));
            return Err(RolloutError::Config { path: dir.to_path_buf(), reason });
        }
        texts.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        Ok(RulePool { texts, operators })
    }
}

/// The records of the corpus's `train` split with at least `min_chars`
/// characters (Unicode scalar values), in the corpus's order.
fn train_snippets(dir: &Path, min_chars: usize) -> Result<Vec<CorpusRecord>, RolloutError> {
    let mut records = read_corpus_split(dir, "train")?;
    records.retain(|r| min_chars == 0 || r.text.chars().count() >= min_chars);
    Ok(records)
}

/// ` of at least N characters` for a source's `min_chars` floor, nothing without one.
fn floor(min_chars: usize) -> String {
    if min_chars == 0 {
        String::new()
    } else {
        format!(" of at least {min_chars} characters")
    }
}

/// An index drawn with probability proportional to `weights` (whose sum is
/// `total`), never one of weight 0; `None` when rounding leaves the draw past
/// the last weight. The one weighted draw of a rollout: sources, operators,
/// window starts.
pub(super) fn weighted_draw(weights: &[f64], total: f64, rng: &mut ChaCha8Rng) -> Option<usize> {
    let mut draw = rng.random::<f64>() * total;
    weights.iter().position(|&w| {
        draw -= w;
        draw < 0.0 && w > 0.0
    })
}

/// A focused window's first token, `0..=row.len()` (the last: the end of the
/// snippet): a structural position (`marks[i]`) weighs
/// `window.structural_weight` times the weight of the class a window there
/// rewrites (`window.classes`, by `family`), the end that times the `end`
/// weight, any other position 1; the first and last token further weigh
/// their `first` and `last` weights.
pub(super) fn window_start(
    row: &[u32],
    marks: &[bool],
    family: Option<&FamilyVocabulary>,
    window: &WindowConfig,
    rng: &mut ChaCha8Rng,
) -> usize {
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
    let weights: Vec<f64> = (0..=marks.len()).map(weight_of).collect();
    let total: f64 = weights.iter().sum();
    weighted_draw(&weights, total, rng).unwrap_or(marks.len())
}

/// Sorts each block of `block` consecutive pool entries by token length.
/// Unit `u` anchors its chains on block `u` (until the pool wraps), so a unit
/// keeps the same shuffled snippets while its batches hold similar lengths and
/// a length-bucketed model runs each batch at its own short length instead of
/// the length of the longest formula among 64 random ones.
pub(super) fn sort_blocks_by_length<T>(pool: &mut [(String, T)], block: usize, ids: impl Fn(&T) -> &[u32]) {
    for chunk in pool.chunks_mut(block.max(1)) {
        chunk.sort_by_key(|(_, row)| len_with_eos(ids(row)));
    }
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
