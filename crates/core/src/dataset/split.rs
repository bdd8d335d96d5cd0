//! Deterministic train/valid split by a salted hash of the snippet text, so a
//! snippet lands in the same split whatever else the corpus contains.

use sha2::{Digest, Sha256};

/// The split a snippet belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Training data.
    Train,
    /// Held-out data.
    Valid,
}

impl Split {
    /// `train` or `valid`, as in file names.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Valid => "valid",
        }
    }
}

/// Assigns `text` to a split: `valid` with probability `valid_fraction`.
pub fn assign_split(text: &str, seed: &str, valid_fraction: f64) -> Split {
    let digest = Sha256::new().chain_update(seed).chain_update([0u8]).chain_update(text).finalize();
    let draw = u64::from_le_bytes(digest[..8].try_into().expect("sha256 has 32 bytes"));
    if (draw as f64) < valid_fraction * (u64::MAX as f64) {
        Split::Valid
    } else {
        Split::Train
    }
}

/// The stable id of a snippet: language and 16 hex digits of its sha256.
pub fn snippet_id(lang: &str, text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!("{lang}-{}", hex::encode(&digest[..8]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_deterministic_and_near_the_fraction() {
        let texts: Vec<String> = (0..20_000).map(|i| format!("=A{i}")).collect();
        let valid = texts.iter().filter(|t| assign_split(t, "s", 0.02) == Split::Valid).count();
        assert!((300..500).contains(&valid), "{valid}");
        assert_eq!(assign_split("=A1", "s", 0.5), assign_split("=A1", "s", 0.5));
        assert_eq!(snippet_id("excel", "=A1"), snippet_id("excel", "=A1"));
        assert_ne!(snippet_id("excel", "=A1"), snippet_id("excel", "=A2"));
    }
}
