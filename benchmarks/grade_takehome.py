"""Time `torchkata grade` on a take-home filled with the reference solutions.

Usage:  .venv/bin/python benchmarks/grade_takehome.py [KATA ...]      (default: every kata with a suite)

Packages the katas, writes each reference into the unpacked take-home, grades it (sandboxed,
`grade` profile) and prints the score and the wall time, total and per kata. A script, not a
test: timings on shared machines are reported, never asserted.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from torchkata.catalog import load_catalog
from torchkata.grading.archive import unpack
from torchkata.grading.grade import grade_one
from torchkata.grading.takehome import build_package

PROJECT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("katas", nargs="*")
    args = parser.parse_args()
    catalog = load_catalog()
    katas = args.katas or [k for k in catalog if (PROJECT / "tests" / f"test_{k}.py").is_file()]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        build_package(PROJECT, katas, tmp / "takehome.zip")
        folder = unpack(tmp / "takehome.zip", tmp / "filled")
        for k in katas:
            module = catalog[k].module
            (folder / "katas" / k / module).write_text((PROJECT / "reference" / k / module).read_text())
        start = time.perf_counter()
        results = grade_one(folder, tmp / "out", PROJECT)
        total = time.perf_counter() - start
    print(f"{len(katas)} katas graded in {total:.1f} s wall: {results['message']} ({results['percent']:g}%)")
    for kata_id, k in results["katas"].items():
        print(f"  {kata_id:<22} {k['score']:>6g} / {k['max_score']:<4g} {k['passed']:>3} passed "
              f"{k['failed']:>3} failed  {k['seconds']:>6.1f} s in tests")
    for line in results["sandbox"]:
        print(f"  sandbox: {line}")
    sys.exit(0 if results["score"] == results["max_score"] else 1)


if __name__ == "__main__":
    main()
