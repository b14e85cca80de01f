"""`torchkata package`: a self-contained take-home, without the hidden suite or the answers.

The archive holds one top-level folder with: the candidate's README, pyproject.toml and a
Makefile, the torchkata plugin (src/torchkata), for each kata its README and stub (plus a
pristine copy under .torchkata/stubs for `torchkata reset`), visible example tests, and
manifest.json. Never: tests/ (the hidden suite and its drivers), reference/, mutants.
"""
from __future__ import annotations

import hashlib
import json
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from torchkata import __version__
from torchkata.catalog import KataSpec, get_kata
from torchkata.grading.grade import suite_digest

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


def candidate_readme(title: str, specs: list[KataSpec], minutes: int) -> str:
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
              "## How to run", "", "```bash", "make examples      # sets up .venv and runs the visible examples",
              ".venv/bin/torchkata hint <id>    # hints, one level at a time",
              "```", "",
              "## Rules", "",
              "- Only the kata modules (`katas/<id>/<module>.py`) are graded. Any other file you add or change "
              "(tests, conftest.py, configuration) is ignored.",
              "- Functions must not modify their inputs in place, and must keep the input's dtype and device.",
              "- Forbidden callables: using one (by name, alias, `getattr` or a string) fails the kata's tests.", ""]
    for s in specs:
        forbidden = ", ".join(f"`{f}`" for f in s.forbidden) or "none"
        lines.append(f"  - {s.id}: {forbidden}")
    lines += ["", "Hand back the whole folder (or a zip / tar.gz of it).", ""]
    return "\n".join(lines)


def build_package(project: Path, kata_ids: list[str], out: Path, title: str | None = None,
                  minutes: int | None = None, now: datetime | None = None) -> dict:
    """Write the take-home zip to OUT; return its manifest."""
    specs = [get_kata(k) for k in kata_ids]
    if len({s.id for s in specs}) != len(specs):
        raise ValueError("a kata is named twice")
    for s in specs:
        for needed in (project / "katas" / s.id / s.module, project / "katas" / s.id / "README.md"):
            if not needed.is_file():
                raise FileNotFoundError(f"cannot package {s.id}: {needed} is missing")
    top = _slug(title)[:60] if title else "torchkata-takehome"
    title = title or "PyTorch take-home: " + ", ".join(s.title for s in specs)
    minutes = minutes if minutes is not None else sum(s.minutes for s in specs)
    manifest = {
        "title": title, "minutes": minutes, "katas": [s.id for s in specs],
        "torchkata_version": __version__,
        "hidden_suite_sha256": suite_digest(project / "tests", [s.id for s in specs]),
        "created_at": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    shipped: dict[str, str] = {}
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        def put(rel: str, text: str) -> None:
            zf.writestr(f"{top}/{rel}", text)
            shipped[rel] = hashlib.sha256(text.encode()).hexdigest()

        put("README.md", candidate_readme(title, specs, minutes))
        put("pyproject.toml", _PYPROJECT.format(version=__version__))
        put("Makefile", _MAKEFILE)
        put(".gitignore", ".venv/\n__pycache__/\n*.egg-info/\n.hypothesis/\n.pytest_cache/\n.torchkata/progress.json\n")
        for room in SHIPPED_ROOMS:
            for path in sorted(room.iterdir()):
                if path.is_file() and path.suffix in (".py", ".toml"):
                    put(f"src/{path.relative_to(PACKAGE_DIR.parent).as_posix()}", path.read_text())
        for s in specs:
            stub = (project / "katas" / s.id / s.module).read_text()
            put(f"katas/{s.id}/{s.module}", stub)
            put(f".torchkata/stubs/{s.id}/{s.module}", stub)
            put(f"katas/{s.id}/README.md", (project / "katas" / s.id / "README.md").read_text())
            put(f"examples/test_{s.id}_signature.py", signature_tests(s))
            examples = project / "examples" / f"test_{s.id}.py"
            if examples.is_file():
                put(f"examples/test_{s.id}.py", examples.read_text())
        # Last, so it can list what was shipped: the grader tells added and changed files apart.
        manifest["files"] = {rel: digest for rel, digest in sorted(shipped.items())
                             if not rel.startswith("katas/") or rel.endswith("README.md")}
        zf.writestr(f"{top}/manifest.json", json.dumps(manifest, indent=1) + "\n")
    return manifest
