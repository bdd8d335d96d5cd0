//! A conditional-formatting rule parsed into a tree ([`Rule`]), for the checker,
//! the lexer (which needs the spans of free-text arguments) and the executor.
//!
//! Two dialects are accepted:
//! - the CodeFusion corpus's, with no column: `Between(15, 85)`, `top(25%)`,
//!   `TextContains(RT (Retaken))` (free text may hold parentheses: every closing
//!   parenthesis on the line is tried);
//! - the NL-to-code test split's, with a column reference first: `Top(c[1], 2)`,
//!   `TextEquals(c[6], 'No')`, `GreaterThan(LEN(c[0]), 6)`, `LessThan(c[2], c[1])`.
//!
//! Names are case-sensitive; each dialect's spelling is listed in [`HEADS`].

use super::super::SyntaxError;
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::rc::Rc;

/// A comparison of a cell with a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Greater,
    Less,
    Equal,
    NotEqual,
    GreaterOrEqual,
    LessOrEqual,
}

/// A test of a cell's text (case-insensitive, as Excel's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextTest {
    Equals,
    Contains,
    NotContains,
    BeginsWith,
    EndsWith,
}

/// A format that shades every number of the column by its value, rather than
/// highlighting the cells that pass a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visual {
    ColorScale,
    DataBar,
    IconSet,
}

/// A test of one cell alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellState {
    Blank,
    NotBlank,
    Error,
    NotError,
}

/// A test of a cell against the rest of its column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnTest {
    Duplicate,
    Unique,
    AboveAverage,
    BelowAverage,
}

/// What a comparison tests: the cell's value, or the length of its text (`LEN(c[k])`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Value,
    Length,
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Operand {
    Number(f64),
    /// The cell of the same row in another column.
    Column(usize),
}

/// A parsed rule. `column` is `c[k]` (0-based) when the rule names one; a rule
/// without one applies to the column the caller chooses.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    Visual {
        visual: Visual,
        column: Option<usize>,
    },
    State {
        state: CellState,
        column: Option<usize>,
    },
    Column {
        test: ColumnTest,
        column: Option<usize>,
    },
    Compare {
        comparison: Comparison,
        subject: Subject,
        column: Option<usize>,
        operand: Operand,
    },
    Between {
        negated: bool,
        column: Option<usize>,
        low: f64,
        high: f64,
    },
    /// The `count` highest (or lowest) numbers, or that percentage of them.
    Rank {
        top: bool,
        count: u32,
        percent: bool,
        column: Option<usize>,
    },
    Text {
        test: TextTest,
        column: Option<usize>,
        text: String,
    },
    /// A date period relative to the day the sheet is opened (`LastMonth`).
    Date {
        period: &'static str,
        column: Option<usize>,
    },
    Not(Box<Rule>),
    All(Vec<Rule>),
    Any(Vec<Rule>),
}

impl Rule {
    /// The columns the rule names, in order of appearance, without repeats.
    pub fn columns(&self) -> Vec<usize> {
        let mut out = Vec::new();
        self.visit_columns(&mut out);
        out
    }

    fn visit_columns(&self, out: &mut Vec<usize>) {
        let operand = match self {
            Rule::Compare { operand: Operand::Column(c), .. } => Some(*c),
            _ => None,
        };
        for c in [self.own_column().flatten(), operand].into_iter().flatten() {
            if !out.contains(&c) {
                out.push(c);
            }
        }
        self.children().iter().for_each(|r| r.visit_columns(out));
    }

    /// The column a test names (`Some(None)` when it names none); `None` for
    /// `NOT`, `AND` and `OR`, which test nothing themselves.
    pub fn own_column(&self) -> Option<Option<usize>> {
        match self {
            Rule::Visual { column, .. }
            | Rule::State { column, .. }
            | Rule::Column { column, .. }
            | Rule::Compare { column, .. }
            | Rule::Between { column, .. }
            | Rule::Rank { column, .. }
            | Rule::Text { column, .. }
            | Rule::Date { column, .. } => Some(*column),
            Rule::Not(_) | Rule::All(_) | Rule::Any(_) => None,
        }
    }

    /// The values the rule was written with, in order: its numbers (a compared
    /// number, the bounds of `Between`, a rank's count) and its text values. A rule
    /// grounded in its request takes these from the request's words.
    pub fn literals(&self) -> (Vec<f64>, Vec<&str>) {
        let (mut numbers, mut texts) = (Vec::new(), Vec::new());
        self.visit_literals(&mut numbers, &mut texts);
        (numbers, texts)
    }

