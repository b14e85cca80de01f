"""`make check`: every reference passes, every stub fails every test, every mutant is caught.

A pytest plugin (entry point ``torchkata-verify``; never shipped in a take-home). With
``--torchkata-verify`` each kata's tests are parametrized over implementation roots (reference,
the correct alternative of ``tests/alternatives``, stub, one per mutant) through the core
plugin's ``pytest_torchkata_implementations`` hook, so torch is imported once and pytest-xdist can
spread the work. A mutant is the reference with the edits of ``tests/mutants/<id>.toml``
applied, written to a temporary root; ``mistake =`` names a catalog mistake, ``beyond =``
describes a realistic bug the catalog does not list.

The *refuser* is the stub with every ``NotImplementedError`` replaced by one exception that is
at once a ValueError, IndexError, KeyError, TypeError, RuntimeError and ArithmeticError: a
submission that does no work but refuse. It must fail every test, like the stub: a test that
checks a rejection earns nothing unless the same function also gets an accepted case right.
"""
from __future__ import annotations

import ast
import json
import shutil
import tempfile
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from torchkata.catalog import KataSpec, load_catalog
from torchkata.layout import Layout

CAUGHT = "torchkata verify: this mutant is already caught"


def pytest_addoption(parser):
    group = parser.getgroup("torchkata")
    group.addoption("--torchkata-verify", dest="torchkata_verify", action="store_true",
                    help="run every suite against reference, alternative, stub and mutants (make check)")
    group.addoption("--torchkata-verify-json", dest="torchkata_verify_json", default=None, metavar="FILE",
                    help="with --torchkata-verify, also write the per-kata table as JSON")


@pytest.hookimpl(optionalhook=True)  # the core plugin, which declares the hook, may be disabled (-p no:torchkata)
def pytest_torchkata_hypothesis_profile(config):
    return "verify" if config.option.torchkata_verify else None


def pytest_configure(config):
    from torchkata.plugin import is_active

    if config.option.torchkata_verify and is_active(config):
        config.pluginmanager.register(VerifySession(config, Path(config.rootpath)), "torchkata-verify-session")


@dataclass
class Mutant:
    label: str
    mistake: str
    root: Path | None  # None when the mutant could not be built
    problem: str = ""
    beyond: bool = False  # a realistic bug the catalog does not list (`beyond = "..."` in the TOML)


