//! The rollout configuration (`configs/rollout/*.toml`).

use super::RolloutError;
use crate::dataset::BenchmarkSource;
use crate::dataset::ShardWriterOptions;
use crate::diffusion::SamplerConfig;
use crate::lang::LangId;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Everything a rollout needs; serialised into the dataset's manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutConfig {
    /// Checkpoint directory (`model.safetensors`, `config.json`, `tokenizer.json`);
    /// needed unless every source is `rules` (`lastmile corrupt`).
    #[serde(default)]
    pub checkpoint: Option<PathBuf>,
    /// Language of the checkpoint's snippets: its checker filters the pairs.
    pub lang: LangId,
    /// Dataset directory to write (`data/`, `manifest.json`, `README.md`, `chains.parquet`).
    pub out: PathBuf,
    /// Seed of all randomness (noise, anchors, t0, pair selection).
    #[serde(default)]
    pub seed: u64,
    /// Stop once this many pairs are kept (after global deduplication).
    #[serde(default = "default_target")]
    pub target_pairs: usize,
    /// The chain budget: stop after this many chains even if the target is not met.
    #[serde(default = "default_max_chains")]
    pub max_chains: usize,
    /// Chains per work unit: the granularity of ranks, resumption and stopping.
    #[serde(default = "default_unit")]
    pub chains_per_unit: usize,
    /// Chains denoised together.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Fraction of pairs (by a salted hash of `fixed`) in the `valid` split.
    #[serde(default = "default_valid_fraction")]
    pub valid_fraction: f64,
    /// Which intermediates of a chain become pairs.
    #[serde(default)]
    pub selection: Selection,
    /// Sampler: respaced steps, clamping, update rule.
    #[serde(default = "default_sampler")]
    pub sampler: SamplerConfig,
    /// Where chains start; one is drawn per batch by weight.
    #[serde(rename = "source")]
    pub sources: Vec<SourceConfig>,
    /// Pair filters.
    #[serde(default)]
    pub filter: FilterConfig,
    /// Benchmarks no pair may match (the mining rule: sketch or exact text).
    #[serde(default)]
    pub decontaminate: Vec<BenchmarkSource>,
    /// Shard and row-group sizes.
    #[serde(default = "default_output")]
    pub output: ShardWriterOptions,
}

fn default_target() -> usize {
    20_000
}
fn default_max_chains() -> usize {
    200_000
}
fn default_unit() -> usize {
    256
}
fn default_batch() -> usize {
    64
}
fn default_valid_fraction() -> f64 {
    0.02
}
fn default_sampler() -> SamplerConfig {
    SamplerConfig { steps: Some(50), stride: None, clamp: false, update: crate::diffusion::Update::Ddpm, likelihood: 0.0 }
}
fn default_output() -> ShardWriterOptions {
    ShardWriterOptions { shard_rows: 50_000, row_group_rows: 8_192 }
}

/// Which decoded intermediates of a chain are paired with its fixed side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    /// One step per chain, uniformly at random (the repair paper).
    Uniform,
    /// Every distinct intermediate text of the chain.
    #[default]
    AllDistinct,
    /// The chain's distinct intermediates in a random order, and the first the
    /// filters keep: at most one pair per chain, so the pairs spread over as
    /// many real snippets as there are chains (`all_distinct` pairs one
    /// snippet with 2-3 broken sides), what a fixer learning to copy needs.
    FirstKept,
}

