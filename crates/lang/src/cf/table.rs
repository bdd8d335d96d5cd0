//! The sheet a conditional-formatting rule runs on: a header row and rows of cells,
//! as the NL-to-code benchmark stores them (`"Data": [["City", "Fee"], ["Kansas",
//! 770], ...]`).
//!
//! A cell is read as Excel would have stored it: numbers, and text that spells a
//! number or a date (`619.5`, `20/8/2021`, `2022-12-06`; dates day first, as the
//! benchmark writes them), are numbers (dates as Excel serial days); blank text is
//! an empty cell; anything else is text.

use serde::Deserialize;

/// One cell: the text a user sees, and the value Excel compares.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// The text shown in the cell (what text rules test).
    pub text: String,
    /// The value compared by number rules.
    pub value: CellValue,
}

/// The value of a cell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CellValue {
    Empty,
    Number(f64),
    Text,
}

/// A cell as JSON holds it.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawCell {
    Bool(bool),
    Number(f64),
    Text(String),
    Null(()),
}

impl<'de> Deserialize<'de> for Cell {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match RawCell::deserialize(deserializer)? {
            RawCell::Bool(b) => Cell { text: if b { "TRUE" } else { "FALSE" }.into(), value: CellValue::Text },
            RawCell::Number(n) => Cell::number(n),
            RawCell::Text(s) => Cell::from_text(&s),
            RawCell::Null(()) => Cell { text: String::new(), value: CellValue::Empty },
        })
    }
}

impl Cell {
    /// A number, shown as Excel's General format shows it (no `.0` on integers).
    pub fn number(n: f64) -> Cell {
        Cell { text: format!("{n}"), value: CellValue::Number(n) }
    }

    /// A cell typed as `text`.
    pub fn from_text(text: &str) -> Cell {
        let trimmed = text.trim();
        let value = if trimmed.is_empty() {
            CellValue::Empty
        } else if let Some(n) = parse_number(trimmed).or_else(|| parse_date(trimmed)) {
            CellValue::Number(n)
        } else {
            CellValue::Text
        };
        Cell { text: text.to_string(), value }
    }
}

/// A decimal number as a user types it: an optional currency sign, thousands
/// separators, a trailing `%` (no `inf`, `NaN` or hex, which Rust accepts).
fn parse_number(text: &str) -> Option<f64> {
    let (negative, rest) = text.strip_prefix('-').map_or((false, text), |r| (true, r));
    let rest = rest.strip_prefix(['$', '€', '£']).unwrap_or(rest);
    let (percent, rest) = rest.strip_suffix('%').map_or((false, rest), |r| (true, r));
    let plain = rest.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+' | ','));
    if !plain || !rest.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    // `1,234,567`: every group after the first has three digits
    let integer = rest.split(['.', 'e', 'E']).next().unwrap_or("");
    if integer.contains(',') && integer.split(',').skip(1).any(|g| g.len() != 3) || rest[integer.len()..].contains(',') {
        return None;
    }
    let value: f64 = rest.replace(',', "").parse().ok()?;
    let value = if percent { value / 100.0 } else { value };
    Some(if negative { -value } else { value })
}

/// `d/m/yyyy` or `yyyy-mm-dd` as an Excel serial day (days since 1899-12-30).
fn parse_date(text: &str) -> Option<f64> {
    let parts: Vec<&str> = text.split(['/', '-']).collect();
    let [a, b, c] = parts[..] else { return None };
    let number = |s: &str| (!s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse::<i64>().ok()).flatten();
    let (year, month, day) = if text.contains('/') && c.len() == 4 {
        (number(c)?, number(b)?, number(a)?)
    } else if text.contains('-') && a.len() == 4 {
        (number(a)?, number(b)?, number(c)?)
    } else {
        return None;
    };
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => return None,
    };
    (1..=days_in_month).contains(&day).then(|| (days_from_civil(year, month, day) - days_from_civil(1899, 12, 30)) as f64)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A sheet: column names and rows (rows may be ragged; a missing cell is empty).
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// The benchmark's `Data`: the first row is the header.
    pub fn from_rows(mut rows: Vec<Vec<Cell>>) -> Table {
        let header = if rows.is_empty() { Vec::new() } else { rows.remove(0).into_iter().map(|c| c.text).collect() };
        Table { header, rows }
    }

    /// How many columns the sheet has.
    pub fn width(&self) -> usize {
        self.rows.iter().map(Vec::len).chain([self.header.len()]).max().unwrap_or(0)
    }

    /// The cell at `row`, `column`; empty past a short row's end.
    pub fn cell(&self, row: usize, column: usize) -> &Cell {
        static EMPTY: Cell = Cell { text: String::new(), value: CellValue::Empty };
        self.rows[row].get(column).unwrap_or(&EMPTY)
    }

    /// The column a rule that names none applies to: the one headed `Value` (the
    /// benchmark's train split), else the last.
    pub fn default_column(&self) -> usize {
        self.header.iter().position(|h| h.eq_ignore_ascii_case("value")).unwrap_or(self.width().saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_cells_as_excel_stores_them() {
        assert_eq!(Cell::from_text("619.5").value, CellValue::Number(619.5));
        assert_eq!(Cell::from_text("  ").value, CellValue::Empty);
        assert_eq!(Cell::from_text("inf").value, CellValue::Text);
        assert_eq!(Cell::from_text("$1,174").value, CellValue::Number(1174.0));
        assert_eq!(Cell::from_text("-12.5%").value, CellValue::Number(-0.125));
        assert_eq!(Cell::from_text("1,23").value, CellValue::Text);
        assert_eq!(Cell::from_text("M/301").value, CellValue::Text);
        assert_eq!(Cell::from_text("#ERR").value, CellValue::Text);
        // Excel's serial days: 1900-01-01 is 1 (after its leap-year bug, 2), 2020-01-06 is 43836
        assert_eq!(Cell::from_text("6/01/2020").value, CellValue::Number(43836.0));
        assert_eq!(Cell::from_text("2020-01-06").value, CellValue::Number(43836.0));
        assert_eq!(Cell::from_text("31/02/2020").value, CellValue::Text);
        assert_eq!(Cell::number(7.0).text, "7");
    }

    #[test]
    fn the_value_column_is_the_default() {
        let cells = |row: &[&str]| row.iter().map(|s| Cell::from_text(s)).collect::<Vec<_>>();
        let table = Table::from_rows(vec![cells(&["Index", "Value", "Point"]), cells(&["0", "1", "2"])]);
        assert_eq!(table.default_column(), 1);
        let table = Table::from_rows(vec![cells(&["City", "Date", "Temperature"]), cells(&["Haifa", "30/6/2021", "36"])]);
        assert_eq!(table.default_column(), 2);
    }
}
