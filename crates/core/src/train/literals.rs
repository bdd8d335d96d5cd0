//! Literal-swapped copies of (utterance, code) pairs: the numbers and text values
//! that a program takes from its utterance (`Highlight sales below 900000` →
//! `LessThan(900000)`) replaced by others, the same on both sides. A few hundred
//! pairs teach a model the constants they happen to hold; their swapped copies
//! teach it to copy whatever the utterance says.

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
/// A word of an utterance, a replacement text value.
static WORD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[A-Za-z]{3,12}").expect("a valid pattern"));

/// The literals of `code` that its utterance shows too, each once, in order:
/// numbers standing alone on both sides (not a column index `c[1]`), and text
/// values found in the utterance as written.
pub fn shared_literals(utterance: &str, code: &str) -> Vec<Literal> {
    let mut found: Vec<Literal> = Vec::new();
    for m in NUMBER.find_iter(code) {
        let alone = stands_alone(code, m.start(), m.end()) && !code[..m.start()].ends_with('[');
        if alone && occurs_alone(utterance, m.as_str()) && !found.iter().any(|l| l.text == m.as_str()) {
            found.push(Literal { text: m.as_str().to_string(), number: true });
        }
    }
    for caps in TEXT.captures_iter(code) {
        let Some(value) = caps.iter().skip(1).flatten().next() else { continue };
        let text = value.as_str().trim();
        if text.chars().any(char::is_alphabetic) && utterance.contains(text) && !found.iter().any(|l| l.text == text) {
            found.push(Literal { text: text.to_string(), number: false });
        }
    }
    found
}

/// A literal a program shares with its utterance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Literal {
    /// As written.
    pub text: String,
    /// A number (else a text value).
    pub number: bool,
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
                let draw = |rng: &mut ChaCha8Rng| if literal.number { random_number(&literal.text, rng) } else { random_text(pool, rng) };
                // another value than the one it replaces (a few tries)
                let mut new = draw(rng);
                for _ in 0..8 {
                    if new != literal.text && !new.contains(&literal.text) {
                        break;
                    }
                    new = draw(rng);
                }
                if literal.number {
                    u = replace_alone(&u, &literal.text, &new);
                    c = replace_alone(&c, &literal.text, &new);
                } else {
                    u = u.replace(&literal.text, &new);
                    c = c.replace(&literal.text, &new);
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
    let mut out = Vec::new();
    for (i, (utterance, code)) in pairs.iter().enumerate() {
        let mut rng = <ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0x11e7_a1);
        rng.set_stream(i as u64);
        out.extend(swapped_copies(utterance.as_ref(), code.as_ref(), count, &pool, &mut rng));
    }
    out
}

/// Whether `text[start..end]` has no digit, letter, `.` or `_` on either side.
fn stands_alone(text: &str, start: usize, end: usize) -> bool {
    let joins = |c: char| c.is_alphanumeric() || c == '.' || c == '_';
    !text[..start].chars().next_back().is_some_and(joins) && !text[end..].chars().next().is_some_and(joins)
}

/// Whether `needle` occurs in `text` standing alone.
fn occurs_alone(text: &str, needle: &str) -> bool {
    text.match_indices(needle).any(|(i, m)| stands_alone(text, i, i + m.len()))
}

/// `text` with every standing-alone `old` replaced by `new`.
fn replace_alone(text: &str, old: &str, new: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (i, m) in text.match_indices(old) {
        if stands_alone(text, i, i + m.len()) {
            out.push_str(&text[last..i]);
            out.push_str(new);
            last = i + m.len();
        }
    }
    out.push_str(&text[last..]);
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
        assert_eq!(shared_literals(cases[2].0, cases[2].1), vec![Literal { text: "900000".into(), number: true }], "not the column index");
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
}
