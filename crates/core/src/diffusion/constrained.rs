//! The checker-constrained read-out of a chain: instead of the
//! argmax token at each window position, the most probable *combination* of
//! window tokens (by the final reverse step's log-probabilities) whose snippet
//! the strict checker accepts. The model ranks, the parser prunes: what
//! grammar-constrained decoding does for language models.
//!
//! Why it is needed: the tokenizer merges closing brackets (`))`, `),"")`),
//! so the model never saw `)` followed by `)` as two tokens, and a formula
//! that lacks one bracket is often fixed only by a token the argmax ranks
//! second. Enumerating combinations best-first finds it within a few tries.

use super::{EosInWindow, Window};
use crate::tokenizer::{MASK, PAD};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};

/// How far the constrained read-out looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Constraint {
    /// Tokens considered at each window position (its most probable ones).
    pub top_k: usize,
    /// Combinations tried (checked) at most per chain.
    pub budget: usize,
}

impl Default for Constraint {
    fn default() -> Self {
        Constraint { top_k: 8, budget: 256 }
    }
}

/// The `k` most probable tokens of one position's log-probabilities, most
/// probable first (ties by the smaller id, so the order is deterministic).
pub fn top_k(log_probs: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut order: Vec<(u32, f32)> = log_probs.iter().enumerate().map(|(id, &p)| (id as u32, p)).collect();
    let k = k.min(order.len());
    if k == 0 {
        return Vec::new();
    }
    order.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    order.truncate(k);
    order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    order
}

/// One combination on the frontier: the ranks chosen away from each
/// position's most probable token, as `(position, rank)` pairs in position
/// order (every other position takes rank 0), and its total log-probability.
/// Sparse, so that a search over a long snippet keeps a few pairs per entry
/// instead of a rank for every position.
#[derive(Debug, PartialEq)]
struct Entry {
    score: f32,
    ranks: Vec<(u32, u32)>,
}

impl Eq for Entry {}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        // the max-heap pops the highest score; equal scores: the smaller ranks first
        self.score.total_cmp(&other.score).then_with(|| dense_cmp(&other.ranks, &self.ranks))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Compares two sparse rank lists as the dense rank vectors they stand for
/// compare lexicographically: at the first position where they differ.
fn dense_cmp(a: &[(u32, u32)], b: &[(u32, u32)]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        if x != y {
            // the earlier position holds a nonzero rank on one side only, or
            // both hold the same position with different ranks
            return match x.0.cmp(&y.0) {
                Ordering::Less => Ordering::Greater,
                Ordering::Greater => Ordering::Less,
                Ordering::Equal => x.1.cmp(&y.1),
            };
        }
    }
    a.len().cmp(&b.len())
}

/// The rank of `position` in a sparse rank list.
fn rank_at(ranks: &[(u32, u32)], position: usize) -> usize {
    match ranks.binary_search_by_key(&(position as u32), |&(p, _)| p) {
        Ok(i) => ranks[i].1 as usize,
        Err(_) => 0,
    }
}

/// The most probable choice of one token per position (from `choices`, each
/// position's candidates most probable first) that `accept` takes, trying
/// combinations in order of total log-probability, at most `budget` of them;
/// `None` when none within the budget is accepted. The first try is the
/// argmax of every position.
pub fn most_probable_accepted(choices: &[Vec<(u32, f32)>], budget: usize, accept: impl FnMut(&[u32]) -> bool) -> Option<Vec<u32>> {
    most_probable_accepted_n(choices, budget, 1, accept).pop()
}

