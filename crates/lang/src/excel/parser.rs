//! A strict recursive-descent recogniser for Excel formulas, following the
//! XLParser grammar (Aivaloglou, Hermans et al.) and Excel's operator
//! precedence: `:` > intersection (space) > negation > `%` > `^` > `* /` >
//! `+ -` > `&` > comparisons. Unlike IronCalc's parser it never auto-closes a
//! parenthesis or forgives a dangling operator.

use super::lexer::{XlKind, XlToken};
use crate::SyntaxError;

/// The deepest nesting of parentheses, function calls and array constants
/// accepted. Excel itself stops at 64 levels of nested functions; the bound
/// keeps the recursion of this parser (and of IronCalc's, which runs what it
/// accepts) far inside a thread's stack, so a pathological snippet is an error,
/// never a stack overflow.
pub(crate) const MAX_NESTING: usize = 256;

/// The longest formula accepted, in characters: Excel's own limit on a
/// formula's contents.
pub(crate) const MAX_FORMULA_CHARS: usize = 8192;

/// The byte offset of the first character past [`MAX_FORMULA_CHARS`], if the
/// formula has one.
fn past_length_limit(text: &str) -> Option<usize> {
    text.char_indices().nth(MAX_FORMULA_CHARS).map(|(i, _)| i)
}

