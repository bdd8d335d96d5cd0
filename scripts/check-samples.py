#!/usr/bin/env python3
"""Judge `lastmile sample --out` files by tools we did not write.

For each JSONL file of Excel samples (`{"text", "valid", "substantive"}`), prints:
- valid: our strict checker's verdict (the `valid` field);
- formulas: the share the third-party PyPI `formulas` parser turns into an AST;
- distinct: distinct texts over all samples;
- calls a function: the share with a function call (`NAME(`), beside the share in
  the mined corpus's train split (`--corpus`, Parquet with a `text` column).

Usage: scripts/check-samples.py SAMPLES.jsonl [...] [--corpus outputs/corpus/excel]
Installs `formulas` and `polars` into the user's site-packages when missing.
"""

import argparse
import glob
import json
import os
import re
import subprocess
import sys

CALL = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\(")


def ensure(*modules):
    missing = []
    for module in modules:
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "--user", "--quiet", *missing])
        import site
        import importlib

        importlib.reload(site)
        sys.path.append(site.getusersitepackages())


def parses(parser, text):
    try:
        parser.ast(text)
        return True
    except Exception:  # the parser raises its own errors for every kind of bad formula
        return False


def corpus_call_share(corpus):
    import polars as pl

    files = sorted(glob.glob(os.path.join(corpus, "train-*.parquet")))
    if not files:
        return None
    texts = pl.concat([pl.read_parquet(f, columns=["text"]) for f in files])["text"].to_list()
    return sum(bool(CALL.search(t)) for t in texts) / max(len(texts), 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("samples", nargs="+")
    ap.add_argument("--corpus", default="outputs/corpus/excel")
    args = ap.parse_args()
    ensure("formulas", "polars")
    import formulas

    parser = formulas.Parser()
    corpus = corpus_call_share(args.corpus)
    print("| file | samples | valid (ours) | parse (`formulas`) | distinct | calls a function | corpus |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for path in args.samples:
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        n = max(len(rows), 1)
        texts = [r["text"] for r in rows]
        valid = sum(bool(r.get("valid")) for r in rows) / n
        parsed = sum(parses(parser, t) for t in texts) / n
        distinct = len(set(texts)) / n
        calls = sum(bool(CALL.search(t)) for t in texts) / n
        share = "n/a" if corpus is None else f"{100 * corpus:.1f}%"
        print(
            f"| {path} | {len(rows)} | {100 * valid:.1f}% | {100 * parsed:.1f}% | {100 * distinct:.1f}% | {100 * calls:.1f}% | {share} |"
        )


if __name__ == "__main__":
    main()
