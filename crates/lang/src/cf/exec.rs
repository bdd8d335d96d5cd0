//! Runs a conditional-formatting rule on a sheet, as Excel would apply it: which
//! cells of which column get formatted, and how. Two rules *execute alike* on a
//! sheet when they format the same rows of the same columns the same way; this is
//! the execution-match metric of NL-to-code on CF rules.
//!
//! Excel's semantics are kept where they decide the outcome: comparisons treat an
//! empty cell as 0 (or as empty text beside text) and text as greater than any
//! number; text tests ignore case; top/bottom and average rules read only the
//! numbers of the column, and ties at the cut are formatted too; a percentage
//! rank formats ⌊n·p/100⌋ cells, at least one.

use super::rule::{CellState, ColumnTest, Comparison, Operand, Rule, Subject, TextTest, Visual};
use super::table::{Cell, CellValue, Table};
use std::cmp::Ordering;
use std::collections::HashMap;

/// How the formatted cells look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The cells that pass the rule are highlighted.
    Highlight,
    /// Every number of the column is shaded by its value.
    Visual(Visual),
}

/// What a rule does to a sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub format: Format,
    /// The columns whose cells are formatted, ascending.
    pub columns: Vec<usize>,
    /// For each data row, whether it is formatted.
    pub rows: Vec<bool>,
}

/// Why a rule cannot run on a sheet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    #[error("the rule reads column c[{column}], but the sheet has {width} columns")]
    NoColumn { column: usize, width: usize },
    #[error("`{0}` depends on the day the sheet is opened, which a stored sheet does not have")]
    DependsOnToday(&'static str),
    #[error("a colour scale, data bar or icon set cannot be combined with other rules")]
    CombinedVisual,
}

/// Runs `rule` on `table`; a rule that names no column applies to `default_column`.
pub fn run(rule: &Rule, table: &Table, default_column: usize) -> Result<Outcome, ExecError> {
    let exec = Exec { table, default_column };
    if let Rule::Visual { visual, column } = rule {
        let column = exec.column(*column)?;
        let rows = (0..table.rows.len()).map(|r| matches!(table.cell(r, column).value, CellValue::Number(_))).collect();
        return Ok(Outcome { format: Format::Visual(*visual), columns: vec![column], rows });
    }
    let rows = exec.rows(rule)?;
    let mut columns = Vec::new();
    exec.applied_columns(rule, &mut columns)?;
    columns.sort_unstable();
    columns.dedup();
    Ok(Outcome { format: Format::Highlight, columns, rows })
}

/// What a gold rule does to a sheet, run once, to compare candidates against.
pub struct Expected<'a> {
    table: &'a Table,
    /// The column rules that name none apply to: the gold's first column (the
    /// table's default column when the gold names none).
    column: usize,
    outcome: Outcome,
}

impl<'a> Expected<'a> {
    /// Runs `gold` on `table`; a gold rule that cannot run is an error (the item
    /// cannot be scored by execution).
    pub fn new(gold: &Rule, table: &'a Table) -> Result<Self, ExecError> {
        let column = gold.columns().first().copied().unwrap_or_else(|| table.default_column());
        Ok(Expected { table, column, outcome: run(gold, table, column)? })
    }

    /// Whether `predicted` formats the sheet as the gold does; one that cannot run
    /// does not.
    pub fn matches(&self, predicted: &Rule) -> bool {
        run(predicted, self.table, self.column).is_ok_and(|outcome| outcome == self.outcome)
    }
}

/// Whether `predicted` formats `table` as `gold` does (see [`Expected`]).
pub fn execution_match(predicted: &Rule, gold: &Rule, table: &Table) -> Result<bool, ExecError> {
    Ok(Expected::new(gold, table)?.matches(predicted))
}

struct Exec<'a> {
    table: &'a Table,
    default_column: usize,
}

/// A value as Excel's comparison operators see it.
#[derive(Clone, Copy)]
enum Scalar<'a> {
    Empty,
    Number(f64),
    Text(&'a str),
}

impl<'a> Scalar<'a> {
    fn of(cell: &'a Cell) -> Scalar<'a> {
        match cell.value {
            CellValue::Empty => Scalar::Empty,
            CellValue::Number(n) => Scalar::Number(n),
            CellValue::Text => Scalar::Text(&cell.text),
        }
    }
}

/// Excel's order: empty is 0 beside a number and "" beside text; numbers < text;
/// text ignores case.
fn compare(a: Scalar, b: Scalar) -> Ordering {
    use Scalar::*;
    match (a, b) {
        (Empty, Empty) => Ordering::Equal,
        (Empty, Number(n)) => 0f64.total_cmp(&n),
        (Number(n), Empty) => n.total_cmp(&0.0),
        (Empty, Text(t)) => "".cmp(t.to_lowercase().as_str()),
        (Text(t), Empty) => t.to_lowercase().as_str().cmp(""),
        (Number(x), Number(y)) => x.total_cmp(&y),
        (Number(_), Text(_)) => Ordering::Less,
        (Text(_), Number(_)) => Ordering::Greater,
        (Text(x), Text(y)) => x.to_lowercase().cmp(&y.to_lowercase()),
    }
}

/// Error values as a sheet shows them (`#N/A`, `#DIV/0!`, `#VALUE!`, ...).
fn is_error_text(text: &str) -> bool {
    let t = text.trim();
    t.len() > 1 && t.starts_with('#') && t[1..].chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, '/' | '!' | '?' | '_'))
}