/// The `n` most probable choices that `accept` takes, most probable first,
/// found within `budget` tries as [`most_probable_accepted`] finds the first.
pub fn most_probable_accepted_n(
    choices: &[Vec<(u32, f32)>],
    budget: usize,
    n: usize,
    mut accept: impl FnMut(&[u32]) -> bool,
) -> Vec<Vec<u32>> {
    let mut found = Vec::new();
    if n == 0 || choices.iter().any(Vec::is_empty) {
        return found;
    }
    // summed in position order, each time, so that equal combinations score
    // the same bits however they were reached
    let score = |ranks: &[(u32, u32)]| {
        let mut changed = ranks.iter().peekable();
        let mut rank = move |i: usize| match changed.next_if(|&&(p, _)| p as usize == i) {
            Some(&(_, r)) => r as usize,
            None => 0,
        };
        choices.iter().enumerate().map(|(i, c)| c[rank(i)].1).sum::<f32>()
    };
    let mut frontier = BinaryHeap::new();
    let mut seen: HashSet<Vec<(u32, u32)>> = HashSet::new();
    frontier.push(Entry { score: score(&[]), ranks: Vec::new() });
    seen.insert(Vec::new());
    let mut tried = 0;
    let mut tokens: Vec<u32> = choices.iter().map(|c| c[0].0).collect();
    while let Some(Entry { ranks, .. }) = frontier.pop() {
        if tried == budget {
            break;
        }
        tried += 1;
        for &(p, r) in &ranks {
            tokens[p as usize] = choices[p as usize][r as usize].0;
        }
        if accept(&tokens) {
            found.push(tokens.clone());
            if found.len() == n {
                break;
            }
        }
        for &(p, _) in &ranks {
            tokens[p as usize] = choices[p as usize][0].0;
        }
        // successors: one position moves to its next most probable token
        for (i, c) in choices.iter().enumerate() {
            let r = rank_at(&ranks, i);
            if r + 1 < c.len() {
                let mut next = ranks.clone();
                match next.binary_search_by_key(&(i as u32), |&(p, _)| p) {
                    Ok(at) => next[at].1 += 1,
                    Err(at) => next.insert(at, (i as u32, 1)),
                }
                if !seen.contains(&next) {
                    seen.insert(next.clone());
                    frontier.push(Entry { score: score(&next), ranks: next });
                }
            }
        }
    }
    found
}

/// `row` with its `positions` rewritten to the most probable combination of
/// their top tokens (`scores`: each position's log-probabilities over the
/// vocabulary) whose row `accept` takes; `None` when no combination within
/// `limits` is accepted. The first try is `row` with each position's argmax.
pub fn read_out(
    row: &[u32],
    positions: &[usize],
    scores: &[Vec<f32>],
    limits: Constraint,
    accept: impl FnMut(&[u32]) -> bool,
) -> Option<Vec<u32>> {
    read_out_n(row, positions, scores, limits, 1, accept).pop()
}

/// The `n` most probable accepted rows of [`read_out`], most probable first
/// (fewer when fewer are found within `limits`): one chain's alternatives.
pub fn read_out_n(
    row: &[u32],
    positions: &[usize],
    scores: &[Vec<f32>],
    limits: Constraint,
    n: usize,
    mut accept: impl FnMut(&[u32]) -> bool,
) -> Vec<Vec<u32>> {
    let choices: Vec<Vec<(u32, f32)>> = positions.iter().map(|&p| top_k(&scores[p], limits.top_k)).collect();
    let mut candidate = row.to_vec();
    let write = |row: &mut Vec<u32>, tokens: &[u32]| {
        for (&p, &id) in positions.iter().zip(tokens) {
            row[p] = id;
        }
    };
    let found = most_probable_accepted_n(&choices, limits.budget, n, |tokens| {
        write(&mut candidate, tokens);
        accept(&candidate)
    });
    found
        .into_iter()
        .map(|tokens| {
            let mut out = row.to_vec();
            write(&mut out, &tokens);
            out
        })
        .collect()
}

/// A windowed chain's final read-out `decoded` spliced into `clean`
/// ([`Window::splice`]), with the window's positions rewritten to the most
/// probable combination of their top tokens (within `limits`) whose spliced
/// snippet `accept`s (else the argmax read-out). Repair and length-conditioned
/// generation read out under the language's checker this way.
pub fn splice_accepted(
    window: Window,
    clean: &[u32],
    decoded: &[u32],
    scores: &[Vec<f32>],
    eos: EosInWindow,
    limits: Constraint,
    accept: impl FnMut(&[u32]) -> bool,
) -> Vec<u32> {
    splice_accepted_n(window, clean, decoded, scores, eos, limits, 1, accept).swap_remove(0)
}

/// The `n` most probable accepted rows of [`splice_accepted`], most probable
/// first; the argmax read-out alone when none is accepted (never empty).
pub fn splice_accepted_n(
    window: Window,
    clean: &[u32],
    decoded: &[u32],
    scores: &[Vec<f32>],
    eos: EosInWindow,
    limits: Constraint,
    n: usize,
    mut accept: impl FnMut(&[u32]) -> bool,
) -> Vec<Vec<u32>> {
    let positions: Vec<usize> = window.positions(decoded.len().min(scores.len())).collect();
    let accepted = read_out_n(decoded, &positions, scores, limits, n, |row| accept(&window.splice(clean, row, eos)));
    match accepted.is_empty() {
        true => vec![window.splice(clean, decoded, eos)],
        false => accepted.iter().map(|row| window.splice(clean, row, eos)).collect(),
    }
}

