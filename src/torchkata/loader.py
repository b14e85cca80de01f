"""Load a kata's module from an implementation root, with clear one-line errors."""
from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
import traceback
from pathlib import Path

from torchkata import guard
from torchkata.catalog import KataSpec
from torchkata.errors import SolutionError, SolutionLacksName, SolutionMissing
from torchkata.layout import module_in


def module_name_for(root: Path, spec: KataSpec) -> str:
    digest = hashlib.sha1(str(Path(root).resolve()).encode()).hexdigest()[:10]
    return f"torchkata_solution_{digest}_{spec.id}"


def _learner_frames(exc: BaseException, path: Path) -> str:
    """The traceback lines that point into the solution file only."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path]
    return "".join(traceback.format_list(frames)).rstrip()


def load_solution(root: Path, spec: KataSpec):
    """Import ROOT/<id>/<module> under a unique name, after scanning it for forbidden names."""
    path = module_in(root, spec).resolve()
    if not path.is_file():
        raise SolutionMissing(f"{spec.id}: no {spec.module} in {Path(root)}/{spec.id}/")
    name = module_name_for(root, spec)
    if name in sys.modules:
        return sys.modules[name]
    try:
        source = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise SolutionError(f"{path}: cannot read the solution ({err})") from None
    try:
        hits = guard.scan_source(source, spec.forbidden, filename=str(path))
    except SyntaxError as err:
        raise SolutionError(f"{path}:{err.lineno}: syntax error: {err.msg}") from None
    if hits:
        where = ", ".join(f"{fname} (line {line})" for line, fname in hits)
        raise SolutionError(
            f"{spec.module} names a forbidden callable: {where}. Kata {spec.id}: {guard.RULE}.")
    guard.install(spec.forbidden)
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        with guard.guarded(spec.id, spec.forbidden, [path.parent.parent], [name]):
            module_spec.loader.exec_module(module)
    except BaseException as err:  # noqa: BLE001 - any failure at import is the solution's
        del sys.modules[name]
        if isinstance(err, KeyboardInterrupt):
            raise
        frames = _learner_frames(err, path)
        detail = f"\n{frames}" if frames else ""
        raise SolutionError(
            f"importing {path} raised {type(err).__name__}: {err}{detail}") from None
    return module


def check_signature(spec: KataSpec, module, name: str):
    """The solution's object for catalog symbol NAME, or SolutionError saying what is wrong."""
    symbol = spec.symbol(name)
    obj = getattr(module, name, None)
    if obj is None:
        raise SolutionLacksName(f"{spec.module} does not define {name} "
                                f"(the catalog asks for: {symbol.text if symbol else name})")
    if symbol is None or not callable(obj):
        return obj
    if symbol.kind == "function":
        want, what = symbol.params, name
    elif inspect.isclass(obj) and symbol.init_params is not None:
        want, what = symbol.init_params, f"{name}.__init__"  # a constructor called positionally must work
    else:
        return obj
    try:
        params = list(inspect.signature(obj).parameters.values())  # a class's drops self
    except (TypeError, ValueError):
        return obj
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names = [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    want = list(want)
    extra_required = [p.name for p in params[len(want):]
                      if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    # The catalog's parameters are positional, in its order: a keyword-only one breaks a call like
    # CustomLinear(3, 2, False) that torch's own class accepts.
    keyword_only = [p.name for p in params[: len(want)] if p.kind not in positional]
    if names[: len(want)] != want or extra_required or keyword_only:
        raise SolutionError(
            f"{what} has parameters ({_describe(params)}); the catalog asks for ({', '.join(want)})")
    return obj


def _describe(params) -> str:
    out, star = [], False
    for p in params:
        if p.kind is p.KEYWORD_ONLY and not star:
            out.append("*")
            star = True
        out.append({p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "") + p.name)
        star = star or p.kind is p.VAR_POSITIONAL
    return ", ".join(out)
