"""`torchkata grade`: grade a take-home with the hidden suite, the solution sandboxed.

One submission: unpack it safely, take only the kata modules its manifest names, run the
hidden suites in a pytest process (`grade` profile: derandomized) whose `kata` fixture talks
to a sandboxed worker per kata (`torchkata.grading.sandbox`), then write results.json (Exercism v3
with points), report.md, report.html and gradescope.json. A folder of archives grades each
into its own sub-folder, in parallel, and writes grades.csv.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from torchkata import __version__
from torchkata.catalog import KataSpec, load_catalog
from torchkata.grading.archive import ArchiveRefused, is_archive, unpack
from torchkata.grading.reports import csv_cell
from torchkata.layout import Layout, module_in
from torchkata.learn.progress import is_untouched_source
from torchkata.outcomes import run_streaming
from torchkata.policy import kata_points

OUTPUT_LIMIT = 500
# Katas graded at once in one submission (each an xdist worker plus a sandboxed worker).
# Each concurrent kata costs an xdist worker (torch, hypothesis) besides its sandboxed worker:
# worth it from 4 cores up; on 2 cores one process grading the katas in turn is faster.
GRADE_JOBS = int(os.environ.get("TORCHKATA_GRADE_JOBS", "0")) or max(1, (os.cpu_count() or 1) // 2)
SCORING_POLICIES = ("per-property", "all-or-nothing")


class GradingError(Exception):
    """The submission could not be graded at all (one line)."""


def suite_digest(suite: Path, kata_ids: list[str]) -> str:
    """sha256 over the hidden suites and drivers that grade these katas."""
    h = hashlib.sha256()
    files = [suite / f"test_{k}.py" for k in kata_ids]
    files += sorted((suite / "drivers").glob("*.py"))
    for f in files:
        if f.is_file():
            h.update(f.relative_to(suite).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


@dataclass
class Submission:
    folder: Path
    katas: list[KataSpec]
    # What is graded, from the interviewer's record (never the candidate's copy): id, title,
    # katas, hidden_suite_sha256, scoring, hints. {"katas": [...]} when graded by --katas.
    manifest: dict
    ignored: list[str]
    notes: list[str]
    record: dict | None = None  # the interviewer's record (torchkata.grading.record), None with --katas
    scoring: str = "per-property"  # the packager's scoring policy, from the record
    returned_manifest: dict | None = None  # the candidate's manifest.json: untrusted, reported only
    alerts: list[str] = field(default_factory=list)  # to show loudly (also in notes): e.g. a changed hidden suite


def _returned_manifest(project_dir: Path, notes: list[str]) -> dict | None:
    """The candidate's manifest.json, as data to compare and report (None when absent or unreadable)."""
    path = project_dir / "manifest.json"
    if not path.is_file() or path.is_symlink():
        return None
    try:
        data = json.loads(path.read_text(errors="replace"))
    except ValueError as err:
        notes.append(f"the returned manifest.json is unreadable ({str(err)[:100]})")
        return None
    if not isinstance(data, dict):
        notes.append("the returned manifest.json is not an object")
        return None
    return data


