//! Reading raw snippets from the configured sources, in a deterministic order
//! and in bounded chunks (a line file is never read whole; a source tree is
//! read a few dozen files at a time).

use super::config::SourceConfig;
use super::drop::DropReason;
use crate::dataset::select_field;
use crate::lang::Language;
use rayon::prelude::*;
use serde_json::Value;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// Lines per chunk of a line file.
const LINES_PER_CHUNK: usize = 8192;
/// Files per chunk of a source tree.
const FILES_PER_CHUNK: usize = 32;

/// A problem with the input, located at `path:line`, reported and counted while
/// the run goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file, as named in the report.
    pub path: String,
    /// 1-based line, when known.
    pub line: Option<u64>,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.path, line, self.reason),
            None => write!(f, "{}: {}", self.path, self.reason),
        }
    }
}

/// A snippet as read, before normalisation and filtering.
#[derive(Debug, Clone)]
pub struct RawSnippet {
    /// The text, or why it could not be read as text.
    pub text: Result<String, DropReason>,
    /// The file it came from, relative to the mining root.
    pub source: String,
    /// 1-based line (record index for JSON).
    pub line: u32,
}

/// What a chunk of reading produced.
#[derive(Debug, Default)]
pub struct Chunk {
    /// Snippets in source order.
    pub snippets: Vec<RawSnippet>,
    /// Problems met (missing files, broken JSON, unparsable source files).
    pub diagnostics: Vec<Diagnostic>,
    /// Source files read in this chunk.
    pub files_read: u64,
    /// Source files that did not parse as a whole.
    pub files_unparsable: u64,
    /// Bytes of input consumed.
    pub bytes: u64,
}

/// Relative display name of `path`.
pub(crate) fn display_path(path: &Path, root: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).to_string_lossy().replace('\\', "/")
}

/// Total bytes of the files a source will read (for progress bars).
pub fn source_bytes(source: &SourceConfig, root: &Path) -> u64 {
    source_files(source, root).map(|files| files.iter().filter_map(|f| f.metadata().ok()).map(|m| m.len()).sum()).unwrap_or(0)
}

/// The files a source reads, sorted by path.
fn source_files(source: &SourceConfig, root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let path = root.join(source.path());
    let extensions: Vec<String> = match source {
        SourceConfig::Lines { .. } => return Ok(vec![path]),
        SourceConfig::Json { .. } => vec!["json".into()],
        SourceConfig::SourceTree { extensions, .. } => extensions.clone(),
        SourceConfig::Markdown { .. } => vec!["md".into()],
    };
    if path.is_file() {
        return Ok(vec![path]);
    }
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(&path).sort_by_file_name() {
        let entry = entry.map_err(std::io::Error::other)?;
        let matches = entry.path().extension().is_some_and(|e| extensions.iter().any(|x| e.eq_ignore_ascii_case(x.as_str())));
        if entry.file_type().is_file() && matches {
            files.push(entry.into_path());
        }
    }
    Ok(files)
}

/// Reads one source, calling `sink` with each chunk in order.
pub fn read_source(source: &SourceConfig, root: &Path, lang: &dyn Language, max_chars: usize, sink: &mut dyn FnMut(Chunk)) {
    let shown = display_path(&root.join(source.path()), root);
    let files = match source_files(source, root) {
        Ok(files) if !files.is_empty() => files,
        Ok(_) => return sink(diagnostic_chunk(&shown, None, "no matching files")),
        Err(e) => return sink(diagnostic_chunk(&shown, None, &e.to_string())),
    };
    match source {
        SourceConfig::Lines { strip_quotes, prefix, .. } => read_lines(&files[0], root, *strip_quotes, prefix, sink),
        SourceConfig::Json { field, .. } => {
            for file in &files {
                sink(read_json(file, root, field));
            }
        }
        SourceConfig::SourceTree { .. } | SourceConfig::Markdown { .. } => {
            let fences = match source {
                SourceConfig::Markdown { fences, untagged, .. } => Some(FenceFilter { info: fences.as_slice(), untagged: *untagged }),
                _ => None,
            };
            for group in files.chunks(FILES_PER_CHUNK) {
                let chunks: Vec<Chunk> = group.par_iter().map(|file| read_source_file(file, root, lang, max_chars, fences)).collect();
                let mut merged = Chunk::default();
                for chunk in chunks {
                    merged.snippets.extend(chunk.snippets);
                    merged.diagnostics.extend(chunk.diagnostics);
                    merged.files_read += chunk.files_read;
                    merged.files_unparsable += chunk.files_unparsable;
                    merged.bytes += chunk.bytes;
                }
                sink(merged);
            }
        }
    }
}

