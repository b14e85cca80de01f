"""The torchkata command line: the learner's verbs (list, show, hint, check, watch, reset,
examples, signatures).

In a take-home (a project without its hidden suite) only the candidate's verbs are offered:
list, show, hint, examples, signatures, watch (over the visible examples) and reset; any
other verb says why it is not there. The rooms that never ship add their verbs through entry
points (package and grade from torchkata.grading, verify from torchkata.authoring)."""
from __future__ import annotations

import difflib
import json
import subprocess
import sys
import tempfile
import tomllib
from datetime import datetime
from pathlib import Path

import click
from rich import box
from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from torchkata.catalog import KataSpec, get_kata, load_catalog
from torchkata.layout import kata_id_of_suite
from torchkata.learn.loop import (
    Watcher,
    next_hint_level,
    pristine_stub,
    read_hints,
    record_hint,
    signature_problems,
    suggested_order,
)
from torchkata.learn.loop import reset as reset_stub
from torchkata.learn.progress import Project, status
from torchkata.learn.runner import first_failure_printer, run_suite, summarize

console = Console()

STATUS_STYLE = {"done": "green", "in progress": "yellow", "untouched": "dim"}
# project.status is finer than a learner needs: a failing or edited kata is "in progress".
LEARNER_STATE = {"done": "done", "failing": "in progress", "in progress": "in progress",
                 "untouched": "untouched", "missing": "untouched"}


def project_at(root, *, required: bool = True) -> Project:
    """The project at or above ROOT (default: here); a clear error when there is none."""
    project = Project.find(Path(root) if root else None)
    if required and not project.is_project:
        where = Path(root) if root else Path.cwd()
        raise click.ClickException(
            f"{where} is not in a torchkata project or take-home (no pyproject.toml with a [tool.torchkata] "
            "table here or in a folder above); cd into one, or pass --root")
    return project


def is_takehome(root: Path) -> bool:
    """A candidate's take-home: its pyproject says so, or it has a manifest and no hidden suite."""
    try:
        data = tomllib.loads((Path(root) / "pyproject.toml").read_text())
    except (OSError, ValueError):
        return False
    table = data.get("tool", {}).get("torchkata")
    if not isinstance(table, dict):
        return False
    if table.get("takehome"):
        return True
    return (Path(root) / "manifest.json").is_file() and not (Path(root) / "tests").is_dir()


def find_kata(text: str) -> KataSpec:
    """A kata by id, number, unique id prefix, name ('autograd') or module ('autograd.py');
    KeyError with close matches ('did you mean ...') otherwise."""
    try:
        return get_kata(text)
    except KeyError:
        pass
    catalog = load_catalog()
    key = text.strip().lower().removesuffix(".py").replace("-", "_").replace(" ", "_")
    names = {k: k[3:] if k[:2].isdigit() and k[2:3] == "_" else k for k in catalog}
    modules = {k: catalog[k].module.removesuffix(".py") for k in catalog}
    hits = [k for k in catalog if key and key in (names[k], modules[k])]
    if not hits and len(key) >= 3:
        hits = [k for k in catalog if names[k].startswith(key) or modules[k].startswith(key)]
    if len(hits) == 1:
        return catalog[hits[0]]
    if len(hits) > 1:
        raise KeyError(f"{text!r} matches several katas: {', '.join(hits)}; name one")
    by_word = {**{n: k for k, n in names.items()}, **{m: k for k, m in modules.items()}, **{k: k for k in catalog}}
    close = list(dict.fromkeys(by_word[w] for w in difflib.get_close_matches(key, list(by_word), n=3, cutoff=0.6)))
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise KeyError(f"unknown kata {text!r}{hint} (`torchkata list` shows the ids)")


def kata_or_exit(kata_id: str):
    try:
        return find_kata(kata_id)
    except KeyError as err:
        raise click.ClickException(err.args[0]) from None


ROOM_COMMANDS: set[str] = set()  # the verbs added by the rooms that never ship (see _add_room_commands)
# The verbs of a take-home: what works without the hidden suite.
CANDIDATE_VERBS = ("list", "show", "hint", "examples", "signatures", "watch", "reset")
NOT_IN_TAKEHOME = {
    "check": "the hidden suite is not part of a take-home; run `torchkata examples` (the visible examples) "
             "and `torchkata signatures` (the names and parameters the hidden suite calls)",
}


