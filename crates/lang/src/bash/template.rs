//! NL2Bash's template of a command line: its utilities and flags kept, every
//! argument value replaced by a placeholder, and the order of the flags forgotten.
//! Two commands with the same template do the same thing to possibly different
//! files, patterns or numbers; NL2Bash's evaluation scores "template match" this way
//! (Lin et al., 2018: arguments replaced by their semantic types, flag order
//! ignored).
//!
//! NL2Bash types each argument by the utility's man-page grammar (`File`, `Regex`,
//! `Timespan`, ...). The type follows from where the argument sits (which utility,
//! after which flag), so comparing argument positions with one placeholder agrees
//! with typed templates wherever the two commands attach their arguments to the
//! same flags. Without the man-page grammar this template does not know which flag
//! a value belongs to: it keeps the sorted flags and the values in order, so
//! `find . -name x -type f` and `find . -name -type x f` (which NL2Bash would not
//! parse) share one.
//!
//! The tree is tree-sitter-bash's; a command line that does not parse still has a
//! template (its error nodes kept as text), so a broken prediction matches nothing
//! it should not.

use tree_sitter::Node;

/// The placeholder of an argument value.
pub const ARG: &str = "ARG";

/// Utilities whose single-dash options are words (`find -name`, `java -jar`):
/// their `-abc` is one flag, where `ls -la` is `-l -a`.
const SINGLE_DASH_WORDS: &[&str] =
    &["find", "java", "gcc", "g++", "cc", "clang", "ffmpeg", "convert", "mogrify", "identify", "xmllint", "dig", "tcpdump", "qemu-img"];

/// `find`'s actions that run a command, up to `;` or `+`.
const FIND_EXEC: &[&str] = &["-exec", "-execdir", "-ok", "-okdir"];

/// Utilities that run the command written after their own options, with the
/// options of theirs that take a value as the next word.
const WRAPPERS: &[(&str, &[&str])] = &[
    ("xargs", &["-I", "-n", "-P", "-L", "-d", "-s", "-E", "-a", "--max-args", "--max-procs", "--delimiter", "--arg-file"]),
    ("sudo", &["-u", "-g", "-U", "-C", "-h", "-p", "-D"]),
    ("nice", &["-n"]),
    ("watch", &["-n", "-d"]),
    ("nohup", &[]),
    ("time", &[]),
    ("exec", &["-a"]),
    ("command", &[]),
    ("builtin", &[]),
    ("env", &["-u"]),
];

/// The template of a Bash command line, e.g. `find -name -type ARG ARG ARG` for
/// `find /tmp -type f -name "*.log"` (flags sorted, then the values) and `ls -a -l`
/// for `ls -la`.
/// A text longer than the checkers' bound (8 KiB; NL2Bash's commands are under
/// 300 bytes) is not parsed, as tree-sitter's error recovery can take time
/// quadratic in its length: its words are its template.
pub fn template(text: &str) -> String {
    if crate::too_long(text).is_some() {
        return text.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    // the walk recurses once per nesting level
    crate::with_deep_stack(text.len(), || {
        let tree = crate::tree_sitter_support::parse(&super::GRAMMAR, text);
        joined(tree.root_node(), text)
    })
}

/// The template of `node` and everything under it, as one string.
fn joined(node: Node, text: &str) -> String {
    let mut out = Vec::new();
    walk(node, text, &mut out);
    out.join(" ")
}

/// A word of a simple command as the template sees it.
#[derive(Debug, Clone)]
enum Word {
    /// A plain word, as written (a utility, a flag, `{}`, or a value).
    Plain(String),
    /// A quoted string, an expansion or another node that is only a value.
    Value,
    /// A command substitution, by its own template.
    Nested(String),
}

/// Node kinds whose text is one argument value.
const VALUE_KINDS: &[&str] = &[
    "string",
    "raw_string",
    "ansi_c_string",
    "translated_string",
    "number",
    "concatenation",
    "simple_expansion",
    "expansion",
    "arithmetic_expansion",
    "variable_name",
    "heredoc_body",
    "heredoc_start",
    "heredoc_end",
    "regex",
    "extglob_pattern",
    "brace_expression",
];

fn walk(node: Node, text: &str, out: &mut Vec<String>) {
    let kind = node.kind();
    if kind == "command" {
        out.push(command(node, text));
        return;
    }
    if !node.is_named() {
        out.push(node_text(node, text).to_string());
        return;
    }
    if kind == "word" || VALUE_KINDS.contains(&kind) {
        out.push(ARG.to_string());
        return;
    }
    if matches!(kind, "test_operator" | "file_descriptor") {
        out.push(node_text(node, text).to_string());
        return;
    }
    let mut cursor = node.walk();
    let children: Vec<Node> = node.children(&mut cursor).collect();
    if children.is_empty() {
        out.push(node_text(node, text).to_string());
    }
    for child in children {
        if child.kind() != "comment" {
            walk(child, text, out);
        }
    }
}

fn node_text<'a>(node: Node, text: &'a str) -> &'a str {
    &text[node.start_byte()..node.end_byte()]
}