    fn visit_literals<'a>(&'a self, numbers: &mut Vec<f64>, texts: &mut Vec<&'a str>) {
        match self {
            Rule::Compare { operand: Operand::Number(n), .. } => numbers.push(*n),
            Rule::Between { low, high, .. } => numbers.extend([*low, *high]),
            Rule::Rank { count, .. } => numbers.push(f64::from(*count)),
            Rule::Text { text, .. } => texts.push(text),
            _ => {}
        }
        self.children().iter().for_each(|r| r.visit_literals(numbers, texts));
    }

    /// The rules `NOT`, `AND` and `OR` combine; none for a test.
    pub fn children(&self) -> &[Rule] {
        match self {
            Rule::Not(inner) => std::slice::from_ref(inner),
            Rule::All(rules) | Rule::Any(rules) => rules,
            _ => &[],
        }
    }
}

/// What a rule name introduces.
#[derive(Debug, Clone, Copy)]
enum Head {
    Visual(Visual),
    State(CellState),
    Column(ColumnTest),
    Compare(Comparison),
    Between { negated: bool },
    Rank { top: bool, percent: bool },
    Text(TextTest),
    Date(&'static str),
    Not,
    And,
    Or,
}

/// Every rule name of both dialects.
const HEADS: &[(&str, Head)] = &[
    ("ColorScale", Head::Visual(Visual::ColorScale)),
    ("DataBar", Head::Visual(Visual::DataBar)),
    ("IconSet", Head::Visual(Visual::IconSet)),
    ("Blanks", Head::State(CellState::Blank)),
    ("NoBlanks", Head::State(CellState::NotBlank)),
    ("Errors", Head::State(CellState::Error)),
    ("NoErrors", Head::State(CellState::NotError)),
    ("Duplicate", Head::Column(ColumnTest::Duplicate)),
    ("Duplicates", Head::Column(ColumnTest::Duplicate)),
    ("Unique", Head::Column(ColumnTest::Unique)),
    ("aboveAverage", Head::Column(ColumnTest::AboveAverage)),
    ("AboveAverage", Head::Column(ColumnTest::AboveAverage)),
    ("belowAverage", Head::Column(ColumnTest::BelowAverage)),
    ("BelowAverage", Head::Column(ColumnTest::BelowAverage)),
    ("GreaterThan", Head::Compare(Comparison::Greater)),
    ("LessThan", Head::Compare(Comparison::Less)),
    ("Equals", Head::Compare(Comparison::Equal)),
    ("NotEquals", Head::Compare(Comparison::NotEqual)),
    ("GreaterThanEqual", Head::Compare(Comparison::GreaterOrEqual)),
    ("GreaterThanEquals", Head::Compare(Comparison::GreaterOrEqual)),
    ("LessThanEqual", Head::Compare(Comparison::LessOrEqual)),
    ("LessThanEquals", Head::Compare(Comparison::LessOrEqual)),
    ("Between", Head::Between { negated: false }),
    ("NotBetween", Head::Between { negated: true }),
    ("top", Head::Rank { top: true, percent: false }),
    ("Top", Head::Rank { top: true, percent: false }),
    ("bottom", Head::Rank { top: false, percent: false }),
    ("Bottom", Head::Rank { top: false, percent: false }),
    ("TopPercent", Head::Rank { top: true, percent: true }),
    ("BottomPercent", Head::Rank { top: false, percent: true }),
    ("TextEquals", Head::Text(TextTest::Equals)),
    ("TextContains", Head::Text(TextTest::Contains)),
    ("TextNotContains", Head::Text(TextTest::NotContains)),
    ("TextBeginsWith", Head::Text(TextTest::BeginsWith)),
    ("TextStartsWith", Head::Text(TextTest::BeginsWith)),
    ("StartsWith", Head::Text(TextTest::BeginsWith)),
    ("TextEndsWith", Head::Text(TextTest::EndsWith)),
    ("EndsWith", Head::Text(TextTest::EndsWith)),
    ("Yesterday", Head::Date("Yesterday")),
    ("Today", Head::Date("Today")),
    ("Tomorrow", Head::Date("Tomorrow")),
    ("Last7Days", Head::Date("Last7Days")),
    ("LastWeek", Head::Date("LastWeek")),
    ("ThisWeek", Head::Date("ThisWeek")),
    ("NextWeek", Head::Date("NextWeek")),
    ("LastMonth", Head::Date("LastMonth")),
    ("ThisMonth", Head::Date("ThisMonth")),
    ("NextMonth", Head::Date("NextMonth")),
    ("AND", Head::And),
    ("OR", Head::Or),
    ("NOT", Head::Not),
    ("Not", Head::Not),
];

/// The names whose argument is free text (for lexing rules that do not parse).
pub(super) fn text_rule_names() -> impl Iterator<Item = &'static str> {
    HEADS.iter().filter(|(_, head)| matches!(head, Head::Text(_))).map(|&(name, _)| name)
}

