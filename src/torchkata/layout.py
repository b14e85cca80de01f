"""Where things are: every path rule of a torchkata project or take-home, in one place.

A project root holds ``katas/<id>/<module>`` (the stubs, or the learner's work),
``reference/<id>/<module>``, the hidden suite ``tests/test_<id>.py`` with ``tests/drivers``,
``tests/mutants/<id>.toml`` and ``tests/alternatives/<id>/<module>``, the visible
``examples/test_<id>.py`` and the learner's state under ``.torchkata/``. An implementation
root is any folder laid out like ``katas/``. A take-home has the same shape minus the hidden
parts. Nothing else in torchkata spells these paths.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from torchkata.catalog import KataSpec, load_catalog

MARKER = "tool.torchkata"  # the pyproject.toml table that makes a folder a torchkata project


def module_in(impl_root: Path, spec: KataSpec) -> Path:
    """IMPL_ROOT/<id>/<module>: where a kata's solution lives in an implementation root."""
    return Path(impl_root) / spec.id / spec.module


def suite_file_name(spec: KataSpec) -> str:
    return f"test_{spec.id}.py"


def kata_id_of_suite(path: Path) -> str | None:
    """The kata a suite (or examples) file tests: test_<id>.py or test_<id>_<suffix>.py."""
    stem = Path(path).stem
    if not stem.startswith("test_"):
        return None
    name = stem[len("test_"):]
    # The longest catalog id the name starts with: 02_numpy_bridge, not 02_numpy + suffix.
    hits = [k for k in load_catalog() if name == k or name.startswith(k + "_")]
    return max(hits, key=len) if hits else None


def kata_in_folder(folder: Path) -> KataSpec | None:
    """The kata whose module FOLDER (<impl root>/<id>/) holds, if any."""
    spec = load_catalog().get(Path(folder).name)
    return spec if spec is not None and module_in(Path(folder).parent, spec).exists() else None


def is_impl_root(folder: Path) -> bool:
    """True when FOLDER is laid out like katas/: it holds <id>/<module> for some kata."""
    folder = Path(folder)
    return folder.is_dir() and any(module_in(folder, s).is_file() for s in load_catalog().values())


def is_project(folder: Path) -> bool:
    """True when FOLDER's pyproject.toml has a [tool.torchkata] table (a project or a take-home)."""
    try:
        data = tomllib.loads((Path(folder) / "pyproject.toml").read_text())
    except (OSError, ValueError):
        return False
    return "torchkata" in data.get("tool", {})


@dataclass(frozen=True)
class Layout:
    """The paths of one project (or take-home) root."""

    root: Path

    @classmethod
    def find(cls, start: Path | None = None) -> Layout:
        """The nearest folder at or above START that is a torchkata project; START itself if none."""
        here = Path(start or Path.cwd()).resolve()
        for folder in (here, *here.parents):
            if is_project(folder):
                return cls(folder)
        return cls(here)

    @property
    def is_project(self) -> bool:
        return is_project(self.root)

    # ------------------------------------------------------------------ folders
    @property
    def katas(self) -> Path:
        return self.root / "katas"

    @property
    def reference(self) -> Path:
        return self.root / "reference"

    @property
    def suite(self) -> Path:
        return self.root / "tests"

    @property
    def drivers(self) -> Path:
        return self.suite / "drivers"

    @property
    def mutants(self) -> Path:
        return self.suite / "mutants"

    @property
    def alternatives(self) -> Path:
        return self.suite / "alternatives"

    @property
    def examples(self) -> Path:
        return self.root / "examples"

    @property
    def state(self) -> Path:
        """The learner's own files: progress, backups, a take-home's pristine stubs."""
        return self.root / ".torchkata"

    @property
    def shipped_stubs(self) -> Path:
        return self.state / "stubs"

    @property
    def backups(self) -> Path:
        return self.state / "backups"

    @property
    def hidden(self) -> list[Path]:
        """What a sandboxed worker must never see."""
        return [self.suite, self.reference, self.root / "tooling_tests", self.root / ".git"]

    # ------------------------------------------------------------------ files
    def module(self, spec: KataSpec, impl: Path | None = None) -> Path:
        return module_in(impl or self.katas, spec)

    def reference_module(self, spec: KataSpec) -> Path:
        return module_in(self.reference, spec)

    def readme(self, spec: KataSpec) -> Path:
        return self.katas / spec.id / "README.md"

    def suite_file(self, spec: KataSpec) -> Path:
        return self.suite / suite_file_name(spec)

    def mutants_file(self, spec: KataSpec) -> Path:
        return self.mutants / f"{spec.id}.toml"

    def examples_file(self, spec: KataSpec) -> Path:
        return self.examples / suite_file_name(spec)

    def shipped_stub(self, spec: KataSpec) -> Path:
        return module_in(self.shipped_stubs, spec)

    def driver_files(self) -> list[Path]:
        return sorted(p for p in self.drivers.glob("*.py") if p.stem != "__init__")

    def driver_file(self, spec: KataSpec) -> Path:
        """tests/drivers/dNN.py: the scenario drivers of one kata (may not exist)."""
        return self.drivers / f"d{spec.id[:2]}.py"
