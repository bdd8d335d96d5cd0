//! Windows of partial noising (DiffuSeq-style): the positions of a row that a
//! chain noises and rewrites while every other position is held at its clean
//! embedding. Training noises span windows, error-localised repair a window at
//! the checker's error, windowed rollout a drawn window, length-conditioned
//! generation the snippet's own positions. The rows with free `<mask>` slots,
//! the keep mask and the splice of a window's read-out back into the clean row
//! are written here once.

use crate::tokenizer::{fixed_row, snippet_ids, EOS, MASK, PAD};
use candle_core::{Device, Result, Tensor};
use std::ops::RangeInclusive;

/// The noised positions `lo..=hi` of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First noised position.
    pub lo: usize,
    /// Last noised position (inclusive).
    pub hi: usize,
}

/// What an `<eos>` the model writes inside a window means when the window is
/// spliced back ([`Window::splice`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EosInWindow {
    /// The snippet ends there: a repair may shorten its input.
    EndsSnippet,
    /// It is no token, like `<pad>` and `<mask>`: the clean tokens after the
    /// window stay (a rollout's broken side keeps the anchor's tail).
    Deleted,
}

impl From<RangeInclusive<usize>> for Window {
    fn from(range: RangeInclusive<usize>) -> Self {
        Window { lo: *range.start(), hi: *range.end() }
    }
}

impl Window {
    /// Every position of a row of `len` (`len > 0`).
    pub fn whole(len: usize) -> Self {
        Window { lo: 0, hi: len.saturating_sub(1) }
    }

    /// Whether position `p` is noised.
    pub fn contains(&self, p: usize) -> bool {
        self.lo <= p && p <= self.hi
    }

    /// The noised positions that exist in a row of `len`.
    pub fn positions(&self, len: usize) -> std::ops::Range<usize> {
        self.lo.min(len)..(self.hi + 1).min(len)
    }

    /// The keep mask of a batch, `(b, len, 1)`: 0 on row `r`'s window, 1 (held
    /// clean) everywhere else.
    pub fn keep_mask(windows: impl IntoIterator<Item = Window>, len: usize, device: &Device) -> Result<Tensor> {
        let mut keep: Vec<f32> = Vec::new();
        let mut rows = 0;
        for window in windows {
            keep.extend((0..len).map(|p| if window.contains(p) { 0.0 } else { 1.0 }));
            rows += 1;
        }
        Tensor::from_vec(keep, (rows, len, 1), device)
    }

    /// A row of length `n` for a window at the error token `at` of `ids` (the
    /// snippet's ids, no `<eos>`): `inserts` `<mask>` slots placed before `at`
    /// and the window over `radius` positions each side of them, the slots and
    /// the error token included. `None` when the row does not fit `n`.
    pub fn around(ids: &[u32], at: usize, radius: usize, inserts: usize, n: usize) -> Option<(Vec<u32>, Window)> {
        let row = fixed_row(ids, at, inserts, n)?;
        let at = at.min(ids.len());
        let hi = (at + inserts + radius).min(n - 1); // inclusive: covers the error token itself
        Some((row, Window { lo: at.saturating_sub(radius), hi }))
    }

    /// A fixed-length `row` with `inserts` `<mask>` slots placed before its
    /// token `at` (`at` past the end means before `<eos>`) and the window over
    /// the slots and the `width` positions after them, `<eos>` included when it
    /// is reached. Slots that would push `<eos>` out of the row are not inserted.
    pub fn after(row: &[u32], at: usize, width: usize, inserts: usize) -> (Vec<u32>, Window) {
        let n = row.len();
        let snippet = snippet_ids(row);
        let at = at.min(snippet.len());
        let inserts = inserts.min(n.saturating_sub(snippet.len() + 1));
        // fits by the bound on `inserts`, unless the snippet fills the row without
        // `<eos>`: then there are no slots and the row is as it was
        let out = fixed_row(snippet, at, inserts, n).unwrap_or_else(|| row.to_vec());
        let hi = (at + inserts + width).saturating_sub(1).clamp(at, n.saturating_sub(1));
        (out, Window { lo: at, hi })
    }

