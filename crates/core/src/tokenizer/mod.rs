//! The tokenizer stage: a byte-level BPE trained with Hugging Face `tokenizers`
//! on a language's train split, saved as a standard `tokenizer.json`, and the
//! fixed-length encoding of the model (`c, <eos>, <pad> * (n-k-1)`).
//!
//! Snippets that do not fit in `n` tokens (with `<eos>`) are rejected and
//! counted, never truncated.
//!
//! Imports `dataset/`.

use serde::Serialize;
use std::path::{Path, PathBuf};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer, TokenizerBuilder};

/// Id of `<pad>`.
pub const PAD: u32 = 0;
/// Id of `<eos>`.
pub const EOS: u32 = 1;
/// Id of `<unk>`.
pub const UNK: u32 = 2;
/// Id of `<mask>`.
pub const MASK: u32 = 3;
/// The special tokens, in id order.
pub const SPECIAL_TOKENS: [&str; 4] = ["<pad>", "<eos>", "<unk>", "<mask>"];

/// Errors of the tokenizer stage.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// Training or (de)serialising failed inside `tokenizers`.
    #[error("{context}: {message}")]
    Tokenizers {
        /// What was being done (and on which file).
        context: String,
        /// The library's message.
        message: String,
    },
    /// The trained vocabulary does not start with the special tokens.
    #[error("{path}: special token {token} has id {found:?}, expected {expected}")]
    SpecialTokens {
        /// The tokenizer file.
        path: PathBuf,
        /// The token.
        token: String,
        /// Its id in the file.
        found: Option<u32>,
        /// The id the model relies on.
        expected: u32,
    },
}

fn wrap(context: impl Into<String>) -> impl FnOnce(tokenizers::Error) -> TokenizerError {
    let context = context.into();
    move |e| TokenizerError::Tokenizers { context, message: e.to_string() }
}

/// A loaded tokenizer with the model's fixed-length conventions.
#[derive(Clone)]
pub struct CodeTokenizer {
    inner: Tokenizer,
}

/// Outcome of encoding a set of snippets to a fixed length.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct EncodeStats {
    /// Snippets encoded.
    pub kept: usize,
    /// Snippets dropped because they need more than `n` tokens with `<eos>`.
    pub too_long: usize,
}

