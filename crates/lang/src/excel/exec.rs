//! Execution match for Excel formulas with a real formula engine (IronCalc):
//! candidate and ground truth are evaluated in workbooks whose referenced cells
//! hold deterministic values of several types (numbers, text, blanks,
//! booleans), over several fillings; equal results on every filling is a match.
//! A candidate that fails the strict syntax check never matches.
//!
//! Referenced cells come from the Excel lexer's reference tokens: single cells,
//! `A1:B9` rectangles, whole columns (`C:C`, rows 1..=40 filled) and whole rows
//! (`3:3`, columns A..=J filled), on the formula's sheet or on a named sheet.
//! The engine reads a whole column as all its 1,048,576 rows (about 100 MB and
//! a second a column, and a million times that where the column is an
//! operand: `=SUMIF(C:C,A3-E:E)` makes a million criteria, each scanning the
//! column), so both formulas are evaluated with every whole-column range cut
//! to the filled rows (`C:C` as `C1:C40`, [`bounded`]); what the rows below
//! would change (`ROWS(C:C)`, `COUNTBLANK(C:C)`) changes both alike. A
//! whole-column range wider than [`MAX_WHOLE_COLUMNS`] is compared as text,
//! like a whole-sheet range.
//! Formulas referencing other workbooks (`[1]Sheet!A1`) or defined names
//! cannot be executed; for them execution match falls back to exact match of
//! the whitespace-normalised text (counted separately by the harness).

use crate::{LangId, TokenKind};
use ironcalc_base::cell::CellValue;
use ironcalc_base::Model;
use std::collections::BTreeSet;

/// Number of fillings each pair is evaluated under.
pub const FILLINGS: u64 = 4;
const WHOLE_COLUMN_ROWS: i32 = 40;
const WHOLE_ROW_COLUMNS: i32 = 10;
const MAX_CELLS: usize = 4_000;
/// Columns a whole-column range (`C:F`) may span and still be executed: the
/// benchmark's fixes span at most 3; `C:CC` took IronCalc 79 s and 8.9 GB.
const MAX_WHOLE_COLUMNS: i32 = 4;
/// Where the formula under test is written: the last cell of the sheet.
const FORMULA_CELL: (i32, i32) = (1_048_576, 16_384);

/// A referenced cell: sheet name (`None` = the formula's sheet), row, column.
type CellRef = (Option<String>, i32, i32);

/// Functions whose result is a reference computed from their arguments: what
/// they read cannot be known before evaluation.
const DYNAMIC_REFERENCES: [&str; 2] = ["OFFSET", "INDIRECT"];

/// One end of a reference.
#[derive(Debug, Clone, PartialEq)]
enum End {
    Cell(i32, i32),
    Column(i32),
    Row(i32),
}

fn column_number(letters: &str) -> Option<i32> {
    if letters.is_empty() || letters.len() > 3 {
        return None;
    }
    let mut n = 0i32;
    for c in letters.chars() {
        n = n * 26 + (c.to_ascii_uppercase() as i32 - 'A' as i32 + 1);
    }
    (n <= 16_384).then_some(n)
}

/// Splits `Sheet!A$1` into sheet and reference end; `None` for what cannot be executed.
fn parse_end(text: &str) -> Option<(Option<String>, End)> {
    if text.starts_with('[') {
        return None; // another workbook
    }
    let (sheet, cell) = match text.rfind('!') {
        Some(i) => (Some(text[..i].trim_matches('\'').replace("''", "'")), &text[i + 1..]),
        None => (None, text),
    };
    let cell = cell.replace('$', "");
    let letters: String = cell.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
    let digits = &cell[letters.len()..];
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let end = match (letters.is_empty(), digits.is_empty()) {
        (false, false) => End::Cell(digits.parse().ok().filter(|r| (1..=1_048_576).contains(r))?, column_number(&letters)?),
        (false, true) => End::Column(column_number(&letters)?),
        (true, false) => End::Row(digits.parse().ok().filter(|r| (1..=1_048_576).contains(r))?),
        (true, true) => return None,
    };
    Some((sheet, end))
}

