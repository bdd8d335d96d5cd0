//! PowerShell: strict check and lexer from tree-sitter-powershell.

use super::token::{Token, TokenKind};
use super::tree_sitter_support::{self, LeafClassifier};
use super::{LangId, Language, SyntaxError, WhitespaceRule};
use std::sync::LazyLock;

static GRAMMAR: LazyLock<tree_sitter::Language> =
    LazyLock::new(|| tree_sitter_powershell::LANGUAGE.into());

const CLASSIFIER: LeafClassifier = LeafClassifier {
    atomic: &[
        ("expandable_string_literal", TokenKind::String),
        ("verbatim_string_characters", TokenKind::String),
        ("expandable_here_string_literal", TokenKind::String),
        ("verbatim_here_string_characters", TokenKind::String),
        ("comment", TokenKind::Comment),
        ("decimal_integer_literal", TokenKind::Number),
        ("hexadecimal_integer_literal", TokenKind::Number),
        ("real_literal", TokenKind::Number),
        ("variable", TokenKind::Identifier),
        ("braced_variable", TokenKind::Identifier),
        ("command_parameter", TokenKind::Identifier),
        ("type_literal", TokenKind::Keyword),
    ],
    classify,
};

fn classify(kind: &str, parent: Option<&str>, text: &str) -> TokenKind {
    let first = text.chars().next().unwrap_or(' ');
    match (kind, parent) {
        (_, Some("command_name")) | ("command_name", _) | ("path_command_name_token", _) => TokenKind::Keyword,
        ("simple_name", _) | ("generic_token", _) | ("type_identifier", _) | ("label", _) => TokenKind::Identifier,
        (_, Some("comparison_operator")) | (_, Some("assignement_operator")) | (_, Some("format_operator")) => {
            TokenKind::Operator
        }
        _ if first == '-' && text.len() > 1 => TokenKind::Operator,
        _ if first.is_ascii_alphabetic() => TokenKind::Keyword,
        ("(" | ")" | "[" | "]" | "{" | "}" | "@(" | "@{" | "$(" | "," | ";" | "." | "::", _) => TokenKind::Punctuation,
        _ => TokenKind::Operator,
    }
}

/// PowerShell 7 commands and scripts.
pub struct PowerShell;

impl Language for PowerShell {
    fn id(&self) -> LangId {
        LangId::Powershell
    }

    fn check(&self, text: &str) -> Result<(), SyntaxError> {
        tree_sitter_support::check(&GRAMMAR, text)
    }

    fn lex<'a>(&self, text: &'a str) -> Vec<Token<'a>> {
        tree_sitter_support::lex(&GRAMMAR, &CLASSIFIER, text)
    }

    fn whitespace_rule(&self) -> WhitespaceRule {
        WhitespaceRule::Collapse
    }

    fn split_source(&self, text: &str, max_chars: usize) -> Result<Vec<std::ops::Range<usize>>, SyntaxError> {
        statement_ranges(text, max_chars)
    }
}

/// Top-level statements of a PowerShell script, as byte ranges, for mining.
/// Statements longer than `max_len` bytes that have a body are split into the
/// statements of that body, so what fits is kept; statements with a syntax error
/// are left out (the rest of the script is still mined).
fn statement_ranges(text: &str, max_len: usize) -> Result<Vec<std::ops::Range<usize>>, SyntaxError> {
    let tree = tree_sitter_support::parse(&GRAMMAR, text);
    let mut out = Vec::new();
    collect_statements(tree.root_node(), max_len, &mut out);
    Ok(out)
}

fn collect_statements(node: tree_sitter::Node<'_>, max_len: usize, out: &mut Vec<std::ops::Range<usize>>) {
    let mut cursor = node.walk();
    for child in node.named_children(&mut cursor) {
        match child.kind() {
            "statement_list" | "script_block" | "script_block_body" | "statement_block" | "named_block_list"
            | "named_block" => collect_statements(child, max_len, out),
            "comment" | "param_block" | "empty_statement" => {}
            _ if child.has_error() => {}
            _ if child.end_byte() - child.start_byte() <= max_len => out.push(child.start_byte()..child.end_byte()),
            _ => collect_statements(child, max_len, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_commands() {
        for ok in [
            "Get-ChildItem -Path C:\\ -Recurse | Where-Object { $_.Length -gt 1MB }",
            "& \"C:\\Program Files\\x.exe\" /quiet",
            "$x = @{ a = 1; b = 'two' }",
        ] {
            assert_eq!(PowerShell.check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_broken_commands() {
        for bad in ["Get-Item | ", "if ($x) { Write-Host 1", "$x = (1 + "] {
            assert!(PowerShell.check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lexes_cmdlets_and_parameters() {
        let tokens = PowerShell.lex("Get-Item -Path $p");
        assert_eq!(tokens[0], Token::new(TokenKind::Keyword, "Get-Item"));
        assert!(tokens.contains(&Token::new(TokenKind::Identifier, "$p")));
    }
}
