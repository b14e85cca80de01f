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
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from torchkata import __version__
from torchkata.catalog import KataSpec, load_catalog
from torchkata.grading.archive import ArchiveRefused, is_archive, unpack
from torchkata.policy import kata_points

OUTPUT_LIMIT = 500


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
    manifest: dict
    ignored: list[str]
    notes: list[str]


def collect(project_dir: Path, impl: Path) -> Submission:
    """Copy the manifest's kata modules into IMPL; list everything else as ignored."""
    catalog = load_catalog()
    notes = []
    manifest_path = project_dir / "manifest.json"
    manifest = {}
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text())
            ids = [str(k) for k in manifest["katas"]]
        except (ValueError, KeyError, TypeError) as err:
            raise GradingError(f"manifest.json is unreadable ({err})") from None
    else:
        ids = [k for k in catalog if (project_dir / "katas" / k / catalog[k].module).is_file()]
        notes.append("no manifest.json: graded the katas found under katas/")
    unknown = [k for k in ids if k not in catalog]
    if unknown:
        raise GradingError(f"manifest names unknown katas: {', '.join(unknown)}")
    if not ids:
        raise GradingError(f"no kata modules found in {project_dir.name} (expected katas/<id>/<module>.py)")
    specs = [catalog[k] for k in ids]
    taken = set()
    for spec in specs:
        source = project_dir / "katas" / spec.id / spec.module
        if source.is_file() and not source.is_symlink():
            (impl / spec.id).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, impl / spec.id / spec.module)
            taken.add(source.resolve())
        else:
            notes.append(f"{spec.id}: katas/{spec.id}/{spec.module} is missing: no points for this kata")
    shipped = manifest.get("files", {}) if isinstance(manifest.get("files"), dict) else {}
    ignored, unchanged = [], 0
    for p in sorted(project_dir.rglob("*")):
        if not p.is_file() or p.resolve() in taken or p.name == "manifest.json" and p.parent == project_dir:
            continue
        rel = p.relative_to(project_dir).as_posix()
        if rel in shipped and hashlib.sha256(p.read_bytes()).hexdigest() == shipped[rel]:
            unchanged += 1
            continue
        ignored.append(rel + (" (changed)" if rel in shipped else ""))
    if unchanged:
        notes.append(f"{unchanged} files of the take-home came back as shipped")
    return Submission(project_dir, specs, manifest, ignored, notes)


def _status_of(outcome: str) -> str:
    return {"passed": "pass", "failed": "fail"}.get(outcome, "error")


def build_results(sub: Submission, report: dict, seconds: dict[str, float], facts: list[str]) -> dict:
    by_kata: dict[str, list[dict]] = {s.id: [] for s in sub.katas}
    for t in report.get("tests", []):
        if t.get("kata") in by_kata:
            by_kata[t["kata"]].append(t)
    tests, katas = [], {}
    for spec in sub.katas:
        entries = by_kata[spec.id]
        points = kata_points(spec)
        each = points / len(entries) if entries else 0.0
        passed = failed = 0
        for t in entries:
            ok = t["outcome"] == "passed"
            passed += ok
            failed += not ok
            tests.append({
                "name": t["nodeid"].split("::", 1)[-1], "kata": spec.id,
                "status": _status_of(t["outcome"]) if t["outcome"] != "skipped" else "error",
                "score": round(each if ok else 0.0, 4), "max_score": round(each, 4),
                "message": (t.get("message") or "")[:OUTPUT_LIMIT],
                "output": (t.get("output") or "")[-OUTPUT_LIMIT:],
            })
        katas[spec.id] = {"title": spec.title, "score": round(each * passed, 4), "max_score": points,
                          "passed": passed, "failed": failed, "seconds": round(seconds.get(spec.id, 0.0), 2),
                          "graded": bool(entries)}
    score = round(sum(k["score"] for k in katas.values()), 4)
    max_score = sum(k["max_score"] for k in katas.values())
    all_pass = all(k["failed"] == 0 and k["graded"] for k in katas.values())
    return {
        "version": 3,
        "status": "pass" if all_pass else "fail",
        "message": f"{score:g} / {max_score:g} points",
        "score": score, "max_score": max_score,
        "percent": round(100.0 * score / max_score, 2) if max_score else 0.0,
        "katas": katas,
        "tests": tests,
        "ignored_files": sub.ignored,
        "notes": sub.notes,
        "sandbox": facts,
        "torchkata_version": __version__,
        "manifest": sub.manifest,
    }


