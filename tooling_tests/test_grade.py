"""Packaging and sandboxed grading: content, round trip, and a fixture per attack.

The attacks run against a miniature project (two katas, a tiny hidden suite) so each
grade takes seconds; the round trip with the real suites is in test_takehome_round_trip.
"""
import csv
import io
import json
import os
import tarfile
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

from torchkata.grading.archive import ArchiveRefused, unpack
from torchkata.grading.grade import GradingError, grade_batch, grade_one, suite_digest
from torchkata.grading.record import Record, default_store, save_record
from torchkata.grading.sandbox import sandbox_facts
from torchkata.grading.takehome import build_package

REPO = Path(__file__).resolve().parent.parent
MINI_ID = "th-" + "0123456789ab" * 2  # the mini project's take-home (its record is written by `mini`)

HIDDEN_06 = '''
import torch
from hypothesis import given, settings
from torchkata import strategies as tks
from torchkata.testing import assert_close
from drivers import d06

SECRET = "hidden-suite-secret-6021"

@settings(max_examples=5)
@given(x=tks.tensors(shape=tks.shapes(min_dims=1, max_dims=2), dtype=torch.float64))
def test_relu_matches_torch(kata, device, x):
    x = x.to(device)
    assert_close(kata.call("relu", x), torch.relu(x), what="relu(x)", inputs={"x": x})

def test_relu_gradient(kata, device):
    x = torch.tensor([-1.0, 2.0], dtype=torch.float64, device=device)
    _, (g,) = kata.grad("relu", x)
    assert_close(g, torch.tensor([0.0, 1.0], dtype=torch.float64, device=device), what="grad")

def test_relu_through_a_driver(kata, device):
    out = kata.run(d06.relu_of_range, 4)
    assert out == [0.0, 0.0, 0.0, 1.0]
'''

DRIVER_06 = '''
import torch

def relu_of_range(module, n):
    return module.relu(torch.arange(n, dtype=torch.float64) - 2).tolist()
'''

HIDDEN_01 = '''
import torch
from torchkata.testing import assert_close

def test_batched_outer(kata, device):
    a = torch.arange(6.0, device=device).reshape(2, 3)
    b = torch.arange(4.0, device=device).reshape(2, 2)
    assert_close(kata.call("batched_outer", a, b), a[:, :, None] * b[:, None, :], what="outer")

def test_batched_outer_shape(kata, device):
    a, b = torch.ones(3, 2, device=device), torch.ones(3, 5, device=device)
    assert tuple(kata.call("batched_outer", a, b).shape) == (3, 2, 5)
'''

GOOD_06 = "import torch\n\ndef relu(x):\n    return x.clamp_min(0)\n"
GOOD_01 = ("def one_hot(labels, num_classes):\n    raise NotImplementedError\n\n"
           "def pairwise_sq_distances(x, y):\n    raise NotImplementedError\n\n"
           "def normalize_rows(x, eps=1e-12):\n    raise NotImplementedError\n\n"
           "def batched_outer(a, b):\n    return a[:, :, None] * b[:, None, :]\n")


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    """A project with a hidden suite for 06 (relu) and 01 (batched_outer), stubs and READMEs."""
    root = tmp_path_factory.mktemp("mini")

    def write(rel, text):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))

    write("pyproject.toml", "[tool.torchkata]\n\n[tool.pytest.ini_options]\ntestpaths = ['tests']\n")
    write("tests/test_06_activations.py", HIDDEN_06)
    write("tests/test_01_tensors.py", HIDDEN_01)
    write("tests/drivers/__init__.py", "")
    write("tests/drivers/d06.py", DRIVER_06)
    write("reference/06_activations/activations.py", GOOD_06)
    for kata, module in (("06_activations", "activations.py"), ("01_tensors", "tensors.py")):
        write(f"katas/{kata}/{module}", "def relu(x):\n    raise NotImplementedError\n")
        write(f"katas/{kata}/README.md", f"# {kata}\n\nDo it.\n")
    # The interviewer's record of the take-home these submissions answer: grading goes by it.
    save_record(default_store(root), Record(id=MINI_ID, title="mini", katas=["06_activations", "01_tensors"],
                                            hidden_suite_sha256=suite_digest(root / "tests",
                                                                             ["06_activations", "01_tensors"])))
    return root


