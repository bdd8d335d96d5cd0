//! Normalisation of raw snippets: one text layout for every snippet that is
//! mined, decontaminated against or paired, so equal code compares equal.

/// Why a snippet has no normal form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unnormalizable {
    /// Control characters other than tab and newline.
    ControlChars,
    /// Nothing left after normalisation.
    Empty,
}

/// Normalises a snippet: removes byte-order marks (U+FEFF), turns `\r\n` and `\r` into
/// `\n`, removes trailing spaces of every line and leading/trailing blank lines.
/// Rejects control characters other than tab and newline.
pub fn normalize(raw: &str) -> Result<String, Unnormalizable> {
    // U+FEFF is a byte-order mark at the start and an invisible no-op anywhere else
    let unified = raw.replace('\u{feff}', "").replace("\r\n", "\n").replace('\r', "\n");
    if unified.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(Unnormalizable::ControlChars);
    }
    let lines: Vec<&str> = unified.lines().map(str::trim_end).collect();
    let first = lines.iter().position(|l| !l.trim().is_empty());
    let last = lines.iter().rposition(|l| !l.trim().is_empty());
    match (first, last) {
        (Some(first), Some(last)) => Ok(lines[first..=last].join("\n")),
        _ => Err(Unnormalizable::Empty),
    }
}

/// Removes the indentation every non-blank line shares (the exact same leading
/// whitespace), so a method cut out of its class reads as a top-level definition.
/// Text whose first line is not indented comes back unchanged.
pub fn dedent(text: &str) -> std::borrow::Cow<'_, str> {
    let indent = |line: &str| line.len() - line.trim_start_matches([' ', '\t']).len();
    if !text.starts_with([' ', '\t']) {
        return text.into();
    }
    let first = &text[..indent(text)];
    let common = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.bytes().zip(first.bytes()).take_while(|(a, b)| a == b).count())
        .min()
        .unwrap_or(0);
    if common == 0 {
        return text.into();
    }
    let lines: Vec<&str> = text.split('\n').map(|l| if l.trim().is_empty() { "" } else { &l[common..] }).collect();
    lines.join("\n").into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normalizes_layout() {
        assert_eq!(normalize("\u{feff}\r\n  a  \r\n\tb\t\n\n").unwrap(), "  a\n\tb");
        assert_eq!(normalize(" \n\t\n"), Err(Unnormalizable::Empty));
        assert_eq!(normalize("a\u{0}b"), Err(Unnormalizable::ControlChars));
    }

    #[test]
    fn dedents_a_method_and_leaves_top_level_text_alone() {
        assert_eq!(dedent("    def f(self):\n\n        return 1"), "def f(self):\n\n    return 1");
        assert_eq!(dedent("def f():\n    pass"), "def f():\n    pass");
        // a docstring line at column 0 leaves nothing to share
        assert_eq!(dedent("    def f():\n\"\"\"x\"\"\""), "    def f():\n\"\"\"x\"\"\"");
    }

    proptest! {
        #[test]
        fn normalize_is_idempotent(s in "[ a-z\\t\\r\\n\u{feff}]{0,40}") {
            if let Ok(once) = normalize(&s) {
                prop_assert_eq!(normalize(&once).unwrap(), once);
            }
        }
    }
}
