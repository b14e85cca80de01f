"""Assertions with messages written for the learner."""
from __future__ import annotations

import numpy as np
import torch


def expect(condition, message: str) -> None:
    """assert CONDITION, with MESSAGE for the learner when it fails."""
    __tracebackhide__ = True
    if not condition:
        raise AssertionError(message)


def _describe_inputs(inputs) -> str:
    if not inputs:
        return ""
    lines = []
    for key, value in inputs.items():
        if isinstance(value, torch.Tensor):
            text = f"tensor(shape={tuple(value.shape)}, dtype={value.dtype}, device={value.device})"
            if value.numel() <= 16:
                text += f" = {value.detach().cpu().tolist()}"
        else:
            text = repr(value)
        lines.append(f"    {key} = {text}")
    return "\n  for inputs:\n" + "\n".join(lines)


def _default_tolerances(dtype: torch.dtype) -> tuple[float, float]:
    # torch.testing.assert_close's defaults for the dtype.
    return {
        torch.float16: (1e-3, 1e-5),
        torch.bfloat16: (1.6e-2, 1e-5),
        torch.float32: (1.3e-6, 1e-5),
        torch.float64: (1e-7, 1e-7),
    }.get(dtype, (0.0, 0.0))


def assert_close(actual, expected, *, what: str, inputs=None, rtol=None, atol=None,
                 check_dtype: bool = True, check_device: bool = True, equal_nan: bool = False) -> None:
    """Compare like torch.testing.assert_close; on failure say what differs, where and by how much."""
    __tracebackhide__ = True
    def context() -> str:  # built only on failure: describing large inputs costs more than comparing
        return _describe_inputs(inputs)

    if isinstance(expected, np.ndarray):
        expected = torch.from_numpy(expected)
    if isinstance(actual, np.ndarray):
        actual = torch.from_numpy(actual)
    if not isinstance(expected, torch.Tensor):
        try:
            torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol, equal_nan=equal_nan)
        except AssertionError as err:
            raise AssertionError(f"{what}: expected {expected!r}, got {actual!r}{context()}\n  ({err})") from None
        return
    if not isinstance(actual, torch.Tensor):
        raise AssertionError(f"{what}: expected a tensor, got {type(actual).__name__} {actual!r}{context()}")
    if actual.shape != expected.shape:
        diff = [i for i, (a, e) in enumerate(zip(actual.shape, expected.shape)) if a != e]
        where = (f"dimension {diff[0]} is {actual.shape[diff[0]]}, expected {expected.shape[diff[0]]}"
                 if actual.dim() == expected.dim() else f"{actual.dim()} dimensions, expected {expected.dim()}")
        raise AssertionError(f"{what}: shape {tuple(actual.shape)}, expected {tuple(expected.shape)} "
                             f"({where}){context()}")
    if check_dtype and actual.dtype != expected.dtype:
        raise AssertionError(f"{what}: dtype {actual.dtype}, expected {expected.dtype}{context()}")
    if check_device and actual.device != expected.device:
        raise AssertionError(f"{what}: on device {actual.device}, expected {expected.device}{context()}")
    a = actual.detach().cpu()
    e = expected.detach().cpu().to(a.dtype) if not check_dtype else expected.detach().cpu()
    if rtol is None and atol is None:
        rtol, atol = _default_tolerances(e.dtype)
    elif rtol is None or atol is None:
        raise ValueError("give both rtol and atol, or neither")
    if not (a.is_floating_point() or a.is_complex()):
        bad = a != e
    else:
        a64, e64 = a.double(), e.double()
        close = torch.isclose(a64, e64, rtol=rtol, atol=atol, equal_nan=equal_nan)
        bad = ~close
    if not bool(bad.any()):
        return
    first = tuple(int(i) for i in bad.nonzero()[0])
    n_bad, n = int(bad.sum()), bad.numel()
    lines = [f"{what}: {n_bad} of {n} elements differ"]
    if a.dim() == 0:
        lines.append(f"  expected {e.item()!r}, got {a.item()!r}")
    else:
        lines.append(f"  first at index {first}: expected {e[first].item()!r}, got {a[first].item()!r}")
    if a.is_floating_point():
        abs_err = (a.double() - e.double()).abs()
        finite = torch.isfinite(abs_err)
        if not bool(finite.all()):
            lines.append(f"  {int((~finite).sum())} elements are inf or nan where they should not be")
        if bool(finite.any()):
            # inf where expected is 0 and got is not (as torch reports it); 0 where they agree
            rel_err = torch.where(abs_err == 0, 0.0, abs_err / e.double().abs())
            lines.append(f"  max abs error {abs_err[finite].max().item():.3g}, "
                         f"max rel error {rel_err[finite].max().item():.3g} (allowed rtol={rtol:g}, atol={atol:g})")
    raise AssertionError("\n".join(lines) + context())


def torch_grad(fn, *args, grad_output=None, **kwargs):
    """(output, grads) of FN computed with torch, the same way `kata.grad` computes them."""
    from torchkata.harness import as_leaves, grads_per_argument

    leaves = as_leaves(args)
    out = fn(*leaves, **kwargs)
    return out.detach(), grads_per_argument(out, leaves, grad_output)
