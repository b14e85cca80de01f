"""The learner's loop: suggested order, hints, pristine stubs and reset, watch.

Everything here works without importing torch: the CLI stays quick, and the suite itself
always runs in a fresh pytest process (`torchkata.learn.cli.run_suite`).
"""
from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from torchkata.catalog import KataSpec
from torchkata.learn.progress import Project, is_untouched_source, status
from torchkata.policy import prerequisites


def suggested_order(specs: Iterable[KataSpec]) -> list[KataSpec]:
    """Every kata after its prerequisites; among the ready ones, the easiest first."""
    pending = {s.id: s for s in specs}
    placed: list[KataSpec] = []
    done: set[str] = set()
    while pending:
        ready = [s for s in pending.values()
                 if all(p in done or p not in pending for p in prerequisites().get(s.id, ()))]
        if not ready:  # a cycle would be a bug in policy.toml; never loop forever
            ready = list(pending.values())
        nxt = min(ready, key=lambda s: (s.difficulty, s.number))
        placed.append(nxt)
        done.add(nxt.id)
        del pending[nxt.id]
    return placed


# ------------------------------------------------------------------------------ hints

@dataclass(frozen=True)
class Hint:
    level: int
    title: str
    body: str


_HINT = re.compile(r"<details>\s*<summary>\s*(?P<title>.*?)\s*</summary>(?P<body>.*?)</details>", re.S)
_HINTS_HEADING = re.compile(r"^#+\s*Hints?\s*$", re.M | re.I)


def split_hints(readme: str) -> tuple[str, list[Hint]]:
    """(the README without its hint blocks, the hints in order)."""
    hints = []
    for level, m in enumerate(_HINT.finditer(readme), 1):
        title = re.sub(r"^Hint\s*\d+\s*[·:.\-–]\s*", "", m.group("title").strip(), flags=re.I)
        hints.append(Hint(level, title or f"hint {level}", m.group("body").strip()))
    body = _HINT.sub("", readme)
    body = _HINTS_HEADING.sub("", body).rstrip() + "\n"
    return body, hints


def keep_hints(readme: str, keep: int) -> str:
    """README with only its first KEEP hint blocks (a take-home's hint level); with none kept,
    the Hints heading goes too."""
    count = 0

    def one(m: re.Match) -> str:
        nonlocal count
        count += 1
        return m.group(0) if count <= keep else ""

    text = _HINT.sub(one, readme)
    if keep <= 0:
        text = _HINTS_HEADING.sub("", text)
    return re.sub(r"\n{3,}", "\n\n", text).rstrip() + "\n"


def read_hints(project: Project, spec: KataSpec) -> tuple[str, list[Hint]]:
    path = project.katas / spec.id / "README.md"
    if not path.is_file():
        raise LookupError(f"{spec.id} has no README ({path} is missing)")
    return split_hints(path.read_text())


def next_hint_level(project: Project, spec: KataSpec, requested: int | None, available: int) -> int:
    """The level to show: REQUESTED, or one past the last shown (the last one once all are seen)."""
    if available == 0:
        raise LookupError(f"{spec.id}'s README has no hints")
    if requested is not None:
        if not 1 <= requested <= available:
            raise LookupError(f"{spec.id} has hints 1 to {available}; there is no hint {requested}")
        return requested
    seen = int(project.load_progress().get(spec.id, {}).get("hints_seen", 0))
    return min(seen + 1, available)


def record_hint(project: Project, spec: KataSpec, level: int) -> None:
    progress = project.load_progress()
    entry = progress.setdefault(spec.id, {})
    entry["hints_seen"] = max(level, int(entry.get("hints_seen", 0)))
    project.save_progress(progress)


# ------------------------------------------------------------------------------ reset

def _git(project: Project, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=project.root, capture_output=True, text=True)


def pristine_stub(project: Project, spec: KataSpec) -> str:
    """The stub as shipped: `.torchkata/stubs/` (take-homes), else the newest untouched git version."""
    shipped = project.shipped_stub(spec)
    if shipped.is_file():
        return shipped.read_text()
    rel = f"katas/{spec.id}/{spec.module}"
    try:
        log = _git(project, "log", "--format=%H", "--", rel)
    except OSError:
        log = None
    if log is not None and log.returncode == 0:
        for commit in log.stdout.split():
            shown = _git(project, "show", f"{commit}:{rel}")
            if shown.returncode == 0 and is_untouched_source(shown.stdout):
                return shown.stdout
    raise LookupError(f"no pristine copy of {rel}: neither .torchkata/stubs/{spec.id}/{spec.module} "
                      "nor a git commit holding the untouched stub")


def reset(project: Project, spec: KataSpec, now: datetime | None = None) -> Path | None:
    """Restore the stub; return the backup of the learner's file (None when there was nothing to keep)."""
    stub = pristine_stub(project, spec)
    target = project.module(spec)
    backup = None
    if target.is_file() and target.read_text() != stub:
        stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
        backup = project.root / ".torchkata" / "backups" / spec.id / f"{target.stem}.{stamp}{target.suffix}"
        backup.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(target, backup)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(stub)
    progress = project.load_progress()
    if spec.id in progress:
        progress[spec.id] = {k: v for k, v in progress[spec.id].items() if k == "hints_seen"}
        project.save_progress(progress)
    return backup


# ------------------------------------------------------------------------------ results

def minimal_example(output: str) -> str:
    """Hypothesis' minimal example, 'Failing test case: test(...)' (older versions: 'Falsifying
    example:'), from a failure's text; '' when there is none."""
    lines = [re.sub(r"^E {1,3}", "", line) for line in output.splitlines()]  # pytest's 'E   ' margin
    for i, line in enumerate(lines):
        if line.lstrip().startswith(("Falsifying example:", "Falsifying explicit example:", "Failing test case:")):
            block, depth = [], 0
            for item in lines[i:]:  # up to the parenthesis closing the call
                block.append(item)
                depth += item.count("(") - item.count(")")
                if depth <= 0:
                    break
            return "\n".join(block).strip()
    return ""