/// The cells a formula reads, or `None` when it cannot be executed here.
fn referenced_cells(formula: &str) -> Option<BTreeSet<CellRef>> {
    let tokens = LangId::Excel.language().lex(formula);
    let significant: Vec<_> = tokens.iter().filter(|t| t.kind != TokenKind::Whitespace).collect();
    let mut cells = BTreeSet::new();
    let mut i = 0;
    while i < significant.len() {
        let token = significant[i];
        if token.kind != TokenKind::Reference {
            // a range our lexer does not see as references (`1:1048576`, `A:XFD`,
            // a range of a function's result) or a reference built at run time:
            // the engine would read cells we did not fill, or build whole-sheet
            // arrays (tens of GB) before it gives up
            let dynamic = token.kind == TokenKind::Keyword
                && DYNAMIC_REFERENCES.iter().any(|f| token.text.trim_end_matches('(').eq_ignore_ascii_case(f));
            if token.text == ":" || dynamic {
                return None;
            }
            i += 1;
            continue;
        }
        let (sheet, first) = parse_end(token.text)?;
        let range_end = match (significant.get(i + 1), significant.get(i + 2)) {
            (Some(colon), Some(next)) if colon.text == ":" && next.kind == TokenKind::Reference => Some(parse_end(next.text)?.1),
            _ => None,
        };
        let (rows, cols) = match (&first, &range_end) {
            (End::Cell(r, c), None) => ((*r, *r), (*c, *c)),
            (End::Cell(r1, c1), Some(End::Cell(r2, c2))) => ((*r1.min(r2), *r1.max(r2)), (*c1.min(c2), *c1.max(c2))),
            (End::Column(c1), Some(End::Column(c2))) if c1.abs_diff(*c2) < MAX_WHOLE_COLUMNS as u32 => {
                ((1, WHOLE_COLUMN_ROWS), (*c1.min(c2), *c1.max(c2)))
            }
            (End::Row(r1), Some(End::Row(r2))) => ((*r1.min(r2), *r1.max(r2)), (1, WHOLE_ROW_COLUMNS)),
            _ => return None,
        };
        if ((rows.1 - rows.0 + 1) as usize).saturating_mul((cols.1 - cols.0 + 1) as usize) > MAX_CELLS {
            return None;
        }
        for r in rows.0..=rows.1 {
            for c in cols.0..=cols.1 {
                cells.insert((sheet.clone(), r, c));
            }
        }
        if cells.len() > MAX_CELLS {
            return None;
        }
        i += if range_end.is_some() { 3 } else { 1 };
    }
    Some(cells)
}

/// `formula` with each whole-column range (`C:C`, `Sheet1!$A:$B`) cut to the
/// rows a filling writes (`C1:C40`): the same value wherever the formula
/// reads only the filled rows, in milliseconds instead of minutes.
fn bounded(formula: &str) -> String {
    use super::lexer::{lex, XlKind};
    let tokens: Vec<_> = lex(formula).into_iter().filter(|t| t.kind != XlKind::Whitespace).collect();
    let is_column = |text: &str| matches!(parse_end(text), Some((_, End::Column(_))));
    let mut out = String::with_capacity(formula.len() + 8);
    let mut copied = 0;
    for window in tokens.windows(3) {
        let [first, colon, last] = window else { continue };
        if first.kind == XlKind::Reference
            && colon.kind == XlKind::Colon
            && last.kind == XlKind::Reference
            && is_column(first.text)
            && is_column(last.text)
        {
            let (first_end, last_end) = (first.offset + first.text.len(), last.offset + last.text.len());
            out.push_str(&formula[copied..first_end]);
            out.push('1');
            out.push_str(&formula[first_end..last_end]);
            out.push_str(&WHOLE_COLUMN_ROWS.to_string());
            copied = last_end;
        }
    }
    out.push_str(&formula[copied..]);
    out
}

/// A deterministic value for a cell under filling `k`, as typed into Excel
/// (empty = blank).
fn fill_value(cell: &CellRef, k: u64) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(cell.0.as_deref().unwrap_or(""))
        .chain_update(cell.1.to_le_bytes())
        .chain_update(cell.2.to_le_bytes())
        .chain_update(k.to_le_bytes())
        .finalize();
    let h = u64::from_le_bytes(digest[..8].try_into().expect("32 bytes"));
    const WORDS: [&str; 6] = ["apple", "Total", "x", "North", "yes", "n/a"];
    match (k, h % 10) {
        (0, _) => (h % 20 + 1).to_string(),
        (1, _) => format!("{}", ((h % 4001) as f64 - 2000.0) / 8.0),
        (2, 0..=6) => ((h >> 8) % 100).to_string(),
        (2, 7..=8) => WORDS[((h >> 8) % 6) as usize].to_string(),
        (2, _) => String::new(),
        (_, 0..=4) => format!("{}", ((h >> 8) % 1000) as f64 / 10.0),
        (_, 5..=6) => if (h >> 8) % 2 == 0 { "TRUE" } else { "FALSE" }.to_string(),
        (_, 7..=8) => String::new(),
        _ => WORDS[((h >> 8) % 6) as usize].to_string(),
    }
}

