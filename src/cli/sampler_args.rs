//! The reverse-process flags shared by `repair` and `eval repair`.

use clap::Args;
use lastmile::diffusion::{SamplerConfig, Update};
use lastmile::lang::Language;
use lastmile::repair::{Localise, Plausibility, RepairConfig, WholeReadout};

/// The paper's method read out under the checker searches the top
/// `PAPER_TOP_K` tokens a position, `PAPER_BUDGET` tries a chain, keeping
/// `PAPER_ALTERNATIVES` read-outs: the setting measured best on the Excel
/// benchmark (`docs/repair.md`).
const PAPER_TOP_K: u16 = 64;
const PAPER_BUDGET: u32 = 8192;
const PAPER_ALTERNATIVES: u16 = 4;

/// How a repair noises its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// Error-localised: noise only a window around the strict checker's error
    /// and the language's repair sites (one variant per pair of --radii and
    /// --inserts), keep the rest clean, read each window out under the
    /// checker; an input that passes the check and has no repair site comes
    /// back unchanged; where the language proposes single edits (Excel), the
    /// checker-accepted snippets one punctuation edit away join the candidates.
    /// Defaults: levels 0.1,0.3,0.6,1.0, every 60th timestep, clamped.
    Localised,
    /// The repair paper's: noise the whole snippet to each level and resume
    /// the reverse process. Defaults: levels 0.1..0.9, 50 steps, unclamped;
    /// with --constrained: levels 0.05,0.1, every 60th timestep, clamped,
    /// --likelihood 1 (chains that keep the input), top 64 tokens, 8192 tries,
    /// 4 alternatives.
    Paper,
}

/// The reverse process of a repair: which method, from which noise levels,
/// how many steps. Each unset flag takes the method's default.
#[derive(Debug, Clone, Args)]
pub struct SamplerArgs {
    /// Repair method.
    #[arg(long, value_enum, default_value_t = Method::Localised)]
    method: Method,
    /// Noise levels as fractions of T (comma-separated; default: the method's).
    #[arg(long, value_delimiter = ',')]
    levels: Option<Vec<f64>>,
    /// Respaced reverse steps from each start level (the same for every level).
    #[arg(long)]
    steps: Option<usize>,
    /// Instead of --steps: visit every STRIDE-th timestep, so a low noise level
    /// takes fewer steps than a high one (level 0.1 with stride 60: 3 steps).
    #[arg(long, conflicts_with = "steps")]
    stride: Option<usize>,
    /// Update rule of the reverse process.
    #[arg(long, value_enum, default_value_t = Update::Ddpm)]
    update: Update,
    /// Replace `x0_hat` by the embedding of its decoded tokens at every step
    /// (`--clamp=false` turns the localised method's clamping off).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    clamp: Option<bool>,
    /// Weight of the noisy input's likelihood in the decoded tokens (0: the
    /// paper's decoding; 1: the model's logits times the Gaussian evidence);
    /// default 0, 1 for the paper's method with --constrained.
    #[arg(long)]
    likelihood: Option<f64>,
    /// Localised: positions noised on each side of the error's token.
    #[arg(long, value_delimiter = ',', default_value = "0,1,2")]
    radii: Vec<usize>,
    /// Localised: free slots inserted at the error (for missing tokens).
    #[arg(long, value_delimiter = ',', default_value = "0,1,2")]
    inserts: Vec<usize>,
    /// Localised: read each window out as the argmax at each position instead
    /// of the most probable window tokens (top 8 a position, 256 tries) whose
    /// snippet passes the checker.
    #[arg(long)]
    unconstrained: bool,
    /// Paper: read each chain out under the checker as the localised method
    /// reads its windows, the whole snippet being the window (the most
    /// probable combinations of the top tokens a position that pass;
    /// --edit-cost applies); the chains themselves are unchanged.
    #[arg(long)]
    constrained: bool,
    /// Paper, with --constrained: tokens considered at each position (its most
    /// probable ones) [default: 64].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    readout_top_k: Option<u16>,
    /// Paper, with --constrained: combinations checked at most per chain
    /// [default: 8192].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    readout_budget: Option<u32>,
    /// Accepted read-outs kept per chain (localised: per window), most
    /// probable first, each a candidate (ranked pooling weighs them)
    /// [default: 1; the paper's method with --constrained: 4].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    readout_alternatives: Option<u16>,
    /// Nats charged per token a checker read-out changes (the localised
    /// method's, or the paper's with --constrained), so the smallest plausible
    /// edit wins (0: the model's probability alone).
    #[arg(long, default_value_t = 0.0)]
    edit_cost: f32,
    /// Localised: repair rounds; an input without a valid candidate is repaired
    /// again from the candidate that fixed its first slip (one window per slip).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=8))]
    rounds: u16,
    /// Localised: windows only at the checker's error, none at the language's
    /// repair sites (PowerShell: command heads missing `&`, lines continued
    /// without a backtick, blocks left open), so an input that parses comes
    /// back unchanged.
    #[arg(long)]
    no_sites: bool,
    /// Score every valid candidate's plausibility under the model (the log-probability
    /// of its own tokens when noised to --rank-levels and denoised once), which
    /// `ranked` pooling weighs with votes and edits; default: the language's (on
    /// for Excel and PowerShell, whose proposals the chains' vote cannot weigh),
    /// `--rank=false` turns it off.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    rank: Option<bool>,
    /// Localised: add every checker-accepted snippet one punctuation edit away
    /// from a rejected input to its candidates (level 0); default: the
    /// language's (on for Excel), `--proposals=false` turns them off.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    proposals: Option<bool>,
    /// Localised: no idiom edits among the candidates (the language's documented
    /// fixes of its common mistakes, PowerShell's `& ` before a quoted program,
    /// quoted native arguments, `--%`, escaped inner quotes, closers of open blocks).
    #[arg(long)]
    no_idioms: bool,
    /// Localised: repair inputs the checker accepts too: a misspelt function
    /// corrected, or an argument edit (an operator typed for a separator, a
    /// `""` left out) the model finds more plausible by --revise-margin;
    /// default: the language's (on for Excel), `--revise=false` turns it off.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    revise: Option<bool>,
    /// With --revise: nats an argument edit must beat the input's plausibility
    /// by (default: the measured margin of `docs/repair.md`).
    #[arg(long, allow_negative_numbers = true)]
    revise_margin: Option<f64>,
    /// With --revise: nats a name correction may lose to the input's
    /// plausibility (default: the measured margin of `docs/repair.md`).
    #[arg(long, allow_negative_numbers = true)]
    revise_name_margin: Option<f64>,
    /// With --rank: the noise levels of the score, as fractions of T.
    #[arg(long, value_delimiter = ',', default_value = "0.35,0.5")]
    rank_levels: Vec<f64>,
    /// With --rank: noise draws per level.
    #[arg(long, default_value_t = 2)]
    rank_draws: usize,
}

