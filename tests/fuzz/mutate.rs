//! Mutation of real inputs: the byte- and token-level edits every target draws
//! its inputs with.
//!
//! A target starts from real seeds (corpus lines, benchmark items, the
//! repository's configs, files `lastmile` wrote) and applies one to four
//! mutations, so that inputs stay close enough to real ones to reach deep
//! into the parsers, and far enough to break them.

use rand::{Rng, RngCore};

/// Openers whose long runs stress recursive descent and bracket matching.
const OPENERS: [&str; 9] = ["(", "[", "{", "$(", "\"", "'", "=(", "@(", "${"];

/// Characters that are rare in code and common in trouble: NUL, CR, a BOM, a
/// combining mark, right-to-left override, a four-byte emoji, a lone
/// continuation byte's lossy replacement.
const ODD: [&str; 9] = ["\0", "\r", "\u{feff}", "\u{301}", "\u{202e}", "\u{1f600}", "\u{fffd}", "\t", "\\"];

/// Values a config or JSON field is swapped with: wrong types, extremes,
/// zero, negative, not-a-number.
pub const ODD_VALUES: [&str; 18] = [
    "-1",
    "0",
    "1",
    "1e308",
    "-1e308",
    "nan",
    "inf",
    "18446744073709551615",
    "99999999999",
    "4294967296",
    "\"\"",
    "\"x\"",
    "[]",
    "{}",
    "true",
    "null",
    "0.5",
    "\"../../../etc/passwd\"",
];

/// Applies one to four random mutations to `seed`; `dictionary` holds tokens
/// of the input's language, `others` further seeds to splice with.
pub fn mutate(seed: &[u8], dictionary: &[String], others: &[Vec<u8>], rng: &mut dyn RngCore) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        out = mutate_once(&out, dictionary, others, rng);
        out.truncate(MAX_INPUT_BYTES);
    }
    out
}

/// The longest input drawn: 64 KiB, far beyond any real snippet (the miners keep
/// units of at most a few thousand characters). Inputs past each reader's own
/// documented bound are tested one by one (the resource-bound tests).
pub const MAX_INPUT_BYTES: usize = 64 << 10;

fn random_range(len: usize, max_width: usize, rng: &mut dyn RngCore) -> (usize, usize) {
    if len == 0 {
        return (0, 0);
    }
    let start = rng.random_range(0..len);
    let end = (start + rng.random_range(1..=max_width)).min(len);
    (start, end)
}

fn mutate_once(input: &[u8], dictionary: &[String], others: &[Vec<u8>], rng: &mut dyn RngCore) -> Vec<u8> {
    let mut out = input.to_vec();
    let at = if out.is_empty() { 0 } else { rng.random_range(0..=out.len()) };
    match rng.random_range(0..12) {
        // flip one bit
        0 if !out.is_empty() => {
            let i = rng.random_range(0..out.len());
            out[i] ^= 1 << rng.random_range(0..8);
        }
        // insert a token of the language
        1 | 2 if !dictionary.is_empty() => {
            let token = &dictionary[rng.random_range(0..dictionary.len())];
            out.splice(at..at, token.bytes());
        }
        // delete a short range
        3 => {
            let (start, end) = random_range(out.len(), 8, rng);
            out.drain(start..end);
        }
        // duplicate a range in place
        4 => {
            let (start, end) = random_range(out.len(), 16, rng);
            let copy = out[start..end].to_vec();
            out.splice(end..end, copy);
        }
        // replace a range with a token of the language
        5 if !dictionary.is_empty() => {
            let (start, end) = random_range(out.len(), 6, rng);
            let token = &dictionary[rng.random_range(0..dictionary.len())];
            out.splice(start..end, token.bytes());
        }
        // splice: this seed's head, another's tail
        6 if !others.is_empty() => {
            let other = &others[rng.random_range(0..others.len())];
            let cut = if other.is_empty() { 0 } else { rng.random_range(0..other.len()) };
            out.truncate(at);
            out.extend_from_slice(&other[cut..]);
        }
        // a long run of one opener: deep nesting, unclosed brackets
        7 => {
            let opener = OPENERS[rng.random_range(0..OPENERS.len())];
            let n = [10, 100, 1_000, 10_000][rng.random_range(0..4)];
            out.splice(at..at, opener.repeat(n).into_bytes());
        }
        // a character that is rare in code
        8 => {
            let odd = ODD[rng.random_range(0..ODD.len())];
            out.splice(at..at, odd.bytes());
        }
        // truncate
        9 => out.truncate(at),
        // a random byte (maybe not UTF-8)
        10 => out.insert(at, rng.random::<u8>()),
        // repeat the whole input: long lines
        _ => {
            let times = rng.random_range(2..=64);
            out = out.repeat(times);
        }
    }
    out
}

/// Swaps the value of one `key = value` (TOML) or `"key": value` (JSON) line
/// for an odd one ([`ODD_VALUES`]), drops a line, or duplicates one: edits that
/// keep the file parseable often enough to reach the validation behind it.
pub fn mutate_fields(text: &str, rng: &mut dyn RngCore) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.is_empty() {
        return text.to_string();
    }
    let i = rng.random_range(0..lines.len());
    match rng.random_range(0..4) {
        0 => {
            lines.remove(i);
        }
        1 => {
            let line = lines[i].clone();
            lines.insert(i, line);
        }
        _ => {
            let value = ODD_VALUES[rng.random_range(0..ODD_VALUES.len())];
            let line = &lines[i];
            if let Some(eq) = line.find(" = ") {
                lines[i] = format!("{} = {value}", &line[..eq]);
            } else if let Some(colon) = line.find("\": ") {
                let comma = if line.trim_end().ends_with(',') { "," } else { "" };
                lines[i] = format!("{}\": {value}{comma}", &line[..colon]);
            }
        }
    }
    lines.join("\n") + "\n"
}
