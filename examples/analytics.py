#!/usr/bin/env python3
"""Analyse lastmile repair-pair datasets with Polars.

    python3 examples/analytics.py outputs/datasets/excel-nightly [outputs/datasets/excel-rules]

Prints, per dataset: the rows per split and source, the edit-size distribution, the edit
families per source (from `stats/stats.json`, written by `lastmile stats`), the diversity
and complexity measures of the Figure-7 kind, the most common and the longest edits; with
two datasets, what the second has that the first has not (a nightly against yesterday's,
or lastmile pairs against rule-based ones).
"""
import json
import sys
from pathlib import Path

import polars as pl

FAMILIES = ["bracket", "quote", "separator", "operator", "name", "argument", "other"]
pl.Config.set_tbl_rows(12)
pl.Config.set_fmt_str_lengths(60)
pl.Config.set_tbl_width_chars(160)
pl.Config.set_tbl_cols(12)


def load(dataset: Path) -> pl.DataFrame:
    shards = sorted((dataset / "data").glob("*.parquet"))
    if not shards:
        sys.exit(f"{dataset}: no data/*.parquet (is it a lastmile dataset?)")
    frames = [pl.read_parquet(s).with_columns(pl.lit("valid" if s.name.startswith("valid") else "train").alias("split")) for s in shards]
    return pl.concat(frames)


def report(name: str, dataset: Path, df: pl.DataFrame) -> None:
    print(f"\n## {name}: {df.height:,} pairs")
    print(df.group_by("split", "source").agg(pl.len().alias("pairs")).sort("split", "source"))

    print("\nEdit size (token edit distance):")
    print(
        df.group_by("token_edit_distance")
        .agg(pl.len().alias("pairs"))
        .sort("token_edit_distance")
        .with_columns((pl.col("pairs") / df.height * 100).round(1).alias("%"))
    )

    print("\nDiversity and complexity per source:")
    print(
        df.group_by("source")
        .agg(
            pl.len().alias("pairs"),
            pl.col("fixed").n_unique().alias("distinct fixed"),
            pl.col("broken").n_unique().alias("distinct broken"),
            pl.col("broken_valid").mean().mul(100).round(1).alias("broken valid %"),
            pl.col("token_edit_distance").mean().round(2).alias("token edits"),
            pl.col("char_edit_distance").mean().round(2).alias("char edits"),
            pl.col("fixed").str.len_chars().mean().round(1).alias("fixed chars"),
        )
        .sort("source")
    )

    stats_file = dataset / "stats" / "stats.json"
    if stats_file.exists():
        stats = json.loads(stats_file.read_text())
        rows = []
        for lang in stats["languages"]:
            rows.append({"source": "(all)", **dict(zip(FAMILIES, lang["families"])), "JS to real": lang.get("realism_js")})
            for source in lang["by_source"]:
                rows.append({"source": source["source"], **dict(zip(FAMILIES, source["families"])), "JS to real": source.get("realism_js")})
        if stats.get("real"):
            rows.append({"source": "real benchmark", **dict(zip(FAMILIES, stats["real"]["families"])), "JS to real": 0.0})
        families = pl.DataFrame(rows).with_columns([(pl.col(f) * 100).round(1) for f in FAMILIES])
        print("\nEdit families, % of pairs (`lastmile stats --real`):")
        print(families)
    else:
        print(f"\n({stats_file} is missing: run `lastmile stats {dataset}` for the edit families)")

    print("\nMost common edits (broken -> fixed, by count):")
    print(df.group_by("broken", "fixed").agg(pl.len().alias("n")).sort("n", "broken", descending=[True, False]).head(8))

    print("\nLongest edits:")
    print(df.sort("token_edit_distance", "char_edit_distance", "id", descending=[True, True, False]).select("broken", "fixed", "token_edit_distance").head(5))


def compare(first: pl.DataFrame, second: pl.DataFrame, names: tuple) -> None:
    print(f"\n## {names[1]} against {names[0]}")
    a = first.select("broken", "fixed").unique()
    b = second.select("broken", "fixed").unique()
    new = b.join(a, on=["broken", "fixed"], how="anti")
    gone = a.join(b, on=["broken", "fixed"], how="anti")
    print(f"pairs only in {names[1]}: {new.height:,}; only in {names[0]}: {gone.height:,}; in both: {b.height - new.height:,}")
    fixed_a = set(first["fixed"].unique().to_list())
    fixed_b = set(second["fixed"].unique().to_list())
    print(f"distinct fixed snippets: {len(fixed_a):,} and {len(fixed_b):,}, shared {len(fixed_a & fixed_b):,}")
    sizes = pl.concat(
        [
            first.group_by("token_edit_distance").agg(pl.len().alias(names[0])),
            second.group_by("token_edit_distance").agg(pl.len().alias(names[1])),
        ],
        how="align",
    ).sort("token_edit_distance")
    print(sizes.fill_null(0))


def main() -> None:
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    paths = [Path(p) for p in sys.argv[1:]]
    frames = []
    for path in paths:
        df = load(path)
        report(path.name, path, df)
        frames.append(df)
    if len(frames) == 2:
        compare(frames[0], frames[1], (paths[0].name, paths[1].name))


if __name__ == "__main__":
    main()
