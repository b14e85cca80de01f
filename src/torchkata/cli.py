"""The torchkata command line: list, check, verify."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import click
from rich import box
from rich.console import Console
from rich.markdown import Markdown
from rich.panel import Panel
from rich.table import Table

from torchkata.catalog import get_kata, load_catalog
from torchkata.learner import (
    SuiteSummary,
    Watcher,
    minimal_example,
    next_hint_level,
    pristine_stub,
    read_hints,
    record_hint,
    suggested_order,
    summarize_outcomes,
)
from torchkata.learner import reset as reset_stub
from torchkata.project import Project, status

console = Console()

STATUS_STYLE = {"done": "green", "in progress": "yellow", "untouched": "dim"}
# project.status is finer than a learner needs: a failing or edited kata is "in progress".
LEARNER_STATE = {"done": "done", "failing": "in progress", "in progress": "in progress",
                 "untouched": "untouched", "missing": "untouched"}


def _project(root) -> Project:
    return Project.find(Path(root) if root else None)


def _kata_or_exit(kata_id: str):
    try:
        return get_kata(kata_id)
    except KeyError as err:
        raise click.ClickException(err.args[0]) from None


def run_suite(project: Project, spec, impl: Path | None = None, device: str = "all",
              extra: list[str] | None = None, capture: bool = True) -> dict:
    """Run one kata's hidden suite in a fresh pytest process; return the JSON outcome report."""
    suite = project.suite_path(spec)
    if not suite.is_file():
        raise click.ClickException(f"no hidden suite for {spec.id} ({suite} is missing)")
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pytest", str(suite), "--impl", str(impl or project.katas),
               "--device", device, "--torchkata-report", str(report), "-q", "--tb=short", "-rN",
               "-p", "no:cacheprovider", *(extra or [])]
        proc = subprocess.run(cmd, cwd=project.root, capture_output=capture, text=True)
        if not report.is_file():
            raise click.ClickException(f"pytest did not run the suite:\n{(proc.stdout or '')[-2000:]}{(proc.stderr or '')[-2000:]}")
        data = json.loads(report.read_text())
    data["pytest_output"] = proc.stdout if capture else ""
    return data


def _property_rows(tests: list[dict]) -> list[tuple[str, dict[str, dict]]]:
    """Tests grouped by property: [(test name, {device: test})] in first-seen order."""
    rows: dict[str, dict[str, dict]] = {}
    for t in tests:
        rows.setdefault(t["test"] or t["nodeid"], {})[t["device"] or "-"] = t
    return list(rows.items())


def summarize(spec, data: dict, *, compact: bool = False) -> SuiteSummary:
    """Print one row per property (a column per device), then the first failure in full."""
    tests = data["tests"]
    summary = summarize_outcomes(data)
    devices = sorted({t["device"] or "-" for t in tests}, key=lambda d: (d != "cpu", d))
    skipped_devices = [d for d in devices if all(t["outcome"] == "skipped" for t in tests if (t["device"] or "-") == d)]
    shown = [d for d in devices if d not in skipped_devices] or devices
    table = Table(title=f"{spec.id} · {spec.title}", title_justify="left")
    table.add_column("property", overflow="fold")
    for d in shown:
        table.add_column(d, justify="center")
    table.add_column("first line of the failure", overflow="fold")
    mark = {"passed": "[green]✓[/]", "failed": "[red]✗[/]", "skipped": "[dim]–[/]"}
    for name, per_device in _property_rows(tests):
        failing = next((t for t in per_device.values() if t["outcome"] == "failed"), None)
        if compact and failing is None:
            continue
        cells = [mark[per_device[d]["outcome"]] if d in per_device else "" for d in shown]
        table.add_row(name, *cells, failing["message"] if failing else "")
    if table.row_count:
        console.print(table)
    for d in skipped_devices:
        reason = next((t["message"] for t in tests if (t["device"] or "-") == d and t["message"]), "")
        console.print(f"[dim]{d}: every test skipped ({reason.removeprefix('Skipped: ')})[/]")
    first = summary.first_failure
    if first:
        console.rule(f"[red]first failure: {first['test']} [{first['device']}]")
        example = minimal_example(first["output"])
        console.print(first["output"].strip()[-3000:], markup=False, highlight=False)
        if example and example not in first["output"][-3000:]:
            console.print(example, markup=False, highlight=False)
    verdict = "[bold green]kata passes[/]" if summary.done else "[bold red]not yet[/]"
    console.print(f"{verdict}: {summary.passed} passed, {summary.failed} failed, {summary.skipped} skipped")
    return summary


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="torchkata")
def cli():
    """PyTorch coding katas judged by hidden pytest + hypothesis suites."""


