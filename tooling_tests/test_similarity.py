"""Similarity across a batch (copydetect), per kata and pair of submissions: no grading, no sandbox."""
import csv
import textwrap
import zipfile
from pathlib import Path

from torchkata.grading.similarity import similarity_flags, similarity_table, write_similarity_csv

REPO = Path(__file__).resolve().parent.parent
STUB = (REPO / "katas/06_activations/activations.py").read_text()

ALICE = '''
import torch

def relu(x):
    out = x.clone()
    mask = out < 0
    out[mask] = 0.0
    return out

def leaky_relu(x, negative_slope=0.01):
    return torch.where(x >= 0, x, x * negative_slope)
'''
# Alice's module with every name changed: the same tokens once names are abstracted.
BOB = ALICE.replace("out", "result").replace("mask", "below_zero")
CAROL = '''
import torch

def relu(x):
    return x.clamp_min(0)

def leaky_relu(x, negative_slope=0.01):
    positive = x.clamp_min(0)
    return positive + negative_slope * x.clamp_max(0)
'''


def take_home(folder: Path, module: str | None) -> Path:
    (folder / "katas/06_activations").mkdir(parents=True)
    if module is not None:
        (folder / "katas/06_activations/activations.py").write_text(textwrap.dedent(module))
    return folder


def on_stub(body: str) -> str:
    """The shipped stub with relu's body replaced: what most candidates hand back."""
    line = next(x for x in STUB.splitlines() if "raise NotImplementedError" in x and "relu" in x)
    return STUB.replace(line, textwrap.indent(textwrap.dedent(body).strip(), "    "), 1)


def test_a_renamed_copy_is_flagged_and_independent_work_is_not(tmp_path):
    subs = {n: take_home(tmp_path / n, m) for n, m in (("alice", ALICE), ("bob", BOB), ("carol", CAROL))}
    rows = similarity_table(subs, ["06_activations"], 0.8)
    by_pair = {(r["submission_a"], r["submission_b"]): r for r in rows}
    assert set(by_pair) == {("alice", "bob"), ("alice", "carol"), ("bob", "carol")}
    assert by_pair["alice", "bob"]["flagged"] and by_pair["alice", "bob"]["similarity"] >= 0.9
    assert not by_pair["alice", "carol"]["flagged"] and not by_pair["bob", "carol"]["flagged"]
    assert rows[0]["submission_a"] == "alice" and rows[0]["submission_b"] == "bob"  # most similar first
    score = by_pair["alice", "bob"]["similarity"]
    assert similarity_flags(rows) == {"alice": f"06_activations ~ bob ({score:.2f})",
                                      "bob": f"06_activations ~ alice ({score:.2f})"}
    path = write_similarity_csv(rows, tmp_path / "similarity.csv")
    table = list(csv.DictReader(path.open()))
    assert table[0]["kata"] == "06_activations" and table[0]["flagged"] == "yes"
    assert [r["flagged"] for r in table[1:]] == ["", ""]


def test_the_shipped_stub_is_boilerplate_and_not_similarity(tmp_path):
    """Two different relus written into the shipped stub: its docstrings and signatures must not count."""
    a = take_home(tmp_path / "a", on_stub("return x.clamp_min(0)"))
    b = take_home(tmp_path / "b", on_stub("""
        zeros = torch.zeros_like(x)
        keep = torch.gt(x, zeros)
        return torch.where(keep, x, zeros)
    """))
    subs = {"a": a, "b": b}
    raw = similarity_table(subs, ["06_activations"], 0.8)
    discounted = similarity_table(subs, ["06_activations"], 0.8, boilerplate=REPO / "katas")
    assert raw[0]["similarity"] >= 0.8  # the stub alone makes them look alike ...
    assert discounted[0]["similarity"] < 0.5 and not discounted[0]["flagged"]  # ... until it is discounted
    as_text = similarity_table(subs, ["06_activations"], 0.8, boilerplate={"06_activations": STUB})
    assert as_text[0]["similarity"] == discounted[0]["similarity"]


def test_archives_links_stubs_and_hostile_names(tmp_path):
    alice = take_home(tmp_path / "alice", ALICE)
    archive = tmp_path / "bob.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("takehome/katas/06_activations/activations.py", textwrap.dedent(BOB))
    # A link to another candidate's file is never read as this submission's module.
    linker = take_home(tmp_path / "linker", None)
    (linker / "katas/06_activations/activations.py").symlink_to(alice / "katas/06_activations/activations.py")
    untouched = take_home(tmp_path / "untouched", STUB)
    missing = take_home(tmp_path / "missing", None)
    hostile = take_home(tmp_path / "hostile", BOB)
    rows = similarity_table({"alice": alice, "bob": archive, "linker": linker, "untouched": untouched,
                             "missing": missing, "=HYPERLINK(1)": hostile}, ["06_activations"], 0.8)
    names = {r["submission_a"] for r in rows} | {r["submission_b"] for r in rows}
    assert names == {"alice", "bob", "=HYPERLINK(1)"}
    assert all(r["flagged"] for r in rows) and len(rows) == 3
    text = write_similarity_csv(rows, tmp_path / "similarity.csv").read_text()
    assert "'=HYPERLINK(1)" in text and ",=HYPERLINK" not in text
