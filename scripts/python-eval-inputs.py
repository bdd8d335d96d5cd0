#!/usr/bin/env python3
"""Writes the identity benchmark of PyDex: every item's correct program as both the
input and the truth (`[{"Buggy", "GroundTruth"}]`), so `lastmile eval repair` measures
how many correct programs a repair method returns unchanged (fidelity). The PyMacer
logging lines at the top of each submission are dropped, as `lastmile` drops them.

Usage: scripts/python-eval-inputs.py corpora/benchmarks/pydex OUT.json
"""
import json
import sys
from pathlib import Path


def strip_log(program):
    lines = program.splitlines()
    while lines and lines[0].rstrip().endswith("#") and lines[0].startswith(("# compile-errors:", "# compile-result:", "# save-event:")):
        lines.pop(0)
    return "\n".join(lines).rstrip()


def main():
    bench, out = Path(sys.argv[1]), Path(sys.argv[2])
    items = []
    for path in sorted(bench.glob("*.json")):
        for submission in json.loads(path.read_text())["submission"]:
            truth = strip_log(submission["semantics_correct"])
            items.append({"Buggy": truth, "GroundTruth": truth})
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(items))
    print(f"{out}: {len(items)} correct programs")


if __name__ == "__main__":
    main()
