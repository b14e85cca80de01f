"""Forbidden callables, rejected twice: by a source scan and by a run-time guard.

The run-time guard replaces each forbidden callable on its home module (or class) by a thin
wrapper once per process. The wrapper calls straight through unless a guard is active and a
frame of the solution is on the stack, so torch's own code and the hidden tests are never
affected, while a solution reaching the callable by name, alias, ``getattr`` or a string
still trips it. Modules (``torch._VF``) are wrapped in a proxy that refuses attribute access
from a solution frame.
"""
from __future__ import annotations

import ast
import functools
import importlib
import sys
import types
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


class ForbiddenCallableError(RuntimeError):
    """A solution called something its kata forbids."""


@dataclass
class _Active:
    kata_id: str
    forbidden: frozenset[str]
    roots: tuple[str, ...]
    module_names: frozenset[str]


@dataclass
class _State:
    stack: list[_Active] = field(default_factory=list)
    installed: set[str] = field(default_factory=set)
    unresolved: set[str] = field(default_factory=set)


_STATE = _State()

RULE = "the catalog forbids it in this kata so that you write that part yourself"


def _is_solution_frame(frame: types.FrameType, active: _Active) -> bool:
    filename = frame.f_code.co_filename
    if filename.startswith(active.roots):
        return True
    # Code compiled from a string inside the solution (eval/exec) keeps the solution's globals.
    return frame.f_globals.get("__name__") in active.module_names


def _violation(name: str, depth: int, direct_only: bool = False) -> _Active | None:
    if not _STATE.stack:
        return None
    active = _STATE.stack[-1]
    if name not in active.forbidden:
        return None
    frame = sys._getframe(depth)
    while frame is not None:
        if _is_solution_frame(frame, active):
            return active
        if direct_only:
            return None
        frame = frame.f_back
    return None


def _error(name: str, active: _Active) -> ForbiddenCallableError:
    return ForbiddenCallableError(f"{name} is forbidden in kata {active.kata_id}: {RULE}.")


def _wrap_function(name: str, original):
    @functools.wraps(original)
    def guarded(*args, **kwargs):
        __tracebackhide__ = True
        active = _violation(name, 2)
        if active is not None:
            raise _error(name, active)
        return original(*args, **kwargs)

    guarded.__torchkata_original__ = original
    return guarded


def _wrap_class(name: str, cls: type) -> None:
    original_init = cls.__dict__.get("__init__", None) or cls.__init__

    @functools.wraps(original_init)
    def __init__(self, *args, **kwargs):
        __tracebackhide__ = True
        active = _violation(name, 2)
        if active is not None:
            raise _error(name, active)
        original_init(self, *args, **kwargs)

    cls.__init__ = __init__


class _ModuleProxy(types.ModuleType):
    def __init__(self, name: str, real: types.ModuleType):
        super().__init__(real.__name__)
        object.__setattr__(self, "_torchkata_name", name)
        object.__setattr__(self, "_torchkata_real", real)

    def __getattr__(self, attr):
        name = object.__getattribute__(self, "_torchkata_name")
        active = _violation(name, 2, direct_only=True)
        if active is not None:
            raise _error(name, active)
        return getattr(object.__getattribute__(self, "_torchkata_real"), attr)


def _resolve(dotted: str):
    """(owner, attribute, value) for a dotted name, importing the longest module prefix."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        owner, attr = None, None
        for part in parts[cut:]:
            owner, attr = obj, part
            obj = getattr(obj, part)
        if owner is None:  # the whole name is a module: its owner is the parent package
            if len(parts) == 1:
                return None, dotted, obj
            owner, attr = importlib.import_module(".".join(parts[:-1])), parts[-1]
        return owner, attr, obj
    raise ImportError(dotted)


def install(forbidden: tuple[str, ...] | list[str]) -> None:
    """Put wrappers on the forbidden callables that are not wrapped yet (idempotent)."""
    for name in forbidden:
        if name in _STATE.installed or name in _STATE.unresolved:
            continue
        try:
            owner, attr, value = _resolve(name)
        except (ImportError, AttributeError):
            # Not in this torch (or not installed): the source scan still rejects it, and a
            # module that cannot be imported cannot be called either.
            _STATE.unresolved.add(name)
            continue
        if isinstance(value, type):
            _wrap_class(name, value)
        elif isinstance(value, types.ModuleType):
            if owner is not None:
                setattr(owner, attr, _ModuleProxy(name, value))
        elif callable(value):
            setattr(owner, attr, _wrap_function(name, value))
        _STATE.installed.add(name)


@contextmanager
def guarded(kata_id: str, forbidden, roots, module_names):
    """While active, a forbidden callable reached from solution code raises."""
    roots = tuple(str(Path(r).resolve()) + "/" for r in roots)
    _STATE.stack.append(_Active(kata_id, frozenset(forbidden), roots, frozenset(module_names)))
    try:
        yield
    finally:
        _STATE.stack.pop()


# ----------------------------------------------------------------------------- source scan

def _import_aliases(tree: ast.AST) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    aliases[a.asname] = a.name
                else:
                    top = a.name.split(".")[0]
                    aliases[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    return aliases


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and node.id in aliases:
        parts.append(aliases[node.id])
        return ".".join(reversed(parts))
    return None


def scan_source(source: str, forbidden, filename: str = "<solution>") -> list[tuple[int, str]]:
    """(line, forbidden name) for each place the source names a forbidden callable."""
    tree = ast.parse(source, filename=filename)
    aliases = _import_aliases(tree)
    forbidden = set(forbidden)
    tensor_methods = {f.rsplit(".", 1)[1]: f for f in forbidden if f.startswith("torch.Tensor.")}
    hits: list[tuple[int, str]] = []
    seen_nodes: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [
                f"{node.module}.{a.name}" for a in node.names if node.module]
            for name in names:
                hit = _match(name, forbidden)
                if hit:
                    hits.append((node.lineno, hit))
        elif isinstance(node, (ast.Attribute, ast.Name)) and id(node) not in seen_nodes:
            # Mark the inner nodes so "torch.nn.functional.one_hot" is reported once.
            inner = node.value if isinstance(node, ast.Attribute) else None
            while isinstance(inner, ast.Attribute):
                seen_nodes.add(id(inner))
                inner = inner.value
            dotted = _dotted(node, aliases)
            hit = _match(dotted, forbidden) if dotted else None
            if hit is None and isinstance(node, ast.Attribute) and node.attr in tensor_methods and dotted is None:
                hit = tensor_methods[node.attr]  # x.softmax(...) on a tensor
            if hit:
                hits.append((node.lineno, hit))
    return sorted(set(hits))


def _match(dotted: str, forbidden: set[str]) -> str | None:
    for name in forbidden:
        if dotted == name or dotted.startswith(name + "."):
            return name
    return None
