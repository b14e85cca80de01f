"""The grader's pytest plugin: every solution opens in a sandboxed worker process.

Loaded by `torchkata grade` (``-p torchkata.grading.pytest_sandbox``); it implements the
core plugin's `pytest_torchkata_open_kata` hook, so the hidden suites run unchanged.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from torchkata.errors import SolutionMissing
from torchkata.layout import Layout, module_in


@pytest.hookimpl(tryfirst=True)
def pytest_torchkata_open_kata(config, spec, impl):
    from torchkata.grading.sandbox import WorkerKata

    if not module_in(impl, spec).is_file():
        raise SolutionMissing(f"{spec.id}: no {spec.module} in {impl}/{spec.id}/")
    return WorkerKata(spec, Path(impl), Layout(Path(config.rootpath)))


def pytest_torchkata_hypothesis_profile(config):
    return "grade"
