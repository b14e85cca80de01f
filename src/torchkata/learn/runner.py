"""Run one kata's hidden suite in a fresh pytest process and summarise it for a learner."""
from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from torchkata.learn.loop import SuiteSummary, minimal_example, summarize_outcomes
from torchkata.learn.progress import Project
from torchkata.outcomes import run_streaming

console = Console()


def run_suite(project: Project, spec, impl: Path | None = None, device: str = "all",
              extra: list[str] | None = None, capture: bool = True,
              on_test: Callable[[dict], None] | None = None) -> dict:
    """Run one kata's hidden suite in a fresh pytest process; return the JSON outcome report.

    ON_TEST, when given, receives each test's outcome as soon as it finishes (the stream the
    plugin writes beside the report), so a waiting learner can see the first failure at once."""
    suite = project.suite_file(spec)
    if not suite.is_file():
        raise click.ClickException(f"no hidden suite for {spec.id} ({suite} is missing)")
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pytest", str(suite), "--torchkata-impl", str(impl or project.katas),
               "--torchkata-device", device, "--torchkata-report", str(report), "-q", "--tb=short", "-rN",
               "-p", "no:cacheprovider", *(extra or [])]
        out_file = Path(tmp) / "pytest.out"
        run_streaming(cmd, project.root, report, out_file if capture else None, on_test)
        output = out_file.read_text(errors="replace") if capture else ""
        if not report.is_file():
            raise click.ClickException(f"pytest did not run the suite:\n{output[-4000:]}")
        data = json.loads(report.read_text())
    data["pytest_output"] = output
    return data


def first_failure_printer(console: Console) -> Callable[[dict], None]:
    """An on_test callback that prints the first failing property the moment it is known."""
    shown = []

    def on_test(line: dict) -> None:
        if line.get("outcome") == "failed" and not shown:
            shown.append(line)
            console.print(f"[red]✗ {escape(str(line.get('test')))}[/] ({escape(str(line.get('device')))}): "
                          f"{escape(str(line.get('message', '')))} [dim](the rest of the suite is still running)[/]")
    return on_test


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
    if table.row_count and summary.passed + summary.failed:
        console.print(table)
    for d in skipped_devices:
        reason = next((t["message"] for t in tests if (t["device"] or "-") == d and t["message"]), "")
        console.print(f"[dim]{d}: every test skipped ({reason.removeprefix('Skipped: ')})[/]")
    first = summary.first_failure
    if first:
        console.rule(f"[red]first failure: {first['test']} [{first['device']}]")
        example = minimal_example(first["output"])
        console.print(first["output"].strip()[-3000:], markup=False, highlight=False)
        # pytest's 'E   ' margin aside, the example is usually in the output already: never twice.
        if example and example not in minimal_example(first["output"][-3000:]):
            console.print(example, markup=False, highlight=False)
    if summary.passed == summary.failed == 0:
        reasons = sorted({t["message"].removeprefix("Skipped: ") for t in tests if t["message"]})
        why = "; ".join(reasons) if reasons else "no test was collected"
        console.print(f"[bold yellow]nothing ran[/]: {summary.skipped} skipped, so this says nothing about your "
                      f"code ({escape(why)})", highlight=False)
        return summary
    verdict = "[bold green]kata passes[/]" if summary.done else "[bold red]not yet[/]"
    console.print(f"{verdict}: {summary.passed} passed, {summary.failed} failed, {summary.skipped} skipped")
    return summary
