//! Where the sources differ: their fixers' top-beam rate on the benchmark items of
//! each edit family (what a source's pairs lack shows as a family its fixers miss),
//! and the rate of runs trained on fewer or more pairs of a source (does more data
//! keep helping?).

use super::paired::Runs;
use crate::stats::families::EditFamily;
use serde::Serialize;
use std::collections::BTreeMap;

/// One edit family of the benchmark: its items and each source's mean rate on them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FamilyRow {
    /// The family ([`EditFamily::name`]).
    pub family: String,
    /// Benchmark items of the family (the slip at the checker's error).
    pub items: usize,
    /// Per source: the top beam's rate on those items, mean over seeds.
    pub by_source: BTreeMap<String, f64>,
}

/// One pair count: each source's top-beam rate with that many training pairs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScalingRow {
    /// Training pairs.
    pub pairs: usize,
    /// Per source (without its `-n<pairs>`): the rate of its lowest seed's run.
    pub by_source: BTreeMap<String, f64>,
}

/// Per family of `families` (one per item, in benchmark order), each source's
/// mean top-beam rate on the family's items; families without items are left out.
pub(super) fn by_family(runs: &Runs, families: &[EditFamily]) -> Vec<FamilyRow> {
    EditFamily::ALL
        .iter()
        .filter_map(|&family| {
            let items: Vec<usize> = families.iter().enumerate().filter(|(_, f)| **f == family).map(|(i, _)| i).collect();
            if items.is_empty() {
                return None;
            }
            let by_source = runs
                .iter()
                .map(|(source, by_seed)| {
                    let rate = |top1: &[bool]| items.iter().filter(|&&i| top1[i]).count() as f64 / items.len() as f64;
                    let mean = by_seed.values().map(|run| rate(&run.top1)).sum::<f64>() / by_seed.len() as f64;
                    (source.clone(), mean)
                })
                .collect();
            Some(FamilyRow { family: family.name().into(), items: items.len(), by_source })
        })
        .collect()
}

/// Splits a source trained on a set number of pairs, `name-n<pairs>`, into
/// `(name, pairs)`.
pub(super) fn scaled_source(source: &str) -> Option<(&str, usize)> {
    let (name, pairs) = source.rsplit_once("-n")?;
    Some((name, pairs.parse().ok()?))
}

/// The rows of the runs named `name-n<pairs>`, by pair count; each source's run
/// of its lowest seed.
pub(super) fn scaling(runs: &Runs, items: usize) -> Vec<ScalingRow> {
    let mut rows: BTreeMap<usize, BTreeMap<String, f64>> = BTreeMap::new();
    for (source, by_seed) in runs {
        let (Some((name, pairs)), Some(run)) = (scaled_source(source), by_seed.values().next()) else { continue };
        let rate = run.top1.iter().filter(|&&x| x).count() as f64 / items.max(1) as f64;
        rows.entry(pairs).or_default().insert(name.to_string(), rate);
    }
    rows.into_iter().map(|(pairs, by_source)| ScalingRow { pairs, by_source }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_sources_carry_their_pair_count() {
        assert_eq!(scaled_source("lastmile-n5000"), Some(("lastmile", 5000)));
        assert_eq!(scaled_source("lastmile"), None);
        assert_eq!(scaled_source("rules-nx"), None);
    }
}
