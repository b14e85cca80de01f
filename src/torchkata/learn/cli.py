"""The torchkata command line: the learner's verbs (list, show, hint, check, watch, reset).

The rooms that never ship add their verbs through entry points (package and grade from
torchkata.grading, verify from torchkata.authoring)."""
from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click
from rich import box
from rich.console import Console
from rich.markdown import Markdown
from rich.panel import Panel
from rich.table import Table

from torchkata.catalog import get_kata, load_catalog
from torchkata.learn.loop import (
    Watcher,
    next_hint_level,
    pristine_stub,
    read_hints,
    record_hint,
    suggested_order,
)
from torchkata.learn.loop import reset as reset_stub
from torchkata.learn.progress import Project, status
from torchkata.learn.runner import run_suite, summarize

console = Console()

STATUS_STYLE = {"done": "green", "in progress": "yellow", "untouched": "dim"}
# project.status is finer than a learner needs: a failing or edited kata is "in progress".
LEARNER_STATE = {"done": "done", "failing": "in progress", "in progress": "in progress",
                 "untouched": "untouched", "missing": "untouched"}


def project_at(root) -> Project:
    return Project.find(Path(root) if root else None)


def kata_or_exit(kata_id: str):
    try:
        return get_kata(kata_id)
    except KeyError as err:
        raise click.ClickException(err.args[0]) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="torchkata")
def cli():
    """PyTorch coding katas judged by hidden pytest + hypothesis suites."""


@cli.command("list")
@click.option("--root", type=click.Path(file_okay=False), help="project folder (default: found from here)")
def list_katas(root):
    """Every kata in the suggested order, with your progress."""
    project = project_at(root)
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
    present = [s for s in load_catalog().values() if project.module(s).is_file()]
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
    project = project_at(root)
    spec = kata_or_exit(kata_id)
    data = run_suite(project, spec, Path(impl) if impl else None, device)
    summary = summarize(spec, data)
    if impl is None:
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
    console.print(f"\n[dim]Your file: katas/{spec.id}/{spec.module} · {len(hints)} hints: "
                  f"`torchkata hint {spec.id}` · check: `torchkata check {spec.id}`[/]")


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
    """Re-run a kata's suite each time you save it; move on when it passes (Ctrl-C stops)."""
    project = project_at(root)
    present = [s for s in load_catalog().values() if project.module(s).is_file()]
    order = suggested_order(present)
    if kata_id:
        start = kata_or_exit(kata_id)
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


def _add_room_commands() -> None:
    """Commands of the rooms that never ship (grading, authoring), found through the
    ``torchkata.commands`` entry points: present in a project, absent from a take-home."""
    from importlib.metadata import entry_points

    for ep in entry_points(group="torchkata.commands"):
        if ep.name in cli.commands:
            continue
        try:
            cli.add_command(ep.load(), ep.name)
        except ImportError:
            continue  # declared by an older install, but its room is not here


_add_room_commands()


def main():
    cli()
