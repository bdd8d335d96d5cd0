#!/usr/bin/env python3
"""Golden labels for calibrating the Bash checker against `bash -n`.

Samples real command lines from corpora/bash/codefusion-bash-snippets.txt and
makes broken variants by deleting or duplicating one random shell token. Each is
labelled by `bash -n` (syntax check only, nothing runs). Writes
tests/golden/bash_labels.jsonl. Deterministic: fixed seed.

Run from the repository root: python3 tests/golden/make_bash_labels.py
"""
import json
import random
import re
import subprocess
from pathlib import Path

SOURCE = Path("corpora/bash/codefusion-bash-snippets.txt")
OUT = Path("tests/golden/bash_labels.jsonl")
N_MINED, N_BROKEN = 1100, 1100
TOKEN = re.compile(r"""\$\(|\$\{|"(?:[^"\\]|\\.)*"|'[^']*'|[|&;()<>]{1,2}|[^\s|&;()<>"']+""")


def label(text):
    result = subprocess.run(["bash", "-n"], input=text.encode(), capture_output=True, timeout=10)
    return result.returncode == 0


def broken_variant(text, rng):
    tokens = list(TOKEN.finditer(text))
    if not tokens:
        return None
    m = rng.choice(tokens)
    if rng.random() < 0.5:
        return "delete", text[: m.start()] + text[m.end():]
    return "duplicate", text[: m.end()] + " " + m.group(0) + text[m.end():]


def main():
    rng = random.Random(20261123)
    lines = SOURCE.read_text(encoding="utf-8", errors="replace").split("\n")
    lines = sorted({l.rstrip() for l in lines if 2 <= len(l.strip()) <= 400})
    rows = [{"text": t, "origin": "mined"} for t in rng.sample(lines, N_MINED)]
    for text in rng.sample(lines, N_BROKEN * 2):
        if len(rows) >= N_MINED + N_BROKEN:
            break
        variant = broken_variant(text, rng)
        if variant and variant[1].strip():
            rows.append({"text": variant[1], "origin": variant[0]})
    for row in rows:
        row["valid"] = label(row["text"])
    with OUT.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    valid = sum(r["valid"] for r in rows)
    out = subprocess.run(["bash", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    print(f"{len(rows)} snippets ({valid} valid) labelled by {out} -> {OUT}")


if __name__ == "__main__":
    main()