def collect(project_dir: Path, impl: Path, *, project: Path | None = None, records: Path | None = None,
            katas: list[str] | None = None) -> Submission:
    """Copy the graded kata modules into IMPL; list everything else as ignored.

    What is graded comes from the interviewer's record of the take-home (RECORDS, default
    <PROJECT>/.torchkata/takehomes), found by the id in the returned manifest: the candidate's
    manifest is only a hint to which record, and where it differs from the record that is
    reported, never obeyed. KATAS (the interviewer's explicit --katas) grades those katas
    without a record. Neither: GradingError, never a fallback to the manifest's claims."""
    from torchkata.grading.record import RecordError, default_store, differences, find_record
    from torchkata.layout import module_in

    catalog = load_catalog()
    notes: list[str] = []
    alerts: list[str] = []
    returned = _returned_manifest(project_dir, notes)
    record = None
    if katas:
        ids = list(dict.fromkeys(katas))
        manifest = {"katas": ids, "source": "--katas"}
        notes.append(f"graded the katas the interviewer named (--katas {','.join(ids)}), not by a take-home record")
    else:
        if project is None and records is None:
            raise GradingError("no record store to grade by (give the project or --records DIR)")
        store = Path(records) if records is not None else default_store(project)
        try:
            record = find_record(store, returned or {})
        except RecordError as err:
            raise GradingError(str(err)) from None
        ids = list(record.katas)
        manifest = {k: v for k, v in record.to_dict().items() if k not in ("files", "notes")}
        for diff in differences(record, returned or {}):
            notes.append(f"the returned manifest.json differs from the record (not obeyed): {diff}")
        if project is not None:
            digest = suite_digest(Path(project) / "tests", ids)
            if digest != record.hidden_suite_sha256:
                alerts.append(f"HIDDEN SUITE CHANGED: the hidden suite in {Path(project) / 'tests'} (sha256 "
                              f"{digest[:12]}) is not the one take-home {record.id} was packaged with "
                              f"({record.hidden_suite_sha256[:12]}); scores may not compare with earlier grades")
    unknown = [k for k in ids if k not in catalog]
    if unknown:
        raise GradingError(f"unknown katas: {', '.join(unknown)}")
    if not ids:
        raise GradingError("no katas to grade")
    specs = [catalog[k] for k in ids]
    taken = set()
    for spec in specs:
        source = module_in(project_dir / "katas", spec)
        if source.is_file() and not source.is_symlink():
            module_in(impl, spec).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, module_in(impl, spec))
            taken.add(source.resolve())
        else:
            notes.append(f"{spec.id}: katas/{spec.id}/{spec.module} is missing from the submission: "
                         "0 points for this kata")
    shipped = record.files if record is not None else {}
    ignored, unchanged = [], 0
    for p in sorted(project_dir.rglob("*")):
        if not p.is_file() or p.resolve() in taken:
            continue
        rel = p.relative_to(project_dir).as_posix()
        if rel in shipped and hashlib.sha256(p.read_bytes()).hexdigest() == shipped[rel]:
            unchanged += 1
            continue
        if rel == "manifest.json":
            continue  # compared with the record above
        ignored.append(rel + (" (changed)" if rel in shipped else ""))
    if unchanged:
        notes.append(f"{unchanged} files of the take-home came back as shipped")
    return Submission(project_dir, specs, manifest, ignored, alerts + notes,
                      record=None if record is None else {k: v for k, v in record.to_dict().items() if k != "files"},
                      scoring=record.scoring if record is not None else "per-property",
                      returned_manifest=returned, alerts=alerts)


_TEMP_PATH = re.compile(r"(?:[^\s'\"]*/)?impl/(\d\d_\w+)/")  # a worker's or the grader's copy of a module


def relative_paths(text: str) -> str:
    """TEXT with every temporary copy of a kata module shown as the submission's katas/<id>/ path."""
    return _TEMP_PATH.sub(r"katas/\1/", text)


def points(value: float) -> str:
    """A score as people read it: at most one decimal (12, 12.5)."""
    return f"{round(value, 1):g}"


def _failure_groups(failing: list[dict]) -> list[dict]:
    """Failures with the same first line of message, grouped: one section, every test named."""
    groups: dict[str, dict] = {}
    for t in failing:
        key = t["message"].strip().splitlines()[0] if t["message"].strip() else t["output"][-200:]
        group = groups.setdefault(key, {"message": t["message"], "output": t["output"], "tests": []})
        group["tests"].append(t["name"])
    return list(groups.values())


def _lead(spec: KataSpec, state: str, ran: list[dict], skipped: list[dict]) -> tuple[str, str]:
    """(status, one line of what is wrong) for a kata: what an interviewer reads first."""
    where = f"katas/{spec.id}/{spec.module}"
    if state == "missing":
        return "missing", f"missing: {where} was not in the submission"
    if state == "untouched":
        return "not attempted", f"not attempted: {where} came back as the untouched stub"
    failing = [t for t in ran if t["status"] != "pass"]
    setup = [t for t in failing if t.get("phase") == "setup"]
    if ran and len(setup) == len(ran) and len({t["message"] for t in setup}) == 1:
        first = setup[0]["message"].strip().splitlines()[0].removeprefix("Failed: ")
        return "did not import", "did not import: " + first
    if skipped:
        reason = (skipped[0]["message"] or "skipped").strip().splitlines()[0].removeprefix("Skipped: ")
        return "not gradable here", f"NOT GRADABLE HERE: {len(skipped)} tests skipped ({reason}); " \
            "excluded from the score: regrade where the grader has what it needs"
    if not ran:
        return "not graded", "no test ran"
    if not failing:
        return "pass", f"all {len(ran)} properties pass"
    names = list(dict.fromkeys(t["name"].split("[")[0] for t in failing))
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return "fail", f"{len(failing)} of {len(ran)} properties fail: {shown}"


