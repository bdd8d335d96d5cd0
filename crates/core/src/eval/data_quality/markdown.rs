//! The data-quality report as Markdown (`outputs/data-quality/report.md`).

use super::{DataQualityReport, Paired, Regime, RegimeReport, SourceSummary};
use std::fmt::Write;

fn pct(x: f64) -> String {
    format!("{:.1}", 100.0 * x)
}

impl Regime {
    /// The section title.
    fn title(self) -> &'static str {
        match self {
            Regime::FromScratch => "Fixers trained from scratch (`<source>-s<seed>`)",
            Regime::Pretrained => "Fixers fine-tuned from the pretrained fixer (`<source>-pretrained-s<seed>`)",
        }
    }
}

impl DataQualityReport {
    /// The Markdown report; `seconds` (the whole comparison's wall clock) when known.
    pub fn markdown(&self, seconds: Option<f64>) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# Data quality: fixers trained on each pair source\n");
        let _ = writeln!(
            md,
            "One fixer recipe per regime (`lastmile fixer train`), only the pairs differ; scored on `{}` ({} items) by **{}** of the top beam.{}\n",
            self.bench.display(),
            self.items,
            self.metric,
            seconds.map(|s| format!(" The comparison took {:.1} min.", s / 60.0)).unwrap_or_default()
        );
        for regime in &self.regimes {
            regime.markdown(&mut md);
        }
        md
    }
}

impl RegimeReport {
    fn markdown(&self, md: &mut String) {
        let _ = writeln!(md, "## {}\n", self.regime.title());
        if !self.sources.is_empty() {
            tables(md, &self.sources, &self.paired);
        }
        if !self.guided_sources.is_empty() {
            let _ = writeln!(
                md,
                "\n### Checker-guided decoding\n\nThe same fixers, each item's answer the beam that passes the language's checker and is closest to the input (`guided`, as `eval repair` pools its candidates).\n"
            );
            tables(md, &self.guided_sources, &self.guided_paired);
        }
        if !self.families.is_empty() && !self.sources.is_empty() {
            let names: Vec<&String> = self.sources.iter().map(|s| &s.source).collect();
            let _ = writeln!(
                md,
                "\n### By edit family of the benchmark item (top beam, mean over seeds)\n\n| family | items |{}\n|---|---:|{}",
                names.iter().map(|n| format!(" {n} |")).collect::<String>(),
                "---:|".repeat(names.len())
            );
            for row in &self.families {
                let _ = writeln!(md, "| {} | {} |{}", row.family, row.items, rate_cells(&names, &row.by_source));
            }
        }
        if !self.scaling.is_empty() {
            let mut names: Vec<&String> = self.scaling.iter().flat_map(|row| row.by_source.keys()).collect();
            names.sort();
            names.dedup();
            let lead = names.iter().any(|n| *n == "lastmile") && names.iter().any(|n| *n == "rules");
            let _ = writeln!(
                md,
                "\n### By number of training pairs (top beam, one seed: `<source>-n<pairs>`)\n\n| pairs |{}{}\n|---:|{}{}",
                names.iter().map(|n| format!(" {n} |")).collect::<String>(),
                if lead { " lastmile − rules (points) |" } else { "" },
                "---:|".repeat(names.len()),
                if lead { "---:|" } else { "" }
            );
            for row in &self.scaling {
                let cells = rate_cells(&names, &row.by_source);
                let lead_cell = match (lead, row.by_source.get("lastmile"), row.by_source.get("rules")) {
                    (true, Some(a), Some(b)) => format!(" {:+.1} |", 100.0 * (a - b)),
                    (true, ..) => " n/a |".into(),
                    _ => String::new(),
                };
                let _ = writeln!(md, "| {} |{cells}{lead_cell}", row.pairs);
            }
        }
        md.push('\n');
    }
}

/// One ` rate |` cell per name, in order; ` n/a |` where `rates` has none.
fn rate_cells(names: &[&String], rates: &std::collections::BTreeMap<String, f64>) -> String {
    names.iter().map(|n| rates.get(*n).map_or(" n/a |".into(), |r| format!(" {} |", pct(*r)))).collect()
}

/// The per-source table and the paired tests of one decoding.
fn tables(md: &mut String, sources: &[SourceSummary], paired: &[Paired]) {
    let seeds: Vec<u64> =
        sources.iter().flat_map(|s| s.by_seed.keys().copied()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let seed_cols: String = seeds.iter().map(|s| format!(" seed {s} |")).collect();
    let _ = writeln!(md, "| source | mean ± std (points) |{seed_cols} pass@1 | pass@3 | pass@5 |");
    let _ = writeln!(md, "|---|---:|{}---:|---:|---:|", "---:|".repeat(seeds.len()));
    for s in sources {
        let cells: String = seeds.iter().map(|k| s.by_seed.get(k).map_or(" n/a |".into(), |r| format!(" {} |", pct(*r)))).collect();
        let p = |k| s.pass_at.get(&k).map_or("n/a".into(), |x| pct(*x));
        let _ = writeln!(md, "| {} | {} ± {} |{cells} {} | {} | {} |", s.source, pct(s.mean), pct(s.std), p(1), p(3), p(5));
    }
    if let Some(s) = sources.first() {
        let _ = writeln!(md, "\nRule-based fixer (no training) on the same items: {}.", pct(s.rule_based));
    }
    let _ = writeln!(
        md,
        "\nPaired test (McNemar, exact, two-sided):\n\n| a | b | seed | only a right | only b right | p |\n|---|---|---:|---:|---:|---:|"
    );
    for p in paired {
        let seed = p.seed.map_or("pooled".into(), |s| s.to_string());
        let _ = writeln!(md, "| {} | {} | {seed} | {} | {} | {:.3} |", p.a, p.b, p.only_a, p.only_b, p.p_value);
    }
}