/// Where a chain starts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceConfig {
    /// From pure noise at `T - 1`; the fixed side is the chain's own `c_0` (the paper).
    Unconditional {
        /// Relative weight of this source.
        #[serde(default = "one")]
        weight: f64,
    },
    /// From a real corpus snippet noised to `t0`; the fixed side is that snippet.
    Anchored {
        /// Relative weight of this source.
        #[serde(default = "one")]
        weight: f64,
        /// Mined corpus directory; its `train` split supplies the anchors.
        corpus: PathBuf,
        /// Range of `t0` as fractions of `T - 1`, drawn uniformly per batch.
        t0: [f64; 2],
        /// Only train snippets of at least this many characters anchor chains;
        /// 0 keeps every snippet. A mined corpus is mostly short snippets
        /// (half of the EUSES formulas have under 15 characters) while the
        /// mistakes people ask to have repaired sit in longer ones (half of the
        /// Excel repair benchmark's formulas have over 40): a fixer trained
        /// only on short pairs has never had to copy a long input. Give every
        /// source of a comparison the same floor, so that they differ only in
        /// how they break a snippet.
        #[serde(default, skip_serializing_if = "crate::serde_skip::is_default")]
        min_chars: usize,
        /// Partial noising: noise one window of each snippet and hold every
        /// other position at its clean embedding through the chain (the
        /// DiffuSeq-style noising error-localised repair uses), so each broken
        /// side is the real snippet with one local rewrite. Unset noises the
        /// whole snippet (the paper).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        window: Option<WindowConfig>,
    },
    /// A real corpus snippet with one mistake made by a rule-based operator of
    /// the language (`Language::corruptions`: FLAME's families for Excel,
    /// BIFI's token edits for Python); the fixed side is the snippet and the
    /// `source` column says `rules:<operator>`. Needs no model.
    Rules {
        /// Relative weight of this source.
        #[serde(default = "one")]
        weight: f64,
        /// Mined corpus directory; its `train` split supplies the snippets.
        corpus: PathBuf,
        /// Only train snippets of at least this many characters are broken;
        /// 0 keeps every snippet (as `min_chars` of an anchored source).
        #[serde(default, skip_serializing_if = "crate::serde_skip::is_default")]
        min_chars: usize,
        /// Relative weight of each operator by name; an operator not listed
        /// has weight 1, and 0 switches it off.
        #[serde(default)]
        operators: std::collections::BTreeMap<String, f64>,
    },
}

fn one() -> f64 {
    1.0
}

/// The noised window of a windowed anchored source, drawn per chain: `inserts`
/// free `<mask>` slots placed before a token drawn uniformly (the `<eos>`
/// position included, for mistakes at the end), then the slots and the `width`
/// tokens from there are noised. A window position decoded as a real token
/// stays (a substitution, or an insertion in a slot); one decoded as
/// `<eos>`/`<pad>`/`<mask>` is dropped (a deletion).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    /// Range `[lo, hi]` of the number of snippet tokens noised.
    pub width: [usize; 2],
    /// Range `[lo, hi]` of the number of free slots inserted.
    #[serde(default)]
    pub inserts: [usize; 2],
    /// How much more often the window starts at a structural token (one that
    /// overlaps a bracket, separator, operator or string quote:
    /// `Language::structural_spans`) or at the end than at any other token.
    /// 1 (the default) draws the start uniformly.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub structural_weight: f64,
    /// A further weight of a structural start by the punctuation class of its
    /// token (`bracket`, `quote`, `separator`, `operator`:
    /// `lang::PunctuationClass`) it rewrites (the heaviest the token holds:
    /// `rollout::FamilyVocabulary`), and of the snippet's `end`; `first` and
    /// `last` further weigh a start on the snippet's first and last token; a
    /// key not listed has weight 1, and 0 never starts a window there.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub classes: std::collections::BTreeMap<String, f64>,
    /// The tokens a window position may be read out as at each step.
    #[serde(default, skip_serializing_if = "WindowVocabulary::is_all")]
    pub vocabulary: WindowVocabulary,
    /// With the family read-out: a window position over punctuation is never
    /// read out as itself, so every step is an edit and the model chooses
    /// which wrong form is most plausible there (over a closing bracket at
    /// the end: dropping it, doubling it, or another bracket). Without it, a
    /// model that is sure of its brackets restores them, and the kept pairs
    /// lean to whatever it is least sure of (extra brackets, stray tokens).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub change: bool,
}

/// The key of the snippet's end in `WindowConfig::classes`.
pub const END: &str = "end";
/// The key of a further weight of a start on the snippet's first token (an
/// Excel formula's `=`, which real mistakes keep) in `WindowConfig::classes`.
pub const FIRST: &str = "first";
/// The key of a further weight of a start on the snippet's last token (where
/// an unfinished formula misses its closing brackets) in `WindowConfig::classes`.
pub const LAST: &str = "last";

/// The read-out vocabulary of a window's positions.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum WindowVocabulary {
    /// Any token: the model's argmax.
    #[default]
    All,
    /// The model's most probable token among those that differ from the
    /// window's first token only in one punctuation class
    /// (`lang::PunctuationClass`; `rollout::FamilyVocabulary`): over `)`, any
    /// bracket token or a deletion (`<eos>`/`<pad>`); over `)*`, `*` or `))*`;
    /// over `SUM(`, `SUM`. A window that starts on a token without punctuation
    /// or at the end reads out tokens made of one class, or a deletion. The
    /// chain still runs on the model's unconstrained prediction; only what
    /// each step is decoded as changes. So the model still picks where and
    /// what (a `)` read into an inserted slot lands where it finds a bracket
    /// plausible), but the edit stays in the families real last-mile mistakes
    /// come from, instead of an unrelated cell or number.
    Family,
}

