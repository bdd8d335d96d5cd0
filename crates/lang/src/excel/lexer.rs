//! Excel formula lexer. It never fails: what it cannot classify becomes an
//! [`XlKind::Unknown`] token, so the parser can report it with its location.

/// Fine-grained Excel token kinds, as the parser needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum XlKind {
    Whitespace,
    Newline,
    Number,
    String,
    /// A string with no closing quote.
    UnterminatedString,
    Bool,
    /// An error literal such as `#N/A` or `#DIV/0!`.
    ErrorLiteral,
    /// A cell, column, row or structured reference, with any sheet prefix.
    Reference,
    /// A defined name.
    Name,
    /// A function name (the `(` that follows it is its own token).
    Function,
    Operator,
    Colon,
    Percent,
    Comma,
    Semicolon,
    LParen,
    RParen,
    LBrace,
    RBrace,
    Unknown,
}

/// One Excel token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct XlToken<'a> {
    pub kind: XlKind,
    pub text: &'a str,
    pub offset: usize,
}

const ERROR_LITERALS: [&str; 10] =
    ["#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA", "#SPILL!", "#CALC!"];

/// Lexes a whole formula.
pub(crate) fn lex(text: &str) -> Vec<XlToken<'_>> {
    let mut lexer = Lexer { text, pos: 0, tokens: Vec::new() };
    while lexer.pos < text.len() {
        lexer.next_token();
    }
    lexer.tokens
}

struct Lexer<'a> {
    text: &'a str,
    pos: usize,
    tokens: Vec<XlToken<'a>>,
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '\\' | '?' | '$')
}

fn is_cell(word: &str) -> bool {
    let w = word.strip_prefix('$').unwrap_or(word);
    let letters = w.chars().take_while(|c| c.is_ascii_alphabetic()).count();
    if !(1..=3).contains(&letters) {
        return false;
    }
    let rest = &w[letters..];
    let rest = rest.strip_prefix('$').unwrap_or(rest);
    !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()) && !rest.starts_with('0')
}

fn is_column(word: &str) -> bool {
    let w = word.strip_prefix('$').unwrap_or(word);
    (1..=3).contains(&w.len()) && w.chars().all(|c| c.is_ascii_alphabetic())
}

fn is_row(word: &str) -> bool {
    let w = word.strip_prefix('$').unwrap_or(word);
    !w.is_empty() && w.chars().all(|c| c.is_ascii_digit()) && !w.starts_with('0')
}

