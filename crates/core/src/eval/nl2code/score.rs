//! Scoring ranked NL-to-code candidates: exact match after normalisation (the
//! language's tokens, layout dropped), execution match for CF rules on the item's
//! sheet, NL2Bash's template match for Bash (`lang::bash_template`), validity of
//! the first candidate by the language's checker, at top-1/3/5, corpus BLEU-4 as
//! CoNaLa computes it, and how diverse each item's candidates are (the paper's
//! Table 2).

use super::bleu::bleu_at;
use crate::dataset::Nl2CodeItem;
use crate::lang::cf::{exec::Expected, parse_rule};
use crate::lang::edit::levenshtein;
use crate::lang::{bash_template, LangId, Language, TokenKind};
use crate::stats::measure::distinct_n;
use serde::Serialize;

/// The ranks the tables report.
pub const TOP: [usize; 3] = [1, 3, 5];

/// How one test item fared.
#[derive(Debug, Clone, Serialize)]
pub struct ItemScore {
    pub id: u64,
    /// Whether the gold code appears word for word in the train split.
    pub leaked: bool,
    /// The gold code.
    pub gold: String,
    /// The candidates, best first.
    pub candidates: Vec<String>,
    /// 1-based rank of the first candidate equal to the gold after normalisation.
    pub exact_rank: Option<usize>,
    /// For Bash: 1-based rank of the first candidate with the gold's template
    /// (utilities and flags, argument values left out, flag order ignored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_rank: Option<usize>,
    /// For CF items whose gold rule runs on their sheet: 1-based rank of the first
    /// candidate that formats the sheet as the gold does.
    pub exec_rank: Option<usize>,
    /// Whether the item is scored by execution (CF, a sheet, a gold rule that runs).
    pub executable: bool,
    /// Whether the first candidate passes the language's checker.
    pub valid_top1: bool,
}

/// The language's tokens of `code` without layout: `GreaterThan(c[1],  37)` and
/// `GreaterThan(c[1], 37)` are the same program.
pub fn normalise(lang: &dyn Language, code: &str) -> Vec<String> {
    lang.lex(code.trim())
        .into_iter()
        .filter(|t| !matches!(t.kind, TokenKind::Whitespace | TokenKind::Newline))
        .map(|t| t.text.to_string())
        .collect()
}

/// Scores one item's ranked candidates.
pub fn score_item(lang: &dyn Language, item: &Nl2CodeItem, candidates: Vec<String>) -> ItemScore {
    let gold = normalise(lang, &item.code);
    let exact_rank = candidates.iter().position(|c| normalise(lang, c) == gold).map(|i| i + 1);
    // CF items whose gold rule runs on their sheet are scored by execution; a gold
    // rule that cannot run leaves the item to text matching
    let expected = match (lang.id(), &item.sheet) {
        (LangId::Cf, Some(sheet)) => parse_rule(&item.code).ok().and_then(|gold| Expected::new(&gold, sheet).ok()),
        _ => None,
    };
    let exec_rank = expected
        .as_ref()
        .and_then(|expected| candidates.iter().position(|c| parse_rule(c).is_ok_and(|rule| expected.matches(&rule))).map(|i| i + 1));
    let executable = expected.is_some();
    let template_rank = (lang.id() == LangId::Bash)
        .then(|| bash_template(&item.code))
        .and_then(|gold| candidates.iter().position(|c| bash_template(c) == gold).map(|i| i + 1));
    let valid_top1 = candidates.first().is_some_and(|c| lang.check(c).is_ok());
    ItemScore {
        id: item.id,
        leaked: item.leaked,
        gold: item.code.clone(),
        candidates,
        exact_rank,
        template_rank,
        exec_rank,
        executable,
        valid_top1,
    }
}

/// Rates over the scored items, in percent.
#[derive(Debug, Clone, Serialize)]
pub struct Rates {
    /// Items scored (with an utterance).
    pub items: usize,
    /// Exact match at top-1, 3, 5.
    pub exact: [f64; 3],
    /// For Bash: template match at top-1, 3, 5 (NL2Bash's metric).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<[f64; 3]>,
    /// Items scored by execution (CF only).
    pub executable: usize,
    /// Execution match at top-1, 3, 5 over the executable items.
    pub exec: [f64; 3],
    /// Items scored by text only (not executable).
    pub text_only: usize,
    /// Exact match at top-1, 3, 5 over the items scored by text only (for CF, the
    /// items without a sheet, which use the train split's dialect).
    pub exact_text_only: [f64; 3],
    /// First candidate valid by the checker.
    pub valid_top1: f64,
    /// Corpus BLEU-4 with CoNaLa's tokenisation at top-1, 3, 5 (at top-k, each
    /// item's best candidate of its first k by sentence BLEU).
    pub bleu: [f64; 3],
    /// How different each item's candidates are from each other.
    pub diversity: Diversity,
}

/// Diversity of the candidates of an item, averaged over the items with two or more.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Diversity {
    /// Items with two or more candidates.
    pub items: usize,
    /// Distinct token n-grams over all n-grams of an item's candidates, n = 1..4.
    pub distinct_n: [f64; 4],
    /// Token edit distance between two candidates over the longer one's length,
    /// averaged over the pairs of an item.
    pub pairwise_edit: f64,
}