def grade_one(path: Path, out: Path, project: Path, device: str = "cpu") -> dict:
    """Grade one submission into OUT; raise GradingError when it cannot be graded at all."""
    from torchkata.grading.sandbox import sandbox_facts

    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="torchkata-grade-"))  # 0700: the worker cannot look in
    try:
        try:
            folder = unpack(path, work / "submission")
        except ArchiveRefused as err:
            raise GradingError(str(err)) from None
        impl = work / "impl"
        impl.mkdir()
        sub = collect(folder, impl)
        suite = project / "tests"
        present = [s for s in sub.katas if (impl / s.id / s.module).is_file()]
        merged = {"tests": []}
        if present:
            # One pytest process for every kata (torch imported once); one sandboxed worker per kata.
            report_file = work / "report.json"
            cmd = [sys.executable, "-m", "pytest", *[str(suite / f"test_{s.id}.py") for s in present],
                   "--torchkata-impl", str(impl), "-p", "torchkata.grading.pytest_sandbox", "--torchkata-device", device, "--hypothesis-profile", "grade",
                   "--torchkata-report", str(report_file), "-q", "--tb=short", "-p", "no:cacheprovider",
                   "-p", "no:xdist", "-o", "addopts=", "--rootdir", str(project)]
            proc = subprocess.run(cmd, cwd=project, capture_output=True, text=True)
            if report_file.is_file():
                merged = json.loads(report_file.read_text())
            else:
                sub.notes.append(f"the hidden suite did not run ({(proc.stdout + proc.stderr).strip()[-300:]})")
        seconds: dict[str, float] = {}
        for t in merged["tests"]:
            seconds[t["kata"]] = seconds.get(t["kata"], 0.0) + t.get("duration", 0.0)
        results = build_results(sub, merged, seconds, sandbox_facts().lines())
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


def submission_name(path: Path) -> str:
    name = path.name
    for suffix in (".tar.gz", ".tgz", ".zip", ".tar"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def is_batch(path: Path) -> bool:
    return path.is_dir() and not (path / "katas").is_dir() and not (path / "manifest.json").is_file() \
        and any(is_archive(p) for p in path.iterdir())


def grade_batch(folder: Path, out: Path, project: Path, jobs: int = 2, device: str = "cpu") -> list[dict]:
    """Grade every archive of FOLDER into OUT/<name>/ in parallel; write OUT/grades.csv."""
    archives = sorted(p for p in folder.iterdir() if is_archive(p))
    kata_ids: list[str] = []

    def one(archive: Path) -> dict:
        name = submission_name(archive)
        try:
            results = grade_one(archive, out / name, project, device)
            return {"submission": name, "results": results, "error": ""}
        except GradingError as err:
            (out / name).mkdir(parents=True, exist_ok=True)
            (out / name / "error.txt").write_text(str(err) + "\n")
            return {"submission": name, "results": None, "error": str(err)}

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        rows = list(pool.map(one, archives))
    for row in rows:
        for k in (row["results"] or {}).get("katas", {}):
            if k not in kata_ids:
                kata_ids.append(k)
    with open(out / "grades.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["submission", *kata_ids, "total", "max", "percent", "error"])
        for row in rows:
            res = row["results"]
            if res is None:
                writer.writerow([row["submission"], *[""] * len(kata_ids), 0, "", 0, row["error"]])
                continue
            writer.writerow([row["submission"], *[res["katas"].get(k, {}).get("score", "") for k in kata_ids],
                             res["score"], res["max_score"], res["percent"], ""])
    return rows