@dataclass
class SuiteSummary:
    passed: int
    failed: int
    skipped: int
    first_failure: dict | None

    @property
    def done(self) -> bool:
        return self.failed == 0 and self.passed > 0


def summarize_outcomes(data: dict) -> SuiteSummary:
    tests = data.get("tests", [])
    failed = [t for t in tests if t["outcome"] == "failed"]
    return SuiteSummary(
        passed=sum(t["outcome"] == "passed" for t in tests),
        failed=len(failed),
        skipped=sum(t["outcome"] == "skipped" for t in tests),
        first_failure=failed[0] if failed else None,
    )


# ------------------------------------------------------------------------------ watch

class Watcher:
    """Re-run a kata's suite whenever its module changes; move on when it passes.

    RUN(spec) runs the suite and returns the JSON outcome report; SHOW(spec, data) prints
    it. Polling (no extra dependency) keeps it working on every filesystem.
    """

    def __init__(self, project: Project, order: list[KataSpec], start: KataSpec,
                 run: Callable[[KataSpec], dict], show: Callable[[KataSpec, dict], None],
                 announce: Callable[[str], None] = print):
        self.project = project
        self.order = order
        self.current: KataSpec | None = start
        self.run = run
        self.show = show
        self.announce = announce
        self._seen: float | None = None
        self.runs = 0

    def _mtime(self) -> float | None:
        try:
            return self.project.module(self.current).stat().st_mtime_ns
        except OSError:
            return None

    def next_kata(self, after: KataSpec) -> KataSpec | None:
        ids = [s.id for s in self.order]
        later = self.order[ids.index(after.id) + 1:] if after.id in ids else []
        return next((s for s in later if self.project.module(s).is_file()
                     and status(self.project, s) != "done"), None)

    def poll(self) -> bool:
        """Run the suite if the module changed since the last run; True when it ran."""
        if self.current is None:
            return False
        mtime = self._mtime()
        if self._seen is not None and mtime == self._seen:
            return False
        self._seen = mtime
        spec = self.current
        data = self.run(spec)
        self.runs += 1
        self.show(spec, data)
        summary = summarize_outcomes(data)
        self.project.record_progress(spec, summary.passed, summary.failed, summary.passed + summary.failed)
        if summary.done:
            nxt = self.next_kata(spec)
            if nxt is None:
                self.announce(f"{spec.id} passes. That was the last kata in the suggested order.")
            else:
                self.announce(f"{spec.id} passes. Next: {nxt.id} · {nxt.title} "
                              f"(katas/{nxt.id}/{nxt.module}; `torchkata show {nxt.id}`)")
            self.current = nxt
            self._seen = None
        return True

    def loop(self, interval: float = 0.5, max_runs: int | None = None) -> None:
        while self.current is not None and (max_runs is None or self.runs < max_runs):
            if not self.poll():
                time.sleep(interval)


# ------------------------------------------------------------------------------ signatures

def signature_problems(source: str, spec: KataSpec) -> list[str]:
    """What the hidden suite's signature check would reject, read from the source without
    importing it: each catalog symbol defined at the top level, functions with the catalog's
    parameters first and no further required one. [] when all is well."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        return [f"{spec.module} does not parse: syntax error at line {err.lineno}: {err.msg}"]
    top: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            top[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(target, ast.Name):
                    top[target.id] = node
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                top[(alias.asname or alias.name).split(".")[0]] = node
    problems = []
    for symbol in spec.symbols:
        node = top.get(symbol.name)
        if node is None:
            problems.append(f"{symbol.name} is not defined at the top level of {spec.module} "
                            f"(the catalog asks for: {symbol.text.split('  #')[0].strip()})")
        elif symbol.kind == "class":
            if not isinstance(node, (ast.ClassDef, ast.Assign, ast.AnnAssign, ast.Import, ast.ImportFrom)):
                problems.append(f"{symbol.name} must be a class")
            init = next((n for n in getattr(node, "body", []) if isinstance(n, ast.FunctionDef)
                         and n.name == "__init__"), None)
            if init is not None and symbol.init_params is not None:
                problem = _parameters_problem(init.args, symbol.init_params, skip_self=True)
                if problem:
                    problems.append(f"{symbol.name}.__init__ {problem}")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            problem = _parameters_problem(node.args, symbol.params or ())
            if problem:
                problems.append(f"{symbol.name} {problem}")
        elif isinstance(node, ast.ClassDef):
            problems.append(f"{symbol.name} must be a function, not a class")
    return problems


def _parameters_problem(args, want, skip_self: bool = False) -> str | None:
    """What is wrong with a definition's parameters against the catalog's (positional, in order)."""
    positional = [*args.posonlyargs, *args.args][1 if skip_self else 0:]
    n_defaults = len(args.defaults)
    all_positional = [*args.posonlyargs, *args.args]
    required = [a.arg for a in all_positional[: len(all_positional) - n_defaults]]
    required += [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is None]
    names = [a.arg for a in positional] + [a.arg for a in args.kwonlyargs]
    want = list(want)
    extra_required = [n for n in names[len(want):] if n in required]
    keyword_only = [a.arg for a in args.kwonlyargs if a.arg in want]
    if names[: len(want)] != want or extra_required or keyword_only:
        shown = [a.arg for a in positional] + (["*"] if args.kwonlyargs else []) + [a.arg for a in args.kwonlyargs]
        return f"has parameters ({', '.join(shown)}); the catalog asks for ({', '.join(want)})"
    return None