def submission(tmp_path, relu_source, tensors_source=GOOD_01, extra=None) -> Path:
    folder = tmp_path / "sub"
    (folder / "katas/06_activations").mkdir(parents=True)
    (folder / "katas/01_tensors").mkdir(parents=True)
    (folder / "katas/06_activations/activations.py").write_text(textwrap.dedent(relu_source))
    (folder / "katas/01_tensors/tensors.py").write_text(tensors_source)
    (folder / "manifest.json").write_text(json.dumps({"takehome_id": MINI_ID, "katas": ["06_activations", "01_tensors"]}))
    for rel, text in (extra or {}).items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return folder


def graded(mini, tmp_path, relu_source, **kw):
    results = grade_one(submission(tmp_path, relu_source, **kw), tmp_path / "out", mini)
    assert json.loads((tmp_path / "out/results.json").read_text()) == results
    return results


def kata_scores(results):
    return {k: (v["passed"], v["failed"]) for k, v in results["katas"].items()}


# ------------------------------------------------------------------------------ the happy path

def test_a_correct_submission_gets_full_marks_in_exercism_shape(mini, tmp_path):
    results = graded(mini, tmp_path, GOOD_06)
    assert results["status"] == "pass" and results["score"] == results["max_score"] == 30.0
    assert kata_scores(results) == {"06_activations": (3, 0), "01_tensors": (2, 0)}
    for key in ("version", "status", "message", "score", "max_score", "katas", "tests"):
        assert key in results
    for test in results["tests"]:
        assert set(test) >= {"name", "kata", "status", "score", "max_score", "message", "output"}
        assert len(test["output"]) <= 500
    gradescope = json.loads((tmp_path / "out/gradescope.json").read_text())
    assert gradescope["score"] == 30.0 and len(gradescope["tests"]) == 5
    assert "# Grade: 30 / 30 points" in (tmp_path / "out/report.md").read_text()
    assert "<h1>Grade: 30 / 30" in (tmp_path / "out/report.html").read_text()
    assert {k["status"] for k in results["katas"].values()} == {"pass"}


def test_grading_is_deterministic(mini, tmp_path):
    half = "def relu(x):\n    return x.clamp_min(0) if x.numel() < 3 else x\n"
    first = graded(mini, tmp_path / "a", half)
    second = graded(mini, tmp_path / "b", half)
    assert [t["status"] for t in first["tests"]] == [t["status"] for t in second["tests"]]
    assert first["score"] == second["score"]


# ------------------------------------------------------------------------------ attacks

def _expect_06_earns_nothing_and_01_is_graded(results):
    assert results["katas"]["06_activations"]["score"] == 0.0, results["katas"]
    assert results["katas"]["01_tensors"]["score"] == 10.0, results["katas"]


@pytest.mark.parametrize("name,source", [
    ("exits at import", "import os\nos._exit(0)\n"),
    ("SystemExit at import", "raise SystemExit(0)\n"),
    ("SystemExit when called", "def relu(x):\n    raise SystemExit(0)\n"),
    ("os._exit when called", "import os\ndef relu(x):\n    os._exit(0)\n"),
    ("returns a non-tensor", "class Fake:\n    pass\ndef relu(x):\n    return Fake()\n"),
    ("forbidden through a string", "import torch\ndef relu(x):\n    return getattr(torch, 're' + 'lu')(x)\n"),
    ("floods stdout", "import sys\ndef relu(x):\n    sys.stdout.write('x' * 50_000_000)\n    sys.stdout.flush()\n"
                      "    return x.clamp_min(0)\n"),
])
def test_attack_earns_nothing_and_other_katas_are_still_graded(mini, tmp_path, name, source):
    results = graded(mini, tmp_path, source)
    _expect_06_earns_nothing_and_01_is_graded(results)


def test_attack_patching_comparisons_and_builtins_cannot_fake_a_pass(mini, tmp_path):
    source = """
    import builtins, torch, numpy
    torch.testing.assert_close = lambda *a, **k: None
    torch.allclose = lambda *a, **k: True
    torch.equal = lambda *a, **k: True
    torch.isclose = lambda a, b, **k: torch.ones_like(a, dtype=torch.bool)
    numpy.allclose = lambda *a, **k: True
    builtins.AssertionError = type("Nope", (Exception,), {})
    def relu(x):
        return x * 0 + 7
    """
    _expect_06_earns_nothing_and_01_is_graded(graded(mini, tmp_path, source))


