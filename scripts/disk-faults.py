#!/usr/bin/env python3
"""Disk and permission faults: mine, pretrain and rollout rerun on a full disk
and on a read-only directory, over a complete previous output.

Each stage first runs to completion on a small tmpfs. Then the file system is
filled to its last kilobytes and the stage is rerun so that it must write
again (mine: as before; pretrain: resumed for more steps; rollout: another
seed), and once more with the file system remounted read-only. Every faulty
run must exit non-zero with a message naming the path and the cause, and the
previous output must still be there, whole and unchanged (a dataset still
verifies, a checkpoint's files keep their bytes).

    make disk-faults          # needs root (mount) and Linux; results in docs/reliability.md

Stdlib only.
"""
import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
soak = __import__("kill-soak")


def digests(root: Path, out: str):
    base = root / out
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(base.rglob("*")) if p.is_file() and not any(s.startswith(".") for s in p.relative_to(root).parts)}


def fill(mount: Path, leave: int):
    stat = os.statvfs(mount)
    free = stat.f_bavail * stat.f_frsize
    with open(mount / "filler", "wb") as f:
        f.write(b"\0" * max(free - leave, 0))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lastmile", required=True)
    ap.add_argument("--mount", default="/tmp/lastmile-disk-faults")
    ap.add_argument("--size-mb", type=int, default=64)
    ap.add_argument("--report", default="outputs/disk-faults/report.md")
    args = ap.parse_args()
    lastmile = str(Path(args.lastmile).resolve())
    mount = Path(args.mount)
    mount.mkdir(parents=True, exist_ok=True)
    subprocess.run(["umount", str(mount)], capture_output=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={args.size_mb}m", "tmpfs", str(mount)]).returncode != 0:
        sys.exit("disk-faults: cannot mount a tmpfs (needs root on Linux)")
    root = mount / "work"
    rows, failed = [], False
    try:
        soak.setup(lastmile, root, steps=6)
        # the rollout samples from the checkpoint the pretrain stage writes here
        rollout = (root / "rollout.toml").read_text().replace("ref/run/checkpoint", "run/checkpoint")
        (root / "rollout.toml").write_text(rollout)
        stages = {
            "mine": (["mine", "--config", "excel.toml"], ["mine", "--config", "excel.toml"], "outputs/corpus/excel"),
            # the checkpoint is the output; metrics.jsonl is a log that a resume cuts back to it
            "pretrain": (["pretrain", "--config", "train.toml"], ["pretrain", "--config", "train.toml", "--resume", "--max-steps", "12"], "run/checkpoint"),
            "rollout": (
                ["rollout", "--config", "rollout.toml", "--out", "ds"],
                ["rollout", "--config", "rollout.toml", "--out", "ds", "--seed", "9"],
                "ds",
            ),
        }
        for name, (first, again, out) in stages.items():
            soak.run(lastmile, root, first)
            # the resumable unit results are dropped, so that the rerun cannot free
            # the disk by removing them
            shutil.rmtree(root / f".{out}.units", ignore_errors=True)
            before = digests(root, out)
            for fault in ["full disk", "read-only"]:
                if fault == "full disk":
                    fill(mount, leave=0)
                else:
                    (mount / "filler").unlink(missing_ok=True)
                    subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
                p = subprocess.run([lastmile, "--quiet", *again], cwd=root, capture_output=True, text=True)
                if fault == "read-only":
                    subprocess.run(["mount", "-o", "remount,rw", str(mount)], check=True)
                (mount / "filler").unlink(missing_ok=True)
                message = " / ".join(l.strip() for l in p.stderr.strip().splitlines()[-3:])
                cause = "No space left on device" if fault == "full disk" else "Read-only file system"
                problems = []
                if p.returncode == 0:
                    problems.append("exited 0")
                # paths are printed as given: relative to the working directory
                if cause not in p.stderr or not any(name in p.stderr for name in (out.split("/")[0], str(root))):
                    problems.append(f"the message names neither the path nor the cause: {message!r}")
                if digests(root, out) != before:
                    problems.append("the previous output changed")
                if out == "ds" and soak.run(lastmile, root, ["verify", out], check=False).returncode != 0:
                    problems.append("the previous dataset no longer verifies")
                failed |= bool(problems)
                verdict = "; ".join(problems) or "refused, previous output intact"
                rows.append((name, fault, p.returncode, message[:160], verdict))
                print(f"{name} / {fault}: exit {p.returncode}: {message[:160]} ... {verdict}", flush=True)
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(mount)], capture_output=True)
        subprocess.run(["umount", str(mount)], capture_output=True)
    lines = ["| stage | fault | exit | message | result |", "|---|---|---:|---|---|"]
    lines += [f"| {a} | {b} | {c} | `{d.replace('|', '/')}` | {e} |" for a, b, c, d, e in rows]
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
