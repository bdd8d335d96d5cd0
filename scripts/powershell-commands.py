#!/usr/bin/env python3
"""Build crates/lang/src/powershell/commands.tsv, the PowerShell commands the reference
docs of the corpus define, for the execution-free semantic check of PowerShell
candidates (`lastmile_lang`'s `Language::commands_resolve`).

A cmdlet reference page (PlatyPS format: corpora/powershell/docs and, after `make
corpora-powershell`, corpora/powershell/reference) names its cmdlet in its first `# `
heading and each parameter in a `### -Name` heading, followed by a YAML block whose
`Aliases:` line lists the parameter's other names. Pages of the PowerShell 7.5 docs also
list the command's own aliases ("PowerShell includes the following aliases for
`Get-ChildItem`: ... `dir`, `gci`"). One line per command, sorted, lower case:

    name<TAB>parameter,parameter,...<TAB>alias-of   (alias-of empty for a cmdlet)

Usage: scripts/powershell-commands.py [--out crates/lang/src/powershell/commands.tsv]
                                      [DIR ...]
"""
import argparse
import os
import re
import sys

DEFAULT_DIRS = ["corpora/powershell/docs", "corpora/powershell/reference"]
VERB_NOUN = re.compile(r"^[A-Za-z]+-[A-Za-z0-9_.]+$")
PARAMETER = re.compile(r"^###\s+-([A-Za-z0-9_]+)\s*$")
ALIASES = re.compile(r"^Aliases:\s*(.*)$")
COMMAND_ALIASES = re.compile(r"following aliases for `([A-Za-z]+-[A-Za-z0-9_.]+)`")
BACKTICKED = re.compile(r"`([^`\s]+)`")


def read_page(path):
    """(command, parameters, {alias: command}) of one page; command None if it is no
    cmdlet page."""
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    command = None
    for line in lines:
        if line.startswith("# "):
            name = line[2:].strip()
            command = name if VERB_NOUN.match(name) else None
            break
    parameters = set()
    aliases = {}
    in_yaml = False
    current = None
    alias_target = None
    for line in lines:
        m = PARAMETER.match(line)
        if m and command:
            current = m.group(1).lower()
            parameters.add(current)
            continue
        if line.startswith("```"):
            in_yaml = not in_yaml
            continue
        if in_yaml and current:
            m = ALIASES.match(line.strip())
            if m:
                for alias in m.group(1).split(","):
                    alias = alias.strip().lower()
                    if alias and re.fullmatch(r"[a-z0-9_?]+", alias):
                        parameters.add(alias)
        m = COMMAND_ALIASES.search(line)
        if m:
            alias_target = m.group(1).lower()
            continue
        if alias_target:
            stripped = line.strip()
            if stripped.startswith("-"):
                for alias in BACKTICKED.findall(stripped):
                    if not alias.startswith("-"):
                        aliases[alias.lower()] = alias_target
            elif stripped and not stripped.endswith(":"):
                alias_target = None
    return command, parameters, aliases


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="*", default=DEFAULT_DIRS)
    parser.add_argument("--out", default="crates/lang/src/powershell/commands.tsv")
    args = parser.parse_args()
    commands = {}
    aliases = {}
    pages = 0
    for top in args.dirs:
        if not os.path.isdir(top):
            sys.exit(f"{top}: missing (run `make corpora-powershell` first)")
        for root, dirs, files in os.walk(top):
            dirs.sort()
            for name in sorted(files):
                if not name.endswith(".md"):
                    continue
                command, parameters, page_aliases = read_page(os.path.join(root, name))
                aliases.update(page_aliases)
                if command:
                    pages += 1
                    commands.setdefault(command.lower(), set()).update(parameters)
    rows = [f"{name}\t{','.join(sorted(params))}\t" for name, params in commands.items()]
    rows += [f"{alias}\t\t{target}" for alias, target in aliases.items() if alias not in commands]
    rows.sort()
    tmp = args.out + ".partial"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("".join(row + "\n" for row in rows))
    os.replace(tmp, args.out)
    print(f"{args.out}: {len(commands)} commands from {pages} pages, {len(aliases)} aliases")


if __name__ == "__main__":
    main()
