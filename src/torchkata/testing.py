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


# torch.testing.assert_close's defaults, (rtol, atol) per dtype; exact for every other dtype.
TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float16: (1e-3, 1e-5),
    torch.bfloat16: (1.6e-2, 1e-5),
    torch.float32: (1.3e-6, 1e-5),
    torch.float64: (1e-7, 1e-7),
    torch.complex32: (1e-3, 1e-5),
    torch.complex64: (1.3e-6, 1e-5),
    torch.complex128: (1e-7, 1e-7),
}


def tolerances(dtype: torch.dtype) -> tuple[float, float]:
    """(rtol, atol): torch.testing.assert_close's defaults for DTYPE; (0, 0) for exact dtypes."""
    return TOLERANCES.get(dtype, (0.0, 0.0))


def rtol_for(dtype: torch.dtype) -> float:
    """The default relative tolerance of DTYPE (for a test that widens only atol, saying why)."""
    return tolerances(dtype)[0]


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
        rtol, atol = tolerances(e.dtype)
    elif rtol is None or atol is None:
        raise ValueError("give both rtol and atol, or neither")
    if not (a.is_floating_point() or a.is_complex()):
        bad = a != e
    else:
        a64, e64 = (a.cdouble(), e.cdouble()) if a.is_complex() else (a.double(), e.double())
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


def upstream(shape, dtype: torch.dtype = torch.float64, device="cpu", seed: int = 0) -> torch.Tensor:
    """A random upstream gradient of SHAPE (standard normal), seeded so hypothesis replays it.

    Back-propagating ones hides mistakes that a sum over outputs cancels (a transposed
    Jacobian, a wrong reduction); a random one does not."""
    g = torch.Generator().manual_seed(int(seed))
    return torch.randn(tuple(shape), generator=g, dtype=dtype).to(device)


def in_float64(fn, *args, **kwargs):
    """FN on ARGS cast to float64 (tensors with a floating dtype only): the expected side of a
    float32 comparison, computed with less rounding than the solution has."""
    def up(a):
        return a.double() if isinstance(a, torch.Tensor) and a.is_floating_point() else a
    return fn(*(up(a) for a in args), **{k: up(v) for k, v in kwargs.items()})


def assert_grads_match(kata, name: str, reference, *args, seed: int, what: str | None = None,
                       inputs=None, rtol=None, atol=None, **kwargs) -> tuple:
    """Value and gradients of the solution's NAME equal REFERENCE's (torch) for a random upstream
    gradient drawn from SEED; every floating positional argument is differentiated.

    Returns (output, grads) of the solution for further checks."""
    __tracebackhide__ = True
    what = what or name
    want, _ = torch_grad(reference, *args, **kwargs)
    go = upstream(want.shape, want.dtype, want.device, seed)
    out, grads = kata.grad(name, *args, grad_output=go, **kwargs)
    _, want_grads = torch_grad(reference, *args, grad_output=go, **kwargs)
    names = list(inputs) if inputs else [f"arg{i}" for i in range(len(args))]
    tol = {} if rtol is None and atol is None else {"rtol": rtol, "atol": atol}
    assert_close(out, want, what=what, inputs=inputs, **tol)
    for i, (got, exp) in enumerate(zip(grads, want_grads)):
        if exp is None:
            continue
        label = names[i] if i < len(names) else f"arg{i}"
        assert_close(got, exp, what=f"d {what} / d{label}", inputs=inputs, **tol)
    return out, grads


def torch_grad(fn, *args, grad_output=None, **kwargs):
    """(output, grads) of FN computed with torch, the same way `kata.grad` computes them."""
    from torchkata.harness import as_leaves, grads_per_argument

    leaves = as_leaves(args)
    out = fn(*leaves, **kwargs)
    return out.detach(), grads_per_argument(out, leaves, grad_output)
