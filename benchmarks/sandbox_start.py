"""What one sandboxed worker costs to start: bubblewrap (today) against the old sandbox.

The old sandbox (before issue 13: `unshare` namespaces, rlimits and a uid of its own, no
bubblewrap, no cgroups) is taken from git (`--old`, default 7b7872e) into a temporary folder.
Each round starts a worker for kata 01 with the reference solution, makes one call, closes it,
and times that from a process that has already imported torch, so only the worker counts.
The variants run in turn within each round, so a noisy machine hits them alike:

  old        the old sandbox
  new-cold   today's sandbox, no warm spare (TORCHKATA_WARM_WORKER=0): every start pays it all
  new-warm   today's sandbox, the second kata of a grading (its worker was started, as a
             spare, while the first kata ran)

    .venv/bin/python benchmarks/sandbox_start.py --rounds 5
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KATA = "01_tensors"

# Run in a child python; prints one time per measured start.
OLD = r"""
import sys, time, torch
from pathlib import Path
from torchkata.catalog import get_kata
import torchkata.sandbox as old
from torchkata.sandbox import WorkerKata
root = Path(sys.argv[1]); spec = get_kata(sys.argv[2])
# The worker runs `python -I -m torchkata.worker`: -I ignores PYTHONPATH, which would start
# today's installed worker. Start the old tree's worker instead, the rest of the line unchanged.
src = str(Path(old.__file__).parent.parent)
boot = f"import sys, runpy; sys.path.insert(0, {src!r}); runpy.run_module('torchkata.worker', run_name='__main__', alter_sys=True)"
popen = old.subprocess.Popen
def rewritten(cmd, *a, **kw):
    i = cmd.index("torchkata.worker")
    return popen([*cmd[:i - 1], "-c", boot, *cmd[i + 1:]], *a, **kw)
import types
old.subprocess = types.SimpleNamespace(**{**vars(sys.modules["subprocess"]), "Popen": rewritten})
hide = [root / "tests", root / "tooling_tests", root / ".git"]
t = time.perf_counter()
k = WorkerKata(spec, root / "reference", root / "tests", hide)
k.call("normalize_rows", torch.ones(2, 3))
k.close()
print(time.perf_counter() - t)
"""

NEW = r"""
import sys, time, torch
from pathlib import Path
from torchkata.catalog import get_kata
from torchkata.layout import Layout
from torchkata.grading.sandbox import WorkerKata
root = Path(sys.argv[1]); spec = get_kata(sys.argv[2])
for _ in range(int(sys.argv[3])):
    t = time.perf_counter()
    k = WorkerKata(spec, root / "reference", Layout(root))
    k.call("normalize_rows", torch.ones(2, 3))
    k.close()
    print(time.perf_counter() - t, flush=True)
    time.sleep(float(sys.argv[4]))  # a real kata's tests run here (the spare warms meanwhile)
"""


def old_tree(rev: str, into: Path) -> Path:
    blob = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(blob)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def timed(code: str, src: Path, extra_env: dict, *args: str) -> list[float]:
    env = {**os.environ, "PYTHONPATH": str(src), **extra_env}
    out = subprocess.run([sys.executable, "-c", code, str(ROOT), KATA, *args], capture_output=True, text=True,
                         env=env, cwd=ROOT)
    if out.returncode:
        raise SystemExit(f"a measured run failed:\n{out.stderr[-2000:]}")
    return [float(line) for line in out.stdout.split()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--old", default="7b7872e", help="the commit of the old sandbox")
    args = parser.parse_args()
    times: dict[str, list[float]] = {"old": [], "new-cold": [], "new-warm": []}
    with tempfile.TemporaryDirectory() as tmp:
        old_src = old_tree(args.old, Path(tmp))
        for _ in range(args.rounds):
            times["old"] += timed(OLD, old_src, {})
            times["new-cold"] += timed(NEW, ROOT / "src", {"TORCHKATA_WARM_WORKER": "0"}, "1", "0")
            # Two kata starts in one grader: the second takes the spare that the first one's
            # start warmed, 4 s later (a kata's tests take at least that long).
            warm = timed(NEW, ROOT / "src", {}, "2", "4")
            times["new-warm"].append(warm[1])
    base = statistics.median(times["old"])
    print(f"worker start + one call + close, kata {KATA}, median of {args.rounds} rounds (variants interleaved)")
    print(f"{'variant':10} {'median s':>9} {'min s':>7} {'vs old':>7}")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"{name:10} {med:9.3f} {min(values):7.3f} {med / base:6.2f}x")


if __name__ == "__main__":
    main()
