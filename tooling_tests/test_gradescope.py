"""The Gradescope autograder bundle, run against a mock of Gradescope's /autograder folders.

One tiny kata (06_activations reduced to relu) in a mini project; `run_autograder` runs as
Gradescope runs it (bash, the root from $GRADESCOPE_ROOT), grading through the real sandbox.
"""
import json
import os
import stat
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from torchkata.grading.grade import suite_digest
from torchkata.grading.gradescope import GradescopeError, build_gradescope_bundle
from torchkata.grading.record import Record, default_store, save_record

TAKEHOME = "th-" + "fedcba987654" * 2
SECRET = "hidden-suite-secret-9931"

HIDDEN_06 = f'''
import torch
from hypothesis import given, settings
from torchkata import strategies as tks
from torchkata.testing import assert_close
from drivers import d06

SECRET = "{SECRET}"

@settings(max_examples=3)
@given(x=tks.tensors(shape=tks.shapes(min_dims=1, max_dims=2), dtype=torch.float64))
def test_relu_matches_torch(kata, device, x):
    x = x.to(device)
    assert_close(kata.call("relu", x), torch.relu(x), what="relu(x)", inputs={{"x": x}})

def test_relu_through_a_driver(kata, device):
    assert kata.run(d06.relu_of_range, 4) == [0.0, 0.0, 0.0, 1.0]
'''

DRIVER_06 = '''
import torch

def relu_of_range(module, n):
    return module.relu(torch.arange(n, dtype=torch.float64) - 2).tolist()
'''

GOOD_06 = "import torch\n\ndef relu(x):\n    return x.clamp_min(0)\n"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("gsproject")

    def write(rel, text):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text))

    write("pyproject.toml", "[tool.torchkata]\n\n[tool.pytest.ini_options]\ntestpaths = ['tests']\n")
    write("tests/test_06_activations.py", HIDDEN_06)
    write("tests/drivers/__init__.py", "")
    write("tests/drivers/d06.py", DRIVER_06)
    write("reference/06_activations/activations.py", GOOD_06)
    write("katas/06_activations/activations.py", "def relu(x):\n    raise NotImplementedError\n")
    save_record(default_store(root), Record(id=TAKEHOME, title="mini", katas=["06_activations"],
                                            hidden_suite_sha256=suite_digest(root / "tests", ["06_activations"])))
    return root


def mock_gradescope(tmp_path: Path, bundle: Path, files: dict[str, str | bytes]) -> Path:
    """/autograder as Gradescope lays it out: source/ (the bundle, unzipped), submission/, results/."""
    root = tmp_path / "autograder"
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(root / "source")
    (root / "results").mkdir()
    (root / "submission").mkdir()
    for rel, content in files.items():
        path = root / "submission" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else textwrap.dedent(content).encode())
    return root


