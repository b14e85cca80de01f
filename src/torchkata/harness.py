"""The only door between a hidden test and a solution: the `kata` fixture's object.

Everything that crosses it is plain data (tensors, numpy arrays, numbers, strings, dtypes,
devices and containers of them), so the same test can later drive a solution living in a
sandboxed worker process without being rewritten.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from torchkata import guard
from torchkata.catalog import KataSpec
from torchkata.errors import NotPlainData, StubNotImplemented
from torchkata.loader import check_signature, load_solution, module_name_for

PLAIN_SCALARS = (bool, int, float, complex, str, bytes, type(None), torch.dtype, torch.device, torch.Size)


def _unwritten(err: NotImplementedError, name: str) -> StubNotImplemented:
    message = f"NotImplementedError: {err}" if str(err) else f"NotImplementedError: {name} is not written yet"
    return StubNotImplemented(message).with_traceback(err.__traceback__)


def check_plain(value, where: str):
    """Raise NotPlainData unless VALUE is plain data that could cross a process boundary."""
    if isinstance(value, (torch.Tensor, np.ndarray, np.generic) + PLAIN_SCALARS):
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            check_plain(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            check_plain(key, f"{where} key")
            check_plain(item, f"{where}[{key!r}]")
        return
    raise NotPlainData(f"{where} is a {type(value).__module__}.{type(value).__qualname__}; "
                       "expected tensors, numbers, strings or containers of them")


def _copy(value):
    """A copy of plain data deep enough to see any later change to it: tensors cloned, lists,
    tuples and dicts rebuilt (a list the caller passed may be sorted or filled in place too)."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, (list, tuple)):
        return type(value)(_copy(v) for v in value) if type(value) in (list, tuple) else value
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


def _unchanged(value, before) -> bool:
    if isinstance(before, torch.Tensor):
        if not isinstance(value, torch.Tensor) or value.shape != before.shape or value.dtype != before.dtype:
            return False
        if not before.is_floating_point() and not before.is_complex():
            return torch.equal(value.detach(), before)
        return bool(torch.isclose(value.detach(), before, rtol=0, atol=0, equal_nan=True).all())
    if isinstance(before, (list, tuple)):
        return type(value) is type(before) and len(value) == len(before) and \
            all(_unchanged(v, b) for v, b in zip(value, before))
    if isinstance(before, dict):
        return isinstance(value, dict) and value.keys() == before.keys() and \
            all(_unchanged(value[k], before[k]) for k in before)
    return True  # numbers, strings, None: immutable


def _snapshot(args, kwargs):
    items = list(enumerate(args)) + list(kwargs.items())
    return [(key, value, _copy(value)) for key, value in items
            if isinstance(value, (torch.Tensor, list, dict)) or type(value) is tuple]


def as_leaves(args) -> list:
    """ARGS with every floating tensor replaced by a fresh leaf that requires grad."""
    return [a.detach().clone().requires_grad_(True) if isinstance(a, torch.Tensor) and a.is_floating_point() else a
            for a in args]


def grads_per_argument(out: torch.Tensor, leaves: list, grad_output=None) -> tuple:
    """d(out)/d(leaf) weighted by GRAD_OUTPUT (ones by default), one entry per argument.

    None for non-tensor arguments; zeros for a leaf the output does not depend on.
    """
    go = torch.ones_like(out) if grad_output is None else grad_output
    tensors = [leaf for leaf in leaves if isinstance(leaf, torch.Tensor) and leaf.requires_grad]
    grads = iter(torch.autograd.grad(out, tensors, go, allow_unused=True))
    result = []
    for leaf in leaves:
        if isinstance(leaf, torch.Tensor) and leaf.requires_grad:
            g = next(grads)
            result.append(torch.zeros_like(leaf) if g is None else g.detach())
        else:
            result.append(None)
    return tuple(result)


# The door's operations: what a hidden test may ask of a solution. `Kata` performs them in this
# process; the sandbox's `WorkerKata` sends them to a worker, whose dispatcher calls `perform`
# on its own in-process `Kata`. One table, so the two doors cannot drift apart.
OPERATIONS = ("call", "call_mutating", "grad", "run")


class SolutionDoor(Protocol):
    """The `kata` fixture's object: the only way a hidden test reaches a solution."""

    spec: KataSpec

    def call(self, name: str, *args, **kwargs): ...
    def call_mutating(self, name: str, *args, **kwargs): ...
    def grad(self, name: str, *args, grad_output=None, **kwargs) -> tuple: ...
    def run(self, driver, *args, **kwargs): ...
    def close(self) -> None: ...


def request(op: str, target, args: tuple, kwargs: dict) -> dict:
    """The plain-data form of one operation (a driver travels as its module and name)."""
    if op not in OPERATIONS:
        raise ValueError(f"unknown operation {op!r}")
    if op == "run":
        if not getattr(target, "__module__", "").startswith("drivers."):
            raise ValueError(f"driver {target.__name__} must live in tests/drivers/ to cross a process boundary")
        target = [target.__module__, target.__name__]
    return {"op": op, "target": target, "args": list(args), "kwargs": dict(kwargs)}


