"""The learner's loop: list order and progress, hint, show, reset, watch, check's summary."""
import os
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from torchkata.catalog import get_kata, load_catalog
from torchkata.learn.cli import cli
from torchkata.learn.loop import (
    Watcher,
    minimal_example,
    next_hint_level,
    pristine_stub,
    record_hint,
    reset,
    split_hints,
    suggested_order,
)
from torchkata.learn.progress import Project, status

README = textwrap.dedent("""\
    # 06 · Activations

    Write relu.

    ## Hints

    <details><summary>Hint 1 · a nudge</summary>

    Negative numbers become zero.

    </details>
    <details><summary>Hint 2 · the approach</summary>

    Compare with zero.

    </details>
    <details><summary>Hint 3 · the key line</summary>

    `x.clamp_min(0)`

    </details>
""")

WIDE = {**os.environ, "COLUMNS": "200"}  # rich wraps at 80 columns without a terminal
STUB = "def relu(x):\n    raise NotImplementedError('relu: keep the positive part')\n"
SOLVED = "def relu(x):\n    return x.clamp_min(0)\n"


@pytest.fixture
def project(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.torchkata]\n\n[tool.pytest.ini_options]\ntestpaths = ['tests']\n")
    kata = tmp_path / "katas" / "06_activations"
    kata.mkdir(parents=True)
    (kata / "README.md").write_text(README)
    (kata / "activations.py").write_text(STUB)
    return Project(tmp_path)


def invoke(project, *args, input=None):
    return CliRunner().invoke(cli, [*args, "--root", str(project.root)], input=input, catch_exceptions=False)


# ------------------------------------------------------------------------------ order

def test_suggested_order_puts_every_kata_after_its_prerequisites():
    from torchkata.policy import prerequisites

    order = [s.id for s in suggested_order(load_catalog().values())]
    assert sorted(order) == sorted(load_catalog())
    for kata_id, needs in prerequisites().items():
        for need in needs:
            assert order.index(need) < order.index(kata_id), f"{need} must come before {kata_id}"


def test_suggested_order_starts_with_the_easiest_kata():
    assert suggested_order(load_catalog().values())[0].id == "01_tensors"


def test_list_shows_progress_and_a_total(project):
    result = invoke(project, "list")
    assert result.exit_code == 0
    assert "06_activations" in result.output and "untouched" in result.output
    assert "0/1 done" in result.output
    (project.katas / "06_activations" / "activations.py").write_text(SOLVED)
    project.record_progress(get_kata("06"), passed=3, failed=0, total=3)
    result = invoke(project, "list")
    assert "1/1 done" in result.output and "3/3 pass" in result.output


def test_an_edited_kata_is_in_progress_until_checked(project):
    spec = get_kata("06")
    assert status(project, spec) == "untouched"
    (project.katas / "06_activations" / "activations.py").write_text(SOLVED)
    assert status(project, spec) == "in progress"
    project.record_progress(spec, passed=1, failed=2, total=3)
    assert status(project, spec) == "failing"
    assert "in progress" in invoke(project, "list").output


# ------------------------------------------------------------------------------ hints

def test_split_hints_finds_the_levels_and_hides_them_from_the_body():
    body, hints = split_hints(README)
    assert [(h.level, h.title) for h in hints] == [(1, "a nudge"), (2, "the approach"), (3, "the key line")]
    assert hints[2].body == "`x.clamp_min(0)`"
    assert "clamp_min" not in body and "Hints" not in body and "Write relu." in body


def test_hint_reveals_one_level_per_call_then_stays_on_the_last(project):
    outputs = [invoke(project, "hint", "06").output for _ in range(4)]
    assert "Negative numbers" in outputs[0] and "Compare with zero" not in outputs[0]
    assert "Compare with zero" in outputs[1] and "clamp_min" not in outputs[1]
    assert "clamp_min" in outputs[2]
    assert "clamp_min" in outputs[3] and "hint 3/3" in outputs[3]


