//! PowerShell's own fixes for its most common mistakes, applied where they
//! fit: the snippets a repairer weighs beside the model's read-outs.
//!
//! Most real PowerShell mistakes are not a missing bracket but a rule of the
//! shell the writer did not know (`about_Operators`, `about_Parsing`,
//! `about_Quoting_Rules`, `about_Special_Characters`): a program run by a
//! quoted path needs the call operator (`& "C:\x.exe" /s`); a native
//! argument holding `(`, `;`, `<` or `{` must be quoted (`/ca:'O:BA:(A;;SY)'`),
//! or the line passed verbatim after the stop-parsing token `--%`; a double
//! quote inside a double-quoted string is escaped with a backtick; a command
//! continued on the next line needs a backtick at the end of the line; a block
//! left open is closed at the end. Each fix is a few tokens a small model
//! rarely writes on its own, so the repairer proposes them beside its
//! read-outs (`lastmile::repair`: for an input the checker rejects they rank
//! before the read-outs, the model's plausibility choosing among them).

use super::sites::{scan, string_end, Site};
use std::collections::HashSet;

/// Snippets proposed per input at most.
pub(crate) const MAX_IDIOM_EDITS: usize = 48;

/// Characters PowerShell parses in a command argument (`about_Parsing`), so a
/// native argument holding one must be quoted.
const SPECIAL: &[u8] = b"();{}<>@&|,";

/// The snippets that apply one of PowerShell's fixes where it fits in `text`,
/// in order: call operators at command heads, line continuations, closers of
/// open brackets, escaped inner quotes, quoted native arguments, stop-parsing
/// tokens; without duplicates or `text` itself, at most [`MAX_IDIOM_EDITS`].
pub(crate) fn idiom_edits(text: &str) -> Vec<String> {
    let insert = |at: usize, what: &str| format!("{}{what}{}", &text[..at], &text[at..]);
    let scanned = scan(text);
    // each edit copies the whole text: stop once enough are kept, so a long
    // snippet with thousands of command heads or lines costs bounded memory
    let mut kept = Kept { text, seen: HashSet::new(), edits: Vec::new() };
    for site in &scanned.sites {
        if kept.full() {
            break;
        }
        match *site {
            // the call operator, not dot-sourcing (`. `): it runs a program or
            // script without loading it into the caller's scope
            Site::CommandHead { at } => kept.push(insert(at, "& ")),
            Site::LineEnd { at } => kept.push(insert(at, " `")),
            Site::TextEnd => {
                let closers: String = scanned.open.iter().rev().map(|&b| closer(b)).collect();
                kept.push(format!("{text}{closers}"));
                kept.push(format!("{} {closers}", text.trim_end()));
            }
        }
    }
    escaped_inner_quotes(text).into_iter().for_each(|e| kept.push(e));
    for line in lines(text) {
        if kept.full() {
            break;
        }
        quoted_arguments(text, line.clone()).into_iter().for_each(|e| kept.push(e));
        stop_parsing(text, line).into_iter().for_each(|e| kept.push(e));
    }
    kept.edits
}

/// The edits kept so far: distinct, each different from the text, at most
/// [`MAX_IDIOM_EDITS`], in the order they were proposed.
struct Kept<'a> {
    text: &'a str,
    seen: HashSet<String>,
    edits: Vec<String>,
}

impl Kept<'_> {
    fn full(&self) -> bool {
        self.edits.len() >= MAX_IDIOM_EDITS
    }

    fn push(&mut self, edited: String) {
        if !self.full() && edited != self.text && self.seen.insert(edited.clone()) {
            self.edits.push(edited);
        }
    }
}

/// The closer of an opening bracket.
fn closer(opener: u8) -> char {
    match opener {
        b'{' => '}',
        b'(' => ')',
        _ => ']',
    }
}

/// The byte ranges of `text`'s lines, line ends excluded.
fn lines(text: &str) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
    let mut start = 0;
    text.split('\n').map(move |line| {
        let range = start..start + line.len();
        start = range.end + 1;
        range
    })
}