impl<'a> Lexer<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn push(&mut self, kind: XlKind, len: usize) {
        let len = len.max(1);
        // whole characters: a length from a byte scan may end inside one
        let len = self.rest().ceil_char_boundary(len);
        self.tokens.push(XlToken { kind, text: &self.text[self.pos..self.pos + len], offset: self.pos });
        self.pos += len;
    }

    /// Whether the previous significant tokens are a column reference and a colon,
    /// so that a bare column word here is the end of a column range.
    fn after_column_colon(&self) -> bool {
        let mut significant = self.tokens.iter().rev();
        matches!(
            (significant.next(), significant.next()),
            (Some(XlToken { kind: XlKind::Colon, .. }), Some(XlToken { kind: XlKind::Reference, text, .. }))
                if is_column(text.rsplit('!').next().unwrap_or(text))
        )
    }

    fn next_token(&mut self) {
        let rest = self.rest();
        let c = rest.chars().next().expect("called with input left");
        match c {
            '\n' | '\r' => self.push(XlKind::Newline, c.len_utf8()),
            ' ' | '\t' => {
                let len = rest.find(|c| c != ' ' && c != '\t').unwrap_or(rest.len());
                self.push(XlKind::Whitespace, len)
            }
            '"' => self.string(),
            '\'' => self.quoted_sheet(),
            '#' => match ERROR_LITERALS.iter().find(|e| rest.get(..e.len()).is_some_and(|head| head.eq_ignore_ascii_case(e))) {
                Some(e) => self.push(XlKind::ErrorLiteral, e.len()),
                None => self.push(XlKind::Unknown, 1),
            },
            '0'..='9' => self.number_or_row(),
            '.' if rest[1..].starts_with(|c: char| c.is_ascii_digit()) => self.number_or_row(),
            '[' => self.bracketed(),
            '<' if rest.starts_with("<>") || rest.starts_with("<=") => self.push(XlKind::Operator, 2),
            '>' if rest.starts_with(">=") => self.push(XlKind::Operator, 2),
            '+' | '-' | '*' | '/' | '^' | '&' | '=' | '<' | '>' | '@' => self.push(XlKind::Operator, 1),
            ':' => self.push(XlKind::Colon, 1),
            '%' => self.push(XlKind::Percent, 1),
            ',' => self.push(XlKind::Comma, 1),
            ';' => self.push(XlKind::Semicolon, 1),
            '(' => self.push(XlKind::LParen, 1),
            ')' => self.push(XlKind::RParen, 1),
            '{' => self.push(XlKind::LBrace, 1),
            '}' => self.push(XlKind::RBrace, 1),
            c if c.is_alphabetic() || c == '_' || c == '\\' || c == '$' => self.word(),
            c => self.push(XlKind::Unknown, c.len_utf8()),
        }
    }

    fn string(&mut self) {
        let bytes = self.rest().as_bytes();
        let mut i = 1;
        while i < bytes.len() {
            if bytes[i] == b'"' {
                if bytes.get(i + 1) == Some(&b'"') {
                    i += 2;
                    continue;
                }
                return self.push(XlKind::String, i + 1);
            }
            i += 1;
        }
        self.push(XlKind::UnterminatedString, bytes.len())
    }

    fn number_or_row(&mut self) {
        let rest = self.rest();
        let bytes = rest.as_bytes();
        let mut i = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
        if bytes.get(i) == Some(&b'.') {
            i += 1;
            i += bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        }
        if matches!(bytes.get(i), Some(b'e' | b'E')) {
            let mut j = i + 1;
            if matches!(bytes.get(j), Some(b'+' | b'-')) {
                j += 1;
            }
            let digits = bytes[j.min(bytes.len())..].iter().take_while(|b| b.is_ascii_digit()).count();
            if digits > 0 {
                i = j + digits;
            }
        }
        // `2019!A1`: a sheet whose name starts with digits
        let word_len = rest.find(|c: char| !is_word_char(c)).unwrap_or(rest.len());
        if rest[word_len..].starts_with('!') {
            return self.reference_after_prefix(word_len + 1);
        }
        self.push(XlKind::Number, i)
    }

    fn quoted_sheet(&mut self) {
        let window = prefix_window(self.rest());
        // a quoted prefix ends in `'!`; a run of `'` without one in reach is not a prefix
        if !window.contains("'!") {
            return self.push(XlKind::Unknown, 1);
        }
        let bytes = window.as_bytes();
        let mut i = 1;
        while i < bytes.len() {
            if bytes[i] == b'\'' {
                if bytes.get(i + 1) == Some(&b'\'') {
                    i += 2;
                    continue;
                }
                if bytes.get(i + 1) == Some(&b'!') {
                    return self.reference_after_prefix(i + 2);
                }
                break;
            }
            i += 1;
        }
        self.push(XlKind::Unknown, 1)
    }

    /// `[1]Sheet1!A1` (external workbook) or a structured reference `[@Col]`.
    fn bracketed(&mut self) {
        let Some(len) = bracket_group_len(self.rest()) else {
            return self.push(XlKind::Unknown, 1);
        };
        let after = &self.rest()[len..];
        // `[1]!Name`: a name defined in an external workbook
        if after.starts_with('!') {
            return self.reference_after_prefix(len + 1);
        }
        let word_len = after.find(|c: char| !is_word_char(c) || c == '$').unwrap_or(after.len());
        if word_len > 0 && after[word_len..].starts_with('!') {
            return self.reference_after_prefix(len + word_len + 1);
        }
        self.push(XlKind::Reference, len)
    }

    fn word(&mut self) {
        let rest = self.rest();
        let len = rest.find(|c: char| !is_word_char(c)).unwrap_or(rest.len());
        let word = &rest[..len];
        let after = &rest[len..];
        if after.starts_with('!') {
            return self.reference_after_prefix(len + 1);
        }
        // a 3-D prefix `Sheet1:Sheet3!A1`
        if let Some(tail) = after.strip_prefix(':') {
            let second = tail.find(|c: char| !is_word_char(c)).unwrap_or(tail.len());
            if second > 0 && tail[second..].starts_with('!') && !is_cell(word) && !is_column(word) {
                return self.reference_after_prefix(len + 1 + second + 1);
            }
        }
        if after.starts_with('(') {
            return self.push(XlKind::Function, len);
        }
        if after.starts_with('[') {
            if let Some(group) = bracket_group_len(after) {
                return self.push(XlKind::Reference, len + group);
            }
        }
        let upper = word.to_ascii_uppercase();
        let kind = if is_cell(word) {
            XlKind::Reference
        } else if upper == "TRUE" || upper == "FALSE" {
            XlKind::Bool
        } else if is_column(word) && (column_follows(after) || self.after_column_colon()) {
            XlKind::Reference
        } else if word.starts_with('$') && is_row(word) {
            XlKind::Reference
        } else if word.contains('$') {
            XlKind::Unknown
        } else {
            XlKind::Name
        };
        self.push(kind, len)
    }

    /// A reference whose sheet prefix (ending in `!`) is `prefix_len` bytes long.
    fn reference_after_prefix(&mut self, prefix_len: usize) {
        let after = &self.rest()[prefix_len..];
        // `[1]!'SGJ200,LA'`: a quoted external name (DDE-style)
        if after.starts_with('\'') {
            if let Some(end) = after.as_bytes()[1..].iter().take(MAX_PREFIX_BYTES).position(|&b| b == b'\'') {
                return self.push(XlKind::Reference, prefix_len + end + 2);
            }
        }
        let len = after.find(|c: char| !is_word_char(c)).unwrap_or(after.len());
        let word = &after[..len];
        let valid = is_cell(word)
            || (is_column(word) && column_follows(&after[len..]))
            || (is_row(word) && after[len..].starts_with(':'))
            || (!word.is_empty() && !word.contains('$') && !word.starts_with(|c: char| c.is_ascii_digit()))
            || word.eq_ignore_ascii_case("#REF!");
        if valid && !word.is_empty() {
            self.push(XlKind::Reference, prefix_len + len)
        } else if after.starts_with("#REF!") {
            self.push(XlKind::Reference, prefix_len + 5)
        } else {
            self.push(XlKind::Unknown, prefix_len)
        }
    }
}