def test_hint_level_option_shows_that_level_and_rejects_a_missing_one(project):
    assert "clamp_min" in invoke(project, "hint", "06", "--level", "3").output
    spec = get_kata("06")
    with pytest.raises(LookupError, match="hints 1 to 3"):
        next_hint_level(project, spec, 4, 3)
    result = CliRunner().invoke(cli, ["hint", "06", "--level", "9", "--root", str(project.root)])
    assert result.exit_code != 0 and "there is no hint 9" in result.output


def test_hints_seen_survive_a_check(project):
    spec = get_kata("06")
    record_hint(project, spec, 2)
    project.record_progress(spec, passed=0, failed=1, total=1)
    assert next_hint_level(project, spec, None, 3) == 3


def test_show_renders_the_readme_without_the_hints(project):
    result = invoke(project, "show", "06_activations")
    assert result.exit_code == 0
    assert "Write relu." in result.output and "clamp_min" not in result.output
    assert "3 hints" in result.output


# ------------------------------------------------------------------------------ reset

def _git(root, *args):
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t", "HOME": str(root), "PATH": "/usr/bin:/bin"})


def test_reset_restores_the_stub_from_git_and_keeps_a_backup(project):
    _git(project.root, "init", "-q")
    _git(project.root, "add", ".")
    _git(project.root, "commit", "-qm", "stubs")
    module = project.katas / "06_activations" / "activations.py"
    module.write_text(SOLVED)
    _git(project.root, "commit", "-qam", "my solution")  # even a committed solution is not the stub
    result = invoke(project, "reset", "06", "--yes")
    assert result.exit_code == 0, result.output
    assert module.read_text() == STUB
    backups = list((project.root / ".torchkata" / "backups" / "06_activations").iterdir())
    assert len(backups) == 1 and backups[0].read_text() == SOLVED


def test_reset_prefers_the_shipped_stub_of_a_take_home(project):
    shipped = project.root / ".torchkata" / "stubs" / "06_activations" / "activations.py"
    shipped.parent.mkdir(parents=True)
    shipped.write_text(STUB)
    (project.katas / "06_activations" / "activations.py").write_text(SOLVED)
    backup = reset(project, get_kata("06"))
    assert (project.katas / "06_activations" / "activations.py").read_text() == STUB
    assert backup.read_text() == SOLVED


def test_reset_without_a_pristine_copy_says_so_and_touches_nothing(project):
    module = project.katas / "06_activations" / "activations.py"
    module.write_text(SOLVED)
    with pytest.raises(LookupError, match="no pristine copy"):
        pristine_stub(project, get_kata("06"))
    result = CliRunner().invoke(cli, ["reset", "06", "--yes", "--root", str(project.root)])
    assert result.exit_code != 0 and "no pristine copy" in result.output
    assert module.read_text() == SOLVED


def test_reset_asks_before_overwriting(project):
    shipped = project.root / ".torchkata" / "stubs" / "06_activations" / "activations.py"
    shipped.parent.mkdir(parents=True)
    shipped.write_text(STUB)
    module = project.katas / "06_activations" / "activations.py"
    module.write_text(SOLVED)
    result = CliRunner().invoke(cli, ["reset", "06", "--root", str(project.root)], input="n\n")
    assert result.exit_code != 0 and module.read_text() == SOLVED


# ------------------------------------------------------------------------------ watch

def _outcome(passed: bool) -> dict:
    test = {"nodeid": "t", "kata": "06_activations", "test": "test_relu", "device": "cpu",
            "outcome": "passed" if passed else "failed", "message": "" if passed else "AssertionError: no",
            "output": "" if passed else "Falsifying example: test_relu(\n    x=tensor([-1.]),\n)\nAssertionError: no"}
    return {"exitstatus": 0 if passed else 1, "tests": [test]}