fn diagnostic_chunk(path: &str, line: Option<u64>, reason: &str) -> Chunk {
    Chunk { diagnostics: vec![Diagnostic { path: path.into(), line, reason: reason.into() }], ..Chunk::default() }
}

fn read_lines(path: &Path, root: &Path, strip_quotes: bool, prefix: &str, sink: &mut dyn FnMut(Chunk)) {
    let shown = display_path(path, root);
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return sink(diagnostic_chunk(&shown, None, &e.to_string())),
    };
    let mut reader = BufReader::new(file);
    let mut chunk = Chunk { files_read: 1, ..Chunk::default() };
    let mut line_no = 0u32;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(n) => chunk.bytes += n as u64,
            Err(e) => {
                chunk.diagnostics.push(Diagnostic { path: shown.clone(), line: Some(line_no as u64 + 1), reason: e.to_string() });
                break;
            }
        }
        line_no += 1;
        let text = match std::str::from_utf8(&buf) {
            Ok(line) => {
                let line = line.strip_suffix('\n').unwrap_or(line);
                let line = line.strip_suffix('\r').unwrap_or(line);
                let line = if strip_quotes { unquote_csv(line) } else { line.into() };
                Ok(format!("{prefix}{line}"))
            }
            Err(e) => {
                chunk.diagnostics.push(Diagnostic {
                    path: shown.clone(),
                    line: Some(line_no as u64),
                    reason: format!("invalid UTF-8 at byte {}", e.valid_up_to()),
                });
                Err(DropReason::InvalidUtf8)
            }
        };
        chunk.snippets.push(RawSnippet { text, source: shown.clone(), line: line_no });
        if chunk.snippets.len() == LINES_PER_CHUNK {
            sink(std::mem::take(&mut chunk));
        }
    }
    sink(chunk);
}

/// A CSV-quoted field: `"COUNTIF(A:A,"">0"")"` → `COUNTIF(A:A,">0")`. A line
/// that is not wrapped in quotes is returned as it is.
pub fn unquote_csv(line: &str) -> std::borrow::Cow<'_, str> {
    if line.len() >= 2 && line.starts_with('"') && line.ends_with('"') {
        line[1..line.len() - 1].replace("\"\"", "\"").into()
    } else {
        line.into()
    }
}

/// Reads a whole source file: its display name, a chunk that counts it, and
/// its bytes; or a chunk that reports why it could not be read.
fn read_whole(path: &Path, root: &Path) -> Result<(String, Chunk, Vec<u8>), Chunk> {
    let shown = display_path(path, root);
    match std::fs::read(path) {
        Ok(bytes) => {
            let chunk = Chunk { files_read: 1, bytes: bytes.len() as u64, ..Chunk::default() };
            Ok((shown, chunk, bytes))
        }
        Err(e) => Err(diagnostic_chunk(&shown, None, &e.to_string())),
    }
}

