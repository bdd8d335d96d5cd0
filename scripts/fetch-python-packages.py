#!/usr/bin/env python3
"""Fetch the pinned Python wheels of corpora/python/packages.lock and unpack their
Python sources into corpora/python/packages/<name>-<version>/.

pip downloads each wheel with --require-hashes, so a file whose sha256 differs from
the lock is refused. Only `*.py` files are kept, without vendored third-party trees
(`_vendor/`, whose licences differ from the package's). Each package is unpacked into
a staging folder that replaces the old one only when complete; a package already
unpacked at the pinned version is skipped, so a rerun is cheap and works offline.

Usage: scripts/fetch-python-packages.py [--lock corpora/python/packages.lock]
                                        [--out corpora/python/packages]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

SKIP_PARTS = ("/_vendor/", "/vendored/")


def parse_lock(path):
    """(name, version) per pinned line; the hashes stay in the file for pip."""
    pins = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            spec = line.split()[0]
            if "==" not in spec or "--hash=sha256:" not in line:
                sys.exit(f"{path}:{number}: expected `name==version --hash=sha256:...`, got {line!r}")
            name, version = spec.split("==", 1)
            pins.append((name, version))
    return pins


def unpack(wheel, dest):
    staging = dest + ".partial"
    shutil.rmtree(staging, ignore_errors=True)
    kept = 0
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            if not member.endswith(".py") or any(p in "/" + member for p in SKIP_PARTS):
                continue
            target = os.path.normpath(os.path.join(staging, member))
            if not target.startswith(staging + os.sep):
                sys.exit(f"{wheel}: refusing a path outside the package: {member}")
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with archive.open(member) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
            kept += 1
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(staging, dest)
    return kept


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lock", default="corpora/python/packages.lock")
    parser.add_argument("--out", default="corpora/python/packages")
    args = parser.parse_args()
    pins = parse_lock(args.lock)
    os.makedirs(args.out, exist_ok=True)
    missing = [(n, v) for n, v in pins if not os.path.isdir(os.path.join(args.out, f"{n}-{v}"))]
    stale = sorted(set(os.listdir(args.out)) - {f"{n}-{v}" for n, v in pins})
    for name in stale:
        shutil.rmtree(os.path.join(args.out, name))
    if not missing:
        print(f"{args.out}: {len(pins)} packages, all unpacked at their pinned versions")
        return
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes",
             "--only-binary", ":all:", "--python-version", "3.11", "--implementation", "cp",
             "--platform", "manylinux2014_x86_64", "--platform", "any", "-r", args.lock, "-d", tmp],
            check=True,
        )
        wheels = os.listdir(tmp)
        for name, version in missing:
            prefix = f"{name.replace('-', '_').lower()}-{version}-"
            found = [w for w in wheels if w.lower().startswith(prefix)]
            if len(found) != 1:
                sys.exit(f"{args.lock}: no single wheel for {name}=={version} among {sorted(wheels)}")
            kept = unpack(os.path.join(tmp, found[0]), os.path.join(args.out, f"{name}-{version}"))
            print(f"{name}=={version}: {kept} Python files")


if __name__ == "__main__":
    main()
