//! Literal slots: the numbers and quoted text values of an utterance replaced by
//! placeholders (`N0`, `N1`, …, `T0`, …) on both sides of an (utterance, code)
//! pair, so that an NL-to-code model writes *which* value goes where instead of
//! copying its digits (`Highlight sales below 900000` → `Highlight sales below
//! N0` → `LessThan(N0)` → `LessThan(900000)`). The semantic parsers' argument
//! anonymisation: a model of a few million parameters that has seen a few hundred
//! pairs places a slot far more reliably than it spells a seven-digit number.
//!
//! A model trained this way says so in its config (`literal_slots`); training
//! masks every pair with [`LiteralSlots::of`] its utterance, and generation masks
//! the utterance the same way and fills the slots back in every candidate
//! before the checker reads it.

use regex::Regex;
use std::sync::LazyLock;

/// A number as an utterance writes it: digits with thousands separators, or
/// plain digits, each with an optional fraction.
static NUMBER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?").expect("a valid pattern"));
/// The longest quoted text value a slot holds, in characters.
const MAX_TEXT_CHARS: usize = 40;
/// A placeholder as a model writes it.
static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[NT]\d").expect("a valid pattern"));

/// Slots of one kind at most (`N0`..`N9`): an utterance with more numbers
/// keeps the rest as written.
const MAX_SLOTS: usize = 10;

/// What a slot holds, which names its placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotKind {
    /// A number (`N0`): its value without thousands separators.
    Number,
    /// A quoted text value (`T0`): the inside of the quotes.
    Text,
}

/// One value of an utterance and its placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// `N0`, `T1`, …
    pub placeholder: String,
    /// The value the code writes (`900000` for `900,000`).
    pub value: String,
    /// As the utterance writes it (`900,000`).
    pub written: String,
    /// Number or text.
    pub kind: SlotKind,
}

/// The slots of one utterance, in the order the utterance shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiteralSlots {
    slots: Vec<Slot>,
}

impl LiteralSlots {
    /// The quoted text values of `utterance`, then its numbers outside them,
    /// each distinct value once. A quote must open after a space, a bracket or
    /// the start and close before a space, punctuation or the end, so that
    /// apostrophes (`panda's`, `don't`) open nothing.
    pub fn of(utterance: &str) -> Self {
        let mut slots: Vec<Slot> = Vec::new();
        let mut quoted_spans = Vec::new();
        for (whole, text) in quoted_values(utterance) {
            quoted_spans.push(whole);
            let texts = slots.iter().filter(|s| s.kind == SlotKind::Text).count();
            if texts < MAX_SLOTS && !slots.iter().any(|s| s.value == text) {
                slots.push(Slot { placeholder: format!("T{texts}"), value: text.into(), written: text.into(), kind: SlotKind::Text });
            }
        }
        for m in NUMBER.find_iter(utterance) {
            if quoted_spans.iter().any(|r| r.contains(&m.start())) || !number_stands_alone(utterance, m.start(), m.end()) {
                continue;
            }
            let value = m.as_str().replace(',', "");
            let numbers = slots.iter().filter(|s| s.kind == SlotKind::Number).count();
            if numbers < MAX_SLOTS && !slots.iter().any(|s| s.kind == SlotKind::Number && s.value == value) {
                slots.push(Slot { placeholder: format!("N{numbers}"), value, written: m.as_str().into(), kind: SlotKind::Number });
            }
        }
        LiteralSlots { slots }
    }