/// The diversity of the candidates of each item.
pub fn diversity(lang: &dyn Language, scores: &[ItemScore]) -> Diversity {
    let mut sums = ([0.0; 4], 0.0);
    let mut items = 0;
    for score in scores.iter().filter(|s| s.candidates.len() >= 2) {
        items += 1;
        let tokens: Vec<Vec<String>> = score.candidates.iter().map(|c| normalise(lang, c)).collect();
        let views: Vec<&[String]> = tokens.iter().map(Vec::as_slice).collect();
        for (n, sum) in sums.0.iter_mut().enumerate() {
            *sum += distinct_n(&views, n + 1);
        }
        let mut pairs = 0.0;
        let mut total = 0.0;
        for (i, a) in tokens.iter().enumerate() {
            for b in &tokens[i + 1..] {
                pairs += 1.0;
                total += levenshtein(a, b) as f64 / a.len().max(b.len()).max(1) as f64;
            }
        }
        sums.1 += total / pairs;
    }
    let mean = |x: f64| if items == 0 { 0.0 } else { x / items as f64 };
    Diversity { items, distinct_n: sums.0.map(mean), pairwise_edit: mean(sums.1) }
}

fn percent(hits: usize, of: usize) -> f64 {
    if of == 0 {
        0.0
    } else {
        100.0 * hits as f64 / of as f64
    }
}

/// The rates of a method over its item scores.
pub fn rates(lang: &dyn Language, scores: &[ItemScore]) -> Rates {
    let within = |rank: Option<usize>, k: usize| rank.is_some_and(|r| r <= k);
    let executable: Vec<&ItemScore> = scores.iter().filter(|s| s.executable).collect();
    let text_only: Vec<&ItemScore> = scores.iter().filter(|s| !s.executable).collect();
    Rates {
        items: scores.len(),
        exact: TOP.map(|k| percent(scores.iter().filter(|s| within(s.exact_rank, k)).count(), scores.len())),
        template: (lang.id() == LangId::Bash)
            .then(|| TOP.map(|k| percent(scores.iter().filter(|s| within(s.template_rank, k)).count(), scores.len()))),
        executable: executable.len(),
        exec: TOP.map(|k| percent(executable.iter().filter(|s| within(s.exec_rank, k)).count(), executable.len())),
        text_only: text_only.len(),
        exact_text_only: TOP.map(|k| percent(text_only.iter().filter(|s| within(s.exact_rank, k)).count(), text_only.len())),
        valid_top1: percent(scores.iter().filter(|s| s.valid_top1).count(), scores.len()),
        bleu: bleu_at(scores.iter().map(|s| (s.gold.as_str(), s.candidates.as_slice())), TOP),
        diversity: diversity(lang, scores),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::cf::Cell;
    use crate::lang::cf::Table;

    #[test]
    fn exact_ignores_layout_and_exec_reads_the_sheet() {
        let cf = LangId::Cf.language();
        let row = |r: &[&str]| r.iter().map(|s| Cell::from_text(s)).collect::<Vec<_>>();
        let sheet = Table::from_rows(vec![row(&["City", "Fee"]), row(&["Kansas", "770"]), row(&["Ohio", "100"])]);
        let item = Nl2CodeItem {
            id: 7,
            utterance: Some("fees over 500".into()),
            code: "GreaterThan(c[1], 500)".into(),
            sheet: Some(sheet),
            leaked: false,
        };
        let score = score_item(cf, &item, vec!["Top(c[1], 1)".into(), "GreaterThan(c[1],500)".into(), "LessThan(".into()]);
        assert_eq!((score.exact_rank, score.exec_rank, score.executable, score.valid_top1), (Some(2), Some(1), true, true));
        let r = rates(cf, &[score, score_item(cf, &item, vec!["LessThan(".into()])]);
        assert_eq!((r.exact, r.exec, r.valid_top1), ([0.0, 50.0, 50.0], [50.0, 50.0, 50.0], 50.0));
        // one item with three candidates: `Top ( c [ 1 ] , 1 )`, `GreaterThan ( c [ 1 ] , 500 )`, `LessThan (`
        assert_eq!(r.diversity.items, 1);
        assert!(r.diversity.distinct_n[0] < 1.0 && r.diversity.pairwise_edit > 0.3, "{:?}", r.diversity);

        let python = LangId::Python.language();
        let item = Nl2CodeItem { id: 1, utterance: None, code: "os.kill(os.getpid(), signal.SIGUSR1)".into(), sheet: None, leaked: false };
        let score = score_item(python, &item, vec!["os.kill(os.getpid(),signal.SIGUSR1)".into()]);
        assert_eq!((score.exact_rank, score.executable, score.valid_top1), (Some(1), false, true));
    }

    /// Bash items are scored by template too: another file name is a template
    /// match, another flag is not.
    #[test]
    fn bash_items_get_template_match() {
        let bash = LangId::Bash.language();
        let item = Nl2CodeItem {
            id: 3,
            utterance: Some("delete logs".into()),
            code: "find /var/log -name '*.log' -delete".into(),
            sheet: None,
            leaked: true,
        };
        let score = score_item(bash, &item, vec!["find . -iname '*.log' -delete".into(), "find /tmp -name \"*.txt\" -delete".into()]);
        assert_eq!((score.exact_rank, score.template_rank), (None, Some(2)));
        let r = rates(bash, &[score]);
        assert_eq!(r.template, Some([0.0, 100.0, 100.0]));
        let python = LangId::Python.language();
        assert_eq!(rates(python, &[]).template, None);
    }

    #[test]
    fn identical_candidates_are_not_diverse() {
        let python = LangId::Python.language();
        let item = Nl2CodeItem { id: 1, utterance: None, code: "x".into(), sheet: None, leaked: false };
        let same = score_item(python, &item, vec!["f(x)".into(), "f( x )".into()]);
        let d = diversity(python, &[same]);
        assert_eq!((d.distinct_n[0], d.pairwise_edit), (0.5, 0.0));
        let apart = score_item(python, &item, vec!["f(x)".into(), "g[y]".into()]);
        assert_eq!(diversity(python, &[apart]).distinct_n[0], 1.0);
    }
}