/// Whether a formula exceeds [`MAX_FORMULA_CHARS`] or opens more than
/// [`MAX_NESTING`] brackets at once, whether or not it parses: what no engine
/// is asked to evaluate.
pub(crate) fn beyond_bounds(text: &str, tokens: &[XlToken<'_>]) -> bool {
    let mut depth = 0usize;
    let mut deepest = 0usize;
    for token in tokens {
        match token.kind {
            XlKind::LParen | XlKind::LBrace => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            XlKind::RParen | XlKind::RBrace => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest > MAX_NESTING || past_length_limit(text).is_some()
}

/// Parses a whole formula (`=` then one expression).
pub(crate) fn parse(text: &str, tokens: &[XlToken<'_>]) -> Result<(), SyntaxError> {
    let mut significant = Vec::with_capacity(tokens.len());
    let mut spaced = false;
    for token in tokens {
        match token.kind {
            XlKind::Whitespace | XlKind::Newline => spaced = true,
            _ => {
                significant.push((*token, spaced));
                spaced = false;
            }
        }
    }
    if let Some(offset) = past_length_limit(text) {
        return Err(SyntaxError::at(text, offset, format!("formula longer than Excel's limit of {MAX_FORMULA_CHARS} characters")));
    }
    let mut parser = Parser { text, tokens: significant, pos: 0, depth: 0 };
    parser.formula()
}

struct Parser<'a, 't> {
    text: &'a str,
    /// Significant tokens, each with whether layout preceded it.
    tokens: Vec<(XlToken<'t>, bool)>,
    pos: usize,
    /// How many expressions the current one is nested in.
    depth: usize,
}

type Parsed = Result<Operand, SyntaxError>;

/// What an operand evaluates to, as far as the grammar cares.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Operand {
    /// May be a reference (so `:` and intersection apply).
    Reference,
    /// An integer literal, which may be one end of a row range `1:3`.
    RowNumber,
    /// A `$`-anchored row (`$5`, `Sheet1!$5`): one end of a row range
    /// `$5:$9`, and nothing on its own (Excel refuses `=24*$50`).
    RowReference,
    /// Any other value.
    Value,
}

impl<'t> Parser<'_, 't> {
    fn peek(&self) -> Option<XlToken<'t>> {
        self.tokens.get(self.pos).map(|(t, _)| *t)
    }

    fn peek_kind(&self) -> Option<XlKind> {
        self.peek().map(|t| t.kind)
    }

    fn peek_op(&self, ops: &[&str]) -> Option<usize> {
        match self.peek() {
            Some(t) if t.kind == XlKind::Operator => ops.iter().position(|op| *op == t.text),
            _ => None,
        }
    }

    fn spaced(&self) -> bool {
        self.tokens.get(self.pos).is_some_and(|(_, s)| *s)
    }

    fn error_here(&self, expected: &str) -> SyntaxError {
        match self.peek() {
            None => SyntaxError::at(self.text, self.text.len(), format!("unexpected end of formula, expected {expected}")),
            Some(t) => {
                let what = match t.kind {
                    XlKind::UnterminatedString => "unterminated string".to_string(),
                    XlKind::Unknown => format!("unrecognised `{}`", t.text),
                    _ => format!("unexpected `{}`, expected {expected}", t.text),
                };
                SyntaxError::at(self.text, t.offset, what)
            }
        }
    }

    fn formula(&mut self) -> Result<(), SyntaxError> {
        if self.peek_op(&["="]).is_none() {
            return Err(self.error_here("`=` to start the formula"));
        }
        self.pos += 1;
        self.expression()?;
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.error_here("an operator or the end of the formula")),
        }
    }

    fn expression(&mut self) -> Parsed {
        if self.depth == MAX_NESTING {
            let offset = self.peek().map_or(self.text.len(), |t| t.offset);
            return Err(SyntaxError::at(self.text, offset, format!("nested deeper than {MAX_NESTING} levels")));
        }
        self.depth += 1;
        let parsed = self.binary_level(0);
        self.depth -= 1;
        parsed
    }

    /// Binary operator levels, loosest first; the last level is `^`.
    fn binary_level(&mut self, level: usize) -> Parsed {
        const LEVELS: [&[&str]; 5] = [&["=", "<>", "<", ">", "<=", ">="], &["&"], &["+", "-"], &["*", "/"], &["^"]];
        if level == LEVELS.len() {
            return self.postfix();
        }
        let mut left = self.binary_level(level + 1)?;
        while self.peek_op(LEVELS[level]).is_some() {
            self.pos += 1;
            self.binary_level(level + 1)?;
            left = Operand::Value;
        }
        Ok(left)
    }

    fn postfix(&mut self) -> Parsed {
        let mut operand = self.prefix()?;
        while self.peek_kind() == Some(XlKind::Percent) {
            self.pos += 1;
            operand = Operand::Value;
        }
        Ok(operand)
    }

    /// Any number of signs (a loop: `=------1` is as deep as `=-1`).
    fn prefix(&mut self) -> Parsed {
        let mut signed = false;
        while self.peek_op(&["-", "+", "@"]).is_some() {
            self.pos += 1;
            signed = true;
        }
        let operand = self.intersection()?;
        Ok(if signed && operand != Operand::Reference { Operand::Value } else { operand })
    }

    /// `A1:B5 B2:C9`: whitespace between two references intersects them.
    fn intersection(&mut self) -> Parsed {
        let mut left = self.range()?;
        while left == Operand::Reference
            && self.spaced()
            && matches!(self.peek_kind(), Some(XlKind::Reference | XlKind::Name | XlKind::Function))
        {
            if self.range()? != Operand::Reference {
                return Err(SyntaxError::at(self.text, self.tokens[self.pos - 1].0.offset, "intersection of a non-reference"));
            }
            left = Operand::Reference;
        }
        Ok(left)
    }

    fn range(&mut self) -> Parsed {
        let start = self.peek();
        let left = self.primary()?;
        if self.peek_kind() != Some(XlKind::Colon) {
            if left == Operand::RowReference {
                let token = start.expect("a primary was parsed");
                return Err(SyntaxError::at(
                    self.text,
                    token.offset,
                    format!("the row `{}` stands only at one end of a row range (`{0}:{0}`)", token.text),
                ));
            }
            return Ok(left);
        }
        if left == Operand::Value {
            return Err(self.error_here("an operator (`:` needs a reference on its left)"));
        }
        let mut row_range = matches!(left, Operand::RowNumber | Operand::RowReference);
        while self.peek_kind() == Some(XlKind::Colon) {
            self.pos += 1;
            let right = self.primary()?;
            let ok = match right {
                Operand::Reference => !row_range,
                Operand::RowNumber | Operand::RowReference => row_range,
                Operand::Value => false,
            };
            if !ok {
                let at = self.tokens[self.pos - 1].0.offset;
                let from = start.map_or("", |t| t.text);
                return Err(SyntaxError::at(self.text, at, format!("invalid range starting at `{from}`")));
            }
            row_range = false;
        }
        Ok(Operand::Reference)
    }

    fn primary(&mut self) -> Parsed {
        let Some(token) = self.peek() else {
            return Err(self.error_here("an operand"));
        };
        match token.kind {
            XlKind::Number => {
                self.pos += 1;
                let is_row = token.text.bytes().all(|b| b.is_ascii_digit()) && !token.text.starts_with('0');
                Ok(if is_row { Operand::RowNumber } else { Operand::Value })
            }
            XlKind::String | XlKind::Bool | XlKind::ErrorLiteral => {
                self.pos += 1;
                Ok(Operand::Value)
            }
            XlKind::Reference | XlKind::Name => {
                self.pos += 1;
                let row = token
                    .text
                    .rsplit('!')
                    .next()
                    .is_some_and(|r| r.starts_with('$') && r[1..].bytes().all(|b| b.is_ascii_digit()) && r.len() > 1);
                Ok(if token.kind == XlKind::Reference && row { Operand::RowReference } else { Operand::Reference })
            }
            XlKind::Function => {
                self.pos += 1;
                self.arguments(token)?;
                Ok(Operand::Reference)
            }
            XlKind::LParen => {
                self.pos += 1;
                let mut operand = self.expression()?;
                // a union `(A1, B2:B5)`
                while self.peek_kind() == Some(XlKind::Comma) {
                    self.pos += 1;
                    self.expression()?;
                    operand = Operand::Reference;
                }
                self.close(XlKind::RParen, token, "`)`")?;
                Ok(if operand == Operand::RowNumber { Operand::Value } else { operand })
            }
            XlKind::LBrace => {
                self.pos += 1;
                self.array(token)?;
                Ok(Operand::Value)
            }
            _ => Err(self.error_here("an operand")),
        }
    }

    fn close(&mut self, kind: XlKind, open: XlToken<'_>, expected: &str) -> Result<(), SyntaxError> {
        if self.peek_kind() == Some(kind) {
            self.pos += 1;
            return Ok(());
        }
        let mut e = self.error_here(expected);
        let opened = SyntaxError::at(self.text, open.offset, "");
        e.message = format!("{} (to close `{}` at column {})", e.message, open.text, opened.column);
        Err(e)
    }

    /// `NAME(` already consumed up to the name; arguments may be empty (`IF(A1,,0)`).
    /// A known function's count is checked once the call closes ([`super::arity`]).
    fn arguments(&mut self, function: XlToken<'_>) -> Result<(), SyntaxError> {
        let open = self.peek().expect("the lexer only makes a function before `(`");
        self.pos += 1;
        let arity = super::arity::arity(function.text);
        // where the first argument past the most the function takes starts
        let takes_none = arity.is_some_and(|a| a.max == 0);
        let mut surplus_at = takes_none.then(|| self.peek().map_or(self.text.len(), |t| t.offset));
        if self.peek_kind() == Some(XlKind::RParen) {
            self.pos += 1;
            return self.count_arguments(function, arity, 0, surplus_at, open.offset + 1);
        }
        let mut count = 1;
        loop {
            if !matches!(self.peek_kind(), Some(XlKind::Comma | XlKind::RParen)) {
                self.expression()?;
            }
            match self.peek() {
                Some(comma) if comma.kind == XlKind::Comma => {
                    self.pos += 1;
                    if arity.is_some_and(|a| a.max == count) {
                        surplus_at.get_or_insert(comma.offset);
                    }
                    count += 1;
                }
                next => {
                    let label = format!("`,` or `)` in the arguments of {}", function.text);
                    self.close(XlKind::RParen, open, &label)?;
                    let close = next.map_or(self.text.len(), |t| t.offset);
                    return self.count_arguments(function, arity, count, surplus_at, close);
                }
            }
        }
    }

    /// Refuses a call of a known function with a count Excel's formula bar
    /// refuses: too few at the `)`, too many where the first surplus argument
    /// starts (`surplus_at`, recorded while the arguments were parsed).
    fn count_arguments(
        &self,
        function: XlToken<'_>,
        arity: Option<super::arity::Arity>,
        count: usize,
        surplus_at: Option<usize>,
        close: usize,
    ) -> Result<(), SyntaxError> {
        let Some(arity) = arity else { return Ok(()) };
        let at = match count {
            n if n < arity.min => close,
            n if n > arity.max => surplus_at.unwrap_or(close),
            _ => return Ok(()),
        };
        let message = format!("{} takes {}, not {count}", function.text, arity.describe());
        Err(SyntaxError::at(self.text, at, message))
    }

    /// `{1,2;3,4}`: rows of constants.
    fn array(&mut self, open: XlToken<'_>) -> Result<(), SyntaxError> {
        loop {
            if self.peek_op(&["-", "+"]).is_some() {
                self.pos += 1;
                if self.peek_kind() != Some(XlKind::Number) {
                    return Err(self.error_here("a number in the array"));
                }
            }
            match self.peek_kind() {
                Some(XlKind::Number | XlKind::String | XlKind::Bool | XlKind::ErrorLiteral) => self.pos += 1,
                _ => return Err(self.error_here("a constant in the array")),
            }
            match self.peek_kind() {
                Some(XlKind::Comma | XlKind::Semicolon) => self.pos += 1,
                _ => return self.close(XlKind::RBrace, open, "`,`, `;` or `}` in the array"),
            }
        }
    }
}