/// The value of `formula` in a workbook filled by `cells` and filling `k`.
fn evaluate(formula: &str, cells: &BTreeSet<CellRef>, k: u64) -> Result<CellValue, String> {
    let mut model = Model::new_empty("eval", "en", "UTC", "en")?;
    let mut sheets: Vec<String> = vec!["Sheet1".to_string()];
    for (sheet, _, _) in cells {
        if let Some(name) = sheet {
            if !sheets.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                model.add_sheet(name)?;
                sheets.push(name.clone());
            }
        }
    }
    for cell in cells {
        let value = fill_value(cell, k);
        if value.is_empty() {
            continue;
        }
        let index = match &cell.0 {
            None => 0,
            Some(name) => sheets.iter().position(|s| s.eq_ignore_ascii_case(name)).expect("added above") as u32,
        };
        model.set_user_input(index, cell.1, cell.2, value)?;
    }
    model.set_user_input(0, FORMULA_CELL.0, FORMULA_CELL.1, bounded(formula))?;
    model.evaluate();
    model.get_cell_value_by_index(0, FORMULA_CELL.0, FORMULA_CELL.1)
}

fn same_value(a: &CellValue, b: &CellValue) -> bool {
    match (a, b) {
        (CellValue::Number(x), CellValue::Number(y)) => x == y || (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
        _ => a == b,
    }
}

/// The outcome of comparing a candidate with the ground truth by execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecMatch {
    /// Equal values under every filling.
    Match,
    /// Different values under some filling, or the candidate is invalid.
    Mismatch,
    /// A formula references other workbooks, defined names, or too many cells:
    /// the whitespace-normalised texts were compared instead.
    TextFallback(bool),
}

impl ExecMatch {
    /// Whether it counts as a match.
    pub fn is_match(self) -> bool {
        matches!(self, ExecMatch::Match | ExecMatch::TextFallback(true))
    }
}

/// Installs (once) a panic hook that stays silent for panics raised inside
/// IronCalc, which [`exec_match`] catches and scores as mismatches: without it
/// every such candidate prints a panic message (and, under `RUST_BACKTRACE`, a
/// backtrace that costs more than the evaluation). Every other panic is
/// reported by the previous hook as before.
fn silence_engine_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.location().is_some_and(|l| l.file().contains("ironcalc")) {
                return;
            }
            previous(info)
        }));
    });
}