def build_results(sub: Submission, report: dict, seconds: dict[str, float], facts: list[str],
                  states: dict[str, str] | None = None, scoring: str | None = None) -> dict:
    """results.json's data. STATES: kata id -> 'missing' | 'untouched' | 'present'. SCORING:
    'per-property' (points shared by a kata's tests) or 'all-or-nothing' (a kata counts only when
    every property passes); default: the take-home's record, else per-property."""
    scoring = scoring or getattr(sub, "scoring", None) or "per-property"
    if scoring not in SCORING_POLICIES:
        raise GradingError(f"unknown scoring policy {scoring!r} (choose from {', '.join(SCORING_POLICIES)})")
    states = states or {}
    by_kata: dict[str, list[dict]] = {s.id: [] for s in sub.katas}
    for t in report.get("tests", []):
        if t.get("kata") in by_kata:
            by_kata[t["kata"]].append(t)
    tests, katas, alerts = [], {}, []
    for spec in sub.katas:
        entries, kata_points_ = by_kata[spec.id], kata_points(spec)
        kata_tests = []
        for t in entries:
            kata_tests.append({
                "name": t["nodeid"].split("::", 1)[-1], "kata": spec.id,
                "status": {"passed": "pass", "failed": "fail"}.get(t["outcome"], "skipped"),
                "phase": t.get("phase", "call"),
                # Candidate-controlled text (their messages, their output), bounded; never trusted.
                "message": relative_paths(t.get("message") or "")[:OUTPUT_LIMIT],
                "output": relative_paths(t.get("output") or "")[-OUTPUT_LIMIT:],
            })
        ran = [t for t in kata_tests if t["status"] != "skipped"]
        skipped = [t for t in kata_tests if t["status"] == "skipped"]
        state = states.get(spec.id, "present")
        status, lead = _lead(spec, state, ran, skipped)
        gradable = status != "not gradable here"
        passed = sum(t["status"] == "pass" for t in ran)
        each = kata_points_ / len(ran) if ran else 0.0
        for t in kata_tests:
            t["max_score"] = round(each, 4) if t["status"] != "skipped" else 0.0
            t["score"] = t["max_score"] if t["status"] == "pass" else 0.0
        if not gradable:
            score = 0.0
            alerts.append(f"{spec.id}: {lead}")
        elif scoring == "all-or-nothing":
            score = kata_points_ if ran and passed == len(ran) and state == "present" else 0.0
        else:
            score = each * passed
        tests += kata_tests
        katas[spec.id] = {
            "title": spec.title, "status": status, "summary": lead, "gradable": gradable,
            "score": round(score, 1), "max_score": kata_points_ if gradable else 0.0,
            "passed": passed, "failed": len(ran) - passed, "skipped": len(skipped),
            "seconds": round(seconds.get(spec.id, 0.0), 1),
            "failures": _failure_groups([t for t in ran if t["status"] != "pass"]),
        }
    score = round(sum(k["score"] for k in katas.values()), 1)
    max_score = round(sum(k["max_score"] for k in katas.values()), 1)
    all_pass = all(k["status"] == "pass" for k in katas.values())
    return {
        "version": 3,
        "status": "pass" if all_pass else "fail",
        "message": f"{points(score)} / {points(max_score)} points" + (
            f" ({len(alerts)} katas not gradable here)" if alerts else ""),
        "score": score, "max_score": max_score,
        "percent": round(100.0 * score / max_score, 1) if max_score else 0.0,
        "scoring": scoring,
        "katas": katas,
        "tests": tests,
        "ignored_files": sub.ignored,
        "notes": sub.notes,
        "alerts": alerts + list(getattr(sub, "alerts", []) or []),
        "sandbox": facts,
        "torchkata_version": __version__,
        "manifest": sub.manifest,
    }


def _state(impl: Path, spec: KataSpec) -> str:
    path = module_in(impl, spec)
    if not path.is_file():
        return "missing"
    try:
        return "untouched" if is_untouched_source(path.read_text()) else "present"
    except (OSError, UnicodeDecodeError):
        return "present"  # unreadable: let the loader say why, in the kata's one line


