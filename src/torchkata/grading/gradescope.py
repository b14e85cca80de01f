"""A Gradescope autograder bundle: the same sandboxed grading, run in Gradescope's container.

`build_gradescope_bundle` writes a zip laid out as Gradescope's autograder specification asks
(https://gradescope-autograders.readthedocs.io/en/latest/specs/): at its root `setup.sh` (run
once, as root, when Gradescope builds the image: a venv with torch and torchkata from PyPI and
from the source copy in the bundle) and `run_autograder` (run per submission). Beside them:

- ``torchkata-src/``: this torchkata (the grading room included), installed by setup.sh;
- ``project/``: the hidden suite of the chosen katas, its drivers and pyproject.toml, and the
  interviewer's take-home record when one is named. Gradescope's container is the interviewer's
  side: the hidden suite may live there (never in the take-home). The sandboxed worker does not
  see it (it is not on the import path, and Layout.hidden covers it);
- ``torchkata-gradescope.json``: what to grade (katas or record, scoring, device, visibility).

`run_autograder` copies the submission (<root>/submission: a take-home folder, its files, or one
archive of it) into a private folder, grades it with `grade_one` (the hidden suites run against
sandboxed workers) and writes <root>/results/results.json in Gradescope's format from the
gradescope.json that `write_reports` writes. The root is $GRADESCOPE_ROOT, default /autograder,
so the whole path runs against a mock of Gradescope's folders (submission/, source/, results/).
Every text the candidate controls lands in Gradescope as plain text (output_format "text").
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from torchkata import __version__
from torchkata.catalog import get_kata
from torchkata.layout import Layout

ROOT_ENV = "GRADESCOPE_ROOT"
DEFAULT_ROOT = "/autograder"
CONFIG_NAME = "torchkata-gradescope.json"
SOURCE_COPY = "torchkata-src"
PROJECT_COPY = "project"
VENV = "torchkata-venv"  # under the root: made by setup.sh, used by run_autograder
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
OUTPUT_LIMIT = 20_000  # characters of the overall output shown on Gradescope

SETUP_SH = """\
#!/usr/bin/env bash
# torchkata autograder: runs once, as root, while Gradescope builds the image.
set -euo pipefail
HERE="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)"
ROOT="${{GRADESCOPE_ROOT:-/autograder}}"
if command -v apt-get >/dev/null; then
  apt-get update -q || true
  # bubblewrap isolates each solution; without it grading still runs and every report says so.
  apt-get install -y -q bubblewrap python3-venv || true
fi
PY=""
for candidate in "${{TORCHKATA_SETUP_PYTHON:-}}" python3.13 python3.12 python3.11 python3; do
  if [ -n "$candidate" ] && command -v "$candidate" >/dev/null \\
     && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then PY="$candidate"; break; fi
done
if [ -z "$PY" ] && command -v apt-get >/dev/null; then
  apt-get install -y -q python3.11 python3.11-venv && PY=python3.11
fi
if [ -z "$PY" ]; then
  echo "torchkata needs Python >= 3.11: choose a Gradescope base image that has it" >&2
  exit 1
fi
"$PY" -m venv "$ROOT/{venv}"
"$ROOT/{venv}/bin/python" -m pip install -q --upgrade pip
"$ROOT/{venv}/bin/python" -m pip install -q {torch}
"$ROOT/{venv}/bin/python" -m pip install -q "$HERE/{source}"
"$ROOT/{venv}/bin/python" -c "import torch, torchkata.grading.gradescope; print('torchkata', torchkata.__version__, 'torch', torch.__version__)"
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# torchkata autograder: grades <root>/submission, writes <root>/results/results.json.
ROOT="${{GRADESCOPE_ROOT:-/autograder}}"
PY="${{TORCHKATA_PYTHON:-$ROOT/{venv}/bin/python}}"
exec "$PY" -m torchkata.grading.gradescope "$ROOT"
"""


class GradescopeError(Exception):
    """The bundle cannot be built as asked (one line)."""


def _source_files(project: Path) -> dict[str, Path]:
    """The installable torchkata of PROJECT: pyproject.toml, README.md, LICENSE, src/torchkata."""
    files = {}
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (project / name).is_file():
            files[name] = project / name
    package = project / "src" / "torchkata"
    if not package.is_dir():
        import torchkata
        package = Path(torchkata.__file__).resolve().parent
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            if name not in files and (package.parent.parent / name).is_file():
                files[name] = package.parent.parent / name
    if "pyproject.toml" not in files:
        raise GradescopeError(f"no pyproject.toml of torchkata to install from (looked in {project})")
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".toml", ".typed"):
            files[f"src/torchkata/{path.relative_to(package).as_posix()}"] = path
    return files


def _suite_files(layout: Layout, kata_ids: list[str]) -> dict[str, Path]:
    """What grading these katas reads of the project, by path under its root: their hidden suites,
    every driver (the suite digest covers them all), the suite's conftest/__init__, pyproject.toml."""
    paths = [layout.root / "pyproject.toml"]
    for kata_id in kata_ids:
        suite = layout.suite_file(get_kata(kata_id))
        if not suite.is_file():
            raise GradescopeError(f"cannot bundle {kata_id}: {suite} is missing")
        paths.append(suite)
    paths += [layout.suite / name for name in ("conftest.py", "__init__.py") if (layout.suite / name).is_file()]
    if layout.drivers.is_dir():
        paths += sorted(layout.drivers.glob("*.py"))
    return {path.relative_to(layout.root).as_posix(): path for path in paths}


