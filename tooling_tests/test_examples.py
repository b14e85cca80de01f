"""The visible examples shipped with a take-home: the references pass them, the stubs fail
every one, and they run from an unpacked take-home with plain pytest."""
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from torchkata.catalog import load_catalog
from torchkata.grading.takehome import build_package

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "examples").glob("test_*.py"))


def run_examples(folder: Path, impl: Path, report: Path, *files) -> dict:
    env = dict(os.environ)
    subprocess.run([sys.executable, "-m", "pytest", *map(str, files), "-q", "-p", "no:cacheprovider",
                    "--torchkata-report", str(report), "--torchkata-impl", str(impl)], cwd=folder, env=env, capture_output=True, text=True,
                   timeout=600, check=False)
    return {t["nodeid"]: t["outcome"] for t in json.loads(report.read_text())["tests"]}


def test_every_kata_with_a_suite_has_visible_examples():
    suites = {p.stem.removeprefix("test_") for p in (REPO / "tests").glob("test_*.py")}
    examples = {p.stem.removeprefix("test_") for p in EXAMPLES}
    assert suites <= examples, f"katas without examples/test_<id>.py: {sorted(suites - examples)}"


def test_references_pass_every_example_and_stubs_fail_every_example(tmp_path):
    assert EXAMPLES, "no examples/test_<id>.py"
    on_reference = run_examples(REPO, REPO / "reference", tmp_path / "ref.json", *EXAMPLES)
    on_stub = run_examples(REPO, REPO / "katas", tmp_path / "stub.json", *EXAMPLES)
    assert on_reference and set(on_reference.values()) == {"passed"}, \
        {k: v for k, v in on_reference.items() if v != "passed"}
    passing_stub = sorted(k for k, v in on_stub.items() if v == "passed")
    assert not passing_stub, f"examples a stub passes check nothing: {passing_stub}"
    assert set(on_stub) == set(on_reference)


def test_examples_run_from_an_unpacked_take_home(tmp_path):
    katas = [k for k in ("06_activations", "10_optimizers") if k in load_catalog()]
    build_package(REPO, katas, tmp_path / "t.zip")
    with zipfile.ZipFile(tmp_path / "t.zip") as zf:
        zf.extractall(tmp_path / "unpacked")
    folder = next((tmp_path / "unpacked").iterdir())
    on_stub = run_examples(folder, folder / "katas", tmp_path / "stub.json")
    on_reference = run_examples(folder, REPO / "reference", tmp_path / "ref.json")
    assert set(on_reference.values()) == {"passed"}, on_reference
    # The generated signature checks pass on the stub (its names are right); the examples fail.
    signature = {k for k in on_stub if "_signature.py" in k}
    assert signature and all(on_stub[k] == "passed" for k in signature), on_stub
    assert all(v == "failed" for k, v in on_stub.items() if k not in signature), on_stub
    if not all((REPO / "examples" / f"test_{k}.py").is_file() for k in katas):
        pytest.fail("the packaged katas have no hand-written examples")