def test_attack_reading_the_callers_frames_finds_no_expected_value(mini, tmp_path):
    source = """
    import sys, torch
    def relu(x):
        frame = sys._getframe(1)
        while frame is not None:
            for value in list(frame.f_locals.values()):
                if isinstance(value, torch.Tensor) and value.shape == x.shape and value is not x:
                    return value.clone()
            frame = frame.f_back
        return x * 0 + 3
    """
    _expect_06_earns_nothing_and_01_is_graded(graded(mini, tmp_path, source))


def test_attack_reading_the_hidden_suite_and_the_reference_fails(mini, tmp_path):
    source = f"""
    import glob, torch
    found = []
    for pattern in ({str(mini)!r} + "/tests/*.py", {str(mini)!r} + "/reference/*/*.py"):
        for path in glob.glob(pattern):
            try:
                found.append(open(path).read())
            except OSError:
                pass
    def relu(x):
        if any("hidden-suite-secret" in text or "clamp_min" in text for text in found):
            return x.clamp_min(0)
        return x * 0 - 1
    """
    results = graded(mini, tmp_path, source)
    if sandbox_facts().namespaces:
        _expect_06_earns_nothing_and_01_is_graded(results)
    else:
        pytest.skip("no mount namespace here: the report says the hidden tests are readable")


def test_attack_infinite_loop_is_stopped_by_the_wall_time_limit(mini, tmp_path, monkeypatch):
    source = "def relu(x):\n    while True:\n        pass\n"
    monkeypatch.setenv("TORCHKATA_CALL_SECONDS", "3")  # read by grade_one's pytest process
    start = time.monotonic()
    results = graded(mini, tmp_path, source)
    _expect_06_earns_nothing_and_01_is_graded(results)
    assert time.monotonic() - start < 120
    assert any("wall-time limit" in t["message"] or "crashed" in t["message"]
               for t in results["tests"] if t["kata"] == "06_activations")


def test_attack_exhausting_memory_fails_only_that_kata(mini, tmp_path):
    source = "def relu(x):\n    blocks = []\n    while True:\n        blocks.append(bytearray(1 << 28))\n"
    _expect_06_earns_nothing_and_01_is_graded(graded(mini, tmp_path, source))


def test_attack_spawned_processes_are_killed_at_the_end(mini, tmp_path):
    import tempfile

    shared = Path(tempfile.mkdtemp(prefix="torchkata-attack-"))
    shared.chmod(0o777)  # writable by the worker's user, so a surviving process could leave a mark
    marker = shared / "still-alive"
    source = f"""
    import subprocess, sys
    # The child waits for the worker to go away, then leaves a mark: only a survivor can write it.
    code = ("import os, time, pathlib\\nparent = os.getppid()\\n"
            "while os.getppid() == parent:\\n    time.sleep(0.1)\\n"
            "pathlib.Path({str(marker)!r}).write_text('alive')")
    subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    def relu(x):
        return x * 0 - 1
    """
    _expect_06_earns_nothing_and_01_is_graded(graded(mini, tmp_path, source))
    time.sleep(3)
    survived = marker.exists()
    import shutil

    shutil.rmtree(shared, ignore_errors=True)
    if sandbox_facts().namespaces:
        assert not survived, "a process started by the submission outlived grading"


def test_attack_network_sees_only_loopback(mini, tmp_path):
    """In the worker's network namespace there is no interface but lo: no connection can leave."""
    source = """
    import socket
    INTERFACES = sorted(name for _, name in socket.if_nameindex())
    def relu(x):
        return x.clamp_min(0) if INTERFACES == ["lo"] else x * 0 - 1
    """
    results = graded(mini, tmp_path, source)
    if not sandbox_facts().namespaces:
        pytest.skip("no network namespace on this machine (the report says so)")
    assert results["katas"]["06_activations"]["failed"] == 0, results["tests"]


