//! Rule-based corruptions: last-mile mistakes made on purpose, the baseline that
//! diffusion pairs are held against (FLAME's operators for Excel, BIFI's token
//! edits for Python). Each language lists its operators
//! ([`crate::Language::corruptions`]); a pair generator draws one by weight.

use rand::{Rng, RngCore};
use std::ops::Range;

/// One corruption operator.
#[derive(Clone, Copy)]
pub struct Corruption {
    /// Stable snake_case name: the `source` column says `rules:<name>`, and the
    /// config's weights are keyed by it.
    pub name: &'static str,
    /// What it does, in words.
    pub description: &'static str,
    /// A correct snippet and what this operator can make of it.
    pub example: (&'static str, &'static str),
    /// Corrupts a snippet, or `None` when the operator does not apply to it (no
    /// closing parenthesis to drop, no sheet reference to break, ...).
    pub apply: fn(&str, &mut dyn RngCore) -> Option<String>,
}

impl std::fmt::Debug for Corruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Corruption").field("name", &self.name).finish()
    }
}

/// `text` with `range` replaced by `with`.
pub(crate) fn splice(text: &str, range: Range<usize>, with: &str) -> String {
    let mut out = String::with_capacity(text.len() + with.len());
    out.push_str(&text[..range.start]);
    out.push_str(with);
    out.push_str(&text[range.end..]);
    out
}

/// One of `items`, uniformly (`None` when empty).
pub(crate) fn pick<T: Clone>(items: &[T], rng: &mut dyn RngCore) -> Option<T> {
    (!items.is_empty()).then(|| items[rng.random_range(0..items.len())].clone())
}

#[cfg(test)]
mod tests {
    use crate::LangId;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn every_documented_example_is_reachable_and_changes_the_snippet() {
        for lang in [LangId::Excel, LangId::Python] {
            let language = lang.language();
            let ops = language.corruptions();
            assert!(ops.len() >= 5, "{lang}: {} operators", ops.len());
            let mut names: Vec<&str> = ops.iter().map(|o| o.name).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), ops.len(), "{lang}: operator names are unique");
            for op in ops {
                let (fixed, broken) = op.example;
                assert!(language.check(fixed).is_ok(), "{}: the example's fixed side is valid: {fixed:?}", op.name);
                let mut rng = ChaCha8Rng::seed_from_u64(0);
                let outputs: Vec<String> = (0..400).filter_map(|_| (op.apply)(fixed, &mut rng)).collect();
                assert!(!outputs.is_empty(), "{}: applies to its own example", op.name);
                assert!(outputs.iter().all(|o| o != fixed), "{}: never returns the input", op.name);
                assert!(
                    outputs.iter().any(|o| o == broken),
                    "{}: {fixed:?} -> {broken:?} is reachable; got {:?}",
                    op.name,
                    &outputs[..3.min(outputs.len())]
                );
            }
        }
    }
}