@cli.command("list")
@click.option("--root", type=click.Path(file_okay=False), help="project folder (default: found from here)")
def list_katas(root):
    """Every kata in the suggested order, with your progress."""
    project = _project(root)
    progress = project.load_progress()
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("#", justify="right", width=2)
    table.add_column("kata", no_wrap=True, width=22)
    table.add_column("status", no_wrap=True, width=11)
    table.add_column("last check", no_wrap=True, width=10)
    table.add_column("★", no_wrap=True, width=4)
    table.add_column("min", justify="right", width=3)
    # The fixed columns take 66 characters; the title gets what is left, cut with an ellipsis.
    table.add_column("title", overflow="ellipsis", no_wrap=True, width=max(12, console.width - 68))
    counts = {"done": 0, "in progress": 0, "untouched": 0}
    present = [s for s in load_catalog().values() if project.module_path(s).is_file()]
    for n, spec in enumerate(suggested_order(present), 1):
        state = LEARNER_STATE[status(project, spec)]
        counts[state] += 1
        record = progress.get(spec.id, {})
        last = f"{record['passed']}/{record['passed'] + record['failed']} pass" if "passed" in record else ""
        table.add_row(str(n), spec.id, f"[{STATUS_STYLE[state]}]{state}[/]", last, "★" * spec.difficulty,
                      str(spec.minutes), spec.title)
    console.print(table)
    minutes_left = sum(s.minutes for s in present if LEARNER_STATE[status(project, s)] != "done")
    console.print(f"[bold]{counts['done']}/{len(present)} done[/] · {counts['in progress']} in progress · "
                  f"{counts['untouched']} untouched · about {minutes_left} minutes of katas left")


@cli.command()
@click.argument("kata_id")
@click.option("--impl", type=click.Path(file_okay=False, exists=True), help="implementation root (default: katas/)")
@click.option("--device", type=click.Choice(["cpu", "cuda", "all"]), default="all")
@click.option("--root", type=click.Path(file_okay=False), help="project folder (default: found from here)")
def check(kata_id, impl, device, root):
    """Run one kata's hidden suite against your solution, with a compact summary."""
    project = _project(root)
    spec = _kata_or_exit(kata_id)
    data = run_suite(project, spec, Path(impl) if impl else None, device)
    summary = summarize(spec, data)
    if impl is None:
        project.record_progress(spec, summary.passed, summary.failed, summary.passed + summary.failed)
    sys.exit(0 if summary.done else 1)


@cli.command()
@click.option("--jobs", "-j", default="auto", show_default=True, help="pytest-xdist workers (0 = no xdist)")
@click.option("--kata", "katas", multiple=True, help="only these katas (repeatable)")
@click.option("--root", type=click.Path(file_okay=False), help="project folder (default: found from here)")
def verify(jobs, katas, root):
    """What `make check` runs: references pass, stubs fail every test, mutants are caught."""
    project = _project(root)
    targets = [str(project.suite_path(_kata_or_exit(k))) for k in katas] or [str(project.suite)]
    cmd = [sys.executable, "-m", "pytest", *targets, "--torchkata-verify", "-q", "--tb=no", "-rN",
           "-p", "no:cacheprovider"]
    if str(jobs) not in ("0", "1"):
        cmd += ["-n", str(jobs)]
    env = dict(os.environ)
    sys.exit(subprocess.run(cmd, cwd=project.root, env=env).returncode)


@cli.command()
@click.argument("kata_id")
@click.option("--level", "-l", type=int, default=None, help="show this hint (1 = a nudge, then the approach, then the key line)")
@click.option("--root", type=click.Path(file_okay=False), help="project folder (default: found from here)")
def hint(kata_id, level, root):
    """The next hint for a kata: one level per call, from a nudge to the key line."""
    project = _project(root)
    spec = _kata_or_exit(kata_id)
    try:
        _body, hints = read_hints(project, spec)
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
    project = _project(root)
    spec = _kata_or_exit(kata_id)
    try:
        body, hints = read_hints(project, spec)
    except LookupError as err:
        raise click.ClickException(str(err)) from None
    console.print(Markdown(body))
    console.print(f"\n[dim]Your file: katas/{spec.id}/{spec.module} · {len(hints)} hints: "
                  f"`torchkata hint {spec.id}` · check: `torchkata check {spec.id}`[/]")


