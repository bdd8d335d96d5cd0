#!/usr/bin/env python3
"""Kill soak: every long stage killed with SIGKILL at random points, resumed, and
compared with an uninterrupted run.

For each stage the script runs it once without interruption (the reference),
then again in a fresh directory, killing it with SIGKILL after a random delay
and restarting it, until it has been killed `--kills` times (more cycles when a
run finishes before its kills are spent). After every kill, whatever a reader
can see must be whole: a published dataset verifies (`lastmile verify`), a
checkpoint's safetensors files parse to their full length, a JSON file parses.
At the end the outputs must equal the reference's byte for byte, except for
wall-clock fields (`tokens_per_s`, `elapsed_s`, timings), which are dropped
before comparing.

    make kill-soak                     # 20 kills for pretrain and rollout, 5 for the rest
    scripts/kill-soak.py --lastmile target/debug/lastmile --stages pretrain,corrupt --kills 3

Results: docs/reliability.md. Stdlib only; Linux.
"""
import argparse
import hashlib
import json
import random
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

MINE = """lang = "excel"
[[source]]
kind = "lines"
path = "formulas.txt"
strip_quotes = true
prefix = "="
[split]
valid_fraction = 0.1
seed = "t"
"""
MODEL = """vocab_size = 300
seq_len = 24
d_model = 32
n_heads = 2
denoiser_layers = 1
decoder_layers = 1
embed_norm = 4.0
length_bucket = 8
"""
TRAIN = """model = "model.toml"
corpus = "outputs/corpus/excel"
tokenizer = "tok/tokenizer.json"
out = "run"
batch_size = 8
max_steps = {steps}
eval_every = 10
eval_batches = 1
checkpoint_every = 1
cpd_prob = 0.2
ema_decay = 0.9
lr_decay_steps = {steps}
"""
PAIRS = """lang = "excel"
{checkpoint}out = "{out}"
seed = 5
target_pairs = {pairs}
max_chains = 4000
chains_per_unit = {per_unit}
batch_size = 32
valid_fraction = 0.1
[[source]]
kind = "{kind}"
{source}
[output]
shard_rows = 100
row_group_rows = 50
{tail}"""
ROLLOUT_SOURCE = 'corpus = "outputs/corpus/excel"\nt0 = [0.1, 0.5]'
RULES_SOURCE = 'corpus = "outputs/corpus/excel"'
PIPELINE = """name = "soak"
description = "mine then rule-based pairs"
[[stage]]
name = "mine"
args = ["mine", "--config", "excel.toml", "--out", "outputs/corpus"]
inputs = ["excel.toml", "formulas.txt"]
outputs = ["outputs/corpus/excel"]
[[stage]]
name = "corrupt"
args = ["corrupt", "--config", "corrupt.toml"]
inputs = ["corrupt.toml", "outputs/corpus/excel"]
outputs = ["ds"]
"""

WALL_CLOCK = {"repairs_per_s", "pairs_per_s", "tokens_per_s", "elapsed_s", "seconds", "wall_s", "timing", "timings", "created", "duration_s"}


def run(lastmile, cwd, args, check=True):
    p = subprocess.run([lastmile, "--quiet", *args], cwd=cwd, capture_output=True, text=True)
    if check and p.returncode != 0:
        sys.exit(f"kill-soak: lastmile {' '.join(args)} failed in {cwd}:\n{p.stderr}")
    return p


def scrub(value):
    """Drops wall-clock fields from parsed JSON, recursively."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if k not in WALL_CLOCK}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def digest(path: Path) -> str:
    """sha256 of a file; JSON and JSONL files are compared without wall-clock fields."""
    data = path.read_bytes()
    if path.suffix in (".json", ".jsonl"):
        try:
            if path.suffix == ".json":
                data = json.dumps(scrub(json.loads(data)), sort_keys=True).encode()
            else:
                data = "\n".join(json.dumps(scrub(json.loads(l)), sort_keys=True) for l in data.decode().splitlines()).encode()
        except ValueError:
            pass
    return hashlib.sha256(data).hexdigest()


def tree(root: Path, outputs):
    """{relative path: digest} of every file under the stage's outputs."""
    files = {}
    for out in outputs:
        base = root / out
        paths = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file()) if base.exists() else []
        for p in paths:
            rel = p.relative_to(root).as_posix()
            if any(part.startswith(".") for part in Path(rel).parts):
                continue  # staging and scratch directories, never part of what is published
            if p.name in ("report.md", "results.md", "README.md") or p.suffix == ".png":
                continue  # human-readable summaries print timings
            files[rel] = digest(p)
    return files