fn read_json(path: &Path, root: &Path, field: &str) -> Chunk {
    let (shown, mut chunk, bytes) = match read_whole(path, root) {
        Ok(read) => read,
        Err(failed) => return failed,
    };
    let value: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            chunk.diagnostics.push(Diagnostic { path: shown, line: Some(e.line() as u64), reason: format!("invalid JSON: {e}") });
            return chunk;
        }
    };
    for (index, found) in select_field(&value, field).into_iter().enumerate() {
        match found {
            Value::String(s) => chunk.snippets.push(RawSnippet { text: Ok(s.clone()), source: shown.clone(), line: index as u32 + 1 }),
            other => chunk.diagnostics.push(Diagnostic {
                path: shown.clone(),
                line: None,
                reason: format!("record {}: field `{field}` is {}, not a string", index + 1, json_kind(other)),
            }),
        }
    }
    chunk
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn read_source_file(path: &Path, root: &Path, lang: &dyn Language, max_chars: usize, fences: Option<FenceFilter<'_>>) -> Chunk {
    let (shown, mut chunk, bytes) = match read_whole(path, root) {
        Ok(read) => read,
        Err(failed) => return failed,
    };
    let text = match String::from_utf8(bytes) {
        Ok(t) => t.replace("\r\n", "\n"),
        Err(e) => {
            chunk.diagnostics.push(Diagnostic {
                path: shown.clone(),
                line: None,
                reason: format!("invalid UTF-8 at byte {}", e.utf8_error().valid_up_to()),
            });
            chunk.snippets.push(RawSnippet { text: Err(DropReason::InvalidUtf8), source: shown, line: 1 });
            return chunk;
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let blocks: Vec<(usize, std::borrow::Cow<'_, str>)> = match fences {
        Some(filter) => fenced_blocks(text, filter).into_iter().flat_map(|fence| code_of_fence(fence, lang)).collect(),
        None => vec![(0, text.into())],
    };
    for (first_line, block) in blocks {
        let block = block.as_ref();
        match lang.split_source(block, max_chars) {
            Ok(units) => {
                for unit in units {
                    let line = first_line + block[..unit.start].matches('\n').count() + 1;
                    // a unit cut from inside a definition (a method) keeps its indentation in
                    // the file; dedented, it stands alone
                    let text = crate::dataset::dedent(&block[unit]).into_owned();
                    chunk.snippets.push(RawSnippet { text: Ok(text), source: shown.clone(), line: line as u32 });
                }
            }
            Err(e) => {
                chunk.files_unparsable += 1;
                chunk.diagnostics.push(Diagnostic {
                    path: shown.clone(),
                    line: Some((first_line + e.line) as u64),
                    reason: format!("does not parse, skipped: {}", e.message),
                });
            }
        }
    }
    chunk
}

/// Which fenced blocks of a Markdown file are read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FenceFilter<'a> {
    /// Info strings taken, case-insensitive.
    pub info: &'a [String],
    /// Fences without an info string are taken too (see [`code_of_fence`]).
    pub untagged: bool,
}

/// One fenced block of a Markdown file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fence<'a> {
    /// Lines of the file before the block's first line.
    pub first_line: usize,
    /// The block's text, fences excluded.
    pub text: &'a str,
    /// Whether the fence named one of the wanted info strings.
    pub tagged: bool,
}

/// The fenced code blocks `filter` takes, in file order.
pub(crate) fn fenced_blocks<'a>(text: &'a str, filter: FenceFilter<'_>) -> Vec<Fence<'a>> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, Option<bool>, usize, usize)> = None; // (fence, taken (tagged?), first line, byte start)
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let trimmed = line.trim();
        match &open {
            None => {
                let fence: String = trimmed.chars().take_while(|&c| c == '`' || c == '~').collect();
                if fence.len() >= 3 && fence.chars().all(|c| c == fence.chars().next().unwrap()) {
                    let info = trimmed[fence.len()..].split_whitespace().next().unwrap_or("");
                    let taken = if filter.info.iter().any(|f| f.eq_ignore_ascii_case(info)) {
                        Some(true)
                    } else if info.is_empty() && filter.untagged {
                        Some(false)
                    } else {
                        None
                    };
                    open = Some((fence, taken, index + 1, offset + line.len()));
                }
            }
            Some((fence, taken, first, start)) => {
                if trimmed.starts_with(fence.as_str()) && trimmed.chars().all(|c| c == fence.chars().next().unwrap()) {
                    if let Some(tagged) = *taken {
                        blocks.push(Fence { first_line: *first, text: &text[*start..offset], tagged });
                    }
                    open = None;
                }
            }
        }
        offset += line.len();
    }
    blocks
}

