//! BIFI-style corruptions of Python: insertion, deletion and replacement of one
//! punctuation token, and indentation errors (a line indented or dedented
//! where the block structure does not allow it).

use crate::corruption::{pick, splice, Corruption};
use crate::token::TokenKind;
use crate::Language;
use rand::{Rng, RngCore};

/// The punctuation BIFI perturbs.
const PUNCTUATION: [&str; 9] = ["(", ")", "[", "]", "{", "}", ",", ":", "."];

/// Every Python operator, in documentation order.
pub(crate) const CORRUPTIONS: &[Corruption] = &[
    Corruption {
        name: "punct_delete",
        description: "delete one punctuation token ( ) [ ] { } , : .",
        example: ("f(x, y)", "f(x y)"),
        apply: punct_delete,
    },
    Corruption {
        name: "punct_insert",
        description: "insert one punctuation token before a token",
        example: ("f(x)", "f((x)"),
        apply: punct_insert,
    },
    Corruption {
        name: "punct_replace",
        description: "replace one punctuation token by another",
        example: ("f(x)", "f[x)"),
        apply: punct_replace,
    },
    Corruption {
        name: "indent_add",
        description: "indent a line that must not be indented further",
        example: ("x = 1\ny = 2", "x = 1\n    y = 2"),
        apply: indent_add,
    },
    Corruption {
        name: "indent_remove",
        description: "remove all or half of an indented line's indentation",
        example: ("if x:\n    y = 2", "if x:\ny = 2"),
        apply: indent_remove,
    },
];

/// Byte ranges of the punctuation tokens, and of every token that is not layout.
fn token_ranges(text: &str) -> (Vec<std::ops::Range<usize>>, Vec<usize>) {
    let (mut punct, mut starts) = (Vec::new(), Vec::new());
    let tokens = super::Python.lex(text);
    for (span, t) in crate::with_spans(&tokens) {
        if !matches!(t.kind, TokenKind::Whitespace | TokenKind::Newline | TokenKind::Comment) {
            starts.push(span.start);
        }
        if t.kind == TokenKind::Punctuation && PUNCTUATION.contains(&t.text) {
            punct.push(span);
        }
    }
    (punct, starts)
}

fn punct_delete(text: &str, rng: &mut dyn RngCore) -> Option<String> {
    let r = pick(&token_ranges(text).0, rng)?;
    Some(splice(text, r, ""))
}

fn punct_insert(text: &str, rng: &mut dyn RngCore) -> Option<String> {
    let at = pick(&token_ranges(text).1, rng)?;
    Some(splice(text, at..at, pick(&PUNCTUATION, rng)?))
}

fn punct_replace(text: &str, rng: &mut dyn RngCore) -> Option<String> {
    let r = pick(&token_ranges(text).0, rng)?;
    let with = pick(&PUNCTUATION, rng)?;
    (with != &text[r.clone()]).then(|| splice(text, r, with))
}

/// Byte offsets where each non-blank line starts, and its indentation width.
fn lines(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
        if !line.trim().is_empty() {
            out.push((at, indent));
        }
        at += line.len();
    }
    out
}

/// How many candidate edits an indentation operator checks before it gives
/// up. Real snippets find an error in the first few; a snippet of thousands
/// of lines where most edits stay valid (inside brackets) would otherwise be
/// re-checked once per line.
const MAX_INDENT_TRIES: usize = 64;

/// The first of the candidate edits, in random order, that really is an
/// indentation error (fails the strict check): an extra indent inside brackets
/// or on a block's first line is still valid Python, and would not be a mistake.
/// `edit(line)` builds candidate `line`'s snippet, only when it is drawn.
fn first_error<T>(mut lines: Vec<T>, edit: impl Fn(T) -> String, rng: &mut dyn RngCore) -> Option<String> {
    for _ in 0..MAX_INDENT_TRIES {
        if lines.is_empty() {
            break;
        }
        let k = rng.random_range(0..lines.len());
        let edited = edit(lines.swap_remove(k));
        if super::Python.check(&edited).is_err() {
            return Some(edited);
        }
    }
    None
}

fn indent_add(text: &str, rng: &mut dyn RngCore) -> Option<String> {
    // not the first line: an indented first line is a different, easy mistake
    let starts = lines(text).into_iter().skip(1).map(|(start, _)| start).collect();
    first_error(starts, |start| splice(text, start..start, "    "), rng)
}

fn indent_remove(text: &str, rng: &mut dyn RngCore) -> Option<String> {
    let half = rng.random_bool(0.5);
    let indented = lines(text).into_iter().filter(|&(_, w)| w > 0).collect();
    first_error(indented, |(start, width)| splice(text, start..start + if half && width >= 2 { width / 2 } else { width }, ""), rng)
}
