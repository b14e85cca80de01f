"""How long a learner, an author and an interviewer wait: writes BENCHMARKS.md.

Usage:  .venv/bin/python benchmarks/feedback.py [--katas 01_tensors ...] [--verify] [--grade N] [--out BENCHMARKS.md]

Every figure is measured in this one run on this machine and reported beside the floor,
``python -c "import torch, pytest, hypothesis"``, as a ratio (the machines are shared and noisy:
ratios measured together travel, absolute seconds do not):

- per kata: the time to the first failure on the stub (`pytest katas/<id> -x`), to the first
  failure of a solution with one wrong function (the kata's first mutant, `-x`), and the whole
  suite on the reference (the learner's default `dev` profile);
- `--verify`: `torchkata verify` (the heart of `make check`) serial and with `-n auto`;
- `--grade N`: grading a take-home of the first N katas filled with the references, left as
  stubs, and broken (sandboxed; see benchmarks/grade_takehome.py), a batch of the three, and an
  empty folder refused, beside one in-process run of the same suites;
- with KATAS_MNIST_ROOT set: the MNIST reference's training time and accuracy.

A script, not a test: nothing here is asserted.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
PY = sys.executable
sys.path.insert(0, str(PROJECT / "src"))

from torchkata.authoring.verify import _apply_edits  # noqa: E402
from torchkata.catalog import load_catalog  # noqa: E402
from torchkata.layout import Layout  # noqa: E402

PYTEST = [PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "--tb=no", "-rN"]


def timed(cmd: list[str], env: dict | None = None, timeout: float = 1800) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=PROJECT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    return time.perf_counter() - start, proc


def floor(repeats: int = 3) -> float:
    return statistics.median(timed([PY, "-c", "import torch, pytest, hypothesis"])[0] for _ in range(repeats))


def first_mutant_root(layout: Layout, spec, tmp: Path) -> Path | None:
    """The reference with the kata's first catalog mutant applied: one wrong function."""
    path = layout.mutants_file(spec)
    if not path.is_file():
        return None
    entries = tomllib.loads(path.read_text()).get("mutant", [])
    entry = next((e for e in entries if "mistake" in e), None)
    if entry is None:
        return None
    root = tmp / spec.id
    (root / spec.id).mkdir(parents=True, exist_ok=True)
    (root / spec.id / spec.module).write_text(_apply_edits(layout.reference_module(spec).read_text(), entry))
    return root


def kata_rows(katas: list[str], base: float, tmp: Path) -> list[str]:
    layout = Layout(PROJECT)
    catalog = load_catalog()
    rows = ["| kata | stub: first failure | wrong function: first failure | reference: whole suite (dev) | tests |",
            "| --- | --- | --- | --- | --- |"]
    env = {"CI": ""}  # the learner's default profile, not ci's
    for kata_id in katas:
        spec = catalog[kata_id]
        stub, _ = timed(PYTEST + [f"katas/{kata_id}", "-x"], env)
        mutant_root = first_mutant_root(layout, spec, tmp)
        wrong = timed(PYTEST + [str(layout.suite_file(spec)), "--torchkata-impl", str(mutant_root), "-x"], env)[0] \
            if mutant_root else None
        ref, proc = timed(PYTEST + [f"reference/{kata_id}"], env)
        counts = re.findall(r"(\d+) (passed|failed|skipped)", proc.stdout)
        tests = ", ".join(f"{n} {w}" for n, w in counts)
        cells = [f"{stub:.1f} s ({stub / base:.2f}×)",
                 f"{wrong:.1f} s ({wrong / base:.2f}×)" if wrong is not None else "-",
                 f"{ref:.1f} s ({ref / base:.2f}×)", tests]
        rows.append(f"| {kata_id} | " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    return rows


def verify_rows(base: float) -> list[str]:
    serial, _ = timed([PY, "-m", "torchkata", "verify", "--jobs", "0"], timeout=5400)
    parallel, proc = timed([PY, "-m", "torchkata", "verify", "--jobs", "auto"], timeout=5400)
    verdict = next((line for line in proc.stdout.splitlines() if "katas verified" in line), "?")
    return [f"- `torchkata verify` serial: {serial:.0f} s ({serial / base:.0f}× the floor); "
            f"`-n auto`: {parallel:.0f} s ({parallel / base:.0f}×); ratio serial / parallel "
            f"{serial / parallel:.2f}. Verdict: {verdict}"]


def grade_rows(katas: list[str], base: float) -> list[str]:
    sandboxed, proc = timed([PY, str(PROJECT / "benchmarks" / "grade_takehome.py"), *katas, "--batch"],
                            timeout=3600)
    lines = [line for line in proc.stdout.splitlines() if line.strip()] or [proc.stderr.strip()[-300:]]
    in_process, _ = timed(PYTEST + [*(f"reference/{k}" for k in katas), "--hypothesis-profile", "grade"])
    reference = next((line for line in lines if line.startswith("reference:")), "")
    seconds = re.search(r"in ([0-9.]+) s wall", reference)
    ratio = f"; ratio to one in-process run of the same suites ({in_process:.0f} s, `grade` profile): " \
            f"{float(seconds.group(1)) / in_process:.2f}×" if seconds else ""
    return [f"`benchmarks/grade_takehome.py {' '.join(katas)} --batch` ({sandboxed:.0f} s in all; floor "
            f"{base:.1f} s{ratio}):", "", "```", *lines, "```"]


def mnist_rows() -> list[str]:
    if not os.environ.get("KATAS_MNIST_ROOT"):
        return ["- MNIST: KATAS_MNIST_ROOT is unset, not measured."]
    seconds, proc = timed([PY, str(PROJECT / "benchmarks" / "mnist_reference.py")])
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    return [f"- MNIST reference (benchmarks/mnist_reference.py, {seconds:.0f} s including import): "
            + "; ".join(lines[-3:])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--katas", nargs="*", default=None, help="default: every kata with a hidden suite")
    parser.add_argument("--verify", action="store_true", help="also time torchkata verify, serial and -n auto")
    parser.add_argument("--grade", type=int, default=5, help="katas in the graded take-home (0: skip)")
    parser.add_argument("--out", default=str(PROJECT / "BENCHMARKS.md"))
    args = parser.parse_args()
    layout = Layout(PROJECT)
    katas = args.katas or [k.id for k in load_catalog().values() if layout.suite_file(k).is_file()]
    load = os.getloadavg()[0]
    base = floor()
    print(f"floor {base:.2f} s", flush=True)
    lines = ["# Benchmarks", "",
             f"Written by `benchmarks/feedback.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: "
             f"{os.cpu_count()} cores, {platform.python_version()}, load average {load:.1f} at the start. "
             "Every ratio is over the floor measured in the same run.", "",
             f"**Floor** (`python -c \"import torch, pytest, hypothesis\"`, median of 3): **{base:.2f} s**.", "",
             "## A learner's wait, per kata", "",
             "Targets (issue 15): stub's first failure ≤ 1.3×, a wrong solution's first failure ≤ 2×, "
             "the whole suite on a correct solution ≤ 2.5× the floor.", ""]
    with tempfile.TemporaryDirectory() as tmp:
        lines += kata_rows(katas, base, Path(tmp))
    lines += ["", "## An interviewer's wait", ""]
    if args.grade:
        lines += grade_rows(katas[: args.grade], base)
    lines += ["", "## An author's wait", ""]
    lines += verify_rows(base) if args.verify else ["- `--verify` not given: not measured in this run."]
    lines += ["", "## Training katas", ""] + mnist_rows() + [""]
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