    /// The slots, texts first, each kind in the order the utterance shows it.
    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    /// `utterance` with every slotted value replaced by its placeholder.
    pub fn mask_utterance(&self, utterance: &str) -> String {
        let mut out = utterance.to_string();
        for slot in self.slots.iter().filter(|s| s.kind == SlotKind::Text) {
            out = out.replace(&format!("'{}'", slot.written), &format!("'{}'", slot.placeholder));
            out = out.replace(&format!("\"{}\"", slot.written), &format!("\"{}\"", slot.placeholder));
        }
        // every way of writing a slotted number (`3,000` and `3000`)
        NUMBER
            .replace_all(&out, |caps: &regex::Captures| {
                let m = caps.get(0).expect("group 0 is the match");
                let value = m.as_str().replace(',', "");
                let slot = self.slots.iter().find(|s| s.kind == SlotKind::Number && s.value == value);
                match slot.filter(|_| number_stands_alone(&out, m.start(), m.end())) {
                    Some(slot) => slot.placeholder.clone(),
                    None => m.as_str().to_string(),
                }
            })
            .into_owned()
    }

    /// `code` with every value a slot holds replaced by its placeholder: text
    /// values where they stand as whole words, numbers where they stand alone
    /// and are not an index (`c[1]`).
    pub fn mask_code(&self, code: &str) -> String {
        let mut out = code.to_string();
        for slot in self.slots.iter().filter(|s| s.kind == SlotKind::Text) {
            out = replace_where(&out, &slot.value, &slot.placeholder, word_stands_alone);
        }
        for slot in self.slots.iter().filter(|s| s.kind == SlotKind::Number) {
            out = replace_where(&out, &slot.value, &slot.placeholder, |text, start, end| {
                number_stands_alone(text, start, end) && !text[..start].ends_with('[')
            });
        }
        out
    }

    /// `code` with every placeholder of these slots written back as its value;
    /// a placeholder without a slot (`N3` when the utterance shows two numbers)
    /// stays, so the checker refuses it.
    pub fn fill(&self, code: &str) -> String {
        if self.slots.is_empty() {
            return code.to_string();
        }
        PLACEHOLDER
            .replace_all(code, |caps: &regex::Captures| {
                let m = caps.get(0).expect("group 0 is the match");
                let slot = self.slots.iter().find(|s| s.placeholder == m.as_str());
                match slot.filter(|_| word_stands_alone(code, m.start(), m.end())) {
                    Some(slot) => slot.value.clone(),
                    None => m.as_str().to_string(),
                }
            })
            .into_owned()
    }
}

/// The quoted text values of `text` (`'…'` or `"…"`, one line, at most
/// [`MAX_TEXT_CHARS`]) with the spans of their quotes. A quote opens after a space,
/// a bracket or the start and closes before a space, punctuation or the end, and
/// the value neither starts nor ends with a space, so an apostrophe (`panda's`,
/// `don't`) opens nothing and hides no quote after it.
fn quoted_values(text: &str) -> Vec<(std::ops::Range<usize>, &str)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(offset) = text[from..].find(['\'', '"']) {
        let open = from + offset;
        let quote = text[open..].chars().next().expect("found a quote");
        from = open + 1;
        let opens = text[..open].chars().next_back().is_none_or(|c| c.is_whitespace() || "([{:=,".contains(c));
        if !opens {
            continue;
        }
        let rest = &text[open + 1..];
        let Some(len) = rest.find([quote, '\n']).filter(|&l| rest[l..].starts_with(quote)) else { continue };
        let value = &rest[..len];
        let close = open + 1 + len;
        let closes = text[close + 1..].chars().next().is_none_or(|c| c.is_whitespace() || ".,;:!?)]}".contains(c));
        if closes
            && !value.is_empty()
            && value.chars().count() <= MAX_TEXT_CHARS
            && value.trim() == value
            && value.chars().any(char::is_alphanumeric)
        {
            found.push((open..close + 1, value));
            from = close + 1;
        }
    }
    found
}

/// Whether `text[start..end]` is a whole number: no letter, digit, `_` or
/// `.`-then-digit touching it (so `v2`, `1.2.3` and `x_1` hold no number).
fn number_stands_alone(text: &str, start: usize, end: usize) -> bool {
    let joins = |c: char| c.is_alphanumeric() || c == '_';
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    let dot_then_digit = |s: &str| s.starts_with('.') && s[1..].starts_with(|c: char| c.is_ascii_digit());
    !before.is_some_and(|c| joins(c) || c == '.') && !after.is_some_and(joins) && !dot_then_digit(&text[end..])
}

