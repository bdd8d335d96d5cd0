#!/usr/bin/env python3
"""make check-python-pairs: judge Python pair datasets (after `make run-python`) by
CPython's own parser, read with Polars: per dataset, the rows, empty broken sides,
the share of broken sides `ast.parse` rejects (syntax-repair data: it should reject
nearly all), the share of fixed sides it accepts, distinct broken sides, and a few
pairs to read by eye (seeded). Exit 1 naming the dataset when a broken side is empty
or a fixed side does not parse on more than 1% of rows.

Usage: scripts/check-python-pairs.py DATASET_DIR [...]   (needs `pip install polars`)
"""
import ast
import random
import sys
import warnings

import polars as pl


def parses(text: str) -> bool:
    # broken sides hold invalid literals on purpose: CPython warns of them
    warnings.filterwarnings("ignore", category=SyntaxWarning)
    try:
        ast.parse(text)
        return True
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False


def check(root: str) -> list[str]:
    frame = pl.scan_parquet(f"{root}/data/**/*.parquet").select("broken", "fixed").collect()
    broken, fixed = frame["broken"].to_list(), frame["fixed"].to_list()
    n = len(broken)
    if n == 0:
        return [f"{root}: no rows"]
    empty = sum(1 for b in broken if not b.strip())
    rejected = sum(1 for b in broken if not parses(b))
    fixed_ok = sum(1 for f in fixed if parses(f))
    print(f"| {root} | {n} | {empty} | {100 * rejected / n:.1f}% | {100 * fixed_ok / n:.1f}% | {len(set(broken))} |")
    errors = []
    if empty:
        errors.append(f"{root}: {empty} empty broken sides")
    if fixed_ok < 0.99 * n:
        errors.append(f"{root}: {n - fixed_ok} fixed sides that CPython's ast rejects")
    return errors


def show(root: str, k: int = 3) -> None:
    frame = pl.scan_parquet(f"{root}/data/**/*.parquet").select("broken", "fixed").collect()
    rows = random.Random(0).sample(range(frame.height), min(k, frame.height))
    for i in rows:
        b, f = frame["broken"][i], frame["fixed"][i]
        lines = [(x, y) for x, y in zip(b.splitlines(), f.splitlines()) if x != y] or [(b[:80], f[:80])]
        print(f"- {root} row {i}: `{lines[0][0].strip()}` -> `{lines[0][1].strip()}`")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: check-python-pairs.py DATASET_DIR...")
    print("| dataset | rows | empty broken | broken rejected by `ast` | fixed parsed by `ast` | distinct broken |")
    print("|---|---:|---:|---:|---:|---:|")
    errors = [e for root in sys.argv[1:] for e in check(root)]
    print()
    for root in sys.argv[1:]:
        show(root)
    for e in errors:
        print(f"check-python-pairs: {e}", file=sys.stderr)
    sys.exit(1 if errors else 0)