/// Rank rules with a column and no count keep Excel's default, the top 10.
const DEFAULT_RANK_COUNT: u32 = 10;

/// One way a rule can end: its tree, its end offset, the spans of its free text.
#[derive(Debug, Clone)]
struct Parse {
    rule: Rule,
    end: usize,
    texts: Vec<Range<usize>>,
}

/// Parse failure: the furthest offset reached and what was expected there.
#[derive(Debug, Clone)]
struct Failure {
    offset: usize,
    expected: String,
}

struct Parser<'a> {
    text: &'a str,
    furthest: Failure,
    /// The parses of a rule starting at each offset, computed once: free text
    /// makes the alternatives many, and without the table repeated rules would
    /// be re-parsed along every path that reaches them (exponential time).
    memo: HashMap<usize, Rc<Vec<Parse>>>,
}

/// A partial list of a logical rule's arguments, shared between the paths that
/// extend it: the last rule (an index into the memoised parses) and the list before.
struct Partial {
    parses: Rc<Vec<Parse>>,
    index: usize,
    before: Option<Rc<Partial>>,
    count: usize,
    text_len: usize,
}

impl Partial {
    /// The rules and text spans of the list, in order.
    fn unfold(&self) -> (Vec<Rule>, Vec<Range<usize>>) {
        let mut nodes = vec![self];
        while let Some(before) = nodes.last().and_then(|n| n.before.as_deref()) {
            nodes.push(before);
        }
        let mut rules = Vec::with_capacity(nodes.len());
        let mut texts = Vec::new();
        for node in nodes.into_iter().rev() {
            let parse = &node.parses[node.index];
            rules.push(parse.rule.clone());
            texts.extend(parse.texts.iter().cloned());
        }
        (rules, texts)
    }
}

impl<'a> Parser<'a> {
    fn fail(&mut self, offset: usize, expected: impl Into<String>) {
        if offset >= self.furthest.offset {
            self.furthest = Failure { offset, expected: expected.into() };
        }
    }

    fn skip_spaces(&self, pos: usize) -> usize {
        pos + self.text[pos..].len() - self.text[pos..].trim_start_matches(' ').len()
    }

    fn expect(&mut self, pos: usize, literal: &str) -> Option<usize> {
        if self.text[pos..].starts_with(literal) {
            Some(pos + literal.len())
        } else {
            self.fail(pos, format!("`{literal}`"));
            None
        }
    }