/// Whether `text[start..end]` is a whole word: no letter, digit or `_` on either side.
fn word_stands_alone(text: &str, start: usize, end: usize) -> bool {
    let joins = |c: char| c.is_alphanumeric() || c == '_';
    !text[..start].chars().next_back().is_some_and(joins) && !text[end..].chars().next().is_some_and(joins)
}

/// `text` with every occurrence of `old` that `keep(text, start, end)` takes
/// replaced by `new` (how literal slots mask code, and literal-swapped copies swap).
pub(crate) fn replace_where(text: &str, old: &str, new: &str, keep: impl Fn(&str, usize, usize) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (i, m) in text.match_indices(old) {
        if keep(text, i, i + m.len()) {
            out.push_str(&text[last..i]);
            out.push_str(new);
            last = i + m.len();
        }
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn numbers_and_quoted_texts_become_slots_on_both_sides() {
        let u = "Highlight sales between 3,000 and 4500.5 in 'North East' rows, not 3000";
        let slots = LiteralSlots::of(u);
        let got: Vec<(&str, &str)> = slots.slots().iter().map(|s| (s.placeholder.as_str(), s.value.as_str())).collect();
        assert_eq!(got, [("T0", "North East"), ("N0", "3000"), ("N1", "4500.5")]);
        assert_eq!(slots.mask_utterance(u), "Highlight sales between N0 and N1 in 'T0' rows, not N0");
        let code = "AND(Between(c[1], 3000, 4500.5), TextEquals(c[2], 'North East'))";
        let masked = slots.mask_code(code);
        assert_eq!(masked, "AND(Between(c[1], N0, N1), TextEquals(c[2], 'T0'))");
        assert_eq!(slots.fill(&masked), code);
    }

    #[test]
    fn apostrophes_versions_and_names_hold_no_slot() {
        let u = "Don't color the panda's rows of v2 or x_1 in 1.2.3 isn't it";
        assert!(LiteralSlots::of(u).slots().is_empty(), "{:?}", LiteralSlots::of(u));
        assert_eq!(LiteralSlots::of("Highlight sales above 900000.").slots()[0].value, "900000");
        let after_apostrophe = LiteralSlots::of("Don't format cities which contain the text 'ster'");
        assert_eq!(after_apostrophe.slots().iter().map(|s| s.value.as_str()).collect::<Vec<_>>(), ["ster"]);
    }

    #[test]
    fn fill_leaves_unknown_placeholders_and_words_that_contain_one() {
        let slots = LiteralSlots::of("values below 15");
        assert_eq!(
            slots.fill("AND(LessThan(N0),GreaterThan(N1),TextContains(XN0))"),
            "AND(LessThan(15),GreaterThan(N1),TextContains(XN0))"
        );
        assert_eq!(slots.mask_code("LessThan(150)"), "LessThan(150)", "a number inside another is not the slot's");
    }

    proptest! {
        /// Filling what masking wrote gives the code back whenever the code
        /// held no placeholder-like word of its own.
        #[test]
        fn fill_undoes_mask(a in 0u32..100_000, b in 0u32..1000, word in "[A-Z][a-z]{2,8}") {
            let u = format!("Highlight {a} and '{word}' then {b}");
            let code = format!("OR(Equals({a}), TextEquals('{word}'), LessThan({b}), Equals(c[1]))");
            let slots = LiteralSlots::of(&u);
            let masked = slots.mask_code(&code);
            prop_assert!(!masked.contains(&format!("'{word}'")), "{masked}");
            prop_assert_eq!(slots.fill(&masked), code);
        }
    }
}
