//! Published pass@1 numbers on the same benchmarks, quoted from
//! `corpora/README.md` (the diffusion-repair paper's Table 1), so that reports
//! put them in the same table as ours.

use crate::lang::LangId;

/// One published result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Published {
    /// The system.
    pub system: &'static str,
    /// pass@1 by the language's headline metric (see [`super::Headline`]).
    pub rate: f64,
}

/// The published numbers for a language's benchmark (empty where there are none).
pub fn published(lang: LangId) -> &'static [Published] {
    const EXCEL: &[Published] = &[
        Published { system: "CodeFusion 60M (paper)", rate: 0.63 },
        Published { system: "LaMirage (paper)", rate: 0.72 },
        Published { system: "GPT-4o (paper)", rate: 0.75 },
    ];
    const POWERSHELL: &[Published] =
        &[Published { system: "CodeFusion 60M (paper)", rate: 0.21 }, Published { system: "GPT-4o (paper)", rate: 0.24 }];
    const PYTHON: &[Published] =
        &[Published { system: "CodeFusion 60M (paper)", rate: 0.68 }, Published { system: "BIFI (paper)", rate: 0.76 }];
    match lang {
        LangId::Excel => EXCEL,
        LangId::Powershell => POWERSHELL,
        LangId::Python => PYTHON,
        LangId::Bash | LangId::Cf => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_the_corpora_readme() {
        let readme = std::fs::read_to_string(crate::repo_file("corpora/README.md")).unwrap();
        for lang in [LangId::Excel, LangId::Powershell, LangId::Python] {
            assert!(!published(lang).is_empty());
            for p in published(lang) {
                assert!(readme.contains(&format!("{:.2}", p.rate)), "{} {} not in corpora/README.md", p.system, p.rate);
            }
        }
    }
}