/// The words of `text[line]` separated by blanks, quoted strings kept whole,
/// as byte ranges of `text`.
fn words(text: &str, line: std::ops::Range<usize>) -> Vec<std::ops::Range<usize>> {
    let bytes = &text.as_bytes()[..line.end];
    let blank = |b: u8| matches!(b, b' ' | b'\t' | b'\r');
    let skip = |mut at: usize| {
        while at < line.end && blank(bytes[at]) {
            at += 1;
        }
        at
    };
    let mut out = Vec::new();
    let mut at = skip(line.start);
    while at < line.end {
        let start = at;
        while at < line.end && !blank(bytes[at]) {
            at = match bytes[at] {
                quote @ (b'"' | b'\'') => string_end(bytes, at, quote),
                // an escaped character, which may take several bytes
                b'`' => at + 1 + text[at + 1..].chars().next().map_or(0, char::len_utf8),
                _ => at + 1,
            }
            .min(line.end);
        }
        out.push(start..at);
        at = skip(at);
    }
    out
}

/// Whether a word is a bare native argument that holds a character
/// PowerShell would parse: not a variable, string, parameter or expression.
fn needs_quoting(word: &str) -> bool {
    let bare = !word.starts_with(['$', '"', '\'', '-', '(', '@', '[', '{', '&', '|', ';', '#']);
    bare && !word.contains(['"', '\'', '$', '`']) && word.bytes().any(|b| SPECIAL.contains(&b))
}

/// The line's bare arguments that need quoting, each put in single quotes:
/// the whole word, its value after `:` or `=` (`/ca:'…'`, `--filter='…'`),
/// each comma-separated element that needs it (`/i,'<path>',/quiet`), and
/// the whole rest of the line after its first word.
fn quoted_arguments(text: &str, line: std::ops::Range<usize>) -> Vec<String> {
    let words = words(text, line.clone());
    let mut out = Vec::new();
    let replace = |range: std::ops::Range<usize>, with: String| format!("{}{with}{}", &text[..range.start], &text[range.end..]);
    for word in words.iter().skip(1) {
        if out.len() >= MAX_IDIOM_EDITS {
            break;
        }
        let body = &text[word.clone()];
        if !needs_quoting(body) {
            continue;
        }
        out.push(replace(word.clone(), format!("'{body}'")));
        if let Some(split) = body.find([':', '=']).filter(|&i| i + 1 < body.len()) {
            let value = word.start + split + 1..word.end;
            out.push(replace(value.clone(), format!("'{}'", &text[value])));
        }
        if body.contains(',') {
            let elements: Vec<String> =
                body.split(',').map(|e| if needs_quoting(e) && !e.is_empty() { format!("'{e}'") } else { e.to_string() }).collect();
            out.push(replace(word.clone(), elements.join(",")));
        }
    }
    if let (Some(first), Some(last)) = (words.get(1), words.last()) {
        let rest = first.start..last.end;
        if words.len() > 2 && needs_quoting(&text[rest.clone()].replace([' ', '\t'], "")) {
            out.push(replace(rest.clone(), format!("'{}'", &text[rest])));
        }
    }
    out
}

/// The stop-parsing token `--%` after each of a native command line's
/// leading bare words (`gcloud --% container …`, `az storage blob show --%
/// --name …`), where the rest of the line holds a character PowerShell would
/// parse: what follows it goes to the program as written.
fn stop_parsing(text: &str, line: std::ops::Range<usize>) -> Vec<String> {
    let words = words(text, line);
    let Some(head) = words.first() else { return Vec::new() };
    let head_text = &text[head.clone()];
    let rest_special = words.iter().skip(1).any(|w| needs_quoting(&text[w.clone()]));
    // a cmdlet (`Verb-Noun`) binds its parameters itself; only programs take `--%`
    let program = head_text.bytes().all(|b| b.is_ascii_alphanumeric() || b"._".contains(&b));
    if !rest_special || !program {
        return Vec::new();
    }
    words
        .iter()
        .take_while(|w| !text[w.start..].starts_with('-'))
        .take(4)
        .filter(|w| text[(*w).clone()].bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)))
        .map(|w| format!("{} --%{}", &text[..w.end], &text[w.end..]))
        .collect()
}

