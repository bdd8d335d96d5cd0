//! What a repair evaluation answered for each item, one JSONL file per method
//! (`predictions-paper.jsonl`, `predictions-localised.jsonl`): the item's id,
//! input and fix, the method's choice (`prediction`: guided, or ranked where
//! the candidates were scored) and every distinct candidate, the choice first
//! (`candidates`), with how many chains wrote each (`votes`) and the model's
//! plausibility of each valid one (`plausibility`, where scored). The files are in the format
//! `lastmile eval predictions` reads, so a choice can be re-scored, compared
//! with another model's, or read item by item.

use crate::dataset::BenchItem;
use crate::lang::Language;
use crate::repair::{choose, Candidate, Pooling};
use serde::Serialize;

/// One item's answer by one method.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChosenRepair {
    /// The benchmark's id of the item.
    pub id: String,
    /// The broken input.
    pub broken: String,
    /// The benchmark's fix.
    pub truth: String,
    /// The choice; absent when the item got no candidate (too long).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prediction: Option<String>,
    /// Distinct candidate texts, the choice first, then in level and sample order.
    pub candidates: Vec<String>,
    /// Per candidate, the chains that wrote it.
    pub votes: Vec<usize>,
    /// Per candidate, its token edit distance to the input.
    pub edits: Vec<usize>,
    /// Per candidate, its [`crate::repair::plausibility`] (`null` for an
    /// invalid one); empty where the candidates were not scored.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plausibility: Vec<Option<f64>>,
}

/// The answers of one method to every item (`candidates[i]`: item `i`'s, or
/// `None` when it had none), chosen by `pooling`.
pub fn chosen_repairs(
    lang: &dyn Language,
    items: &[BenchItem],
    candidates: &[Option<Vec<Candidate>>],
    pooling: Pooling,
) -> Vec<ChosenRepair> {
    items
        .iter()
        .zip(candidates)
        .map(|(item, found)| {
            let found = found.as_deref().unwrap_or_default();
            let prediction = choose(found, lang, pooling).map(|c| c.text.clone());
            // each distinct text: its first candidate and the candidates that wrote it
            let mut distinct: Vec<(&Candidate, usize)> = Vec::new();
            for c in found {
                match distinct.iter_mut().find(|(first, _)| first.text == c.text) {
                    Some((_, votes)) => *votes += 1,
                    None => distinct.push((c, 1)),
                }
            }
            if let Some(chosen) = &prediction {
                let at = distinct.iter().position(|(c, _)| &c.text == chosen).expect("the choice is a candidate");
                let first = distinct.remove(at);
                distinct.insert(0, first);
            }
            let scored = found.iter().any(|c| c.plausibility.is_some());
            ChosenRepair {
                id: item.id.clone(),
                broken: item.broken.clone(),
                truth: item.truth.clone(),
                prediction,
                candidates: distinct.iter().map(|(c, _)| c.text.clone()).collect(),
                votes: distinct.iter().map(|(_, votes)| *votes).collect(),
                edits: distinct.iter().map(|(c, _)| c.token_edit_distance).collect(),
                plausibility: if scored { distinct.iter().map(|(c, _)| c.plausibility).collect() } else { Vec::new() },
            }
        })
        .collect()
}

/// The JSONL of `repairs`, one line an item.
pub fn to_jsonl(repairs: &[ChosenRepair]) -> String {
    repairs.iter().map(|r| serde_json::to_string(r).expect("strings serialise") + "\n").collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::LangId;

    #[test]
    fn the_guided_choice_comes_first_and_candidates_are_distinct() {
        let excel = LangId::Excel.language();
        let items = vec![
            BenchItem { id: "t/0".into(), broken: "=SUM(A1:A3".into(), truth: "=SUM(A1:A3)".into() },
            BenchItem { id: "t/1".into(), broken: "=A1+".into(), truth: "=A1+1".into() },
        ];
        let c = |level: f64, text: &str, edits| Candidate {
            level,
            sample: 0,
            text: text.into(),
            valid: excel.check(text).is_ok(),
            token_edit_distance: edits,
            plausibility: None,
            preferred: false,
        };
        let found = vec![c(0.1, "=SUM(A1:A3", 0), c(0.3, "=SUM(A1:A3))", 2), c(0.6, "=SUM(A1:A3)", 1), c(1.0, "=SUM(A1:A3)", 1)];
        let repairs = chosen_repairs(excel, &items, &[Some(found), None], Pooling::Guided);
        assert_eq!(repairs[0].prediction.as_deref(), Some("=SUM(A1:A3)"), "the valid text most chains wrote");
        assert_eq!(repairs[0].candidates, ["=SUM(A1:A3)", "=SUM(A1:A3", "=SUM(A1:A3))"]);
        assert_eq!(repairs[0].votes, [2, 1, 1]);
        assert_eq!(repairs[0].edits, [1, 0, 2]);
        assert!(repairs[0].plausibility.is_empty(), "not scored");
        assert_eq!((repairs[1].prediction.as_ref(), repairs[1].candidates.len()), (None, 0), "an item without candidates");
        let lines = to_jsonl(&repairs);
        let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
        assert_eq!((first["id"].as_str(), first["truth"].as_str()), (Some("t/0"), Some("=SUM(A1:A3)")));
        // `eval predictions` reads the file back and scores the same choices
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("predictions-localised.jsonl");
        std::fs::write(&path, &lines).unwrap();
        let scored = crate::eval::score_predictions(excel, &items, &path, std::path::Path::new("t.json")).unwrap();
        assert_eq!(scored.report.methods["guided"].exact, 0.5, "one of two items fixed");
    }
}