def test_watch_reruns_on_save_and_moves_on_when_the_kata_passes(project):
    second = project.katas / "01_tensors"
    second.mkdir()
    (second / "tensors.py").write_text("def f(x):\n    raise NotImplementedError\n")
    module = project.katas / "06_activations" / "activations.py"
    ran, shown, said = [], [], []

    def run(spec):
        ran.append(spec.id)
        return _outcome(passed=module.read_text() == SOLVED) if spec.id.startswith("06") else _outcome(False)

    order = [get_kata("06"), get_kata("01")]
    watcher = Watcher(project, order, order[0], run, lambda spec, data: shown.append(spec.id), said.append)
    assert watcher.poll() is True            # first look: runs at once
    assert watcher.poll() is False           # nothing saved since: no run
    module.write_text(SOLVED)
    os.utime(module, ns=(1, 10**18))         # a save (mtime changes even within one clock tick)
    assert watcher.poll() is True
    assert ran == ["06_activations", "06_activations"]
    assert watcher.current.id == "01_tensors" and "Next: 01_tensors" in said[-1]
    assert status(project, get_kata("06")) == "done"
    watcher.loop(interval=0, max_runs=3)     # the next kata runs straight away
    assert ran[-1] == "01_tensors"


def test_watch_stops_after_the_last_kata(project):
    (project.katas / "06_activations" / "activations.py").write_text(SOLVED)
    said = []
    watcher = Watcher(project, [get_kata("06")], get_kata("06"), lambda s: _outcome(True), lambda s, d: None, said.append)
    watcher.loop(interval=0, max_runs=5)
    assert watcher.current is None and "last kata" in said[-1]


def test_minimal_example_is_extracted_from_hypothesis_output():
    text = _outcome(False)["tests"][0]["output"]
    assert minimal_example(text) == "Falsifying example: test_relu(\n    x=tensor([-1.]),\n)"
    assert minimal_example("E   AssertionError: plain failure") == ""
    newer = "E   Failing test case: test_relu(\nE       x=tensor([0.]),\nE   )\nE   \nE   You can reproduce"
    assert minimal_example(newer) == "Failing test case: test_relu(\n    x=tensor([0.]),\n)"


def test_watch_command_runs_the_real_suite_once(mini_project):
    """End to end: `torchkata watch` runs pytest on the stub and shows the first failure."""
    args = [sys.executable, "-m", "torchkata", "watch", "06", "--device", "cpu", "--max-runs", "1",
            "--root", str(mini_project.path)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, env=WIDE)
    assert "first failure: test_relu_matches_torch" in result.stdout, result.stdout + result.stderr
    assert "NotImplementedError: relu: keep the positive part" in result.stdout


def test_watch_shows_the_minimal_failing_example_of_a_wrong_solution(mini_project):
    (mini_project.path / "katas/06_activations/activations.py").write_text("def relu(x):\n    return x.abs()\n")
    args = [sys.executable, "-m", "torchkata", "watch", "06", "--device", "cpu", "--max-runs", "1",
            "--root", str(mini_project.path)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, env=WIDE)
    assert "Failing test case: test_relu_matches_torch(" in result.stdout, result.stdout
    assert result.stdout.count("Failing test case") == 1, result.stdout  # the first failure, said once
    assert "During handling of the above exception" not in result.stdout
    assert "kata=<kata" not in result.stdout  # plumbing, not the learner's input
    assert "relu(x): 1 of 1 elements differ" in result.stdout
    assert "hypothesis/core.py" not in result.stdout  # the learner's frames, not the machinery's


def test_check_command_summarizes_and_exits_by_the_verdict(mini_project):
    args = [sys.executable, "-m", "torchkata", "check", "06", "--device", "cpu", "--root", str(mini_project.path)]
    failing = subprocess.run(args, capture_output=True, text=True, timeout=300, env=WIDE)
    assert failing.returncode == 1 and "not yet: 0 passed, 1 failed" in failing.stdout
    (mini_project.path / "katas/06_activations/activations.py").write_text(SOLVED)
    passing = subprocess.run(args, capture_output=True, text=True, timeout=300, env=WIDE)
    assert passing.returncode == 0, passing.stdout
    assert "kata passes: 1 passed, 0 failed" in passing.stdout


# ------------------------------------------------------------------------------ small things a user hit

