//! Classes of punctuation: the characters whose mistakes make up most of the
//! last-mile repair benchmarks (a missing bracket, a doubled separator, a
//! reversed operator, a lost quote). One definition for the edit-family
//! classifier (`stats::families`) and for the windowed rollout that reads its
//! windows out in one class (`rollout::WindowVocabulary::Family`), so that what
//! the rollout aims at is exactly what the statistics count.

/// A class of punctuation characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PunctuationClass {
    /// `( ) [ ] { }`.
    Bracket,
    /// `"` and `'`.
    Quote,
    /// `, ; :` and the sheet separator `!`.
    Separator,
    /// `+ - * / ^ & = < > %`.
    Operator,
}

impl PunctuationClass {
    /// Every class, in the edit-family classifier's order.
    pub const ALL: [PunctuationClass; 4] =
        [PunctuationClass::Bracket, PunctuationClass::Quote, PunctuationClass::Separator, PunctuationClass::Operator];

    /// The class's name in configs and reports.
    pub fn name(self) -> &'static str {
        match self {
            PunctuationClass::Bracket => "bracket",
            PunctuationClass::Quote => "quote",
            PunctuationClass::Separator => "separator",
            PunctuationClass::Operator => "operator",
        }
    }

    /// The class named `name`.
    pub fn from_name(name: &str) -> Option<PunctuationClass> {
        PunctuationClass::ALL.into_iter().find(|class| class.name() == name)
    }

    /// The characters of the class.
    pub const fn chars(self) -> &'static [char] {
        match self {
            PunctuationClass::Bracket => &['(', ')', '[', ']', '{', '}'],
            PunctuationClass::Quote => &['"', '\''],
            PunctuationClass::Separator => &[',', ';', ':', '!'],
            PunctuationClass::Operator => &['+', '-', '*', '/', '^', '&', '=', '<', '>', '%'],
        }
    }

    /// The class of a character, if it has one.
    pub fn of_char(c: char) -> Option<PunctuationClass> {
        PunctuationClass::ALL.into_iter().find(|class| class.chars().contains(&c))
    }

    /// The one class every non-whitespace character of `text` belongs to, or
    /// `None` (no such character, a character of no class, or several classes):
    /// `))` is a bracket, `,"")` none.
    pub fn of_text(text: &str) -> Option<PunctuationClass> {
        let mut classes = text.chars().filter(|c| !c.is_whitespace()).map(PunctuationClass::of_char);
        let first = classes.next()??;
        classes.all(|class| class == Some(first)).then_some(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_of_one_class_have_it() {
        assert_eq!(PunctuationClass::of_text("))"), Some(PunctuationClass::Bracket));
        assert_eq!(PunctuationClass::of_text(" ( "), Some(PunctuationClass::Bracket));
        assert_eq!(PunctuationClass::of_text("\""), Some(PunctuationClass::Quote));
        assert_eq!(PunctuationClass::of_text(",!"), Some(PunctuationClass::Separator));
        assert_eq!(PunctuationClass::of_text("<="), Some(PunctuationClass::Operator));
        for mixed in [",\"\")", "),", "A1", "", " ", ")1", "$"] {
            assert_eq!(PunctuationClass::of_text(mixed), None, "{mixed:?}");
        }
    }

    #[test]
    fn classes_are_disjoint() {
        for class in PunctuationClass::ALL {
            assert_eq!(PunctuationClass::from_name(class.name()), Some(class));
            for &c in class.chars() {
                assert_eq!(PunctuationClass::of_char(c), Some(class), "{c}");
            }
        }
    }
}