def build_gradescope_bundle(project: Path, kata_ids: list[str], out: Path, *, takehome: str | None = None,
                            records: Path | None = None, scoring: str | None = None, device: str = "cpu",
                            visibility: str = "after_published", torch_spec: str = "torch>=2.4",
                            torch_index_url: str | None = None) -> Path:
    """Write a Gradescope autograder zip to OUT that grades KATA_IDS with their hidden suites; return OUT.

    TAKEHOME (a record id in RECORDS, default <project>/.torchkata/takehomes) grades by that
    take-home's record, as `torchkata grade` does (katas, scoring, shipped files); its katas must
    be KATA_IDS (or KATA_IDS empty). Without it, KATA_IDS are graded as with `--katas`. SCORING
    overrides the policy; DEVICE is cpu (Gradescope has no GPU); VISIBILITY is Gradescope's
    (hidden, after_due_date, after_published, visible) for the results: after_published keeps a
    candidate from probing the hidden suite by resubmitting. TORCH_SPEC / TORCH_INDEX_URL: what
    setup.sh installs torch from (PyPI by default; https://download.pytorch.org/whl/cpu is smaller)."""
    from torchkata.grading.record import RecordError, default_store, load_record, record_path

    project = Path(project).resolve()
    layout = Layout(project)
    if visibility not in VISIBILITIES:
        raise GradescopeError(f"unknown visibility {visibility!r} (one of {', '.join(VISIBILITIES)})")
    if scoring not in (None, "per-property", "all-or-nothing"):
        raise GradescopeError(f"unknown scoring policy {scoring!r}")
    ids = [get_kata(k).id for k in kata_ids]
    record = None
    if takehome is not None:
        store = Path(records) if records is not None else default_store(project)
        try:
            record = load_record(store, takehome)
        except RecordError as err:
            raise GradescopeError(str(err)) from None
        if ids and ids != list(record.katas):
            raise GradescopeError(f"take-home {takehome} grades {', '.join(record.katas)}, not {', '.join(ids)}")
        ids = list(record.katas)
    if not ids:
        raise GradescopeError("no katas to grade")
    if len(set(ids)) != len(ids):
        raise GradescopeError("a kata is named twice")
    config = {"katas": ids, "takehome": takehome, "scoring": scoring, "device": device,
              "visibility": visibility, "torchkata_version": __version__}
    torch = shlex.quote(torch_spec) + (f" --index-url {shlex.quote(torch_index_url)}" if torch_index_url else "")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        def script(name: str, text: str) -> None:
            info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
            info.external_attr = (0o100755 << 16)  # executable, as Gradescope runs them
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, text)

        script("setup.sh", SETUP_SH.format(venv=VENV, source=SOURCE_COPY, torch=torch))
        script("run_autograder", RUN_AUTOGRADER.format(venv=VENV))
        zf.writestr(CONFIG_NAME, json.dumps(config, indent=1) + "\n")
        for rel, path in _source_files(project).items():
            zf.write(path, f"{SOURCE_COPY}/{rel}")
        for rel, path in _suite_files(layout, ids).items():
            zf.write(path, f"{PROJECT_COPY}/{rel}")
        if record is not None:
            zf.writestr(record_path(default_store(Path(PROJECT_COPY)), record.id).as_posix(),
                        json.dumps(record.to_dict(), indent=1) + "\n")
    return out


# ------------------------------------------------------------------------------ in Gradescope's container

def gradescope_root() -> Path:
    return Path(os.environ.get(ROOT_ENV) or DEFAULT_ROOT)


