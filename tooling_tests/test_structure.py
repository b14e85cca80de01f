"""The package's rooms: a core that ships, a learner's room that ships, and grading and
authoring rooms that never do; and one door to a solution, two implementations of it."""
import ast
import json
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "torchkata"
NEVER_SHIPPED = ("torchkata.grading", "torchkata.authoring")


def _imports(path: Path) -> set[str]:
    """Every module PATH imports, at any depth (function-local imports included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def _shipped_files() -> list[Path]:
    return sorted(PACKAGE.glob("*.py")) + sorted((PACKAGE / "learn").glob("*.py"))


def test_the_shipped_rooms_never_import_grading_or_authoring():
    offenders = {f"{p.relative_to(PACKAGE)}: {name}" for p in _shipped_files() for name in _imports(p)
                 if name.startswith(NEVER_SHIPPED)}
    assert not offenders, f"core/learn import a room that does not ship: {sorted(offenders)}"


def test_core_never_imports_the_learners_room():
    offenders = {f"{p.name}: {name}" for p in sorted(PACKAGE.glob("*.py")) for name in _imports(p)
                 if name.startswith("torchkata.learn") and p.name != "__main__.py"}
    assert not offenders, sorted(offenders)


def test_every_room_is_a_package_with_a_docstring():
    for room in ("learn", "grading", "authoring"):
        init = PACKAGE / room / "__init__.py"
        assert init.is_file() and ast.get_docstring(ast.parse(init.read_text())), room


def test_path_rules_live_in_layout_only():
    """`<root>/<id>/<module>` and `test_<id>.py` are spelled in torchkata.layout, nowhere else."""
    spelled = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "layout.py":
            continue
        text = path.read_text()
        for needle in ('/ spec.id / spec.module', 'f"test_{spec.id}.py"', "/ s.id / s.module"):
            if needle in text:
                spelled.append(f"{path.relative_to(PACKAGE)}: {needle}")
    assert not spelled, spelled


# ------------------------------------------------------------------ one door, two implementations

DOOR_SUITE = '''
import pytest
import torch
from torchkata.testing import assert_close
from drivers import d06


def test_call_value(kata, device):
    x = torch.tensor([-1.0, 0.5, 2.0], device=device)
    assert_close(kata.call("relu", x), torch.relu(x), what="relu(x)")


def test_grad(kata, device):
    x = torch.tensor([-1.0, 0.5, 2.0], dtype=torch.float64, device=device)
    _, (g,) = kata.grad("relu", x)
    assert_close(g, (x > 0).double(), what="d relu / dx")


def test_driver(kata, device):
    assert kata.run(d06.relu_of_list, [-2.0, 3.0]) == [0.0, 3.0]


def test_raises_value_error_for_a_string(kata, device):
    with pytest.raises(ValueError):
        kata.call("relu", "not a tensor")
'''

DOOR_DRIVER = '''
import torch


def relu_of_list(module, values):
    return module.relu(torch.tensor(values)).tolist()
'''

SOLUTIONS = {
    "right": "import torch\n\ndef relu(x):\n    if not isinstance(x, torch.Tensor):\n"
             "        raise ValueError('relu takes a tensor')\n    return x.clamp_min(0)\n",
    "wrong": "def relu(x):\n    return x.abs()\n",
}


@pytest.mark.parametrize("which", sorted(SOLUTIONS))
def test_both_doors_give_identical_outcomes(mini_project, which):
    mini_project.write("tests/test_06_activations.py", DOOR_SUITE)
    mini_project.write("tests/drivers/d06.py", DOOR_DRIVER)
    mini_project.write("tests/drivers/__init__.py", "")
    mini_project.write(f"{which}/06_activations/activations.py", SOLUTIONS[which])
    outcomes = {}
    for door, extra in (("in-process", ()), ("sandbox", ("-p", "torchkata.grading.pytest_sandbox"))):
        report = mini_project.path / f"{door}.json"
        mini_project.runpytest_subprocess("tests", "--torchkata-impl", which, "--torchkata-device", "cpu",
                                          "--torchkata-report", str(report), "-p", "no:cacheprovider", *extra)
        outcomes[door] = {t["test"]: t["outcome"] for t in json.loads(report.read_text())["tests"]}
    assert outcomes["in-process"] == outcomes["sandbox"], outcomes
    expected = "passed" if which == "right" else "failed"
    assert outcomes["in-process"]["test_call_value"] == expected


@pytest.mark.parametrize("ci", ["", "true"])
def test_plugin_does_nothing_outside_a_torchkata_project(pytester, monkeypatch, ci):
    """In a rootdir without [tool.torchkata], pytest runs exactly as with torchkata disabled:
    same hypothesis profile and settings (hypothesis has a `ci` profile of its own), same sys.path."""
    if ci:
        monkeypatch.setenv("CI", ci)
    else:
        monkeypatch.delenv("CI", raising=False)
    pytester.makepyprojecttoml("[tool.pytest.ini_options]\n")
    pytester.makepyfile(test_plain='''
import sys
from hypothesis import settings

def test_print_environment():
    print("PROFILE", settings.get_current_profile_name(), repr(settings.default))
    print("SYSPATH", sys.path)
''')
    seen = {}
    for label, extra in (("installed", ()), ("disabled", ("-p", "no:torchkata", "-p", "no:torchkata-verify"))):
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s", *extra)
        result.assert_outcomes(passed=1)
        assert "torchkata:" not in result.stdout.str()
        seen[label] = [line for line in result.stdout.lines if line.startswith(("PROFILE", "SYSPATH"))]
    assert seen["installed"] and seen["installed"] == seen["disabled"], seen


def test_every_option_has_the_prefix_or_an_ini_twin(pytester):
    pytester.makepyprojecttoml("[tool.torchkata]\n")
    help_text = pytester.runpytest_subprocess("--help").stdout.str()
    section = help_text.split("torchkata:", 1)[1].split("\n\n", 1)[0]
    options = [line.split()[0] for line in section.splitlines() if line.strip().startswith("--")]
    assert options and all(o.startswith("--torchkata-") for o in options), options
    for ini in ("torchkata_impl", "torchkata_suite", "torchkata_device"):
        assert ini in help_text, ini


@pytest.mark.parametrize("body, changed", [
    ("batch.sort(key=lambda item: -len(item[0]))", True),     # the caller's list reordered
    ("batch[0] = (batch[0][0].double(), batch[0][1])", True),   # an entry replaced
    ("batch[0][0].mul_(2)", True),                             # a tensor inside it written
    ("batch = sorted(batch, key=lambda item: -len(item[0]))", False),  # a new list: fine
])
def test_a_list_the_caller_passed_must_come_back_untouched(tmp_path, body, changed):
    """kata.call checks every argument, containers too: a solution that sorts or fills the
    caller's list in place fails with the argument named, in process and in the worker alike."""
    import torch

    from torchkata.catalog import load_catalog
    from torchkata.harness import Kata

    spec = load_catalog()["12_data_loading"]
    path = tmp_path / spec.id / spec.module
    path.parent.mkdir()
    path.write_text(f"import torch\n\ndef pad_collate(batch, pad_value=0.0):\n    {body}\n"
                    "    xs = [x for x, _ in batch]\n    longest = max(len(x) for x in xs)\n"
                    "    out = torch.full((len(xs), longest, xs[0].shape[1]), pad_value)\n"
                    "    for i, x in enumerate(xs):\n        out[i, :len(x)] = x\n"
                    "    return out, torch.tensor([len(x) for x in xs]), torch.tensor([y for _, y in batch])\n")
    kata = Kata(spec, tmp_path)
    batch = [(torch.ones(1, 2), 0), (torch.ones(3, 2), 1)]
    if changed:
        with pytest.raises(AssertionError, match=r"pad_collate modified its input \(argument 0\) in place"):
            kata.call("pad_collate", batch)
    else:
        kata.call("pad_collate", batch)
