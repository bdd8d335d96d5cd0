//! An execution-free semantic check of PowerShell: do the commands a snippet calls,
//! and the parameters it passes them, exist? Checked against the cmdlets the reference
//! docs of the corpus define (`commands.tsv`, built by `scripts/powershell-commands.py`
//! from the PowerShell 7.5, Windows Server 2025, Office and Azure PowerShell reference:
//! 15K cmdlets with their parameters and parameter aliases, and the command aliases the
//! 7.5 docs list). Exact match cannot tell a repair that calls real cmdlets correctly in
//! another way from one that invents a parameter; this check can, where it applies.
//!
//! What is checked: a command named `Verb-Noun`, or by a documented alias (`gci`, `%`),
//! must be a documented cmdlet or a function the snippet defines, and each `-Parameter`
//! given to a documented cmdlet must be one of its parameters, a parameter alias, a
//! common parameter, or an unambiguous-or-not prefix of one (PowerShell accepts
//! prefixes). Native commands (`robocopy`, `git`) and commands called through `&` or
//! by path are not checked.

use super::{tree_sitter_support, GRAMMAR};
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

/// Parameters every cmdlet takes (`about_CommonParameters`, and `-WhatIf`/`-Confirm`
/// of the cmdlets that change state, which pages list as their own).
const COMMON_PARAMETERS: &[&str] = &[
    "verbose",
    "vb",
    "debug",
    "db",
    "erroraction",
    "ea",
    "errorvariable",
    "ev",
    "informationaction",
    "infa",
    "informationvariable",
    "iv",
    "outvariable",
    "ov",
    "outbuffer",
    "ob",
    "pipelinevariable",
    "pv",
    "progressaction",
    "proga",
    "warningaction",
    "wa",
    "warningvariable",
    "wv",
    "whatif",
    "wi",
    "confirm",
    "cf",
];

/// One entry of the index.
enum Entry {
    /// A documented cmdlet and its parameters (lower case, aliases included).
    Cmdlet(Vec<String>),
    /// A documented alias of the named cmdlet.
    Alias(String),
}

/// The documented commands, by lower-case name.
struct CommandIndex {
    entries: HashMap<String, Entry>,
}

static INDEX: LazyLock<CommandIndex> = LazyLock::new(|| CommandIndex::parse(include_str!("commands.tsv")));

impl CommandIndex {
    /// Reads `name<TAB>parameters<TAB>alias-of` lines.
    fn parse(tsv: &str) -> Self {
        let mut entries = HashMap::new();
        for line in tsv.lines() {
            let mut fields = line.split('\t');
            let (Some(name), Some(parameters), Some(alias_of)) = (fields.next(), fields.next(), fields.next()) else { continue };
            let entry = match alias_of {
                "" => Entry::Cmdlet(parameters.split(',').filter(|p| !p.is_empty()).map(str::to_string).collect()),
                target => Entry::Alias(target.to_string()),
            };
            entries.insert(name.to_string(), entry);
        }
        CommandIndex { entries }
    }

    /// The parameters of the cmdlet `name` (or of the cmdlet it is an alias of).
    fn parameters(&self, name: &str) -> Option<&[String]> {
        match self.entries.get(name)? {
            Entry::Cmdlet(parameters) => Some(parameters),
            Entry::Alias(target) => match self.entries.get(target)? {
                Entry::Cmdlet(parameters) => Some(parameters),
                Entry::Alias(_) => None,
            },
        }
    }
}

/// Whether `name` is shaped like a cmdlet name (`Verb-Noun`), which the check
/// requires to be documented.
fn verb_noun(name: &str) -> bool {
    let Some((verb, noun)) = name.split_once('-') else { return false };
    !verb.is_empty()
        && verb.chars().all(|c| c.is_ascii_alphabetic())
        && !noun.is_empty()
        && noun.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

/// What the check found in one snippet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Resolution {
    /// Commands it could check.
    pub checked: usize,
    /// `command` or `command -Parameter` it could not resolve, in order.
    pub unknown: Vec<String>,
}