    /// A number at `pos` (spaces around it skipped): its value and end.
    fn number(&mut self, pos: usize, integer_only: bool) -> Option<(f64, usize)> {
        let pos = self.skip_spaces(pos);
        let bytes = self.text.as_bytes();
        let mut i = pos;
        if !integer_only && bytes.get(i) == Some(&b'-') {
            i += 1;
        }
        let int_digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        i += int_digits;
        let mut frac_digits = 0;
        if !integer_only && bytes.get(i) == Some(&b'.') {
            frac_digits = bytes[i + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
            i += 1 + frac_digits;
        }
        if int_digits + frac_digits == 0 {
            self.fail(pos, if integer_only { "an integer" } else { "a number" });
            return None;
        }
        if !integer_only && matches!(bytes.get(i), Some(b'e' | b'E')) {
            let mut j = i + 1;
            if matches!(bytes.get(j), Some(b'+' | b'-')) {
                j += 1;
            }
            let exp = bytes[j..].iter().take_while(|b| b.is_ascii_digit()).count();
            if exp == 0 {
                self.fail(j, "exponent digits");
                return None;
            }
            i = j + exp;
        }
        // the digits are ASCII, so the slice is a valid float literal or an
        // out-of-range integer, which saturates
        let value = self.text[pos..i].parse::<f64>().unwrap_or(f64::MAX);
        Some((value, self.skip_spaces(i)))
    }

    /// A column reference `c[k]` at `pos`: `k` and the end (spaces skipped). Optional
    /// everywhere, so a miss records no failure.
    fn column(&self, pos: usize) -> Option<(usize, usize)> {
        let pos = self.skip_spaces(pos);
        let rest = self.text[pos..].strip_prefix("c[")?;
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let index = rest[..digits].parse().ok()?;
        rest[digits..].starts_with(']').then(|| (index, self.skip_spaces(pos + 2 + digits + 1)))
    }

    /// `c[k] ,` at `pos`: the column and the position after the comma.
    fn column_then_comma(&self, pos: usize) -> Option<(usize, usize)> {
        let (column, end) = self.column(pos)?;
        self.text[end..].starts_with(',').then(|| (column, self.skip_spaces(end + 1)))
    }

    /// The ways a rule starting at `pos` can end: for each end, the reading with
    /// the least free text.
    fn rule(&mut self, pos: usize) -> Rc<Vec<Parse>> {
        if let Some(parses) = self.memo.get(&pos) {
            return Rc::clone(parses);
        }
        let mut parses = self.rule_uncached(pos);
        // stable: among equal ends and text lengths, the first reading stays
        parses.sort_by_key(|p| (p.end, text_len(&p.texts)));
        parses.dedup_by_key(|p| p.end);
        let parses = Rc::new(parses);
        self.memo.insert(pos, Rc::clone(&parses));
        parses
    }

    fn rule_uncached(&mut self, pos: usize) -> Vec<Parse> {
        let rest = &self.text[pos..];
        let name_len = rest.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(rest.len());
        let name = &rest[..name_len];
        let Some(after) = (name_len > 0).then(|| self.expect(pos + name_len, "(")).flatten() else {
            if name_len == 0 {
                self.fail(pos, "a rule name");
            }
            return Vec::new();
        };
        let Some(&(_, head)) = HEADS.iter().find(|(n, _)| *n == name) else {
            self.fail(pos, "a known rule name");
            return Vec::new();
        };
        // the rules with one way to parse: their arguments, then `)`
        let simple = match head {
            Head::Text(test) => return self.text_rule(test, after),
            Head::Not | Head::And | Head::Or => return self.logical(head, after),
            Head::Visual(visual) => self.only_column(after).map(|(column, end)| (Rule::Visual { visual, column }, end)),
            Head::State(state) => self.only_column(after).map(|(column, end)| (Rule::State { state, column }, end)),
            Head::Column(test) => self.only_column(after).map(|(column, end)| (Rule::Column { test, column }, end)),
            Head::Date(period) => self.only_column(after).map(|(column, end)| (Rule::Date { period, column }, end)),
            Head::Compare(comparison) => self.compare(comparison, after),
            Head::Between { negated } => self.between(negated, after),
            Head::Rank { top, percent } => self.rank(top, percent, after),
        };
        let Some((rule, end)) = simple else { return Vec::new() };
        self.expect(end, ")").map(|end| Parse { rule, end, texts: Vec::new() }).into_iter().collect()
    }

    fn between(&mut self, negated: bool, after: usize) -> Option<(Rule, usize)> {
        let (column, pos) = self.column_then_comma(after).map_or((None, after), |(c, p)| (Some(c), p));
        let (low, pos) = self.number(pos, false)?;
        let pos = self.expect(pos, ",")?;
        let (high, end) = self.number(pos, false)?;
        Some((Rule::Between { negated, column, low, high }, end))
    }

    /// The arguments of a rule that takes at most a column: `()` or `(c[k])`.
    fn only_column(&self, after: usize) -> Option<(Option<usize>, usize)> {
        Some(self.column(after).map_or((None, after), |(c, end)| (Some(c), end)))
    }

    fn compare(&mut self, comparison: Comparison, after: usize) -> Option<(Rule, usize)> {
        // `LEN(c[k]),`: the position after the comma
        let start = self.skip_spaces(after);
        let length = self.text[start..].strip_prefix("LEN(").and_then(|_| self.column(start + 4)).and_then(|(column, end)| {
            let close = self.skip_spaces(self.text[end..].starts_with(')').then_some(end + 1)?);
            self.text[close..].starts_with(',').then(|| (column, self.skip_spaces(close + 1)))
        });
        let (subject, column, pos) = if let Some((column, pos)) = length {
            (Subject::Length, Some(column), pos)
        } else if let Some((column, pos)) = self.column_then_comma(after) {
            (Subject::Value, Some(column), pos)
        } else {
            (Subject::Value, None, after)
        };
        if let Some((other, end)) = self.column(pos) {
            return Some((Rule::Compare { comparison, subject, column, operand: Operand::Column(other) }, end));
        }
        let (value, end) = self.number(pos, false)?;
        Some((Rule::Compare { comparison, subject, column, operand: Operand::Number(value) }, end))
    }

    fn rank(&mut self, top: bool, percent: bool, after: usize) -> Option<(Rule, usize)> {
        let (column, pos) = match self.column(after) {
            Some((c, end)) if self.text[end..].starts_with(')') => {
                return Some((Rule::Rank { top, count: DEFAULT_RANK_COUNT, percent, column: Some(c) }, end));
            }
            Some((c, end)) => (Some(c), self.expect(end, ",")?),
            None => (None, after),
        };
        let (count, end) = self.number(pos, true)?;
        let (sign, end) = if self.text[end..].starts_with('%') { (true, end + 1) } else { (false, end) };
        let count = count.min(f64::from(u32::MAX)) as u32;
        Some((Rule::Rank { top, count, percent: percent || sign, column }, end))
    }

    /// A text rule: an optional column, then free text up to any `)` on the line.
    /// Text wrapped whole in matching quotes means the text inside them.
    fn text_rule(&mut self, test: TextTest, after: usize) -> Vec<Parse> {
        let (column, start) = self.column_then_comma(after).map_or((None, after), |(c, p)| (Some(c), p));
        let line_end = self.text[start..].find('\n').map_or(self.text.len(), |i| start + i);
        let parses: Vec<Parse> = self.text[start..line_end]
            .match_indices(')')
            // the text is filled in once a whole parse is chosen (`fill_texts`): the
            // alternatives can be many, and each copy of the text would be kept
            .map(|(i, _)| Parse {
                rule: Rule::Text { test, column, text: String::new() },
                end: start + i + 1,
                texts: vec![start..start + i],
            })
            .collect();
        if parses.is_empty() {
            self.fail(line_end, "`)` to end the text");
        }
        parses
    }

    /// `NOT`, `AND`, `OR`: the arguments are found by dynamic programming over
    /// (offset, arguments so far, capped at 2), keeping the partial list with the
    /// least free text, so time is polynomial in the length of the rule.
    fn logical(&mut self, head: Head, after: usize) -> Vec<Parse> {
        let unary = matches!(head, Head::Not);
        let mut partials: BTreeMap<(usize, usize), Option<Rc<Partial>>> = BTreeMap::new();
        partials.insert((after, 0), None);
        let mut done: BTreeMap<usize, Rc<Partial>> = BTreeMap::new();
        while let Some(((pos, _), before)) = partials.pop_first() {
            let parses = self.rule(pos);
            for (index, parse) in parses.iter().enumerate() {
                let (count, text_len) = before.as_ref().map_or((0, 0), |b| (b.count, b.text_len));
                let partial = Rc::new(Partial {
                    parses: Rc::clone(&parses),
                    index,
                    before: before.clone(),
                    count: count + 1,
                    text_len: text_len + self::text_len(&parse.texts),
                });
                let better = |old: &Rc<Partial>| partial.text_len < old.text_len;
                if self.text[parse.end..].starts_with(')') {
                    let enough = if unary { partial.count == 1 } else { partial.count >= 2 };
                    if !enough {
                        self.fail(parse.end, if unary { "`)`" } else { "`,` and another rule" });
                    } else if done.get(&(parse.end + 1)).is_none_or(better) {
                        done.insert(parse.end + 1, Rc::clone(&partial));
                    }
                }
                if self.text[parse.end..].starts_with(',') && !unary {
                    let key = (self.skip_spaces(parse.end + 1), partial.count.min(2));
                    if partials.get(&key).is_none_or(|old| old.as_ref().is_none_or(better)) {
                        partials.insert(key, Some(partial));
                    }
                } else if !self.text[parse.end..].starts_with(')') {
                    self.fail(parse.end, "`,` or `)`");
                }
            }
        }
        done.into_iter()
            .map(|(end, partial)| {
                let (rules, texts) = partial.unfold();
                Parse { rule: combine(head, rules), end, texts }
            })
            .collect()
    }
}

fn combine(head: Head, mut rules: Vec<Rule>) -> Rule {
    match head {
        Head::Not => Rule::Not(Box::new(rules.pop().expect("NOT holds one rule"))),
        Head::And => Rule::All(rules),
        _ => Rule::Any(rules),
    }
}

/// How much free text a reading holds.
fn text_len(texts: &[Range<usize>]) -> usize {
    texts.iter().map(|r| r.len()).sum()
}

/// Sets the text of each text rule, in the order they appear, from `texts`.
fn fill_texts<'a>(rule: &mut Rule, texts: &mut impl Iterator<Item = &'a str>) {
    match rule {
        Rule::Text { text, .. } => *text = texts.next().unwrap_or_default().to_string(),
        Rule::Not(inner) => fill_texts(inner, texts),
        Rule::All(rules) | Rule::Any(rules) => rules.iter_mut().for_each(|r| fill_texts(r, texts)),
        _ => {}
    }
}

