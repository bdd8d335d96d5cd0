#!/usr/bin/env python3
"""Unpack the committed PowerShell sources (corpora/powershell/sources.tar.xz: module
scripts and reference docs, listed in corpora/README.md) into corpora/powershell/modules
and corpora/powershell/reference.

The archive's sha256 must match corpora/powershell/sources.sha256, so a truncated or
replaced archive (a Git LFS pointer, a failed checkout) is refused with the reason.
Each top-level folder is unpacked into a staging folder that replaces the old one only
when complete; a folder already unpacked from the same archive is skipped, so a rerun is
cheap.

Usage: scripts/unpack-powershell-corpus.py [--archive corpora/powershell/sources.tar.xz]
"""
import argparse
import hashlib
import os
import shutil
import sys
import tarfile

STAMP = ".unpacked-from"


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def expected_hash(path):
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if line:
                value = line.split()[0]
                if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
                    sys.exit(f"{path}:{number}: expected a sha256 in hex, got {value!r}")
                return value
    sys.exit(f"{path}: no sha256 in the file")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", default="corpora/powershell/sources.tar.xz")
    parser.add_argument("--sha256", default="corpora/powershell/sources.sha256")
    args = parser.parse_args()
    if not os.path.isfile(args.archive):
        sys.exit(f"{args.archive}: missing (it is part of the repository: check out the whole tree)")
    want = expected_hash(args.sha256)
    have = sha256(args.archive)
    if have != want:
        sys.exit(f"{args.archive}: sha256 {have} does not match {args.sha256} ({want})")
    root = os.path.dirname(os.path.abspath(args.archive))
    with tarfile.open(args.archive, "r:xz") as archive:
        members = archive.getmembers()
        tops = sorted({m.name.split("/", 1)[0] for m in members})
        for top in tops:
            dest = os.path.join(root, top)
            stamp = os.path.join(dest, STAMP)
            if os.path.isfile(stamp) and open(stamp, encoding="utf-8").read().strip() == want:
                print(f"{dest}: already unpacked")
                continue
            staging = dest + ".partial"
            shutil.rmtree(staging, ignore_errors=True)
            os.makedirs(staging)
            count = 0
            for member in members:
                if member.name.split("/", 1)[0] != top or not member.isfile():
                    continue
                relative = member.name.split("/", 1)[1] if "/" in member.name else ""
                target = os.path.normpath(os.path.join(staging, relative))
                if not relative or not target.startswith(staging + os.sep):
                    sys.exit(f"{args.archive}: refusing a path outside {top}/: {member.name}")
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with archive.extractfile(member) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
                count += 1
            with open(os.path.join(staging, STAMP), "w", encoding="utf-8") as f:
                f.write(want + "\n")
            shutil.rmtree(dest, ignore_errors=True)
            os.replace(staging, dest)
            print(f"{dest}: {count} files")


if __name__ == "__main__":
    main()
