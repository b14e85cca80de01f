"""The grader's commands, added to the torchkata CLI through entry points (never shipped)."""
from __future__ import annotations

from pathlib import Path

import click
from rich import box
from rich.console import Console
from rich.table import Table

from torchkata.grading.grade import GradingError, grade_batch, grade_one, is_batch
from torchkata.grading.takehome import build_package
from torchkata.learn.cli import kata_or_exit, project_at

console = Console()


@click.command()
@click.argument("kata_ids", nargs=-1, required=True)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="the take-home .zip to write")
@click.option("--title", default=None, help="title of the take-home (default: the katas' titles)")
@click.option("--minutes", type=int, default=None, help="time budget (default: the sum of the katas' minutes)")
@click.option("--root", type=click.Path(file_okay=False), help="project folder (default: found from here)")
def package(kata_ids, out, title, minutes, root):
    """Package katas as a take-home: stubs, READMEs, examples, plugin; never the hidden suite."""
    project = project_at(root)
    specs = [kata_or_exit(k) for k in kata_ids]
    try:
        manifest = build_package(project.root, [s.id for s in specs], Path(out), title, minutes)
    except (FileNotFoundError, ValueError) as err:
        raise click.ClickException(str(err)) from None
    console.print(f"wrote {out}: {len(specs)} katas, {manifest['minutes']} minutes, "
                  f"hidden suite {manifest['hidden_suite_sha256'][:12]}")


@click.command()
@click.argument("path", type=click.Path())
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="folder for the reports")
@click.option("--jobs", "-j", type=int, default=2, show_default=True, help="submissions graded at once (a folder of archives)")
@click.option("--device", type=click.Choice(["cpu", "cuda", "all"]), default="cpu", show_default=True)
@click.option("--root", type=click.Path(file_okay=False), help="project folder holding the hidden suite")
def grade(path, out, jobs, device, root):
    """Grade a take-home (.zip, .tar.gz, folder) or a folder of them, the candidate's code sandboxed."""
    project = project_at(root)
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
