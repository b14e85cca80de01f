"""`torchkata package`: a self-contained take-home, without the hidden suite or the answers.

The archive holds one top-level folder with: the candidate's README, pyproject.toml and a
Makefile, the torchkata plugin (src/torchkata) with a catalog of the chosen katas only (their
contract, without the `mistakes` the hidden suite hunts for), for each kata its README (with
the hints of the chosen level) and stub (plus a pristine copy under .torchkata/stubs for
`torchkata reset`), visible example tests, and manifest.json. Never: tests/ (the hidden suite
and its drivers), reference/, mutants, another kata's contract, a solved working copy: every
stub is the committed one (`git show HEAD:...`), or outside git an untouched working file.

What grading trusts is not in the archive: `package` writes the interviewer's record
(torchkata.grading.record) to the record store; the manifest carries only its id.
"""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
import tomllib
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from torchkata import __version__
from torchkata.catalog import CATALOG_PATH, KataSpec, get_kata
from torchkata.grading.grade import suite_digest
from torchkata.grading.record import HINT_LEVELS, SCORING_POLICIES, Record, default_store, new_id, save_record
from torchkata.layout import Layout
from torchkata.learn.loop import keep_hints, split_hints
from torchkata.learn.progress import is_untouched_source
from torchkata.policy import POLICY_PATH

PACKAGE_DIR = Path(__file__).resolve().parent.parent
# What ships: the core (the package's own folder) and the learner's room. The grading and
# authoring rooms are folders of their own and never ship.
SHIPPED_ROOMS = (PACKAGE_DIR, PACKAGE_DIR / "learn")

_PYPROJECT = """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "torchkata-takehome"
version = "{version}"
requires-python = ">=3.11"
dependencies = ["torch>=2.4", "numpy", "pytest>=8", "hypothesis>=6.100", "click>=8.1", "rich>=13"]

[project.entry-points.pytest11]
torchkata = "torchkata.plugin"

[project.scripts]
torchkata = "torchkata.learn.cli:main"

[tool.setuptools.packages.find]
where = ["src"]

[tool.setuptools.package-data]
torchkata = ["catalog.toml", "policy.toml"]

[tool.torchkata]
takehome = "{id}"

[tool.pytest.ini_options]
testpaths = ["examples"]
"""

_MAKEFILE = """\
PY ?= .venv/bin/python

# One command on a fresh machine: set up, then run the visible examples.
examples: .venv/.installed
\t$(PY) -m pytest examples -q

.venv/.installed: pyproject.toml
\ttest -x $(PY) || python3 -m venv .venv
\t$(PY) -m pip install -q -e .
\ttouch $@
"""

_SIGNATURE_TESTS = '''\
"""{id}: the names and parameters the hidden suite calls (generated from the catalog)."""
import inspect
{tests}'''

_FUNCTION_SIGNATURE = '''

def test_{name}_keeps_the_required_signature(solution):
    params = list(inspect.signature(solution.{name}.__wrapped_solution__).parameters)
    assert params[:{n}] == {params!r}, "keep the parameters of the stub: {signature}"
'''

_CLASS_SIGNATURE = '''

def test_{name}_is_defined(solution):
    assert inspect.isclass(solution.{name}), "{module} must define the class {name}"
'''

# What a take-home's catalog keeps of an entry: the contract, never `mistakes` (the wrong
# solutions the hidden suite hunts for) nor `seeds` (the interview questions behind it).
CATALOG_FIELDS = ("id", "module", "title", "difficulty", "minutes", "forbidden", "symbols")
HINTS_KEPT = {"none": 0, "nudge": 1, "all": None}