impl Exec<'_> {
    fn column(&self, column: Option<usize>) -> Result<usize, ExecError> {
        let column = column.unwrap_or(self.default_column);
        let width = self.table.width();
        if column < width {
            Ok(column)
        } else {
            Err(ExecError::NoColumn { column, width })
        }
    }

    fn cells(&self, column: usize) -> impl Iterator<Item = &Cell> {
        (0..self.table.rows.len()).map(move |r| self.table.cell(r, column))
    }

    fn numbers(&self, column: usize) -> Vec<f64> {
        self.cells(column).filter_map(|c| if let CellValue::Number(n) = c.value { Some(n) } else { None }).collect()
    }

    fn per_cell(&self, column: Option<usize>, test: impl Fn(&Cell) -> bool) -> Result<Vec<bool>, ExecError> {
        Ok(self.cells(self.column(column)?).map(test).collect())
    }

    fn rows(&self, rule: &Rule) -> Result<Vec<bool>, ExecError> {
        match rule {
            Rule::Visual { .. } => Err(ExecError::CombinedVisual),
            Rule::State { state, column } => self.per_cell(*column, |c| match state {
                CellState::Blank => c.value == CellValue::Empty,
                CellState::NotBlank => c.value != CellValue::Empty,
                CellState::Error => is_error_text(&c.text),
                CellState::NotError => !is_error_text(&c.text),
            }),
            Rule::Column { test, column } => self.column_test(*test, self.column(*column)?),
            Rule::Compare { comparison, subject, column, operand } => self.compare(*comparison, *subject, *column, *operand),
            Rule::Between { negated, column, low, high } => {
                let (low, high) = (low.min(*high), low.max(*high));
                self.per_cell(*column, |c| {
                    let v = Scalar::of(c);
                    let inside = compare(v, Scalar::Number(low)) != Ordering::Less && compare(v, Scalar::Number(high)) != Ordering::Greater;
                    inside != *negated
                })
            }
            Rule::Rank { top, count, percent, column } => self.rank(*top, *count, *percent, self.column(*column)?),
            Rule::Text { test, column, text } => {
                let needle = text.to_lowercase();
                self.per_cell(*column, |c| {
                    let hay = c.text.to_lowercase();
                    match test {
                        TextTest::Equals => hay.trim() == needle.trim(),
                        TextTest::Contains => hay.contains(&needle),
                        TextTest::NotContains => !hay.contains(&needle),
                        TextTest::BeginsWith => hay.starts_with(&needle),
                        TextTest::EndsWith => hay.ends_with(&needle),
                    }
                })
            }
            Rule::Date { period, .. } => Err(ExecError::DependsOnToday(period)),
            Rule::Not(inner) => Ok(self.rows(inner)?.into_iter().map(|b| !b).collect()),
            Rule::All(rules) => self.combine(rules, |a, b| a && b),
            Rule::Any(rules) => self.combine(rules, |a, b| a || b),
        }
    }

    fn combine(&self, rules: &[Rule], op: fn(bool, bool) -> bool) -> Result<Vec<bool>, ExecError> {
        let mut parts = rules.iter().map(|r| self.rows(r));
        let first = parts.next().unwrap_or_else(|| Ok(vec![false; self.table.rows.len()]))?;
        parts.try_fold(first, |acc, part| Ok(acc.into_iter().zip(part?).map(|(a, b)| op(a, b)).collect()))
    }

    fn compare(&self, comparison: Comparison, subject: Subject, column: Option<usize>, operand: Operand) -> Result<Vec<bool>, ExecError> {
        let column = self.column(column)?;
        if let Operand::Column(other) = operand {
            self.column(Some(other))?;
        }
        Ok((0..self.table.rows.len())
            .map(|r| {
                let cell = self.table.cell(r, column);
                let left = match subject {
                    Subject::Value => Scalar::of(cell),
                    Subject::Length => Scalar::Number(cell.text.chars().count() as f64),
                };
                let right = match operand {
                    Operand::Number(n) => Scalar::Number(n),
                    Operand::Column(other) => Scalar::of(self.table.cell(r, other)),
                };
                let order = compare(left, right);
                match comparison {
                    Comparison::Greater => order == Ordering::Greater,
                    Comparison::Less => order == Ordering::Less,
                    Comparison::Equal => order == Ordering::Equal,
                    Comparison::NotEqual => order != Ordering::Equal,
                    Comparison::GreaterOrEqual => order != Ordering::Less,
                    Comparison::LessOrEqual => order != Ordering::Greater,
                }
            })
            .collect())
    }

    fn column_test(&self, test: ColumnTest, column: usize) -> Result<Vec<bool>, ExecError> {
        match test {
            ColumnTest::Duplicate | ColumnTest::Unique => {
                let key = |c: &Cell| c.text.trim().to_lowercase();
                let mut counts: HashMap<String, usize> = HashMap::new();
                for cell in self.cells(column).filter(|c| c.value != CellValue::Empty) {
                    *counts.entry(key(cell)).or_default() += 1;
                }
                let duplicate = test == ColumnTest::Duplicate;
                Ok(self.cells(column).map(|c| c.value != CellValue::Empty && (counts[&key(c)] > 1) == duplicate).collect())
            }
            ColumnTest::AboveAverage | ColumnTest::BelowAverage => {
                let numbers = self.numbers(column);
                let mean = numbers.iter().sum::<f64>() / numbers.len().max(1) as f64;
                let above = test == ColumnTest::AboveAverage;
                Ok(self.cells(column).map(|c| matches!(c.value, CellValue::Number(n) if if above { n > mean } else { n < mean })).collect())
            }
        }
    }

    fn rank(&self, top: bool, count: u32, percent: bool, column: usize) -> Result<Vec<bool>, ExecError> {
        let mut numbers = self.numbers(column);
        let n = if percent { ((numbers.len() as u64 * u64::from(count)) / 100).max(1) as usize } else { count as usize };
        numbers.sort_by(|a, b| if top { b.total_cmp(a) } else { a.total_cmp(b) });
        if n == 0 || numbers.is_empty() {
            return Ok(vec![false; self.table.rows.len()]);
        }
        let cut = numbers[n.min(numbers.len()) - 1];
        Ok(self.cells(column).map(|c| matches!(c.value, CellValue::Number(v) if if top { v >= cut } else { v <= cut })).collect())
    }

    /// The columns a highlight rule formats: each test's own (not the columns it
    /// only reads, as `c[1]` in `LessThan(c[2], c[1])`).
    fn applied_columns(&self, rule: &Rule, out: &mut Vec<usize>) -> Result<(), ExecError> {
        if let Some(column) = rule.own_column() {
            out.push(self.column(column)?);
        }
        rule.children().iter().try_for_each(|r| self.applied_columns(r, out))
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse_rule;
    use super::*;

    fn table(rows: &[&[&str]]) -> Table {
        Table::from_rows(rows.iter().map(|r| r.iter().map(|s| Cell::from_text(s)).collect()).collect())
    }

    fn highlighted(rule: &str, t: &Table) -> Vec<usize> {
        let outcome = run(&parse_rule(rule).unwrap(), t, t.default_column()).unwrap();
        outcome.rows.iter().enumerate().filter(|(_, &on)| on).map(|(i, _)| i).collect()
    }

    /// Sheets and answers checked by hand against Excel's rule definitions.
    #[test]
    fn hand_checked_rules() {
        let fees = table(&[
            &["City", "Fee", "Note"],
            &["Kansas", "770", "ok"],
            &["Minnesota", "472", ""],
            &["Ohio", "", "#N/A"],
            &["Texas", "770", "late"],
            &["Utah", "100", "OK"],
            &["Iowa", "n/a", "ok"],
        ]);
        // text is greater than any number; the empty cell is 0
        assert_eq!(highlighted("GreaterThan(c[1], 471)", &fees), [0, 1, 3, 5]);
        assert_eq!(highlighted("LessThan(c[1], 200)", &fees), [2, 4]);
        assert_eq!(highlighted("Between(c[1], 800, 400)", &fees), [0, 1, 3]);
        assert_eq!(highlighted("NotBetween(c[1], 400, 800)", &fees), [2, 4, 5]);
        // the two 770s tie for first place: both are in the top 1
        assert_eq!(highlighted("Top(c[1], 1)", &fees), [0, 3]);
        assert_eq!(highlighted("Bottom(c[1], 2)", &fees), [1, 4]);
        // 4 numbers: 25% is one cell (the tie brings a second)
        assert_eq!(highlighted("TopPercent(c[1], 25)", &fees), [0, 3]);
        // mean of 770, 472, 770, 100 is 528
        assert_eq!(highlighted("AboveAverage(c[1])", &fees), [0, 3]);
        assert_eq!(highlighted("BelowAverage(c[1])", &fees), [1, 4]);
        assert_eq!(highlighted("Duplicates(c[2])", &fees), [0, 4, 5]);
        assert_eq!(highlighted("Unique(c[2])", &fees), [2, 3]);
        assert_eq!(highlighted("Blanks(c[2])", &fees), [1]);
        assert_eq!(highlighted("Errors(c[2])", &fees), [2]);
        assert_eq!(highlighted("TextEquals(c[2], 'OK')", &fees), [0, 4, 5]);
        assert_eq!(highlighted("TextContains(c[0], \"a\")", &fees), [0, 1, 3, 4, 5]);
        assert_eq!(highlighted("AND(StartsWith(c[0], 'K'), EndsWith(c[0], 's'))", &fees), [0]);
        assert_eq!(highlighted("OR(TextEquals(c[0], 'Ohio'), Equals(c[1], 100))", &fees), [2, 4]);
        assert_eq!(highlighted("NOT(Blanks(c[2]))", &fees), [0, 2, 3, 4, 5]);
        assert_eq!(highlighted("GreaterThan(LEN(c[0]), 5)", &fees), [0, 1]);
        assert_eq!(highlighted("LessThan(c[1], c[1])", &fees), Vec::<usize>::new());

        let dates = table(&[&["Product", "Date 1", "Date 2"], &["A", "6/01/2020", "24/01/2020"], &["B", "26/01/2020", "11/01/2020"]]);
        assert_eq!(highlighted("GreaterThan(c[2], c[1])", &dates), [0]);
        // no column: the last (no column is headed Value)
        assert_eq!(highlighted("GreaterThan(43850)", &dates), [0]);
    }

    #[test]
    fn execution_match_compares_rows_columns_and_format() {
        let t = table(&[&["Index", "Value"], &["0", "5"], &["1", "50"], &["2", "500"]]);
        let gold = parse_rule("GreaterThan(c[1], 40)").unwrap();
        for (predicted, same) in [
            ("GreaterThan(40)", true),
            ("GreaterThanEqual(50)", true),
            ("top(2)", true),
            ("NOT(LessThan(c[1], 49))", true),
            ("GreaterThan(c[0], 40)", false),
            ("GreaterThan(c[7], 40)", false),
            ("DataBar(c[1])", false),
            ("LastMonth(c[1])", false),
        ] {
            assert_eq!(execution_match(&parse_rule(predicted).unwrap(), &gold, &t), Ok(same), "{predicted}");
        }
        let dated = parse_rule("LastMonth(c[0])").unwrap();
        assert_eq!(execution_match(&gold, &dated, &t), Err(ExecError::DependsOnToday("LastMonth")));
        assert_eq!(run(&parse_rule("AND(DataBar(), Blanks())").unwrap(), &t, 1), Err(ExecError::CombinedVisual));
    }

    /// The NL-to-code benchmark's test split: 118 items carry a sheet; every gold
    /// rule of them runs except the two Excel formulas outside the rule language,
    /// the one date rule, and `NOT(Duplicates(c[2]))` on a two-column sheet.
    #[test]
    fn gold_rules_of_the_benchmark_run_on_their_sheets() {
        #[derive(serde::Deserialize)]
        struct Item {
            #[serde(rename = "Code")]
            code: String,
            #[serde(rename = "Data")]
            data: Vec<Vec<Cell>>,
        }
        #[derive(serde::Deserialize)]
        struct Bench {
            test: Vec<Item>,
        }
        let path = crate::repo_file("corpora/benchmarks/nl2code/cfrule.json");
        let bench: Bench = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let with_sheet: Vec<&Item> = bench.test.iter().filter(|i| i.data.len() > 1).collect();
        assert_eq!(with_sheet.len(), 118);
        let (mut runs, mut formatted) = (0, 0);
        let mut failures = Vec::new();
        for item in with_sheet {
            let table = Table::from_rows(item.data.clone());
            match parse_rule(&item.code).map_err(|e| e.to_string()).and_then(|rule| {
                let column = rule.columns().first().copied().unwrap_or_else(|| table.default_column());
                run(&rule, &table, column).map_err(|e| e.to_string())
            }) {
                Ok(outcome) => {
                    runs += 1;
                    formatted += usize::from(outcome.rows.iter().any(|&on| on));
                    assert!(execution_match(&parse_rule(&item.code).unwrap(), &parse_rule(&item.code).unwrap(), &table).unwrap());
                }
                Err(e) => failures.push(format!("{}: {e}", item.code)),
            }
        }
        assert_eq!(runs, 114, "{failures:#?}");
        assert!(failures.iter().any(|f| f.starts_with("LastMonth")), "{failures:#?}");
        // a gold rule formats at least one row of its sheet in nearly every item (the
        // rest test for values their sheets lack, as `AND(StartsWith(c[0], 'A'), EndsWith(c[0], 'X'))`)
        assert!(formatted >= 106, "{formatted} of 114 format a row");
    }
}
