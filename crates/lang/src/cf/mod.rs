//! Excel conditional-formatting rules in the CodeFusion DSL, e.g.
//! `Between(15, 85)`, `NOT(TextEquals(0))`, `top(25%)`, and in the column dialect of
//! the NL-to-code test split, e.g. `TopPercent(c[1], 20)`, `TextEquals(c[6], 'No')`.
//!
//! The grammar is derived from the 226K rules of the CodeFusion corpus and the
//! benchmark's two splits:
//!
//! ```text
//! rule    := VISUAL "(" [col] ")" | STATE "(" [col] ")" | COLUMN "(" [col] ")"
//!          | COMPARE "(" [subject ","] operand ")"
//!          | BETWEEN "(" [col ","] number "," number ")"
//!          | RANK "(" [col [","]] [integer ["%"]] ")" | TEXT "(" [col ","] text ")"
//!          | DATE "(" [col] ")"
//!          | ("NOT" | "Not") "(" rule ")" | ("AND" | "OR") "(" rule ("," rule)+ ")"
//! col     := "c[" integer "]"          subject := col | "LEN(" col ")"
//! operand := number | col
//! text    := any characters except a line break (it may contain parentheses and
//!            commas; the parse tries every closing parenthesis); quotes around the
//!            whole text are not part of it
//! ```
//! Spaces are allowed around numbers and after commas. Names are case-sensitive
//! (the list is in `rule.rs`). [`exec`] runs a rule on a table.

pub mod exec;
mod grounding;
mod rule;
mod table;

pub use rule::{parse_rule, CellState, ColumnTest, Comparison, Operand, Rule, Subject, TextTest, Visual};
pub use table::{Cell, Table};

use super::token::{push_layout, Token, TokenKind};
use super::{LangId, Language, SyntaxError, WhitespaceRule};
use std::ops::Range;

/// Excel conditional-formatting rules.
pub struct CfRules;

impl Language for CfRules {
    fn id(&self) -> LangId {
        LangId::Cf
    }

    fn check(&self, text: &str) -> Result<(), SyntaxError> {
        rule::parse(text).map(|_| ())
    }

    /// Every number of the rule is written in the request (`900000`, `3.45`, `10`
    /// of "10 percent"; 0 and 1 need not be, "not empty" is `NOT(Equals(0))`), and
    /// every text value occurs in it, ignoring case. A rule that does not parse is
    /// not grounded.
    fn grounded(&self, code: &str, request: &str) -> bool {
        let Ok(rule) = rule::parse_rule(code) else { return false };
        let (numbers, texts) = rule.literals();
        let shown = grounding::numbers_in(request);
        let lower = request.to_lowercase();
        numbers.iter().all(|n| *n == 0.0 || *n == 1.0 || shown.contains(n))
            && texts.iter().all(|t| !t.trim().is_empty() && lower.contains(&t.trim().to_lowercase()))
    }

    fn lex<'a>(&self, text: &'a str) -> Vec<Token<'a>> {
        let texts = rule::parse(text).map(|(_, texts)| texts).unwrap_or_else(|_| balanced_text_spans(text));
        let mut tokens = Vec::new();
        let mut pos = 0;
        let mut next_text = texts.iter().peekable();
        while pos < text.len() {
            if let Some(span) = next_text.next_if(|s| s.start <= pos) {
                if span.end > pos {
                    tokens.push(Token::new(TokenKind::String, &text[pos..span.end]));
                    pos = span.end;
                }
                continue;
            }
            let limit = next_text.peek().map_or(text.len(), |s| s.start);
            let rest = &text[pos..limit];
            let c = rest.chars().next().expect("pos < limit");
            let len = if c.is_ascii_alphabetic() {
                rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len())
            } else if c.is_ascii_digit() || (c == '-' || c == '.') && rest.len() > 1 {
                1 + rest[1..].find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E'))).unwrap_or(rest.len() - 1)
            } else if c.is_whitespace() {
                rest.find(|c: char| !c.is_whitespace()).unwrap_or(rest.len())
            } else {
                c.len_utf8()
            };
            let piece = &rest[..len];
            match c {
                _ if c.is_ascii_alphabetic() => tokens.push(Token::new(TokenKind::Keyword, piece)),
                _ if c.is_whitespace() => push_layout(&mut tokens, piece),
                '(' | ')' | ',' | '[' | ']' => tokens.push(Token::new(TokenKind::Punctuation, piece)),
                '%' => tokens.push(Token::new(TokenKind::Operator, piece)),
                _ if piece.parse::<f64>().is_ok() => tokens.push(Token::new(TokenKind::Number, piece)),
                _ => tokens.push(Token::new(TokenKind::Unknown, piece)),
            }
            pos += len;
        }
        tokens
    }

    fn whitespace_rule(&self) -> WhitespaceRule {
        WhitespaceRule::Drop
    }
}

/// Text-argument spans of a rule that does not parse: after each text function's
/// `(`, up to the `)` that balances it (or the end of the line).
fn balanced_text_spans(text: &str) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    for name in rule::text_rule_names() {
        for (at, _) in text.match_indices(&format!("{name}(")) {
            let start = at + name.len() + 1;
            let mut depth = 0i32;
            let mut end = text[start..].find('\n').map_or(text.len(), |i| start + i);
            for (i, c) in text[start..end].char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' if depth == 0 => {
                        end = start + i;
                        break;
                    }
                    ')' => depth -= 1,
                    _ => {}
                }
            }
            if end > start {
                spans.push(start..end);
            }
        }
    }
    spans.sort_by_key(|s| s.start);
    spans.dedup_by(|b, a| b.start < a.end);
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_corpus_shapes() {
        for ok in [
            "Between(15,85)",
            "Between(0.5, 1E-32)",
            "Blanks()",
            "GreaterThan(0)",
            "top(25%)",
            "AND(NOT(TextEquals(0)),NOT(TextEquals(0)))",
            "OR(LessThan(1),TextEquals(\"0%\"))",
            "TextContains(RT (Retaken))",
            "TextContains(()",
            "TextEquals(Enter the CAPA Owner (the individual this CAPA will be Assigned To).)",
            "OR(TextEquals(a, b),TextEquals(c))",
        ] {
            assert_eq!(CfRules.check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_broken_rules() {
        for (bad, offset) in [
            ("Between(15)", 10),
            ("GreaterThan(x)", 12),
            ("AND(GreaterThan(0))", 18),
            ("NOT(Errors(),Blanks())", 12),
            ("Bigger(3)", 0),
            ("top(1.5)", 5),
            ("LessThan(0", 10),
            ("ColorScale()x", 12),
        ] {
            let e = CfRules.check(bad).expect_err(bad);
            assert_eq!(e.offset, offset, "{bad}: {e}");
        }
        assert_eq!(CfRules.check("Bigger(3)").unwrap_err().message, "expected a known rule name, found `Bigger`");
    }

    #[test]
    fn lexes_text_arguments_as_strings() {
        let tokens = CfRules.lex("OR(TextEquals(a (b)),Between(1, 2))");
        assert!(tokens.contains(&Token::new(TokenKind::String, "a (b)")));
        assert!(tokens.contains(&Token::new(TokenKind::Number, "2")));
        assert_eq!(CfRules.sketch("Between(15, 85)"), "Between(,)");
    }
}
