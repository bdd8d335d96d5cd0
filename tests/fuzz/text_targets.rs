//! Targets over snippets of code: each language's lexer, strict checker (with
//! its repair sites, idiom edits, NL-to-code grounding and, for Bash, NL2Bash
//! templates), sketch and corruption operators, the tokenizers of the shipped models, and
//! IronCalc execution of arbitrary formulas.

use crate::mutate::mutate;
use crate::{repo, Target};
use lastmile::lang::{LangId, Language, SyntaxError};
use lastmile::tokenizer::CodeTokenizer;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeSet;
use std::sync::Arc;

fn lines(path: &str, take: usize, prefix: &str) -> Vec<Vec<u8>> {
    let text = std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines().filter(|l| !l.trim().is_empty()).take(take).map(|l| format!("{prefix}{}", l.trim_matches('"')).into_bytes()).collect()
}

fn bench(path: &str) -> Vec<Vec<u8>> {
    let items = lastmile::dataset::load_bench(&repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    items.into_iter().flat_map(|i| [i.broken.into_bytes(), i.truth.into_bytes()]).collect()
}

/// Real snippets of a language: benchmark items and corpus lines.
fn seeds(lang: LangId) -> Vec<Vec<u8>> {
    match lang {
        LangId::Excel => [bench("corpora/benchmarks/repair/excel.json"), lines("corpora/excel/euses-formulas.txt", 2000, "=")].concat(),
        LangId::Python => bench("corpora/benchmarks/pydex"),
        LangId::Powershell => {
            let mut seeds = bench("corpora/benchmarks/repair/powershell.json");
            seeds.extend(lines("corpora/powershell/scripts/build.psm1", 400, ""));
            seeds
        }
        LangId::Bash => lines("corpora/bash/codefusion-bash-snippets.txt", 2000, ""),
        LangId::Cf => lines("corpora/cf_rules/codefusion-cf-snippets.txt", 2000, ""),
    }
}

/// The distinct token texts of the seeds, the vocabulary mutations insert.
fn dictionary(lang: &dyn Language, seeds: &[Vec<u8>]) -> Vec<String> {
    let mut tokens = BTreeSet::new();
    for seed in seeds {
        let text = String::from_utf8_lossy(seed);
        for token in lang.lex(&text) {
            if tokens.len() < 3000 {
                tokens.insert(token.text.to_string());
            }
        }
    }
    tokens.into_iter().collect()
}

/// What a target checks on one snippet.
type Property = Box<dyn FnMut(&str) -> Result<(), String>>;

struct TextTarget {
    name: String,
    seeds: Arc<Vec<Vec<u8>>>,
    dictionary: Arc<Vec<String>>,
    property: Property,
}

impl Target for TextTarget {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn generate(&mut self, rng: &mut ChaCha8Rng) -> Vec<u8> {
        let seed = &self.seeds[rng.random_range(0..self.seeds.len())];
        mutate(seed, &self.dictionary, &self.seeds, rng)
    }

    fn run(&mut self, input: &[u8]) -> Result<(), String> {
        (self.property)(&String::from_utf8_lossy(input))
    }
}

/// The kinds of text target, per language where they apply.
const KINDS: [&str; 4] = ["lex", "check", "sketch", "corrupt"];

/// The names of the text targets.
pub fn names() -> Vec<String> {
    let mut names = Vec::new();
    for lang in LangId::ALL {
        for kind in KINDS {
            if kind != "corrupt" || !lang.language().corruptions().is_empty() {
                names.push(format!("{kind}-{lang}"));
            }
        }
    }
    names.extend(["tokenizer-excel", "tokenizer-python", "exec-excel"].map(String::from));
    names
}

/// The error must point inside the snippet, at a character boundary, with the
/// line and column of that offset.
fn located(text: &str, error: &SyntaxError) -> Result<(), String> {
    if error.offset > text.len() || !text.is_char_boundary(error.offset) {
        return Err(format!("error offset {} outside the snippet or inside a character ({error})", error.offset));
    }
    let at = SyntaxError::at(text, error.offset, "");
    if (at.line, at.column) != (error.line, error.column) {
        return Err(format!("error at {}:{} but its offset is {}:{}", error.line, error.column, at.line, at.column));
    }
    Ok(())
}

fn property(kind: &str, lang: &'static dyn Language) -> Property {
    match kind {
        "lex" => Box::new(move |text| {
            let tokens = lang.lex(text);
            if tokens.iter().any(|t| t.text.is_empty()) {
                return Err("an empty token".into());
            }
            let joined: String = tokens.iter().map(|t| t.text).collect();
            if joined != text {
                return Err("the tokens do not concatenate to the input".into());
            }
            Ok(())
        }),
        // where a repair looks: the checker's error and the language's repair sites
        "check" => Box::new(move |text| {
            let sites = lang.repair_sites(text);
            if let Some(at) = sites.iter().find(|&&at| at > text.len() || !text.is_char_boundary(at)) {
                return Err(format!("repair site {at} outside the snippet or inside a character"));
            }
            if !sites.is_sorted() {
                return Err(format!("repair sites out of order: {sites:?}"));
            }
            // the documented fixes a repair proposes there: new snippets, bounded
            let idioms = lang.idiom_edits(text);
            if idioms.len() > 64 || idioms.iter().any(|edited| edited == text) {
                return Err(format!("{} idiom edits, or one that changes nothing", idioms.len()));
            }
            // NL-to-code's read-outs: grounding in a request, NL2Bash's template
            let _ = lang.grounded(text, "Highlight sales above 900,000 named 'North'");
            if lang.id() == LangId::Bash {
                let _ = lastmile::lang::bash_template(text);
            }
            match lang.check(text) {
                Ok(()) => Ok(()),
                Err(e) => located(text, &e),
            }
        }),
        "sketch" => Box::new(move |text| {
            let _ = lang.sketch(text);
            // idempotence is asked of snippets as the pipeline has them, in
            // their normal form (no control characters but tab and newline);
            // any input must still be answered, above
            let Ok(text) = lastmile::dataset::normalize(text) else { return Ok(()) };
            let once = lang.normalize_whitespace(&text);
            let twice = lang.normalize_whitespace(&once);
            if once != twice {
                // where they part, with some context: the inputs are long
                let at =
                    once.char_indices().zip(twice.chars()).find(|((_, a), b)| a != b).map_or(once.len().min(twice.len()), |((i, _), _)| i);
                let around = |s: &str| s.chars().skip(once[..at].chars().count().saturating_sub(30)).take(60).collect::<String>();
                return Err(format!(
                    "whitespace normalisation is not idempotent at byte {at}: {:?} -> {:?}",
                    around(&once),
                    around(&twice)
                ));
            }
            Ok(())
        }),
        "corrupt" => Box::new(move |text| {
            // the operators draw from their own generator, seeded by the input
            let mut rng = ChaCha8Rng::seed_from_u64(text.len() as u64);
            for corruption in lang.corruptions() {
                let _ = (corruption.apply)(text, &mut rng);
            }
            Ok(())
        }),
        _ => unreachable!("unknown text target kind {kind}"),
    }
}

fn tokenizer_property(model: &str) -> Property {
    let tokenizer = CodeTokenizer::load(&repo(&format!("models/{model}/tokenizer.json"))).unwrap();
    Box::new(move |text| {
        let ids = tokenizer.encode(text).map_err(|e| e.to_string())?;
        if ids.iter().any(|&id| id as usize >= tokenizer.vocab_size()) {
            return Err("an id outside the vocabulary".into());
        }
        let _ = tokenizer.encode_fixed(text, 64).map_err(|e| e.to_string())?;
        let decoded = tokenizer.decode_snippet(&ids).map_err(|e| e.to_string())?;
        // byte-level BPE: every text comes back, except where it spells a special token
        if decoded != text && !text.contains('<') {
            return Err(format!("decode(encode(x)) != x: {decoded:?}"));
        }
        Ok(())
    })
}

fn exec_property() -> Property {
    Box::new(|text| {
        // as a candidate against a fixed truth, and as its own truth
        let _ = lastmile::lang::excel_exec_match(text, "=SUM(A1:A3)*2");
        let _ = lastmile::lang::excel_exec_match("=A1", text);
        Ok(())
    })
}

/// The text target called `name`, with its seeds loaded; `None` if there is none.
pub fn build(name: &str) -> Option<Box<dyn Target>> {
    if !names().iter().any(|n| n == name) {
        return None;
    }
    let (kind, lang) = name.split_once('-')?;
    let lang: LangId = lang.parse().ok()?;
    let seeds = Arc::new(seeds(lang));
    let dictionary = Arc::new(dictionary(lang.language(), &seeds));
    let property = match kind {
        "tokenizer" => tokenizer_property(lang.name()),
        "exec" => exec_property(),
        kind => property(kind, lang.language()),
    };
    Some(Box::new(TextTarget { name: name.to_string(), seeds, dictionary, property }))
}
