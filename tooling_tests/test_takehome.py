"""The take-home and the trust model of grading, end to end with real packages and grades.

`package` ships pristine stubs only (never a solved working copy), a catalog of the chosen
katas without their `mistakes`, and the hints of the chosen level; it keeps the record of the
take-home on the interviewer's side. `grade` grades by that record: a returned manifest that
differs is reported and not obeyed, a missing kata scores 0, a changed hidden suite is said
loudly, and without a record nothing is graded. In the take-home, `torchkata` offers only the
candidate's verbs.
"""
import json
import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from pathlib import Path

import pytest

from torchkata.catalog import load_catalog
from torchkata.grading.grade import GradingError, collect, grade_one
from torchkata.grading.record import default_store, load_record
from torchkata.grading.takehome import PackagingError, build_package, package_takehome
from torchkata.learn.loop import split_hints

REPO = Path(__file__).resolve().parent.parent
WIDE = {**os.environ, "COLUMNS": "200"}

HIDDEN_06 = '''
import torch
from torchkata.testing import assert_close

def test_relu_matches_torch(kata, device):
    x = torch.tensor([-2.0, -0.5, 0.0, 1.5], dtype=torch.float64, device=device)
    assert_close(kata.call("relu", x), x.clamp_min(0), what="relu(x)", inputs={"x": x})

def test_relu_keeps_the_shape(kata, device):
    x = torch.zeros(2, 3, device=device)
    assert tuple(kata.call("relu", x).shape) == (2, 3)
'''

HIDDEN_01 = '''
import torch
from torchkata.testing import assert_close

def test_batched_outer(kata, device):
    a = torch.arange(6.0, device=device).reshape(2, 3)
    b = torch.arange(4.0, device=device).reshape(2, 2)
    assert_close(kata.call("batched_outer", a, b), a[:, :, None] * b[:, None, :], what="outer")
'''

KATAS = {"06_activations": ("activations.py", HIDDEN_06), "01_tensors": ("tensors.py", HIDDEN_01)}
SOLVED_RELU = "def relu(x):\n    return x.clamp_min(0)\n"


def _git(root, *args):
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t", "HOME": str(root), "PATH": os.environ["PATH"]})


def make_project(root: Path, git: bool = True) -> Path:
    """A project with the real stubs, READMEs (three hints each) and examples of 06 and 01, and a
    tiny hidden suite for each; committed when GIT."""
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text("[tool.torchkata]\n\n[tool.pytest.ini_options]\ntestpaths = ['tests']\n")
    (root / ".gitignore").write_text(".torchkata/\n")
    for kata, (module, suite) in KATAS.items():
        (root / "katas" / kata).mkdir(parents=True)
        for name in (module, "README.md"):
            shutil.copyfile(REPO / "katas" / kata / name, root / "katas" / kata / name)
        (root / "tests").mkdir(exist_ok=True)
        (root / "tests" / f"test_{kata}.py").write_text(textwrap.dedent(suite))
        (root / "examples").mkdir(exist_ok=True)
        shutil.copyfile(REPO / "examples" / f"test_{kata}.py", root / "examples" / f"test_{kata}.py")
    if git:
        _git(root, "init", "-q")
        _git(root, "add", ".")
        _git(root, "commit", "-qm", "stubs")
    return root


def shipped(archive: Path) -> dict[str, str]:
    """{path inside the take-home: text} of a take-home zip."""
    with zipfile.ZipFile(archive) as zf:
        return {n.split("/", 1)[1]: zf.read(n).decode() for n in zf.namelist()}


def solution_of(kata: str) -> str:
    return (REPO / "reference" / kata / KATAS[kata][0]).read_text()


# ------------------------------------------------------------------------------ what ships