impl WindowVocabulary {
    fn is_all(&self) -> bool {
        *self == WindowVocabulary::All
    }
}

fn is_one(x: &f64) -> bool {
    *x == 1.0
}

impl WindowConfig {
    /// The weight of class (or `end`) `key` in `classes`: 1 when not listed.
    pub fn class_weight(&self, key: &str) -> f64 {
        self.classes.get(key).copied().unwrap_or(1.0)
    }

    fn validate(&self) -> Result<(), String> {
        let ([w_lo, w_hi], [i_lo, i_hi]) = (self.width, self.inserts);
        if !(self.structural_weight.is_finite() && self.structural_weight > 0.0) {
            return Err(format!("window structural_weight = {}: must be a positive number", self.structural_weight));
        }
        for (name, weight) in &self.classes {
            if ![END, FIRST, LAST].contains(&name.as_str()) && crate::lang::PunctuationClass::from_name(name).is_none() {
                return Err(format!("window classes: unknown class `{name}` (bracket, quote, separator, operator, end, first, last)"));
            }
            if !(weight.is_finite() && *weight >= 0.0) {
                return Err(format!("window classes: {name} = {weight}: must be a number >= 0"));
            }
        }
        if w_lo > w_hi || i_lo > i_hi || w_hi + i_hi == 0 || w_lo + i_lo == 0 {
            return Err(format!(
                "window width = [{w_lo}, {w_hi}], inserts = [{i_lo}, {i_hi}]: each range needs lo <= hi, and every window at least one position"
            ));
        }
        if self.change && self.vocabulary != WindowVocabulary::Family {
            return Err("window change = true needs vocabulary = \"family\" (it constrains the family read-out)".to_string());
        }
        Ok(())
    }
}

impl SourceConfig {
    /// The weight of this source.
    pub fn weight(&self) -> f64 {
        match self {
            SourceConfig::Unconditional { weight } | SourceConfig::Anchored { weight, .. } | SourceConfig::Rules { weight, .. } => *weight,
        }
    }

    /// `unconditional`, `anchored`, `window` (anchored with a window) or
    /// `rules`, as in the `source` column.
    pub fn name(&self) -> &'static str {
        match self {
            SourceConfig::Unconditional { .. } => "unconditional",
            SourceConfig::Anchored { window: None, .. } => "anchored",
            SourceConfig::Anchored { window: Some(_), .. } => "window",
            SourceConfig::Rules { .. } => "rules",
        }
    }

    /// Whether chains of this source need a model (every source but `rules`).
    pub fn needs_model(&self) -> bool {
        !matches!(self, SourceConfig::Rules { .. })
    }
}

/// What the broken side's syntax check must say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BrokenRule {
    /// Keep either.
    #[default]
    Any,
    /// Keep only broken snippets that fail the check (syntax-repair data).
    Invalid,
    /// Keep only broken snippets that pass the check (semantic-repair data).
    Valid,
}

/// Pair filters; each drop is counted in the report.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilterConfig {
    /// Smallest token edit distance kept.
    pub min_token_edits: usize,
    /// Largest token edit distance kept (BIFI: 4).
    pub max_token_edits: usize,
    /// Requirement on the broken side's syntax check.
    pub broken: BrokenRule,
    /// Drop pairs whose broken side is empty or whose length in characters
    /// differs from the fixed side's by more than this fraction (0.4: within
    /// ±40%); unset keeps every length.
    #[serde(default)]
    pub max_length_change: Option<f64>,
}

impl Default for FilterConfig {
    fn default() -> Self {
        FilterConfig { min_token_edits: 1, max_token_edits: 4, broken: BrokenRule::Any, max_length_change: None }
    }
}

