//! Edit proposals: the snippets one punctuation edit away from a broken input
//! that the strict checker accepts. Most real last-mile mistakes are one such
//! edit (on the Excel benchmark, 149 of the 200 human fixes insert, delete or
//! replace one bracket, quote, separator, operator or space), so a repairer
//! that also weighs these, ranked by the model's plausibility, can find the fix
//! where the window read-out rewrote the operands instead.
//!
//! An edit is one of: insert a punctuation character (or `""`) between two
//! tokens; delete a punctuation, operator or layout token; replace such a token
//! by a punctuation character. Positions nearest the checker's error come
//! first, and at most [`MAX_PROPOSALS`] are kept. [`repeated_substitutions`]
//! make one edit wherever the slip at the error recurs (`;` for `,`
//! throughout a formula).

use crate::lang::{with_spans, Language, PunctuationClass, Token, TokenKind};
use std::collections::HashSet;

/// Proposals kept per input at most (the nearest the error).
pub const MAX_PROPOSALS: usize = 64;

/// Edits examined per input at most, so that a long snippet costs a bounded
/// number of checks.
const MAX_EDITS: usize = 4_096;

/// What an edit inserts or puts in place of a token: every punctuation
/// character, a space (Excel's intersection operator, a separator elsewhere)
/// and an empty string literal.
fn alphabet() -> Vec<String> {
    let classes = [PunctuationClass::Bracket, PunctuationClass::Quote, PunctuationClass::Separator, PunctuationClass::Operator];
    let mut all: Vec<String> = classes.iter().flat_map(|c| c.chars().iter().map(|ch| ch.to_string())).collect();
    all.push(" ".into());
    all.push("\"\"".into());
    all
}

/// The accepted snippets one edit away from `text`, whose first checker error
/// sits at byte `error`, nearest that error first; `accept` decides (the
/// strict check, and the comment rule of the constrained read-out).
pub fn single_edits(lang: &dyn Language, text: &str, error: usize, accept: impl Fn(&str) -> bool) -> Vec<String> {
    one_edit(lang, text, error).into_iter().filter(|edited| accept(edited)).take(MAX_PROPOSALS).collect()
}

/// The accepted snippets that fix a slip made throughout `text` (whose first
/// checker error sits at byte `error`): the token at the error replaced by
/// each punctuation character (or deleted) at every place it occurs, outside
/// strings. A formula typed in a locale that separates arguments with `;`
/// (`=IF(B3>10;1;0)`, `=IF(A1>0;SUM(B1;B2);0)`) is one such substitution,
/// however many times the slip occurs; the [`single_edits`] cannot reach it.
pub fn repeated_substitutions(lang: &dyn Language, text: &str, error: usize, accept: impl Fn(&str) -> bool) -> Vec<String> {
    let tokens = lang.lex(text);
    let spans: Vec<_> = with_spans(&tokens).collect();
    let Some((_, at)) = spans.iter().find(|(span, _)| span.contains(&error)) else { return Vec::new() };
    let editable = |t: &Token<'_>| matches!(t.kind, TokenKind::Punctuation | TokenKind::Operator | TokenKind::Unknown);
    let occurrences = spans.iter().filter(|(_, t)| editable(t) && t.text == at.text).count();
    if !editable(at) || occurrences < 2 {
        return Vec::new();
    }
    let mut out = Vec::new();
    for replacement in std::iter::once(String::new()).chain(alphabet()).filter(|r| r != at.text) {
        let edited: String =
            spans.iter().map(|(_, t)| if editable(t) && t.text == at.text { replacement.as_str() } else { t.text }).collect();
        if accept(&edited) {
            out.push(edited);
        }
    }
    out
}

