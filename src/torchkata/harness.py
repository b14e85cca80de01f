"""The only door between a hidden test and a solution: the `kata` fixture's object.

Everything that crosses it is plain data (tensors, numpy arrays, numbers, strings, dtypes,
devices and containers of them), so the same test can later drive a solution living in a
sandboxed worker process without being rewritten.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from torchkata import guard
from torchkata.catalog import KataSpec
from torchkata.loader import check_signature, load_solution, module_name_for

PLAIN_SCALARS = (bool, int, float, complex, str, bytes, type(None), torch.dtype, torch.device, torch.Size)


class NotPlainData(TypeError):
    pass


class StubNotImplemented(BaseException):
    """A solution function still raises NotImplementedError.

    A BaseException, so hypothesis fails the test at the first example instead of shrinking
    an input that cannot matter (minutes per stub suite otherwise), and no `pytest.raises`
    or `except Exception` in a test can mistake an unwritten function for a right answer.
    """


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


def _snapshot(args, kwargs):
    items = list(enumerate(args)) + list(kwargs.items())
    return [(key, value, value.detach().clone()) for key, value in items if isinstance(value, torch.Tensor)]


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
            same = value.shape == before.shape and torch.equal(value.detach(), before) if not before.is_floating_point() \
                else value.shape == before.shape and bool(torch.isclose(value.detach(), before, rtol=0, atol=0, equal_nan=True).all())
            if not same:
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
                result = driver(self.module, *args, **kwargs)
            except NotImplementedError as err:
                raise _unwritten(err, driver.__name__) from None
        check_plain(result, f"the result of driver {driver.__name__}")
        return result