/// `:` followed by a column (`A:C`, `$A:$C`) that is not a cell.
fn column_follows(after: &str) -> bool {
    let Some(tail) = after.strip_prefix(':') else {
        return false;
    };
    let len = tail.find(|c: char| !is_word_char(c)).unwrap_or(tail.len());
    is_column(&tail[..len])
}

/// The longest quoted sheet prefix (`'[Book 1.xlsx]Sheet 1'!`) or bracketed group
/// (`[1]`, `Table[[#This Row],[Column]]`) looked for. Excel caps sheet names at 31
/// characters and table and column names at 255; the bound keeps lexing linear in
/// the formula's length when a `'` or `[` is never closed.
const MAX_PREFIX_BYTES: usize = 1024;

/// The first [`MAX_PREFIX_BYTES`] of `text`, cut at a character boundary.
fn prefix_window(text: &str) -> &str {
    &text[..text.floor_char_boundary(MAX_PREFIX_BYTES)]
}

/// Length of a balanced `[...]` group at the start of `text`.
fn bracket_group_len(text: &str) -> Option<usize> {
    let window = prefix_window(text);
    // a run of unclosed `[` would otherwise rescan the whole window at each of
    // them: without a `]` in reach there is no group (a fast substring search)
    window.find(']')?;
    let mut depth = 0usize;
    // `[`, `]` and newline are ASCII, so bytes find them at character boundaries
    for (i, b) in window.bytes().enumerate() {
        match b {
            b'[' => depth += 1,
            b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            b'\n' => return None,
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(XlKind, &str)> {
        lex(text).into_iter().map(|t| (t.kind, t.text)).collect()
    }

    #[test]
    fn references_and_ranges() {
        use XlKind::*;
        assert_eq!(
            kinds("=SUM(A1:$B$2)"),
            vec![(Operator, "="), (Function, "SUM"), (LParen, "("), (Reference, "A1"), (Colon, ":"), (Reference, "$B$2"), (RParen, ")")]
        );
        assert_eq!(kinds("A:A")[0], (Reference, "A"));
        assert_eq!(kinds("A:A")[2], (Reference, "A"));
        assert_eq!(kinds("'My Sheet'!C3")[0], (Reference, "'My Sheet'!C3"));
        assert_eq!(kinds("Metrics!E$2")[0], (Reference, "Metrics!E$2"));
        assert_eq!(kinds("[1]Sheet1!A1")[0], (Reference, "[1]Sheet1!A1"));
        assert_eq!(kinds("[0]!LOGINTERP")[0], (Reference, "[0]!LOGINTERP"));
        assert_eq!(kinds("[1]!'SGJ200,LA'/100")[0], (Reference, "[1]!'SGJ200,LA'"));
        assert_eq!(kinds("LOG10(2)")[0], (Function, "LOG10"));
        assert_eq!(kinds("TaxRate")[0], (Name, "TaxRate"));
        assert_eq!(kinds("#N/A")[0], (ErrorLiteral, "#N/A"));
        assert_eq!(kinds("1.5E+3")[0], (Number, "1.5E+3"));
        assert_eq!(kinds("\"a\"\"b\"")[0], (String, "\"a\"\"b\""));
        assert_eq!(kinds("\"abc")[0], (UnterminatedString, "\"abc"));
    }
}
