//! Where real PowerShell mistakes sit when the parser points elsewhere, or
//! nowhere: the places a repairer opens windows besides the checker's error.
//!
//! Two shapes of the repair benchmark's mistakes are far from the parser's
//! error. A native command run by a quoted path or a variable needs the call
//! operator (`"C:\Program Files\x.exe" /s` is a string followed by a stray
//! token; PowerShell wants `& "C:\Program Files\x.exe" /s`): the parser stops
//! at the first argument, the fix goes before the command's head, and a head
//! without arguments (`"C:\tools\setup.exe"`) even parses. A command continued
//! on the next line needs a backtick at the end of the line; without it the
//! next line's `-Parameter` is a new, valid-looking command. A block or
//! group left open is reported where it opens, while its closer belongs at
//! the end.

/// File extensions of programs and scripts a quoted or bare path may name.
const PROGRAM_EXTENSIONS: &[&str] = &[".exe", ".bat", ".cmd", ".ps1", ".com", ".msi"];

/// One place where a PowerShell mistake the parser does not point at sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Site {
    /// The head of a command that is a quoted string, a variable or a program
    /// path given arguments, or a string or path naming a program on its own:
    /// the call operator goes at `at`.
    CommandHead { at: usize },
    /// The end of a line whose next line starts with a `-Parameter`: the
    /// line continuation (a backtick) goes at `at`.
    LineEnd { at: usize },
    /// The end of the text, with brackets left open: their closers go there.
    TextEnd,
}

impl Site {
    /// The byte offset of the site in its text (`len` for [`Site::TextEnd`]).
    pub(crate) fn offset(self, len: usize) -> usize {
        match self {
            Site::CommandHead { at } | Site::LineEnd { at } => at,
            Site::TextEnd => len,
        }
    }
}

/// Byte offsets of `text` where a missing call operator or line continuation
/// would go, in order: the head of every command that is a quoted string, a
/// variable or a program path followed by arguments (or a string or path that
/// names a program on its own), the end of every line whose next line
/// starts with a `-Parameter`, and the end of the text when a `{`, `(` or `[`
/// is left open (the parser reports an unclosed block where it opens, often
/// the first character, while the missing closer goes at the end).
pub(crate) fn repair_sites(text: &str) -> Vec<usize> {
    scan(text).sites.into_iter().map(|site| site.offset(text.len())).collect()
}

/// What one scan of a snippet finds: its [`Site`]s in order, and the
/// brackets left open at its end, innermost last.
pub(crate) struct Scan {
    pub(crate) sites: Vec<Site>,
    pub(crate) open: Vec<u8>,
}

/// The [`Site`]s of `text` and its unclosed brackets.
///
/// A character scan, not the grammar: these are the inputs the parser
/// recovers from badly (the tree of `"C:\x.exe" /s "a b"` splits the second
/// string into bare words), and the scan only needs quotes, command
/// separators and line ends.
pub(crate) fn scan(text: &str) -> Scan {
    let bytes = text.as_bytes();
    let mut sites = Vec::new();
    let mut at = 0;
    let mut command_start = true;
    let mut open: Vec<u8> = Vec::new();
    while at < bytes.len() {
        if command_start {
            let head = skip_blanks(bytes, at);
            if head < bytes.len() && bytes[head] != b'\n' {
                if let Some(end) = head_end(bytes, head) {
                    if is_uninvoked_head(&text[head..end], argument_follows(bytes, end)) {
                        sites.push(Site::CommandHead { at: head });
                    }
                }
            }
            command_start = false;
        }
        match bytes[at] {
            quote @ (b'"' | b'\'') => at = string_end(bytes, at, quote),
            b'`' => at += 2, // an escaped character, a continued line included
            // a block comment, up to its `#>`
            b'<' if bytes.get(at + 1) == Some(&b'#') => at = find(bytes, at + 2, b"#>").map_or(bytes.len(), |end| end + 2),
            b'#' if at == 0 || bytes[at - 1].is_ascii_whitespace() || bytes[at - 1] == b';' => {
                at = find(bytes, at, b"\n").unwrap_or(bytes.len()); // a comment, up to its line end
            }
            b'\n' => {
                let next = skip_blanks(bytes, at + 1);
                if is_parameter(&bytes[next..]) {
                    sites.push(Site::LineEnd { at });
                }
                command_start = true;
                at += 1;
            }
            opener @ (b'{' | b'(') => {
                open.push(opener);
                command_start = true;
                at += 1;
            }
            b'[' => {
                open.push(b'[');
                at += 1;
            }
            b'}' | b')' | b']' => {
                open.pop();
                at += 1;
            }
            b';' | b'|' => {
                command_start = true;
                at += 1;
            }
            b'&' if bytes.get(at + 1) == Some(&b'&') => {
                command_start = true;
                at += 2;
            }
            _ => at += 1,
        }
    }
    if !open.is_empty() {
        sites.push(Site::TextEnd);
    }
    Scan { sites, open }
}