def perform(door: SolutionDoor, message: dict, drivers: dict | None = None):
    """Carry out a request (see `request`) on DOOR; DRIVERS maps module names to driver modules."""
    op = message.get("op")
    if op not in OPERATIONS:
        raise ValueError(f"unknown operation {op!r}")
    target = message["target"]
    if op == "run":
        module, name = target
        if drivers is None or module not in drivers or name.startswith("_"):
            raise ValueError(f"no driver {module}.{name} here")
        target = getattr(drivers[module], name)
    result = getattr(door, op)(target, *message["args"], **message["kwargs"])
    return list(result) if op == "grad" else result


class KataBase:
    """What every way of reaching a solution shares: its catalog entry."""

    spec: KataSpec
    where: str = ""

    def __repr__(self) -> str:
        return f"<kata {self.spec.id} {self.where}>"

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def forbidden(self) -> tuple[str, ...]:
        return self.spec.forbidden


class Kata(KataBase):
    """A kata's solution, loaded from one implementation root into this process."""

    def __init__(self, spec: KataSpec, root: Path):
        self.spec = spec
        self.root = Path(root)
        self.where = f"from {self.root}"
        self.module = load_solution(self.root, spec)

    def _guard(self):
        return guard.guarded(self.spec.id, self.spec.forbidden, [self.root], [module_name_for(self.root, self.spec)])

    def _call(self, name, args, kwargs, *, check_inplace: bool):
        __tracebackhide__ = True
        fn = check_signature(self.spec, self.module, name)
        snapshots = _snapshot(args, kwargs) if check_inplace else []
        with self._guard():
            try:
                result = fn(*args, **kwargs)
            except NotImplementedError as err:
                raise _unwritten(err, name) from None
        for key, value, before in snapshots:
            if not _unchanged(value, before):
                label = f"argument {key}" if isinstance(key, int) else f"argument {key!r}"
                raise AssertionError(f"{name} modified its input ({label}) in place; "
                                     "functions must leave their inputs untouched")
        check_plain(result, f"the result of {name}")
        return result

    def call(self, name: str, *args, **kwargs):
        """NAME(*args, **kwargs) in the solution, under the guard; inputs must stay untouched."""
        __tracebackhide__ = True
        return self._call(name, args, kwargs, check_inplace=True)

    def call_mutating(self, name: str, *args, **kwargs):
        """Like call, for functions whose contract is to modify an argument in place."""
        __tracebackhide__ = True
        return self._call(name, args, kwargs, check_inplace=False)

    def grad(self, name: str, *args, grad_output=None, **kwargs):
        """(output, grads): back-propagate GRAD_OUTPUT (ones by default) through NAME.

        Every floating tensor positional argument becomes a fresh leaf requiring grad; grads
        has one entry per positional argument (None for the others). All results detached.
        """
        __tracebackhide__ = True
        leaves = as_leaves(args)
        fn = check_signature(self.spec, self.module, name)
        with self._guard():
            try:
                out = fn(*leaves, **kwargs)
            except NotImplementedError as err:
                raise _unwritten(err, name) from None
            if not isinstance(out, torch.Tensor):
                raise AssertionError(f"{name} returned a {type(out).__name__}, expected a tensor")
            if not out.requires_grad:
                raise AssertionError(f"{name}'s output does not require grad: the computation "
                                     "was cut off from its inputs (detach, no_grad, .item() or a new tensor?)")
            grads = grads_per_argument(out, leaves, grad_output)
        return out.detach(), grads

    def run(self, driver, *args, **kwargs):
        """DRIVER(module, *args, **kwargs) under the guard; its result must be plain data."""
        __tracebackhide__ = True
        with self._guard():
            try:
                result = driver(CheckedModule(self.spec, self.module), *args, **kwargs)
            except NotImplementedError as err:
                raise _unwritten(err, driver.__name__) from None
        check_plain(result, f"the result of driver {driver.__name__}")
        return result

    def close(self) -> None:
        """Nothing to release: the module stays imported for the rest of the session."""

    def guarded_module(self) -> GuardedModule:
        """The solution module for the visible examples: every catalog name it defines is
        checked against the catalog's signature, and its functions are called under the guard."""
        return GuardedModule(self)


class CheckedModule:
    """The solution module as a driver sees it: every catalog name is checked against the
    catalog's signature when the driver reaches for it, as `call` and `grad` check theirs
    (a swapped `grad_of(x, f)` fails with one line, not an AttributeError deep in a driver)."""

    def __init__(self, spec: KataSpec, module):
        self._spec, self._module = spec, module

    def __getattr__(self, name: str):
        if self._spec.symbol(name) is None:
            return getattr(self._module, name)
        return check_signature(self._spec, self._module, name)

    def __repr__(self) -> str:
        return f"<solution module of {self._spec.id}>"


class GuardedModule:
    """Attribute access to a solution module whose callables run under the kata's guard."""

    def __init__(self, kata: Kata):
        self._kata = kata

    def __getattr__(self, name: str):
        kata = self._kata
        obj = check_signature(kata.spec, kata.module, name)
        if not callable(obj) or isinstance(obj, type):
            return obj  # classes stay themselves (isinstance, subclassing); their calls are not guarded

        def guarded(*args, **kwargs):
            __tracebackhide__ = True
            with kata._guard():
                try:
                    return obj(*args, **kwargs)
                except NotImplementedError as err:
                    raise _unwritten(err, name) from None
        guarded.__name__ = getattr(obj, "__name__", name)
        guarded.__wrapped_solution__ = obj
        return guarded