@dataclass
class KataResult:
    spec: KataSpec
    tests: set[str] = field(default_factory=set)
    outcomes: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (impl, device, test) -> outcome
    skip_reasons: dict[tuple[str, str, str], str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _apply_edits(source: str, mutant: dict) -> str:
    edits = mutant.get("edits") or [{"find": mutant["find"], "replace": mutant["replace"]}]
    for edit in edits:
        count = source.count(edit["find"])
        if count != 1:
            raise ValueError(f"edit text occurs {count} times in the reference (must be exactly once): "
                             f"{edit['find'][:60]!r}")
        source = source.replace(edit["find"], edit["replace"])
    return source


REFUSAL = """

# torchkata verify: the refuser. Every function only refuses, with an exception of every type
# a contract may name, so a test that only checks a rejection passes here unless it also checks
# an accepted case.
class _Refusal(ValueError, IndexError, KeyError, TypeError, RuntimeError, ArithmeticError):
    pass
"""


def refuser_source(stub: str) -> str:
    """The stub, refusing instead of saying it is not written (see the module docstring)."""
    return stub.replace("NotImplementedError", "_Refusal") + REFUSAL


def _stub_raises(fn: ast.AST) -> bool:
    for node in ast.walk(fn):
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id == "NotImplementedError":
                return True
    return False


def static_problems(layout: Layout, spec: KataSpec) -> list[str]:
    """Stub and reference define every catalog symbol with the catalog's parameters."""
    problems = []
    trees = {}
    for label, path in (("stub", layout.module(spec)), ("reference", layout.reference_module(spec))):
        if not path.is_file():
            problems.append(f"missing {path.relative_to(layout.root)}")
            continue
        try:
            tree = ast.parse(path.read_text())
        except SyntaxError as err:
            problems.append(f"{label} does not parse: {err}")
            continue
        trees[label] = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    for symbol in spec.symbols:
        for label, defs in trees.items():
            node = defs.get(symbol.name)
            if node is None:
                problems.append(f"{label} does not define {symbol.name}")
                continue
            if symbol.kind == "function":
                a = node.args
                names = [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs]
                if names != list(symbol.params):
                    problems.append(f"{label} {symbol.name}({', '.join(names)}) differs from the catalog "
                                    f"({', '.join(symbol.params)})")
                if label == "stub" and not _stub_raises(node):
                    problems.append(f"stub {symbol.name} does not raise NotImplementedError")
            elif symbol.init_params is not None and isinstance(node, ast.ClassDef):
                init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
                a = init.args if init else None
                names = [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs][1:] if a else []
                if names != list(symbol.init_params):
                    problems.append(f"{label} {symbol.name}.__init__({', '.join(names)}) differs from the catalog "
                                    f"({', '.join(symbol.init_params)})")
    if not layout.readme(spec).is_file():
        problems.append(f"missing katas/{spec.id}/README.md")
    return problems


class VerifySession:
    """Builds the mutant roots, collects every outcome, prints the table, sets the exit code."""

    def __init__(self, config, project: Path):
        self.config = config
        self.project = project
        self.layout = Layout(project)
        self.suite = Path(config.option.torchkata_suite)
        self.tmp = Path(tempfile.mkdtemp(prefix="torchkata-mutants-"))
        self.katas: dict[str, KataResult] = {}
        self.mutants: dict[str, list[Mutant]] = {}
        self.refusers: dict[str, Path | None] = {}
        self.caught: set[tuple[str, str]] = set()  # (kata, mutant label) failed at least once here
        # -k / -m select part of the run (an author iterating on one mutant): the verdict then
        # covers what ran, and says how much did not, instead of calling the rest survivors.
        self.partial = bool(config.option.keyword or config.option.markexpr)
        for spec in load_catalog().values():
            if self.layout.suite_file(spec).is_file():
                self.katas[spec.id] = KataResult(spec, problems=static_problems(self.layout, spec))
                self.mutants[spec.id] = self._build_mutants(spec)
                self.refusers[spec.id] = self._build_refuser(spec)
        self.ok = None

    # ------------------------------------------------------------------ mutants
    def _build_mutants(self, spec: KataSpec) -> list[Mutant]:
        path = self.layout.mutants_file(spec)
        result = self.katas[spec.id]
        if not path.is_file():
            result.problems.append(f"no mutants file tests/mutants/{spec.id}.toml")
            return []
        try:
            entries = tomllib.loads(path.read_text()).get("mutant", [])
        except tomllib.TOMLDecodeError as err:
            result.problems.append(f"tests/mutants/{spec.id}.toml is not valid TOML: {err}")
            return []
        reference = self.layout.reference_module(spec)
        source = reference.read_text() if reference.is_file() else ""
        mutants = []
        for i, entry in enumerate(entries, 1):
            label = f"mutant{i}"
            beyond = "beyond" in entry
            mistake = entry.get("beyond" if beyond else "mistake", "")
            if beyond and "mistake" in entry:
                result.problems.append(f"{label}: give either mistake (a catalog entry) or beyond, not both")
            elif beyond and not mistake:
                result.problems.append(f"{label}: beyond needs a description of the bug")
            elif not beyond and mistake not in spec.mistakes:
                result.problems.append(f"{label}: mistake {mistake!r} is not in the catalog "
                                       "(a bug the catalog does not list is `beyond = \"...\"`)")
            try:
                mutated = _apply_edits(source, entry)
            except (KeyError, ValueError) as err:
                result.problems.append(f"{label} ({mistake}): {err}")
                mutants.append(Mutant(label, mistake, None, str(err), beyond))
                continue
            root = self.tmp / label / spec.id
            folder = root / spec.id
            folder.mkdir(parents=True, exist_ok=True)
            (folder / spec.module).write_text(mutated)
            mutants.append(Mutant(label, mistake, root, beyond=beyond))
        covered = {m.mistake for m in mutants if not m.beyond}
        for mistake in spec.mistakes:
            if mistake not in covered:
                result.problems.append(f"no mutant for the catalog mistake {mistake!r}")
        return mutants

    def _build_refuser(self, spec: KataSpec) -> Path | None:
        stub = self.layout.module(spec)
        if not stub.is_file():
            return None
        root = self.tmp / "refuser" / spec.id
        (root / spec.id).mkdir(parents=True, exist_ok=True)
        self.layout.module(spec, root).write_text(refuser_source(stub.read_text()))
        return root

    def _alternative(self, kata_id: str) -> Path | None:
        """tests/alternatives/<id>/<module>: a correct solution written unlike the reference."""
        spec = self.katas[kata_id].spec
        root = self.layout.alternatives
        return root if self.layout.module(spec, root).is_file() else None

    def labels(self, kata_id: str) -> list[str]:
        alternative = ["alternative"] if self._alternative(kata_id) else []
        refuser = ["refuser"] if self.refusers.get(kata_id) else []
        return ["reference", *alternative, "stub", *refuser] + [m.label for m in self.mutants.get(kata_id, [])
                                                       if m.root is not None]

    def root_for(self, kata_id: str, label: str) -> Path:
        if label == "reference":
            return self.layout.reference
        if label == "alternative":
            return self._alternative(kata_id)
        if label == "stub":
            return self.layout.katas
        if label == "refuser":
            return self.refusers[kata_id]
        return next(m.root for m in self.mutants[kata_id] if m.label == label)

    # ------------------------------------------------------------------ core plugin hooks
    def pytest_torchkata_implementations(self, config, spec: KataSpec):
        if spec.id not in self.katas:
            return None
        return {label: self.root_for(spec.id, label) for label in self.labels(spec.id)}

    def pytest_torchkata_report_header(self, config):
        return [f"torchkata verify: {self.describe()}"]

    def describe(self) -> str:
        n = sum(len(m) for m in self.mutants.values())
        return f"{len(self.katas)} katas, reference + stub + {n} mutants each run through the hidden suites"

    # ------------------------------------------------------------------ hooks
    def pytest_unconfigure(self, config):
        shutil.rmtree(self.tmp, ignore_errors=True)  # every process built its own mutant roots

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item):
        """A mutant has to fail once, not everywhere: after its first failing test (in this
        process) its other tests are skipped. Reference, alternative and stub run in full."""
        props = dict(item.user_properties)
        if (props.get("kata"), props.get("impl")) in self.caught:
            pytest.skip(CAUGHT)

    def pytest_runtest_logreport(self, report):
        props = dict(report.user_properties)
        if "kata" not in props or props["kata"] not in self.katas:
            return
        if report.failed and str(props["impl"]).startswith("mutant"):
            self.caught.add((props["kata"], props["impl"]))
        if report.skipped and CAUGHT in str(report.longrepr):
            return  # not an outcome of the test: it did not run
        result = self.katas[props["kata"]]
        key = (props["impl"], props["device"], props["test"])
        result.tests.add(props["test"])
        if report.when == "call" or report.outcome != "passed":
            previous = result.outcomes.get(key)
            if previous in ("failed",):
                return
            result.outcomes[key] = report.outcome
            if report.skipped:
                longrepr = report.longrepr
                result.skip_reasons[key] = str(longrepr[2] if isinstance(longrepr, tuple) else longrepr)[:200]

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session, exitstatus):
        if hasattr(self.config, "workerinput"):
            return  # xdist worker: the controller sees every report and decides
        rows = self.table()
        self.ok = all(row["ok"] for row in rows) and bool(rows)
        if exitstatus not in (0, 1):  # interrupted, internal or usage error: keep pytest's verdict
            return
        session.exitstatus = 0 if self.ok else 1
        out = self.config.option.torchkata_verify_json
        if out:
            Path(out).write_text(json.dumps(rows, indent=2))

    def table(self) -> list[dict]:
        rows = []
        for kata_id, result in sorted(self.katas.items()):
            if not result.tests:
                continue  # this kata's suite was not selected in this run
            by_impl = defaultdict(dict)
            for (impl, dev, test), outcome in result.outcomes.items():
                by_impl[impl][(dev, test)] = outcome
            problems = list(result.problems)
            ref = by_impl.get("reference", {})
            ref_ran = {k: v for k, v in ref.items() if v != "skipped"}
            ref_fail = sorted({f"{t}[{d}]" for (d, t), v in ref_ran.items() if v != "passed"})
            if ref_fail:
                problems.append("reference fails: " + ", ".join(ref_fail))
            if not ref_ran:
                problems.append("reference ran no test")
            alt = by_impl.get("alternative", {})
            alt_fail = sorted({f"{t}[{d}]" for (d, t), v in alt.items() if v == "failed"})
            if alt_fail:
                problems.append("the correct alternative (tests/alternatives) is rejected: " + ", ".join(alt_fail))
            stub = by_impl.get("stub", {})
            stub_ran = {k: v for k, v in stub.items() if v != "skipped"}
            stub_pass = sorted({f"{t}[{d}]" for (d, t), v in stub_ran.items() if v == "passed"})
            if stub_pass:
                problems.append("stub passes (the test checks nothing): " + ", ".join(stub_pass))
            refuser = {k: v for k, v in by_impl.get("refuser", {}).items() if v != "skipped"}
            refuser_pass = sorted({f"{t}[{d}]" for (d, t), v in refuser.items() if v == "passed"})
            if refuser_pass:
                problems.append("the refuser passes (every function only raises; a test that checks a rejection "
                                "must also check an accepted case): " + ", ".join(refuser_pass))
            caught, survivors = {False: 0, True: 0}, []
            mutants, notes = self.mutants.get(kata_id, []), []
            if self.partial:
                not_run = [m for m in mutants if m.root is not None and not by_impl.get(m.label)]
                mutants = [m for m in mutants if m not in not_run]
                if not ref_ran and "reference ran no test" in problems:
                    problems.remove("reference ran no test")
                if not_run:
                    notes.append(f"partial run (-k/-m): {len(not_run)} mutants not run")
            for mutant in mutants:
                outcomes = list(by_impl.get(mutant.label, {}).values())
                if mutant.root is not None and any(v == "failed" for v in outcomes):
                    caught[mutant.beyond] += 1
                elif outcomes and all(v == "skipped" for v in outcomes):
                    survivors.append(f"{mutant.mistake} (every test skipped: nothing ran)")
                else:
                    survivors.append(mutant.mistake)
            if survivors:
                ran_devices = {d for (d, _t), v in ref.items() if v != "skipped"}
                skipped = sorted({f"{t}[{d}]: {result.skip_reasons.get(('reference', d, t), '')}"
                                  for (d, t), v in ref.items() if v == "skipped" and d in ran_devices})
                detail = f" (the reference skipped {'; '.join(skipped)})" if skipped else ""
                problems.append("mutants not caught: " + "; ".join(survivors) + detail)
            devices = sorted({d for (d, _t), v in ref.items() if v != "skipped"})
            rows.append({
                "kata": kata_id,
                "tests": len(result.tests),
                "devices": devices,
                "reference": f"{sum(v == 'passed' for v in ref_ran.values())}/{len(ref_ran)}",
                "alternative": f"{sum(v == 'passed' for v in alt.values())}/"
                               f"{sum(v != 'skipped' for v in alt.values())}" if alt else "-",
                "stub_failed": f"{sum(v != 'passed' for v in stub_ran.values())}/{len(stub_ran)}",
                "refuser_failed": f"{sum(v != 'passed' for v in refuser.values())}/{len(refuser)}" if refuser else "-",
                "mutants": f"{caught[False]}/{sum(not m.beyond for m in mutants)}",
                "beyond": f"{caught[True]}/{sum(m.beyond for m in mutants)}",
                "notes": notes,
                "problems": problems,
                "ok": not problems,
            })
        return rows

    def pytest_terminal_summary(self, terminalreporter):
        if hasattr(self.config, "workerinput"):
            return
        rows = self.table()
        tr = terminalreporter
        tr.section("torchkata verify")
        header = f"{'kata':<22} {'tests':>5} {'devices':<10} {'reference':>10} {'alt':>7} {'stub fails':>10} {'refuser':>8} {'mutants':>8} {'beyond':>7}  verdict"
        tr.write_line(header)
        tr.write_line("-" * len(header))
        for row in rows:
            verdict = ("ok, partial" if row["notes"] else "ok") if row["ok"] else "SHORTFALL"
            tr.write_line(f"{row['kata']:<22} {row['tests']:>5} {','.join(row['devices']) or '-':<10} "
                          f"{row['reference']:>10} {row['alternative']:>7} {row['stub_failed']:>10} {row['refuser_failed']:>8} {row['mutants']:>8} {row['beyond']:>7}  {verdict}")
        for row in rows:
            for problem in row["problems"]:
                tr.write_line(f"  {row['kata']}: {problem}", red=True)
            for note in row.get("notes", []):
                tr.write_line(f"  {row['kata']}: {note}", yellow=True)
        tr.write_line("(pytest's failed count above is the stubs and mutants failing, as they must; "
                      "this table is the verdict)")

        def total(key):
            caught, n = zip(*(map(int, row[key].split("/")) for row in rows)) if rows else ((0,), (0,))
            return f"{sum(caught)}/{sum(n)}"
        tr.write_line(f"mutants caught: {total('mutants')} catalog mistakes, {total('beyond')} beyond the catalog")
        total_ok = sum(row["ok"] for row in rows)
        tr.write_line(f"{total_ok}/{len(rows)} katas verified", green=total_ok == len(rows), red=total_ok != len(rows))
