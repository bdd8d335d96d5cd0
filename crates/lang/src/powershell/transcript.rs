//! PowerShell console transcripts: documentation writes many examples as typed
//! at the console, each command after a prompt (`PS C:\> Get-Item x`,
//! `PS>`, `[Server01]: PS C:\Users\me>`) followed by what it printed. Only the
//! commands are code: the prompts come off, continuation lines (`>> `, or lines
//! the command still needs to parse) stay with their command, printed output goes.

/// Where the command starts in a line that begins with a prompt, or `None`.
fn after_prompt(line: &str) -> Option<usize> {
    let indent = line.len() - line.trim_start().len();
    let mut rest = &line[indent..];
    // the prompt of a remote computer carries its name in brackets first
    if rest.starts_with('[') {
        let close = rest.find("]: ")?;
        rest = &rest[close + 3..];
    }
    let after_ps = rest.strip_prefix("PS")?;
    let end = if let Some(tail) = after_ps.strip_prefix('>') {
        tail
    } else {
        let path = after_ps.strip_prefix(' ')?;
        let close = path.find('>')?;
        let location = &path[..close];
        // a location, not a command that happens to start with `PS ` (`PS > out.txt`)
        let looks_like_location = !location.is_empty()
            && location.len() <= 200
            && location.contains([':', '\\', '/', '~'])
            && !location.contains(['|', '"', '\'', '$', '(', ')', '{', '}', ';']);
        if !looks_like_location {
            return None;
        }
        &path[close + 1..]
    };
    let start = line.len() - end.len();
    Some(start + (end.len() - end.trim_start().len()))
}

/// Where the text starts in a continuation line (`>> `), or `None`.
fn after_continuation(line: &str) -> Option<usize> {
    let trimmed = line.trim_start();
    let rest = trimmed.strip_prefix(">>")?;
    if !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    Some(line.len() - rest.trim_start().len())
}

/// The commands of a transcript, each with the 0-based line of `block` it
/// starts on; `None` when no line of `block` starts with a prompt. A command
/// takes the lines after its prompt while they continue it: `>> ` lines always,
/// other non-blank lines while the command so far does not parse (`parses`).
pub(crate) fn transcript_commands(block: &str, parses: impl Fn(&str) -> bool) -> Option<Vec<(usize, String)>> {
    let lines: Vec<&str> = block.lines().collect();
    if !lines.iter().any(|line| after_prompt(line).is_some()) {
        return None;
    }
    let mut commands = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let Some(start) = after_prompt(lines[index]) else {
            index += 1; // printed output
            continue;
        };
        let first = index;
        let mut command = lines[index][start..].trim_end().to_string();
        index += 1;
        while index < lines.len() && after_prompt(lines[index]).is_none() {
            let line = lines[index];
            if let Some(start) = after_continuation(line) {
                command.push('\n');
                command.push_str(line[start..].trim_end());
            } else if line.trim().is_empty() || parses(&command) {
                break;
            } else {
                command.push('\n');
                command.push_str(line.trim_end());
            }
            index += 1;
        }
        if !command.trim().is_empty() {
            commands.push((first, command));
        }
    }
    Some(commands)
}

/// Whether `statement` is a line PowerShell prints for an object's property
/// (`Format-List`: `LastUpdated      : 5/2/2019 5:06:38 PM`). It parses, as a
/// command named after the property given a lone `:`, but no script writes it:
/// documentation examples that mix code and printed output do.
pub(crate) fn is_printed_property(statement: &str) -> bool {
    let first = statement.lines().next().unwrap_or("");
    let name_end = first.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.')).unwrap_or(first.len());
    let rest = &first[name_end..];
    let spaced = rest.trim_start();
    name_end > 0
        && first.chars().next().is_some_and(char::is_alphabetic)
        && spaced.len() < rest.len()
        && (spaced == ":" || spaced.starts_with(": "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::powershell::PowerShell;
    use crate::Language;

    fn commands(block: &str) -> Option<Vec<(usize, String)>> {
        transcript_commands(block, |text| PowerShell.check(text).is_ok())
    }

    #[test]
    fn recognises_prompts() {
        assert_eq!(after_prompt("PS C:\\> Get-Item x"), Some(8));
        assert_eq!(after_prompt("PS C:\\>Get-NetRoute"), Some(7));
        assert_eq!(after_prompt("PS> Get-Item x"), Some(4));
        assert_eq!(after_prompt("  PS C:\\Program Files\\x> dir"), Some(25));
        assert_eq!(after_prompt("PS /home/me> ls"), Some(13));
        assert_eq!(after_prompt("[Server01]: PS C:\\> hostname"), Some(20));
        assert_eq!(after_prompt("PSVersion 7.4"), None);
        assert_eq!(after_prompt("PS > out.txt"), None);
        assert_eq!(after_prompt("Get-Item PS>"), None);
    }

    /// An example block of the Windows Server docs (NFS module, `Get-NfsClientgroup`):
    /// the command, then a table the command printed.
    #[test]
    fn keeps_the_command_and_drops_printed_output() {
        let block = "PS C:\\> Get-NfsClientgroup -ClientGroupName \"ClientGroup*\"\n\nClientGroupMembers : {contoso-fs2}\nClientGroupName    : clientgroupA\n";
        assert_eq!(commands(block), Some(vec![(0, "Get-NfsClientgroup -ClientGroupName \"ClientGroup*\"".to_string())]));
    }

    #[test]
    fn keeps_continuation_lines_with_their_command() {
        let block = "PS C:\\> Get-Process |\n    Where-Object { $_.CPU -gt 10 }\nHandles  NPM(K)\n-------  ------\nPS C:\\> $a = @(\n>> 1, 2\n>> )\n";
        assert_eq!(
            commands(block),
            Some(vec![(0, "Get-Process |\n    Where-Object { $_.CPU -gt 10 }".to_string()), (4, "$a = @(\n1, 2\n)".to_string()),])
        );
    }

    #[test]
    fn tells_printed_properties_from_code() {
        assert!(is_printed_property("LastUpdated      : 5/2/2019 5:06:38 PM"));
        assert!(is_printed_property("Error            :"));
        assert!(!is_printed_property("Get-Item x"));
        assert!(!is_printed_property("$a = @{ b = 1 }"));
        assert!(!is_printed_property(":outer foreach ($x in $y) { break outer }"));
        assert!(!is_printed_property("Copy-Item a:b"));
    }

    #[test]
    fn a_block_without_prompts_is_no_transcript() {
        assert_eq!(commands("Get-Item x\nRemove-Item y\n"), None);
    }
}
