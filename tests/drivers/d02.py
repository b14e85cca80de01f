"""Scenario drivers for kata 02_numpy_bridge (see docs/AUTHORING.md).

Memory sharing can only be observed where the conversion runs: each driver converts, writes
into one side, and returns what both sides hold afterwards as fresh copies (plain data that
survives a process boundary). The assertions live in tests/test_02_numpy_bridge.py.

Arrays travel as a contiguous BASE plus a LAYOUT name, and the driver builds the
non-contiguous view itself, so the layout survives any transport.
"""
from __future__ import annotations

import numpy as np
import torch

# The layouts whose memory a write can go through: the sharing scenarios use these.
LAYOUTS = ("contiguous", "strided", "transposed")
# Plus a broadcast view (stride 0 along the first axis: its rows share memory), for the tests
# of values only (a write to such a view has no single meaning).
VALUE_LAYOUTS = LAYOUTS + ("expanded",)


def layout_view(base: np.ndarray, layout: str) -> np.ndarray:
    """BASE itself, every other element of its last axis, its transpose, or its first row
    broadcast over the first axis (all views)."""
    if layout == "expanded":
        return np.lib.stride_tricks.as_strided(base[:1], shape=base.shape, strides=(0,) + base.strides[1:])
    if layout == "contiguous":
        return base
    if layout == "strided":
        return base[..., ::2]
    if layout == "transposed":
        return base.T
    raise ValueError(layout)


def tensor_layout_view(base: torch.Tensor, layout: str) -> torch.Tensor:
    """The same layouts for a tensor."""
    if layout == "expanded":
        return base[:1].expand(base.shape)
    if layout == "contiguous":
        return base
    if layout == "strided":
        return base[..., ::2]
    if layout == "transposed":
        return base.permute(*reversed(range(base.dim())))
    raise ValueError(layout)


def _copy(value):
    """A fresh copy of a tensor or array (so nothing returned aliases the scenario's memory)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, np.ndarray):
        return value.copy()
    return None


def _type(value) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


# ---------------------------------------------------------------- array -> tensor (NAME)

def to_tensor_then_write_array(module, name, base, layout, new):
    """t = NAME(arr) for arr a view of BASE; then arr[...] = NEW.  What t holds afterwards."""
    arr = layout_view(base.copy(), layout)
    t = getattr(module, name)(arr)
    arr[...] = new
    return {"type": _type(t), "is_tensor": isinstance(t, torch.Tensor), "after": _copy(t)}


def to_tensor_then_write_tensor(module, name, base, layout, new):
    """t = NAME(arr) for arr a view of BASE; then t[...] = NEW.  What arr holds afterwards."""
    arr = layout_view(base.copy(), layout)
    t = getattr(module, name)(arr)
    if isinstance(t, torch.Tensor):
        with torch.no_grad():
            t[...] = torch.from_numpy(new.copy())
    return {"type": _type(t), "is_tensor": isinstance(t, torch.Tensor), "array": arr.copy()}


# -------------------------------------------------------------------- tensor -> array

def _source(base, layout, requires_grad, device):
    """A view of a copy of BASE on DEVICE; when REQUIRES_GRAD, of a leaf that requires grad."""
    t = base.clone().to(device)
    if requires_grad:
        t.requires_grad_(True)
    return tensor_layout_view(t, layout)


def to_numpy_of(module, base, layout, requires_grad, device):
    """to_numpy(t) for t a view of BASE on DEVICE, requiring grad or not: what comes back."""
    arr = module.to_numpy(_source(base, layout, requires_grad, device))
    return {"type": _type(arr), "is_array": isinstance(arr, np.ndarray), "array": _copy(arr)}


def to_numpy_then_write_tensor(module, base, layout, requires_grad, new):
    """arr = to_numpy(t) for t a cpu view of BASE; then t[...] = NEW.  What arr holds afterwards."""
    t = _source(base, layout, requires_grad, "cpu")
    arr = module.to_numpy(t)
    with torch.no_grad():
        t[...] = new
    return {"type": _type(arr), "is_array": isinstance(arr, np.ndarray), "array": _copy(arr)}


def to_numpy_then_write_array(module, base, layout, requires_grad, new):
    """arr = to_numpy(t) for t a cpu view of BASE; then arr[...] = NEW.  What t holds afterwards."""
    t = _source(base, layout, requires_grad, "cpu")
    arr = module.to_numpy(t)
    is_array = isinstance(arr, np.ndarray)
    writeable = is_array and bool(arr.flags.writeable)
    if writeable:
        arr[...] = new.numpy()
    return {"type": _type(arr), "is_array": is_array, "writeable": writeable, "tensor": _copy(t)}
