"""Per-test outcomes as JSON, for the CLI (check, list, watch) and the grader."""
from __future__ import annotations

import json
import re
from pathlib import Path

# pytest/hypothesis lines that say nothing to a learner.
_NOISE = re.compile(r"^(E\s+)?(You can reproduce this test case|\s*kata=<kata )")


_STUB = "torchkata.errors.StubNotImplemented: "  # the wrapper of a stub's NotImplementedError


def failure_text(report, limit: int = 4000) -> str:
    if report.passed:
        return ""
    if report.skipped:
        longrepr = report.longrepr
        return str(longrepr[2]) if isinstance(longrepr, tuple) else str(longrepr)
    text = getattr(report, "longreprtext", "") or str(report.longrepr)
    text = text.replace(_STUB, "")
    lines = [line for line in text.splitlines() if not _NOISE.match(line)]
    return "\n".join(lines)[-limit:]


def short_message(report) -> str:
    """The first line of the error: 'NotImplementedError: ...' or the assertion's first line."""
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return crash.message.replace(_STUB, "").splitlines()[0] if crash.message else ""
    text = failure_text(report)
    return text.strip().splitlines()[-1] if text.strip() else ""


def stream_path(path: Path) -> Path:
    return Path(str(path) + ".jsonl")


def read_stream(path: Path) -> list[dict]:
    """The outcomes streamed so far (a partly written last line is left for the next read)."""
    try:
        text = stream_path(path).read_text()
    except OSError:
        return []
    return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]


def run_streaming(cmd: list[str], cwd: Path, report: Path, log: Path | None, on_test=None) -> int:
    """Run pytest CMD (which writes REPORT through --torchkata-report) and hand ON_TEST every
    test's outcome as soon as it is streamed; its output goes to LOG (None: the terminal)."""
    import subprocess
    import time

    seen = 0

    def drain() -> None:
        nonlocal seen
        if on_test is not None:
            lines = read_stream(report)
            for line in lines[seen:]:
                on_test(line)
            seen = len(lines)

    with open(log, "w") if log is not None else open("/dev/null") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out if log is not None else None,
                                stderr=subprocess.STDOUT if log is not None else None)
        while proc.poll() is None:
            time.sleep(0.1)
            drain()
    drain()  # what was written between the last poll and the exit
    return proc.returncode


class OutcomeRecorder:
    """Writes PATH (every kata test's outcome, at the end) and PATH.jsonl (one line per test as
    soon as it finishes, so a waiting person can be shown progress and the first failure)."""

    def __init__(self, path: Path):
        self.path = path
        self.tests: dict[str, dict] = {}
        self.stream = open(stream_path(path), "a", buffering=1)  # noqa: SIM115 - closed at session end

    def pytest_runtest_logreport(self, report):
        props = dict(report.user_properties)
        entry = self.tests.setdefault(report.nodeid, {
            "nodeid": report.nodeid, "kata": props.get("kata"), "test": props.get("test"),
            "device": props.get("device"), "outcome": "passed", "message": "", "output": "",
            "duration": 0.0,
        })
        entry["duration"] += report.duration
        if (report.when == "call" or report.outcome != "passed") and entry["outcome"] != "failed":
            entry["outcome"] = report.outcome
            if report.outcome != "passed":
                entry["message"] = short_message(report)
                entry["output"] = failure_text(report)
                entry["phase"] = report.when
        if report.when == "teardown":
            self.stream.write(json.dumps({k: entry[k] for k in ("kata", "test", "device", "outcome", "message")}) + "\n")

    def pytest_sessionfinish(self, session, exitstatus):
        self.stream.close()
        self.path.write_text(json.dumps({"exitstatus": int(exitstatus), "tests": list(self.tests.values())}, indent=1))
