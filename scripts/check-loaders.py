#!/usr/bin/env python3
"""make check-loaders: every dataset directory given loads unmodified in four
readers we did not write: Polars, pandas, pyarrow and Hugging Face `datasets`
(the last through the dataset card's `configs`, as `load_dataset(dir)` does).
Each reader must see the same rows and columns; exit 1 naming the reader and
the dataset where one does not. Needs `pip install polars pandas pyarrow datasets`."""
import glob
import sys

import pandas as pd
import polars as pl
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from datasets import load_dataset


def check(root: str) -> list[str]:
    files = sorted(glob.glob(f"{root}/data/**/*.parquet", recursive=True))
    if not files:
        return [f"{root}: no Parquet shards under data/"]
    shapes = {
        "polars": pl.scan_parquet(f"{root}/data/**/*.parquet").collect().shape,
        "pandas": pd.read_parquet(f"{root}/data").shape,
        "pyarrow.parquet": pq.read_table(f"{root}/data").shape,
        "pyarrow.dataset": pads.dataset(f"{root}/data", format="parquet").to_table().shape,
    }
    hf = load_dataset(root)
    shapes["datasets"] = (sum(split.num_rows for split in hf.values()), len(next(iter(hf.values())).column_names))
    want = shapes["polars"]
    print(f"{root}: {len(files)} shards, {want[0]} rows, {want[1]} columns; HF splits {dict((k, v.num_rows) for k, v in hf.items())}")
    return [f"{root}: {reader} reads {shape}, polars {want}" for reader, shape in shapes.items() if shape != want]


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: check-loaders.py DATASET_DIR...")
    errors = [e for root in sys.argv[1:] for e in check(root)]
    for e in errors:
        print(f"check-loaders: {e}", file=sys.stderr)
    sys.exit(1 if errors else 0)
