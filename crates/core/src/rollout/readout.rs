//! The family read-out of windowed chains (`WindowVocabulary::Family`): which
//! tokens each window position may be decoded as.
//!
//! Only punctuation is ever written or removed. A window position over a token
//! holding punctuation rewrites one class of it, the heaviest by the window's
//! class weights among those the token holds (`)*` is a bracket token when
//! brackets weigh more than operators), and may only be read out as the tokens
//! that agree with it outside that class: over `)*`, `*`, `))*` or `(*`; over
//! `SUM(`, `SUM` or `SUM((`; over `)`, any bracket token or a deletion. A token
//! without punctuation (a name, a number) is read out as itself, `<eos>` as the
//! end. An inserted slot takes a token of the class its window starts on (any
//! one class at a start without punctuation, or at the end), or stays empty. So
//! every edit stays in the families real last-mile mistakes come from, whatever
//! the BPE merged the punctuation with.

use crate::lang::PunctuationClass;
use crate::tokenizer::{EOS, PAD, SPECIAL_TOKENS};
use std::collections::HashMap;

/// The read-out vocabularies of one tokenizer under one set of class weights.
#[derive(Debug, Clone)]
pub struct FamilyVocabulary {
    /// Per vocabulary id: the class a window starting on it rewrites
    /// (`None`: the token holds no punctuation).
    varied: Vec<Option<PunctuationClass>>,
    /// Per vocabulary id: its read-out (an index into `allowed`).
    row_of: Vec<usize>,
    /// Per read-out, the ids it allows; the first is the read-out of a slot
    /// whose window starts without punctuation or at the end.
    allowed: Vec<Vec<u32>>,
    /// Per class (in `PunctuationClass::ALL` order), the read-out of a slot
    /// of a window starting on that class.
    slot_rows: Vec<usize>,
}

/// `text` without the characters of `class`.
fn outside(text: &str, class: PunctuationClass) -> String {
    text.chars().filter(|c| PunctuationClass::of_char(*c) != Some(class)).collect()
}

impl FamilyVocabulary {
    /// The read-outs of the vocabulary whose tokens' texts are `texts` (in id
    /// order; special tokens first), choosing a start's class by `weight`.
    pub fn new(texts: &[String], weight: impl Fn(PunctuationClass) -> f64) -> FamilyVocabulary {
        let special = |id: usize| id < SPECIAL_TOKENS.len();
        let varied: Vec<Option<PunctuationClass>> = texts
            .iter()
            .enumerate()
            .map(|(id, text)| {
                let present =
                    PunctuationClass::ALL.into_iter().filter(|class| text.chars().any(|c| PunctuationClass::of_char(c) == Some(*class)));
                // the heaviest class the token holds; ties to the first in `ALL`
                let pick = present.fold(None, |best: Option<PunctuationClass>, class| match best {
                    Some(b) if weight(b) >= weight(class) => Some(b),
                    _ => Some(class),
                });
                pick.filter(|_| !special(id))
            })
            .collect();
        // per class, the tokens grouped by what they hold outside it
        let by_outside: Vec<HashMap<String, Vec<u32>>> = PunctuationClass::ALL
            .into_iter()
            .map(|class| {
                let mut groups: HashMap<String, Vec<u32>> = HashMap::new();
                for (id, text) in texts.iter().enumerate().filter(|(id, _)| !special(*id)) {
                    groups.entry(outside(text, class)).or_default().push(id as u32);
                }
                groups
            })
            .collect();
        let deletions = [PAD, EOS];
        let one_class =
            |id: usize| !special(id) && !texts[id].contains(char::is_whitespace) && PunctuationClass::of_text(&texts[id]).is_some();
        let mut any: Vec<u32> = deletions.to_vec();
        any.extend((0..texts.len()).filter(|&id| one_class(id)).map(|id| id as u32));
        let mut allowed = vec![any];
        let mut rows: HashMap<(PunctuationClass, String), usize> = HashMap::new();
        let mut row = |class: PunctuationClass, key: String, allowed: &mut Vec<Vec<u32>>| -> usize {
            *rows.entry((class, key.clone())).or_insert_with(|| {
                let c = PunctuationClass::ALL.iter().position(|k| *k == class).expect("listed");
                let mut ids = if key.is_empty() { deletions.to_vec() } else { Vec::new() };
                ids.extend(by_outside[c].get(&key).map_or(&[][..], Vec::as_slice));
                ids.sort_unstable();
                allowed.push(ids);
                allowed.len() - 1
            })
        };
        let slot_rows = PunctuationClass::ALL.into_iter().map(|class| row(class, String::new(), &mut allowed)).collect();
        let row_of = texts
            .iter()
            .zip(&varied)
            .enumerate()
            .map(|(id, (text, class))| match *class {
                Some(class) => row(class, outside(text, class), &mut allowed),
                // a token without punctuation stays itself; `<eos>`/`<pad>` stay the end
                None => {
                    allowed.push(if special(id) { deletions.to_vec() } else { vec![id as u32] });
                    allowed.len() - 1
                }
            })
            .collect();
        FamilyVocabulary { varied, row_of, allowed, slot_rows }
    }

