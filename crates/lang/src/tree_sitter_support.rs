//! Shared machinery for languages checked and lexed with a tree-sitter grammar.
//!
//! A tree-sitter parse never fails: broken input yields `ERROR` and `MISSING`
//! nodes. The strict check is therefore "the tree contains neither".

use super::token::{push_layout, push_words, Token, TokenKind};
use super::SyntaxError;
use std::cell::RefCell;
use tree_sitter::{Language as TsLanguage, Node, Parser, Tree};

/// How a grammar's node kinds map onto token kinds.
pub(crate) struct LeafClassifier {
    /// Node kinds lexed as one token, children ignored (strings, here-docs).
    pub atomic: &'static [(&'static str, TokenKind)],
    /// Classifies a leaf (or atomic-less) node by its kind, its parent's kind and text.
    pub classify: fn(kind: &str, parent: Option<&str>, text: &str) -> TokenKind,
}

thread_local! {
    static PARSERS: RefCell<Vec<(usize, Parser)>> = const { RefCell::new(Vec::new()) };
}

/// Parses `text` with a per-thread cached parser for `language`.
pub(crate) fn parse(language: &TsLanguage, text: &str) -> Tree {
    let key = language as *const TsLanguage as usize;
    PARSERS.with(|cell| {
        let mut parsers = cell.borrow_mut();
        let index = match parsers.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                let mut parser = Parser::new();
                parser.set_language(language).expect("grammar ABI is supported by tree-sitter");
                parsers.push((key, parser));
                parsers.len() - 1
            }
        };
        parsers[index].1.parse(text, None).expect("a parser with a language and no timeout always returns a tree")
    })
}

/// Strict check: the first `ERROR` or `MISSING` node, in document order, as an error.
pub(crate) fn check(language: &TsLanguage, text: &str) -> Result<(), SyntaxError> {
    if let Some(error) = super::too_long(text) {
        return Err(error);
    }
    super::with_deep_stack(text.len(), || check_parsed(language, text))
}

fn check_parsed(language: &TsLanguage, text: &str) -> Result<(), SyntaxError> {
    let tree = parse(language, text);
    let root = tree.root_node();
    if !root.has_error() {
        return Ok(());
    }
    match first_error(root) {
        Some(node) if node.is_missing() => Err(SyntaxError::at(text, node.start_byte(), format!("missing `{}`", node.kind()))),
        Some(node) => {
            let snippet: String = text[node.start_byte()..node.end_byte()].chars().take(20).collect();
            Err(SyntaxError::at(text, node.start_byte(), format!("unexpected `{}`", snippet.trim())))
        }
        None => Err(SyntaxError::at(text, 0, "syntax error")),
    }
}

fn first_error(node: Node<'_>) -> Option<Node<'_>> {
    if node.is_error() || node.is_missing() {
        return Some(node);
    }
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        if child.has_error() || child.is_missing() {
            if let Some(found) = first_error(child) {
                return Some(found);
            }
        }
    }
    None
}

/// Lexes `text` from the leaves of its syntax tree; text between leaves becomes
/// whitespace/newline tokens (or unknown tokens), so the result round-trips.
pub(crate) fn lex<'a>(language: &TsLanguage, classifier: &LeafClassifier, text: &'a str) -> Vec<Token<'a>> {
    let mut tokens = Vec::new();
    if text.len() > super::MAX_PARSED_BYTES {
        push_gap(&mut tokens, text);
        return tokens;
    }
    super::with_deep_stack(text.len(), || {
        let tree = parse(language, text);
        let mut offset = 0;
        collect_leaves(tree.root_node(), None, classifier, text, &mut offset, &mut tokens);
        push_gap(&mut tokens, &text[offset..]);
    });
    tokens
}

fn collect_leaves<'a>(
    node: Node<'_>,
    parent: Option<&str>,
    classifier: &LeafClassifier,
    text: &'a str,
    offset: &mut usize,
    tokens: &mut Vec<Token<'a>>,
) {
    let (start, end) = (node.start_byte(), node.end_byte());
    if end <= *offset || node.is_missing() {
        return;
    }
    let atomic = classifier.atomic.iter().find(|(k, _)| *k == node.kind()).map(|(_, kind)| *kind);
    if node.child_count() == 0 || atomic.is_some() {
        let start = start.max(*offset);
        push_gap(tokens, &text[*offset..start]);
        let leaf = &text[start..end];
        let kind =
            atomic.unwrap_or_else(|| if node.is_error() { TokenKind::Unknown } else { (classifier.classify)(node.kind(), parent, leaf) });
        push_leaf(tokens, kind, leaf, atomic.is_some());
        *offset = end;
        return;
    }
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        collect_leaves(child, Some(node.kind()), classifier, text, offset, tokens);
    }
}

/// A leaf may span layout: an atomic node (a comment, a string, a braced
/// variable) stays one token, its layout being its content, unless it is pure
/// layout; any other leaf (a word the grammar took with the spaces before it,
/// an error node) is split into its words and layout, so that normalising
/// whitespace twice gives what once did.
fn push_leaf<'a>(tokens: &mut Vec<Token<'a>>, kind: TokenKind, leaf: &'a str, atomic: bool) {
    if leaf.is_empty() {
        return;
    }
    if leaf.trim().is_empty() {
        push_layout(tokens, leaf);
    } else if atomic || !leaf.contains(char::is_whitespace) {
        tokens.push(Token::new(kind, leaf));
    } else {
        push_words(tokens, kind, leaf);
    }
}

/// Text between leaves: layout, or words tree-sitter folded into a parent node.
fn push_gap<'a>(tokens: &mut Vec<Token<'a>>, gap: &'a str) {
    push_words(tokens, TokenKind::Unknown, gap);
}
