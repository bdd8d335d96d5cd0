//! BLEU-4 as CoNaLa scores it: the code split by `tokenize_for_bleu_eval` of the
//! CoNaLa evaluation script (every non-word character a token, camelCase split,
//! quotes made one character), and corpus BLEU as the NMT toolkit's
//! `compute_bleu` computes it (n-gram orders 1 to 4, clipped counts summed over
//! the corpus, geometric mean, brevity penalty; no smoothing).

use std::collections::HashMap;

/// The BLEU tokens of `code`, as CoNaLa's `tokenize_for_bleu_eval` splits it.
pub fn conala_tokens(code: &str) -> Vec<String> {
    let mut spaced = String::with_capacity(code.len() * 2);
    let mut previous: Option<char> = None;
    for c in code.chars() {
        if !(c.is_ascii_alphanumeric() || c == '_') {
            // `([^A-Za-z0-9_])` -> ` \1 `
            spaced.push(' ');
            spaced.push(c);
            spaced.push(' ');
        } else {
            // `([a-z])([A-Z])` -> `\1 \2`
            if c.is_ascii_uppercase() && previous.is_some_and(|p| p.is_ascii_lowercase()) {
                spaced.push(' ');
            }
            spaced.push(c);
        }
        previous = Some(c);
    }
    spaced.split_whitespace().map(|t| t.replace(['"', '\''], "`")).collect()
}

/// The n-grams of order 1 to 4 of `tokens`, counted.
fn ngram_counts(tokens: &[String]) -> HashMap<&[String], usize> {
    let mut counts = HashMap::new();
    for order in 1..=4 {
        for gram in tokens.windows(order) {
            *counts.entry(gram).or_insert(0) += 1;
        }
    }
    counts
}

/// Clipped n-gram matches and possible matches by order, and the two lengths.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    matches: [usize; 4],
    possible: [usize; 4],
    reference_len: usize,
    translation_len: usize,
}

impl Tally {
    fn add(&mut self, reference: &[String], translation: &[String]) {
        self.reference_len += reference.len();
        self.translation_len += translation.len();
        let reference = ngram_counts(reference);
        for (gram, count) in ngram_counts(translation) {
            self.matches[gram.len() - 1] += count.min(reference.get(gram).copied().unwrap_or(0));
        }
        for order in 1..=4 {
            self.possible[order - 1] += translation.len().saturating_sub(order - 1);
        }
    }

    /// BLEU in [0, 1]; `smooth` adds one to every order's counts (used only to
    /// rank one item's candidates, where one missing 4-gram would zero them all).
    fn bleu(&self, smooth: bool) -> f64 {
        let precisions: Vec<f64> = (0..4)
            .map(|i| match smooth {
                true => (self.matches[i] as f64 + 1.0) / (self.possible[i] as f64 + 1.0),
                false if self.possible[i] > 0 => self.matches[i] as f64 / self.possible[i] as f64,
                false => 0.0,
            })
            .collect();
        if precisions.iter().any(|&p| p <= 0.0) || self.reference_len == 0 || self.translation_len == 0 {
            return 0.0;
        }
        let geo_mean = (precisions.iter().map(|p| p.ln()).sum::<f64>() / 4.0).exp();
        let ratio = self.translation_len as f64 / self.reference_len as f64;
        let brevity = if ratio > 1.0 { 1.0 } else { (1.0 - 1.0 / ratio).exp() };
        geo_mean * brevity
    }
}

/// Corpus BLEU-4 of (gold, prediction) pairs, in percent.
pub fn corpus_bleu<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> f64 {
    let mut tally = Tally::default();
    for (gold, prediction) in pairs {
        tally.add(&conala_tokens(gold), &conala_tokens(prediction));
    }
    100.0 * tally.bleu(false)
}

/// Smoothed sentence BLEU of one prediction, to pick the best of a top-k.
pub fn sentence_bleu(gold: &str, prediction: &str) -> f64 {
    let mut tally = Tally::default();
    tally.add(&conala_tokens(gold), &conala_tokens(prediction));
    tally.bleu(true)
}

/// Corpus BLEU-4 at top-1, 3 and 5, in percent: at top-k each item contributes
/// the candidate of its first k with the highest smoothed sentence BLEU (an
/// oracle choice, as top-k exact match is); an item without candidates
/// contributes an empty prediction.
pub fn bleu_at<'a>(items: impl IntoIterator<Item = (&'a str, &'a [String])> + Clone, top: [usize; 3]) -> [f64; 3] {
    top.map(|k| {
        corpus_bleu(items.clone().into_iter().map(|(gold, candidates)| {
            let best = candidates
                .iter()
                .take(k)
                .enumerate()
                .max_by(|(i, a), (j, b)| sentence_bleu(gold, a).total_cmp(&sentence_bleu(gold, b)).then(j.cmp(i)));
            (gold, best.map_or("", |(_, c)| c.as_str()))
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_follow_conalas_script() {
        // tokenize_for_bleu_eval("os.kill(os.getpid(), signal.SIGUSR1)") and a camelCase,
        // quoted case, worked by hand from the script's three regular expressions
        assert_eq!(
            conala_tokens("os.kill(os.getpid(), signal.SIGUSR1)"),
            ["os", ".", "kill", "(", "os", ".", "getpid", "(", ")", ",", "signal", ".", "SIGUSR1", ")"]
        );
        assert_eq!(conala_tokens("myList.sort(key='a b')"), ["my", "List", ".", "sort", "(", "key", "=", "`", "a", "b", "`", ")"]);
    }

    #[test]
    fn bleu_is_100_for_the_gold_and_falls_with_each_wrong_token() {
        let gold = "all(x == myList[0] for x in myList)";
        assert!((corpus_bleu([(gold, gold)]) - 100.0).abs() < 1e-9);
        let near = corpus_bleu([(gold, "all(x == myList[1] for x in myList)")]);
        let far = corpus_bleu([(gold, "all(y == myList[1] for y in myList)")]);
        assert!(100.0 > near && near > far && far > 0.0, "{near} {far}");
        // shorter than the gold: the brevity penalty
        assert!(corpus_bleu([(gold, "all(x == myList[0] for x in")]) < corpus_bleu([(gold, gold)]));
        // no 4-gram in common: 0 without smoothing
        assert_eq!(corpus_bleu([(gold, "print(1)")]), 0.0);
    }

    #[test]
    fn top_k_takes_the_best_of_the_first_k() {
        let gold = "sorted(d.items(), key=lambda x: x[1])";
        let candidates = vec!["print(d)".to_string(), "sorted(d.items(), key=lambda x: x[1])".to_string()];
        let at = bleu_at([(gold, candidates.as_slice())], [1, 3, 5]);
        assert!(at[0] < 100.0 && (at[1] - 100.0).abs() < 1e-9 && at[1] == at[2], "{at:?}");
    }
}
