//! Misspelt function names: a call of a function Excel does not know, one or
//! two letters from one it does (`=TDOAY()`, `=CONTIF(A:A,1)`, `=VLOKUP(…)`),
//! parses (an add-in could define it) and answers `#NAME?`. Each correction is
//! one candidate of a repair; the model's plausibility decides whether the
//! formula meant it.

use super::arity::{arity, known_functions};
use super::lexer::{lex, XlKind};

/// Letters a misspelling may be from the name meant: one for short names,
/// two from [`LONG_NAME`] letters on (a drop, a double, a swap or a slip each).
const fn allowed_distance(len: usize) -> usize {
    if len >= LONG_NAME {
        2
    } else {
        1
    }
}

/// Names this long or longer may be two edits from the one meant.
const LONG_NAME: usize = 7;

/// Names shorter than this are left alone: `=A(1)` is one letter from a dozen functions.
const SHORTEST: usize = 2;

/// `text` with one call of an unknown function renamed to a known one within
/// [`allowed_distance`] (optimal string alignment: a swap of two neighbours
/// is one edit), for every such call and name, nearest names first, the
/// spelling's case kept (`=tdoay()` becomes `=today()`).
pub(super) fn corrections(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for token in lex(text).into_iter().filter(|t| t.kind == XlKind::Function) {
        // `_xlfn.`-prefixed names are written by Excel itself, never by hand
        if token.text.starts_with('_') || arity(token.text).is_some() || token.text.len() < SHORTEST {
            continue;
        }
        let upper = token.text.to_ascii_uppercase();
        let limit = allowed_distance(upper.len());
        let mut near: Vec<(usize, &str)> = known_functions()
            .map(|name| (strsim::osa_distance(&upper, name), name))
            .filter(|&(d, name)| d <= limit && name.len() >= SHORTEST)
            .collect();
        near.sort();
        let lower = token.text.chars().all(|c| !c.is_ascii_uppercase());
        for (_, name) in near {
            let name = if lower { name.to_ascii_lowercase() } else { name.to_string() };
            let end = token.offset + token.text.len();
            out.push(format!("{}{name}{}", &text[..token.offset], &text[end..]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_calls_near_a_known_function_are_corrected() {
        assert_eq!(corrections("=B2<=EDATE(TDOAY(),-33)"), ["=B2<=EDATE(TODAY(),-33)"], "a swap is one edit");
        assert!(corrections("=CONTIF($D$2:$D$20,$F$1)").contains(&"=COUNTIF($D$2:$D$20,$F$1)".to_string()));
        assert!(corrections("=vlokup(A1,B:C,2,FALSE)").contains(&"=vlookup(A1,B:C,2,FALSE)".to_string()), "case kept");
        assert!(corrections("=SUMPRDUCT(A1:A3,B1:B3)").contains(&"=SUMPRODUCT(A1:A3,B1:B3)".to_string()));
        assert!(corrections("=CONCATNATE(A1,B1)").contains(&"=CONCATENATE(A1,B1)".to_string()));
    }

    #[test]
    fn known_and_far_names_are_left_alone() {
        assert!(corrections("=SUM(A1:A3)+TODAY()").is_empty(), "known functions");
        assert!(corrections("=COLORSUM(B12:B21)").is_empty(), "an add-in far from every built-in");
        assert!(corrections("=\"TDOAY()\"&A1").is_empty(), "text in a string is no call");
        assert!(corrections("=_xlfn.XLOKUP(A1,B:B,C:C)").is_empty(), "prefixed names are written by Excel");
    }
}
