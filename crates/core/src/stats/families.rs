//! Edit families: what kind of mistake separates a pair's broken side from its
//! fixed side. One classifier for every source (diffusion chains, rule-based
//! corruptions, the real benchmarks' Buggy -> GroundTruth), so that their
//! distributions can be compared, and a Jensen-Shannon distance between them.
//!
//! The rules, in order (the first that holds wins), on the two sides as written:
//! - `bracket`: the sides differ only in `( ) [ ] { }`;
//! - `quote`: they differ only in `"` and `'`;
//! - `separator`: they differ only in `, ; :` and the sheet `!`;
//! - `operator`: they differ only in operator characters `+ - * / ^ & = < > %`
//!   (and spaces, in a language where spaces carry no meaning);
//! - `name`: every changed token (by the language's lexer) is a name: an
//!   identifier, keyword or function name on both sides;
//! - `argument`: the changed tokens hold an operand (reference, number, string,
//!   identifier, keyword or boolean) and are more than a one-for-one substitution (an argument
//!   added, dropped or rewritten);
//! - `other`: anything else (indentation, several kinds at once).

use crate::lang::{Language, PunctuationClass, SyntaxError, TokenKind, WhitespaceRule};
use serde::Serialize;

/// A family of edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EditFamily {
    /// A missing, extra or misplaced bracket.
    Bracket,
    /// A missing or extra quote.
    Quote,
    /// A missing or extra separator (`,`, `;`, `:`, `!`).
    Separator,
    /// An operator missing, extra, split or reversed.
    Operator,
    /// A misspelt or wrong name.
    Name,
    /// An argument missing, extra or rewritten.
    Argument,
    /// None of the above.
    Other,
}

impl EditFamily {
    /// Every family, in report order.
    pub const ALL: [EditFamily; 7] = [
        EditFamily::Bracket,
        EditFamily::Quote,
        EditFamily::Separator,
        EditFamily::Operator,
        EditFamily::Name,
        EditFamily::Argument,
        EditFamily::Other,
    ];

    /// The snake_case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            EditFamily::Bracket => "bracket",
            EditFamily::Quote => "quote",
            EditFamily::Separator => "separator",
            EditFamily::Operator => "operator",
            EditFamily::Name => "name",
            EditFamily::Argument => "argument",
            EditFamily::Other => "other",
        }
    }
}

fn without(text: &str, chars: &[char]) -> String {
    text.chars().filter(|c| !chars.contains(c)).collect()
}

/// The family of the edit that turns `broken` into `fixed`.
pub fn classify(lang: &dyn Language, broken: &str, fixed: &str) -> EditFamily {
    let (b, f) = (broken.to_string(), fixed.to_string());
    let same_without = |chars: &[char]| without(&b, chars) == without(&f, chars);
    if b == f {
        return EditFamily::Other;
    }
    if same_without(PunctuationClass::Bracket.chars()) {
        return EditFamily::Bracket;
    }
    if same_without(PunctuationClass::Quote.chars()) {
        return EditFamily::Quote;
    }
    if same_without(PunctuationClass::Separator.chars()) {
        return EditFamily::Separator;
    }
    const OPERATORS: &[char] = PunctuationClass::Operator.chars();
    // a space inside an operator (`< =`) is an operator mistake where spaces
    // carry no meaning (Excel); elsewhere a layout change is not
    let spaces_free = lang.whitespace_rule() == WhitespaceRule::Drop;
    if same_without(OPERATORS) || (spaces_free && same_without(&[OPERATORS, &[' ']].concat())) {
        return EditFamily::Operator;
    }
    let (removed, inserted) = changed_tokens(lang, &b, &f);
    let is_name = |k: &TokenKind| matches!(k, TokenKind::Identifier | TokenKind::Keyword);
    if !removed.is_empty() && removed.iter().all(is_name) && inserted.iter().all(is_name) && removed.len() == inserted.len() {
        return EditFamily::Name;
    }
    let is_operand = |k: &TokenKind| {
        matches!(k, TokenKind::Reference | TokenKind::Number | TokenKind::String | TokenKind::Identifier | TokenKind::Keyword)
    };
    let one_for_one = removed.len() == 1 && inserted.len() == 1;
    if (removed.iter().any(is_operand) || inserted.iter().any(is_operand)) && !one_for_one {
        return EditFamily::Argument;
    }
    EditFamily::Other
}