impl RolloutConfig {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, RolloutError> {
        let text = std::fs::read_to_string(path).map_err(|e| RolloutError::io(path, e))?;
        let config: RolloutConfig =
            toml::from_str(&text).map_err(|e| RolloutError::Config { path: path.to_path_buf(), reason: e.to_string() })?;
        config.validate().map_err(|reason| RolloutError::Config { path: path.to_path_buf(), reason })?;
        Ok(config)
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), String> {
        if self.sources.is_empty() {
            return Err("at least one [[source]] is needed".into());
        }
        if self.sources.iter().any(|s| !(s.weight() >= 0.0 && s.weight().is_finite()))
            || self.sources.iter().map(SourceConfig::weight).sum::<f64>() <= 0.0
        {
            return Err("source weights must be finite, non-negative and not all zero".into());
        }
        for source in &self.sources {
            match source {
                SourceConfig::Anchored { t0: [lo, hi], window, .. } => {
                    if !(0.0..=1.0).contains(lo) || !(0.0..=1.0).contains(hi) || lo > hi {
                        return Err(format!("anchored t0 = [{lo}, {hi}] must satisfy 0 <= lo <= hi <= 1"));
                    }
                    if let Some(window) = window {
                        window.validate()?;
                    }
                }
                SourceConfig::Rules { operators, .. } => self.check_operators(operators)?,
                SourceConfig::Unconditional { .. } => {}
            }
        }
        if self.checkpoint.is_none() && self.sources.iter().any(SourceConfig::needs_model) {
            return Err("`checkpoint` is needed: a source other than `rules` runs the model".into());
        }
        if self.sampler.steps.is_some() && self.sampler.stride.is_some() {
            return Err("sampler.steps and sampler.stride exclude each other".into());
        }
        if self.sampler.stride == Some(0) || self.sampler.steps == Some(0) {
            return Err("sampler.steps and sampler.stride must be positive".into());
        }
        if self.chains_per_unit == 0 || self.batch_size == 0 || self.max_chains == 0 {
            return Err("chains_per_unit, batch_size and max_chains must be positive".into());
        }
        if self.filter.min_token_edits > self.filter.max_token_edits {
            return Err("filter.min_token_edits exceeds filter.max_token_edits".into());
        }
        if !(0.0..1.0).contains(&self.valid_fraction) {
            return Err("valid_fraction must be in [0, 1)".into());
        }
        if self.output.shard_rows == 0 || self.output.row_group_rows == 0 {
            return Err("output.shard_rows and output.row_group_rows must be positive".into());
        }
        Ok(())
    }

