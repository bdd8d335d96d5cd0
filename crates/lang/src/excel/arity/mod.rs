//! How many arguments each built-in function takes. Excel's formula bar refuses
//! `=IF(A1>2)` ("You've entered too few arguments for this function") and
//! `=LEFT(A1,2,3)` (too many) although both fit the grammar, so the strict
//! check refuses them too; a read-out then cannot answer `=IF(B3>10;1;0)` with
//! the one-argument `=IF(B3>10 -1<0)`, and a slip that leaves a call with the
//! wrong count (`=NETWORKDAYS(A2-B2)` for `=NETWORKDAYS(A2,B2)`) is seen.
//!
//! The table (`arity_table.rs`) is IronCalc's: every function name that occurs
//! in the Excel corpus or benchmark (and a list of common ones),
//! called with 0 to [`PROBED_ARGS`] arguments, keeps the counts IronCalc does
//! not answer "Wrong number of arguments"; a function that accepts
//! [`PROBED_ARGS`] takes any count up to Excel's 255. A name IronCalc does not
//! know (a user-defined or add-in function) has no row and takes any count; the
//! rows are also the names a misspelt call is corrected to ([`known_functions`]).
//! Where IronCalc's count is narrower than Excel's documented signature
//! (`EXCEL_CORRECTIONS` in the test, found by checking the corpus), Excel's
//! wins. The test `the_table_is_ironcalcs` probes the engine again and fails
//! when the committed table differs (`LASTMILE_BLESS=1` rewrites it).

#[rustfmt::skip]
mod arity_table;

/// The most arguments probed; a function that accepts this many is variadic.
pub(crate) const PROBED_ARGS: usize = 16;

/// Excel's limit on a function's arguments.
pub(crate) const MAX_ARGS: usize = 255;

/// The accepted argument counts of a function, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Arity {
    pub min: usize,
    pub max: usize,
}

impl Arity {
    /// "2 to 3 arguments", "1 argument", "at least 1 argument".
    pub fn describe(self) -> String {
        let noun = |n: usize| if n == 1 { "argument" } else { "arguments" };
        match (self.min, self.max) {
            (min, max) if min == max => format!("{min} {}", noun(min)),
            (min, MAX_ARGS) => format!("at least {min} {}", noun(min)),
            (0, max) => format!("at most {max} {}", noun(max)),
            (min, max) => format!("{min} to {max} arguments"),
        }
    }
}

/// A function token's name without the `_xlfn.` / `_xlws.` prefixes that files
/// write before newer functions.
fn unprefixed(name: &str) -> &str {
    let mut name = name;
    while let Some(rest) = name.strip_prefix("_xlfn.").or_else(|| name.strip_prefix("_xlws.")) {
        name = rest;
    }
    name
}

/// Every function name of the table, upper case, sorted.
pub(crate) fn known_functions() -> impl Iterator<Item = &'static str> {
    arity_table::ARITIES.iter().map(|(name, _, _)| *name)
}

