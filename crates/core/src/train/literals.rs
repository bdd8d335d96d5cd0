//! Literal-swapped copies of (utterance, code) pairs: the numbers, text values and
//! variable names that a program takes from its utterance (`Highlight sales below
//! 900000` → `LessThan(900000)`; ``check if all elements in list `myList` are
//! identical`` → `all(x == myList[0] for x in myList)`) replaced by others, the same
//! on both sides. A few hundred pairs teach a model the constants and names they
//! happen to hold; their swapped copies teach it to copy whatever the utterance says.

use crate::dataset::replace_where;
use rand::seq::IndexedRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use regex::Regex;
use std::sync::LazyLock;

/// A number in code: digits with an optional fraction.
static NUMBER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\d+(?:\.\d+)?").expect("a valid pattern"));
/// A text value in code: the inside of a quoted string, or the one bare
/// argument of a CF text rule (`TextContains(Error)`).
static TEXT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"'([^'\n]{1,40})'|"([^"\n]{1,40})"|Text\w*\(([^(),'"\n]{1,40})\)"#).expect("a valid pattern"));
/// A name an utterance shows in backticks (CoNaLa's rewritten intents: `` `myList` ``).
static QUOTED_NAME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"`([A-Za-z_][A-Za-z0-9_]{0,39})`").expect("a valid pattern"));
/// A span of an utterance in backticks, where a renamed name is renamed too
/// (`` `df.x` `` after `df` is renamed).
static BACKTICKED: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"`[^`\n]*`").expect("a valid pattern"));
/// Python's keywords, which a swapped-in name must not be.
const KEYWORDS: [&str; 35] = [
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif", "else", "except",
    "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try",
    "while", "with", "yield",
];
/// A word of an utterance, a replacement text value.
static WORD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[A-Za-z]{3,12}").expect("a valid pattern"));

/// The literals of `code` that its utterance shows too, each once, in order:
/// numbers standing alone on both sides (not a column index `c[1]`), text values
/// found in the utterance as written, and names the utterance shows in backticks
/// that the code uses as a name.
pub fn shared_literals(utterance: &str, code: &str) -> Vec<Literal> {
    let mut found: Vec<Literal> = Vec::new();
    let mut add = |text: &str, kind: LiteralKind| {
        if !found.iter().any(|l| l.text == text) {
            found.push(Literal { text: text.to_string(), kind });
        }
    };
    for m in NUMBER.find_iter(code) {
        let alone = stands_alone(code, m.start(), m.end()) && !code[..m.start()].ends_with('[');
        if alone && occurs_alone(utterance, m.as_str()) {
            add(m.as_str(), LiteralKind::Number);
        }
    }
    for caps in TEXT.captures_iter(code) {
        let Some(value) = caps.iter().skip(1).flatten().next() else { continue };
        let text = value.as_str().trim();
        if text.chars().any(char::is_alphabetic) && utterance.contains(text) {
            add(text, LiteralKind::Text);
        }
    }
    for caps in QUOTED_NAME.captures_iter(utterance) {
        let name = &caps[1];
        if !KEYWORDS.contains(&name) && code.match_indices(name).any(|(i, m)| is_name_at(code, i, i + m.len())) {
            add(name, LiteralKind::Name);
        }
    }
    found
}

/// A literal a program shares with its utterance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Literal {
    /// As written.
    pub text: String,
    /// What it is, which decides its replacements.
    pub kind: LiteralKind,
}

/// The kinds of literal a copy swaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiteralKind {
    /// Digits with an optional fraction: replaced by a number of the same shape.
    Number,
    /// The inside of a quoted string: replaced by one or two words.
    Text,
    /// A variable name shown in backticks: replaced by a name of one or two words.
    Name,
}

/// Words to draw replacement text values from: those of `utterances`.
pub fn word_pool<'a>(utterances: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut words: Vec<String> = utterances.into_iter().flat_map(|u| WORD.find_iter(u).map(|m| m.as_str().to_string())).collect();
    words.sort();
    words.dedup();
    words
}

