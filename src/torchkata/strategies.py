"""Hypothesis strategies for tensors: explicit dtype, device and shape, bounded finite values.

The defaults draw the contract's whole domain: 0-d and empty shapes, and four memory layouts
(contiguous, strided, transposed, expanded). A suite narrows a strategy only where its kata's
contract excludes a case, and says why next to the call.
"""
from __future__ import annotations

import numpy as np
import torch
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

FLOAT_DTYPES = (torch.float32, torch.float64)

_NUMPY = {
    torch.float16: np.float16, torch.float32: np.float32, torch.float64: np.float64,
    torch.int8: np.int8, torch.int16: np.int16, torch.int32: np.int32, torch.int64: np.int64,
    torch.uint8: np.uint8, torch.bool: np.bool_,
}


def float_dtypes() -> st.SearchStrategy[torch.dtype]:
    return st.sampled_from(FLOAT_DTYPES)


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 0, max_side: int = 5) -> st.SearchStrategy[tuple[int, ...]]:
    """Shapes from 0-d (``()``) to MAX_DIMS dimensions; sides from MIN_SIDE (0: empty tensors)."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_shapes(shape, min_dims: int = 0, max_dims: int | None = None, min_side: int | None = None,
                         max_side: int | None = None) -> st.SearchStrategy[tuple[int, ...]]:
    """A shape that broadcasts against SHAPE (sides from 1, or from 0 when SHAPE is empty somewhere)."""
    if min_side is None:
        min_side = 0 if 0 in tuple(shape) else 1
    return hnp.broadcastable_shapes(tuple(shape), min_dims=min_dims, max_dims=max_dims,
                                    min_side=min_side, max_side=max_side)


def valid_dims(ndim: int) -> st.SearchStrategy[int]:
    """A dimension index valid for a tensor of NDIM dimensions, negative ones included.

    For a 0-d tensor torch accepts dim 0 and -1 (it wraps dims as if the tensor had one)."""
    ndim = max(ndim, 1)
    return st.integers(min_value=-ndim, max_value=ndim - 1)


def seeds() -> st.SearchStrategy[int]:
    return st.integers(min_value=0, max_value=2**31 - 1)


def _elements(dtype: torch.dtype, min_value, max_value):
    if dtype == torch.bool:
        return st.booleans()
    if dtype.is_floating_point:
        width = {torch.float16: 16, torch.float32: 32}.get(dtype, 64)
        return st.floats(min_value=float(min_value), max_value=float(max_value), allow_nan=False,
                         allow_infinity=False, allow_subnormal=False, width=width)
    return st.integers(min_value=int(min_value), max_value=int(max_value))


LAYOUTS = ("contiguous", "strided", "transposed", "expanded")


def layouts() -> st.SearchStrategy[str]:
    """A memory layout for `tensors`: the same values, stored four ways."""
    return st.sampled_from(LAYOUTS)


def _with_layout(draw, shape: tuple[int, ...], np_dtype, elements, layout: str, device) -> torch.Tensor:
    """A tensor of SHAPE on DEVICE whose storage follows LAYOUT (contiguous where the shape
    cannot have it: a 0-d tensor has no stride to change). The view is taken on the device."""
    def array(s):
        return torch.from_numpy(draw(hnp.arrays(np_dtype, s, elements=elements)).copy()).to(device)

    if layout == "strided" and len(shape) >= 1:
        # A wider tensor with every other element of the last dimension kept: strided memory.
        return array(shape[:-1] + (2 * shape[-1],))[..., ::2]
    if layout == "transposed" and len(shape) >= 2:
        swapped = shape[:-2] + (shape[-1], shape[-2])
        return array(swapped).transpose(-1, -2)
    if layout == "expanded" and len(shape) >= 1:
        # One dimension broadcast from size 1 (stride 0): its rows share memory. Inputs stay
        # read-only, so a solution that writes into its input is caught by the harness.
        dims = [i for i, side in enumerate(shape) if side > 1] or [0]
        dim = draw(st.sampled_from(dims))
        base = array(shape[:dim] + (1,) + shape[dim + 1:])
        return base.expand(shape)
    return array(shape)


@st.composite
def tensors(draw, shape=(2, 3), dtype=torch.float32, device="cpu", min_value=-10, max_value=10,
            noncontiguous: bool | None = None, elements=None, layout: str | None = None) -> torch.Tensor:
    """A tensor of SHAPE and DTYPE on DEVICE with values in [min_value, max_value].

    SHAPE and DTYPE may be strategies. LAYOUT is one of LAYOUTS; None (the default) draws
    one (a correct solution must not care). NONCONTIGUOUS (older spelling): False forces a
    contiguous tensor, True a non-contiguous one.
    """
    shape = tuple(draw(shape) if isinstance(shape, st.SearchStrategy) else shape)
    dtype = draw(dtype) if isinstance(dtype, st.SearchStrategy) else dtype
    if layout is None:
        if noncontiguous is False:
            layout = "contiguous"
        elif noncontiguous is True:
            layout = draw(st.sampled_from(LAYOUTS[1:]))
        else:
            layout = draw(layouts())
    elif layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, not {layout!r}")
    elements = elements if elements is not None else _elements(dtype, min_value, max_value)
    # Draw in the target dtype's numpy type so the values are exactly representable.
    return _with_layout(draw, shape, _NUMPY[dtype], elements, layout, device)


def labels(shape, num_classes: int, device="cpu", layout: str | None = None) -> st.SearchStrategy[torch.Tensor]:
    """A LongTensor of SHAPE with values in [0, num_classes), in any layout (targets are inputs too)."""
    return tensors(shape=shape, dtype=torch.int64, device=device, min_value=0, max_value=num_classes - 1,
                   layout=layout)