/// The argument counts `name` accepts, or `None` for a function the table
/// does not know (any count goes). Compared in upper case without allocating:
/// the strict check looks up every call it parses.
pub(crate) fn arity(name: &str) -> Option<Arity> {
    let upper = unprefixed(name).bytes().map(|b| b.to_ascii_uppercase());
    let table = arity_table::ARITIES;
    let i = table.binary_search_by(|(n, _, _)| n.bytes().cmp(upper.clone())).ok()?;
    let (_, min, max) = table[i];
    Some(Arity { min: min as usize, max: if max as usize == PROBED_ARGS { MAX_ARGS } else { max as usize } })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironcalc_base::types::{Cell, FormulaValue};
    use ironcalc_base::Model;
    use std::collections::BTreeSet;

    /// Functions whose documented Excel signature accepts more than IronCalc
    /// 0.9.1 does: `RATE(nper, pmt, pv, [fv], [type], [guess])`.
    const EXCEL_CORRECTIONS: &[(&str, usize, usize)] = &[("RATE", 3, 6)];

    /// Common functions a user may mean though the corpus never calls them:
    /// probed too, so a misspelling of one is corrected to it.
    pub(super) const EXTRA_NAMES: &[&str] = &[
        "AVERAGEIF",
        "AVERAGEIFS",
        "CONCAT",
        "COUNTIFS",
        "DATEDIF",
        "EOMONTH",
        "FILTER",
        "IFERROR",
        "IFNA",
        "IFS",
        "INDEX",
        "ISBLANK",
        "ISERROR",
        "ISNUMBER",
        "ISTEXT",
        "LARGE",
        "MAXIFS",
        "MINIFS",
        "NETWORKDAYS",
        "PROPER",
        "RANK",
        "SMALL",
        "SORT",
        "SUBSTITUTE",
        "SUMIFS",
        "SUMPRODUCT",
        "SWITCH",
        "TEXTJOIN",
        "TRIM",
        "UNIQUE",
        "WEEKDAY",
        "WORKDAY",
        "XLOOKUP",
        "XMATCH",
    ];

    /// Every function name of the Excel corpus and repair benchmark, and the
    /// common ones of [`EXTRA_NAMES`].
    fn corpus_names() -> BTreeSet<String> {
        let root = crate::repo_file("corpora");
        let euses = std::fs::read_to_string(root.join("excel/euses-formulas.txt")).unwrap();
        let bench: Vec<serde_json::Value> =
            serde_json::from_str(&std::fs::read_to_string(root.join("benchmarks/repair/excel.json")).unwrap()).unwrap();
        let bench = bench.iter().flat_map(|item| ["Buggy", "GroundTruth"].map(|k| item[k].as_str().unwrap_or("").to_string()));
        let mut names: BTreeSet<String> = EXTRA_NAMES.iter().map(|n| n.to_string()).collect();
        // EUSES lines are quoted, inner quotes doubled, without the `=`
        let euses = euses.lines().map(|line| format!("={}", line.trim().trim_matches('"').replace("\"\"", "\"")));
        for text in euses.chain(bench) {
            for token in super::super::lexer::lex(&text) {
                if token.kind == super::super::lexer::XlKind::Function {
                    names.insert(unprefixed(token.text).to_ascii_uppercase());
                }
            }
        }
        names
    }

    /// IronCalc's answer for `name`: the fewest and the most arguments in
    /// 0..=PROBED_ARGS it does not reject as the wrong number, or `None` for a
    /// name it does not know ("Invalid function") or cannot run.
    fn probe(name: &str) -> Option<(usize, usize)> {
        let mut model = Model::new_empty("probe", "en", "UTC", "en").unwrap();
        for k in 0..=PROBED_ARGS {
            let formula = format!("={name}({})", vec!["1"; k].join(","));
            model.set_user_input(0, k as i32 + 1, 1, formula).ok()?;
        }
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| model.evaluate())).ok()?;
        let message = |k: usize| match model.workbook.worksheet(0).unwrap().cell(k as i32 + 1, 1).as_deref() {
            Some(
                Cell::CellFormula { v: FormulaValue::Error { d, .. }, .. } | Cell::ArrayFormula { v: FormulaValue::Error { d, .. }, .. },
            ) => d.m.clone(),
            _ => String::new(),
        };
        let messages: Vec<String> = (0..=PROBED_ARGS).map(message).collect();
        if messages.iter().any(|m| m.starts_with("Invalid function")) {
            return None;
        }
        let accepted: Vec<usize> = (0..=PROBED_ARGS).filter(|&k| messages[k] != "Wrong number of arguments").collect();
        Some((*accepted.first()?, *accepted.last()?))
    }

    fn render(table: &[(String, usize, usize)]) -> String {
        let mut out = String::from(
            "//! Generated by `the_table_is_ironcalcs` (arity/mod.rs) from IronCalc: each function\n\
             //! of the Excel corpus and benchmark (and the common extra names) that IronCalc knows,\n\
             //! with the fewest and the most arguments it accepts (16: no upper bound). Sorted for\n\
             //! binary search.\n\n\
             pub(super) const ARITIES: &[(&str, u8, u8)] = &[\n",
        );
        for (name, min, max) in table {
            out.push_str(&format!("    (\"{name}\", {min}, {max}),\n"));
        }
        out.push_str("];\n");
        out
    }

    #[test]
    fn the_table_is_ironcalcs() {
        // a name IronCalc does not know gets no row
        let table: Vec<(String, usize, usize)> = corpus_names()
            .into_iter()
            .filter_map(|name| probe(&name).map(|(min, max)| (name, min, max)))
            .map(|(name, min, max)| match EXCEL_CORRECTIONS.iter().find(|(n, ..)| *n == name) {
                Some(&(_, excel_min, excel_max)) => (name, excel_min, excel_max),
                None => (name, min, max),
            })
            .collect();
        let rendered = render(&table);
        let path = crate::repo_file("crates/lang/src/excel/arity/arity_table.rs");
        if std::env::var_os("LASTMILE_BLESS").is_some() {
            std::fs::write(&path, &rendered).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap();
        assert!(
            committed == rendered,
            "{} differs from IronCalc's answers ({} functions probed); LASTMILE_BLESS=1 cargo test -p lastmile-lang arity rewrites it",
            path.display(),
            table.len()
        );
    }

    #[test]
    fn common_functions_take_excels_counts() {
        assert_eq!(arity("IF"), Some(Arity { min: 2, max: 3 }));
        assert_eq!(arity("if"), Some(Arity { min: 2, max: 3 }));
        assert_eq!(arity("VLOOKUP"), Some(Arity { min: 3, max: 4 }));
        assert_eq!(arity("SUM").map(|a| a.max), Some(MAX_ARGS));
        assert_eq!(arity("_xlfn.IFERROR"), Some(Arity { min: 2, max: 2 }));
        assert_eq!(arity("NETWORKDAYS"), Some(Arity { min: 2, max: 3 }));
        assert_eq!(arity("RATE"), Some(Arity { min: 3, max: 6 }));
        assert_eq!(arity("MYADDIN"), None);
        assert_eq!(arity("XLOOKUP").map(|a| a.min), Some(3), "a common function the corpus never calls");
        assert!(known_functions().any(|n| n == "TODAY") && !known_functions().any(|n| n == "COLORSUM"), "an add-in has no row");
        assert_eq!(Arity { min: 2, max: 3 }.describe(), "2 to 3 arguments");
        assert_eq!(Arity { min: 1, max: MAX_ARGS }.describe(), "at least 1 argument");
        assert_eq!(Arity { min: 0, max: 0 }.describe(), "0 arguments");
    }
}