@cli.command()
@click.argument("kata_id")
@click.option("--yes", "-y", is_flag=True, help="do not ask for confirmation")
@click.option("--root", type=click.Path(file_okay=False), help="project folder (default: found from here)")
def reset(kata_id, yes, root):
    """Restore a kata's stub; your file is kept under .torchkata/backups/."""
    project = _project(root)
    spec = _kata_or_exit(kata_id)
    target = project.module_path(spec)
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
    """Re-run a kata's suite each time you save it; move on when it passes (Ctrl-C stops)."""
    project = _project(root)
    present = [s for s in load_catalog().values() if project.module_path(s).is_file()]
    order = suggested_order(present)
    if kata_id:
        start = _kata_or_exit(kata_id)
    else:
        start = next((s for s in order if status(project, s) != "done"), None)
        if start is None:
            console.print("[green]Every kata passes.[/]")
            return

    def run(spec):
        console.rule(f"{spec.id} · {datetime.now():%H:%M:%S}")
        return run_suite(project, spec, None, device)

    def show_result(spec, data):
        summarize(spec, data, compact=True)
        console.print(f"[dim]watching katas/{spec.id}/{spec.module} · save to re-run · Ctrl-C to stop[/]")

    watcher = Watcher(project, order, start, run, show_result, announce=lambda m: console.print(f"[bold green]{m}[/]"))
    try:
        watcher.loop(interval=interval, max_runs=max_runs)
    except KeyboardInterrupt:
        console.print("stopped")


@cli.command()
@click.argument("kata_ids", nargs=-1, required=True)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="the take-home .zip to write")
@click.option("--title", default=None, help="title of the take-home (default: the katas' titles)")
@click.option("--minutes", type=int, default=None, help="time budget (default: the sum of the katas' minutes)")
@click.option("--root", type=click.Path(file_okay=False), help="project folder (default: found from here)")
def package(kata_ids, out, title, minutes, root):
    """Package katas as a take-home: stubs, READMEs, examples, plugin; never the hidden suite."""
    from torchkata.package import build_package

    project = _project(root)
    specs = [_kata_or_exit(k) for k in kata_ids]
    try:
        manifest = build_package(project.root, [s.id for s in specs], Path(out), title, minutes)
    except (FileNotFoundError, ValueError) as err:
        raise click.ClickException(str(err)) from None
    console.print(f"wrote {out}: {len(specs)} katas, {manifest['minutes']} minutes, "
                  f"hidden suite {manifest['hidden_suite_sha256'][:12]}")


@cli.command()
@click.argument("path", type=click.Path())
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="folder for the reports")
@click.option("--jobs", "-j", type=int, default=2, show_default=True, help="submissions graded at once (a folder of archives)")
@click.option("--device", type=click.Choice(["cpu", "cuda", "all"]), default="cpu", show_default=True)
@click.option("--root", type=click.Path(file_okay=False), help="project folder holding the hidden suite")
def grade(path, out, jobs, device, root):
    """Grade a take-home (.zip, .tar.gz, folder) or a folder of them, the candidate's code sandboxed."""
    from torchkata.grade import GradingError, grade_batch, grade_one, is_batch

    project = _project(root)
    path, out = Path(path), Path(out)
    if is_batch(path):
        rows = grade_batch(path, out, project.root, jobs=jobs, device=device)
        table = Table(box=box.SIMPLE_HEAD)
        for column in ("submission", "score", "percent", "problem"):
            table.add_column(column)
        for row in rows:
            res = row["results"]
            table.add_row(row["submission"], f"{res['score']:g} / {res['max_score']:g}" if res else "-",
                          f"{res['percent']:g}%" if res else "-", row["error"])
        console.print(table)
        console.print(f"wrote {out / 'grades.csv'}")
        return
    try:
        results = grade_one(path, out, project.root, device=device)
    except GradingError as err:
        raise click.ClickException(f"cannot grade {path}: {err}") from None
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("kata", "score", "passed", "failed", "seconds"):
        table.add_column(column)
    for kata_id, k in results["katas"].items():
        table.add_row(kata_id, f"{k['score']:g} / {k['max_score']:g}", str(k["passed"]), str(k["failed"]), f"{k['seconds']:g}")
    console.print(table)
    console.print(f"[bold]{results['message']}[/] ({results['percent']:g}%) · reports in {out}")


def main():
    cli()
