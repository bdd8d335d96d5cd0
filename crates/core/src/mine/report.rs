//! The machine-readable account of a mining run: every input counted, every
//! drop reason counted, every bad input located.

use super::drop::DropReason;
use super::sources::Diagnostic;
use crate::dataset::ShardInfo;
use serde::Serialize;
use std::collections::BTreeMap;

/// How many located diagnostics a report keeps verbatim.
const MAX_EXAMPLES: usize = 50;

/// The report written as `report.json` next to the shards.
#[derive(Debug, Clone, Serialize, Default)]
pub struct MineReport {
    /// Language mined.
    pub lang: String,
    /// Raw snippets considered (lines, JSON records, source units).
    pub inputs: u64,
    /// Snippets kept, per split.
    pub kept: BTreeMap<String, u64>,
    /// Snippets dropped, per reason (every reason listed, zeros included).
    pub dropped: BTreeMap<String, u64>,
    /// Problems with the input: missing files, broken JSON, invalid UTF-8.
    pub bad_input: BadInput,
    /// Source files read, and those that did not parse as a whole.
    pub files: FileCounts,
    /// Per configured source: inputs and kept snippets.
    pub sources: Vec<SourceCounts>,
    /// Most frequent syntax-error messages among dropped snippets.
    pub syntax_error_reasons: Vec<ReasonCount>,
    /// Distinct benchmark sketches and texts used for decontamination.
    pub benchmark_snippets: usize,
    /// The shards written, per split.
    pub shards: BTreeMap<String, Vec<ShardInfo>>,
}

/// Bad input, counted and located.
#[derive(Debug, Clone, Serialize, Default)]
pub struct BadInput {
    /// How many problems were met.
    pub count: u64,
    /// The first few, as `file:line: reason`.
    pub examples: Vec<String>,
}

/// File counts.
#[derive(Debug, Clone, Serialize, Default)]
pub struct FileCounts {
    /// Files opened and read.
    pub read: u64,
    /// Source files skipped because they do not parse.
    pub unparsable: u64,
}

/// Counts for one configured source.
#[derive(Debug, Clone, Serialize)]
pub struct SourceCounts {
    /// The source path, as configured.
    pub path: String,
    /// Raw snippets read from it.
    pub inputs: u64,
    /// Snippets kept from it.
    pub kept: u64,
}

/// A message and how often it occurred.
#[derive(Debug, Clone, Serialize)]
pub struct ReasonCount {
    /// The message, with quoted code replaced by `…`.
    pub reason: String,
    /// Occurrences.
    pub count: u64,
}

impl MineReport {
    /// An empty report for `lang` with every drop reason at zero.
    pub fn new(lang: &str) -> Self {
        MineReport {
            lang: lang.to_string(),
            dropped: DropReason::ALL.iter().map(|r| (r.name().to_string(), 0)).collect(),
            kept: [("train".to_string(), 0), ("valid".to_string(), 0)].into(),
            ..MineReport::default()
        }
    }

    /// Total snippets kept.
    pub fn kept_total(&self) -> u64 {
        self.kept.values().sum()
    }

    pub(crate) fn drop(&mut self, reason: DropReason) {
        *self.dropped.entry(reason.name().to_string()).or_default() += 1;
    }

    pub(crate) fn bad_input(&mut self, diagnostic: &Diagnostic) {
        self.bad_input.count += 1;
        if self.bad_input.examples.len() < MAX_EXAMPLES {
            self.bad_input.examples.push(diagnostic.to_string());
        }
    }
}

/// Tallies syntax-error messages with the quoted code blanked out, so that
/// `unexpected `)`` and `unexpected `,`` count as one reason.
#[derive(Debug, Default)]
pub(crate) struct ReasonTally(BTreeMap<String, u64>);

impl ReasonTally {
    pub(crate) fn add(&mut self, message: &str) {
        let mut generic = String::with_capacity(message.len());
        for (i, part) in message.split('`').enumerate() {
            if i % 2 == 1 {
                generic.push_str("`…`");
            } else {
                generic.push_str(part);
            }
        }
        *self.0.entry(generic).or_default() += 1;
    }

    pub(crate) fn top(&self, n: usize) -> Vec<ReasonCount> {
        let mut all: Vec<_> = self.0.iter().map(|(r, c)| ReasonCount { reason: r.clone(), count: *c }).collect();
        all.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.reason.cmp(&b.reason)));
        all.truncate(n);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_groups_messages_by_shape() {
        let mut tally = ReasonTally::default();
        tally.add("unexpected `)`, expected an operand");
        tally.add("unexpected `,`, expected an operand");
        tally.add("unterminated string");
        let top = tally.top(5);
        assert_eq!(top[0].reason, "unexpected `…`, expected an operand");
        assert_eq!(top[0].count, 2);
    }
}
