#!/usr/bin/env python3
"""Golden labels for calibrating the Python checker against CPython's own parser.

Samples real snippets from corpora/python/cpython-lib (top-level definitions and
statements, as the miner extracts them) and makes broken variants by deleting or
duplicating one random token. Each snippet is labelled with `ast.parse`.
Writes tests/golden/python_labels.jsonl. Deterministic: fixed seed, sorted files.

Run from the repository root: python3 tests/golden/make_python_labels.py
"""
import ast
import io
import json
import random
import sys
import tokenize
from pathlib import Path

ROOT = Path("corpora/python/cpython-lib")
OUT = Path("tests/golden/python_labels.jsonl")
N_MINED, N_BROKEN = 1100, 1100
MAX_CHARS = 1000


def top_level_snippets(path):
    source = path.read_text(encoding="utf-8").replace("\r\n", "\n")
    try:
        module = ast.parse(source)
    except SyntaxError:
        return []
    lines = source.split("\n")
    out = []
    for node in module.body:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        text = "\n".join(lines[start - 1 : node.end_lineno]).rstrip()
        if 10 <= len(text) <= MAX_CHARS:
            out.append(text)
    return out


def label(text):
    try:
        ast.parse(text)
        return True
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False


def broken_variant(text, rng):
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(text).readline)
                  if t.type in (tokenize.NAME, tokenize.OP, tokenize.NUMBER, tokenize.STRING)]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None
    if not tokens:
        return None
    token = rng.choice(tokens)
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    start = offsets[token.start[0] - 1] + token.start[1]
    end = offsets[token.end[0] - 1] + token.end[1]
    if rng.random() < 0.5:
        return "delete", text[:start] + text[end:]
    return "duplicate", text[:end] + " " + text[start:end] + text[end:]


def main():
    rng = random.Random(20261123)
    snippets = []
    for path in sorted(ROOT.rglob("*.py")):
        snippets.extend(top_level_snippets(path))
    snippets = sorted(set(snippets))
    mined = rng.sample(snippets, N_MINED)
    rows = [{"text": t, "origin": "mined"} for t in mined]
    for text in rng.sample(snippets, N_BROKEN * 2):
        if len(rows) >= N_MINED + N_BROKEN:
            break
        variant = broken_variant(text, rng)
        if variant:
            rows.append({"text": variant[1], "origin": variant[0]})
    for row in rows:
        row["valid"] = label(row["text"])
    with OUT.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    valid = sum(r["valid"] for r in rows)
    print(f"{len(rows)} snippets ({valid} valid) labelled by CPython {sys.version.split()[0]} -> {OUT}")


if __name__ == "__main__":
    main()
