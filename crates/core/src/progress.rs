//! One shape for the progress of every long stage (mining, pretraining,
//! rollout, repair, evaluation): a count toward a total, a short status, and
//! now and then a line worth keeping. Library code reports through a
//! [`ProgressFn`]; only `cli/` turns the reports into bars and lines.

/// What a count counts, so a front end can format it (bytes as KiB/MiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Bytes of input read (mining).
    Bytes,
    /// Optimizer steps (pretraining).
    Steps,
    /// Kept pairs (rollout).
    Pairs,
    /// Batches of reverse chains (repair, evaluation).
    Batches,
}

/// Where a long stage stands.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// What `done` and `total` count.
    pub unit: Unit,
    /// Done so far.
    pub done: u64,
    /// The whole, when known.
    pub total: Option<u64>,
    /// A short status that replaces the previous one (`loss 0.81`, `unit 3: 120 kept`).
    pub status: Option<String>,
    /// A line worth keeping above the bar (`training on 40,000 snippets, from step 250`).
    pub note: Option<String>,
}

/// The callback every long stage takes.
pub type ProgressFn<'a> = dyn FnMut(Progress) + 'a;

impl Progress {
    /// `done` of `total` (when known), without status or note.
    pub fn count(unit: Unit, done: u64, total: Option<u64>) -> Self {
        Progress { unit, done, total, status: None, note: None }
    }

    /// The same count with a status.
    pub fn with_status(mut self, status: impl Into<String>) -> Self {
        self.status = Some(status.into());
        self
    }

    /// The same count with a line to keep.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// A [`ProgressFn`] that drops every report (tests, library callers without a front end).
pub fn ignore(_: Progress) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_set_only_their_field() {
        let p = Progress::count(Unit::Steps, 3, Some(10)).with_status("loss 1.0");
        assert_eq!((p.done, p.total, p.status.as_deref(), p.note.as_deref()), (3, Some(10), Some("loss 1.0"), None));
        let p = Progress::count(Unit::Pairs, 0, None).with_note("resumed");
        assert_eq!((p.status, p.note.as_deref()), (None, Some("resumed")));
    }
}