def _unavailable(name: str) -> click.Command:
    def refuse(args):
        why = NOT_IN_TAKEHOME.get(name, "it is not part of a take-home")
        raise click.UsageError(f"`torchkata {name}` is not available here: {why}. "
                               f"This take-home's commands: {', '.join(CANDIDATE_VERBS)}.")
    return click.Command(name, callback=refuse, add_help_option=False, hidden=True,
                         params=[click.Argument(["args"], nargs=-1, type=click.UNPROCESSED)],
                         context_settings={"ignore_unknown_options": True, "allow_extra_args": True})


class LearnerGroup(click.Group):
    """In a take-home (found from the working folder), only the candidate's verbs."""

    @staticmethod
    def _takehome() -> bool:
        project = Project.find(None)
        return project.is_project and is_takehome(project.root)

    def list_commands(self, ctx):
        names = super().list_commands(ctx)
        return [n for n in names if n in CANDIDATE_VERBS] if self._takehome() else names

    def get_command(self, ctx, name):
        # A room's verb (grade, package, verify) works wherever its room is installed: the
        # interviewer's tool inside a candidate's folder. A take-home's own install has none.
        if name not in CANDIDATE_VERBS and name not in ROOM_COMMANDS and self._takehome():
            return _unavailable(name)
        return super().get_command(ctx, name)


@click.group(cls=LearnerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="torchkata")
def cli():
    """PyTorch coding katas judged by hidden pytest + hypothesis suites."""


@cli.command("list")
@click.option("--root", type=click.Path(file_okay=False), help="project folder (default: found from here)")
def list_katas(root):
    """Every kata in the suggested order, with your progress."""
    project = project_at(root)
    progress = project.load_progress()
    counts = {"done": 0, "in progress": 0, "untouched": 0}
    present = [s for s in load_catalog().values() if project.module(s).is_file()]
    if not present:
        raise click.ClickException(f"no kata modules in {project.katas} (katas/<id>/<module>.py)")
    rows = []
    for n, spec in enumerate(suggested_order(present), 1):
        state = LEARNER_STATE[status(project, spec)]
        counts[state] += 1
        record = progress.get(spec.id, {})
        last = f"{record['passed']}/{record['passed'] + record['failed']} pass" if "passed" in record else ""
        rows.append([str(n), spec.id, f"[{STATUS_STYLE[state]}]{state}[/]", last, "★" * spec.difficulty,
                     str(spec.minutes), spec.title])
    with_last = any(r[3] for r in rows)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    # Numbers and ids never shrink; the title takes what is left and wraps rather than being cut.
    table.add_column("#", justify="right", no_wrap=True, min_width=2)
    table.add_column("kata", no_wrap=True)
    table.add_column("status", no_wrap=True)
    if with_last:
        table.add_column("last check", no_wrap=True)
    table.add_column("★", no_wrap=True)
    table.add_column("min", justify="right", no_wrap=True)
    table.add_column("title", ratio=1, min_width=16)
    for row in rows:
        table.add_row(*(row if with_last else row[:3] + row[4:]))
    console.print(table)
    minutes_left = sum(s.minutes for s in present if LEARNER_STATE[status(project, s)] != "done")
    console.print(f"[bold]{counts['done']}/{len(present)} done[/] · {counts['in progress']} in progress · "
                  f"{counts['untouched']} untouched · about {minutes_left} minutes of katas left")


@cli.command()
@click.argument("kata_id")
@click.option("--impl", type=click.Path(file_okay=False, exists=True), help="implementation root (default: katas/)")
@click.option("--device", type=click.Choice(["cpu", "cuda", "all"]), default="all")
@click.option("-k", "select", default=None, metavar="EXPR", help="only the properties matching EXPR (pytest -k)")
@click.option("--full-trace", is_flag=True, help="show the whole traceback of the first failure, machinery included")
@click.option("--root", type=click.Path(file_okay=False), help="project folder (default: found from here)")
def check(kata_id, impl, device, select, full_trace, root):
    """Run one kata's hidden suite against your solution, with a compact summary."""
    project = project_at(root)
    spec = kata_or_exit(kata_id)
    if not project.suite_file(spec).is_file() and is_takehome(project.root):
        raise click.UsageError(NOT_IN_TAKEHOME["check"] + ".")
    extra = [*(["-k", select] if select else []), *(["--full-trace", "--tb=long"] if full_trace else [])]
    data = run_suite(project, spec, Path(impl) if impl else None, device, extra=extra)
    if select and not data.get("tests"):
        raise click.ClickException(f"no property of {spec.id} matches -k {select!r}")
    summary = summarize(spec, data)
    if impl is None and not select and summary.passed + summary.failed:
        project.record_progress(spec, summary.passed, summary.failed, summary.passed + summary.failed)
    sys.exit(0 if summary.done else 1)