    /// The class a window starting on token `id` rewrites (`None`: none).
    pub fn varied(&self, id: u32) -> Option<PunctuationClass> {
        self.varied.get(id as usize).copied().flatten()
    }

    /// The ids a window position over token `id` may be read out as, ascending.
    pub fn allowed(&self, id: u32) -> &[u32] {
        self.row_of.get(id as usize).map_or(&[][..], |&row| &self.allowed[row])
    }

    /// The ids an inserted slot of a window starting on token `start`
    /// (`None`: the end) may be read out as, ascending.
    pub fn slot_allowed(&self, start: Option<u32>) -> &[u32] {
        let row = match start.and_then(|id| self.varied(id)) {
            Some(class) => self.slot_rows[PunctuationClass::ALL.iter().position(|k| *k == class).expect("listed")],
            None => 0,
        };
        &self.allowed[row]
    }

    /// The read-out of one window: per position `lo..=hi` of the row (the
    /// first `inserts` of them slots before `start`, then the row's tokens
    /// `row[p]`), the ids it may be decoded as. With `change`, a token that
    /// holds punctuation may not be read out as itself: the model picks the
    /// most plausible of its wrong forms (over `)`, a deletion, `))` or `(`).
    pub fn window_cells(&self, row: &[u32], lo: usize, hi: usize, inserts: usize, change: bool) -> Vec<(usize, Vec<u32>)> {
        let start = row.get(lo + inserts).copied().filter(|&id| id != EOS && id != PAD);
        (lo..=hi.min(row.len().saturating_sub(1)))
            .map(|p| match p < lo + inserts {
                true => (p, self.slot_allowed(start).to_vec()),
                false => {
                    let id = row[p];
                    let allowed = self.allowed(id);
                    match change && self.varied(id).is_some() {
                        true => (p, allowed.iter().copied().filter(|&a| a != id).collect()),
                        false => (p, allowed.to_vec()),
                    }
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PunctuationClass::{Bracket, Separator};

    fn vocabulary() -> (Vec<String>, FamilyVocabulary) {
        let mut texts: Vec<String> = SPECIAL_TOKENS.iter().map(|_| String::new()).collect();
        texts.extend([")", "))", "(", ",", ")*", "*", "SUM(", "SUM", "A1", "),", "*(", " )"].map(String::from));
        let weights = |class: PunctuationClass| match class {
            Bracket => 4.0,
            Separator => 6.0,
            _ => 0.5,
        };
        let vocab = FamilyVocabulary::new(&texts, weights);
        (texts, vocab)
    }

    #[test]
    fn a_window_rewrites_only_the_heaviest_class_its_token_holds() {
        let (texts, vocab) = vocabulary();
        let id = |s: &str| texts.iter().position(|t| t == s).unwrap() as u32;
        let show = |ids: &[u32]| -> Vec<String> {
            ids.iter().map(|&id| if id == PAD || id == EOS { "<del>".into() } else { texts[id as usize].clone() }).collect()
        };
        assert_eq!(vocab.varied(id(")*")), Some(Bracket), "bracket (4) outweighs operator (0.5)");
        assert_eq!(vocab.varied(id("),")), Some(Separator), "separator (6) outweighs bracket (4)");
        assert_eq!(vocab.varied(id("A1")), None);
        assert_eq!(vocab.varied(0), None, "special tokens start nothing");
        // a pure bracket: any bracket token (not one with a space), or a deletion
        assert_eq!(show(vocab.allowed(id(")"))), ["<del>", "<del>", ")", "))", "("]);
        // `)*`: the tokens that hold `*` and otherwise brackets; no deletion (it would drop the `*`)
        assert_eq!(show(vocab.allowed(id(")*"))), [")*", "*", "*("]);
        assert_eq!(show(vocab.allowed(id("SUM("))), ["SUM(", "SUM"]);
        // `),` varies its separator: the tokens that are `)` outside separators
        assert_eq!(show(vocab.allowed(id("),"))), [")", "),"]);
        // no punctuation: itself; the end stays the end
        assert_eq!(show(vocab.allowed(id("A1"))), ["A1"]);
        assert_eq!(show(vocab.allowed(EOS)), ["<del>", "<del>"]);
        // slots: the start's class, or any one class without punctuation or at the end
        assert_eq!(show(vocab.slot_allowed(Some(id(")*")))), ["<del>", "<del>", ")", "))", "("]);
        let any = ["<del>", "<del>", ")", "))", "(", ",", "*"];
        assert_eq!(show(vocab.slot_allowed(Some(id("A1")))), any);
        assert_eq!(show(vocab.slot_allowed(None)), any);
    }

    #[test]
    fn window_cells_give_slots_the_start_class_and_tokens_their_own() {
        let (texts, vocab) = vocabulary();
        let id = |s: &str| texts.iter().position(|t| t == s).unwrap() as u32;
        // a row `A1 <mask> )* <eos> <pad>` with a window over the slot and `)*`
        let row = [id("A1"), crate::tokenizer::MASK, id(")*"), EOS, PAD];
        let cells = vocab.window_cells(&row, 1, 2, 1, false);
        assert_eq!(cells, vec![(1, vocab.slot_allowed(Some(id(")*"))).to_vec()), (2, vocab.allowed(id(")*")).to_vec())]);
        // a window at the end: a slot before `<eos>`, and `<eos>` itself
        let cells = vocab.window_cells(&[id("A1"), crate::tokenizer::MASK, EOS, PAD], 1, 2, 1, false);
        assert_eq!(cells, vec![(1, vocab.slot_allowed(None).to_vec()), (2, vocab.allowed(EOS).to_vec())]);
    }

    #[test]
    fn a_changing_window_never_reads_punctuation_back_as_itself() {
        let (texts, vocab) = vocabulary();
        let id = |s: &str| texts.iter().position(|t| t == s).unwrap() as u32;
        // `A1 ) <eos>`, window over `A1` and `)`: the name stays, `)` must become
        // another bracket form or go
        let row = [id("A1"), id(")"), EOS, PAD];
        let cells = vocab.window_cells(&row, 0, 1, 0, true);
        assert_eq!(cells[0], (0, vec![id("A1")]));
        let show: Vec<&str> = cells[1].1.iter().map(|&i| if i == EOS || i == PAD { "<del>" } else { texts[i as usize].as_str() }).collect();
        assert_eq!(show, ["<del>", "<del>", "))", "("]);
        assert_eq!(vocab.window_cells(&row, 0, 1, 0, false)[1].1, vocab.allowed(id(")")));
    }
}
