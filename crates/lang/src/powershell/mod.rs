//! PowerShell: strict check and lexer from tree-sitter-powershell, vendored
//! and patched in `grammars/tree-sitter-powershell/` (what was changed and why:
//! its README).

use super::token::{Token, TokenKind};
use super::tree_sitter_support::{self, LeafClassifier};
use super::{LangId, Language, SyntaxError, WhitespaceRule};
use std::sync::LazyLock;

mod commands;
mod idioms;
mod sites;
mod transcript;

extern "C" {
    /// Built by `build.rs` from the vendored grammar's `parser.c` and `scanner.c`.
    fn tree_sitter_powershell() -> *const ();
}

/// The patched grammar, as tree-sitter-powershell's Rust binding exposes it.
const LANGUAGE: tree_sitter_language::LanguageFn = unsafe { tree_sitter_language::LanguageFn::from_raw(tree_sitter_powershell) };

static GRAMMAR: LazyLock<tree_sitter::Language> = LazyLock::new(|| LANGUAGE.into());

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
        (_, Some("comparison_operator")) | (_, Some("assignement_operator")) | (_, Some("format_operator")) => TokenKind::Operator,
        _ if first == '-' && text.len() > 1 => TokenKind::Operator,
        _ if first.is_ascii_alphabetic() => TokenKind::Keyword,
        ("(" | ")" | "[" | "]" | "{" | "}" | "@(" | "@{" | "$(" | "," | ";" | "." | "::", _) => TokenKind::Punctuation,
        _ => TokenKind::Operator,
    }
}

/// PowerShell 7 commands and scripts.
pub struct PowerShell;

/// Works around two gaps of tree-sitter-powershell without changing what is
/// valid PowerShell, keeping every byte offset: numeric multipliers are
/// case-insensitive in PowerShell (`1MB` = `1mb`) but the grammar knows only
/// lower case, and a backtick before a space or tab is an escaped blank (syntax
/// the grammar lacks) that tokenises like a plain blank.
fn case_and_escape_folded(text: &str) -> std::borrow::Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut folded: Option<Vec<u8>> = None;
    for i in 0..bytes.len() {
        let replace = |out: &mut Option<Vec<u8>>, at: usize, with: u8| out.get_or_insert_with(|| bytes.to_vec())[at] = with;
        if bytes[i] == b'`' && matches!(bytes.get(i + 1), Some(b' ' | b'\t')) {
            replace(&mut folded, i, b' ');
        }
        let after_digit = i > 0 && bytes[i - 1].is_ascii_digit();
        if after_digit && matches!(bytes[i].to_ascii_lowercase(), b'k' | b'm' | b'g' | b't' | b'p') {
            let is_b = bytes.get(i + 1).is_some_and(|b| b.eq_ignore_ascii_case(&b'b'));
            let ends = bytes.get(i + 2).is_none_or(|b| !b.is_ascii_alphanumeric() && *b != b'_');
            if is_b && ends {
                replace(&mut folded, i, bytes[i].to_ascii_lowercase());
                replace(&mut folded, i + 1, b'b');
            }
        }
    }
    match folded {
        // only ASCII bytes were swapped for ASCII bytes
        Some(bytes) => String::from_utf8(bytes).expect("still UTF-8").into(),
        None => text.into(),
    }
}

impl Language for PowerShell {
    fn id(&self) -> LangId {
        LangId::Powershell
    }

