"""The grader's pytest plugin: every solution opens in a sandboxed worker process.

Loaded by `torchkata grade` (``-p torchkata.grading.pytest_sandbox``); it implements the
core plugin's `pytest_torchkata_open_kata` hook, so the hidden suites run unchanged. The
grading pytest process itself runs under a memory cap (`sandbox.limit_own_memory`,
TORCHKATA_GRADER_MEMORY bytes, default the smaller of 8 GiB and half the machine's memory),
so a result that slips past the wire's checks cannot take the machine.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from torchkata.errors import SolutionMissing
from torchkata.layout import Layout, module_in


def _grader_memory() -> int:
    if os.environ.get("TORCHKATA_GRADER_MEMORY"):
        return int(float(os.environ["TORCHKATA_GRADER_MEMORY"]))
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        total = 16 << 30
    return min(8 << 30, total // 2)


def pytest_configure(config):
    from torchkata.grading.sandbox import limit_own_memory

    config._torchkata_grader_memory = limit_own_memory(_grader_memory())


def pytest_unconfigure(config):
    from torchkata.grading.sandbox import release_own_memory_limit

    release_own_memory_limit()


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_torchkata_open_kata(config, spec, impl):
    from torchkata.grading.sandbox import WorkerKata

    if not module_in(impl, spec).is_file():
        raise SolutionMissing(f"{spec.id}: no {spec.module} in {impl}/{spec.id}/")
    return WorkerKata(spec, Path(impl), Layout(Path(config.rootpath)))


@pytest.hookimpl(optionalhook=True)
def pytest_torchkata_hypothesis_profile(config):
    return "grade"