def test_list_numbers_every_kata_and_keeps_whole_titles_at_80_columns(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.torchkata]\n")
    specs = list(load_catalog().values())[:12]
    for spec in specs:
        (tmp_path / "katas" / spec.id).mkdir(parents=True)
        (tmp_path / "katas" / spec.id / spec.module).write_text("def f(x):\n    raise NotImplementedError\n")
    proc = subprocess.run([sys.executable, "-m", "torchkata", "list", "--root", str(tmp_path)], capture_output=True,
                          text=True, env={**os.environ, "COLUMNS": "80"})
    assert proc.returncode == 0 and "…" not in proc.stdout, proc.stdout
    assert max(len(line) for line in proc.stdout.splitlines()) <= 80
    flat = " ".join(proc.stdout.split())
    for n, spec in enumerate(suggested_order(specs), 1):
        assert f" {n} {spec.id} " in f" {flat} ", (n, spec.id)
    squeezed = "".join(proc.stdout.split())
    for spec in specs:
        assert "".join(spec.title.split()) in squeezed, spec.title


def test_a_kata_is_found_by_name_and_a_typo_gets_a_suggestion(project):
    from torchkata.learn.cli import find_kata

    assert find_kata("autograd").id == "03_autograd"
    assert find_kata("activations.py").id == "06_activations"
    shown = invoke(project, "show", "activations")
    assert shown.exit_code == 0 and "Write relu." in shown.output
    typo = CliRunner().invoke(cli, ["show", "activatons", "--root", str(project.root)])
    assert typo.exit_code != 0 and "did you mean 06_activations?" in typo.output
    nothing = CliRunner().invoke(cli, ["show", "qqqqqq", "--root", str(project.root)])
    assert nothing.exit_code != 0 and "unknown kata 'qqqqqq'" in nothing.output and "did you mean" not in nothing.output


def test_outside_a_project_list_says_so_and_fails(tmp_path):
    result = CliRunner().invoke(cli, ["list", "--root", str(tmp_path)])
    assert result.exit_code != 0 and "not in a torchkata project" in result.output
    assert "title" not in result.output and "done" not in result.output  # no empty table


def test_check_on_a_device_that_is_not_there_says_nothing_ran(mini_project):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is here: cuda tests run")
    args = [sys.executable, "-m", "torchkata", "check", "06", "--device", "cuda", "--root", str(mini_project.path)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, env=WIDE)
    assert result.returncode == 1
    assert "nothing ran" in result.stdout and "torch.cuda.is_available() is False" in result.stdout
    assert "not yet" not in result.stdout and "kata passes" not in result.stdout


def test_check_selects_properties_with_k_and_accepts_full_trace(mini_project):
    mini_project.write("tests/test_06_activations.py", RELU_SUITE_OF_TWO)
    base = [sys.executable, "-m", "torchkata", "check", "06", "--device", "cpu", "--root", str(mini_project.path)]
    one = subprocess.run([*base, "-k", "of_zero"], capture_output=True, text=True, timeout=300, env=WIDE)
    assert one.returncode == 1 and "not yet: 0 passed, 1 failed" in one.stdout, one.stdout + one.stderr
    assert "test_relu_matches_torch" not in one.stdout
    full = subprocess.run([*base, "-k", "of_zero", "--full-trace"], capture_output=True, text=True, timeout=300, env=WIDE)
    assert full.returncode == 1 and "No such option" not in full.stderr and "not yet" in full.stdout
    none = subprocess.run([*base, "-k", "no_such_property"], capture_output=True, text=True, timeout=300, env=WIDE)
    assert none.returncode == 1 and "no property of 06_activations matches -k 'no_such_property'" in none.stderr


RELU_SUITE_OF_TWO = '''
import torch
from torchkata.testing import assert_close

def test_relu_matches_torch(kata, device):
    x = torch.tensor([-1.0, 2.0], device=device)
    assert_close(kata.call("relu", x), x.clamp_min(0), what="relu(x)")

def test_relu_of_zero_is_zero(kata, device):
    x = torch.zeros(3, device=device)
    assert_close(kata.call("relu", x), x, what="relu(0)")
'''
