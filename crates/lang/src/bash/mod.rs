//! Bash: strict check and lexer from tree-sitter-bash, and NL2Bash's command
//! templates (`template`).

pub mod template;

use super::token::{Token, TokenKind};
use super::tree_sitter_support::{self, LeafClassifier};
use super::{LangId, Language, SyntaxError, WhitespaceRule};
use std::sync::LazyLock;

static GRAMMAR: LazyLock<tree_sitter::Language> = LazyLock::new(|| tree_sitter_bash::LANGUAGE.into());

const CLASSIFIER: LeafClassifier = LeafClassifier {
    atomic: &[
        ("string", TokenKind::String),
        ("raw_string", TokenKind::String),
        ("ansi_c_string", TokenKind::String),
        ("translated_string", TokenKind::String),
        ("heredoc_body", TokenKind::String),
        ("comment", TokenKind::Comment),
        ("number", TokenKind::Number),
    ],
    classify,
};

/// The most unclosed `(` the strict check hands to brush-parser. Its parser
/// backtracks over every unclosed `(` (0.02 s at 16, 0.7 s at 25, 20 s at 30 on a
/// 2-core AMD EPYC) and recurses once per unclosed `$(` until the stack overflows,
/// so a decoded chain step or a corpus line of `((((…` would stall a worker or end
/// the process. No real command leaves this many open: it is a syntax error.
pub const MAX_UNCLOSED_PARENS: usize = 16;

/// The index of the last byte of the escape (`\x`) or quoted string (`'…'`,
/// `"…"`, escapes inside the latter skipped) that starts at `text[i]`, or the
/// end of `text` when it is never closed: brackets inside it do not count.
fn literal_end(text: &str, i: usize) -> usize {
    let bytes = text.as_bytes();
    match bytes[i] {
        b'\\' => i + 1,
        b'\'' => text[i + 1..].find('\'').map_or(bytes.len(), |j| i + 1 + j),
        _ => {
            let mut j = i + 1;
            while j < bytes.len() && bytes[j] != b'"' {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            j
        }
    }
}

/// When more than `limit` `(` are never closed, the byte offset of the first one
/// past the limit; only `(` and `)` outside quotes, comments, `${…}` and escapes
/// count, and a `)` with nothing open (a `case` pattern) closes nothing. A
/// snippet with a here-document is not scanned (its body is free text).
fn unclosed_parens_beyond(text: &str, limit: usize) -> Option<usize> {
    if text.contains("<<") {
        return None;
    }
    let bytes = text.as_bytes();
    let mut open: Vec<usize> = Vec::new();
    let (mut i, mut braces) = (0usize, 0usize);
    let mut word_start = true;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\\' | b'\'' | b'"' => i = literal_end(text, i),
            b'#' if word_start && braces == 0 => i = text[i..].find('\n').map_or(bytes.len(), |j| i + j),
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                braces += 1;
                i += 1;
            }
            b'}' if braces > 0 => braces -= 1,
            b'(' if braces == 0 => open.push(i),
            b')' if braces == 0 => {
                open.pop();
            }
            _ => {}
        }
        word_start = matches!(c, b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b'(' | b')');
        i += 1;
    }
    open.get(limit).copied()
}

/// The most unclosed `[` brush-parser is given. Its word parser backtracks over
/// the unclosed `[` of a word whose parts are joined by escaped spaces
/// (`com[abc\ com[abc\ …`: 0.9 s at 20 repeats, 55 s at 26 on a 2-core Intel
/// Xeon). An unclosed `[` is legal (a literal bracket), so such a snippet is not
/// refused: tree-sitter-bash, whose parse is linear here, checks it instead.
pub const MAX_UNCLOSED_BRACKETS: usize = 16;