/// The code a fenced block holds, as (lines before it in the file, text): a
/// console transcript gives its commands, prompts and printed output removed; an
/// untagged block that is no transcript is taken only when the strict check
/// passes it whole, so a cmdlet's syntax summary or a table it printed is not
/// mined as code.
pub(crate) fn code_of_fence<'a>(fence: Fence<'a>, lang: &dyn Language) -> Vec<(usize, std::borrow::Cow<'a, str>)> {
    match lang.transcript_commands(fence.text) {
        Some(commands) => commands.into_iter().map(|(line, command)| (fence.first_line + line, command.into())).collect(),
        None if fence.tagged || lang.check(fence.text).is_ok() => vec![(fence.first_line, fence.text.into())],
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_wanted_fences_with_line_numbers() {
        let md = "# T\n\n```powershell\nGet-Item x\n```\n\n```output\nno\n```\n~~~PowerShell\n$a = 1\n~~~\n```\nGet-Item y\n```\n";
        let info = ["powershell".to_string()];
        let tagged = |first_line, text| Fence { first_line, text, tagged: true };
        let blocks = fenced_blocks(md, FenceFilter { info: &info, untagged: false });
        assert_eq!(blocks, vec![tagged(3, "Get-Item x\n"), tagged(10, "$a = 1\n")]);
        let blocks = fenced_blocks(md, FenceFilter { info: &info, untagged: true });
        assert_eq!(blocks.len(), 3);
        assert_eq!(blocks[2], Fence { first_line: 13, text: "Get-Item y\n", tagged: false });
    }

    /// The syntax and example sections of a real reference page (Windows Server
    /// docs, `NFS/Get-NfsClientgroup.md`, MicrosoftDocs/windows-powershell-docs,
    /// code MIT): untagged fences throughout, the example written as a console transcript.
    const NFS_PAGE: &str = "## SYNTAX

### ByName (Default)
```
Get-NfsClientgroup [[-ClientGroupName] <String[]>] [-ExcludeName <String[]>] [-CimSession <CimSession[]>]
 [-ThrottleLimit <Int32>] [-AsJob] [<CommonParameters>]
```

## EXAMPLES

### Example 1: Get client groups by using a name
```
PS C:\\> Get-NfsClientgroup -ClientGroupName \"ClientGroup*\"

ClientGroupMembers : {contoso-fs2}
ClientGroupName    : clientgroupA

ClientGroupMembers : {contoso-fs1}
ClientGroupName    : clientgroupB
```
";

    #[test]
    fn mines_the_command_of_a_documented_transcript_and_not_the_syntax_summary() {
        let lang = crate::lang::LangId::Powershell.language();
        let info = ["powershell".to_string()];
        let code: Vec<(usize, String)> = fenced_blocks(NFS_PAGE, FenceFilter { info: &info, untagged: true })
            .into_iter()
            .flat_map(|fence| code_of_fence(fence, lang))
            .map(|(line, text)| (line, text.into_owned()))
            .collect();
        assert_eq!(code, vec![(12, "Get-NfsClientgroup -ClientGroupName \"ClientGroup*\"".to_string())]);
        // without `untagged`, the page gives nothing
        assert!(fenced_blocks(NFS_PAGE, FenceFilter { info: &info, untagged: false }).is_empty());
    }

    #[test]
    fn unquotes_csv_fields() {
        assert_eq!(unquote_csv("\"SUM(A1)\""), "SUM(A1)");
        assert_eq!(unquote_csv("\"IF(A1=\"\"\"\",\"\"x\"\")\""), "IF(A1=\"\",\"x\")");
        assert_eq!(unquote_csv("\"a"), "\"a");
    }
}
