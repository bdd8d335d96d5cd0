//! Paraphrased copies of (utterance, code) pairs: a comparison before a number
//! said another way (`greater than 60` → `above 60`, `higher than 60`, …), the code
//! unchanged. A benchmark's few hundred train utterances say "greater than" and
//! "less than"; users also say "above", "below", "at least". A model whose encoder
//! is trained from scratch on those pairs (the paper's was pretrained on text) learns
//! only the words it was shown, so the copies show it the others.
//!
//! Only phrases followed by a number change, so `below average` (a rule of its
//! own) stays as written.

use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;

/// Phrases that say the same comparison, longest first within a group so that
/// `less than or equal to` is not read as `less than`.
const GROUPS: [&[&str]; 4] = [
    &["greater than or equal to", "more than or equal to", "no less than", "at least"],
    &["less than or equal to", "lower than or equal to", "no more than", "at most"],
    &["greater than", "more than", "higher than", "larger than", "bigger than", "above", "over", "exceeding"],
    &["less than", "lower than", "smaller than", "fewer than", "below", "under"],
];

/// The comparisons of `utterance` that stand before a number: (start, end, group).
fn comparisons(utterance: &str) -> Vec<(usize, usize, usize)> {
    let lower = utterance.to_ascii_lowercase();
    let mut found: Vec<(usize, usize, usize)> = Vec::new();
    let mut at = 0;
    while at < lower.len() {
        let starts_word = at == 0 || !lower.as_bytes()[at - 1].is_ascii_alphanumeric();
        let hit = starts_word
            .then(|| {
                GROUPS.iter().enumerate().find_map(|(g, phrases)| {
                    phrases.iter().find(|p| lower[at..].starts_with(*p) && before_number(&lower[at + p.len()..])).map(|p| (g, p.len()))
                })
            })
            .flatten();
        match hit {
            Some((group, len)) => {
                found.push((at, at + len, group));
                at += len;
            }
            None => at += lower[at..].chars().next().map_or(1, char::len_utf8),
        }
    }
    found
}

/// Whether `rest` (what follows a phrase) is spaces and then a number.
fn before_number(rest: &str) -> bool {
    let trimmed = rest.trim_start_matches(' ');
    trimmed.len() < rest.len() && trimmed.trim_start_matches(['-', '$']).starts_with(|c: char| c.is_ascii_digit())
}

/// Up to `count` distinct copies of the pair, each with every comparison before a
/// number replaced by another phrase of its group, drawn from `rng`; none when the
/// utterance has no such comparison.
pub fn paraphrased_copies(utterance: &str, code: &str, count: usize, rng: &mut ChaCha8Rng) -> Vec<(String, String)> {
    let found = comparisons(utterance);
    if found.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for _ in 0..count {
        let mut text = String::with_capacity(utterance.len() + 16);
        let mut last = 0;
        for &(start, end, group) in &found {
            let written = utterance[start..end].to_ascii_lowercase();
            let others: Vec<&&str> = GROUPS[group].iter().filter(|p| **p != written).collect();
            let phrase = others.choose(rng).expect("every group has more than one phrase");
            text.push_str(&utterance[last..start]);
            text.push_str(phrase);
            last = end;
        }
        text.push_str(&utterance[last..]);
        if !out.iter().any(|(u, _)| *u == text) {
            out.push((text, code.to_string()));
        }
    }
    out
}

/// `count` paraphrased copies of every pair that has a comparison before a
/// number, in pair order; pair `i`'s copies come from stream `i` of a fixed seed,
/// so they do not depend on the training seed.
pub fn paraphrase_copies<S: AsRef<str>>(pairs: &[(S, S)], count: usize) -> Vec<(String, String)> {
    if count == 0 {
        return Vec::new();
    }
    super::literals::seeded_copies(pairs, 0x9a7a_9e, |utterance, code, rng| paraphrased_copies(utterance, code, count, rng))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn comparisons_before_numbers_are_said_other_ways_and_the_code_kept() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let copies = paraphrased_copies(
            "Format cells that are greater than 25 and Less than or equal to 50",
            "AND(GreaterThan(25),LessThanEqual(50))",
            6,
            &mut rng,
        );
        assert!(copies.len() >= 3, "{copies:?}");
        for (u, c) in &copies {
            assert_eq!(c, "AND(GreaterThan(25),LessThanEqual(50))");
            assert!(u.starts_with("Format cells that are ") && u.contains(" 25 and ") && u.ends_with(" 50"), "{u}");
            assert!(!u.contains("greater than 25") && !u.to_lowercase().contains("less than or equal to 50"), "{u}");
            let said = |group: usize| GROUPS[group].iter().any(|p| u.contains(&format!("{p} 25")) || u.contains(&format!("{p} 50")));
            assert!(said(2) && said(1), "a > and a <= phrase: {u}");
        }
    }

    #[test]
    fn words_not_before_a_number_stay() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for utterance in ["Highlight values below average", "Color cells over the range", "Discover 5 items"] {
            assert!(paraphrased_copies(utterance, "belowAverage()", 4, &mut rng).is_empty(), "{utterance}");
        }
        let copies = paraphrase_copies(&[("values above 10", "GreaterThan(10)"), ("values above average", "aboveAverage()")], 3);
        assert!(!copies.is_empty() && copies.iter().all(|(_, c)| c == "GreaterThan(10)"), "{copies:?}");
        assert_eq!(copies, paraphrase_copies(&[("values above 10", "GreaterThan(10)")], 3), "a pair's copies do not depend on the others");
    }
}
