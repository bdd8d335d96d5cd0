//! The reasons a raw snippet is dropped while mining.

use crate::dataset::Unnormalizable;
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

impl From<Unnormalizable> for DropReason {
    fn from(reason: Unnormalizable) -> Self {
        match reason {
            Unnormalizable::ControlChars => DropReason::ControlChars,
            Unnormalizable::Empty => DropReason::Empty,
        }
    }
}