    fn check(&self, text: &str) -> Result<(), SyntaxError> {
        tree_sitter_support::check(&GRAMMAR, &case_and_escape_folded(text))
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

    fn commands_resolve(&self, text: &str) -> Option<bool> {
        Some(commands::resolve(text).unknown.is_empty())
    }

    fn repair_sites(&self, text: &str) -> Vec<usize> {
        sites::repair_sites(text)
    }

    fn idiom_edits(&self, text: &str) -> Vec<String> {
        idioms::idiom_edits(text)
    }

    fn ranks_repairs(&self) -> bool {
        true
    }

    fn transcript_commands(&self, block: &str) -> Option<Vec<(usize, String)>> {
        transcript::transcript_commands(block, |text| self.check(text).is_ok())
    }
}

/// Top-level statements of a PowerShell script, as byte ranges, for mining.
/// Statements longer than `max_len` bytes that have a body are split into the
/// statements of that body, so what fits is kept; statements with a syntax error
/// are left out (the rest of the script is still mined).
fn statement_ranges(text: &str, max_len: usize) -> Result<Vec<std::ops::Range<usize>>, SyntaxError> {
    let tree = tree_sitter_support::parse(&GRAMMAR, text);
    let mut out = Vec::new();
    collect_statements(tree.root_node(), text, max_len, &mut out);
    Ok(out)
}

/// Pushes the statements of every `statement_list` under `node`: whole when
/// they fit in `max_len` bytes, else the statements nested in their bodies.
/// Printed object properties that documentation mixes into its examples are no
/// statements of a script and are left out.
fn collect_statements(node: tree_sitter::Node<'_>, text: &str, max_len: usize, out: &mut Vec<std::ops::Range<usize>>) {
    let in_list = node.kind() == "statement_list";
    let mut cursor = node.walk();
    for child in node.named_children(&mut cursor) {
        let fits = child.end_byte() - child.start_byte() <= max_len;
        match child.kind() {
            "comment" | "empty_statement" if in_list => {}
            _ if in_list && child.has_error() => {}
            _ if in_list && transcript::is_printed_property(&text[child.byte_range()]) => {}
            _ if in_list && fits => out.push(child.start_byte()..child.end_byte()),
            _ => collect_statements(child, text, max_len, out),
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
            "Get-ADComputer -Filter * ` | Where-Object { $_.Name -match 'x' }",
            "& \"C:\\Program Files\\x.exe\" /quiet",
            "$x = @{ a = 1; b = 'two' }",
        ] {
            assert_eq!(PowerShell.check(ok), Ok(()), "{ok}");
        }
    }

    /// Each construct the vendored grammar's patch adds (its README), from the
    /// PowerShell repair benchmark's ground truths that upstream rejected.
    #[test]
    fn accepts_what_the_patched_grammar_adds() {
        for ok in [
            // quoted parts and backtick escapes inside a native-command argument
            "wevtutil sl security /ca:'O:BAG:SYD:(A;;0xf0005;;;SY)'",
            "& $tool merge /Source=$a`;$b /Output=x.dcvr",
            "Psexec.exe \\\\10.10.10.10 net stop spooler `&`& sc config spooler",
            "sftpc.exe user@ftp.domain.com -cmd=\"ls `\"somefile.txt`\"\"",
            // bare text right after a value, braced variables inside it
            "hg log -r ${From}`:${To} --style fileList",
            // a parenthesized argument right after bare text
            "tf.exe workspace /collection:http://(server):8080/tfs",
            // a method call with an index as an argument
            "Expand-Archive -Path $p -DestinationPath \"$p\".split('.')[0]",
            // an argument array mixing strings and bare words
            "Get-ADGroup -Properties \"msDS-ReplValueMetaData\",whencreated,groupscope",
            // a script that is only a param block, with attributes
            "[CmdletBinding()] Param( [Parameter(Mandatory=$false)] [switch]$file )",
            "param (\n    [Parameter(Mandatory = $true)][string]$Id\n)",
            // a function body on the param block's line, then a statement
            "Function Trainee-Admin { param($groups) write-host $groups } $groups = 1",
        ] {
            assert_eq!(PowerShell.check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_broken_commands() {
        for bad in [
            "Get-Item | ",
            "if ($x) { Write-Host 1",
            "$x = (1 + ",
            // an unterminated quote inside a bare argument is an unterminated string
            "start /b x.exe %USERNAME% %FILENAME%\"",
            "findstr /C:\\foo\" ~\\cache.xml",
        ] {
            assert!(PowerShell.check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn splits_scripts_into_statements_that_fit() {
        let script = "# c\nfunction F {\n    param($a)\n    Get-Item $a\n    Remove-Item $a -Force\n}\n$x = 1\n";
        let units: Vec<_> = PowerShell.split_source(script, 30).unwrap().into_iter().map(|r| &script[r]).collect();
        assert_eq!(units, ["Get-Item $a", "Remove-Item $a -Force", "$x = 1"]);
        let whole: Vec<_> = PowerShell.split_source(script, 200).unwrap().into_iter().map(|r| &script[r]).collect();
        assert_eq!(whole.len(), 2);
        assert!(whole[0].starts_with("function F {"));
    }

    #[test]
    fn lexes_cmdlets_and_parameters() {
        let tokens = PowerShell.lex("Get-Item -Path $p");
        assert_eq!(tokens[0], Token::new(TokenKind::Keyword, "Get-Item"));
        assert!(tokens.contains(&Token::new(TokenKind::Identifier, "$p")));
    }
}
