#!/usr/bin/env python3
"""The repair benchmark's items whose fix inserts the call operator `& ` where the
broken and fixed command first differ (a native program run by a quoted path or a
variable), as a benchmark file of their own: where PowerShell's repair sites act.

    python3 scripts/powershell-call-operator-items.py corpora/benchmarks/repair/powershell.json OUT.json
"""
import json
import sys


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    source, out = sys.argv[1], sys.argv[2]
    try:
        items = json.load(open(source, encoding="utf-8"))
    except (OSError, ValueError) as e:
        sys.exit(f"{source}: {e}")
    kept = []
    for item in items:
        broken, fixed = item["Buggy"], item["GroundTruth"]
        at = 0
        while at < min(len(broken), len(fixed)) and broken[at] == fixed[at]:
            at += 1
        if fixed[at:].startswith("& "):
            kept.append(item)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(kept, f, ensure_ascii=False, indent=1)
    print(f"{len(kept)} of {len(items)} items insert `& ` -> {out}")


if __name__ == "__main__":
    main()