def _pick_submission(folder: Path) -> Path:
    """What to grade in Gradescope's submission folder: the folder itself (a take-home's files,
    or one top folder holding them), or the one archive uploaded in it."""
    from torchkata.grading.archive import is_archive

    entries = [p for p in folder.iterdir() if not p.name.startswith((".", "__MACOSX"))] if folder.is_dir() else []
    if (folder / "katas").is_dir() or (folder / "manifest.json").is_file():
        return folder
    archives = [p for p in entries if not p.is_symlink() and is_archive(p)]
    if len(archives) == 1 and len(entries) == 1:
        return archives[0]
    return folder


def _point_manifest_at(copy: Path, takehome: str) -> None:
    """The bundle grades one take-home: make the copy's manifest name its record (uploads often
    drop manifest.json). The candidate's other claims stay, to be compared with the record."""
    path = copy / "manifest.json"
    try:
        returned = json.loads(path.read_text(errors="replace")) if path.is_file() and not path.is_symlink() else {}
    except ValueError:
        returned = {}
    if not isinstance(returned, dict):
        returned = {}
    if returned.get("takehome_id") != takehome:
        path.unlink(missing_ok=True)
        path.write_text(json.dumps({**returned, "takehome_id": takehome}))


def _failure(message: str, started: float, config: dict) -> dict:
    return {"score": 0.0, "execution_time": round(time.time() - started), "output": message[:OUTPUT_LIMIT],
            "output_format": "text", "visibility": config.get("visibility") or "after_published",
            "stdout_visibility": "hidden", "tests": []}


def _gradescope_results(results: dict, gradescope: dict, config: dict, started: float) -> dict:
    lines = [results["message"] + f" ({results['percent']:g}%)"]
    lines += [f"{kata_id}: {k['score']:g} / {k['max_score']:g} · {k['summary']}" for kata_id, k in results["katas"].items()]
    if results.get("ignored_files"):
        lines.append(f"{len(results['ignored_files'])} files other than the kata modules were ignored")
    tests = [{**t, "output_format": "text"} for t in gradescope["tests"]]
    return {
        "score": gradescope["score"],
        "execution_time": round(time.time() - started),
        "output": "\n".join(lines)[:OUTPUT_LIMIT],
        "output_format": "text",
        "test_output_format": "text",
        "test_name_format": "text",
        "visibility": config.get("visibility") or "after_published",
        "stdout_visibility": "hidden",
        "extra_data": {"torchkata_version": __version__, "max_score": gradescope["max_score"],
                       "scoring": results.get("scoring"),
                       "alerts": results.get("alerts", []), "sandbox": results.get("sandbox", [])},
        "tests": tests,
    }


def run_autograder(root: Path | None = None) -> dict:
    """Grade ROOT/submission with the bundle in ROOT/source; write and return ROOT/results/results.json.

    Whatever happens, a results.json Gradescope can read is written (score 0 with the reason
    when the submission cannot be graded at all)."""
    from torchkata.grading.archive import ArchiveRefused, unpack
    from torchkata.grading.grade import GradingError, grade_one
    from torchkata.grading.record import default_store
    from torchkata.grading.reports import render_markdown

    started = time.time()
    root = Path(root) if root is not None else gradescope_root()
    source, results_dir = root / "source", root / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    config = json.loads((source / CONFIG_NAME).read_text())
    project = source / PROJECT_COPY
    work = Path(tempfile.mkdtemp(prefix="torchkata-gradescope-"))  # 0700: the worker cannot look in
    try:
        try:
            picked = _pick_submission(root / "submission")
            # A private copy: links are never followed, archives are unpacked with the usual limits.
            copy = unpack(picked, work / "submission")
            takehome = config.get("takehome")
            if takehome:
                _point_manifest_at(copy, takehome)
            results = grade_one(copy, work / "out", project, device=config.get("device") or "cpu",
                                records=default_store(project) if takehome else None,
                                katas=None if takehome else list(config["katas"]), scoring=config.get("scoring"))
        except (GradingError, ArchiveRefused) as err:
            payload = _failure(f"The submission could not be graded: {err}", started, config)
        except Exception as err:  # noqa: BLE001 - Gradescope must get a results.json whatever happens
            payload = _failure(f"The autograder failed ({type(err).__name__}); the instructor can see why.", started,
                               config)
            print(f"torchkata autograder error: {type(err).__name__}: {err}", file=sys.stderr)
        else:
            gradescope = json.loads((work / "out" / "gradescope.json").read_text())
            payload = _gradescope_results(results, gradescope, config, started)
            print(render_markdown(results))  # stdout: shown to the instructor only (stdout_visibility hidden)
        (results_dir / "results.json").write_text(json.dumps(payload, indent=1))
        return payload
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    payload = run_autograder(Path(argv[0]) if argv else None)
    print(f"score {payload['score']:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
