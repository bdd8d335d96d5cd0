//! Per-source summaries of one decoding's per-item outcomes, and McNemar's exact
//! test between every two sources on the same items, per seed and pooled.

use super::super::harness::Headline;
use super::super::ranked::FixerEvalRun;
use super::{Paired, SourceSummary};
use std::collections::BTreeMap;

/// Runs by source and seed.
pub(super) type Runs = BTreeMap<String, BTreeMap<u64, FixerEvalRun>>;

/// Per source mean ± std of one decoding's per-item outcomes (`outcome`), and
/// McNemar's test between every two sources, per seed and pooled.
pub(super) fn compare(
    runs: &Runs,
    items: usize,
    headline: Headline,
    outcome: fn(&FixerEvalRun) -> &[bool],
) -> (Vec<SourceSummary>, Vec<Paired>) {
    let sources = runs
        .iter()
        .map(|(source, by_seed)| {
            let rates: BTreeMap<u64, f64> =
                by_seed.iter().map(|(s, r)| (*s, outcome(r).iter().filter(|&&x| x).count() as f64 / items as f64)).collect();
            let n = rates.len() as f64;
            let mean = rates.values().sum::<f64>() / n;
            let std = if rates.len() > 1 { (rates.values().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() } else { 0.0 };
            let mut pass_at: BTreeMap<usize, f64> = BTreeMap::new();
            for run in by_seed.values() {
                for (k, p) in &run.report.pass_at {
                    *pass_at.entry(*k).or_default() += p / n;
                }
            }
            let rule_based = by_seed.values().map(|r| headline.rate(&r.report.methods["rule_based"])).sum::<f64>() / n;
            SourceSummary { source: source.clone(), by_seed: rates, mean, std, pass_at, rule_based }
        })
        .collect();
    let names: Vec<&String> = runs.keys().collect();
    let mut paired = Vec::new();
    for (i, a) in names.iter().enumerate() {
        for b in &names[i + 1..] {
            let (mut pooled_a, mut pooled_b) = (0, 0);
            for (seed, run_a) in &runs[*a] {
                let Some(run_b) = runs[*b].get(seed) else { continue };
                let (xs, ys) = (outcome(run_a), outcome(run_b));
                let only_a = xs.iter().zip(ys).filter(|(x, y)| **x && !**y).count();
                let only_b = xs.iter().zip(ys).filter(|(x, y)| !**x && **y).count();
                pooled_a += only_a;
                pooled_b += only_b;
                paired.push(Paired {
                    a: (*a).clone(),
                    b: (*b).clone(),
                    seed: Some(*seed),
                    only_a,
                    only_b,
                    p_value: mcnemar_exact(only_a, only_b),
                });
            }
            paired.push(Paired {
                a: (*a).clone(),
                b: (*b).clone(),
                seed: None,
                only_a: pooled_a,
                only_b: pooled_b,
                p_value: mcnemar_exact(pooled_a, pooled_b),
            });
        }
    }
    (sources, paired)
}

/// Two-sided exact McNemar p-value for `b` and `c` discordant items.
pub fn mcnemar_exact(b: usize, c: usize) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    // P(X <= min(b, c)) for X ~ Binomial(n, 1/2), in log space for large n
    let k = b.min(c);
    let ln_half_n = n as f64 * 0.5f64.ln();
    let mut ln_choose = 0.0; // ln C(n, 0)
    let mut tail = 0.0;
    for i in 0..=k {
        if i > 0 {
            ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        tail += (ln_choose + ln_half_n).exp();
    }
    (2.0 * tail).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcnemar_matches_the_binomial_tail() {
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        // b = 0, c = 5: 2 * 0.5^5 = 0.0625
        assert!((mcnemar_exact(0, 5) - 0.0625).abs() < 1e-12);
        // b = 1, c = 9: 2 * (1 + 10) / 1024
        assert!((mcnemar_exact(9, 1) - 22.0 / 1024.0).abs() < 1e-12);
        assert_eq!(mcnemar_exact(5, 5), 1.0);
        assert!(mcnemar_exact(400, 500) < 0.01 && mcnemar_exact(400, 500) > 0.0);
    }
}
