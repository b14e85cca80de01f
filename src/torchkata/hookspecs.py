"""Hooks of the torchkata pytest plugin, for the rooms that do not ship with it.

The grader's sandbox (`torchkata.grading.pytest_sandbox`) implements `pytest_torchkata_open_kata`
to put each solution in a worker process; the authoring kit's verifier
(`torchkata.authoring.verify`) implements `pytest_torchkata_implementations` to run every suite
against the reference, an alternative, the stub and each mutant in one session.
"""
from __future__ import annotations

import pytest


@pytest.hookspec(firstresult=True)
def pytest_torchkata_open_kata(config, spec, impl):
    """Return the door (torchkata.harness.SolutionDoor) to SPEC's solution under IMPL.

    May raise torchkata.errors.SolutionMissing (the kata is skipped) or SolutionError (every
    test of the kata fails with its one-line message)."""


@pytest.hookspec(firstresult=True)
def pytest_torchkata_implementations(config, spec):
    """Return {label: implementation root} to run SPEC's suite against each, or None for the
    one root chosen by --torchkata-impl."""


@pytest.hookspec(firstresult=True)
def pytest_torchkata_hypothesis_profile(config):
    """Return the name of the hypothesis profile to load, or None for the default (dev, or ci when CI is set)."""


@pytest.hookspec(firstresult=True)
def pytest_torchkata_report_header(config):
    """Return the lines pytest prints under its header for this run, or None for the default."""
