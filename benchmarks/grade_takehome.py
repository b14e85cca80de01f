"""Time `torchkata grade` on a take-home filled three ways, and on a batch of them.

Usage:  .venv/bin/python benchmarks/grade_takehome.py [KATA ...] [--fill reference|stub|broken|all] [--twice]
        [--batch]

Packages the katas (default: the first five with a suite), fills the unpacked take-home and grades
it (sandboxed, `grade` profile), printing the score and the wall time, total and per kata:

- `reference`: every kata holds its reference solution (full marks expected);
- `stub`: the take-home as shipped, untouched (zero, without running a suite);
- `broken`: the first kata has a syntax error, the second's module is deleted, the third is the
  untouched stub, the rest are references (what a report must lead with);
- `--twice`: each fill is graded a second time, and the two results must be the same test for
  test and point for point (times and temporary paths aside);
- `--batch`: the three, zipped, graded as one folder of submissions (`grade_batch`, with the
  similarity table), as an interviewer grades a round.

A script, not a test: timings on shared machines are reported, never asserted.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from torchkata.catalog import load_catalog
from torchkata.grading.archive import unpack
from torchkata.grading.grade import GRADE_JOBS, grade_batch, grade_one
from torchkata.grading.takehome import build_package

PROJECT = Path(__file__).resolve().parent.parent
FILLS = ("reference", "stub", "broken")


def fill(folder: Path, katas: list[str], how: str) -> None:
    """Write HOW's solutions into the unpacked take-home FOLDER."""
    catalog = load_catalog()
    for i, k in enumerate(katas):
        module = catalog[k].module
        target = folder / "katas" / k / module
        reference = (PROJECT / "reference" / k / module).read_text()
        if how == "reference" or (how == "broken" and i > 2):
            target.write_text(reference)
        elif how == "broken" and i == 0:
            target.write_text(reference + "\ndef oops(:\n    pass\n")  # a syntax error near the end
        elif how == "broken" and i == 1:
            target.unlink()


def report(label: str, results: dict, seconds: float) -> None:
    print(f"{label}: {len(results['katas'])} katas graded in {seconds:.1f} s wall: {results['message']} "
          f"({results['percent']:g}%)", flush=True)
    for kata_id, k in results["katas"].items():
        print(f"  {kata_id:<22} {k['score']:>6g} / {k['max_score']:<4g} {k['passed']:>3} passed "
              f"{k['failed']:>3} failed  {k['seconds']:>6.1f} s in tests  {k.get('summary', '')}")


def comparable(results: dict) -> dict:
    """What must not change between two gradings of one submission: every test's outcome and
    points, every kata's score (not times, and not the sandbox's per-run facts)."""
    return {"score": results["score"], "status": results["status"],
            "katas": {k: (v["score"], v["passed"], v["failed"], v["skipped"], v["status"])
                      for k, v in results["katas"].items()},
            "tests": sorted((t["kata"], t["name"], t["status"], t["score"]) for t in results["tests"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("katas", nargs="*")
    parser.add_argument("--fill", choices=(*FILLS, "all"), default="reference")
    parser.add_argument("--twice", action="store_true", help="grade each fill again: the results must match")
    parser.add_argument("--batch", action="store_true", help="also grade the three fills as one batch")
    args = parser.parse_args()
    catalog = load_catalog()
    katas = args.katas or [k for k in catalog if (PROJECT / "tests" / f"test_{k}.py").is_file()][:5]
    fills = FILLS if args.fill == "all" or args.batch else (args.fill,)
    print(f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, {GRADE_JOBS} kata(s) graded at once", flush=True)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        records = tmp / "records"  # never the project's own .torchkata/takehomes
        build_package(PROJECT, katas, tmp / "takehome.zip", records=records)
        batch = tmp / "batch"
        batch.mkdir()
        for how in fills:
            folder = unpack(tmp / "takehome.zip", tmp / how)
            fill(folder, katas, how)
            start = time.perf_counter()
            results = grade_one(folder, tmp / "out" / how, PROJECT, records=records)
            report(how, results, time.perf_counter() - start)
            ok &= (results["score"] == results["max_score"]) == (how == "reference")
            if args.twice:
                start = time.perf_counter()
                again = grade_one(folder, tmp / "out" / f"{how}-again", PROJECT, records=records)
                same = comparable(again) == comparable(results)
                print(f"{how}, graded again in {time.perf_counter() - start:.1f} s wall: {again['message']}, "
                      f"{len(again['tests'])} tests, {'identical' if same else 'DIFFERENT'} to the first", flush=True)
                ok &= same
            shutil.make_archive(str(batch / f"candidate-{how}"), "zip", folder)
        if args.batch:
            start = time.perf_counter()
            rows = grade_batch(batch, tmp / "out-batch", PROJECT, records=records)
            seconds = time.perf_counter() - start
            scores = ", ".join(f"{r['submission']} {r['results']['percent']:g}%" if r["results"] else
                               f"{r['submission']} refused" for r in rows)
            print(f"batch: {len(rows)} submissions graded in {seconds:.1f} s wall: {scores}", flush=True)
        empty = tmp / "empty"
        empty.mkdir()
        start = time.perf_counter()
        refused = os.system(f"{sys.executable} -m torchkata grade {empty} --out {tmp / 'o'} >/dev/null 2>&1")
        print(f"empty folder: refused={refused != 0} in {time.perf_counter() - start:.1f} s wall", flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
