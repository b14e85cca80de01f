"""Similarity across a batch of submissions, per kata, by copydetect (winnowed token fingerprints).

For every kata and every pair of submissions that both hold an attempted module for it, copydetect
(https://github.com/blingenf/copydetect) tokenizes both files (names become V/F/O, strings S,
comments and whitespace dropped), fingerprints them by winnowing, and reports what fraction of
each file's fingerprinted tokens the other shares. The stub the take-home shipped is boilerplate:
its fingerprints never count. `similarity_table` returns one row per pair and kata; a row is
flagged when the higher of the two fractions reaches THRESHOLD. It is a lead for a person to
read the two files, never a verdict: short katas have few ways to be written.

Submissions are folders or archives (unpacked with the grader's own limits); their files are
candidate data, read as text with a size cap and never imported or run.
"""
from __future__ import annotations

import csv
import io
import itertools
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from torchkata.catalog import get_kata
from torchkata.layout import module_in

DEFAULT_THRESHOLD = 0.8
NOISE_TOKENS = 25       # copydetect's default noise threshold: shorter matches never count
GUARANTEE_TOKENS = 30   # matches this long are always found (winnowing window = guarantee - noise + 1)
MAX_MODULE_BYTES = 1 << 20  # a kata module larger than this is not compared (listed as skipped)
COLUMNS = ("kata", "submission_a", "submission_b", "similarity", "similarity_a", "similarity_b",
           "shared_tokens", "flagged")


def _fingerprint(text: str, boilerplate, window: int = GUARANTEE_TOKENS - NOISE_TOKENS + 1):
    from copydetect import CodeFingerprint

    # fp=: the text is passed in, the file name only picks the Python lexer; nothing is opened.
    return CodeFingerprint("module.py", NOISE_TOKENS, window, boilerplate=boilerplate, language="python",
                           fp=io.StringIO(text))


def _boilerplate(boilerplate: Path | Mapping[str, str] | None, spec):
    """Every k-gram hash of the shipped stub of SPEC (window 1, as copydetect's own boilerplate)."""
    import numpy as np

    if boilerplate is None:
        return []
    if isinstance(boilerplate, Mapping):
        text = boilerplate.get(spec.id)
    else:
        stub = module_in(Path(boilerplate), spec)
        text = stub.read_text() if stub.is_file() else None
    if not text:
        return []
    return np.unique(np.array(sorted(_fingerprint(text, [], window=1).hashes)))


def _read_module(folder: Path, spec) -> str | None:
    """The submission's module of SPEC as text, or None: missing, a link, too large, or untouched."""
    from torchkata.learn.progress import is_untouched_source

    path = module_in(folder / "katas", spec)
    if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_MODULE_BYTES:
        return None
    text = path.read_bytes().decode("utf-8", errors="replace")
    try:
        if is_untouched_source(text):
            return None
    except Exception:  # noqa: BLE001 - unparsable: still the candidate's text to compare
        pass
    return text


def similarity_table(submissions: dict[str, Path], kata_ids, threshold: float = DEFAULT_THRESHOLD, *,
                     boilerplate: Path | Mapping[str, str] | None = None) -> list[dict]:
    """One row per kata and pair of SUBMISSIONS (name -> take-home folder or archive) that both
    attempted it: copydetect's similarity of the two modules, flagged at or above THRESHOLD.
    BOILERPLATE: the shipped stubs, whose fingerprints are discounted: an implementation root
    (a project's katas/) or kata id -> stub text (e.g. takehome.pristine_stub_source's)."""
    from copydetect import compare_files

    from torchkata.grading.archive import ArchiveRefused, unpack

    specs = [get_kata(k) for k in kata_ids]
    work = Path(tempfile.mkdtemp(prefix="torchkata-similarity-"))
    try:
        folders: dict[str, Path] = {}
        for n, (name, path) in enumerate(sorted(submissions.items())):
            try:  # a private copy: links never followed, archives unpacked with the grader's limits
                folders[name] = unpack(Path(path), work / str(n))
            except ArchiveRefused:
                continue  # not gradable either: grades.csv says why
        rows = []
        for spec in specs:
            base = _boilerplate(boilerplate, spec)
            prints = {}
            for name, folder in folders.items():
                text = _read_module(folder, spec)
                if text is not None:
                    prints[name] = _fingerprint(text, base)
            for a, b in itertools.combinations(sorted(prints), 2):
                shared, (sim_a, sim_b), _ = compare_files(prints[a], prints[b])
                score = float(max(sim_a, sim_b))
                rows.append({"kata": spec.id, "submission_a": a, "submission_b": b,
                             "similarity": round(score, 3), "similarity_a": round(float(sim_a), 3),
                             "similarity_b": round(float(sim_b), 3), "shared_tokens": int(shared),
                             "flagged": score >= threshold})
        rows.sort(key=lambda r: (-r["similarity"], r["kata"], r["submission_a"], r["submission_b"]))
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_similarity_csv(rows: list[dict], path: Path) -> Path:
    """similarity.csv: one line per row of `similarity_table`, most similar first."""
    from torchkata.grading.reports import csv_cell

    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([csv_cell(row[c]) if isinstance(row[c], str) else
                             ("yes" if row[c] is True else "" if row[c] is False else row[c]) for c in COLUMNS])
    return Path(path)


def similarity_flags(rows: list[dict]) -> dict[str, str]:
    """submission -> one line naming every flagged pair it is in, for grades.csv:
    "06_activations ~ bob (0.93); ..."; submissions with no flagged pair are absent."""
    flags: dict[str, list[str]] = {}
    for row in rows:
        if row["flagged"]:
            for me, other in ((row["submission_a"], row["submission_b"]), (row["submission_b"], row["submission_a"])):
                flags.setdefault(me, []).append(f"{row['kata']} ~ {other} ({row['similarity']:.2f})")
    return {name: "; ".join(items) for name, items in flags.items()}
