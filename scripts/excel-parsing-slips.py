#!/usr/bin/env python3
"""Excel slips that still parse, made from the repair benchmark's fixes.

Every Buggy formula of the Excel benchmark is refused by the strict check, but
about half of the real mistakes users paste parse and compute the wrong thing:
an argument separator typed as an operator (`=NETWORKDAYS(A2-B2)`), an empty
`""` argument left out, a misspelt function, a range colon typed as a comma.
This script makes one such slip in each of the benchmark's 200 fixes, keeps it
only where `lastmile check` accepts the result, and writes the pairs in the
benchmark's own format, so `lastmile eval repair` scores how often a repairer
finds a slip the parser does not see, and `identity.json` (the fixes as
inputs) how often it leaves a correct formula alone.

Usage: excel-parsing-slips.py "LASTMILE COMMAND" BENCH OUT   (deterministic: same bytes out)
(the command may have arguments: "cargo run --quiet --bin lastmile --")
"""

import json
import random
import re
import shlex
import subprocess
import sys
import tempfile

# string literals and quoted sheet names are never edited
QUOTED = re.compile(r'"(?:[^"]|"")*"|\'(?:[^\']|\'\')*\'')
FUNCTION = re.compile(r"\b([A-Za-z][A-Za-z0-9.]*)\(")
RANGE_COLON = re.compile(r"(?<=[A-Za-z0-9$]):(?=[$A-Za-z0-9])")


def outside_quotes(text):
    """The byte ranges of `text` outside string literals and sheet names."""
    spans, start = [], 0
    for m in QUOTED.finditer(text):
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(text)))
    return spans


def positions(text, pattern):
    """Match objects of `pattern` that lie outside quotes."""
    spans = outside_quotes(text)
    return [m for m in pattern.finditer(text) if any(a <= m.start() and m.end() <= b for a, b in spans)]


def separator_as_operator(text, rng):
    """An argument comma typed as `-`, `+` or `&` (`=NETWORKDAYS(A2-B2)`)."""
    commas = positions(text, re.compile(","))
    out = []
    for m in commas:
        op = rng.choice("-+&")
        out.append(text[: m.start()] + op + text[m.end() :])
    return out


def empty_string_dropped(text, rng):
    """A `""` argument left out: `=IF(A1>0,A1,"")` as `=IF(A1>0,A1,)`."""
    out = []
    for m in re.finditer(r'(?<=[,(])""(?=[,)])', text):
        out.append(text[: m.start()] + text[m.end() :])
    return out


def function_misspelt(text, rng):
    """A function name with one letter dropped, doubled or two swapped."""
    out = []
    for m in positions(text, FUNCTION):
        name = m.group(1)
        if len(name) < 3 or name.startswith("_xl"):
            continue
        i = rng.randrange(1, len(name))
        kind = rng.choice(["drop", "double", "swap"])
        if kind == "drop":
            typo = name[:i] + name[i + 1 :]
        elif kind == "double":
            typo = name[:i] + name[i] + name[i:]
        else:
            typo = name[: i - 1] + name[i] + name[i - 1] + name[i + 1 :]
        if typo.upper() != name.upper():
            out.append(text[: m.start(1)] + typo + text[m.end(1) :])
    return out


def colon_as_comma(text, rng):
    """A range colon typed as a comma: `=SUM(A1:A9)` as `=SUM(A1,A9)`."""
    return [text[: m.start()] + "," + text[m.end() :] for m in positions(text, RANGE_COLON)]


KINDS = [separator_as_operator, empty_string_dropped, function_misspelt, colon_as_comma]


def accepted(lastmile, texts):
    """Which of `texts` the strict check accepts (`lastmile check`, one per line)."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("".join(t + "\n" for t in texts))
        path = f.name
    run = subprocess.run(
        shlex.split(lastmile) + ["check", "--lang", "excel", path, "--max-errors", str(len(texts) + 1)],
        capture_output=True,
        text=True,
    )
    refused = set()
    for line in run.stdout.splitlines():
        if line.startswith(path + ":"):
            refused.add(int(line[len(path) + 1 :].split(":", 1)[0]) - 1)
    return [i not in refused for i in range(len(texts))]


def main():
    lastmile, bench_path, out_path = sys.argv[1:4]
    bench = json.load(open(bench_path))
    # every candidate slip of every fix, in a seeded order per fix
    options = []
    for i, item in enumerate(bench):
        truth = item["GroundTruth"]
        if "\n" in truth:
            options.append([])
            continue
        rng = random.Random(i)
        kinds = KINDS[:]
        rng.shuffle(kinds)
        mine = []
        for kind in kinds:
            slips = kind(truth, rng)
            rng.shuffle(slips)
            mine.extend((kind.__name__, s) for s in slips if s != truth)
        options.append(mine)
    flat = [s for mine in options for _, s in mine]
    ok = iter(accepted(lastmile, flat))
    pairs = []
    for item, mine in zip(bench, options):
        keep = [(kind, s) for (kind, s), good in zip(mine, [next(ok) for _ in mine]) if good]
        if keep:
            kind, slip = keep[0]
            pairs.append({"Buggy": slip, "GroundTruth": item["GroundTruth"], "Slip": kind})
    with open(out_path, "w") as f:
        json.dump(pairs, f, indent=1)
        f.write("\n")
    counts = {}
    for p in pairs:
        counts[p["Slip"]] = counts.get(p["Slip"], 0) + 1
    print(f"{out_path}: {len(pairs)} slips that parse, from {len(bench)} fixes: {counts}")


if __name__ == "__main__":
    main()
