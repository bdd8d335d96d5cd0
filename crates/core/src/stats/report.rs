//! Writing statistics: `stats.json`, `stats.md` and PNG plots.

use super::{DatasetStats, GroupStats, StatsError};
use crate::dataset::write_file_atomic;
use crate::io_error::IoError;
use crate::plot::{line_chart, LineChart, Series};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// The files a report consists of.
#[derive(Debug, Clone)]
pub struct ReportFiles {
    /// `stats.json`.
    pub json: PathBuf,
    /// `stats.md`.
    pub markdown: PathBuf,
    /// The PNG plots.
    pub plots: Vec<PathBuf>,
}

fn opt(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.3}"))
}

fn group_row(label: &str, g: &GroupStats) -> String {
    let d = &g.token_edit_distance;
    format!(
        "| {label} | {} | {:.2} | {} | {} | {} | {} | {:.1}% | {:.3} / {:.3} / {:.3} / {:.3} | {} / {} / {} / {} |",
        g.pairs,
        d.mean,
        d.median,
        d.p90,
        opt(g.localization),
        format_args!("{:.2}", g.span),
        100.0 * g.broken_invalid,
        g.distinct_n[0],
        g.distinct_n[1],
        g.distinct_n[2],
        g.distinct_n[3],
        opt(g.pairwise_similarity[0]),
        opt(g.pairwise_similarity[1]),
        opt(g.pairwise_similarity[2]),
        opt(g.pairwise_similarity[3]),
    )
}

/// The Markdown summary.
pub fn markdown(stats: &DatasetStats, plots: &[PathBuf]) -> String {
    let mut out = format!("# Statistics of `{}`\n\n{} pairs.\n\n", stats.input, stats.pairs);
    out.push_str(
        "Tokens are the language's lexer tokens after whitespace normalisation. *Edits*: token edit distance \
         (mean, median, p90). *Loc.*: mean distance between edited positions (pairs with 2+ edits). *Span*: \
         first to last edit. *Invalid*: broken side fails the strict syntax check. *distinct-n* (n = 1..4) over \
         broken snippets; *similarity-n*: mean pairwise n-gram Jaccard similarity of a sample of broken snippets \
         (lower = more diverse).\n\n",
    );
    let header = "| group | pairs | edits | median | p90 | loc. | span | invalid | distinct-1/2/3/4 | similarity-1/2/3/4 |\n|---|---|---|---|---|---|---|---|---|---|\n";
    for lang in &stats.languages {
        let _ = writeln!(out, "## {}\n", lang.lang);
        out.push_str(header);
        out.push_str(&group_row("all", &lang.overall));
        out.push('\n');
        for b in &lang.by_t {
            out.push_str(&group_row(&format!("t ∈ [{:.1}, {:.1})", b.t_lo, b.t_hi), &b.stats));
            out.push('\n');
        }
        out.push('\n');
    }
    out.push_str(&families_section(stats));
    if let Some(trends) = &stats.chain_trends {
        out.push_str("## Chain trends (Figure 2 of the repair paper)\n\nPer reverse step, by noise level: tokens whose decoding changed, and the distance between the first and last changed token.\n\n| source | t from | steps | tokens changed | change span | max span |\n|---|---|---|---|---|---|\n");
        for t in trends {
            let _ = writeln!(
                out,
                "| {} | {:.2} | {} | {:.2} | {:.2} | {} |",
                t.source, t.t_lo, t.steps, t.tokens_changed, t.change_span, t.max_change_span
            );
        }
        out.push('\n');
    }
    for plot in plots {
        let name = plot.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let _ = writeln!(out, "![{name}]({name})");
    }
    out
}

/// Figure 7's measures per source side by side, and the edit families with
/// their distance to the real benchmark's.
fn families_section(stats: &DatasetStats) -> String {
    use super::families::EditFamily;
    let mut out = String::new();
    let names: Vec<&str> = EditFamily::ALL.iter().map(|f| f.name()).collect();
    let shares = |f: &[f64; 7]| f.iter().map(|v| format!("{:.1}%", 100.0 * v)).collect::<Vec<_>>().join(" | ");
    for lang in &stats.languages {
        if !lang.by_source.is_empty() {
            let _ = writeln!(
                out,
                "## {}: by source (Figure 7)\n\n*Localisation* (loc.): mean distance between the edited token positions of a pair \
                 (pairs with 2+ edits). *Diversity*: distinct-n and the mean pairwise n-gram Jaccard similarity of {} broken \
                 sides sampled evenly (lower = more diverse). *Complexity*: token edit distance.\n",
                lang.lang,
                super::SIMILARITY_SAMPLE
            );
            out.push_str("| source | pairs | edits | median | p90 | loc. | span | invalid | distinct-1/2/3/4 | similarity-1/2/3/4 |\n|---|---|---|---|---|---|---|---|---|---|\n");
            for s in &lang.by_source {
                out.push_str(&group_row(&s.source, &s.stats));
                out.push('\n');
            }
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "## {}: edit families\n\nEvery pair's edit classified by one rule set (`stats::families`: bracket, quote, separator, \
             operator, name, argument, other). *JS*: Jensen-Shannon distance (base 2, 0 = the same distribution, 1 = disjoint) \
             to the families of the real benchmark's Buggy -> GroundTruth edits.\n",
            lang.lang
        );
        let _ = writeln!(out, "| pairs | {} | JS to real |\n|---|{}---|", names.join(" | "), "---|".repeat(names.len()));
        let js = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.3}"));
        let _ = writeln!(out, "| all ({}) | {} | {} |", lang.overall.pairs, shares(&lang.families), js(lang.realism_js));
        for s in &lang.by_source {
            let _ = writeln!(out, "| {} ({}) | {} | {} |", s.source, s.stats.pairs, shares(&s.families), js(s.realism_js));
        }
        if let Some(real) = &stats.real {
            let _ = writeln!(out, "| real: `{}` ({}) | {} | 0 |", real.path, real.pairs, shares(&real.families));
        }
        out.push('\n');
    }
    out
}