def test_a_solved_working_copy_never_ships(tmp_path):
    project = make_project(tmp_path / "p")
    stub = (project / "katas/06_activations/activations.py").read_text()
    (project / "katas/06_activations/activations.py").write_text(solution_of("06_activations"))
    manifest, record, _ = package_takehome(project, ["06_activations"], tmp_path / "t.zip")
    files = shipped(tmp_path / "t.zip")
    assert files["katas/06_activations/activations.py"] == stub
    assert files[".torchkata/stubs/06_activations/activations.py"] == stub
    assert not any(solution_of("06_activations") in text for text in files.values())
    assert any("working copy differs" in note for note in record.notes), record.notes
    # the record's digests are those of the stub, not of the solution
    import hashlib
    assert record.files["katas/06_activations/activations.py"] == hashlib.sha256(stub.encode()).hexdigest()
    # the interviewer is told, on the command line too
    (project / "katas/06_activations/activations.py").write_text(solution_of("06_activations"))
    proc = subprocess.run([sys.executable, "-m", "torchkata", "package", "06", "--out", str(tmp_path / "u.zip"),
                           "--root", str(project)], capture_output=True, text=True, env=WIDE)
    assert proc.returncode == 0, proc.stderr
    assert "shipped the committed stub" in proc.stdout and "record th-" in proc.stdout


def test_a_committed_solution_never_ships_either(tmp_path):
    project = make_project(tmp_path / "p")
    stub = (project / "katas/06_activations/activations.py").read_text()
    (project / "katas/06_activations/activations.py").write_text(solution_of("06_activations"))
    _git(project, "commit", "-qam", "my solution")
    _, record, _ = package_takehome(project, ["06_activations"], tmp_path / "t.zip")
    assert shipped(tmp_path / "t.zip")["katas/06_activations/activations.py"] == stub
    assert any("newest commit holds a solution" in note for note in record.notes), record.notes


def test_outside_git_only_an_untouched_stub_ships(tmp_path):
    project = make_project(tmp_path / "p", git=False)
    stub = (project / "katas/06_activations/activations.py").read_text()
    build_package(project, ["06_activations"], tmp_path / "t.zip")
    assert shipped(tmp_path / "t.zip")["katas/06_activations/activations.py"] == stub
    (project / "katas/06_activations/activations.py").write_text(solution_of("06_activations"))
    with pytest.raises(PackagingError, match="not an untouched stub"):
        build_package(project, ["06_activations"], tmp_path / "u.zip")
    assert not (tmp_path / "u.zip").exists()


def test_the_shipped_catalog_holds_the_chosen_katas_only_and_no_mistakes(tmp_path):
    project = make_project(tmp_path / "p")
    build_package(project, ["06_activations"], tmp_path / "t.zip")
    files = shipped(tmp_path / "t.zip")
    text = files["src/torchkata/catalog.toml"]
    entries = tomllib.loads(text)["kata"]
    assert [e["id"] for e in entries] == ["06_activations"]
    assert "mistakes" not in text and "seeds" not in text
    spec = load_catalog()["06_activations"]
    assert [e["symbols"] for e in entries] == [[s.text for s in spec.symbols]]
    assert tuple(entries[0]["forbidden"]) == spec.forbidden
    everything = "\n".join(files.values())
    for mistake in spec.mistakes:
        assert mistake not in everything, mistake
    policy = files["src/torchkata/policy.toml"]
    assert tomllib.loads(policy)["points"]
    for other in load_catalog().values():
        if other.id != "06_activations":
            assert other.title not in text and other.id not in text, other.id
            assert other.id not in policy, other.id


@pytest.mark.parametrize("level,kept", [("none", 0), ("nudge", 1), ("all", 3)])
def test_hints_ship_per_level_and_the_readme_says_which(tmp_path, level, kept):
    project = make_project(tmp_path / "p")
    _, record, _ = package_takehome(project, ["06_activations", "01_tensors"], tmp_path / "t.zip", hints=level)
    files = shipped(tmp_path / "t.zip")
    assert record.hints == level and json.loads(files["manifest.json"])["hints"] == level
    for kata in ("06_activations", "01_tensors"):
        original = split_hints((REPO / "katas" / kata / "README.md").read_text())[1]
        readme = files[f"katas/{kata}/README.md"]
        body, hints = split_hints(readme)
        assert [h.body for h in hints] == [h.body for h in original[:kept]]
        for h in original[kept:]:
            assert h.body not in readme  # the key line ships only with --hints all
        assert ("## Hints" in readme) == (kept > 0)
        assert f"pytest katas/{kata}" not in readme and f"torchkata examples {kata}" in readme
    said = {"none": "without hints", "nudge": "one hint, a nudge", "all": "all three hints"}[level]
    assert said in files["README.md"]


# ------------------------------------------------------------------------------ grading by the record

