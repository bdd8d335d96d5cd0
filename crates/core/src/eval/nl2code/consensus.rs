//! Execution consensus for CF rules: candidates that format the user's sheet alike
//! are one answer, and their chains' votes add up (minimum Bayes risk over
//! execution, as in "Natural Language to Code Translation with Execution", Shi et
//! al., 2022). Ten chains that write `GreaterThan(900000)`, `GreaterThan(c[1],
//! 900000)` and `GreaterThanEqual(900001)` agree on what to highlight; ranking by
//! the text alone splits their votes three ways.
//!
//! It reads the item's sheet, which a user formatting a sheet has: never the gold
//! rule. Candidates are compared by what they do with every column of the sheet
//! taken as the one a rule without a column applies to, so two candidates pooled
//! here format the sheet alike whichever column the user meant.

use crate::generate::Candidate;
use crate::lang::cf::exec::{run, Outcome};
use crate::lang::cf::{parse_rule, Table};

/// What a candidate does to `sheet`, with each column in turn as the default one;
/// None when it does not parse or cannot run there.
fn behaviour(text: &str, sheet: &Table) -> Option<Vec<Outcome>> {
    let rule = parse_rule(text).ok()?;
    (0..sheet.width().max(1)).map(|column| run(&rule, sheet, column).ok()).collect()
}

/// `candidates` (ranked by votes, then log-probability) re-ranked by execution on
/// `sheet`: candidates that behave alike form a group whose votes are their sum;
/// groups rank by those votes, then by their best log-probability; each group is
/// represented by its best-ranked candidate. The first `k` answers are the groups'
/// representatives (one per behaviour), then the other members in group order. A
/// candidate that does not parse or run is a group of its own.
pub fn exec_consensus(candidates: &[Candidate], sheet: &Table, k: usize) -> Vec<String> {
    struct Group {
        behaviour: Option<Vec<Outcome>>,
        votes: usize,
        log_prob: f32,
        members: Vec<usize>,
    }
    let mut groups: Vec<Group> = Vec::new();
    for (i, candidate) in candidates.iter().enumerate() {
        let behaviour = behaviour(&candidate.text, sheet);
        let joined = behaviour.as_ref().and_then(|b| groups.iter_mut().find(|g| g.behaviour.as_ref() == Some(b)));
        match joined {
            Some(group) => {
                group.votes += candidate.votes;
                group.log_prob = group.log_prob.max(candidate.log_prob);
                group.members.push(i);
            }
            None => groups.push(Group { behaviour, votes: candidate.votes, log_prob: candidate.log_prob, members: vec![i] }),
        }
    }
    // stable: groups that tie keep the order of their best candidates
    groups.sort_by(|a, b| b.votes.cmp(&a.votes).then(b.log_prob.total_cmp(&a.log_prob)));
    let firsts = groups.iter().map(|g| g.members[0]);
    let rest = groups.iter().flat_map(|g| g.members[1..].iter().copied());
    firsts.chain(rest).take(k).map(|i| candidates[i].text.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::cf::Cell;

    fn candidate(text: &str, votes: usize, log_prob: f32) -> Candidate {
        Candidate { text: text.to_string(), votes, log_prob }
    }

    fn sheet() -> Table {
        let row = |r: &[&str]| r.iter().map(|s| Cell::from_text(s)).collect::<Vec<_>>();
        Table::from_rows(vec![row(&["City", "Sales"]), row(&["Kansas", "950000"]), row(&["Ohio", "100"]), row(&["Utah", "900001"])])
    }

    /// Two spellings of "above 900000" outvote the single most voted text.
    #[test]
    fn rules_that_format_alike_pool_their_votes() {
        let ranked = [
            candidate("LessThan(900000)", 4, -0.1),
            candidate("GreaterThan(900000)", 3, -0.2),
            candidate("GreaterThanEqual(900001)", 2, -0.3),
            candidate("Equals(950000)", 1, -0.4),
            candidate("NotAValidRule((", 0, -0.5),
        ];
        let out = exec_consensus(&ranked, &sheet(), 5);
        assert_eq!(out, ["GreaterThan(900000)", "LessThan(900000)", "Equals(950000)", "NotAValidRule((", "GreaterThanEqual(900001)"]);
        // the top-k holds one rule per behaviour before the others
        assert_eq!(exec_consensus(&ranked, &sheet(), 2), ["GreaterThan(900000)", "LessThan(900000)"]);
    }

    /// Rules that agree on one column but not on another stay apart: the user may
    /// have meant either.
    #[test]
    fn behaviour_is_compared_on_every_column() {
        let row = |r: &[&str]| r.iter().map(|s| Cell::from_text(s)).collect::<Vec<_>>();
        let sheet = Table::from_rows(vec![row(&["A", "B"]), row(&["5", "1"]), row(&["1", "5"])]);
        let ranked = [candidate("GreaterThan(3)", 1, -0.1), candidate("GreaterThan(c[0], 3)", 1, -0.2)];
        let out = exec_consensus(&ranked, &sheet, 1);
        assert_eq!(out, ["GreaterThan(3)"], "two groups of one vote: the better log-probability first");
    }
}