class PackagingError(Exception):
    """The take-home cannot be built as asked (one line)."""


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        return "[\n" + "".join(f"  {_toml_value(v)},\n" for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def takehome_catalog(specs: list[KataSpec], source: Path = CATALOG_PATH) -> str:
    """catalog.toml for a take-home: the chosen katas' contract only, no `mistakes`."""
    entries = {e["id"]: e for e in tomllib.loads(source.read_text())["kata"]}
    lines = ["# The contract of this take-home's katas: the names, parameters and meaning the hidden",
             "# suite tests. Read by the torchkata tool; see each kata's README for the task.", ""]
    for spec in specs:
        lines.append("[[kata]]")
        for key in CATALOG_FIELDS:
            if key in entries[spec.id]:
                lines.append(f"{key} = {_toml_value(entries[spec.id][key])}")
        lines.append("")
    text = "\n".join(lines)
    assert [e["id"] for e in tomllib.loads(text)["kata"]] == [s.id for s in specs]
    return text


def takehome_policy(specs: list[KataSpec], source: Path = POLICY_PATH) -> str:
    """policy.toml for a take-home: the prerequisites among the chosen katas and their points,
    nothing about the other katas of the catalog."""
    policy = tomllib.loads(source.read_text())
    ids = [s.id for s in specs]
    lines = ["# Policy of this take-home: the suggested order's prerequisites and each kata's points.", "",
             "[prerequisites]"]
    for kata, needs in policy.get("prerequisites", {}).items():
        kept = [n for n in needs if n in ids]
        if kata in ids and kept:
            lines.append(f"{kata} = {json.dumps(kept)}")
    points = policy.get("points", {})
    lines += ["", "[points]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in points.items() if not isinstance(v, dict)]
    lines += ["", "[points.kata]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in points.get("kata", {}).items() if k in ids]
    text = "\n".join(lines) + "\n"
    tomllib.loads(text)
    return text


def takehome_readme(readme: str, spec: KataSpec, hints: str) -> str:
    """A kata's README as the candidate gets it: the hints of the chosen level, and the run
    instructions of a take-home (its hidden suite is not there)."""
    keep = HINTS_KEPT[hints]
    text = keep_hints(readme, len(split_hints(readme)[1]) if keep is None else keep)
    return re.sub(rf"pytest katas/{re.escape(spec.id)}\b/?", f"torchkata examples {spec.id}", text)


def _git(project: Path, *args: str) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(["git", *args], cwd=project, capture_output=True, text=True)
    except OSError:
        return None


def pristine_stub_source(project: Path, spec: KataSpec) -> tuple[str, str | None]:
    """(the stub to ship, a note for the interviewer or None).

    In a git checkout: the committed stub (HEAD), or the newest committed version that is still
    untouched when HEAD holds a solution; the working copy never ships. Outside git: the working
    file, only while it is an untouched stub. Raises PackagingError when there is no pristine stub."""
    rel = f"katas/{spec.id}/{spec.module}"
    working_file = project / rel
    working = working_file.read_text() if working_file.is_file() else None
    inside = _git(project, "rev-parse", "--is-inside-work-tree")
    if inside is not None and inside.returncode == 0 and inside.stdout.strip() == "true":
        prefix = _git(project, "rev-parse", "--show-prefix")
        git_rel = (prefix.stdout.strip() if prefix and prefix.returncode == 0 else "") + rel
        log = _git(project, "log", "--format=%H", "--", rel)
        commits = log.stdout.split() if log is not None and log.returncode == 0 else []
        for n, commit in enumerate(commits):
            shown = _git(project, "show", f"{commit}:{git_rel}")
            if shown is None or shown.returncode != 0 or not is_untouched_source(shown.stdout):
                continue
            notes = []
            if n > 0:
                notes.append(f"{rel}: the newest commit holds a solution; shipped the stub of commit {commit[:10]}")
            if working is not None and working != shown.stdout:
                notes.append(f"{rel}: the working copy differs from the committed stub (solved?); "
                             "shipped the committed stub, not the working copy")
            return shown.stdout, "; ".join(notes) or None
        if not commits and working is not None and is_untouched_source(working):
            return working, f"{rel} is not committed; shipped the working file, an untouched stub"
        raise PackagingError(f"cannot package {spec.id}: no commit holds an untouched stub of {rel} "
                             "(commit the stub, every function raising NotImplementedError)")
    if working is None:
        raise PackagingError(f"cannot package {spec.id}: {working_file} is missing")
    if not is_untouched_source(working):
        raise PackagingError(f"cannot package {spec.id}: {rel} is not an untouched stub (some function does "
                             "more than raise NotImplementedError) and this is not a git checkout to take the "
                             "committed stub from; restore the stub (`torchkata reset`) first")
    return working, None


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "take-home"


def signature_tests(spec: KataSpec) -> str:
    parts = []
    for symbol in spec.symbols:
        if symbol.kind == "function":
            parts.append(_FUNCTION_SIGNATURE.format(name=symbol.name, n=len(symbol.params), params=list(symbol.params),
                                                    signature=f"{symbol.name}({', '.join(symbol.params)})"))
        else:
            parts.append(_CLASS_SIGNATURE.format(name=symbol.name, module=spec.module))
    return _SIGNATURE_TESTS.format(id=spec.id, module=spec.module, tests="".join(parts)).rstrip() + "\n"


HINTS_SAID = {
    "none": "This take-home comes **without hints**: each kata's README holds the task only.",
    "nudge": "Each kata's README carries **one hint, a nudge** (`torchkata hint <id>`); the approach and the "
             "key line are not part of this take-home.",
    "all": "Each kata's README carries **all three hints**, from a nudge to the key line "
           "(`torchkata hint <id>`, one level at a time).",
}
SCORING_SAID = {
    "per-property": "Each kata's points are shared equally by the properties the hidden suite checks: "
                    "a partly correct kata earns part of its points.",
    "all-or-nothing": "A kata earns its points only when **every** property the hidden suite checks passes.",
}


def candidate_readme(title: str, specs: list[KataSpec], minutes: int, hints: str = "nudge",
                     scoring: str = "per-property") -> str:
    lines = [f"# {title}", "",
             f"Time budget: **{minutes} minutes** in total. Work through the katas below in any order.", "",
             "| kata | what | minutes | your file |", "| --- | --- | --- | --- |"]
    for s in specs:
        lines.append(f"| {s.id} | {s.title} | {s.minutes} | `katas/{s.id}/{s.module}` |")
    lines += ["", "## What to do", "",
              "Each kata's task is in `katas/<id>/README.md`. Fill in its module: keep every function and class "
              "name and every parameter exactly as in the stub. Your work is graded by a hidden test suite that "
              "compares values, gradients, shapes, dtypes and devices against PyTorch on many drawn inputs, so test "
              "your code beyond the visible examples.", "",
              "## Hints and scoring", "", HINTS_SAID[hints], "", SCORING_SAID[scoring], "",
              "## How to run", "", "```bash", "make examples      # sets up .venv and runs the visible examples",
              ".venv/bin/torchkata examples <id>        # one kata's visible examples (--watch: re-run on save)",
              ".venv/bin/torchkata signatures           # are the names and parameters the hidden suite calls there?",
              *([".venv/bin/torchkata hint <id>            # the hints of this take-home"] if hints != "none" else []),
              ".venv/bin/torchkata --help               # every command of this take-home",
              "```", "",
              "## Rules", "",
              "- Only the kata modules (`katas/<id>/<module>.py`) are graded. Any other file you add or change "
              "(tests, conftest.py, configuration, manifest.json) is ignored.",
              "- Functions must not modify their inputs in place, and must keep the input's dtype and device.",
              "- Forbidden callables: using one (by name, alias, `getattr` or a string) fails the kata's tests.", ""]
    for s in specs:
        forbidden = ", ".join(f"`{f}`" for f in s.forbidden) or "none"
        lines.append(f"  - {s.id}: {forbidden}")
    lines += ["", "Hand back the whole folder (or a zip / tar.gz of it).", ""]
    return "\n".join(lines)


def build_package(project: Path, kata_ids: list[str], out: Path, title: str | None = None,
                  minutes: int | None = None, now: datetime | None = None, *, hints: str = "nudge",
                  scoring: str = "per-property", records: Path | None = None) -> dict:
    """Write the take-home zip to OUT and its record to RECORDS; return the shipped manifest."""
    return package_takehome(project, kata_ids, out, title, minutes, now, hints=hints, scoring=scoring,
                            records=records)[0]


def package_takehome(project: Path, kata_ids: list[str], out: Path, title: str | None = None,
                     minutes: int | None = None, now: datetime | None = None, *, hints: str = "nudge",
                     scoring: str = "per-property", records: Path | None = None) -> tuple[dict, Record, Path]:
    """Write the take-home zip to OUT and the interviewer's record to the record store
    (default: <project>/.torchkata/takehomes); return (shipped manifest, record, record file)."""
    project = Path(project)
    layout = Layout(project)
    if hints not in HINT_LEVELS:
        raise PackagingError(f"unknown hint level {hints!r} (one of {', '.join(HINT_LEVELS)})")
    if scoring not in SCORING_POLICIES:
        raise PackagingError(f"unknown scoring policy {scoring!r} (one of {', '.join(SCORING_POLICIES)})")
    specs = [get_kata(k) for k in kata_ids]
    if len({s.id for s in specs}) != len(specs):
        raise PackagingError("a kata is named twice")
    for s in specs:
        for needed in (layout.suite_file(s), layout.readme(s)):
            if not needed.is_file():
                raise PackagingError(f"cannot package {s.id}: {needed} is missing")
    stubs, notes = {}, []
    for s in specs:
        stubs[s.id], note = pristine_stub_source(project, s)
        if note:
            notes.append(note)
    top = _slug(title)[:60] if title else "torchkata-takehome"
    title = title or "PyTorch take-home: " + ", ".join(s.title for s in specs)
    minutes = minutes if minutes is not None else sum(s.minutes for s in specs)
    record = Record(id=new_id(), title=title, katas=[s.id for s in specs],
                    hidden_suite_sha256=suite_digest(project / "tests", [s.id for s in specs]),
                    scoring=scoring, hints=hints, minutes=minutes,
                    created_at=(now or datetime.now(UTC)).isoformat(timespec="seconds"),
                    torchkata_version=__version__, notes=notes)
    # The candidate's copy: informative only. Grading reads the record this id names.
    manifest = {
        "takehome_id": record.id, "title": title, "minutes": minutes, "katas": record.katas,
        "hints": hints, "scoring": scoring, "torchkata_version": __version__,
        "hidden_suite_sha256": record.hidden_suite_sha256, "created_at": record.created_at,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    shipped: dict[str, str] = {}
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        def put(rel: str, text: str) -> None:
            zf.writestr(f"{top}/{rel}", text)
            shipped[rel] = hashlib.sha256(text.encode()).hexdigest()

        put("README.md", candidate_readme(title, specs, minutes, hints, scoring))
        put("pyproject.toml", _PYPROJECT.format(version=__version__, id=record.id))
        put("Makefile", _MAKEFILE)
        put(".gitignore", ".venv/\n__pycache__/\n*.egg-info/\n.hypothesis/\n.pytest_cache/\n.torchkata/progress.json\n")
        for room in SHIPPED_ROOMS:
            for path in sorted(room.iterdir()):
                if path.is_file() and path.suffix in (".py", ".toml"):
                    rel = f"src/{path.relative_to(PACKAGE_DIR.parent).as_posix()}"
                    text = {CATALOG_PATH: takehome_catalog, POLICY_PATH: takehome_policy}.get(path)
                    put(rel, text(specs) if text else path.read_text())
        for s in specs:
            put(f"katas/{s.id}/{s.module}", stubs[s.id])
            put(f".torchkata/stubs/{s.id}/{s.module}", stubs[s.id])
            put(f"katas/{s.id}/README.md", takehome_readme(layout.readme(s).read_text(), s, hints))
            put(f"examples/test_{s.id}_signature.py", signature_tests(s))
            examples = layout.examples_file(s)
            if examples.is_file():
                put(f"examples/{examples.name}", examples.read_text())
        put("manifest.json", json.dumps(manifest, indent=1) + "\n")
    record.files = dict(sorted(shipped.items()))
    path = save_record(records or default_store(project), record)
    return manifest, record, path