/// Every snippet one edit from `text` (other than `text`), nearest byte
/// `error` first, at most [`MAX_EDITS`].
fn one_edit(lang: &dyn Language, text: &str, error: usize) -> Vec<String> {
    let tokens = lang.lex(text);
    let spans: Vec<_> = with_spans(&tokens).collect();
    let alphabet = alphabet();
    // (distance to the error, edit order, text)
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut push = |distance: usize, edited: String| {
        let order = edits.len();
        edits.push((distance, order, edited));
    };
    for boundary in spans.iter().map(|(span, _)| span.start).chain(std::iter::once(text.len())) {
        for p in &alphabet {
            push(boundary.abs_diff(error), format!("{}{p}{}", &text[..boundary], &text[boundary..]));
        }
    }
    for (span, token) in &spans {
        let editable = matches!(token.kind, TokenKind::Punctuation | TokenKind::Operator | TokenKind::Whitespace | TokenKind::Unknown);
        if !editable {
            continue;
        }
        let (before, after) = (&text[..span.start], &text[span.end..]);
        push(span.start.abs_diff(error), format!("{before}{after}"));
        for p in alphabet.iter().filter(|p| p.as_str() != token.text) {
            push(span.start.abs_diff(error), format!("{before}{p}{after}"));
        }
    }
    edits.sort_by_key(|(distance, order, _)| (*distance, *order));
    let mut seen = HashSet::new();
    edits.into_iter().take(MAX_EDITS).map(|(_, _, edited)| edited).filter(|edited| edited != text && seen.insert(edited.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::LangId;

    #[test]
    fn the_fix_of_real_mid_formula_slips_is_among_the_proposals() {
        let excel = LangId::Excel.language();
        // Excel benchmark mistakes whose fix is one edit inside the formula
        let cases = [
            ("=IF(C4=\"\",\"\",MAX(D$1:D3;B$1:B4)+1)", "=IF(C4=\"\",\"\",MAX(D$1:D3,B$1:B4)+1)"),
            ("=IF(C4='Sheet1'!$B$6),COUNT(Z$1:Z1)+1,\"\")", "=IF(C4='Sheet1'!$B$6,COUNT(Z$1:Z1)+1,\"\")"),
            ("=IF(A2=\"\",\"\",SUMIF($B:$B,B2,$A:$A))(", "=IF(A2=\"\",\"\",SUMIF($B:$B,B2,$A:$A))"),
            ("=AND(I1 < > \"\", J1 > I1)", "=AND(I1 <> \"\", J1 > I1)"),
        ];
        for (broken, fix) in cases {
            let error = excel.check(broken).unwrap_err().offset;
            let proposals = single_edits(excel, broken, error, |t| excel.check(t).is_ok());
            assert!(proposals.iter().any(|p| p == fix), "{broken}: {fix} not among {proposals:?}");
            assert!(proposals.iter().all(|p| excel.check(p).is_ok()), "only accepted snippets");
            assert!(proposals.len() <= MAX_PROPOSALS);
        }
    }

    #[test]
    fn a_slip_made_throughout_a_formula_is_one_repeated_substitution() {
        let excel = LangId::Excel.language();
        // the separators of a locale that writes `;` (the examples of real forum mistakes)
        let cases = [
            ("=IF(B3>10;1;0)", "=IF(B3>10,1,0)"),
            ("=SUMIF(A1:A9;\">5\";B1:B9)", "=SUMIF(A1:A9,\">5\",B1:B9)"),
            ("=IF(A1>0;SUM(B1;B2);0)", "=IF(A1>0,SUM(B1,B2),0)"),
        ];
        for (broken, fix) in cases {
            let error = excel.check(broken).unwrap_err().offset;
            assert!(single_edits(excel, broken, error, |t| excel.check(t).is_ok()).iter().all(|p| p != fix), "{broken}: not one edit");
            let proposals = repeated_substitutions(excel, broken, error, |t| excel.check(t).is_ok());
            assert!(proposals.iter().any(|p| p == fix), "{broken}: {fix} not among {proposals:?}");
            assert!(proposals.iter().all(|p| excel.check(p).is_ok()));
        }
        let once = "=SUM(A1:A3;B1)";
        let error = excel.check(once).unwrap_err().offset;
        assert!(repeated_substitutions(excel, once, error, |t| excel.check(t).is_ok()).is_empty(), "a slip made once");
        let in_text = "=IF(A1=\"a;b\";1;0)";
        let error = excel.check(in_text).unwrap_err().offset;
        let fixed = repeated_substitutions(excel, in_text, error, |t| excel.check(t).is_ok());
        assert!(fixed.contains(&"=IF(A1=\"a;b\",1,0)".to_string()), "strings are kept: {fixed:?}");
    }

    #[test]
    fn nearest_the_error_first_and_deterministic() {
        let excel = LangId::Excel.language();
        let broken = "=SUM(A1:A3;B1)";
        let error = excel.check(broken).unwrap_err().offset;
        let once = single_edits(excel, broken, error, |t| excel.check(t).is_ok());
        assert_eq!(once, single_edits(excel, broken, error, |t| excel.check(t).is_ok()));
        assert!(once.iter().take(3).any(|p| p == "=SUM(A1:A3,B1)"), "{once:?}");
        assert!(once.iter().all(|p| p.starts_with("=SUM(A1:A3") && p.ends_with("B1)")), "every accepted edit is at the `;`: {once:?}");
        assert!(single_edits(excel, broken, error, |_| false).is_empty(), "nothing accepted, nothing proposed");
    }
}