def safetensors_whole(path: Path) -> str:
    data = path.read_bytes()
    if len(data) < 8:
        return "shorter than its header length"
    (n,) = struct.unpack("<Q", data[:8])
    try:
        header = json.loads(data[8 : 8 + n])
    except ValueError:
        return "header does not parse"
    end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    return "" if len(data) == 8 + n + end else f"{len(data)} bytes, header says {8 + n + end}"


def visible_whole(lastmile, root: Path, outputs):
    """What a reader sees after a kill: every visible file whole."""
    problems = []
    for out in outputs:
        base = root / out
        if not base.exists():
            continue
        if (base / "manifest.json").exists():
            p = run(lastmile, root, ["verify", out], check=False)
            if p.returncode != 0:
                problems.append(f"{out} does not verify: {p.stdout.strip()} {p.stderr.strip()}")
        for p in [base] if base.is_file() else base.rglob("*"):
            if not p.is_file() or any(part.startswith(".") for part in p.relative_to(root).parts):
                continue
            if p.suffix == ".safetensors" and (why := safetensors_whole(p)):
                problems.append(f"{p.relative_to(root)}: {why}")
            if p.suffix == ".json":
                try:
                    json.loads(p.read_bytes())
                except ValueError:
                    problems.append(f"{p.relative_to(root)}: does not parse")
    return problems


def stages(args):
    """name -> (commands run in order, outputs compared, kills)."""
    return {
        "pretrain": ([["pretrain", "--config", "train.toml", "--resume"]], ["run"], args.kills),
        "rollout": ([["rollout", "--config", "rollout.toml"]], ["ds-rollout"], args.kills),
        "rollout-2-ranks": (
            [
                ["rollout", "--config", "rollout.toml", "--out", "ds-ranks", "--rank", "1", "--world-size", "2"],
                ["rollout", "--config", "rollout.toml", "--out", "ds-ranks", "--rank", "0", "--world-size", "2"],
            ],
            ["ds-ranks"],
            args.other_kills,
        ),
        "corrupt": ([["corrupt", "--config", "corrupt.toml"]], ["ds"], args.other_kills),
        "fixer-train": (
            [["fixer", "train", "--pairs", "ref/ds", "--tokenizer", "tok/tokenizer.json", "--steps", "40", "--resume", "--out", "fixer"]],
            ["fixer"],
            args.other_kills,
        ),
        "eval-repair": (
            [["eval", "repair", "--bench", "bench.json", "--lang", "excel", "--limit", "12", "--checkpoint", "ref/run/checkpoint", "--out", "eval"]],
            ["eval"],
            args.other_kills,
        ),
        "pipeline": ([["pipeline", "run", "soak.toml"]], ["ds", "outputs/corpus/excel"], args.other_kills),
    }


def setup(lastmile, root: Path, steps: int):
    """The shared inputs: a mined Excel slice, a tokenizer, the configs."""
    root.mkdir(parents=True, exist_ok=True)
    euses = (REPO / "corpora/excel/euses-formulas.txt").read_text().splitlines()[:1500]
    (root / "formulas.txt").write_text("\n".join(euses) + "\n")
    (root / "excel.toml").write_text(MINE)
    (root / "model.toml").write_text(MODEL)
    (root / "train.toml").write_text(TRAIN.format(steps=steps))
    (root / "corrupt.toml").write_text(PAIRS.format(checkpoint="", tail="", out="ds", pairs=300, per_unit=128, kind="rules", source=RULES_SOURCE))
    (root / "rollout.toml").write_text(PAIRS.format(
            checkpoint='checkpoint = "ref/run/checkpoint"\n', tail="[sampler]\nstride = 100\n", out="ds-rollout", pairs=120, per_unit=4, kind="anchored", source=ROLLOUT_SOURCE
        ))
    (root / "soak.toml").write_text(PIPELINE)
    shutil.copy(REPO / "corpora/benchmarks/repair/excel.json", root / "bench.json")
    run(lastmile, root, ["mine", "--config", "excel.toml"])
    run(lastmile, root, ["tokenizer", "train", "--corpus", "outputs/corpus/excel", "--vocab-size", "300", "--out", "tok/tokenizer.json"])


def fresh_copy(base: Path, to: Path):
    if to.exists():
        shutil.rmtree(to)
    shutil.copytree(base, to, symlinks=True, ignore=shutil.ignore_patterns("ref", "soak-*"))
    (to / "ref").symlink_to(base / "ref")