/// `'No'` and `"No"` mean `No`; other text is taken as written.
fn unquote(raw: &str) -> &str {
    let trimmed = raw.trim();
    for quote in ['\'', '"'] {
        if trimmed.len() >= 2 && trimmed.starts_with(quote) && trimmed.ends_with(quote) {
            return &trimmed[1..trimmed.len() - 1];
        }
    }
    raw
}

/// A whole rule: its tree and the spans of its free-text arguments. Where free text
/// makes the rule ambiguous, the reading with the least free text (the most rules)
/// wins.
pub(super) fn parse(text: &str) -> Result<(Rule, Vec<Range<usize>>), SyntaxError> {
    if let Some(error) = super::super::too_long(text) {
        return Err(error);
    }
    let mut parser = Parser { text, furthest: Failure { offset: 0, expected: "a rule".into() }, memo: HashMap::new() };
    let parses = parser.rule(0);
    let longest = parses.iter().map(|p| p.end).max();
    // `rule` keeps one reading per end: the one with the least free text
    if let Some(full) = parses.iter().find(|p| p.end == text.len()) {
        let Parse { mut rule, texts, .. } = full.clone();
        fill_texts(&mut rule, &mut texts.iter().map(|span| unquote(&text[span.clone()])));
        return Ok((rule, texts));
    }
    if let Some(longest) = longest {
        parser.fail(longest, "the end of the rule");
    }
    let Failure { offset, expected } = parser.furthest;
    let rest = &text[offset..];
    let word = &rest[..rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len())];
    let found = match rest.chars().next() {
        None => "the end".to_string(),
        Some(_) if !word.is_empty() => format!("`{word}`"),
        Some(c) => format!("`{c}`"),
    };
    Err(SyntaxError::at(text, offset, format!("expected {expected}, found {found}")))
}

