//! Python: strict check with rustpython-parser (a full Python 3 grammar, which
//! agrees with CPython's `ast.parse` where tree-sitter-python is lenient, e.g. it
//! accepts Python 2 `print x`) plus CPython's assignment-target rules (`targets`),
//! a lexer from rustpython's tokenizer, units of source files, and the BIFI-style
//! corruption operators (`corrupt`).
//!
//! Imports only this crate's shared types (the `Language` trait, tokens, edits).

mod corrupt;
mod targets;

use super::token::{push_layout, push_words, Token, TokenKind};
use super::{LangId, Language, RepairMetric, SyntaxError, WhitespaceRule};
use rustpython_parser::ast::Ranged;
use rustpython_parser::{lexer, Mode, Tok};
use std::ops::Range;

/// CPython's tokenizer refuses brackets nested deeper than this (`MAXLEVEL`,
/// "too many nested parentheses"); so does the check, before the parser
/// builds (and drops, recursively) a tree that deep.
const MAX_NESTING: usize = 200;

/// What the tokenizer alone rejects before the parser runs: brackets nested
/// beyond `max`, or a character no token starts with, as `(offset,
/// message)`. The parser's error recovery after such a character can take
/// minutes on a few kilobytes; other token errors (an unterminated string or
/// bracket) are left to the parser, which locates them as CPython does.
fn token_error(text: &str, max: usize) -> Option<(usize, String)> {
    use rustpython_parser::lexer::LexicalErrorType;
    let mut depth = 0usize;
    for result in lexer::lex(text, Mode::Module) {
        match result {
            Ok((Tok::Lpar | Tok::Lsqb | Tok::Lbrace, range)) => {
                depth += 1;
                if depth > max {
                    return Some((u32::from(range.start()) as usize, "too many nested parentheses".into()));
                }
            }
            Ok((Tok::Rpar | Tok::Rsqb | Tok::Rbrace, _)) => depth = depth.saturating_sub(1),
            Ok(_) => {}
            Err(e) if matches!(e.error, LexicalErrorType::UnrecognizedToken { .. }) => {
                return Some((u32::from(e.location) as usize, e.error.to_string()));
            }
            Err(_) => return None,
        }
    }
    None
}

/// Parses `text` strictly (the grammar, then assignment targets).
fn parse_strict(text: &str) -> Result<(), SyntaxError> {
    super::with_deep_stack(text.len(), || match rustpython_parser::parse(text, Mode::Module, "<snippet>") {
        Ok(module) => match targets::first_invalid_target(module) {
            None => Ok(()),
            Some((range, message)) => Err(SyntaxError::at(text, u32::from(range.start()) as usize, message.to_string())),
        },
        Err(e) => Err(SyntaxError::at(text, u32::from(e.offset) as usize, e.error.to_string())),
    })
}

/// Lexical errors after which [`Python::lex`] resumes; past them the rest is
/// one unknown token.
const MAX_LEX_RESTARTS: usize = 64;

/// Python 3 source.
pub struct Python;

impl Language for Python {
    fn id(&self) -> LangId {
        LangId::Python
    }