/// Whether a command head reads as a program or script PowerShell will not run
/// without `&`: a quoted string or variable given arguments, or a quoted string
/// or path that names a program.
fn is_uninvoked_head(head: &str, has_arguments: bool) -> bool {
    let quoted = head.starts_with(['"', '\'']);
    let variable = head.starts_with('$');
    let bare = head.trim_matches(['"', '\'']).to_ascii_lowercase();
    let names_program = PROGRAM_EXTENSIONS.iter().any(|ext| bare.ends_with(ext)) && (quoted || bare.contains(['\\', '/']));
    (quoted || variable) && has_arguments || names_program
}

/// The end of the command head starting at `at`: a whole quoted string, or a
/// run of characters up to a blank or a command separator; `None` where the
/// command is already invoked (`& x`, `&x`, `. x`) or starts with a bracket,
/// `@`, a comment or a separator, which head no program.
fn head_end(bytes: &[u8], at: usize) -> Option<usize> {
    match bytes[at] {
        quote @ (b'"' | b'\'') => Some(string_end(bytes, at, quote)),
        b'.' if bytes.get(at + 1).is_some_and(|b| b.is_ascii_whitespace()) => None,
        b'(' | b')' | b'{' | b'}' | b'[' | b']' | b'@' | b'#' | b';' | b'|' | b'&' => None,
        _ => Some(at + bytes[at..].iter().position(|b| b.is_ascii_whitespace() || b";|(){}".contains(b)).unwrap_or(bytes.len() - at)),
    }
}