/// The template of one simple command: assignments before it, its name, its words.
fn command(node: Node, text: &str) -> String {
    let mut prefix = Vec::new();
    let mut words = Vec::new();
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        match child.kind() {
            "command_name" => words.push(Word::Plain(node_text(child, text).to_string())),
            "variable_assignment" | "file_redirect" | "herestring_redirect" => prefix.push(joined(child, text)),
            // tree-sitter reads `-0` as a number and `{}` as a concatenation of
            // `{` and `}`: their text decides what they are
            "word" | "number" | "concatenation" => words.push(Word::Plain(node_text(child, text).to_string())),
            "command_substitution" | "process_substitution" => words.push(Word::Nested(joined(child, text))),
            "comment" => {}
            _ if child.is_named() => words.push(Word::Value),
            _ => words.push(Word::Plain(node_text(child, text).to_string())),
        }
    }
    prefix.push(simple(&words));
    prefix.retain(|p| !p.is_empty());
    prefix.join(" ")
}

/// The template of a simple command's words (the first is the utility).
fn simple(words: &[Word]) -> String {
    let Some((first, rest)) = words.split_first() else { return String::new() };
    let utility = match first {
        Word::Plain(name) => name.clone(),
        Word::Value => ARG.to_string(),
        Word::Nested(t) => t.clone(),
    };
    if let Some((_, takes_value)) = WRAPPERS.iter().find(|(name, _)| *name == utility) {
        return wrapper(&utility, takes_value, rest);
    }
    let single_dash_words = SINGLE_DASH_WORDS.contains(&utility.as_str());
    // the flags as a sorted set (their order does not matter), then the values in
    // order; which flag a value follows is not kept (`grep -r foo .` is `grep foo
    // . -r`)
    let mut flags: Vec<String> = Vec::new();
    let mut values: Vec<String> = Vec::new();
    let mut after_bare_flag = false;
    let mut i = 0;
    while i < rest.len() {
        let word = &rest[i];
        i += 1;
        match word {
            Word::Plain(w) if utility == "find" && FIND_EXEC.contains(&w.as_str()) => {
                let start = i;
                let end =
                    rest[start..].iter().position(|w| matches!(w, Word::Plain(t) if is_exec_end(t))).map_or(rest.len(), |p| start + p);
                let ends = match rest.get(end) {
                    Some(Word::Plain(t)) if t == "+" => " +",
                    Some(_) => " ;",
                    None => "",
                };
                flags.push(format!("{w} {{ {} }}{ends}", simple(&rest[start..end])));
                i = end + 1;
                after_bare_flag = false;
            }
            Word::Plain(w) => match flag_parts(w, single_dash_words, after_bare_flag) {
                Some((parts, value)) => {
                    flags.extend(parts);
                    if value {
                        values.push(ARG.to_string());
                    }
                    after_bare_flag = !value;
                }
                None => {
                    values.push(if w == "{}" { w.clone() } else { ARG.to_string() });
                    after_bare_flag = false;
                }
            },
            Word::Value => {
                values.push(ARG.to_string());
                after_bare_flag = false;
            }
            Word::Nested(t) => {
                values.push(t.clone());
                after_bare_flag = false;
            }
        }
    }
    flags.sort();
    std::iter::once(utility).chain(flags).chain(values).collect::<Vec<_>>().join(" ")
}

/// A wrapper (`xargs -I {} mv {} dir`): its own flags, then the command it runs.
fn wrapper(utility: &str, takes_value: &[&str], rest: &[Word]) -> String {
    let (mut own, mut values): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    let mut i = 0;
    while let Some(Word::Plain(w)) = rest.get(i) {
        if !w.starts_with('-') || w.len() < 2 {
            break;
        }
        // `-n1`: a short option with its value attached (`get` keeps to characters)
        let short = w.get(..2).filter(|s| !w.starts_with("--") && w.len() > 2 && takes_value.contains(s));
        let (flag, attached) = match (w.split_once('='), short) {
            (Some((f, _)), _) if w.starts_with("--") => (f, true),
            (_, Some(short)) => (short, true),
            _ => (w.as_str(), false),
        };
        own.push(flag.to_string());
        i += 1;
        if attached {
            values.push(ARG.to_string());
        } else if takes_value.contains(&flag) && i < rest.len() {
            values.push(match &rest[i] {
                Word::Plain(v) if v == "{}" => v.clone(),
                _ => ARG.to_string(),
            });
            i += 1;
        }
    }
    own.sort();
    let runs = simple(&rest[i.min(rest.len())..]);
    std::iter::once(utility.to_string()).chain(own).chain(values).chain((!runs.is_empty()).then_some(runs)).collect::<Vec<_>>().join(" ")
}