    fn corruptions(&self) -> &'static [super::Corruption] {
        corrupt::CORRUPTIONS
    }

    fn repair_metric(&self) -> RepairMetric {
        RepairMetric::Bifi
    }

    fn check(&self, text: &str) -> Result<(), SyntaxError> {
        match token_error(text, MAX_NESTING) {
            None => parse_strict(text),
            // CPython reads tokens as it parses: a syntax error before the bad
            // token is the one it reports
            Some((offset, message)) => match parse_strict(&text[..super::floor_char_boundary(text, offset.min(text.len()))]) {
                Err(e) if e.offset < offset => Err(SyntaxError::at(text, e.offset, e.message)),
                _ => Err(SyntaxError::at(text, offset, message)),
            },
        }
    }

    fn lex<'a>(&self, text: &'a str) -> Vec<Token<'a>> {
        let mut tokens = Vec::new();
        let mut offset = 0usize;
        // broken code is what this lexer mostly reads: after a lexical error
        // the bad character is an unknown token and lexing resumes after it,
        // so one stray byte or open quote does not leave the rest unread (and
        // the rest is normalised like any text); a bounded number of times, so
        // that a line of ten thousand open quotes stays linear
        for _ in 0..=MAX_LEX_RESTARTS {
            let base = offset;
            let mut failed_at = None;
            for result in lexer::lex(&text[base..], Mode::Module) {
                let (tok, range) = match result {
                    Ok(ok) => ok,
                    Err(e) => {
                        failed_at = Some(base + u32::from(e.location) as usize);
                        break;
                    }
                };
                let (start, end) = (base + u32::from(range.start()) as usize, base + u32::from(range.end()) as usize);
                if start < offset || end <= start {
                    continue; // zero-width INDENT/DEDENT/EOF markers
                }
                push_layout_or_unknown(&mut tokens, &text[offset..start]);
                let piece = &text[start..end];
                match classify(&tok, piece) {
                    Some(TokenKind::Newline) => push_layout(&mut tokens, piece),
                    Some(kind) => tokens.push(Token::new(kind, piece)),
                    None => push_layout_or_unknown(&mut tokens, piece),
                }
                offset = end;
            }
            let Some(at) = failed_at else { break };
            let at = super::floor_char_boundary(text, at.clamp(offset, text.len()));
            let Some(bad) = text[at..].chars().next() else { break };
            let next = at + bad.len_utf8();
            push_layout_or_unknown(&mut tokens, &text[offset..next]);
            offset = next;
        }
        push_layout_or_unknown(&mut tokens, &text[offset..]);
        tokens
    }

    fn whitespace_rule(&self) -> WhitespaceRule {
        WhitespaceRule::Collapse
    }

    /// Units are top-level definitions (functions and classes, with their
    /// decorators) and groups of consecutive other top-level statements up to
    /// `max_chars`; a class longer than `max_chars` gives its methods and nested
    /// classes instead (indented: mining dedents them), so long classes still yield
    /// their functions.
    fn split_source(&self, text: &str, max_chars: usize) -> Result<Vec<Range<usize>>, SyntaxError> {
        let mut units = Vec::new();
        let mut group: Option<Range<usize>> = None;
        for item in top_level_items(text)? {
            match item {
                TopLevel::Definition { range, members } => {
                    units.extend(group.take());
                    push_definition(text, range, &members, max_chars, &mut units);
                }
                TopLevel::Statement(range) => {
                    group = Some(match group.take() {
                        Some(g) if text[g.start..range.end].chars().count() <= max_chars => g.start..range.end,
                        Some(g) => {
                            units.push(g);
                            range
                        }
                        None => range,
                    });
                }
            }
        }
        units.extend(group);
        Ok(units)
    }
}

/// A definition that fits, or the definitions inside a class that does not (a long
/// function stays whole: the length filter counts it).
fn push_definition(text: &str, range: Range<usize>, members: &[TopLevel], max_chars: usize, units: &mut Vec<Range<usize>>) {
    if members.is_empty() || text[range.clone()].chars().count() <= max_chars {
        units.push(range);
        return;
    }
    for member in members {
        if let TopLevel::Definition { range, members } = member {
            push_definition(text, range.clone(), members, max_chars, units);
        }
    }
}

fn classify(tok: &Tok, text: &str) -> Option<TokenKind> {
    Some(match tok {
        Tok::Name { .. } => TokenKind::Identifier,
        Tok::Int { .. } | Tok::Float { .. } | Tok::Complex { .. } => TokenKind::Number,
        Tok::String { .. } => TokenKind::String,
        Tok::Comment(_) => TokenKind::Comment,
        Tok::Newline | Tok::NonLogicalNewline => TokenKind::Newline,
        Tok::Indent | Tok::Dedent | Tok::EndOfFile => return None,
        Tok::Lpar
        | Tok::Rpar
        | Tok::Lsqb
        | Tok::Rsqb
        | Tok::Lbrace
        | Tok::Rbrace
        | Tok::Colon
        | Tok::Comma
        | Tok::Semi
        | Tok::Dot
        | Tok::Rarrow
        | Tok::Ellipsis => TokenKind::Punctuation,
        _ if text.chars().all(|c| c.is_ascii_alphabetic()) => TokenKind::Keyword,
        _ => TokenKind::Operator,
    })
}

/// Layout between tokens, plus a line-continuation backslash or text after a
/// lexical error, which stays unknown: its words unknown tokens, its spaces
/// layout.
fn push_layout_or_unknown<'a>(tokens: &mut Vec<Token<'a>>, gap: &'a str) {
    if gap.trim().is_empty() {
        push_layout(tokens, gap);
    } else {
        push_words(tokens, TokenKind::Unknown, gap);
    }
}