def test_each_worker_runs_as_a_uid_of_its_own(mini, tmp_path):
    """Not root, not a uid another process has: parallel workers cannot touch each other."""
    from torchkata.grading.sandbox import WORKER_UID_BASE, allocate_uid

    assert allocate_uid() != allocate_uid()
    assert WORKER_UID_BASE <= allocate_uid() < 2**32 - 1
    source = f"""
    import os
    UID = os.getuid()
    def relu(x):
        return x.clamp_min(0) if UID >= {WORKER_UID_BASE} and os.getgid() == UID else x * 0 - 1
    """
    results = graded(mini, tmp_path, source)
    if not sandbox_facts().unprivileged_user:
        pytest.skip("not root here: the worker runs as the grader's user (the report says so)")
    assert results["katas"]["06_activations"]["failed"] == 0, results["tests"]


def test_attack_writing_outside_its_folder_and_rewriting_results_at_exit(mini, tmp_path):
    target = tmp_path / "out" / "results.json"
    victim = mini / "tests" / "test_01_tensors.py"
    source = f"""
    import atexit, json
    def rewrite():
        for path in ({str(target)!r}, {str(victim)!r}):
            try:
                open(path, "w").write(json.dumps({{"score": 1e9}}))
            except OSError:
                pass
    atexit.register(rewrite)
    rewrite()
    def relu(x):
        return x * 0 - 1
    """
    before = victim.read_text()
    results = graded(mini, tmp_path, source)
    _expect_06_earns_nothing_and_01_is_graded(results)
    assert json.loads(target.read_text())["score"] == results["score"] == 10.0
    if sandbox_facts().unprivileged_user:
        assert victim.read_text() == before


def test_files_other_than_the_kata_modules_are_ignored_and_listed(mini, tmp_path):
    extra = {"conftest.py": "import os\nos._exit(0)\n", "pytest.ini": "[pytest]\naddopts = -x\n",
             "sitecustomize.py": "import os\nos._exit(0)\n", "evil.pth": "import os; os._exit(0)\n",
             "katas/06_activations/helper.py": "X = 1\n"}
    results = graded(mini, tmp_path, GOOD_06, extra=extra)
    assert results["score"] == 30.0
    assert set(extra) <= set(results["ignored_files"])
    assert "conftest\\.py" in (tmp_path / "out/report.md").read_text()  # escaped: a name the candidate chose


def test_syntax_error_and_wrong_signature_are_one_line_each(mini, tmp_path):
    results = graded(mini, tmp_path, "def relu(x:\n    return x\n")
    messages = {t["message"] for t in results["tests"] if t["kata"] == "06_activations"}
    assert any("syntax error" in m for m in messages), messages
    kata = results["katas"]["06_activations"]
    assert kata["status"] == "did not import" and "syntax error" in kata["summary"], kata["summary"]
    assert kata["summary"].startswith("did not import: ") and "Failed:" not in kata["summary"]
    assert "activations.py:1" in kata["summary"] and "/tmp" not in kata["summary"]
    assert len(kata["failures"]) == 1  # identical failures grouped into one section
    _expect_06_earns_nothing_and_01_is_graded(results)


# ------------------------------------------------------------------------------ archives

def _zip_of(folder: Path, target: Path, top="takehome") -> Path:
    with zipfile.ZipFile(target, "w") as zf:
        for path in folder.rglob("*"):
            if path.is_file():
                zf.write(path, f"{top}/{path.relative_to(folder)}")
    return target


def test_zip_and_tar_with_one_top_folder_are_graded(mini, tmp_path):
    folder = submission(tmp_path, GOOD_06)
    z = grade_one(_zip_of(folder, tmp_path / "s.zip"), tmp_path / "out-zip", mini)
    tgz = tmp_path / "s.tar.gz"
    with tarfile.open(tgz, "w:gz") as tf:
        tf.add(folder, arcname="top")
    t = grade_one(tgz, tmp_path / "out-tar", mini)
    assert z["score"] == t["score"] == 30.0


@pytest.mark.parametrize("name,members,why", [
    ("escaping path", [("../evil.py", b"x")], "escaping"),
    ("absolute path", [("/etc/evil.py", b"x")], "absolute"),
])
def test_unsafe_zip_members_are_refused(tmp_path, name, members, why):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for member, data in members:
            zf.writestr(zipfile.ZipInfo(member), data)
    with pytest.raises(ArchiveRefused, match=why):
        unpack(archive, tmp_path / "x")
    assert not (tmp_path / "evil.py").exists()