impl CodeTokenizer {
    /// Trains a byte-level BPE of `vocab_size` entries (specials included) on `texts`.
    pub fn train<I, S>(texts: I, vocab_size: usize) -> Result<Self, TokenizerError>
    where
        I: Iterator<Item = S> + Send,
        S: AsRef<str> + Send,
    {
        let mut trainer = BpeTrainerBuilder::new()
            .vocab_size(vocab_size)
            .min_frequency(2)
            .show_progress(false)
            .special_tokens(SPECIAL_TOKENS.iter().map(|t| AddedToken::from(*t, true)).collect())
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .build();
        let mut tokenizer = TokenizerBuilder::new()
            .with_model(BPE::default())
            .with_normalizer(None::<tokenizers::NormalizerWrapper>)
            .with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false).trim_offsets(false)))
            .with_post_processor(None::<tokenizers::PostProcessorWrapper>)
            .with_decoder(Some(ByteLevelDecoder::default()))
            .build()
            .map_err(wrap("building the tokenizer"))?;
        tokenizer.train(&mut trainer, texts).map_err(wrap("training the tokenizer"))?;
        let inner: Tokenizer = tokenizer.into();
        let this = CodeTokenizer { inner };
        this.verify_specials(Path::new("<trained>"))?;
        Ok(this)
    }

    /// Loads a `tokenizer.json`.
    pub fn load(path: &Path) -> Result<Self, TokenizerError> {
        let context = || format!("{}", path.display());
        let failed = |message: String| TokenizerError::Tokenizers { context: context(), message };
        let text = std::fs::read_to_string(path).map_err(|e| failed(e.to_string()))?;
        // `tokenizers` panics on some malformed files (a decoder or merge it
        // cannot parse): JSON syntax is checked first, with line and column,
        // and a panic left over becomes an error naming the file
        serde_json::from_str::<serde::de::IgnoredAny>(&text).map_err(|e| failed(format!("not JSON: {e}")))?;
        let parsed = crate::caught_panic::catch_as_message(|| text.parse::<Tokenizer>())
            .map_err(|detail| failed(format!("not a tokenizer file: {detail}")))?;
        let inner = parsed.map_err(wrap(context()))?;
        let this = CodeTokenizer { inner };
        this.verify_specials(path)?;
        Ok(this)
    }

    /// Saves as a standard `tokenizer.json` (atomically).
    pub fn save(&self, path: &Path) -> Result<(), TokenizerError> {
        let json = self.inner.to_string(true).map_err(wrap(format!("{}", path.display())))?;
        crate::dataset::write_file_atomic(path, json.as_bytes())
            .map_err(|e| TokenizerError::Tokenizers { context: format!("{}", path.display()), message: e.to_string() })
    }

    /// Whether `other` is the same tokenizer (the same serialised model,
    /// whatever the layout of the files they were read from).
    pub fn same_as(&self, other: &CodeTokenizer) -> bool {
        matches!((self.inner.to_string(false), other.inner.to_string(false)), (Ok(a), Ok(b)) if a == b)
    }

    fn verify_specials(&self, path: &Path) -> Result<(), TokenizerError> {
        for (expected, token) in SPECIAL_TOKENS.iter().enumerate() {
            let found = self.inner.token_to_id(token);
            if found != Some(expected as u32) {
                return Err(TokenizerError::SpecialTokens {
                    path: path.to_path_buf(),
                    token: token.to_string(),
                    found,
                    expected: expected as u32,
                });
            }
        }
        Ok(())
    }

    /// Vocabulary size, special tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Token ids of a snippet (no specials added).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        let encoding = self.inner.encode(text, false).map_err(wrap("encoding"))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Token ids of a snippet with the byte range of `text` each one covers.
    pub fn encode_with_offsets(&self, text: &str) -> Result<(Vec<u32>, Vec<(usize, usize)>), TokenizerError> {
        let encoding = self.inner.encode(text, false).map_err(wrap("encoding"))?;
        Ok((encoding.get_ids().to_vec(), encoding.get_offsets().to_vec()))
    }

    /// `c, <eos>, <pad>...` of exactly `n` ids, or `None` when it does not fit.
    pub fn encode_fixed(&self, text: &str, n: usize) -> Result<Option<Vec<u32>>, TokenizerError> {
        Ok(fixed_row(&self.encode(text)?, 0, 0, n))
    }

    /// Like [`CodeTokenizer::encode_fixed`], plus for every position whether its
    /// token overlaps one of the byte `spans` (the CPD maskable positions).
    pub fn encode_fixed_marked(
        &self,
        text: &str,
        n: usize,
        spans: &[std::ops::Range<usize>],
    ) -> Result<Option<(Vec<u32>, Vec<bool>)>, TokenizerError> {
        let encoding = self.inner.encode(text, false).map_err(wrap("encoding"))?;
        let Some(ids) = fixed_row(encoding.get_ids(), 0, 0, n) else {
            return Ok(None);
        };
        let mut marked: Vec<bool> =
            encoding.get_offsets().iter().map(|&(start, end)| spans.iter().any(|s| s.start < end && start < s.end)).collect();
        marked.resize(n, false);
        Ok(Some((ids, marked)))
    }

    /// Encodes many snippets to length `n`, dropping (and counting) what does not fit.
    pub fn encode_all(&self, texts: &[String], n: usize) -> Result<(Vec<Vec<u32>>, EncodeStats), TokenizerError> {
        let mut stats = EncodeStats::default();
        let mut rows = Vec::with_capacity(texts.len());
        for text in texts {
            match self.encode_fixed(text, n)? {
                Some(ids) => {
                    rows.push(ids);
                    stats.kept += 1;
                }
                None => stats.too_long += 1,
            }
        }
        Ok((rows, stats))
    }

    /// The text of every vocabulary id, in id order; the special tokens'
    /// are empty. What a read-out restricted to some tokens selects them by
    /// (`rollout::WindowVocabulary`).
    pub fn token_texts(&self) -> Result<Vec<String>, TokenizerError> {
        (0..self.vocab_size() as u32)
            .map(|id| match (id as usize) < SPECIAL_TOKENS.len() {
                true => Ok(String::new()),
                false => self.inner.decode(&[id], true).map_err(wrap("decoding")),
            })
            .collect()
    }

    /// Decodes ids up to (not including) the first `<eos>` or `<pad>`.
    pub fn decode_snippet(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        self.inner.decode(snippet_ids(ids), true).map_err(wrap("decoding"))
    }
}

/// The model's row of a snippet: `c[..at], <mask> x slots, c[at..], <eos>,
/// <pad>...` of exactly `n` ids (`at` past the end puts the slots before
/// `<eos>`), or `None` when it does not fit. The free `<mask>` slots are where
/// localised repair and windowed rollout let the model insert tokens.
pub fn fixed_row(snippet: &[u32], at: usize, slots: usize, n: usize) -> Option<Vec<u32>> {
    if snippet.len() + slots + 1 > n {
        return None;
    }
    let at = at.min(snippet.len());
    let mut row = Vec::with_capacity(n);
    row.extend_from_slice(&snippet[..at]);
    row.extend(std::iter::repeat_n(MASK, slots));
    row.extend_from_slice(&snippet[at..]);
    row.push(EOS);
    row.resize(n, PAD);
    Some(row)
}