/// Lines compared at most by [`classify_at_error`] (a longer snippet is
/// classified whole).
const MAX_DIFF_LINES: usize = 2_000;

/// The family of the slip at the checker's error: when the sides differ in
/// several blocks of lines, `fixed` is cut down to the one changed block
/// nearest the first error of `broken` before [`classify`]. A real fix that
/// also rewrote other lines (PyDex's truth is the student's next working
/// submission) is then classified by the change that repaired the error; a pair
/// whose sides differ in one block (every formula, nearly every generated
/// pair) classifies exactly as [`classify`].
pub fn classify_at_error(lang: &dyn Language, broken: &str, fixed: &str) -> EditFamily {
    classify_near(lang, broken, fixed, lang.check(broken).err().as_ref())
}

/// [`classify_at_error`] given the checker's verdict on `broken` (`None` when it
/// passes), for callers that have checked it already.
pub fn classify_near(lang: &dyn Language, broken: &str, fixed: &str, error: Option<&SyntaxError>) -> EditFamily {
    let Some(error) = error else { return classify(lang, broken, fixed) };
    // a one-line side cannot differ in two blocks: no line split needed
    if !broken.contains('\n') && !fixed.contains('\n') {
        return classify(lang, broken, fixed);
    }
    let (b, f): (Vec<&str>, Vec<&str>) = (broken.split('\n').collect(), fixed.split('\n').collect());
    if b.len() > MAX_DIFF_LINES || f.len() > MAX_DIFF_LINES {
        return classify(lang, broken, fixed);
    }
    let blocks = changed_blocks(&b, &f);
    if blocks.len() < 2 {
        return classify(lang, broken, fixed);
    }
    let line = broken[..error.offset.min(broken.len())].matches('\n').count();
    let distance = |r: &std::ops::Range<usize>| match (line < r.start, line >= r.end.max(r.start + 1)) {
        (true, _) => r.start - line,
        (_, true) => line + 1 - r.end.max(r.start + 1),
        _ => 0,
    };
    let (old, new) = blocks.iter().min_by_key(|(old, _)| distance(old)).expect("two blocks or more");
    let local: Vec<&str> = b[..old.start].iter().chain(&f[new.clone()]).chain(&b[old.end..]).copied().collect();
    classify(lang, broken, &local.join("\n"))
}

/// The changed blocks of a line diff of `a` and `b` (longest common
/// subsequence): each block's range of lines in `a` and in `b`.
fn changed_blocks(a: &[&str], b: &[&str]) -> Vec<(std::ops::Range<usize>, std::ops::Range<usize>)> {
    let (n, m) = (a.len(), b.len());
    // lcs[i][j]: the longest common subsequence of a[i..] and b[j..]
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut blocks) = (0, 0, Vec::new());
    let mut open: Option<(usize, usize)> = None;
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            if let Some((si, sj)) = open.take() {
                blocks.push((si..i, sj..j));
            }
            i += 1;
            j += 1;
            continue;
        }
        open.get_or_insert((i, j));
        if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            j += 1;
        } else {
            i += 1;
        }
    }
    if let Some((si, sj)) = open {
        blocks.push((si..n, sj..m));
    }
    blocks
}

/// Kinds of the tokens only in `broken` and only in `fixed`, after cutting the
/// common prefix and suffix of the two token sequences (layout tokens skipped).
fn changed_tokens(lang: &dyn Language, broken: &str, fixed: &str) -> (Vec<TokenKind>, Vec<TokenKind>) {
    let lex = |s: &str| -> Vec<(TokenKind, String)> {
        lang.lex(s)
            .into_iter()
            .filter(|t| !matches!(t.kind, TokenKind::Whitespace | TokenKind::Newline))
            .map(|t| (t.kind, t.text.to_string()))
            .collect()
    };
    let (b, f) = (lex(broken), lex(fixed));
    let prefix = b.iter().zip(&f).take_while(|(x, y)| x == y).count();
    let suffix = b[prefix..].iter().rev().zip(f[prefix..].iter().rev()).take_while(|(x, y)| x == y).count();
    let kinds = |s: &[(TokenKind, String)]| s.iter().map(|(k, _)| *k).collect();
    (kinds(&b[prefix..b.len() - suffix]), kinds(&f[prefix..f.len() - suffix]))
}

/// Shares of each family (in [`EditFamily::ALL`] order) among `families`.
pub fn distribution(families: &[EditFamily]) -> [f64; 7] {
    let mut shares = [0.0; 7];
    for family in families {
        shares[EditFamily::ALL.iter().position(|f| f == family).expect("every family is listed")] += 1.0;
    }
    let n = families.len().max(1) as f64;
    shares.map(|c| c / n)
}