def test_links_in_a_tar_are_refused(tmp_path):
    archive = tmp_path / "link.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        info = tarfile.TarInfo("katas/06_activations/activations.py")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(info)
    with pytest.raises(ArchiveRefused, match="link"):
        unpack(archive, tmp_path / "x")


def test_a_zip_bomb_is_refused_in_seconds(tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(3):
            zf.writestr(f"katas/{i}.py", b"\0" * (200 << 20))
    start = time.monotonic()
    with pytest.raises(ArchiveRefused, match="bomb|inflates"):
        unpack(archive, tmp_path / "x")
    assert time.monotonic() - start < 5
    assert not any((tmp_path / "x").rglob("*.py"))


def test_a_broken_archive_is_one_clear_line(mini, tmp_path):
    bad = tmp_path / "broken.zip"
    bad.write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(GradingError, match="not a readable zip"):
        grade_one(bad, tmp_path / "out", mini)


def test_cli_grade_exit_codes(mini, tmp_path):
    import subprocess
    import sys

    bad = tmp_path / "broken.tar.gz"
    bad.write_bytes(b"garbage")
    proc = subprocess.run([sys.executable, "-m", "torchkata", "grade", str(bad), "--out", str(tmp_path / "o"),
                           "--root", str(mini)], capture_output=True, text=True)
    assert proc.returncode != 0 and "cannot grade" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_a_folder_of_archives_is_graded_into_a_csv(mini, tmp_path):
    batch = tmp_path / "batch"
    batch.mkdir()
    _zip_of(submission(tmp_path / "a", GOOD_06), batch / "alice.zip")
    _zip_of(submission(tmp_path / "b", "def relu(x):\n    return x\n"), batch / "bob.zip")
    (batch / "carol.zip").write_bytes(b"not a zip")
    grade_batch(batch, tmp_path / "out", mini, jobs=2)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out/grades.csv").read_text())))
    by_name = {r["submission"]: r for r in rows}
    assert by_name["alice"]["total"] == "30.0" and by_name["alice"]["percent"] == "100.0"
    assert float(by_name["bob"]["06_activations"]) < 20.0 and by_name["bob"]["01_tensors"] == "10.0"
    assert by_name["carol"]["problems"] and (tmp_path / "out/carol/error.txt").is_file()
    assert "06_activations:" in by_name["bob"]["problems"] and not by_name["alice"]["problems"]


def test_no_submission_name_crashes_the_batch_or_overwrites_another(mini, tmp_path):
    """Names are the candidates': one that is the batch's own file, one of dots, two that differ
    only in the archive's kind or case, a very long one. Each gets a folder of its own under --out."""
    batch = tmp_path / "batch"
    batch.mkdir()
    untouched = "def relu(x):\n    raise NotImplementedError\n"  # scored without a run: fast
    names = ["grades.csv.zip", "similarity.csv.tar.gz", "...zip", "bob.zip", "bob.tar.gz", "Bob.zip",
             "x" * 240 + ".zip", "a b;$(c).zip"]
    for i, name in enumerate(names):
        folder = submission(tmp_path / f"s{i}", untouched, tensors_source=untouched)
        if name.endswith(".tar.gz"):
            with tarfile.open(batch / name, "w:gz") as tar:
                tar.add(folder, arcname="sub")
        else:
            _zip_of(folder, batch / name)
    rows = grade_batch(batch, tmp_path / "out", mini, jobs=2, similarity_threshold=None)
    assert len(rows) == len(names) and all(r["results"] is not None for r in rows), [r["error"] for r in rows]
    folders = [r["submission"] for r in rows]
    assert len({f.casefold() for f in folders}) == len(names), folders
    assert (tmp_path / "out/grades.csv").is_file()
    for folder in folders:
        assert (tmp_path / "out" / folder / "results.json").is_file() and len(folder) <= 100
        assert (tmp_path / "out" / folder).resolve().parent == (tmp_path / "out").resolve()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batch", "out"] + [f"s{i}" for i in range(len(names))]
    csv_rows = list(csv.DictReader(io.StringIO((tmp_path / "out/grades.csv").read_text())))
    assert sorted(r["submission"] for r in csv_rows) == sorted(folders)


# ------------------------------------------------------------------------------ packaging

def test_package_holds_the_take_home_and_never_the_hidden_suite(tmp_path):
    manifest = build_package(REPO, ["06_activations"], tmp_path / "t.zip", records=tmp_path / "records")
    names = zipfile.ZipFile(tmp_path / "t.zip").namelist()
    top = names[0].split("/")[0]
    rel = {n.split("/", 1)[1] for n in names}
    assert {"README.md", "pyproject.toml", "Makefile", "manifest.json", "katas/06_activations/README.md",
            "katas/06_activations/activations.py", "examples/test_06_activations.py",
            "examples/test_06_activations_signature.py", "src/torchkata/catalog.toml",
            "src/torchkata/plugin.py"} <= rel
    assert not any(r.startswith(("tests/", "reference/")) or "mutants" in r or r.startswith("src/torchkata/verify")
                   for r in rel), sorted(rel)
    reference = (REPO / "reference/06_activations/activations.py").read_text()
    with zipfile.ZipFile(tmp_path / "t.zip") as zf:
        for name in names:
            assert zf.read(name).decode() != reference
        shipped = json.loads(zf.read(f"{top}/manifest.json"))
        readme = zf.read(f"{top}/README.md").decode()
    assert shipped["katas"] == ["06_activations"] and len(shipped["hidden_suite_sha256"]) == 64
    assert shipped == manifest and (tmp_path / "records" / f"{manifest['takehome_id']}.json").is_file()
    assert "30 minutes" in readme and "torch.sigmoid" in readme


@pytest.mark.slow
def test_takehome_round_trip_with_the_real_suites(tmp_path):
    """package every kata -> fill with the references -> full marks, twice, identical; stubs -> 0."""
    from torchkata.catalog import load_catalog

    catalog = load_catalog()
    katas = [k for k in catalog if (REPO / "tests" / f"test_{k}.py").is_file()]
    # CI grades a sample that covers calls, gradients, drivers and training; every kata on demand
    # (TORCHKATA_ROUND_TRIP=all), since each kata's suite also runs in `make check`.
    if os.environ.get("TORCHKATA_ROUND_TRIP") != "all":
        katas = [k for k in ("01_tensors", "03_autograd", "07_losses", "10_optimizers", "13_training_loop")
                 if k in katas]
    records = tmp_path / "records"  # the interviewer's records, here out of the checkout
    build_package(REPO, katas, tmp_path / "t.zip", records=records)
    stub_results = grade_one(tmp_path / "t.zip", tmp_path / "out-stub", REPO, records=records)
    assert stub_results["score"] == 0.0 and set(stub_results["katas"]) == set(katas)  # graded by the record
    first = grade_one(filled_with_references(tmp_path / "t.zip", tmp_path / "filled", katas), tmp_path / "out1", REPO,
                      records=records)
    failed = [(t["name"], t["message"]) for t in first["tests"] if t["status"] != "pass"]
    assert first["score"] == first["max_score"] > 0, failed
    assert set(first["katas"]) == set(katas)
    assert first["ignored_files"] == []
    # The same submission gets the same grade: regraded on the hypothesis-heavy and seeded
    # katas only (a second full grade would double the test's four minutes for little more).
    again = [k for k in ("01_tensors", "07_losses", "10_optimizers", "12_data_loading") if k in katas]
    build_package(REPO, again, tmp_path / "again.zip", records=records)
    second = grade_one(filled_with_references(tmp_path / "again.zip", tmp_path / "again", again), tmp_path / "out2", REPO,
                       records=records)
    assert [(t["name"], t["status"]) for t in first["tests"] if t["kata"] in again] == \
        [(t["name"], t["status"]) for t in second["tests"]]
    assert second["score"] == sum(first["katas"][k]["score"] for k in again)


def filled_with_references(archive: Path, folder: Path, katas: list[str]) -> Path:
    """Unpack a take-home and write each kata's reference solution where the stub was."""
    from torchkata.catalog import load_catalog

    catalog = load_catalog()
    folder = unpack(archive, folder)
    for k in katas:
        module = catalog[k].module
        (folder / "katas" / k / module).write_text((REPO / "reference" / k / module).read_text())
    return folder
