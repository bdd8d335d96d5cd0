//! Excel conditional-formatting rules in the CodeFusion DSL, e.g.
//! `Between(15, 85)`, `NOT(TextEquals(0))`, `top(25%)`.
//!
//! The grammar is derived from the 226K rules of the CodeFusion corpus:
//!
//! ```text
//! rule    := NULLARY "()" | COMPARE "(" number ")" | BETWEEN "(" number "," number ")"
//!          | RANK "(" integer ["%"] ")" | TEXT "(" text ")"
//!          | "NOT(" rule ")" | ("AND" | "OR") "(" rule ("," rule)+ ")"
//! text    := any characters except a line break (it may contain parentheses and
//!            commas; the parse tries every closing parenthesis)
//! ```
//! Spaces are allowed around numbers and after commas. Names are case-sensitive,
//! as in the corpus.

use super::token::{push_layout, Token, TokenKind};
use super::{LangId, Language, SyntaxError, WhitespaceRule};
use std::ops::Range;

const NULLARY: [&str; 11] =
    ["ColorScale", "DataBar", "IconSet", "Duplicate", "Unique", "Errors", "NoErrors", "Blanks", "NoBlanks", "aboveAverage", "belowAverage"];
const COMPARE: [&str; 6] = ["GreaterThan", "LessThan", "Equals", "NotEquals", "GreaterThanEqual", "LessThanEqual"];
const BETWEEN: [&str; 2] = ["Between", "NotBetween"];
const RANK: [&str; 2] = ["top", "bottom"];
const TEXT: [&str; 5] = ["TextEquals", "TextContains", "TextNotContains", "TextBeginsWith", "TextEndsWith"];
const LOGICAL: [&str; 3] = ["AND", "OR", "NOT"];

/// Excel conditional-formatting rules.
pub struct CfRules;

/// One way a rule can end: its end offset and the spans of its text arguments.
#[derive(Debug, Clone)]
struct Parse {
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

    fn number(&mut self, pos: usize, integer_only: bool) -> Option<usize> {
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
        Some(self.skip_spaces(i))
    }

    fn rule(&mut self, pos: usize) -> Vec<Parse> {
        let rest = &self.text[pos..];
        let name_len = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
        let name = &rest[..name_len];
        let Some(after) = (name_len > 0).then(|| self.expect(pos + name_len, "(")).flatten() else {
            if name_len == 0 {
                self.fail(pos, "a rule name");
            }
            return Vec::new();
        };
        let one = |end: Option<usize>, this: &mut Self| -> Vec<Parse> {
            end.and_then(|e| this.expect(e, ")")).map(|end| vec![Parse { end, texts: Vec::new() }]).unwrap_or_default()
        };
        if NULLARY.contains(&name) {
            one(Some(after), self)
        } else if COMPARE.contains(&name) {
            let end = self.number(after, false);
            one(end, self)
        } else if BETWEEN.contains(&name) {
            let end = self.number(after, false).and_then(|e| self.expect(e, ",")).and_then(|e| self.number(e, false));
            one(end, self)
        } else if RANK.contains(&name) {
            let end = self.number(after, true).map(|e| if self.text[e..].starts_with('%') { e + 1 } else { e });
            one(end, self)
        } else if TEXT.contains(&name) {
            let line_end = self.text[after..].find('\n').map_or(self.text.len(), |i| after + i);
            let parses: Vec<Parse> = self.text[after..line_end]
                .match_indices(')')
                .map(|(i, _)| Parse { end: after + i + 1, texts: vec![after..after + i] })
                .collect();
            if parses.is_empty() {
                self.fail(line_end, "`)` to end the text");
            }
            parses
        } else if LOGICAL.contains(&name) {
            self.logical(name, after)
        } else {
            self.fail(pos, "a known rule name");
            Vec::new()
        }
    }

    fn logical(&mut self, name: &str, after: usize) -> Vec<Parse> {
        let mut done = Vec::new();
        // partial parses: (position after the last rule, rules so far, text spans)
        let mut frontier = vec![(after, 0usize, Vec::new())];
        while let Some((pos, count, texts)) = frontier.pop() {
            for parse in self.rule(pos) {
                let mut texts = texts.clone();
                texts.extend(parse.texts);
                let count = count + 1;
                if self.text[parse.end..].starts_with(')') {
                    let enough = if name == "NOT" { count == 1 } else { count >= 2 };
                    if enough {
                        done.push(Parse { end: parse.end + 1, texts: texts.clone() });
                    } else {
                        self.fail(parse.end, if name == "NOT" { "`)`" } else { "`,` and another rule" });
                    }
                }
                if self.text[parse.end..].starts_with(',') && name != "NOT" {
                    frontier.push((self.skip_spaces(parse.end + 1), count, texts));
                } else if !self.text[parse.end..].starts_with(')') {
                    self.fail(parse.end, "`,` or `)`");
                }
            }
        }
        done
    }
}

/// Parses a whole rule; on success returns the spans of its text arguments.
fn parse(text: &str) -> Result<Vec<Range<usize>>, SyntaxError> {
    let mut parser = Parser { text, furthest: Failure { offset: 0, expected: "a rule".into() } };
    let parses = parser.rule(0);
    if let Some(full) = parses.iter().find(|p| p.end == text.len()) {
        return Ok(full.texts.clone());
    }
    if let Some(longest) = parses.iter().map(|p| p.end).max() {
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

impl Language for CfRules {
    fn id(&self) -> LangId {
        LangId::Cf
    }

    fn check(&self, text: &str) -> Result<(), SyntaxError> {
        parse(text).map(|_| ())
    }

    fn lex<'a>(&self, text: &'a str) -> Vec<Token<'a>> {
        let texts = parse(text).unwrap_or_else(|_| balanced_text_spans(text));
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
                '(' | ')' | ',' => tokens.push(Token::new(TokenKind::Punctuation, piece)),
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
    for name in TEXT {
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