/// Charges `cost` nats for every window position whose read-out differs from
/// the input there, by raising the input's own token at each position of
/// `window` in `scores` (a slot, `<mask>` in `clean`, keeps by writing nothing:
/// `<pad>` or `<mask>`). The constrained read-out then ranks combinations by
/// their log-probability minus `cost` per changed token, so a last-mile repair
/// that changes one separator outranks one that rewrites the operands around
/// it, and the input's own tokens compete at every position even where the
/// model ranks them below its top choices.
pub fn charge_edits(scores: &mut [Vec<f32>], clean: &[u32], window: Window, cost: f32) {
    if cost <= 0.0 {
        return;
    }
    for p in window.positions(clean.len().min(scores.len())) {
        let kept: &[u32] = match clean[p] {
            MASK => &[PAD, MASK],
            ref id => std::slice::from_ref(id),
        };
        for &id in kept {
            if let Some(score) = scores[p].get_mut(id as usize) {
                *score += cost;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn top_k_is_sorted_and_breaks_ties_by_id() {
        assert_eq!(top_k(&[-3.0, -1.0, -2.0, -1.0], 3), [(1, -1.0), (3, -1.0), (2, -2.0)]);
        assert_eq!(top_k(&[-1.0], 4), [(0, -1.0)]);
        assert!(top_k(&[-1.0], 0).is_empty());
    }

    #[test]
    fn the_argmax_wins_when_accepted_else_the_next_most_probable_accepted() {
        let choices = vec![vec![(10, -0.1), (11, -2.0)], vec![(20, -0.2), (21, -0.5), (22, -3.0)]];
        assert_eq!(most_probable_accepted(&choices, 100, |_| true), Some(vec![10, 20]));
        // (10, 21) at -0.6 comes before (11, 20) at -2.2
        assert_eq!(most_probable_accepted(&choices, 100, |t| t != [10, 20]), Some(vec![10, 21]));
        assert_eq!(most_probable_accepted(&choices, 100, |t| t[0] == 11), Some(vec![11, 20]));
        assert_eq!(most_probable_accepted(&choices, 100, |_| false), None);
        assert_eq!(most_probable_accepted(&choices, 1, |t| t[0] == 11), None, "the budget bounds the tries");
        assert_eq!(most_probable_accepted(&[vec![(1, 0.0)], vec![]], 100, |_| true), None);
    }

    #[test]
    fn read_out_rewrites_only_the_given_positions() {
        // position 1 prefers token 5, then 7; position 2 prefers 9, then 3
        let scores = vec![vec![0.0; 10], [vec![-9.0; 5], vec![-0.1, -9.0, -1.0, -9.0, -9.0]].concat(), {
            let mut s = vec![-9.0; 10];
            s[9] = -0.2;
            s[3] = -0.3;
            s
        }];
        let row = [1, 2, 4];
        let limits = Constraint { top_k: 2, budget: 16 };
        assert_eq!(read_out(&row, &[1, 2], &scores, limits, |_| true), Some(vec![1, 5, 9]));
        assert_eq!(read_out(&row, &[1, 2], &scores, limits, |r| r[2] == 3), Some(vec![1, 5, 3]));
        assert_eq!(read_out(&row, &[2], &scores, limits, |r| r[1] == 2 && r[2] == 3), Some(vec![1, 2, 3]));
        assert_eq!(read_out(&row, &[1], &scores, limits, |r| r[1] == 6), None);
        // the n best accepted rows, most probable first: (5, 9) -0.3, (5, 3) -0.4, (7, 9) -1.2, (7, 3) -1.3
        let all = read_out_n(&row, &[1, 2], &scores, limits, 3, |_| true);
        assert_eq!(all, [vec![1, 5, 9], vec![1, 5, 3], vec![1, 7, 9]]);
        assert_eq!(read_out_n(&row, &[1, 2], &scores, limits, 3, |r| r[1] == 7), [vec![1, 7, 9], vec![1, 7, 3]], "fewer when fewer pass");
        assert!(read_out_n(&row, &[1, 2], &scores, limits, 0, |_| true).is_empty());
    }

    #[test]
    fn an_edit_cost_makes_the_smallest_accepted_change_win() {
        // the input is [1, 2, 4]; the model prefers rewriting both window
        // positions (5, 9: -0.3), and the checker accepts either that or a
        // single change at position 2 (2 kept, 4 -> 3: -3.5, +4 with the cost)
        let mut scores = vec![vec![0.0; 10], vec![-4.0; 10], vec![-4.0; 10]];
        scores[1][5] = -0.1;
        scores[1][2] = -2.0; // the input's own token: plausible, not the model's first choice
        scores[2][9] = -0.2;
        scores[2][3] = -1.5;
        let row = [1, 2, 4];
        let accept = |r: &[u32]| r == [1, 5, 9] || r == [1, 2, 3];
        let limits = Constraint { top_k: 3, budget: 64 };
        assert_eq!(read_out(&row, &[1, 2], &scores, limits, accept), Some(vec![1, 5, 9]), "without a cost the most probable wins");
        let mut charged = scores.clone();
        charge_edits(&mut charged, &row, Window { lo: 1, hi: 2 }, 4.0);
        assert_eq!(read_out(&row, &[1, 2], &charged, limits, accept), Some(vec![1, 2, 3]), "two edits cost more than one");
        assert_eq!(charged[0], scores[0], "outside the window nothing changes");
        // a slot keeps by writing nothing
        let mut slot = vec![vec![0.0; 10]; 2];
        charge_edits(&mut slot, &[MASK, 7], Window { lo: 0, hi: 1 }, 2.0);
        assert_eq!((slot[0][PAD as usize], slot[0][MASK as usize], slot[0][7], slot[1][7]), (2.0, 2.0, 0.0, 2.0));
    }

    proptest! {
        /// Sparse rank lists order as the dense vectors they stand for, the
        /// tie-break that keeps the search's order what it always was.
        #[test]
        fn sparse_ranks_compare_as_dense_ones(
            a in prop::collection::vec(0u32..3, 0..6),
            b in prop::collection::vec(0u32..3, 0..6),
        ) {
            let len = a.len().max(b.len());
            let dense = |v: &[u32]| (0..len).map(|i| v.get(i).copied().unwrap_or(0)).collect::<Vec<_>>();
            let sparse = |v: &[u32]| v.iter().enumerate().filter(|(_, &r)| r > 0).map(|(i, &r)| (i as u32, r)).collect::<Vec<_>>();
            prop_assert_eq!(dense_cmp(&sparse(&a), &sparse(&b)), dense(&a).cmp(&dense(&b)));
            prop_assert_eq!(rank_at(&sparse(&a), 2), a.get(2).copied().unwrap_or(0) as usize);
        }

        /// Best-first order: the accepted combination is the most probable
        /// accepted one that exhaustive search finds.
        #[test]
        fn best_first_equals_exhaustive(
            scores in prop::collection::vec(prop::collection::vec(-8.0f32..0.0, 1..4), 1..4),
            accepted_mod in 2usize..5,
        ) {
            let choices: Vec<Vec<(u32, f32)>> = scores.iter().enumerate().map(|(i, s)| {
                let mut c: Vec<(u32, f32)> = s.iter().enumerate().map(|(j, &p)| ((i * 10 + j) as u32, p)).collect();
                c.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                c
            }).collect();
            let accept = |t: &[u32]| t.iter().map(|&x| x as usize).sum::<usize>() % accepted_mod == 0;
            let mut all: Vec<(f32, Vec<u32>)> = vec![(0.0, vec![])];
            for c in &choices {
                all = all.iter().flat_map(|(s, t)| c.iter().map(move |&(id, p)| (s + p, [t.clone(), vec![id]].concat()))).collect();
            }
            let best = all.iter().filter(|(_, t)| accept(t)).map(|(s, _)| *s).fold(f32::NEG_INFINITY, f32::max);
            match most_probable_accepted(&choices, usize::MAX, accept) {
                Some(found) => {
                    let s: f32 = found.iter().zip(&choices).map(|(id, c)| c.iter().find(|x| x.0 == *id).unwrap().1).sum();
                    prop_assert!((s - best).abs() < 1e-4, "found {s}, best {best}");
                }
                None => prop_assert!(best == f32::NEG_INFINITY),
            }
        }
    }
}