def test_a_tampered_manifest_is_reported_and_the_record_obeyed(tmp_path):
    """The candidate solves 06, deletes 01 and edits manifest.json to list 06 only: the grade
    (through the real CLI and sandbox) is of the whole take-home, 01 scores 0 and says so."""
    project = make_project(tmp_path / "p")
    build_package(project, ["06_activations", "01_tensors"], tmp_path / "t.zip")
    folder = tmp_path / "sub"
    with zipfile.ZipFile(tmp_path / "t.zip") as zf:
        zf.extractall(folder)
    folder = next(folder.iterdir())
    (folder / "katas/06_activations/activations.py").write_text(SOLVED_RELU)
    (folder / "katas/01_tensors/tensors.py").unlink()
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.update(katas=["06_activations"], hidden_suite_sha256="0" * 64, scoring="per-property")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "torchkata", "grade", str(folder), "--out", str(out)],
                          cwd=project, capture_output=True, text=True, env=WIDE, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads((out / "results.json").read_text())
    assert set(results["katas"]) == {"06_activations", "01_tensors"}
    assert results["katas"]["06_activations"]["score"] == results["katas"]["06_activations"]["max_score"] > 0
    assert results["katas"]["01_tensors"]["score"] == 0 and results["katas"]["01_tensors"]["max_score"] > 0
    assert results["status"] == "fail" and results["score"] < results["max_score"]
    notes = "\n".join(results["notes"])
    assert "01_tensors" in notes and "missing" in notes
    assert "differs from the record (not obeyed): katas" in notes
    assert "differs from the record (not obeyed): hidden_suite_sha256" in notes
    assert "HIDDEN SUITE CHANGED" not in notes  # the suite on disk is the packaged one
    assert "differs from the record" in (out / "report.md").read_text()


def test_a_changed_hidden_suite_is_said_loudly(tmp_path):
    project = make_project(tmp_path / "p")
    build_package(project, ["01_tensors"], tmp_path / "t.zip")
    folder = tmp_path / "sub"
    with zipfile.ZipFile(tmp_path / "t.zip") as zf:
        zf.extractall(folder)
    folder = next(folder.iterdir())
    impl = tmp_path / "impl"
    impl.mkdir()
    assert collect(folder, impl, project=project).alerts == []
    with open(project / "tests/test_01_tensors.py", "a") as handle:
        handle.write("\ndef test_added_later(kata, device):\n    pass\n")
    sub = collect(folder, tmp_path / "impl2", project=project)
    assert sub.alerts and sub.alerts[0].startswith("HIDDEN SUITE CHANGED") and sub.alerts[0] in sub.notes


def test_the_scoring_and_hint_level_come_from_the_record(tmp_path):
    project = make_project(tmp_path / "p")
    _, record, _ = package_takehome(project, ["01_tensors"], tmp_path / "t.zip", scoring="all-or-nothing",
                                    hints="none")
    folder = tmp_path / "sub"
    with zipfile.ZipFile(tmp_path / "t.zip") as zf:
        zf.extractall(folder)
    folder = next(folder.iterdir())
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.update(scoring="per-property", hints="all")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    impl = tmp_path / "impl"
    impl.mkdir()
    sub = collect(folder, impl, project=project)
    assert sub.scoring == "all-or-nothing" and sub.manifest["hints"] == "none" and sub.record["id"] == record.id
    assert sub.manifest["scoring"] == "all-or-nothing"
    assert any("scoring" in n and "not obeyed" in n for n in sub.notes)
    assert load_record(default_store(project), record.id).scoring == "all-or-nothing"


@pytest.mark.parametrize("how", ["no manifest", "id removed", "unknown id", "path in the id"])
def test_without_a_record_nothing_is_graded(tmp_path, how):
    project = make_project(tmp_path / "p")
    build_package(project, ["06_activations"], tmp_path / "t.zip")
    folder = tmp_path / "sub"
    with zipfile.ZipFile(tmp_path / "t.zip") as zf:
        zf.extractall(folder)
    folder = next(folder.iterdir())
    manifest = json.loads((folder / "manifest.json").read_text())
    if how == "no manifest":
        (folder / "manifest.json").unlink()
    else:
        manifest["takehome_id"] = {"id removed": None, "unknown id": "th-" + "a" * 24,
                                   "path in the id": "../../../p/.torchkata/takehomes/x"}[how]
        if manifest["takehome_id"] is None:
            del manifest["takehome_id"]
        (folder / "manifest.json").write_text(json.dumps(manifest))
    impl = tmp_path / "impl"
    impl.mkdir()
    with pytest.raises(GradingError, match="take-home id|no record"):
        collect(folder, impl, project=project)
    assert not any(impl.iterdir())


