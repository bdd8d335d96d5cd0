//! Edit distances between two snippets of one language: token-level (over the
//! language's lexer tokens, as BIFI measures repairs) and character-level, plus
//! the positions an alignment edits (for localization statistics).
//!
//! The token sequence of a snippet is the lexer's tokens of its
//! whitespace-normalised text, without the spaces between tokens: indentation
//! (whitespace at a line start) and line breaks stay, because in Python and
//! PowerShell they are syntax.

use super::{Language, TokenKind};

/// The tokens edit distances are measured over (see the module docs).
pub fn edit_tokens(lang: &dyn Language, text: &str) -> Vec<String> {
    let normalized = lang.normalize_whitespace(text);
    let mut at_line_start = true;
    let mut out = Vec::new();
    for token in lang.lex(&normalized) {
        match token.kind {
            TokenKind::Whitespace if !at_line_start => {}
            TokenKind::Newline => {
                out.push(token.text.to_string());
                at_line_start = true;
            }
            _ => {
                out.push(token.text.to_string());
                at_line_start = token.kind == TokenKind::Whitespace && at_line_start;
            }
        }
    }
    out
}

/// An optimal Levenshtein alignment of `a` to `b`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alignment {
    /// Insertions, deletions and substitutions, each costing 1.
    pub distance: usize,
    /// Positions in `a` touched by an edit, ascending: the substituted or
    /// deleted element, or for an insertion the element it goes before
    /// (`a.len()` when appended). May repeat a position.
    pub edited: Vec<usize>,
}

impl Alignment {
    /// Largest distance between two edited positions (0 with fewer than two).
    pub fn span(&self) -> usize {
        match (self.edited.first(), self.edited.last()) {
            (Some(first), Some(last)) => last - first,
            _ => 0,
        }
    }

    /// Mean absolute distance over all pairs of edited positions (`None`
    /// with fewer than two edits): the localization of one pair.
    pub fn mean_pairwise_distance(&self) -> Option<f64> {
        let k = self.edited.len();
        if k < 2 {
            return None;
        }
        // Sorted positions: sum_{i<j} (p_j - p_i) = sum_j p_j * (2j - k + 1).
        let total: f64 = self.edited.iter().enumerate().map(|(j, &p)| p as f64 * (2.0 * j as f64 - k as f64 + 1.0)).sum();
        Some(total / (k * (k - 1) / 2) as f64)
    }
}

/// Levenshtein alignment with a backtrace: `O(|a| * |b|)` time and memory, fine
/// for snippets of at most a few hundred tokens.
pub fn align<T: PartialEq>(a: &[T], b: &[T]) -> Alignment {
    let (n, m) = (a.len(), b.len());
    let width = m + 1;
    let mut d = vec![0u32; (n + 1) * width];
    for j in 0..=m {
        d[j] = j as u32;
    }
    for i in 1..=n {
        d[i * width] = i as u32;
        for j in 1..=m {
            let substitute = d[(i - 1) * width + j - 1] + u32::from(a[i - 1] != b[j - 1]);
            let delete = d[(i - 1) * width + j] + 1;
            let insert = d[i * width + j - 1] + 1;
            d[i * width + j] = substitute.min(delete).min(insert);
        }
    }
    let mut edited = Vec::new();
    let (mut i, mut j) = (n, m);
    while i > 0 || j > 0 {
        let here = d[i * width + j];
        if i > 0 && j > 0 && here == d[(i - 1) * width + j - 1] + u32::from(a[i - 1] != b[j - 1]) {
            if a[i - 1] != b[j - 1] {
                edited.push(i - 1);
            }
            i -= 1;
            j -= 1;
        } else if i > 0 && here == d[(i - 1) * width + j] + 1 {
            edited.push(i - 1);
            i -= 1;
        } else {
            edited.push(i);
            j -= 1;
        }
    }
    edited.reverse();
    Alignment { distance: d[n * width + m] as usize, edited }
}

/// Levenshtein distance between two sequences, in `O(|b|)` memory.
pub fn levenshtein<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            let next = (diagonal + usize::from(x != y)).min(row[j] + 1).min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// Token edit distance of two snippets (see [`edit_tokens`]).
pub fn token_edit_distance(lang: &dyn Language, a: &str, b: &str) -> usize {
    levenshtein(&edit_tokens(lang, a), &edit_tokens(lang, b))
}

/// Character (Unicode scalar) edit distance of the raw texts.
pub fn char_edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    levenshtein(&a, &b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LangId;
    use proptest::prelude::*;

    #[test]
    fn excel_tokens_ignore_spaces_between_tokens() {
        let excel = LangId::Excel.language();
        assert_eq!(edit_tokens(excel, "=SUM( A1 , 2)"), edit_tokens(excel, "=SUM(A1,2)"));
        assert!(edit_tokens(excel, "=SUM(A1,2)").len() >= 6);
        assert_eq!(token_edit_distance(excel, "=SUM(A1,2)", "=SUM(A1,2"), 1);
        assert_eq!(token_edit_distance(excel, "=SUM(A1,2)", "=SUM(A1;2)"), 1);
    }

    #[test]
    fn python_tokens_keep_indentation_and_newlines() {
        let py = LangId::Python.language();
        let tokens = edit_tokens(py, "if x:\n    y = 1");
        assert!(tokens.contains(&"\n".to_string()) && tokens.contains(&"    ".to_string()), "{tokens:?}");
        assert_eq!(token_edit_distance(py, "if x:\n    y = 1", "if x:\ny = 1"), 1);
    }

    #[test]
    fn alignment_locates_edits() {
        let a: Vec<char> = "abcdef".chars().collect();
        let b: Vec<char> = "abXdeYf".chars().collect();
        let al = align(&a, &b);
        assert_eq!(al.distance, 2);
        assert_eq!(al.edited, vec![2, 5]);
        assert_eq!(al.span(), 3);
        assert_eq!(al.mean_pairwise_distance(), Some(3.0));
        assert_eq!(align(&a, &a).edited, Vec::<usize>::new());
        assert_eq!(align::<char>(&[], &['x']).edited, vec![0]);
    }

    proptest! {
        #[test]
        fn align_agrees_with_levenshtein(a in "[abc]{0,12}", b in "[abc]{0,12}") {
            let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
            let al = align(&a, &b);
            prop_assert_eq!(al.distance, levenshtein(&a, &b));
            prop_assert_eq!(levenshtein(&a, &b), levenshtein(&b, &a));
            prop_assert!(al.edited.len() == al.distance);
            prop_assert!(al.edited.windows(2).all(|w| w[0] <= w[1]));
            prop_assert!(al.distance >= a.len().abs_diff(b.len()));
        }
    }
}