def run_hidden_suites(layout: Layout, impl: Path, specs: list[KataSpec], work: Path, device: str,
                      jobs: int | None = None, progress: Callable[[dict], None] | None = None) -> dict:
    """Run SPECS' hidden suites against IMPL, each solution in a sandboxed worker; return the
    outcome report. Katas run concurrently (pytest-xdist, one kata per worker process) where
    the machine has cores for it; PROGRESS receives each test's outcome as it finishes."""
    if not specs:
        return {"tests": []}
    report_file = work / "report.json"
    jobs = min(len(specs), jobs or GRADE_JOBS)
    cmd = [sys.executable, "-m", "pytest", *[str(layout.suite_file(s)) for s in specs],
           "--torchkata-impl", str(impl), "-p", "torchkata.grading.pytest_sandbox",
           "--torchkata-device", device, "--hypothesis-profile", "grade",
           "--torchkata-report", str(report_file), "-q", "--tb=short", "-p", "no:cacheprovider",
           "-o", "addopts=", "--rootdir", str(layout.root)]
    cmd += ["-n", str(jobs), "--dist", "loadfile"] if jobs > 1 else ["-p", "no:xdist"]
    run_streaming(cmd, layout.root, report_file, work / "pytest.log", progress)
    if not report_file.is_file():
        tail = (work / "pytest.log").read_text(errors="replace").strip()[-300:]
        return {"tests": [], "error": f"the hidden suite did not run ({tail})"}
    return json.loads(report_file.read_text())


def grade_one(path: Path, out: Path, project: Path, device: str = "cpu", *, records: Path | None = None,
              katas: list[str] | None = None, scoring: str | None = None, jobs: int | None = None,
              progress: Callable[[dict], None] | None = None) -> dict:
    """Grade one submission into OUT; raise GradingError when it cannot be graded at all."""
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="torchkata-grade-"))  # 0700: the worker cannot look in
    try:
        try:
            folder = unpack(path, work / "submission")
        except ArchiveRefused as err:
            raise GradingError(str(err)) from None
        impl = work / "impl"
        impl.mkdir()
        sub = collect(folder, impl, project=project, records=records, katas=katas)
        layout = Layout(project)
        states = {s.id: _state(impl, s) for s in sub.katas}
        # A missing or untouched kata scores 0 without a run: nothing of the candidate's to test.
        to_run = [s for s in sub.katas if states[s.id] == "present"]
        merged = run_hidden_suites(layout, impl, to_run, work, device, jobs=jobs, progress=progress)
        if merged.get("error"):
            sub.notes.append(merged["error"])
        seconds: dict[str, float] = {}
        for t in merged["tests"]:
            seconds[t["kata"]] = seconds.get(t["kata"], 0.0) + t.get("duration", 0.0)
        from torchkata.grading.sandbox import sandbox_facts  # imports torch: not before a refusal

        results = build_results(sub, merged, seconds, sandbox_facts().lines(), states, scoring)
        write_reports(results, out)
        return results
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_reports(results: dict, out: Path) -> None:
    from torchkata.grading.reports import render_html, render_markdown

    (out / "results.json").write_text(json.dumps(results, indent=1))
    (out / "report.md").write_text(render_markdown(results))
    (out / "report.html").write_text(render_html(results))
    gradescope = {
        "score": results["score"], "max_score": results["max_score"],
        "output": results["message"],
        "tests": [{"name": t["name"], "score": t["score"], "max_score": t["max_score"],
                   "status": "passed" if t["status"] == "pass" else "failed",
                   "output": (t["message"] + "\n" + t["output"]).strip()[:OUTPUT_LIMIT]}
                  for t in results["tests"]],
    }
    (out / "gradescope.json").write_text(json.dumps(gradescope, indent=1))


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".")[:NAME_LIMIT] or "submission"


NAME_LIMIT = 100  # characters of a submission's folder name (file systems stop at 255 bytes)
BATCH_FILES = ("grades.csv", "similarity.csv")  # what a batch writes beside the submissions' folders