/// Execution match of an Excel `candidate` against `truth` (see the module docs).
pub fn exec_match(candidate: &str, truth: &str) -> ExecMatch {
    silence_engine_panics();
    let excel = LangId::Excel.language();
    let text_match = || ExecMatch::TextFallback(excel.normalize_whitespace(candidate) == excel.normalize_whitespace(truth));
    if excel.check(candidate).is_err() {
        return ExecMatch::Mismatch;
    }
    // a truth past the parser's bounds is never handed to the engine, whose
    // recursive parser would overflow the stack on it
    if super::parser::beyond_bounds(truth, &super::lexer::lex(truth)) {
        return text_match();
    }
    let (Some(a), Some(b)) = (referenced_cells(candidate), referenced_cells(truth)) else {
        return text_match();
    };
    let cells: BTreeSet<CellRef> = a.union(&b).cloned().collect();
    if cells.contains(&(None, FORMULA_CELL.0, FORMULA_CELL.1)) {
        return text_match();
    }
    for k in 0..FILLINGS {
        // IronCalc panics on some formulas our grammar accepts (a column name
        // past u32, `attempt to multiply with overflow`): one the engine
        // cannot evaluate does not compute the truth's value
        let evaluated =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (evaluate(candidate, &cells, k), evaluate(truth, &cells, k))));
        let Ok(evaluated) = evaluated else { return ExecMatch::Mismatch };
        match evaluated {
            (Ok(x), Ok(y)) if same_value(&x, &y) => {}
            (Ok(_), Ok(_)) => return ExecMatch::Mismatch,
            _ => return text_match(),
        }
    }
    ExecMatch::Match
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_formula_the_engine_panics_on_is_a_mismatch_not_a_crash() {
        // both panic inside IronCalc (column names past u32)
        for giant in ["=SUM(A1:ABCDEFGHIJKLMNOPQRSTUVWXYZ1)", "=A1:ABCDEFGHIJKLMNOPQRSTUVWXYZ"] {
            let outcome = exec_match(giant, "=A1+1");
            assert!(!outcome.is_match(), "{outcome:?}");
        }
    }

    #[test]
    fn whole_sheet_ranges_and_run_time_references_are_compared_as_text() {
        // IronCalc would build 2^34-cell arrays for these (out of memory on a 24 GB machine)
        // and `C:CC`, 79 whole columns (a repair candidate): 79 s and 8.9 GB in the engine
        for huge in [
            "=SUM(1:1048576)",
            "=SUM(A:XFD)+1",
            "=OFFSET(A1,0,0,1048576,16384)",
            "=SUM(INDIRECT(\"A1:XFD1048576\"))",
            "=SUMIF($A:$A,$F2,C:CC)",
        ] {
            assert_eq!(exec_match(huge, "=A1+1"), ExecMatch::TextFallback(false), "{huge}");
            assert_eq!(exec_match(huge, huge), ExecMatch::TextFallback(true), "{huge}");
        }
    }

    #[test]
    fn equal_formulas_match_and_different_ranges_do_not() {
        assert_eq!(exec_match("=SUM(A1:A10)/COUNT(A1:A10)", "=AVERAGE(A1:A10)"), ExecMatch::Match);
        assert_eq!(exec_match("=AVERAGE(A1:A9)", "=AVERAGE(A1:A10)"), ExecMatch::Mismatch);
        assert_eq!(exec_match("=A1+B1", "=B1+A1"), ExecMatch::Match);
        assert_eq!(exec_match("=A1*2", "=A1+A1"), ExecMatch::Match);
        assert_eq!(exec_match("=A1-B1", "=B1-A1"), ExecMatch::Mismatch);
        assert_eq!(exec_match("=SUM(Data!B2:B5)", "=SUM(Data!B2:B3,Data!B4:B5)"), ExecMatch::Match);
        // text and booleans in cells: SUM skips them, + does not
        assert_eq!(exec_match("=SUM(Data!B2:B5)", "=Data!B2+Data!B3+Data!B4+Data!B5"), ExecMatch::Mismatch);
        assert_eq!(exec_match("=SUM(C:C)", "=SUM(C1:C40)"), ExecMatch::Match, "whole columns are filled in rows 1..=40");
        assert_eq!(exec_match("=IF(A1>5,\"big\",\"small\")", "=IF(A1<=5,\"small\",\"big\")"), ExecMatch::Match);
        // text in a cell: SUM ignores it, + does not
        assert_eq!(exec_match("=SUM(A1,B1)", "=A1+B1"), ExecMatch::Mismatch);
    }

    #[test]
    fn invalid_candidates_never_match_and_external_references_fall_back() {
        assert_eq!(exec_match("=SUM(A1:A10", "=SUM(A1:A10)"), ExecMatch::Mismatch);
        assert_eq!(exec_match("=[1]Sheet1!A1", "=[1]Sheet1!A1"), ExecMatch::TextFallback(true));
        assert!(!exec_match("=[1]Sheet1!A1", "=[1]Sheet1!A2").is_match());
    }

    #[test]
    fn whole_columns_are_cut_to_the_filled_rows() {
        assert_eq!(bounded("=SUMIF($A:$A,$F2,C:C)"), "=SUMIF($A1:$A40,$F2,C1:C40)");
        assert_eq!(bounded("=SUM(Sheet1!B:D) + A1:A3"), "=SUM(Sheet1!B1:D40) + A1:A3", "cell ranges stay");
        assert_eq!(bounded("=\"C:C\"&A1"), "=\"C:C\"&A1", "text is no range");
        // an operand column made a million criteria, each scanning a million rows
        let slow = "=SUMIF(Sheet1!C:C,A3-Sheet1!E:E)";
        assert_eq!(exec_match(slow, slow), ExecMatch::Match);
        assert_eq!(exec_match(slow, "=SUMIF(Sheet1!C:C,A3,Sheet1!E:E)"), ExecMatch::Mismatch);
    }

    #[test]
    fn references_are_collected() {
        let cells = referenced_cells("=SUM($A$1:B2)+'My Sheet'!C3").unwrap();
        assert_eq!(cells.len(), 5);
        assert!(cells.contains(&(Some("My Sheet".into()), 3, 3)));
        assert!(referenced_cells("=SUM(A:A)").unwrap().len() == 40);
        assert!(referenced_cells("=SUM(A1:XFD1048576)").is_none());
    }

    /// On the real Excel benchmark (every 4th item, to keep the suite fast):
    /// every ground truth matches itself (through the engine for most), and no
    /// buggy formula that fails the check matches its ground truth.
    #[test]
    fn real_benchmark_formulas_execute() {
        let path = crate::repo_file("corpora/benchmarks/repair/excel.json");
        let items: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let items: Vec<serde_json::Value> = items.into_iter().step_by(4).collect();
        let (mut executed, mut fallback) = (0, 0);
        for item in &items {
            let (buggy, truth) = (item["Buggy"].as_str().unwrap().trim(), item["GroundTruth"].as_str().unwrap().trim());
            match exec_match(truth, truth) {
                ExecMatch::Match => executed += 1,
                ExecMatch::TextFallback(true) => fallback += 1,
                other => panic!("{truth}: {other:?}"),
            }
            assert!(!exec_match(buggy, truth).is_match() || LangId::Excel.language().check(buggy).is_ok(), "{buggy}");
        }
        assert_eq!(executed + fallback, items.len());
        assert!(executed >= items.len() * 9 / 10, "only {executed} of {} executed ({fallback} fell back to text)", items.len());
    }
}
