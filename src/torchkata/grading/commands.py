"""The grader's commands, added to the torchkata CLI through entry points (never shipped)."""
from __future__ import annotations

from pathlib import Path

import click
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from torchkata.grading.grade import GradingError, grade_batch, grade_one, is_batch
from torchkata.grading.gradescope import build_gradescope_bundle
from torchkata.grading.reports import points
from torchkata.grading.takehome import PackagingError, package_takehome
from torchkata.learn.cli import kata_or_exit, project_at

console = Console()


@click.command()
@click.argument("kata_ids", nargs=-1, required=True)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="the take-home .zip to write")
@click.option("--title", default=None, help="title of the take-home (default: the katas' titles)")
@click.option("--minutes", type=int, default=None, help="time budget (default: the sum of the katas' minutes)")
@click.option("--hints", type=click.Choice(["none", "nudge", "all"]), default="nudge", show_default=True,
              help="hints the READMEs carry: none, the first (a nudge), or all three (the last is the key line)")
@click.option("--scoring", type=click.Choice(["per-property", "all-or-nothing"]), default="per-property",
              show_default=True, help="how grading counts a kata (recorded for `torchkata grade`)")
@click.option("--records", type=click.Path(file_okay=False), default=None,
              help="record store of take-homes (default: <project>/.torchkata/takehomes)")
@click.option("--gradescope", type=click.Path(dir_okay=False), default=None,
              help="also write a Gradescope autograder bundle (.zip) that grades this take-home by its record")
@click.option("--gradescope-visibility", type=click.Choice(["hidden", "after_due_date", "after_published", "visible"]),
              default="after_published", show_default=True, help="when students see the Gradescope test results")
@click.option("--root", type=click.Path(file_okay=False), help="project folder (default: found from here)")
def package(kata_ids, out, title, minutes, hints, scoring, records, gradescope, gradescope_visibility, root):
    """Package katas as a take-home: pristine stubs, READMEs, examples, plugin; never the hidden suite.

    The take-home's record (its katas, hidden suite digest, scoring and hint level) stays
    here: `torchkata grade` grades by it, never by what the candidate sends back."""
    project = project_at(root)
    specs = [kata_or_exit(k) for k in kata_ids]
    try:
        manifest, record, path = package_takehome(project.root, [s.id for s in specs], Path(out), title, minutes,
                                                  hints=hints, scoring=scoring,
                                                  records=Path(records) if records else None)
    except (PackagingError, FileNotFoundError, ValueError) as err:
        raise click.ClickException(str(err)) from None
    for note in record.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    console.print(f"wrote {out}: {len(specs)} katas, {manifest['minutes']} minutes, hints: {hints}, "
                  f"scoring: {scoring}, hidden suite {manifest['hidden_suite_sha256'][:12]}")
    console.print(f"record {record.id}: {path} (keep it: `torchkata grade` finds it by this id)")
    if gradescope:
        bundle = build_gradescope_bundle(project.root, list(record.katas), Path(gradescope), takehome=record.id,
                                         records=Path(records) if records else None,
                                         visibility=gradescope_visibility)
        console.print(f"wrote the Gradescope autograder {bundle} (upload it as the assignment's autograder)")


@click.command()
@click.argument("path", type=click.Path())
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="folder for the reports")
@click.option("--jobs", "-j", type=int, default=2, show_default=True, help="submissions graded at once (a folder of archives)")
@click.option("--device", type=click.Choice(["cpu", "cuda", "all"]), default="cpu", show_default=True)
@click.option("--root", type=click.Path(file_okay=False), help="project folder holding the hidden suite")
@click.option("--records", type=click.Path(file_okay=False), default=None,
              help="record store of packaged take-homes (default: <project>/.torchkata/takehomes)")
@click.option("--katas", "katas", default=None,
              help="grade these katas (comma-separated) without a take-home record: the interviewer's choice")
@click.option("--scoring", type=click.Choice(["per-property", "all-or-nothing"]), default=None,
              help="override the take-home's scoring policy (default: as packaged, else per-property)")
@click.option("--similarity-threshold", type=float, default=0.8, show_default=True,
              help="a batch: flag pairs of submissions whose kata modules are this similar (copydetect); 0 turns it off")
def grade(path, out, jobs, device, root, records, katas, scoring, similarity_threshold):
    """Grade a take-home (.zip, .tar.gz, folder) or a folder of them, the candidate's code sandboxed."""
    project = project_at(root)
    path, out = Path(path), Path(out)
    records = Path(records) if records else None
    katas = [kata_or_exit(k.strip()).id for k in katas.split(",") if k.strip()] if katas else None
    if is_batch(path):
        with _Progress() as bar:
            rows = grade_batch(path, out, project.root, jobs=jobs, device=device, records=records, katas=katas,
                               scoring=scoring, progress=bar.update,
                               similarity_threshold=similarity_threshold or None)
        table = Table(box=box.SIMPLE_HEAD)
        for column in ("submission", "score", "percent", "problems", "similar to"):
            table.add_column(column, overflow="fold")
        for row in rows:
            res = row["results"]
            table.add_row(escape(row["submission"]), f"{points(res['score'])} / {points(res['max_score'])}" if res else "-",
                          f"{points(res['percent'])}%" if res else "-", escape(row["problems"]),
                          escape(row.get("similar", "")))
        console.print(table)
        console.print(f"wrote {out / 'grades.csv'}")
        return
    try:
        with _Progress() as bar:
            results = grade_one(path, out, project.root, device=device, records=records, katas=katas,
                                scoring=scoring, progress=lambda line: bar.update(path.name, line))
    except GradingError as err:
        raise click.ClickException(f"cannot grade {path}: {err}") from None
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("kata", "score", "what is wrong", "seconds"):
        table.add_column(column, overflow="fold")
    for kata_id, k in results["katas"].items():
        table.add_row(kata_id, f"{points(k['score'])} / {points(k['max_score'])}", escape(k["summary"]),
                      f"{k['seconds']:g}")
    console.print(table)
    for alert in results.get("alerts", []):
        console.print(f"[bold red]{escape(alert)}[/]")
    console.print(f"[bold]{escape(results['message'])}[/] ({points(results['percent'])}%) · reports in {out}")


class _Progress:
    """A live line per submission and kata: tests done, failed so far (rich)."""

    def __init__(self):
        self.progress = Progress(TextColumn("{task.description}"), TextColumn("{task.fields[counts]}"),
                                 TimeElapsedColumn(), console=console, transient=False)
        self.tasks: dict[tuple[str, str], int] = {}
        self.counts: dict[tuple[str, str], list[int]] = {}

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def update(self, submission: str, line: dict) -> None:
        key = (submission, str(line.get("kata")))
        if key not in self.tasks:
            self.tasks[key] = self.progress.add_task(escape(f"{submission} · {key[1]}"), total=None, counts="")
            self.counts[key] = [0, 0]
        done = self.counts[key]
        done[0] += 1
        done[1] += line.get("outcome") == "failed"
        self.progress.update(self.tasks[key], counts=f"{done[0]} tests, {done[1]} failed")