@cli.command()
@click.argument("kata_id")
@click.option("--level", "-l", type=int, default=None, help="show this hint (1 = a nudge, then the approach, then the key line)")
@click.option("--root", type=click.Path(file_okay=False), help="project folder (default: found from here)")
def hint(kata_id, level, root):
    """The next hint for a kata: one level per call, from a nudge to the key line."""
    project = project_at(root)
    spec = kata_or_exit(kata_id)
    try:
        _body, hints = read_hints(project, spec)
        if not hints and is_takehome(project.root):
            raise LookupError(f"this take-home comes without hints for {spec.id}: its README holds the task only")
        shown = next_hint_level(project, spec, level, len(hints))
    except LookupError as err:
        raise click.ClickException(str(err)) from None
    chosen = hints[shown - 1]
    console.print(Panel(Markdown(chosen.body), title=f"{spec.id} · hint {shown}/{len(hints)} · {chosen.title}",
                        title_align="left"))
    record_hint(project, spec, shown)
    if shown < len(hints):
        console.print(f"[dim]`torchkata hint {spec.id}` again for hint {shown + 1}.[/]")


@cli.command()
@click.argument("kata_id")
@click.option("--root", type=click.Path(file_okay=False), help="project folder (default: found from here)")
def show(kata_id, root):
    """Render a kata's README in the terminal (hints stay hidden: `torchkata hint`)."""
    project = project_at(root)
    spec = kata_or_exit(kata_id)
    try:
        body, hints = read_hints(project, spec)
    except LookupError as err:
        raise click.ClickException(str(err)) from None
    console.print(Markdown(body))
    check = f"torchkata examples {spec.id}" if is_takehome(project.root) else f"torchkata check {spec.id}"
    console.print(f"\n[dim]Your file: katas/{spec.id}/{spec.module} · {len(hints)} hints: "
                  f"`torchkata hint {spec.id}` · check: `{check}`[/]")


@cli.command()
@click.argument("kata_id")
@click.option("--yes", "-y", is_flag=True, help="do not ask for confirmation")
@click.option("--root", type=click.Path(file_okay=False), help="project folder (default: found from here)")
def reset(kata_id, yes, root):
    """Restore a kata's stub; your file is kept under .torchkata/backups/."""
    project = project_at(root)
    spec = kata_or_exit(kata_id)
    target = project.module(spec)
    try:
        pristine_stub(project, spec)
    except LookupError as err:
        raise click.ClickException(str(err)) from None
    if not yes and target.is_file():
        click.confirm(f"Restore the stub of {target.relative_to(project.root)}? (your file is backed up)",
                      abort=True)
    backup = reset_stub(project, spec)
    where = f"; your version is in {backup.relative_to(project.root)}" if backup else " (it was untouched)"
    console.print(f"restored katas/{spec.id}/{spec.module}{where}")


@cli.command()
@click.argument("kata_id", required=False)
@click.option("--device", type=click.Choice(["cpu", "cuda", "all"]), default="all")
@click.option("--interval", type=float, default=0.5, show_default=True, help="seconds between checks for a save")
@click.option("--max-runs", type=int, default=None, hidden=True, help="stop after this many suite runs")
@click.option("--root", type=click.Path(file_okay=False), help="project folder (default: found from here)")
def watch(kata_id, device, interval, max_runs, root):
    """Re-run a kata's suite each time you save it; move on when it passes (Ctrl-C stops).

    In a take-home, without the hidden suite, it re-runs the kata's visible examples."""
    project = project_at(root)
    spec = kata_or_exit(kata_id) if kata_id else None
    if is_takehome(project.root) and not project.suite.is_dir():
        console.print("[dim]take-home: watching the visible examples (the hidden suite is not part of it)[/]")
        _watch(project, spec, lambda s: run_examples(project, s), interval, max_runs)
    else:
        _watch(project, spec, lambda s: run_suite(project, s, None, device, on_test=first_failure_printer(console)),
               interval, max_runs)


def _watch(project: Project, start: KataSpec | None, run_examples_of, interval: float = 0.5,
           max_runs: int | None = None) -> None:
    present = [s for s in load_catalog().values() if project.module(s).is_file()]
    order = suggested_order(present)
    if start is None:
        start = next((s for s in order if status(project, s) != "done"), None)
        if start is None:
            console.print("[green]Every kata passes.[/]")
            return

    def run(spec):
        console.rule(f"{spec.id} · {datetime.now():%H:%M:%S}")
        return run_examples_of(spec)

    def show_result(spec, data):
        summarize(spec, data, compact=True)
        console.print(f"[dim]watching katas/{spec.id}/{spec.module} · save to re-run · Ctrl-C to stop[/]")

    watcher = Watcher(project, order, start, run, show_result, announce=lambda m: console.print(f"[bold green]{m}[/]"))
    try:
        watcher.loop(interval=interval, max_runs=max_runs)
    except KeyboardInterrupt:
        console.print("stopped")


