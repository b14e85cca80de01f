"""The learner's progress in a project: last result per kata, hints seen, a kata's status."""
from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from torchkata.catalog import KataSpec
from torchkata.layout import Layout


@dataclass(frozen=True)
class Project(Layout):
    """A project root seen by the learner: its layout plus .torchkata/progress.json."""

    @property
    def progress_file(self) -> Path:
        return self.state / "progress.json"

    def load_progress(self) -> dict:
        try:
            return json.loads(self.progress_file.read_text())
        except (OSError, ValueError):
            return {}

    def save_progress(self, progress: dict) -> None:
        self.progress_file.parent.mkdir(exist_ok=True)
        self.progress_file.write_text(json.dumps(progress, indent=1, sort_keys=True))

    def record_progress(self, spec: KataSpec, passed: int, failed: int, total: int) -> None:
        """Remember the last result for the module's current content (hints seen are kept)."""
        progress = self.load_progress()
        entry = progress.setdefault(spec.id, {})
        entry.update({"digest": file_digest(self.module(spec)), "passed": passed,
                      "failed": failed, "total": total})
        self.save_progress(progress)


def file_digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def is_untouched(path: Path) -> bool:
    """True while every function in the module still only raises NotImplementedError."""
    try:
        return is_untouched_source(path.read_text())
    except OSError:
        return False


def is_untouched_source(source: str) -> bool:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    bodies = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = [s for s in node.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
            bodies.append(body)

    def only_raises(body):
        real = [s for s in body if not (isinstance(s, ast.Expr) and isinstance(getattr(s, "value", None), ast.Call)
                                        and "super" in ast.dump(s))]
        return len(real) == 1 and isinstance(real[0], ast.Raise) and "NotImplementedError" in ast.dump(real[0])
    return bool(bodies) and all(only_raises(b) for b in bodies)


def status(project: Project, spec: KataSpec) -> str:
    """'missing', 'untouched', 'done', 'failing' or 'in progress' (edited, not checked since)."""
    path = project.module(spec)
    if not path.is_file():
        return "missing"
    if is_untouched(path):
        return "untouched"
    record = project.load_progress().get(spec.id)
    if record and record.get("digest") == file_digest(path):
        return "done" if record["failed"] == 0 and record["passed"] > 0 else "failing"
    return "in progress"
