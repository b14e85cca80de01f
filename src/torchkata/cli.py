"""The torchkata command line: list, check, verify."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from torchkata.catalog import get_kata, load_catalog
from torchkata.project import Project, status

console = Console()

STATUS_STYLE = {"done": "green", "failing": "red", "in progress": "yellow", "untouched": "dim", "missing": "dim"}


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


def summarize(spec, data: dict) -> tuple[int, int, int]:
    tests = data["tests"]
    passed = [t for t in tests if t["outcome"] == "passed"]
    failed = [t for t in tests if t["outcome"] == "failed"]
    skipped = [t for t in tests if t["outcome"] == "skipped"]
    table = Table(title=f"{spec.id} · {spec.title}", show_lines=False)
    table.add_column("property")
    table.add_column("device")
    table.add_column("result")
    table.add_column("first line of the failure", overflow="fold")
    for t in tests:
        style = {"passed": "green", "failed": "red", "skipped": "dim"}[t["outcome"]]
        table.add_row(t["test"] or t["nodeid"], t["device"] or "-", f"[{style}]{t['outcome']}[/]",
                      t["message"] if t["outcome"] != "passed" else "")
    console.print(table)
    if failed:
        first = failed[0]
        console.rule(f"[red]first failure: {first['test']} [{first['device']}]")
        console.print(first["output"].strip()[-3000:], markup=False, highlight=False)
    console.print(f"[bold]{len(passed)} passed[/], [bold red]{len(failed)} failed[/], {len(skipped)} skipped")
    return len(passed), len(failed), len(tests)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="torchkata")
def cli():
    """PyTorch coding katas judged by hidden pytest + hypothesis suites."""


@cli.command("list")
@click.option("--root", type=click.Path(file_okay=False), help="project folder (default: found from here)")
def list_katas(root):
    """Every kata: id, title, difficulty, minutes and your progress."""
    project = _project(root)
    table = Table()
    for column in ("id", "title", "difficulty", "minutes", "status"):
        table.add_column(column)
    counts: dict[str, int] = {}
    for spec in sorted(load_catalog().values(), key=lambda s: s.number):
        if not project.module_path(spec).is_file() and not project.suite_path(spec).is_file():
            continue
        state = status(project, spec)
        counts[state] = counts.get(state, 0) + 1
        table.add_row(spec.id, spec.title, "★" * spec.difficulty, str(spec.minutes),
                      f"[{STATUS_STYLE[state]}]{state}[/]")
    console.print(table)
    total = sum(counts.values())
    console.print(f"{counts.get('done', 0)}/{total} done · " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))


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
    passed, failed, total = summarize(spec, data)
    if impl is None:
        project.record_progress(spec, passed, failed, total)
    sys.exit(0 if failed == 0 and passed > 0 else 1)


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


def main():
    cli()