/// Resolves the commands and parameters of `text` against the index.
pub(crate) fn resolve(text: &str) -> Resolution {
    let tree = tree_sitter_support::parse(&GRAMMAR, text);
    let mut defined = HashSet::new();
    let mut commands = Vec::new();
    let mut stack = vec![tree.root_node()];
    while let Some(node) = stack.pop() {
        match node.kind() {
            "function_name" => {
                defined.insert(text[node.byte_range()].to_ascii_lowercase());
            }
            "command" => commands.push(node),
            _ => {}
        }
        let mut cursor = node.walk();
        stack.extend(node.children(&mut cursor));
    }
    commands.sort_by_key(|node| node.start_byte());
    let index = &*INDEX;
    let mut resolution = Resolution::default();
    for command in commands {
        // `& $tool` or `. .\x.ps1`: called by value or path, not by name
        let mut cursor = command.walk();
        if command.children(&mut cursor).any(|c| c.kind() == "command_invokation_operator") {
            continue;
        }
        let Some(name_node) = command.child_by_field_name("command_name").filter(|n| n.kind() == "command_name") else { continue };
        let name = text[name_node.byte_range()].to_ascii_lowercase();
        if defined.contains(&name) {
            resolution.checked += 1;
            continue;
        }
        let parameters = index.parameters(&name);
        if parameters.is_none() && !verb_noun(&name) {
            continue; // a native command or an undocumented alias
        }
        resolution.checked += 1;
        let Some(parameters) = parameters else {
            resolution.unknown.push(text[name_node.byte_range()].to_string());
            continue;
        };
        let Some(elements) = command.child_by_field_name("command_elements") else { continue };
        let mut cursor = elements.walk();
        for element in elements.children(&mut cursor).filter(|e| e.kind() == "command_parameter") {
            let written = &text[element.byte_range()];
            let given = written.trim_start_matches(['-', '\u{2013}', '\u{2014}']).split(':').next().unwrap_or("").to_ascii_lowercase();
            if given.is_empty() {
                continue; // `--`, the end of parameters
            }
            let known = |p: &str| p.starts_with(&given);
            if !parameters.iter().any(|p| known(p)) && !COMMON_PARAMETERS.iter().any(|p| known(p)) {
                resolution.unknown.push(format!("{} {written}", &text[name_node.byte_range()]));
            }
        }
    }
    resolution
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_cmdlets_parameters_and_aliases_resolve() {
        let ok = resolve("Get-ChildItem -Path C:\\x -Recurse -Filt *.log | Where-Object { $_.Length -gt 1MB } | % { $_.Name }");
        assert_eq!(ok, Resolution { checked: 3, unknown: vec![] });
        // a cmdlet of the Active Directory module, a parameter alias and a common parameter
        let ad = resolve("Get-ADUser -Identity bob -Properties * -ErrorAction Stop; gci -lp x");
        assert_eq!(ad.unknown, Vec::<String>::new());
        assert_eq!(ad.checked, 2);
    }

    #[test]
    fn invented_cmdlets_and_parameters_do_not() {
        let bad = resolve("Get-ChildItems -Path x; Get-Item -Recursive x");
        assert_eq!(bad.checked, 2);
        assert_eq!(bad.unknown, ["Get-ChildItems", "Get-Item -Recursive"]);
    }

    /// The fixes of the real PowerShell repair benchmark: most call only documented
    /// cmdlets with their parameters; the rest call modules outside the reference
    /// (VMware PowerCLI, Quest, AzureRM, Windows PowerShell 5.1's `Get-WmiObject`),
    /// functions defined elsewhere, or keep a slip (`Sort-Object -Ascending`).
    #[test]
    fn most_fixes_of_the_real_benchmark_resolve() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../corpora/benchmarks/repair/powershell.json");
        let items: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let fixes: Vec<&str> = items.iter().map(|item| item["GroundTruth"].as_str().unwrap()).collect();
        let checked = fixes.iter().filter(|fix| resolve(fix).checked > 0).count();
        let resolved = fixes.iter().filter(|fix| resolve(fix).unknown.is_empty()).count();
        assert_eq!(fixes.len(), 150);
        assert!(checked >= 75, "{checked} of the fixes call a checkable command");
        assert!(resolved >= 130, "{resolved} of 150 fixes resolve");
        let slip = fixes.iter().find(|fix| fix.contains("-Ascending")).unwrap();
        assert!(resolve(slip).unknown.iter().any(|u| u == "Sort-Object -Ascending"));
    }

    #[test]
    fn native_commands_and_own_functions_are_not_held_against_a_snippet() {
        let script = "function Test-Success ($c) { $c } Test-Success -Anything 1; robocopy a b /MIR; & $tool -x";
        assert_eq!(resolve(script), Resolution { checked: 1, unknown: vec![] });
    }
}