def submission_name(path: Path) -> str:
    """The archive's name without its suffix, made safe as a folder name (a candidate chose it)."""
    name = path.name
    for suffix in (".tar.gz", ".tgz", ".zip", ".tar"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return _safe_name(name)


def submission_names(archives: list[Path]) -> dict[Path, str]:
    """A folder name per archive, each its own: bob.zip and bob.tar.gz keep their suffixes to
    stay apart, a name that is one of the batch's own files or is taken (case aside) gets -2, -3."""
    stems = {a: submission_name(a) for a in archives}
    counts = Counter(stem.casefold() for stem in stems.values())
    taken = {f.casefold() for f in BATCH_FILES}
    names = {}
    for archive in sorted(archives):
        base = stems[archive] if counts[stems[archive].casefold()] == 1 else _safe_name(archive.name)
        name, n = base, 2
        while name.casefold() in taken:
            name, n = f"{base}-{n}", n + 1
        taken.add(name.casefold())
        names[archive] = name
    return names


def is_batch(path: Path) -> bool:
    return path.is_dir() and not (path / "katas").is_dir() and not (path / "manifest.json").is_file() \
        and any(is_archive(p) for p in path.iterdir())


def grade_batch(folder: Path, out: Path, project: Path, jobs: int = 2, device: str = "cpu", *,
                records: Path | None = None, katas: list[str] | None = None, scoring: str | None = None,
                progress: Callable[[str, dict], None] | None = None,
                similarity_threshold: float | None = 0.8) -> list[dict]:
    """Grade every archive of FOLDER into OUT/<name>/, JOBS at a time; write OUT/grades.csv and,
    unless SIMILARITY_THRESHOLD is None, OUT/similarity.csv (copydetect, the stubs as boilerplate)."""
    archives = sorted(p for p in folder.iterdir() if is_archive(p))
    kata_ids: list[str] = []
    jobs = max(1, jobs)
    per_submission = max(1, min(GRADE_JOBS, (os.cpu_count() or 1) // jobs))  # the cores, shared, not multiplied

    names = submission_names(archives)

    def one(archive: Path) -> dict:
        name = names[archive]
        try:
            results = grade_one(archive, out / name, project, device, records=records, katas=katas,
                                scoring=scoring, jobs=per_submission,
                                progress=None if progress is None else lambda line: progress(name, line))
            return {"submission": name, "results": results, "error": ""}
        except Exception as err:  # noqa: BLE001 - no submission may end the batch: it is reported instead
            why = str(err) if isinstance(err, GradingError) else \
                f"grading failed ({err.__class__.__name__}: {str(err)[:300]}); the other submissions are graded"
            (out / name).mkdir(parents=True, exist_ok=True)
            (out / name / "error.txt").write_text(why + "\n")
            return {"submission": name, "results": None, "error": why}

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        rows = list(pool.map(one, archives))
    for row in rows:
        for k in (row["results"] or {}).get("katas", {}):
            if k not in kata_ids:
                kata_ids.append(k)
    flags = _similarity(names, kata_ids, project, out, similarity_threshold) \
        if similarity_threshold is not None and len(archives) > 1 else {}
    with open(out / "grades.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["submission", *kata_ids, "total", "max", "percent", "problems", "similar to"])
        for row in rows:
            row["problems"] = problems_of(row)
            row["similar"] = flags.get(row["submission"], "")
            res = row["results"]
            cells = [row["submission"], *[res["katas"].get(k, {}).get("score", "") if res else "" for k in kata_ids],
                     res["score"] if res else 0, res["max_score"] if res else "", res["percent"] if res else 0,
                     row["problems"], row["similar"]]
            writer.writerow([csv_cell(c) for c in cells])
    return rows


def _similarity(names: dict[Path, str], kata_ids: list[str], project: Path, out: Path, threshold: float) -> dict:
    """{submission: 'kata ~ other (score)'} for pairs above THRESHOLD; writes OUT/similarity.csv."""
    from torchkata.grading.similarity import similarity_flags, similarity_table, write_similarity_csv
    from torchkata.grading.takehome import pristine_stub_source

    stubs = {}
    for k in kata_ids:
        try:
            stubs[k] = pristine_stub_source(project, load_catalog()[k])[0]
        except Exception:  # noqa: BLE001 - no pristine stub: compare without boilerplate
            continue
    table = similarity_table({name: a for a, name in names.items()}, kata_ids, threshold, boilerplate=stubs)
    write_similarity_csv(table, out / "similarity.csv")
    return similarity_flags(table)


def problems_of(row: dict) -> str:
    """What went wrong with one submission, for grades.csv and the batch table: every kata that
    did not import, was missing, not attempted, not gradable here, or failed properties."""
    if row["results"] is None:
        return row["error"]
    return "; ".join(f"{k}: {v['summary']}" for k, v in row["results"]["katas"].items() if v.get("status") != "pass")
