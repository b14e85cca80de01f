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


class OutcomeRecorder:
    def __init__(self, path: Path):
        self.path = path
        self.tests: dict[str, dict] = {}

    def pytest_runtest_logreport(self, report):
        props = dict(report.user_properties)
        entry = self.tests.setdefault(report.nodeid, {
            "nodeid": report.nodeid, "kata": props.get("kata"), "test": props.get("test"),
            "device": props.get("device"), "outcome": "passed", "message": "", "output": "",
            "duration": 0.0,
        })
        entry["duration"] += report.duration
        if report.when == "call" or report.outcome != "passed":
            if entry["outcome"] == "failed":
                return
            entry["outcome"] = report.outcome
            if report.outcome != "passed":
                entry["message"] = short_message(report)
                entry["output"] = failure_text(report)
                entry["phase"] = report.when

    def pytest_sessionfinish(self, session, exitstatus):
        self.path.write_text(json.dumps({"exitstatus": int(exitstatus), "tests": list(self.tests.values())}, indent=1))
