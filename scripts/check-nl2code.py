#!/usr/bin/env python3
"""Judge `lastmile eval nl2code` results with tools lastmile did not write: the share
of each method's first candidates that CPython's `ast.parse` (Python) or `bash -n`
(Bash) accepts, beside lastmile's own checker (`valid top-1`); and, for Python,
corpus BLEU-4 of the first candidates recomputed here with CoNaLa's tokenisation
(`tokenize_for_bleu_eval` of the CoNaLa evaluation script) and the NMT toolkit's
`compute_bleu`, to check lastmile's figure.

Usage: scripts/check-nl2code.py outputs/eval/nl2code/python/results.json [...]
"""
import ast
import collections
import json
import math
import re
import subprocess
import sys


def tokenize_for_bleu_eval(code):
    code = re.sub(r"([^A-Za-z0-9_])", r" \1 ", code)
    code = re.sub(r"([a-z])([A-Z])", r"\1 \2", code)
    code = re.sub(r"\s+", " ", code)
    code = code.replace('"', "`").replace("'", "`")
    return [t for t in code.split(" ") if t]


def ngrams(tokens):
    counts = collections.Counter()
    for order in range(1, 5):
        for i in range(len(tokens) - order + 1):
            counts[tuple(tokens[i : i + order])] += 1
    return counts


def compute_bleu(references, translations):
    matches, possible = [0] * 4, [0] * 4
    ref_len = trans_len = 0
    for ref, trans in zip(references, translations):
        ref_len += len(ref)
        trans_len += len(trans)
        overlap = ngrams(trans) & ngrams(ref)
        for gram, count in overlap.items():
            matches[len(gram) - 1] += count
        for order in range(1, 5):
            possible[order - 1] += max(len(trans) - order + 1, 0)
    precisions = [m / p if p > 0 else 0.0 for m, p in zip(matches, possible)]
    if min(precisions) <= 0 or ref_len == 0 or trans_len == 0:
        return 0.0
    geo_mean = math.exp(sum(math.log(p) for p in precisions) / 4)
    ratio = trans_len / ref_len
    return geo_mean * (1.0 if ratio > 1.0 else math.exp(1 - 1 / ratio))


def python_parses(code):
    try:
        ast.parse(code)
        return True
    except (SyntaxError, ValueError):
        return False


def bash_parses(code):
    return subprocess.run(["bash", "-n"], input=code.encode(), capture_output=True).returncode == 0


def main():
    for path in sys.argv[1:]:
        run = json.load(open(path, encoding="utf-8"))
        lang = run["lang"]
        judge = {"python": ("CPython `ast` parses", python_parses), "bash": ("`bash -n` accepts", bash_parses)}.get(lang)
        print(f"\n{path} ({lang})\n")
        header = "| method | items | valid top-1 (lastmile) |"
        if judge:
            header += f" {judge[0]} top-1 |"
        if lang == "python":
            header += " BLEU@1 (lastmile) | BLEU@1 (this script) |"
        print(header)
        print("|---|" + "---:|" * (header.count("|") - 2))
        for method in run["methods"]:
            items = method["items"]
            firsts = [i["candidates"][0] if i["candidates"] else "" for i in items]
            row = f"| {method['method']} | {len(items)} | {method['rates']['valid_top1']:.1f}% |"
            if judge:
                row += f" {100 * sum(map(judge[1], firsts)) / max(len(items), 1):.1f}% |"
            if lang == "python":
                bleu = 100 * compute_bleu([tokenize_for_bleu_eval(i["gold"]) for i in items], [tokenize_for_bleu_eval(c) for c in firsts])
                row += f" {method['rates']['bleu'][0]:.2f} | {bleu:.2f} |"
            print(row)


if __name__ == "__main__":
    main()