/// `count` copies of the pair with every shared literal replaced, the same on
/// both sides: a number by a random one of as many digits (and decimals), a
/// text value by one to two words of `pool`. None when the pair shares no literal.
pub fn swapped_copies(utterance: &str, code: &str, count: usize, pool: &[String], rng: &mut ChaCha8Rng) -> Vec<(String, String)> {
    let literals = shared_literals(utterance, code);
    if literals.is_empty() || pool.is_empty() {
        return Vec::new();
    }
    (0..count)
        .map(|_| {
            let (mut u, mut c) = (utterance.to_string(), code.to_string());
            for literal in &literals {
                let draw = |rng: &mut ChaCha8Rng| match literal.kind {
                    LiteralKind::Number => random_number(&literal.text, rng),
                    LiteralKind::Text => random_text(pool, rng),
                    LiteralKind::Name => random_name(pool, rng),
                };
                // another value than the one it replaces (a few tries)
                let mut new = draw(rng);
                for _ in 0..8 {
                    let clash = literal.kind == LiteralKind::Name && (KEYWORDS.contains(&new.as_str()) || c.contains(&new));
                    if new != literal.text && !new.contains(&literal.text) && !clash {
                        break;
                    }
                    new = draw(rng);
                }
                match literal.kind {
                    LiteralKind::Number => {
                        u = replace_alone(&u, &literal.text, &new);
                        c = replace_alone(&c, &literal.text, &new);
                    }
                    LiteralKind::Text => {
                        u = u.replace(&literal.text, &new);
                        c = c.replace(&literal.text, &new);
                    }
                    LiteralKind::Name => {
                        u = BACKTICKED.replace_all(&u, |span: &regex::Captures| replace_name(&span[0], &literal.text, &new)).into_owned();
                        c = replace_name(&c, &literal.text, &new);
                    }
                }
            }
            (u, c)
        })
        .collect()
}

/// `count` literal-swapped copies of every pair that has literals to swap, in
/// pair order; pair `i`'s copies come from stream `i` of a fixed seed, so they do
/// not depend on the training seed (only the data varies in an ablation).
pub fn literal_copies<S: AsRef<str>>(pairs: &[(S, S)], count: usize) -> Vec<(String, String)> {
    if count == 0 {
        return Vec::new();
    }
    let pool = word_pool(pairs.iter().map(|p| p.0.as_ref()));
    seeded_copies(pairs, 0x11e7_a1, |utterance, code, rng| swapped_copies(utterance, code, count, &pool, rng))
}

/// Whether `text[start..end]` has no digit, letter, `.` or `_` on either side.
fn stands_alone(text: &str, start: usize, end: usize) -> bool {
    let joins = |c: char| c.is_alphanumeric() || c == '.' || c == '_';
    !text[..start].chars().next_back().is_some_and(joins) && !text[end..].chars().next().is_some_and(joins)
}

/// Whether `text[start..end]` is a whole name, not an attribute (`x.name`): no
/// letter, digit or `_` on either side and no `.` before it.
fn is_name_at(text: &str, start: usize, end: usize) -> bool {
    let joins = |c: char| c.is_alphanumeric() || c == '_';
    !text[..start].chars().next_back().is_some_and(|c| joins(c) || c == '.') && !text[end..].chars().next().is_some_and(joins)
}

/// `text` with every whole-name use of `old` renamed to `new`.
fn replace_name(text: &str, old: &str, new: &str) -> String {
    replace_where(text, old, new, is_name_at)
}

/// Whether `needle` occurs in `text` standing alone.
fn occurs_alone(text: &str, needle: &str) -> bool {
    text.match_indices(needle).any(|(i, m)| stands_alone(text, i, i + m.len()))
}

/// `text` with every standing-alone `old` replaced by `new`.
fn replace_alone(text: &str, old: &str, new: &str) -> String {
    replace_where(text, old, new, stands_alone)
}

/// The copies `copies(utterance, code, rng)` makes of every pair, in pair order;
/// pair `i` draws from stream `i` of `seed`, so its copies depend neither on the
/// training seed nor on the other pairs.
pub(super) fn seeded_copies<S: AsRef<str>>(
    pairs: &[(S, S)],
    seed: u64,
    mut copies: impl FnMut(&str, &str, &mut ChaCha8Rng) -> Vec<(String, String)>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, (utterance, code)) in pairs.iter().enumerate() {
        let mut rng = <ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed);
        rng.set_stream(i as u64);
        out.extend(copies(utterance.as_ref(), code.as_ref(), &mut rng));
    }
    out
}