/// A command line of nothing but the sampler flags (for [`SamplerArgs::repair_defaults`]).
#[derive(clap::Parser)]
struct SamplerOnly {
    #[command(flatten)]
    sampler: SamplerArgs,
}

impl SamplerArgs {
    /// The flags of `lastmile repair` with nothing set but `--rounds`: its
    /// default method, for commands that repair without taking every flag.
    pub fn repair_defaults(rounds: u16) -> SamplerArgs {
        use clap::Parser;
        let rounds = rounds.clamp(1, 8).to_string();
        SamplerOnly::parse_from(["repair", "--rounds", rounds.as_str()]).sampler
    }

    /// The sampler these flags describe.
    pub fn config(&self) -> SamplerConfig {
        // the localised method and the paper's read out under the checker visit
        // every 60th timestep, clamped; the latter's chains keep their input
        let strided = self.method == Method::Localised || self.paper_constrained();
        let (steps, stride) = match (self.steps, self.stride) {
            (_, Some(stride)) => (None, Some(stride.max(1))),
            (Some(steps), None) => (Some(steps), None),
            (None, None) if strided => (None, Some(60)),
            (None, None) => (Some(50), None),
        };
        let likelihood = self.likelihood.unwrap_or(if self.paper_constrained() { 1.0 } else { 0.0 });
        SamplerConfig { steps, stride, clamp: self.clamp.unwrap_or(strided), update: self.update, likelihood }
    }

    /// The paper's method read out under the checker.
    fn paper_constrained(&self) -> bool {
        self.method == Method::Paper && self.constrained
    }

    /// The noise levels: the given ones, else the method's.
    pub fn levels(&self) -> Vec<f64> {
        match (&self.levels, self.method) {
            (Some(levels), _) => levels.clone(),
            (None, Method::Localised) => vec![0.1, 0.3, 0.6, 1.0],
            (None, Method::Paper) if self.constrained => vec![0.05, 0.1],
            (None, Method::Paper) => (1..=9).map(|k| k as f64 / 10.0).collect(),
        }
    }

    /// The repair run these flags, samples, batch and seed describe for `lang`
    /// (whose defaults fill unset flags).
    pub fn repair_config(&self, samples: usize, batch_size: usize, seed: u64, lang: &dyn Language) -> RepairConfig {
        RepairConfig {
            levels: self.levels(),
            samples: samples.max(1),
            sampler: self.config(),
            batch_size,
            seed,
            localise: self.localise(),
            rank: self.rank(lang),
            constrained: self.paper_constrained().then(|| WholeReadout {
                edit_cost: self.edit_cost,
                top_k: usize::from(self.readout_top_k.unwrap_or(PAPER_TOP_K)),
                budget: self.readout_budget.unwrap_or(PAPER_BUDGET) as usize,
                alternatives: usize::from(self.readout_alternatives.unwrap_or(PAPER_ALTERNATIVES)),
            }),
        }
    }

    /// The plausibility scoring of `--rank` (the language's default when unset).
    pub fn rank(&self, lang: &dyn Language) -> Option<Plausibility> {
        let on = self.rank.unwrap_or_else(|| lang.ranks_repairs());
        on.then(|| Plausibility { levels: self.rank_levels.clone(), draws: self.rank_draws.max(1), seed: 0 })
    }

