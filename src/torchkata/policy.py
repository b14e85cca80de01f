"""Policy beside the catalog (policy.toml): the suggested order's prerequisites and a kata's points.

Read by the learner's loop (order), the packager and the grader (points); data, not code, so a
course can change it without touching torchkata.
"""
from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

from torchkata.catalog import KataSpec

POLICY_PATH = Path(__file__).with_name("policy.toml")


@cache
def load_policy(path: Path = POLICY_PATH) -> dict:
    return tomllib.loads(path.read_text())


def prerequisites() -> dict[str, tuple[str, ...]]:
    """{kata id: the katas it builds on}."""
    return {k: tuple(v) for k, v in load_policy().get("prerequisites", {}).items()}


def kata_points(spec: KataSpec) -> float:
    """A kata's weight in a graded take-home (shared equally by its tests)."""
    points = load_policy().get("points", {})
    override = points.get("kata", {}).get(spec.id)
    return float(override) if override is not None else float(points.get("points_per_difficulty", 10)) * spec.difficulty