/// Writes `stats.json`, `stats.md` and the plots into `dir`.
pub fn write_report(stats: &DatasetStats, dir: &Path) -> Result<ReportFiles, StatsError> {
    std::fs::create_dir_all(dir).map_err(IoError::at(dir.to_path_buf()))?;
    let mut plots = Vec::new();

    let histogram: Vec<Series> = stats
        .languages
        .iter()
        .map(|l| {
            let total = l.overall.pairs.max(1) as f64;
            let points = l.overall.token_edit_distance.histogram.iter().enumerate().map(|(k, &c)| (k as f64, c as f64 / total)).collect();
            Series { label: l.lang.clone(), points }
        })
        .collect();
    let mut draw = |name: &str, chart: LineChart<'_>| -> Result<(), StatsError> {
        if chart.series.iter().all(|s| s.points.is_empty()) {
            return Ok(());
        }
        let path = dir.join(name);
        line_chart(&chart, &path)?;
        plots.push(path);
        Ok(())
    };
    // edit families: one line per source (and the real benchmark), x = family
    let mut family_series: Vec<Series> = Vec::new();
    for l in &stats.languages {
        let line = |label: String, f: &[f64; 7]| Series { label, points: f.iter().enumerate().map(|(k, v)| (k as f64, *v)).collect() };
        if l.by_source.is_empty() {
            family_series.push(line(l.lang.clone(), &l.families));
        }
        for s in &l.by_source {
            family_series.push(line(format!("{} {}", l.lang, s.source), &s.families));
        }
    }
    if let Some(real) = &stats.real {
        family_series.push(Series {
            label: "real benchmark".into(),
            points: real.families.iter().enumerate().map(|(k, v)| (k as f64, *v)).collect(),
        });
    }
    draw(
        "edit_families.png",
        LineChart {
            title: "Edit families: 0 bracket, 1 quote, 2 separator, 3 operator, 4 name, 5 argument, 6 other",
            x_label: "edit family",
            y_label: "fraction of pairs",
            series: family_series,
            y_range: Some((0.0, 1.0)),
            markers: Vec::new(),
        },
    )?;
    draw(
        "edit_distance.png",
        LineChart {
            title: "Complexity: token edit distance",
            x_label: "token edits",
            y_label: "fraction of pairs",
            series: histogram,
            y_range: None,
            markers: Vec::new(),
        },
    )?;
    let by_t = |f: fn(&GroupStats) -> Option<f64>, suffix: &str| -> Vec<Series> {
        stats
            .languages
            .iter()
            .map(|l| Series {
                label: format!("{}{suffix}", l.lang),
                points: l.by_t.iter().filter_map(|b| f(&b.stats).map(|v| ((b.t_lo + b.t_hi) / 2.0, v))).collect(),
            })
            .collect()
    };
    let mut edits = by_t(|g| Some(g.token_edit_distance.mean), " edits");
    edits.extend(by_t(|g| g.localization, " localization"));
    draw(
        "by_t_edits.png",
        LineChart {
            title: "Edits and localization vs noise level",
            x_label: "t / T",
            y_label: "tokens",
            series: edits,
            y_range: None,
            markers: Vec::new(),
        },
    )?;
    draw(
        "by_t_invalid.png",
        LineChart {
            title: "Broken snippets failing the syntax check vs noise level",
            x_label: "t / T",
            y_label: "fraction",
            series: by_t(|g| Some(g.broken_invalid), ""),
            y_range: Some((0.0, 1.0)),
            markers: Vec::new(),
        },
    )?;
    let diversity: Vec<Series> = stats
        .languages
        .iter()
        .map(|l| Series { label: l.lang.clone(), points: (0..4).map(|k| ((k + 1) as f64, l.overall.distinct_n[k])).collect() })
        .collect();
    draw(
        "diversity.png",
        LineChart {
            title: "Diversity: distinct n-grams of broken snippets",
            x_label: "n",
            y_label: "distinct-n",
            series: diversity,
            y_range: Some((0.0, 1.0)),
            markers: Vec::new(),
        },
    )?;
    if let Some(trends) = &stats.chain_trends {
        let mut sources: Vec<&str> = trends.iter().map(|t| t.source.as_str()).collect();
        sources.dedup();
        let mut series = Vec::new();
        for source in sources {
            let of = |f: fn(&super::ChainTrend) -> f64| -> Vec<(f64, f64)> {
                trends.iter().filter(|t| t.source == source).map(|t| (t.t_lo + 0.5 / f64::from(super::TREND_BUCKETS), f(t))).collect()
            };
            series.push(Series { label: format!("{source}: tokens changed"), points: of(|t| t.tokens_changed) });
            series.push(Series { label: format!("{source}: change span"), points: of(|t| t.change_span) });
        }
        draw(
            "chain_trends.png",
            LineChart {
                title: "Chain trends per reverse step",
                x_label: "t / T",
                y_label: "tokens",
                series,
                y_range: None,
                markers: Vec::new(),
            },
        )?;
    }

    let json = dir.join("stats.json");
    write_file_atomic(&json, &serde_json::to_vec_pretty(stats).expect("stats serialise"))?;
    let md = dir.join("stats.md");
    write_file_atomic(&md, markdown(stats, &plots).as_bytes())?;
    Ok(ReportFiles { json, markdown: md, plots })
}