def test_the_cli_refuses_without_a_record_and_grades_named_katas_on_request(tmp_path):
    project = make_project(tmp_path / "p")
    folder = tmp_path / "sub"
    (folder / "katas/06_activations").mkdir(parents=True)
    (folder / "katas/06_activations/activations.py").write_text(SOLVED_RELU)
    (folder / "manifest.json").write_text(json.dumps({"katas": ["06_activations"]}))
    cmd = [sys.executable, "-m", "torchkata", "grade", str(folder), "--out", str(tmp_path / "o"), "--root", str(project)]
    refused = subprocess.run(cmd, capture_output=True, text=True, env=WIDE)
    assert refused.returncode != 0 and "no record" in refused.stderr and "--katas" in refused.stderr
    assert not (tmp_path / "o" / "results.json").exists()
    # --records names another store: the record is found there
    store = tmp_path / "elsewhere"
    _, record, path = package_takehome(project, ["06_activations"], tmp_path / "t.zip", records=store)
    assert path.parent == store and not default_store(project).exists()
    impl = tmp_path / "impl"
    impl.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"takehome_id": record.id}))
    assert collect(folder, impl, project=project, records=store).record["id"] == record.id
    # the interviewer's explicit choice, without a record
    results = grade_one(folder, tmp_path / "o2", project, katas=["06_activations", "01_tensors"])
    assert results["katas"]["06_activations"]["failed"] == 0 and results["katas"]["01_tensors"]["score"] == 0
    assert any("--katas" in n for n in results["notes"])


# ------------------------------------------------------------------------------ the candidate's tool

def candidate_env(takehome: Path) -> dict:
    """The take-home's own torchkata (its src/ first), with pytest loading only the plugins a
    take-home install declares (this environment also has the interviewer's torchkata installed)."""
    return {**WIDE, "PYTHONPATH": str(takehome / "src"), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
            "PYTEST_ADDOPTS": "-p torchkata.plugin -p _hypothesis_pytestplugin"}


def test_the_take_home_offers_only_the_candidates_verbs(tmp_path):
    project = make_project(tmp_path / "p")
    build_package(project, ["06_activations"], tmp_path / "t.zip", hints="nudge")
    with zipfile.ZipFile(tmp_path / "t.zip") as zf:
        zf.extractall(tmp_path / "x")
    home = next((tmp_path / "x").iterdir())
    env = candidate_env(home)

    def tk(*args):
        return subprocess.run([sys.executable, "-m", "torchkata", *args], cwd=home, capture_output=True,
                              text=True, env=env, timeout=600)

    helped = tk("--help")
    assert helped.returncode == 0
    commands = helped.stdout.split("Commands:")[1]
    listed = {line.split()[0] for line in commands.splitlines() if line.strip()}
    assert listed == {"list", "show", "hint", "examples", "signatures", "watch", "reset"}, listed
    checked = tk("check", "06", "--device", "cpu")
    assert checked.returncode == 2 and "hidden suite is not part of a take-home" in checked.stderr
    assert "torchkata examples" in checked.stderr
    graded = tk("grade", "x", "--out", "y")
    assert graded.returncode == 2 and "not part of a take-home" in graded.stderr
    hinted = [tk("hint", "06").stdout for _ in range(2)]
    assert "hint 1/1" in hinted[0] and "hint 1/1" in hinted[1]
    assert tk("signatures").returncode == 0
    (home / "katas/06_activations/activations.py").write_text(
        (home / "katas/06_activations/activations.py").read_text().replace("def relu(x:", "def relu(tensor:"))
    wrong = tk("signatures", "06")
    assert wrong.returncode == 1 and "relu has parameters (tensor); the catalog asks for (x)" in wrong.stdout
    shutil.copyfile(home / ".torchkata/stubs/06_activations/activations.py", home / "katas/06_activations/activations.py")
    examples = tk("examples", "06")
    assert examples.returncode == 1, examples.stdout + examples.stderr
    assert "test_relu_keeps_the_required_signature" in examples.stdout and "not yet" in examples.stdout
