//! The numbers a request writes, for grounding a rule's values in it: digits
//! with thousands separators and a fraction (`900,000`, `3.45`, `-5`), read as
//! Excel would store them.

use regex::Regex;
use std::sync::LazyLock;

/// A written number: an optional sign, digits with optional `,` thousands groups,
/// an optional fraction.
static NUMBER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?").expect("a valid pattern"));

/// The numbers `request` writes, in order.
pub fn numbers_in(request: &str) -> Vec<f64> {
    NUMBER.find_iter(request).filter_map(|m| m.as_str().replace(',', "").parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::numbers_in;

    #[test]
    fn numbers_are_read_as_written() {
        assert_eq!(numbers_in("sales above 900,000 or below 3.45 and -5"), [900000.0, 3.45, -5.0]);
        assert_eq!(numbers_in("top 10 percent"), [10.0]);
        assert!(numbers_in("no numbers").is_empty());
    }

    /// Grounded rules take their values from the request; invented ones do not.
    #[test]
    fn rules_are_grounded_in_their_request() {
        let cf = crate::LangId::Cf.language();
        let request = "Highlight sales that are above 900000";
        assert!(cf.grounded("GreaterThan(900000)", request));
        assert!(cf.grounded("GreaterThan(c[1], 900000)", request));
        assert!(!cf.grounded("LessThan(9172)", request));
        assert!(cf.grounded("TextContains('ster')", "format only cities which contain the text 'Ster'"));
        assert!(!cf.grounded("TextEquals(Tsenttems)", "Highlight student names"));
        assert!(cf.grounded("Between(9, 18)", "Highlight dates between 9 and 18"));
        assert!(!cf.grounded("Between(928, 959)", "Highlight dates between 9 and 18"));
        assert!(cf.grounded("NOT(Equals(0))", "Highlight cell if stock is not empty"));
        assert!(cf.grounded("Blanks()", "Highlight if the cell is blank"));
        assert!(!cf.grounded("GreaterThan(", request), "a rule that does not parse");
        // other languages do not say what their values are
        assert!(crate::LangId::Python.language().grounded("x = 9172", request));
    }
}