def soak(args, name, commands, outputs, kills, base: Path, rng: random.Random):
    lastmile = args.lastmile
    reference_dir = base / f"soak-{name}-reference"
    fresh_copy(base, reference_dir)
    if name == "pipeline":
        shutil.rmtree(reference_dir / "outputs", ignore_errors=True)
    clock = time.time()
    for c in commands:
        run(lastmile, reference_dir, c)
    duration = time.time() - clock
    reference = tree(reference_dir, outputs)
    if not reference:
        sys.exit(f"kill-soak: {name} wrote nothing under {outputs}")

    done_kills, cycles, problems = 0, 0, []
    while done_kills < kills:
        cycles += 1
        work = base / f"soak-{name}"
        fresh_copy(base, work)
        if name == "pipeline":
            shutil.rmtree(work / "outputs", ignore_errors=True)
        for c in commands:
            while True:
                p = subprocess.Popen([lastmile, "--quiet", *c], cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                # anywhere in a run: start-up, steps, checkpoint and shard writes, finalize
                delay = rng.uniform(0.05, max(0.3, duration))
                try:
                    p.wait(timeout=delay if done_kills < kills else None)
                except subprocess.TimeoutExpired:
                    p.send_signal(signal.SIGKILL)
                    p.wait()
                    done_kills += 1
                    problems += [f"after kill {done_kills}: {x}" for x in visible_whole(lastmile, work, outputs)]
                    continue
                if p.returncode != 0:
                    problems.append(f"{' '.join(c)} exited {p.returncode} after a resume: {p.stderr.read().decode()[-500:]}")
                break
        got = tree(work, outputs)
        if got != reference:
            differ = sorted(k for k in set(got) | set(reference) if got.get(k) != reference.get(k))
            problems.append(f"cycle {cycles}: outputs differ from the uninterrupted run: {differ[:8]}")
    return {"stage": name, "kills": done_kills, "cycles": cycles, "reference_s": round(duration, 2), "files": len(reference), "problems": problems}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lastmile", required=True, help="the lastmile binary")
    ap.add_argument("--work", default="outputs/soak", help="scratch directory (wiped)")
    ap.add_argument("--stages", default="pretrain,rollout,rollout-2-ranks,corrupt,fixer-train,eval-repair,pipeline")
    ap.add_argument("--kills", type=int, default=20, help="kills for pretrain and rollout")
    ap.add_argument("--other-kills", type=int, default=5, help="kills for every other stage")
    ap.add_argument("--steps", type=int, default=60, help="pretraining steps of the soaked run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--report", default="outputs/soak/report.md")
    args = ap.parse_args()
    args.lastmile = str(Path(args.lastmile).resolve())
    base = Path(args.work).resolve()
    shutil.rmtree(base, ignore_errors=True)
    setup(args.lastmile, base, args.steps)
    # what later stages start from: a finished checkpoint and a rule-based dataset
    ref = base / "ref"
    ref.mkdir()
    for f in ["formulas.txt", "excel.toml", "model.toml", "train.toml", "corrupt.toml"]:
        shutil.copy(base / f, ref / f)
    shutil.copytree(base / "outputs", ref / "outputs")
    shutil.copytree(base / "tok", ref / "tok")
    run(args.lastmile, ref, ["pretrain", "--config", "train.toml"])
    run(args.lastmile, ref, ["corrupt", "--config", "corrupt.toml"])

    rng = random.Random(args.seed)
    table = stages(args)
    results = []
    for name in args.stages.split(","):
        commands, outputs, kills = table[name]
        result = soak(args, name, commands, outputs, kills, base, rng)
        status = "ok" if not result["problems"] else "FAILED"
        print(f"{name}: {result['kills']} kills over {result['cycles']} runs, {result['files']} files compared ... {status}", flush=True)
        for p in result["problems"]:
            print(f"  {p}")
        results.append(result)
    lines = ["| stage | kills | runs | files compared | uninterrupted run (s) | result |", "|---|---:|---:|---:|---:|---|"]
    for r in results:
        verdict = "same bytes, nothing half-written" if not r["problems"] else f"{len(r['problems'])} problems"
        lines.append(f"| {r['stage']} | {r['kills']} | {r['cycles']} | {r['files']} | {r['reference_s']} | {verdict} |")
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    sys.exit(1 if any(r["problems"] for r in results) else 0)


if __name__ == "__main__":
    main()
