//! The benchmark split by the kind of mistake, so that a change to repair shows
//! where it helps: each item gets one kind, and every method's headline rate is
//! reported per kind.
//!
//! The kinds, first that holds wins:
//! - `parses`: the broken input passes the strict check (the parser sees no
//!   mistake: a wrong function, an operator for a separator, a missing `""`);
//! - `bracket_end`: the fix adds or drops brackets only at the end of the
//!   snippet (what a rule fixer that closes brackets can do);
//! - `bracket_inside`: any other bracket-only fix;
//! - otherwise the item's [`EditFamily`] at the checker's error
//!   ([`classify_at_error`]): `quote`, `separator` (`, ; :` and the sheet
//!   `!`: references), `operator`, `name`, `argument`, `other`.

use super::harness::Metrics;
use crate::dataset::BenchItem;
use crate::lang::{Language, PunctuationClass};
use crate::stats::families::{classify_at_error, EditFamily};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Every kind, in report order.
pub const KINDS: [&str; 9] = ["parses", "bracket_end", "bracket_inside", "quote", "separator", "operator", "name", "argument", "other"];

/// One kind of mistake: its items and each method's headline rate on them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KindRates {
    /// The kind (one of [`KINDS`]).
    pub kind: String,
    /// Benchmark items of this kind.
    pub items: usize,
    /// Method name (as in [`super::EvalReport::methods`]) -> the share of the
    /// kind's items it repairs by the headline metric.
    pub rates: BTreeMap<String, f64>,
}

/// The kind of mistake `item` holds (see the module header).
pub fn kind_of(lang: &dyn Language, item: &BenchItem) -> &'static str {
    let error = lang.check(&item.broken).err();
    if error.is_none() {
        return "parses";
    }
    match classify_at_error(lang, &item.broken, &item.truth) {
        EditFamily::Bracket => {
            let brackets = PunctuationClass::Bracket.chars();
            let body = |s: &str| s.trim_end().trim_end_matches(|c: char| brackets.contains(&c) || c.is_whitespace()).to_string();
            if body(&item.broken) == body(&item.truth) {
                "bracket_end"
            } else {
                "bracket_inside"
            }
        }
        family => family.name(),
    }
}

/// Per kind with items (in [`KINDS`] order), the headline rate of each method
/// of `per_method` (each a metrics list in item order).
pub fn rates_by_kind(kinds: &[&str], per_method: &BTreeMap<String, Vec<Metrics>>, headline: impl Fn(&Metrics) -> bool) -> Vec<KindRates> {
    KINDS
        .iter()
        .filter_map(|&kind| {
            let items: Vec<usize> = kinds.iter().enumerate().filter(|(_, k)| **k == kind).map(|(i, _)| i).collect();
            if items.is_empty() {
                return None;
            }
            let rates = per_method
                .iter()
                .map(|(method, metrics)| {
                    let hits = items.iter().filter(|&&i| metrics.get(i).is_some_and(&headline)).count();
                    (method.clone(), hits as f64 / items.len() as f64)
                })
                .collect();
            Some(KindRates { kind: kind.to_string(), items: items.len(), rates })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::LangId;

    fn item(broken: &str, truth: &str) -> BenchItem {
        BenchItem { id: "t".into(), broken: broken.into(), truth: truth.into() }
    }

    #[test]
    fn real_benchmark_mistakes_get_their_kind() {
        let excel = LangId::Excel.language();
        let cases = [
            ("=SUM(A1:A3", "=SUM(A1:A3)", "bracket_end"),
            ("=IF(A1>0,SUM(B1,1)", "=IF(A1>0,SUM(B1),1)", "bracket_inside"),
            ("=IF(B3>10;1;0)", "=IF(B3>10,1,0)", "separator"),
            ("=IF(A1=\"x,1,0)", "=IF(A1=\"x\",1,0)", "quote"),
            ("=SUM(A1:A3)+1", "=SUM(A1:A4)+1", "parses"),
        ];
        for (broken, truth, kind) in cases {
            assert_eq!(kind_of(excel, &item(broken, truth)), kind, "{broken} -> {truth}");
        }
    }

    #[test]
    fn rates_count_only_the_kinds_items() {
        let hit = Metrics { exec: true, ..Default::default() };
        let miss = Metrics::default();
        let per_method: BTreeMap<String, Vec<Metrics>> =
            [("guided".to_string(), vec![hit, miss, hit]), ("rule_based".to_string(), vec![miss, miss, hit])].into_iter().collect();
        let rows = rates_by_kind(&["separator", "separator", "parses"], &per_method, |m| m.exec);
        assert_eq!(rows.iter().map(|r| (r.kind.as_str(), r.items)).collect::<Vec<_>>(), [("parses", 1), ("separator", 2)]);
        assert_eq!(rows[1].rates["guided"], 0.5);
        assert_eq!(rows[1].rates["rule_based"], 0.0);
        assert_eq!(rows[0].rates["rule_based"], 1.0);
    }
}