    /// Operator weights name operators of the language and leave one switched on.
    fn check_operators(&self, weights: &std::collections::BTreeMap<String, f64>) -> Result<(), String> {
        let known: Vec<&str> = self.lang.language().corruptions().iter().map(|c| c.name).collect();
        if known.is_empty() {
            return Err(format!("{} has no rule-based corruption operators (a `rules` source needs them)", self.lang));
        }
        if let Some(unknown) = weights.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(format!("unknown {} operator `{unknown}` (known: {})", self.lang, known.join(", ")));
        }
        if weights.values().any(|w| !(*w >= 0.0 && w.is_finite())) {
            return Err("operator weights must be finite and non-negative".into());
        }
        if known.iter().all(|k| weights.get(*k) == Some(&0.0)) {
            return Err("every operator is switched off".into());
        }
        Ok(())
    }

    /// Number of work units the chain budget allows.
    pub fn total_units(&self) -> usize {
        self.max_chains.div_ceil(self.chains_per_unit)
    }

    /// The settings that decide a unit's content (not the target, the budget or
    /// the output sizes): units computed under an equal key can be reused.
    pub fn unit_key(&self, checkpoint_sha256: &str) -> String {
        use sha2::{Digest, Sha256};
        let relevant = serde_json::json!({
            "checkpoint": checkpoint_sha256,
            "lang": self.lang,
            "seed": self.seed,
            "chains_per_unit": self.chains_per_unit,
            "batch_size": self.batch_size,
            "selection": self.selection,
            "sampler": self.sampler,
            "sources": self.sources,
            "filter": self.filter,
            "decontaminate": self.decontaminate,
            "version": env!("CARGO_PKG_VERSION"),
        });
        hex::encode(Sha256::digest(relevant.to_string().as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_config_and_rejects_nonsense() {
        let text = r#"
            checkpoint = "ck"
            lang = "excel"
            out = "o"
            [[source]]
            kind = "anchored"
            corpus = "c"
            t0 = [0.1, 0.5]
            weight = 3
            [[source]]
            kind = "unconditional"
            [filter]
            max_token_edits = 6
            broken = "invalid"
        "#;
        let config: RolloutConfig = toml::from_str(text).unwrap();
        config.validate().unwrap();
        assert_eq!(config.sources.len(), 2);
        assert_eq!(
            config.filter,
            FilterConfig { min_token_edits: 1, max_token_edits: 6, broken: BrokenRule::Invalid, max_length_change: None }
        );
        assert_eq!(config.sampler.steps, Some(50));
        assert_eq!(config.total_units(), 200_000 / 256 + 1);

        let mut bad = config.clone();
        bad.sources = vec![SourceConfig::Anchored { weight: 1.0, corpus: "c".into(), t0: [0.6, 0.2], min_chars: 0, window: None }];
        assert!(bad.validate().unwrap_err().contains("t0"));
        let mut both = config.clone();
        both.sampler.stride = Some(60);
        assert!(both.validate().unwrap_err().contains("exclude"), "steps and stride together");
        both.sampler.steps = None;
        both.validate().unwrap();
        assert_ne!(config.unit_key("a"), both.unit_key("a"), "the sampler is part of the unit key");
        assert!(toml::from_str::<RolloutConfig>(&text.replace("t0 =", "t00 =")).is_err());
        assert_ne!(config.unit_key("a"), config.unit_key("b"));
        let mut bigger = config.clone();
        bigger.target_pairs = 1;
        assert_eq!(config.unit_key("a"), bigger.unit_key("a"));

        // a window: parsed, named `window`, part of the unit key, validated
        let windowed: RolloutConfig =
            toml::from_str(&text.replace("t0 = [0.1, 0.5]", "t0 = [0.1, 0.5]\nwindow = { width = [1, 3], inserts = [0, 1] }")).unwrap();
        windowed.validate().unwrap();
        assert_eq!(windowed.sources[0].name(), "window");
        assert_eq!(config.sources[0].name(), "anchored");
        assert_ne!(config.unit_key("a"), windowed.unit_key("a"));
        assert!(!serde_json::to_string(&config.sources[0]).unwrap().contains("window"), "unset windows keep old manifests' bytes");
        for (width, inserts) in [([3, 1], [0, 0]), ([0, 0], [0, 0]), ([1, 2], [2, 1])] {
            let mut bad = windowed.clone();
            if let SourceConfig::Anchored { window, .. } = &mut bad.sources[0] {
                *window = Some(WindowConfig {
                    width,
                    inserts,
                    structural_weight: 1.0,
                    classes: Default::default(),
                    vocabulary: WindowVocabulary::All,
                    change: false,
                });
            }
            assert!(bad.validate().unwrap_err().contains("window"), "{width:?} {inserts:?}");
        }
        // a structural focus: parsed, part of the unit key, positive; unset keeps old keys
        let focused: RolloutConfig = toml::from_str(
            &text.replace("t0 = [0.1, 0.5]", "t0 = [0.1, 0.5]\nwindow = { width = [1, 3], inserts = [0, 1], structural_weight = 8.0 }"),
        )
        .unwrap();
        focused.validate().unwrap();
        assert_ne!(focused.unit_key("a"), windowed.unit_key("a"));
        assert!(!serde_json::to_string(&windowed.sources[0]).unwrap().contains("structural"));
        for weight in [0.0, -1.0, f64::NAN] {
            let mut bad = focused.clone();
            if let SourceConfig::Anchored { window: Some(window), .. } = &mut bad.sources[0] {
                window.structural_weight = weight;
            }
            assert!(bad.validate().unwrap_err().contains("structural_weight"), "{weight}");
        }
        // a family read-out with class weights: parsed, part of the unit key; unset keeps old keys
        let family: RolloutConfig = toml::from_str(&text.replace(
            "t0 = [0.1, 0.5]",
            "t0 = [0.1, 0.5]\nwindow = { width = [1, 1], structural_weight = 8.0, vocabulary = \"family\", classes = { bracket = 4.0, end = 0.5 } }",
        ))
        .unwrap();
        family.validate().unwrap();
        assert_ne!(family.unit_key("a"), focused.unit_key("a"));
        let plain = serde_json::to_string(&focused.sources[0]).unwrap();
        assert!(!plain.contains("vocabulary") && !plain.contains("classes"), "{plain}");
        for (key, weight, complaint) in [("brackets", 1.0, "unknown class"), ("quote", -1.0, ">= 0"), ("end", f64::INFINITY, ">= 0")] {
            let mut bad = family.clone();
            if let SourceConfig::Anchored { window: Some(window), .. } = &mut bad.sources[0] {
                window.classes.insert(key.to_string(), weight);
            }
            assert!(bad.validate().unwrap_err().contains(complaint), "{key} = {weight}");
        }
        let unknown = text.replace("t0 = [0.1, 0.5]", "t0 = [0.1, 0.5]\nwindow = { width = [1, 1], vocabulary = \"letters\" }");
        assert!(toml::from_str::<RolloutConfig>(&unknown).is_err(), "an unknown vocabulary is refused");
    }

    #[test]
    fn shipped_rollout_configs_load() {
        let dir = crate::repo_file("").join("configs/rollout");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let config = RolloutConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(config.target_pairs, 20_000, "{}", path.display());
            n += 1;
        }
        assert!(n >= 3);
    }
}