/// Whether a word ends a `find -exec` command.
fn is_exec_end(word: &str) -> bool {
    matches!(word, "\\;" | ";" | "';'" | "\";\"" | "+")
}

/// The flags a word stands for and whether it carries a value: `--size=10` is
/// `--size` and a value, `-n10` is `-n` and a value, `-la` is `-l -a` (one flag
/// for utilities with single-dash words), `-7` right after a flag is a value.
/// None for a word that is not a flag.
fn flag_parts(word: &str, single_dash_words: bool, after_bare_flag: bool) -> Option<(Vec<String>, bool)> {
    let body = word.strip_prefix('-')?;
    if body.is_empty() || word == "--" {
        return None;
    }
    if let Some(long) = body.strip_prefix('-') {
        return Some(match long.split_once('=') {
            Some((name, _)) => (vec![format!("--{name}")], true),
            None => (vec![word.to_string()], false),
        });
    }
    if body.chars().all(|c| c.is_ascii_digit()) {
        // `-mtime -7`: a value; `ls -1`: a flag
        return if after_bare_flag { None } else { Some((vec![word.to_string()], false)) };
    }
    if single_dash_words {
        return Some((vec![word.to_string()], false));
    }
    let mut chars = body.chars();
    let first = chars.next()?;
    let tail = chars.as_str();
    if first.is_ascii_alphabetic() && !tail.is_empty() && tail.chars().all(|c| c.is_ascii_digit()) {
        return Some((vec![format!("-{first}")], true));
    }
    if body.chars().all(|c| c.is_ascii_alphabetic()) {
        return Some((body.chars().map(|c| format!("-{c}")).collect(), false));
    }
    Some((vec![word.to_string()], false))
}

#[cfg(test)]
mod tests {
    use super::template;

    fn same(a: &str, b: &str) -> bool {
        template(a) == template(b)
    }

    /// Pairs NL2Bash's template match treats alike: other values, other flag
    /// order, combined short flags, quoting.
    #[test]
    fn values_and_flag_order_do_not_matter() {
        assert_eq!(template("find /tmp -type f -name \"*.log\""), "find -name -type ARG ARG ARG");
        assert!(same("find . -name '*.txt' -type f", "find /home/user -type d -name \"*.c\""));
        assert!(same("ls -la", "ls -a -l"));
        assert!(same("find . -mtime +7 -delete", "find /var/log -mtime -30 -delete"));
        assert!(same("head -n10 file.txt", "head -n 20 other.txt"));
        assert!(same("sort --key=2 data", "sort --key 5 data"));
        assert!(same("grep -r \"TODO\" src | wc -l", "grep -r FIXME lib | wc -l"));
        assert!(same("echo $(date +%s)", "echo $(date +%Y)"));
        assert!(same("tar -czf a.tgz dir", "tar -zcf b.tgz other"));
    }

    /// Pairs it tells apart: another utility, another flag, a missing flag, another
    /// pipeline stage, the command run by `-exec` or `xargs`.
    #[test]
    fn utilities_and_flags_matter() {
        assert!(!same("find . -name x", "find . -iname x"));
        assert!(!same("find . -name x -type f", "find . -name x"));
        assert!(!same("ls -l", "ls -la"));
        assert!(!same("cat f | sort", "cat f | sort | uniq"));
        assert!(!same("cat f | sort", "cat f && sort"));
        assert!(same("find . -name '*.o' -exec rm {} \\;", "find /src -name '*.tmp' -exec rm {} \\;"));
        assert!(!same("find . -exec rm {} \\;", "find . -exec ls {} \\;"));
        assert!(!same("find . -exec rm -f {} \\;", "find . -exec rm {} \\;"));
        assert!(same("find . -print0 | xargs -0 -I {} mv {} /tmp", "find /a -print0 | xargs -I {} -0 mv {} /b"));
        assert!(!same("find . | xargs rm", "find . | xargs ls"));
        assert!(!same("sudo -u bob ls", "sudo -u bob rm"));
    }

    /// `-exec` units keep their command; `find`'s single-dash words stay whole.
    #[test]
    fn templates_read_as_expected() {
        assert_eq!(template("find . -name '*.o' -exec rm -f {} \\;"), "find -exec { rm -f {} } ; -name ARG ARG");
        assert_eq!(template("ls -la /tmp"), template("ls -al /tmp"));
        assert_eq!(template("ls -la /tmp"), "ls -a -l ARG");
        assert_eq!(template("xargs -n 1 echo hi"), "xargs -n ARG echo ARG");
        assert!(crate::Language::check(&super::super::Bash, "grep foo . -r").is_ok());
        assert_eq!(template("grep -r foo ."), template("grep foo . -r"));
        assert_eq!(template("cat a.txt > b.txt"), "cat ARG > ARG");
        // a wide character after a wrapper's dash is a flag like any other
        assert_eq!(template("sudo -😀s ls"), "sudo -😀s ls");
    }
}
