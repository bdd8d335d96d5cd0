#!/usr/bin/env python3
"""Judge `lastmile sample --out` files of Python by CPython's own parser: the share of
samples `ast.parse` accepts, beside our checker's verdict (`valid`) and the share of
distinct texts.

Usage: scripts/check-python-samples.py SAMPLES.jsonl [...]
"""
import ast
import json
import sys


def main():
    print("| samples | n | valid (ours) | CPython `ast` parses | distinct |\n|---|---:|---:|---:|---:|")
    for path in sys.argv[1:]:
        rows = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
        texts = [r["text"] for r in rows]
        parses = 0
        for text in texts:
            try:
                ast.parse(text)
                parses += 1
            except (SyntaxError, ValueError):
                pass
        n = max(len(texts), 1)
        valid = sum(1 for r in rows if r.get("valid")) / n
        print(f"| {path} | {len(texts)} | {100 * valid:.1f}% | {100 * parses / n:.1f}% | {100 * len(set(texts)) / n:.1f}% |")


if __name__ == "__main__":
    main()