    /// The snippet a chain's read-out `decoded` stands for: the `clean` row
    /// outside the window and, inside it, the decoded tokens; a window
    /// position decoded as `<pad>` or `<mask>` is deleted (so a window can
    /// delete a token mid-snippet), an `<eos>` as `eos` says. Snippet ids, no
    /// `<eos>`.
    pub fn splice(&self, clean: &[u32], decoded: &[u32], eos: EosInWindow) -> Vec<u32> {
        let mut out: Vec<u32> = snippet_ids(&clean[..self.lo.min(clean.len())]).to_vec();
        for &id in &decoded[self.positions(decoded.len())] {
            match id {
                EOS if eos == EosInWindow::EndsSnippet => return out,
                EOS | PAD | MASK => {}
                id => out.push(id),
            }
        }
        if self.hi + 1 < clean.len() {
            out.extend_from_slice(snippet_ids(&clean[self.hi + 1..]));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_around_an_error_insert_slots_and_cover_both_sides() {
        let (row, window) = Window::around(&[5, 6, 7, 8], 2, 1, 1, 8).unwrap();
        assert_eq!(row, [5, 6, MASK, 7, 8, EOS, PAD, PAD]);
        assert_eq!(window, Window { lo: 1, hi: 4 }, "one token before, the slot, the error token, one after");
        assert_eq!(Window::around(&[5, 6, 7], 1, 9, 0, 4).unwrap().1, Window { lo: 0, hi: 3 }, "clipped to the row");
        assert!(Window::around(&[5, 6, 7], 1, 1, 1, 4).is_none(), "the slot does not fit");
    }

    #[test]
    fn rows_after_a_start_insert_slots_and_cover_the_window() {
        let row = [5, 6, 7, 8, EOS, PAD, PAD, PAD];
        let (v, w) = Window::after(&row, 1, 2, 1);
        assert_eq!(v, [5, MASK, 6, 7, 8, EOS, PAD, PAD]);
        assert_eq!(w, Window { lo: 1, hi: 3 }, "the slot and two tokens");
        let (v, w) = Window::after(&row, 9, 1, 0);
        assert_eq!((v.as_slice(), w), (&row[..], Window { lo: 4, hi: 4 }), "past the end: the <eos> position");
        let full = [5, 6, 7, EOS];
        let (v, w) = Window::after(&full, 3, 2, 2);
        assert_eq!((v.as_slice(), w), (&full[..], Window { lo: 3, hi: 3 }), "no room for slots; clipped to the row");
    }

    #[test]
    fn splicing_keeps_the_outside_and_deletes_special_tokens() {
        let clean = [5, MASK, 6, 7, 8, EOS, PAD, PAD];
        let window = Window { lo: 1, hi: 3 };
        for eos in [EosInWindow::Deleted, EosInWindow::EndsSnippet] {
            // the slot becomes a token (insertion), 6 stays, 7 is decoded as <pad> (deletion)
            assert_eq!(window.splice(&clean, &[99, 42, 6, PAD, 99, 99, 99, 99], eos), [5, 42, 6, 8]);
            // the read-out outside the window is ignored: the clean tokens stand there
            assert_eq!(window.splice(&clean, &[1, MASK, 6, 7, 2, 3, 4, 4], eos), [5, 6, 7, 8]);
            // a window over <eos> can append a token, and a trimmed read-out is fine
            assert_eq!(Window { lo: 2, hi: 3 }.splice(&[5, 6, EOS, PAD], &[0, 0, 9], eos), [5, 6, 9]);
        }
        // an <eos> inside the window: deleted, or the end of the snippet
        let decoded = [5, 21, EOS, 7, 8, EOS, PAD, PAD];
        assert_eq!(window.splice(&clean, &decoded, EosInWindow::Deleted), [5, 21, 7, 8]);
        assert_eq!(window.splice(&clean, &decoded, EosInWindow::EndsSnippet), [5, 21]);
    }

    #[test]
    fn the_keep_mask_is_zero_exactly_on_each_rows_window() {
        let windows = [Window { lo: 1, hi: 2 }, Window::whole(4), Window::from(3..=9)];
        let keep: Vec<Vec<f32>> = Window::keep_mask(windows, 4, &Device::Cpu).unwrap().squeeze(2).unwrap().to_vec2().unwrap();
        assert_eq!(keep, [[1.0, 0.0, 0.0, 1.0], [0.0; 4], [1.0, 1.0, 1.0, 0.0]]);
        assert_eq!(Window { lo: 3, hi: 9 }.positions(5), 3..5);
    }
}