/// Jensen-Shannon distance (the square root of the divergence, base 2: 0 for
/// equal distributions, 1 for disjoint ones) between two distributions.
pub fn jensen_shannon(p: &[f64; 7], q: &[f64; 7]) -> f64 {
    let kl = |a: &[f64; 7], m: &[f64; 7]| -> f64 { a.iter().zip(m).filter(|(x, _)| **x > 0.0).map(|(x, y)| x * (x / y).log2()).sum() };
    let m: [f64; 7] = std::array::from_fn(|i| 0.5 * (p[i] + q[i]));
    (0.5 * kl(p, &m) + 0.5 * kl(q, &m)).max(0.0).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::LangId;

    #[test]
    fn classifies_the_benchmark_families() {
        let excel = LangId::Excel.language();
        let cases = [
            ("=SUM(A1:A3", "=SUM(A1:A3)", EditFamily::Bracket),
            ("=ROUND(A1)/B1,2", "=ROUND(A1/B1,2)", EditFamily::Bracket),
            ("=COUNTIF(A1:A9,>0)", "=COUNTIF(A1:A9,\">0\")", EditFamily::Quote),
            ("=SUM(A1A3)", "=SUM(A1:A3)", EditFamily::Separator),
            ("=Sheet1!!A1", "=Sheet1!A1", EditFamily::Separator),
            ("=IF(A1=>B1,1,0)", "=IF(A1>=B1,1,0)", EditFamily::Operator),
            ("=A1+B1+", "=A1+B1", EditFamily::Operator),
            ("=IF(A1< =B1,1,0)", "=IF(A1<=B1,1,0)", EditFamily::Operator),
            ("=SUMM(A1:A3)", "=SUM(A1:A3)", EditFamily::Name),
            ("=VLOOKUP(A1,B:C,2)", "=VLOOKUP(A1,B:C,2,FALSE)", EditFamily::Argument),
            ("=SUM(A1)", "=SUM(A1)", EditFamily::Other),
        ];
        for (broken, fixed, family) in cases {
            assert_eq!(classify(excel, broken, fixed), family, "{broken} -> {fixed}");
        }
        let python = LangId::Python.language();
        assert_eq!(classify(python, "if x:\ny = 2", "if x:\n    y = 2"), EditFamily::Other);
        assert_eq!(classify(python, "f(x y)", "f(x, y)"), EditFamily::Separator);
    }

    #[test]
    fn the_block_at_the_error_decides_when_a_fix_rewrote_more() {
        let python = LangId::Python.language();
        // the student added a missing `)` on line 2 (the checker stops on line 3)
        // and also reworded the last line
        let broken = "x = 1\nprint(x\ny = 2\nz = 3\nw = 4\nprint('done')";
        let fixed = "x = 1\nprint(x)\ny = 2\nz = 3\nw = 4\nprint('all done', y)";
        assert_eq!(classify(python, broken, fixed), EditFamily::Argument, "the whole diff mixes two edits");
        assert_eq!(classify_at_error(python, broken, fixed), EditFamily::Bracket);
        // one changed block: the same as the whole
        assert_eq!(classify_at_error(python, "f(x y)", "f(x, y)"), EditFamily::Separator);
        let excel = LangId::Excel.language();
        assert_eq!(classify_at_error(excel, "=SUM(A1:A3", "=SUM(A1:A3)"), EditFamily::Bracket);
        assert_eq!(changed_blocks(&["a", "b", "c", "d"], &["a", "B", "c", "d", "e"]), vec![(1..2, 1..2), (4..4, 4..5)]);
        assert!(changed_blocks(&["a"], &["a"]).is_empty());
    }

    #[test]
    fn jensen_shannon_is_a_bounded_distance() {
        let a = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let b = [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let c = [0.5, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0];
        assert_eq!(jensen_shannon(&a, &a), 0.0);
        assert!((jensen_shannon(&a, &b) - 1.0).abs() < 1e-12);
        let (ac, cb) = (jensen_shannon(&a, &c), jensen_shannon(&c, &b));
        assert!(ac > 0.0 && ac < 1.0 && (ac - cb).abs() < 1e-12);
        assert_eq!(distribution(&[EditFamily::Bracket, EditFamily::Other])[0], 0.5);
    }
}
