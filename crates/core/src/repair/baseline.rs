//! Baselines every repairer is compared against: `identity` (the input) and
//! the rule-based fixer a user would try first: drop a trailing operator or
//! separator, close an unterminated string, and close unbalanced brackets in
//! the right order.

use crate::lang::{Language, TokenKind};

/// The input, unchanged.
pub fn identity(text: &str) -> String {
    text.to_string()
}

/// The cheap rule-based fix (see the module docs). Works on the language's
/// tokens, so brackets inside strings and comments are not counted.
pub fn rule_based(lang: &dyn Language, text: &str) -> String {
    let mut out = text.trim_end().to_string();
    // drop trailing operators and separators (`=A1+`, `SUM(A1,`), but keep a
    // lone leading `=` of an Excel formula
    loop {
        let tokens = lang.lex(&out);
        let Some(last) = tokens.iter().rev().find(|t| !matches!(t.kind, TokenKind::Whitespace | TokenKind::Newline)) else {
            break;
        };
        let droppable = matches!(last.kind, TokenKind::Operator) || (last.kind == TokenKind::Punctuation && matches!(last.text, "," | ";"));
        let only_token = tokens.iter().filter(|t| !matches!(t.kind, TokenKind::Whitespace | TokenKind::Newline)).count() == 1;
        if !droppable || only_token {
            break;
        }
        let end = out.rfind(last.text).unwrap_or(out.len());
        out.truncate(end);
        out = out.trim_end().to_string();
    }
    // an unterminated string: the lexer leaves a token starting with a quote
    // that does not end with it, the last one, or (Python, which lexes on after
    // the error) the first unknown one
    let tokens = lang.lex(&out);
    let opening_quote = |t: &crate::lang::Token<'_>| {
        t.text.chars().next().filter(|&q| (q == '"' || q == '\'') && (t.text.len() == 1 || !t.text.ends_with(q)))
    };
    let first_unknown = tokens.iter().filter(|t| t.kind == TokenKind::Unknown).find_map(opening_quote);
    if let Some(q) = first_unknown.or_else(|| tokens.last().and_then(opening_quote)) {
        out.push(q);
    }
    let mut open: Vec<char> = Vec::new();
    for token in lang.lex(&out) {
        if matches!(token.kind, TokenKind::String | TokenKind::Comment) {
            continue;
        }
        for ch in token.text.chars() {
            match ch {
                '(' | '[' | '{' => open.push(ch),
                ')' | ']' | '}' => {
                    let want = match ch {
                        ')' => '(',
                        ']' => '[',
                        _ => '{',
                    };
                    if open.last() == Some(&want) {
                        open.pop();
                    }
                }
                _ => {}
            }
        }
    }
    for ch in open.iter().rev() {
        out.push(match ch {
            '(' => ')',
            '[' => ']',
            _ => '}',
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::LangId;

    #[test]
    fn rule_based_fixes_the_cheap_cases() {
        let excel = LangId::Excel.language();
        assert_eq!(rule_based(excel, "=SUM(A1:A3"), "=SUM(A1:A3)");
        assert_eq!(rule_based(excel, "=IF(A1>0,SUM(B1:B3),"), "=IF(A1>0,SUM(B1:B3))");
        assert_eq!(rule_based(excel, "=A1+"), "=A1");
        assert_eq!(rule_based(excel, "=SUM(A1)"), "=SUM(A1)");
        assert_eq!(rule_based(excel, "="), "=");
        let fixed = rule_based(excel, "=IF(A1>0,\"x");
        assert!(excel.check(&fixed).is_ok(), "{fixed}");
        let py = LangId::Python.language();
        assert_eq!(rule_based(py, "print(len([1, 2]"), "print(len([1, 2]))");
        assert_eq!(rule_based(py, "print('hello"), "print('hello')");
        assert_eq!(rule_based(py, "x = 1\nprint(\"a (b"), "x = 1\nprint(\"a (b\")");
        assert_eq!(identity("=A1+"), "=A1+");
    }
}
