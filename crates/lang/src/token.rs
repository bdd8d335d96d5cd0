//! Typed tokens shared by every language's lexer.

use serde::Serialize;

/// What a token is, in the terms every language shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// A user-chosen name: variable, defined name, command argument word.
    Identifier,
    /// A reserved word, built-in function name, command or cmdlet name.
    Keyword,
    /// A string literal (quotes included) or free text argument.
    String,
    /// A numeric literal.
    Number,
    /// A cell reference or one end of a range (`A1`, `$B$2`, `Sheet1!C:C`).
    Reference,
    /// An operator (`+`, `<=`, `|`, `-eq`, ...).
    Operator,
    /// Brackets, separators and other punctuation.
    Punctuation,
    /// A comment.
    Comment,
    /// Spaces and tabs.
    Whitespace,
    /// A line break.
    Newline,
    /// Text the lexer could not classify (kept so that lexing round-trips).
    Unknown,
}

impl TokenKind {
    /// Constants are anonymised in sketches.
    pub fn is_constant(self) -> bool {
        matches!(self, TokenKind::String | TokenKind::Number | TokenKind::Reference)
    }

    /// Identifiers and keywords are the positions the CPD objective noises.
    pub fn is_maskable(self) -> bool {
        matches!(self, TokenKind::Identifier | TokenKind::Keyword)
    }
}

/// A token: a slice of the lexed text and its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    /// What the token is.
    pub kind: TokenKind,
    /// The exact source text of the token.
    pub text: &'a str,
}

impl<'a> Token<'a> {
    /// A token of `kind` over `text`.
    pub fn new(kind: TokenKind, text: &'a str) -> Self {
        Token { kind, text }
    }
}

/// Splits a run of layout text into whitespace and newline tokens.
pub(crate) fn push_layout<'a>(tokens: &mut Vec<Token<'a>>, text: &'a str) {
    let mut rest = text;
    while !rest.is_empty() {
        let newline_len = if rest.starts_with("\r\n") {
            2
        } else if rest.starts_with('\n') || rest.starts_with('\r') {
            1
        } else {
            0
        };
        if newline_len > 0 {
            tokens.push(Token::new(TokenKind::Newline, &rest[..newline_len]));
            rest = &rest[newline_len..];
            continue;
        }
        let len = rest.char_indices().find(|&(_, c)| c == '\n' || c == '\r' || !c.is_whitespace()).map_or(rest.len(), |(i, _)| i);
        if len == 0 {
            // not layout at all: keep it, unclassified
            let len = rest.char_indices().nth(1).map_or(rest.len(), |(i, _)| i);
            tokens.push(Token::new(TokenKind::Unknown, &rest[..len]));
            rest = &rest[len..];
        } else {
            tokens.push(Token::new(TokenKind::Whitespace, &rest[..len]));
            rest = &rest[len..];
        }
    }
}

/// Words of `text` as tokens of `kind`, and the layout between them as
/// [`push_layout`] makes it: for text a lexer could not classify, so that its
/// spaces are layout like any other.
pub(crate) fn push_words<'a>(tokens: &mut Vec<Token<'a>>, kind: TokenKind, text: &'a str) {
    let mut rest = text;
    while !rest.is_empty() {
        let layout_len = rest.find(|c: char| !c.is_whitespace()).unwrap_or(rest.len());
        if layout_len > 0 {
            push_layout(tokens, &rest[..layout_len]);
            rest = &rest[layout_len..];
            continue;
        }
        let word_len = rest.find(char::is_whitespace).unwrap_or(rest.len());
        tokens.push(Token::new(kind, &rest[..word_len]));
        rest = &rest[word_len..];
    }
}