/// For each line whose double-quoted string holds unescaped double quotes
/// (`"<p style="color:red">"`), the line with those inner quotes escaped by
/// backticks, the line's first and last double quote kept as the string's.
fn escaped_inner_quotes(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    for line in lines(text) {
        if out.len() >= MAX_IDIOM_EDITS {
            break;
        }
        let quotes: Vec<usize> = (line.start..line.end).filter(|&i| bytes[i] == b'"' && (i == 0 || bytes[i - 1] != b'`')).collect();
        if quotes.len() < 4 || quotes.len() % 2 == 1 {
            continue;
        }
        let inner = &quotes[1..quotes.len() - 1];
        let mut edited = String::with_capacity(text.len() + inner.len());
        let mut from = 0;
        for &q in inner {
            edited.push_str(&text[from..q]);
            edited.push('`');
            from = q;
        }
        edited.push_str(&text[from..]);
        out.push(edited);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LangId;

    fn proposes(broken: &str, fix: &str) {
        let edits = idiom_edits(broken);
        assert!(edits.iter().any(|e| e == fix), "{broken}: {fix} not among {edits:#?}");
        assert!(edits.len() <= MAX_IDIOM_EDITS && !edits.iter().any(|e| e == broken));
    }

    #[test]
    fn real_mistakes_get_the_fix_the_shell_documents() {
        // items of the repair benchmark (corpora/benchmarks/repair/powershell.json)
        proposes(r#""C:\path\ffmpeg.exe" -i stuff.mp3 stuff.wav"#, r#"& "C:\path\ffmpeg.exe" -i stuff.mp3 stuff.wav"#);
        proposes(
            r#"systeminfo | $env:SystemRoot\system32\find.exe "System Type""#,
            r#"systeminfo | & $env:SystemRoot\system32\find.exe "System Type""#,
        );
        proposes(
            "wevtutil sl security /ca:O:BAG:SYD:(A;;0xf0005;;;SY)(A;;0x5;;;BA)",
            "wevtutil sl security /ca:'O:BAG:SYD:(A;;0xf0005;;;SY)(A;;0x5;;;BA)'",
        );
        proposes(
            "Start-Process -FilePath msiexec -ArgumentList /i,<path>,/quiet -PassThru -Wait",
            "Start-Process -FilePath msiexec -ArgumentList /i,'<path>',/quiet -PassThru -Wait",
        );
        proposes("a foo(foo; bar) foo/bar ver1.0", "a 'foo(foo; bar) foo/bar ver1.0'");
        proposes(
            "az storage blob show --container-name <container name> --name training.txt",
            "az storage blob show --% --container-name <container name> --name training.txt",
        );
        proposes(
            r#"[void]$mailBody.add("<p style="color:#FF0000";>Error ($Username) </p> `r`n")"#,
            r#"[void]$mailBody.add("<p style=`"color:#FF0000`";>Error ($Username) </p> `r`n")"#,
        );
        proposes("Get-Process | ForEach-Object { $_.Name", "Get-Process | ForEach-Object { $_.Name }");
        proposes("Get-ChildItem -Path C:\\temp\n  -Recurse", "Get-ChildItem -Path C:\\temp `\n  -Recurse");
    }

    #[test]
    fn escapes_before_wide_characters_stay_on_character_boundaries() {
        // and a carriage return is a blank between words (a fuzz case that looped)
        for text in ["a `é(b;c)", "x `€", "wevtutil /ca:`ü(A;;SY) `", "\"a`ü\" \"b\" `", "function T\"\\SubTasks\"esa\rseCandidate"] {
            let _ = idiom_edits(text);
        }
    }

    #[test]
    fn correct_commands_get_few_proposals_and_the_checker_refuses_most() {
        let ps = LangId::Powershell.language();
        for text in ["Get-ChildItem -Path C:\\temp -Recurse", "$x = 1", "Write-Host \"done\"", "& \"C:\\tools\\setup.exe\" /s"] {
            assert!(idiom_edits(text).is_empty(), "{text}: {:?}", idiom_edits(text));
        }
        // every proposal of a benchmark item is a new snippet; some parse
        let broken = r#""C:\Program Files\VeraCrypt\VeraCrypt Format-x86.exe" /create "C:\test file.hc" /hash sha512"#;
        let accepted: Vec<String> = idiom_edits(broken).into_iter().filter(|e| ps.check(e).is_ok()).collect();
        assert!(accepted.iter().any(|e| e.starts_with("& ")), "{accepted:?}");
    }
}