/// How many `[` are never closed by a `]`, outside quotes and escapes.
fn unclosed_brackets(text: &str) -> usize {
    let bytes = text.as_bytes();
    let (mut open, mut i) = (0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' | b'\'' | b'"' => i = literal_end(text, i),
            b'[' => open += 1,
            b']' => open = open.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    open
}

fn classify(kind: &str, parent: Option<&str>, text: &str) -> TokenKind {
    let first = text.chars().next().unwrap_or(' ');
    match kind {
        "variable_name" | "special_variable_name" => TokenKind::Identifier,
        "word" if parent == Some("command_name") => TokenKind::Keyword,
        "word" if text.chars().all(|c| c.is_ascii_digit()) => TokenKind::Number,
        "word" | "extglob_pattern" | "regex" => TokenKind::Identifier,
        "file_descriptor" => TokenKind::Number,
        "string_content" | "heredoc_start" | "heredoc_end" => TokenKind::String,
        _ if first.is_ascii_alphabetic() => TokenKind::Keyword,
        "(" | ")" | "[" | "]" | "{" | "}" | "[[" | "]]" | "((" | "))" | ";" | ";;" | "$(" | "${" | "`" | "\"" => TokenKind::Punctuation,
        _ => TokenKind::Operator,
    }
}

/// Bash command lines and scripts.
pub struct Bash;

impl Language for Bash {
    fn id(&self) -> LangId {
        LangId::Bash
    }

    fn check(&self, text: &str) -> Result<(), SyntaxError> {
        use brush_parser::{ParseError, Parser, ParserOptions};
        if let Some(offset) = unclosed_parens_beyond(text, MAX_UNCLOSED_PARENS) {
            return Err(SyntaxError::at(text, offset, format!("more than {MAX_UNCLOSED_PARENS} unclosed `(`")));
        }
        if let Some(error) = super::too_long(text) {
            return Err(error);
        }
        if unclosed_brackets(text) > MAX_UNCLOSED_BRACKETS {
            return tree_sitter_support::check(&GRAMMAR, text);
        }
        // brush's parser recurses about once per token of a command list
        let parsed = super::with_deep_stack(text.len(), || {
            Parser::new(std::io::Cursor::new(text), &ParserOptions::default()).parse_program().map(|_| ())
        });
        match parsed {
            Ok(_) => Ok(()),
            Err(e) => {
                // brush positions count characters, not bytes
                let char_index = match &e {
                    ParseError::ParsingNear(p) => Some(p.index),
                    ParseError::Tokenizing { position: Some(p), .. } => Some(p.index),
                    _ => None,
                };
                let offset = char_index.and_then(|i| text.char_indices().nth(i).map(|(b, _)| b)).unwrap_or(text.len());
                // brush's messages repeat the position; say what is there instead
                let message = match e {
                    ParseError::ParsingNear(_) => {
                        let near: String = text[offset..].chars().take_while(|c| !c.is_whitespace()).take(12).collect();
                        format!("syntax error near `{near}`")
                    }
                    ParseError::ParsingAtEndOfInput => "unexpected end of input".to_string(),
                    ParseError::Tokenizing { inner, .. } => inner.to_string(),
                };
                Err(SyntaxError::at(text, offset, message))
            }
        }
    }

    fn lex<'a>(&self, text: &'a str) -> Vec<Token<'a>> {
        tree_sitter_support::lex(&GRAMMAR, &CLASSIFIER, text)
    }

    fn whitespace_rule(&self) -> WhitespaceRule {
        WhitespaceRule::Collapse
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pathological_open_parens_are_answered_at_once() {
        for opener in ["(", "$("] {
            let line = opener.repeat(10_000);
            let clock = std::time::Instant::now();
            let e = Bash.check(&line).unwrap_err();
            assert!(e.message.contains("unclosed `(`"), "{e:?}");
            // a hang guard, not a speed target: the parser's backtracking took 20 s at 30
            assert!(clock.elapsed().as_secs_f64() < 5.0, "{opener} x 10,000 took {:?}", clock.elapsed());
        }
        // balanced nesting, quoted or commented parens, case patterns and here-documents pass through
        assert_eq!(Bash.check(&format!("echo {}1{}", "$(".repeat(40), ")".repeat(40))), Ok(()));
        assert_eq!(Bash.check(&format!("echo '{}' \"{}\" # {}", "(".repeat(40), "(".repeat(40), "(".repeat(40))), Ok(()));
        assert_eq!(Bash.check("case $x in a) echo 1;; b) echo 2;; esac"), Ok(()));
        assert_eq!(unclosed_parens_beyond(&format!("cat <<EOF\n{}\nEOF", "(".repeat(40)), 16), None);
        assert_eq!(unclosed_parens_beyond(&"(".repeat(20), 16), Some(16));
        assert_eq!(unclosed_parens_beyond(&format!("echo ${{x//{}/}}", "(".repeat(20)), 16), None);
    }

    /// A word of many unclosed `[` joined by escaped spaces is answered at once,
    /// by tree-sitter-bash; an unclosed `[` stays legal.
    #[test]
    fn many_unclosed_brackets_are_answered_at_once() {
        let text = "com[[[[!abc\\ ".repeat(46);
        let start = std::time::Instant::now();
        let _ = Bash.check(&text);
        // a hang guard, not a speed target: brush took 55 s at 26 repeats
        assert!(start.elapsed().as_secs() < 5, "{:?}", start.elapsed());
        let brackets = format!("echo {}", "a[ ".repeat(20));
        assert_eq!(Bash.check(&brackets), Ok(()));
        assert!(Bash.check(&format!("{brackets} )")).is_err());
        assert!(Bash.check("echo [ a[b").is_ok());
        assert_eq!(unclosed_brackets("a[b] 'c[' \\[ [[ x ]] ["), 1);
    }

    #[test]
    fn a_brace_before_a_wide_character_does_not_crash() {
        // tree-sitter-bash 0.25.1's scanner indexed glibc's ctype table with the
        // code point after `{` and died of SIGSEGV (upstream issue #337, input
        // `{\u{31860}`): vendor/tree-sitter-bash/README.md
        let bash = crate::LangId::Bash.language();
        for wide in ['\u{31860}', '\u{E0100}', '\u{F0000}', '\u{10FFFF}'] {
            for text in [format!("{{{wide}"), format!("echo {{1.{wide}"), format!("x={{{wide}}}; echo ${{x}}")] {
                let joined: String = bash.lex(&text).iter().map(|t| t.text).collect();
                assert_eq!(joined, text);
            }
        }
    }

    #[test]
    fn accepts_real_command_lines() {
        for ok in ["ps -aef", "stat -t /proc/1 | awk '{print $14}'", "for f in *.txt; do echo \"$f\"; done", "if [ -f x ]; then rm x; fi"] {
            assert_eq!(Bash.check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_broken_command_lines() {
        for bad in ["echo \"unterminated", "if [ -f x ]; then rm x;", "ls | | grep a", "stat -t /proc/<pid>"] {
            assert!(Bash.check(bad).is_err(), "{bad}");
        }
        let e = Bash.check("ls | | grep a").unwrap_err();
        assert_eq!((e.column, e.message.as_str()), (6, "syntax error near `|`"));
        assert_eq!(Bash.check("if true; then").unwrap_err().message, "unexpected end of input");
    }

    #[test]
    fn lexes_commands_words_and_strings() {
        let tokens = Bash.lex("grep -r \"a b\" .");
        let kinds: Vec<_> = tokens.iter().filter(|t| t.kind != TokenKind::Whitespace).map(|t| (t.kind, t.text)).collect();
        assert_eq!(kinds[0], (TokenKind::Keyword, "grep"));
        assert!(kinds.contains(&(TokenKind::String, "\"a b\"")));
    }
}