/// The ids of the snippet itself: everything before the first `<eos>` or `<pad>`.
pub fn snippet_ids(ids: &[u32]) -> &[u32] {
    let end = ids.iter().position(|&id| id == EOS || id == PAD).unwrap_or(ids.len());
    &ids[..end]
}

/// How many positions of a fixed-length row the snippet takes with its
/// `<eos>` (the length a length-bucketed batch must keep), at most the row.
pub fn len_with_eos(ids: &[u32]) -> usize {
    (snippet_ids(ids).len() + 1).min(ids.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn formulas() -> Vec<String> {
        let text = std::fs::read_to_string(crate::repo_file("corpora/excel/euses-formulas.txt")).unwrap();
        text.lines().take(3000).map(|l| format!("={}", crate::mine::unquote_csv(l))).collect()
    }

    #[test]
    fn trains_with_specials_first_and_round_trips_exactly() {
        let texts = formulas();
        let tok = CodeTokenizer::train(texts.iter(), 600).unwrap();
        assert_eq!(tok.vocab_size(), 600);
        for text in texts.iter().take(500).chain(["=IF(A1=\"é ü\",\n  1,\t2)".to_string()].iter()) {
            let ids = tok.encode_fixed(text, 512).unwrap().unwrap();
            assert!(ids.iter().all(|&i| i != UNK));
            assert_eq!(&tok.decode_snippet(&ids).unwrap(), text);
        }
        let python = "def f(x):\n    return {'a': x}  # c\n";
        assert_eq!(tok.decode_snippet(&tok.encode_fixed(python, 512).unwrap().unwrap()).unwrap(), python);
    }

    #[test]
    fn token_texts_decode_each_id_alone() {
        let tok = CodeTokenizer::train(formulas().iter(), 600).unwrap();
        let texts = tok.token_texts().unwrap();
        assert_eq!(texts.len(), 600);
        assert!(texts[..SPECIAL_TOKENS.len()].iter().all(String::is_empty), "special tokens have no text");
        for piece in [")", ",", "SUM"] {
            let ids = tok.encode(piece).unwrap();
            assert_eq!(ids.len(), 1, "{piece}");
            assert_eq!(texts[ids[0] as usize], piece);
        }
    }

    #[test]
    fn fixed_length_encoding_pads_and_rejects_what_does_not_fit() {
        let tok = CodeTokenizer::train(formulas().iter(), 400).unwrap();
        let ids = tok.encode("=SUM(A1:A3)").unwrap();
        let fixed = tok.encode_fixed("=SUM(A1:A3)", ids.len() + 3).unwrap().unwrap();
        assert_eq!(&fixed[..ids.len()], &ids[..]);
        assert_eq!(&fixed[ids.len()..], &[EOS, PAD, PAD]);
        assert_eq!(tok.encode_fixed("=SUM(A1:A3)", ids.len()).unwrap(), None, "no room for <eos>");
        let (rows, stats) = tok.encode_all(&["=A1".into(), "=SUM(A1:A3)".into()], ids.len()).unwrap();
        assert_eq!((rows.len(), stats), (1, EncodeStats { kept: 1, too_long: 1 }));
    }

    #[test]
    fn marks_tokens_overlapping_spans() {
        let tok = CodeTokenizer::train(formulas().iter(), 400).unwrap();
        let text = "=SUM(A1)+IF(B2,1,2)";
        let spans = crate::lang::LangId::Excel.language().maskable_spans(text);
        let (ids, marked) = tok.encode_fixed_marked(text, 40, &spans).unwrap().unwrap();
        let marked_text: String = ids.iter().zip(&marked).filter(|(_, m)| **m).map(|(id, _)| tok.decode_snippet(&[*id]).unwrap()).collect();
        assert!(marked_text.contains("SUM") && marked_text.contains("IF"), "{marked_text}");
        assert!(!marked_text.contains("A1") && !marked_text.contains('+'), "{marked_text}");
    }

    #[test]
    fn saved_file_loads_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let tok = CodeTokenizer::train(formulas().iter(), 400).unwrap();
        let path = dir.path().join("tokenizer.json");
        tok.save(&path).unwrap();
        let loaded = CodeTokenizer::load(&path).unwrap();
        assert_eq!(loaded.encode("=VLOOKUP(A1,B:C,2)").unwrap(), tok.encode("=VLOOKUP(A1,B:C,2)").unwrap());
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(json["model"]["type"], "BPE");
        assert_eq!(json["added_tokens"][1]["content"], "<eos>");
    }
}
