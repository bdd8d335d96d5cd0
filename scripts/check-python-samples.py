#!/usr/bin/env python3
"""Judge `lastmile sample --out` files of Python by CPython's own parser: the share of
samples `ast.parse` accepts, beside our checker's verdict (`valid`), the share of
distinct texts and, for `sample --repair-rounds`, the share `ast.parse` accepts as
sampled (`raw`) and the share the model repaired.

Usage: scripts/check-python-samples.py SAMPLES.jsonl [...]
"""
import ast
import json
import sys


def main():
    print(
        "| samples | n | valid (ours) | CPython `ast` parses | distinct | parses as sampled | repaired |\n"
        "|---|---:|---:|---:|---:|---:|---:|"
    )
    for path in sys.argv[1:]:
        rows = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
        texts = [r["text"] for r in rows]
        n = max(len(texts), 1)
        valid = sum(1 for r in rows if r.get("valid")) / n
        pct = lambda k: f"{100 * k / n:.1f}%"
        line = f"| {path} | {len(texts)} | {100 * valid:.1f}% | {pct(sum(map(parses, texts)))} | {pct(len(set(texts)))} |"
        if rows and all("raw" in r for r in rows):
            raw = sum(parses(r["raw"]) for r in rows)
            line += f" {pct(raw)} | {pct(sum(1 for r in rows if r['repaired']))} |"
        else:
            line += " | |"
        print(line)


def parses(text):
    try:
        ast.parse(text)
        return True
    except (SyntaxError, ValueError):
        return False


if __name__ == "__main__":
    main()