/// A number shaped like `like`: as many integer digits (no leading zero unless
/// one digit) and decimals.
fn random_number(like: &str, rng: &mut ChaCha8Rng) -> String {
    let (int, frac) = like.split_once('.').map_or((like, None), |(i, f)| (i, Some(f)));
    let digits = |n: usize, rng: &mut ChaCha8Rng| -> String { (0..n).map(|_| char::from(b'0' + rng.random_range(0..10u8))).collect() };
    let mut out = if int.len() == 1 { digits(1, rng) } else { format!("{}{}", rng.random_range(1..10u8), digits(int.len() - 1, rng)) };
    if let Some(frac) = frac {
        out.push('.');
        out.push_str(&digits(frac.len(), rng));
    }
    out
}

/// One or two words of `pool`.
fn random_text(pool: &[String], rng: &mut ChaCha8Rng) -> String {
    let words = rng.random_range(1..=2);
    (0..words).map(|_| pool.choose(rng).expect("a non-empty pool").as_str()).collect::<Vec<_>>().join(" ")
}

/// One or two words of `pool` as a name: lower case, joined by `_`.
fn random_name(pool: &[String], rng: &mut ChaCha8Rng) -> String {
    random_text(pool, rng).to_lowercase().replace(' ', "_")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn shared_numbers_and_text_values_are_swapped_alike_on_both_sides() {
        // real CF benchmark pairs
        let cases = [
            ("Color cells that are greater than 85 & smaller than 15", "Between(15,85)"),
            ("Color cells that have Error in their value", "TextContains(Error)"),
            ("Highlight sales below 900000", "LessThan(c[1], 900000)"),
            ("format only cities which contain the text 'ster'", "TextContains('ster')"),
        ];
        assert_eq!(shared_literals(cases[0].0, cases[0].1).len(), 2);
        assert_eq!(
            shared_literals(cases[2].0, cases[2].1),
            vec![Literal { text: "900000".into(), kind: LiteralKind::Number }],
            "not the column index"
        );
        let pool = word_pool(cases.iter().map(|c| c.0));
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for (utterance, code) in cases {
            let copies = swapped_copies(utterance, code, 4, &pool, &mut rng);
            assert_eq!(copies.len(), 4);
            for (u, c) in &copies {
                // what was put in the code is what the utterance now says
                let now = shared_literals(u, c);
                assert_eq!(now.len(), shared_literals(utterance, code).len(), "{utterance} / {code} -> {u} / {c}");
            }
            assert!(copies.iter().any(|(u, _)| u != utterance));
        }
        assert!(swapped_copies("Highlight duplicates", "Duplicates()", 3, &pool, &mut rng).is_empty(), "nothing to swap");
        // same seed, same copies
        let a = swapped_copies(cases[0].0, cases[0].1, 3, &pool, &mut ChaCha8Rng::seed_from_u64(9));
        assert_eq!(a, swapped_copies(cases[0].0, cases[0].1, 3, &pool, &mut ChaCha8Rng::seed_from_u64(9)));
        assert_eq!(random_number("12.50", &mut rng).len(), 5);
    }

    #[test]
    fn names_in_backticks_are_renamed_as_names() {
        // a real CoNaLa test pair, then a made-up one with an attribute of the same name
        let (utterance, code) = ("check if all elements in list `myList` are identical", "all(x == myList[0] for x in myList)");
        assert_eq!(shared_literals(utterance, code), vec![Literal { text: "myList".into(), kind: LiteralKind::Name }]);
        let (u2, c2) = ("append `x` to `df.x` of `df`", "df.x.append(x)");
        let names: Vec<String> = shared_literals(u2, c2).into_iter().map(|l| l.text).collect();
        assert_eq!(names, ["x", "df"], "`df.x` is no name, and the attribute `.x` is not the name `x`");
        let pool = word_pool(["the table of sales rows", "append a value"]);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for (u, c) in swapped_copies(u2, c2, 6, &pool, &mut rng) {
            let renamed: Vec<&str> = QUOTED_NAME.captures_iter(&u).map(|m| m.get(1).unwrap().as_str()).collect();
            assert_eq!(c, format!("{}.x.append({})", renamed[1], renamed[0]), "{u}");
            assert!(u.contains(&format!("`{}.x`", renamed[1])), "{u}");
            assert!(renamed.iter().all(|n| !KEYWORDS.contains(n) && !n.contains(' ')), "{u}");
        }
        for (u, c) in swapped_copies(utterance, code, 4, &pool, &mut rng) {
            let name = QUOTED_NAME.captures(&u).unwrap()[1].to_string();
            assert_eq!(c, format!("all(x == {name}[0] for x in {name})"));
        }
    }
}