/// Parses a conditional-formatting rule into its tree.
pub fn parse_rule(text: &str) -> Result<Rule, SyntaxError> {
    parse(text).map(|(rule, _)| rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_dialects_into_the_same_trees() {
        assert_eq!(parse_rule("top(25%)").unwrap(), Rule::Rank { top: true, count: 25, percent: true, column: None });
        assert_eq!(parse_rule("TopPercent(c[1], 20)").unwrap(), Rule::Rank { top: true, count: 20, percent: true, column: Some(1) });
        assert_eq!(parse_rule("Bottom(c[1])").unwrap(), Rule::Rank { top: false, count: 10, percent: false, column: Some(1) });
        assert_eq!(
            parse_rule("TextEquals(c[6], 'No')").unwrap(),
            Rule::Text { test: TextTest::Equals, column: Some(6), text: "No".into() }
        );
        assert_eq!(
            parse_rule("TextContains(RT (Retaken))").unwrap(),
            Rule::Text { test: TextTest::Contains, column: None, text: "RT (Retaken)".into() }
        );
        assert_eq!(
            parse_rule("GreaterThan(LEN(c[0]), 6)").unwrap(),
            Rule::Compare { comparison: Comparison::Greater, subject: Subject::Length, column: Some(0), operand: Operand::Number(6.0) }
        );
        assert_eq!(
            parse_rule("LessThan(c[2], c[1])").unwrap(),
            Rule::Compare { comparison: Comparison::Less, subject: Subject::Value, column: Some(2), operand: Operand::Column(1) }
        );
        assert_eq!(parse_rule("Between(c[0], 9, 18)").unwrap(), Rule::Between { negated: false, column: Some(0), low: 9.0, high: 18.0 });
        assert_eq!(parse_rule("GreaterThan(c[1],  37)").unwrap().columns(), vec![1]);
        assert_eq!(parse_rule("Not(Equals(c[2], 0))").unwrap().columns(), vec![2]);
    }

    #[test]
    fn ambiguous_free_text_prefers_more_rules() {
        let rule = parse_rule("AND(TextEquals(a),TextEquals(b),TextEquals(c))").unwrap();
        let Rule::All(rules) = rule else { panic!("AND parses to All") };
        assert_eq!(rules.len(), 3);
    }
}
