//! Normalisation of raw snippets and the reasons a snippet is dropped.

use serde::Serialize;

/// Why a raw snippet did not make it into the corpus. The order of the
/// variants is the order in which the filters run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// Bytes that are not UTF-8.
    InvalidUtf8,
    /// Control characters other than tab and newline.
    ControlChars,
    /// Nothing left after normalisation.
    Empty,
    /// Fewer characters than `limits.min_chars`.
    TooShort,
    /// More characters than `limits.max_chars`.
    TooLong,
    /// The same normalised text was already kept (or dropped later) before.
    Duplicate,
    /// The strict syntax check of the language failed.
    SyntaxError,
    /// Its sketch equals the sketch of a repair-benchmark snippet.
    Contaminated,
}

impl DropReason {
    /// Every reason, in filter order.
    pub const ALL: [DropReason; 8] = [
        DropReason::InvalidUtf8,
        DropReason::ControlChars,
        DropReason::Empty,
        DropReason::TooShort,
        DropReason::TooLong,
        DropReason::Duplicate,
        DropReason::SyntaxError,
        DropReason::Contaminated,
    ];

    /// The snake_case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::InvalidUtf8 => "invalid_utf8",
            DropReason::ControlChars => "control_chars",
            DropReason::Empty => "empty",
            DropReason::TooShort => "too_short",
            DropReason::TooLong => "too_long",
            DropReason::Duplicate => "duplicate",
            DropReason::SyntaxError => "syntax_error",
            DropReason::Contaminated => "contaminated",
        }
    }
}

/// Normalises a snippet: removes byte-order marks (U+FEFF), turns `\r\n` and `\r` into
/// `\n`, removes trailing spaces of every line and leading/trailing blank lines.
/// Rejects control characters other than tab and newline.
pub fn normalize(raw: &str) -> Result<String, DropReason> {
    // U+FEFF is a byte-order mark at the start and an invisible no-op anywhere else
    let unified = raw.replace('\u{feff}', "").replace("\r\n", "\n").replace('\r', "\n");
    if unified.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(DropReason::ControlChars);
    }
    let lines: Vec<&str> = unified.lines().map(str::trim_end).collect();
    let first = lines.iter().position(|l| !l.trim().is_empty());
    let last = lines.iter().rposition(|l| !l.trim().is_empty());
    match (first, last) {
        (Some(first), Some(last)) => Ok(lines[first..=last].join("\n")),
        _ => Err(DropReason::Empty),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normalizes_layout() {
        assert_eq!(normalize("\u{feff}\r\n  a  \r\n\tb\t\n\n").unwrap(), "  a\n\tb");
        assert_eq!(normalize(" \n\t\n"), Err(DropReason::Empty));
        assert_eq!(normalize("a\u{0}b"), Err(DropReason::ControlChars));
    }

    proptest! {
        #[test]
        fn normalize_is_idempotent(s in "[ a-z\\t\\r\\n\u{feff}]{0,40}") {
            if let Ok(once) = normalize(&s) {
                prop_assert_eq!(normalize(&once).unwrap(), once);
            }
        }
    }
}