    /// The error-localised variants, unless the method is the paper's.
    pub fn localise(&self) -> Option<Localise> {
        (self.method == Method::Localised).then(|| Localise {
            radii: self.radii.clone(),
            inserts: self.inserts.clone(),
            constrained: !self.unconstrained,
            edit_cost: self.edit_cost,
            rounds: usize::from(self.rounds),
            sites: !self.no_sites,
            proposals: self.proposals,
            idioms: !self.no_idioms,
            revise: self.revise,
            revise_margin: self.revise_margin,
            revise_name_margin: self.revise_name_margin,
            alternatives: usize::from(self.readout_alternatives.unwrap_or(1)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sampler: SamplerArgs,
    }

    fn parse(args: &[&str]) -> SamplerArgs {
        Cli::try_parse_from(std::iter::once("x").chain(args.iter().copied())).unwrap().sampler
    }

    #[test]
    fn repair_defaults_are_the_repair_commands_defaults_with_rounds() {
        let lang = lastmile::lang::LangId::Python.language();
        let config = SamplerArgs::repair_defaults(8).repair_config(1, 64, 3, lang);
        assert_eq!(config, parse(&["--rounds", "8"]).repair_config(1, 64, 3, lang));
        assert_eq!(config.localise.as_ref().map(|l| l.rounds), Some(8));
        assert_eq!(config.levels, parse(&[]).levels());
    }

    #[test]
    fn each_method_has_its_defaults_and_flags_override_them() {
        let localised = parse(&[]);
        let config = localised.repair_config(1, 64, 0, lastmile::lang::LangId::Powershell.language());
        assert_eq!(config.levels, [0.1, 0.3, 0.6, 1.0]);
        assert_eq!((config.sampler.stride, config.sampler.steps, config.sampler.clamp), (Some(60), None, true));
        assert_eq!(
            config.localise,
            Some(Localise {
                radii: vec![0, 1, 2],
                inserts: vec![0, 1, 2],
                constrained: true,
                edit_cost: 0.0,
                rounds: 1,
                sites: true,
                proposals: None,
                idioms: true,
                revise: None,
                revise_margin: None,
                revise_name_margin: None,
                alternatives: 1
            })
        );

        let paper = parse(&["--method", "paper"]).repair_config(1, 64, 0, lastmile::lang::LangId::Powershell.language());
        assert_eq!(paper.levels.len(), 9);
        assert_eq!((paper.sampler.stride, paper.sampler.steps, paper.sampler.clamp, paper.localise), (None, Some(50), false, None));
        assert_eq!(paper.constrained, None);
        let checked = parse(&["--method", "paper", "--constrained", "--edit-cost", "2", "--readout-budget", "2048"]);
        let checked = checked.repair_config(1, 64, 0, lastmile::lang::LangId::Excel.language());
        let readout = WholeReadout { edit_cost: 2.0, top_k: 64, budget: 2048, alternatives: 4 };
        assert_eq!((checked.constrained, checked.localise), (Some(readout), None));
        assert_eq!(checked.levels, [0.05, 0.1], "low levels, whose chains keep the input");
        let s = checked.sampler;
        assert_eq!((s.stride, s.steps, s.clamp, s.likelihood), (Some(60), None, true, 1.0));
        let own = parse(&["--method", "paper", "--constrained", "--likelihood", "0", "--clamp=false", "--readout-top-k", "8"]);
        let own = own.repair_config(1, 64, 0, lastmile::lang::LangId::Excel.language());
        assert_eq!((own.sampler.likelihood, own.sampler.clamp, own.constrained.unwrap().top_k), (0.0, false, 8));
        assert_eq!(parse(&["--constrained"]).repair_config(1, 64, 0, lastmile::lang::LangId::Excel.language()).constrained, None);

        let custom = parse(&["--levels", "0.2", "--steps", "4", "--clamp=false", "--radii", "1", "--unconstrained"]);
        let custom = custom.repair_config(1, 64, 0, lastmile::lang::LangId::Powershell.language());
        assert_eq!((custom.levels, custom.sampler.steps, custom.sampler.stride, custom.sampler.clamp), (vec![0.2], Some(4), None, false));
        assert_eq!(
            custom.localise.unwrap(),
            Localise {
                radii: vec![1],
                inserts: vec![0, 1, 2],
                constrained: false,
                edit_cost: 0.0,
                rounds: 1,
                sites: true,
                proposals: None,
                idioms: true,
                revise: None,
                revise_margin: None,
                revise_name_margin: None,
                alternatives: 1
            }
        );
        assert!(parse(&["--method", "paper", "--clamp"]).config().clamp);
        assert!(parse(&["--clamp", "--steps", "4"]).config().clamp, "a bare --clamp takes no value");
        assert!(Cli::try_parse_from(["x", "--steps", "4", "--stride", "60"]).is_err());
    }
}
