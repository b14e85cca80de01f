"""The exceptions a learner (or a grading report) sees, in one place, and the registry by which
they cross the boundary between a sandboxed worker and the test process.

Only the names in CROSSING are re-raised with their own type on the grader's side; any other
exception a solution raises arrives as a builtin of the same name or as SolutionRaised.
"""
from __future__ import annotations

import builtins

from torchkata.guard import ForbiddenCallableError


class SolutionError(Exception):
    """The solution cannot be used as it is: the message is one line for the learner."""


class SolutionMissing(SolutionError):
    """The implementation root has no module for this kata (the kata is skipped)."""


class SolutionLacksName(SolutionError, AttributeError):
    """The module does not define a catalog name (an AttributeError too, so getattr(m, name, None) works)."""


class NotPlainData(TypeError):
    """A solution returned something that cannot cross a process boundary."""


class StubNotImplemented(BaseException):
    """A solution function still raises NotImplementedError.

    A BaseException, so hypothesis fails the test at the first example instead of shrinking
    an input that cannot matter (minutes per stub suite otherwise), and no `pytest.raises`
    or `except Exception` in a test can mistake an unwritten function for a right answer.
    """


class SolutionCrashed(RuntimeError):
    """The worker died, timed out or sent something that is not plain data."""


class SolutionRaised(RuntimeError):
    """The solution raised an exception that is neither builtin nor one of torchkata's."""


# torchkata's own exceptions that keep their type across the wire (by name, never by module path).
CROSSING: dict[str, type[BaseException]] = {cls.__name__: cls for cls in (
    ForbiddenCallableError, SolutionError, SolutionMissing, SolutionLacksName, NotPlainData, StubNotImplemented, SolutionCrashed,
)}


def describe(err: BaseException) -> dict:
    """The wire form of an exception: its kind (torchkata / builtin / other), name and message."""
    name = type(err).__name__
    if CROSSING.get(name) is type(err):
        kind = "torchkata"
    elif getattr(builtins, name, None) is type(err):
        kind = "builtin"
    else:
        kind = "other"
    return {"kind": kind, "type": name, "message": str(err)}


def rebuild(kind: str, name: str, message: str) -> BaseException:
    """The exception to raise on the grader's side for a described one (see describe)."""
    if kind == "torchkata" and name in CROSSING:
        return CROSSING[name](message)
    cls = getattr(builtins, name, None)
    if kind == "builtin" and isinstance(cls, type) and issubclass(cls, Exception):
        return cls(message)
    return SolutionRaised(f"{name}: {message}")
