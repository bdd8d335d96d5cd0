//! Nearest-utterance retrieval over an NL-to-code train split (TF-IDF over
//! lower-cased words, cosine similarity), distinct programs, best first: the
//! zero-parameter floor of NL-to-code, and the exemplars that exemplar-seeded
//! generation starts its chains from.

use super::Nl2CodeItem;
use std::collections::{BTreeMap, HashMap};

/// Nearest-utterance retrieval over a train split.
pub struct Retrieval<'a> {
    items: Vec<&'a Nl2CodeItem>,
    /// Per train item: its words' TF-IDF weights, normalised to unit length.
    /// Ordered maps: sums in a fixed order give the same scores, and so the same
    /// ranking, on every run.
    vectors: Vec<BTreeMap<String, f64>>,
    idf: HashMap<String, f64>,
}

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase)
}

/// The words of `text` weighted by `idf` (unknown words weigh 0), unit length.
fn tf_idf(idf: &HashMap<String, f64>, text: &str) -> BTreeMap<String, f64> {
    let mut v: BTreeMap<String, f64> = BTreeMap::new();
    for w in words(text) {
        let weight = idf.get(&w).copied().unwrap_or(0.0);
        *v.entry(w).or_default() += weight;
    }
    let norm = v.values().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 {
        v.values_mut().for_each(|x| *x /= norm);
    }
    v
}

impl<'a> Retrieval<'a> {
    /// Indexes the train items that have an utterance.
    pub fn new(train: &'a [Nl2CodeItem]) -> Self {
        let items: Vec<&Nl2CodeItem> = train.iter().filter(|i| i.utterance.is_some()).collect();
        let mut document_frequency: HashMap<String, usize> = HashMap::new();
        for item in &items {
            let mut seen: Vec<String> = words(item.utterance.as_deref().unwrap_or_default()).collect();
            seen.sort();
            seen.dedup();
            for w in seen {
                *document_frequency.entry(w).or_default() += 1;
            }
        }
        let n = items.len() as f64;
        let idf: HashMap<String, f64> = document_frequency.into_iter().map(|(w, df)| (w, (1.0 + n / df as f64).ln())).collect();
        let vectors = items.iter().map(|i| tf_idf(&idf, i.utterance.as_deref().unwrap_or_default())).collect();
        Retrieval { items, vectors, idf }
    }

    /// The codes of the `k` nearest train items with distinct codes, nearest first
    /// (ties: the earlier train item).
    pub fn top_k(&self, utterance: &str, k: usize) -> Vec<String> {
        self.nearest(utterance, k).into_iter().map(|item| item.code.clone()).collect()
    }

    /// The `k` nearest train items with distinct codes, nearest first (ties: the
    /// earlier train item).
    pub fn nearest(&self, utterance: &str, k: usize) -> Vec<&'a Nl2CodeItem> {
        self.nearest_by(utterance, k, |item| item.code.clone())
    }

    /// The `k` nearest train items whose `key`s differ, nearest first (ties: the
    /// earlier train item): e.g. programs distinct once their literal values are
    /// slots.
    pub fn nearest_by(&self, utterance: &str, k: usize, key: impl Fn(&Nl2CodeItem) -> String) -> Vec<&'a Nl2CodeItem> {
        let query = tf_idf(&self.idf, utterance);
        let mut scored: Vec<(f64, usize)> = self
            .vectors
            .iter()
            .enumerate()
            .map(|(i, v)| (query.iter().map(|(w, x)| x * v.get(w).copied().unwrap_or(0.0)).sum(), i))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut out: Vec<&'a Nl2CodeItem> = Vec::with_capacity(k);
        let mut keys: Vec<String> = Vec::with_capacity(k);
        for (_, i) in scored {
            if out.len() == k {
                break;
            }
            let item = self.items[i];
            let key = key(item);
            if !keys.contains(&key) {
                keys.push(key);
                out.push(item);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(utterance: &str, code: &str) -> Nl2CodeItem {
        Nl2CodeItem { id: 0, utterance: Some(utterance.into()), code: code.into(), sheet: None, leaked: false }
    }

    #[test]
    fn nearest_utterances_first_and_codes_distinct() {
        let train = vec![
            item("highlight cells greater than 5", "GreaterThan(5)"),
            item("highlight cells less than 5", "LessThan(5)"),
            item("colour cells greater than 10", "GreaterThan(5)"),
            item("show duplicate values", "Duplicate()"),
        ];
        let retrieval = Retrieval::new(&train);
        assert_eq!(retrieval.top_k("cells greater than 7", 2), ["GreaterThan(5)", "LessThan(5)"]);
        assert_eq!(retrieval.top_k("duplicate", 1), ["Duplicate()"]);
        assert_eq!(retrieval.top_k("anything", 9).len(), 3);
        // the items themselves, their utterances with them: the first of two with one code
        let near: Vec<Option<&str>> = retrieval.nearest("cells greater than 7", 3).iter().map(|i| i.utterance.as_deref()).collect();
        assert_eq!(near, [Some("highlight cells greater than 5"), Some("highlight cells less than 5"), Some("show duplicate values")]);
        // distinct by another key: one item per comparison
        let comparison = |i: &Nl2CodeItem| i.code.split('(').next().unwrap().to_string();
        let near: Vec<&str> = retrieval.nearest_by("colour cells greater than 10", 3, comparison).iter().map(|i| i.code.as_str()).collect();
        assert_eq!(near, ["GreaterThan(5)", "LessThan(5)", "Duplicate()"]);
    }
}