def run_autograder(root: Path) -> dict:
    env = {**os.environ, "GRADESCOPE_ROOT": str(root), "TORCHKATA_PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads((root / "results" / "results.json").read_text())


def test_the_bundle_is_laid_out_as_gradescope_asks_and_holds_no_answers(project, tmp_path):
    bundle = build_gradescope_bundle(project, ["06_activations"], tmp_path / "autograder.zip", takehome=TAKEHOME,
                                     torch_index_url="https://download.pytorch.org/whl/cpu")
    with zipfile.ZipFile(bundle) as zf:
        assert "install -q 'torch>=2.4' --index-url https://download.pytorch.org/whl/cpu" in zf.read("setup.sh").decode()
        names = set(zf.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
        config = json.loads(zf.read("torchkata-gradescope.json"))
        for script in ("setup.sh", "run_autograder"):
            assert modes[script] & stat.S_IXUSR, script
            text = zf.read(script).decode()
            assert text.startswith("#!/usr/bin/env bash")
            check = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True)
            assert check.returncode == 0, check.stderr
    assert {"setup.sh", "run_autograder", "project/tests/test_06_activations.py", "project/tests/drivers/d06.py",
            f"project/.torchkata/takehomes/{TAKEHOME}.json", "torchkata-src/pyproject.toml",
            "torchkata-src/src/torchkata/grading/grade.py", "torchkata-src/src/torchkata/catalog.toml"} <= names
    assert not [n for n in names if n.startswith(("project/reference", "project/katas")) or "__pycache__" in n]
    assert config["katas"] == ["06_activations"] and config["takehome"] == TAKEHOME
    with pytest.raises(GradescopeError):
        build_gradescope_bundle(project, ["06_activations"], tmp_path / "x.zip", visibility="everyone")
    with pytest.raises(GradescopeError):
        build_gradescope_bundle(project, ["01_tensors"], tmp_path / "x.zip")  # no hidden suite for it
    with pytest.raises(GradescopeError):  # the record grades 06 only
        build_gradescope_bundle(project, ["01_tensors"], tmp_path / "x.zip", takehome=TAKEHOME)


def test_a_correct_zip_upload_gets_full_marks_in_gradescope_format(project, tmp_path):
    """Graded by the take-home's record; the upload is one zip without manifest.json."""
    bundle = build_gradescope_bundle(project, [], tmp_path / "autograder.zip", takehome=TAKEHOME)
    upload = tmp_path / "upload.zip"
    with zipfile.ZipFile(upload, "w") as zf:
        zf.writestr("takehome/katas/06_activations/activations.py", GOOD_06)
    root = mock_gradescope(tmp_path, bundle, {"upload.zip": upload.read_bytes()})
    results = run_autograder(root)
    assert results["score"] == results["extra_data"]["max_score"] > 0, results
    assert len(results["tests"]) == 2 and all(t["status"] == "passed" for t in results["tests"])
    assert sum(t["score"] for t in results["tests"]) == pytest.approx(results["score"], abs=0.1)
    assert results["visibility"] == "after_published" and results["stdout_visibility"] == "hidden"
    assert results["output_format"] == "text" and all(t["output_format"] == "text" for t in results["tests"])
    assert "06_activations" in results["output"]


def test_a_submission_reading_the_bundled_hidden_suite_earns_nothing(project, tmp_path):
    """The hidden suite sits in Gradescope's source/ folder: the sandboxed solution cannot read it,
    a link to it in the submission is never followed, and candidate markup stays plain text."""
    bundle = build_gradescope_bundle(project, ["06_activations"], tmp_path / "autograder.zip")
    suite = tmp_path / "autograder/source/project/tests/test_06_activations.py"
    attack = f"""
    import glob, torch
    def relu(x):
        print("<script>alert(1)</script> **bold**")
        found = ""
        for path in [{str(suite)!r}, *glob.glob("/autograder/source/**/*.py", recursive=True)]:
            try:
                found += open(path).read()
            except OSError:
                pass
        if "{SECRET}" in found:
            return x.clamp_min(0)
        return x * 0 + 7
    """
    root = mock_gradescope(tmp_path, bundle, {"katas/06_activations/activations.py": attack})
    (root / "submission/katas/06_activations/leak.py").symlink_to(suite)
    results = run_autograder(root)
    assert results["score"] == 0.0 and results["tests"], results
    assert all(t["status"] == "failed" for t in results["tests"])
    assert SECRET not in json.dumps(results)
    assert results["output_format"] == "text" and results["test_output_format"] == "text"


def test_an_ungradable_upload_still_gets_a_results_file(project, tmp_path):
    bundle = build_gradescope_bundle(project, ["06_activations"], tmp_path / "autograder.zip")
    root = mock_gradescope(tmp_path, bundle, {"broken.zip": b"PK\x03\x04 not a zip"})
    results = run_autograder(root)
    assert results["score"] == 0.0 and results["tests"] == []
    assert "could not be graded" in results["output"]