/// The position after the string whose opening quote is at `at`: a double
/// quote is escaped by a backtick or doubled, a single quote only doubled;
/// an unterminated string runs to the end.
pub(crate) fn string_end(bytes: &[u8], at: usize, quote: u8) -> usize {
    let mut i = at + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'`' if quote == b'"' => i += 2,
            b if b == quote && bytes.get(i + 1) == Some(&quote) => i += 2,
            b if b == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The first position from `at` where `needle` starts.
fn find(bytes: &[u8], at: usize, needle: &[u8]) -> Option<usize> {
    bytes.get(at..)?.windows(needle.len()).position(|w| w == needle).map(|p| at + p)
}

/// The first position from `at` that is not a space or tab.
fn skip_blanks(bytes: &[u8], mut at: usize) -> usize {
    while at < bytes.len() && matches!(bytes[at], b' ' | b'\t') {
        at += 1;
    }
    at
}

/// Whether the head ending at `end` is followed, on its line, by something
/// that reads as an argument (`/s`, `--flag`, `-Name`, a word, a string, a
/// variable, a path) rather than the rest of an expression (`= 1`, `+= 'a'`,
/// `-f $n`, `-eq $b`, `.Count`, `[0]`).
fn argument_follows(bytes: &[u8], end: usize) -> bool {
    let next = skip_blanks(bytes, end);
    if next == end {
        return false; // `$a.Count`, `"a"+"b"`: the head goes on
    }
    match bytes.get(next) {
        None | Some(b'\n' | b'\r' | b';' | b'|' | b')' | b'}' | b'=' | b'+' | b'*' | b'%' | b'[' | b'#') => false,
        Some(b'-') => bytes.get(next + 1) == Some(&b'-') || is_parameter(&bytes[next..]),
        Some(_) => true,
    }
}

/// PowerShell's operators written as a dash and a word (`about_Operators`),
/// without their `c`/`i` case prefixes.
const DASH_OPERATORS: &[&str] = &[
    "eq",
    "ne",
    "gt",
    "ge",
    "lt",
    "le",
    "like",
    "notlike",
    "match",
    "notmatch",
    "replace",
    "contains",
    "notcontains",
    "in",
    "notin",
    "split",
    "join",
    "and",
    "or",
    "xor",
    "not",
    "band",
    "bor",
    "bxor",
    "bnot",
    "shl",
    "shr",
    "is",
    "isnot",
    "as",
    "f",
];

/// Whether `bytes` starts with a `-Parameter` (`-Recurse`, `-p` of a native
/// program) rather than an operator such as `-eq`, `-f` or `-and`.
fn is_parameter(bytes: &[u8]) -> bool {
    if bytes.first() != Some(&b'-') {
        return false;
    }
    let word: Vec<u8> = bytes[1..].iter().take_while(|b| b.is_ascii_alphanumeric()).map(u8::to_ascii_lowercase).collect();
    let Ok(word) = std::str::from_utf8(&word) else { return false };
    let unprefixed = word.strip_prefix(['c', 'i']).filter(|w| DASH_OPERATORS.contains(w)).unwrap_or(word);
    !word.is_empty() && word.as_bytes()[0].is_ascii_alphabetic() && !DASH_OPERATORS.contains(&unprefixed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sites(text: &str) -> Vec<&str> {
        repair_sites(text).into_iter().map(|at| &text[at..]).collect()
    }

    #[test]
    fn a_program_run_without_the_call_operator_gets_a_site_at_its_head() {
        let text = r#""C:\Program Files\VeraCrypt\VeraCrypt Format-x86.exe" /create "C:\test veracrypt file.hc""#;
        assert_eq!(sites(text), [text], "the fix is `& ` before the quoted path, far from the parser's error");
        let text = r#"systeminfo | "$env:SystemRoot\system32\find.exe" "System Type""#;
        assert_eq!(sites(text), [r#""$env:SystemRoot\system32\find.exe" "System Type""#], "a pipeline's second command");
        assert_eq!(sites(r#""C:\backup.py" -p "secret""#).len(), 1, "a native program's lower-case flag is an argument");
        assert_eq!(sites(r#""C:\path\ffmpeg.exe""#).len(), 1, "a quoted program alone parses as a string and is still a site");
        let text = "function Test-Success ($cmdlet){ try{ $cmdlet \"Y\" } catch { } }";
        assert_eq!(sites(text), ["$cmdlet \"Y\" } catch { } }"], "a variable called with an argument");
    }

    #[test]
    fn expressions_and_invoked_commands_are_no_sites() {
        for text in [
            "$x = 1",
            "$list += 'a'",
            "\"{0} items\" -f $n",
            "$result.Count",
            "Get-ChildItem -Path C:\\temp",
            "& \"C:\\tools\\setup.exe\" /s",
            "$a -eq $b",
            "$a -cnotlike 'x*'",
            "'a,b' -split ','",
            "Write-Host \"done\"",
        ] {
            assert_eq!(sites(text), Vec::<&str>::new(), "{text}");
        }
    }

    #[test]
    fn a_line_continued_without_a_backtick_gets_a_site_at_its_end() {
        let text = "Get-ChildItem -Path C:\\temp\n  -Recurse\n| Select-Object Name";
        assert_eq!(repair_sites(text), [text.find('\n').unwrap()], "before `-Recurse`; a leading `|` continues a pipeline in PowerShell 7");
        assert!(sites("Get-ChildItem `\n  -Recurse").is_empty(), "continued with a backtick");
        assert!(sites("$a = 1\n$b = 2").is_empty(), "separate statements");
    }

    #[test]
    fn a_bracket_left_open_gets_a_site_at_the_end() {
        let text = "Get-Process | ForEach-Object { $_.Name";
        assert_eq!(repair_sites(text), [text.len()], "the missing `}}` goes at the end");
        assert_eq!(repair_sites("$a = @(1, 2"), [11]);
        assert!(repair_sites("if ($a) { 'x' }").is_empty(), "balanced");
        assert!(repair_sites("Write-Host '{ ('").is_empty(), "brackets inside a string do not count");
        assert!(repair_sites("$a = $b[0] }").is_empty(), "an extra closer is the parser's error, not a site");
        assert!(repair_sites("Get-Process # list them (all").is_empty(), "brackets inside a comment do not count");
        assert!(repair_sites("<# a (note #> Get-Process").is_empty(), "nor inside a block comment");
        assert!(repair_sites("Get-Process #(\n$a = @(1").contains(&23), "a comment ends at its line");
    }

    #[test]
    fn the_benchmarks_missing_call_operators_have_a_site_where_the_fix_goes() {
        let path = crate::repo_file("corpora/benchmarks/repair/powershell.json");
        let items: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let (mut missing, mut found, mut without) = (0, 0, Vec::new());
        for item in &items {
            let (broken, fixed) = (item["Buggy"].as_str().unwrap(), item["GroundTruth"].as_str().unwrap());
            // the fix starts by inserting the call operator where the two part
            let at = broken.bytes().zip(fixed.bytes()).take_while(|(a, b)| a == b).count();
            if fixed[at..].starts_with("& ") {
                missing += 1;
                match repair_sites(broken).contains(&at) {
                    true => found += 1,
                    false => without.push(broken),
                }
            }
        }
        assert!(missing >= 8, "{missing} items miss `& `");
        assert!(found >= 11, "{found} of {missing} have a site where the fix goes; without: {without:#?}");
    }
}