/// How a top-level piece of a module is grouped into mined snippets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TopLevel {
    /// A function or class definition (with its decorators); a class lists the
    /// statements of its body as `members`.
    Definition { range: Range<usize>, members: Vec<TopLevel> },
    /// Any other statement.
    Statement(Range<usize>),
}

/// The top-level statements of a module, as byte ranges that start at the
/// beginning of their first line, or the module's syntax error.
pub(crate) fn top_level_items(text: &str) -> Result<Vec<TopLevel>, SyntaxError> {
    use rustpython_parser::Parse;
    let suite = rustpython_parser::ast::Suite::parse(text, "<module>")
        .map_err(|e| SyntaxError::at(text, u32::from(e.offset) as usize, e.error.to_string()))?;
    Ok(items_of(&suite, text))
}

fn items_of(body: &[rustpython_parser::ast::Stmt], text: &str) -> Vec<TopLevel> {
    use rustpython_parser::ast::Stmt;
    body.iter()
        .map(|stmt| {
            let (decorators, members) = match stmt {
                Stmt::FunctionDef(f) => (Some(&f.decorator_list), Vec::new()),
                Stmt::AsyncFunctionDef(f) => (Some(&f.decorator_list), Vec::new()),
                Stmt::ClassDef(c) => (Some(&c.decorator_list), items_of(&c.body, text)),
                _ => (None, Vec::new()),
            };
            let mut start = u32::from(stmt.range().start()) as usize;
            if let Some(decorators) = decorators {
                for d in decorators {
                    // the decorator expression starts after its `@`
                    start = start.min((u32::from(d.range().start()) as usize).saturating_sub(1));
                }
            }
            let start = text[..start].rfind('\n').map_or(0, |i| i + 1);
            let range = start..u32::from(stmt.range().end()) as usize;
            if decorators.is_some() {
                TopLevel::Definition { range, members }
            } else {
                TopLevel::Statement(range)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_agrees_with_cpython_on_classics() {
        assert_eq!(Python.check("def f(x):\n    return x + 1\n"), Ok(()));
        assert!(Python.check("print 'hi'").is_err());
        let e = Python.check("def f(:\n  pass").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(Python.check("x = (1,\n").is_err());
        assert!(Python.check("if x:\nreturn").is_err());
    }

    #[test]
    fn lexer_types_tokens() {
        let tokens = Python.lex("if x == 'a': print(3)  # c\n");
        let kinds: Vec<_> = tokens.iter().map(|t| (t.kind, t.text)).collect();
        assert!(kinds.contains(&(TokenKind::Keyword, "if")));
        assert!(kinds.contains(&(TokenKind::Identifier, "x")));
        assert!(kinds.contains(&(TokenKind::Operator, "==")));
        assert!(kinds.contains(&(TokenKind::String, "'a'")));
        assert!(kinds.contains(&(TokenKind::Number, "3")));
        assert!(kinds.contains(&(TokenKind::Comment, "# c")));
    }

    #[test]
    fn split_source_groups_statements_up_to_the_limit() {
        let src = "import os\nimport sys\n\ndef f():\n    pass\nx = 1\ny = 2\nz = 3\n";
        let units: Vec<_> = Python.split_source(src, 12).unwrap().into_iter().map(|r| &src[r]).collect();
        assert_eq!(units, ["import os", "import sys", "def f():\n    pass", "x = 1\ny = 2", "z = 3"]);
    }

    #[test]
    fn a_long_class_gives_its_methods() {
        let src = "class A:\n    x = 1\n\n    @property\n    def f(self):\n        return 1\n\n    def g(self):\n        pass\n";
        let units: Vec<_> = Python.split_source(src, 40).unwrap().into_iter().map(|r| &src[r]).collect();
        assert_eq!(units, ["    @property\n    def f(self):\n        return 1", "    def g(self):\n        pass"]);
        let whole: Vec<_> = Python.split_source(src, 1000).unwrap().into_iter().map(|r| &src[r]).collect();
        assert_eq!(whole, [src.trim_end()]);
    }

    #[test]
    fn top_level_items_include_decorators() {
        let src = "import os\n\n@dec\ndef f():\n    pass\nx = 1\n";
        let items = top_level_items(src).unwrap();
        assert_eq!(items.len(), 3);
        let TopLevel::Definition { range, .. } = &items[1] else { panic!("{items:?}") };
        assert_eq!(&src[range.clone()], "@dec\ndef f():\n    pass");
    }
}