def examples_files(project: Project, spec: KataSpec | None = None) -> list[Path]:
    """examples/test_<id>.py and test_<id>_<suffix>.py (the take-home's signature tests) of SPEC,
    or of every kata whose module is here."""
    present = {s.id for s in load_catalog().values() if project.module(s).is_file()}
    wanted = {spec.id} if spec else present
    return sorted(p for p in project.examples.glob("test_*.py") if kata_id_of_suite(p) in wanted)


def run_examples(project: Project, spec: KataSpec | None, files: list[Path] | None = None,
                 extra: list[str] | None = None) -> dict:
    """Run the visible examples in a fresh pytest process; return the JSON outcome report."""
    files = files if files is not None else examples_files(project, spec)
    if not files:
        what = f"kata {spec.id}" if spec else "the katas here"
        raise click.ClickException(f"no visible examples for {what} (examples/test_<id>.py)")
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pytest", *map(str, files), "--torchkata-report", str(report), "-q",
               "--tb=short", "-rN", "-p", "no:cacheprovider", *(extra or [])]
        proc = subprocess.run(cmd, cwd=project.root, capture_output=True, text=True)
        if not report.is_file():
            raise click.ClickException(f"pytest did not run the examples:\n{(proc.stdout or '')[-2000:]}"
                                       f"{(proc.stderr or '')[-2000:]}")
        data = json.loads(report.read_text())
    data["pytest_output"] = proc.stdout
    return data


@cli.command()
@click.argument("kata_id", required=False)
@click.option("--watch", "watching", is_flag=True, help="re-run each time you save, moving on when they pass")
@click.option("-k", "select", default=None, metavar="EXPR", help="only the examples matching EXPR (pytest -k)")
@click.option("--root", type=click.Path(file_okay=False), help="project folder (default: found from here)")
def examples(kata_id, watching, select, root):
    """Run the visible examples (all katas, or one): a first check, not the hidden suite."""
    project = project_at(root)
    spec = kata_or_exit(kata_id) if kata_id else None
    if watching:
        _watch(project, spec, run_examples_of=lambda s: run_examples(project, s))
        return
    data = run_examples(project, spec, extra=["-k", select] if select else None)
    by_kata: dict[str, list[dict]] = {}
    for t in data.get("tests", []):
        by_kata.setdefault(t.get("kata") or "?", []).append(t)
    done = bool(by_kata)
    catalog = load_catalog()
    for kata, tests in by_kata.items():
        if kata in catalog:
            done &= summarize(catalog[kata], {**data, "tests": tests}).done
    if not by_kata:
        console.print(data.get("pytest_output", "")[-3000:], markup=False, highlight=False)
    console.print("[dim]The visible examples are a first check; the hidden suite tests many more inputs.[/]")
    sys.exit(0 if done else 1)


@cli.command()
@click.argument("kata_id", required=False)
@click.option("--root", type=click.Path(file_okay=False), help="project folder (default: found from here)")
def signatures(kata_id, root):
    """Check that your modules define the names and parameters the hidden suite calls."""
    project = project_at(root)
    specs = [kata_or_exit(kata_id)] if kata_id else \
        [s for s in suggested_order(load_catalog().values()) if project.module(s).is_file()]
    bad = 0
    for spec in specs:
        path = project.module(spec)
        problems = signature_problems(path.read_text(), spec) if path.is_file() else \
            [f"katas/{spec.id}/{spec.module} is missing"]
        bad += bool(problems)
        mark = "[red]✗[/]" if problems else "[green]✓[/]"
        console.print(f"{mark} {spec.id} · katas/{spec.id}/{spec.module}")
        for problem in problems:
            console.print(f"    {escape(problem)}", highlight=False)
    console.print(f"{len(specs) - bad}/{len(specs)} katas keep the signatures the hidden suite calls")
    sys.exit(1 if bad or not specs else 0)


def _add_room_commands() -> None:
    """Commands of the rooms that never ship (grading, authoring), found through the
    ``torchkata.commands`` entry points: present in a project, absent from a take-home."""
    from importlib.metadata import entry_points

    for ep in entry_points(group="torchkata.commands"):
        if ep.name in cli.commands:
            continue
        try:
            cli.add_command(ep.load(), ep.name)
            ROOM_COMMANDS.add(ep.name)
        except ImportError:
            continue  # declared by an older install, but its room is not here


_add_room_commands()


def main():
    cli()
