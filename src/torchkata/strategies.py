"""Hypothesis strategies for tensors: explicit dtype, device and shape, bounded finite values."""
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


def shapes(min_dims: int = 1, max_dims: int = 3, min_side: int = 1, max_side: int = 5) -> st.SearchStrategy[tuple[int, ...]]:
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_shapes(shape, min_dims: int = 0, max_dims: int | None = None, min_side: int = 1,
                         max_side: int | None = None) -> st.SearchStrategy[tuple[int, ...]]:
    """A shape that broadcasts against SHAPE."""
    return hnp.broadcastable_shapes(tuple(shape), min_dims=min_dims, max_dims=max_dims,
                                    min_side=min_side, max_side=max_side)


def valid_dims(ndim: int) -> st.SearchStrategy[int]:
    """A dimension index valid for a tensor of NDIM dimensions, negative ones included."""
    if ndim < 1:
        raise ValueError("a 0-d tensor has no dimension to pick")
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


@st.composite
def tensors(draw, shape=(2, 3), dtype=torch.float32, device="cpu", min_value=-10, max_value=10,
            noncontiguous: bool | None = None, elements=None) -> torch.Tensor:
    """A tensor of SHAPE and DTYPE on DEVICE with values in [min_value, max_value].

    SHAPE and DTYPE may be strategies. NONCONTIGUOUS: True gives a strided view, False a
    contiguous tensor, None draws either (a correct solution must not care).
    """
    shape = tuple(draw(shape) if isinstance(shape, st.SearchStrategy) else shape)
    dtype = draw(dtype) if isinstance(dtype, st.SearchStrategy) else dtype
    if noncontiguous is None:
        noncontiguous = draw(st.booleans())
    elements = elements if elements is not None else _elements(dtype, min_value, max_value)
    # Draw in the target dtype's numpy type so the values are exactly representable.
    np_dtype = _NUMPY[dtype]
    if noncontiguous and len(shape) >= 1:
        # Draw a wider array and keep every other column: same values, strided memory.
        wide = shape[:-1] + (2 * shape[-1],)
        array = draw(hnp.arrays(np_dtype, wide, elements=elements))
        t = torch.from_numpy(array.copy())[..., ::2]
    else:
        array = draw(hnp.arrays(np_dtype, shape, elements=elements))
        t = torch.from_numpy(array.copy())
    return t.to(device=device)


def labels(shape, num_classes: int, device="cpu") -> st.SearchStrategy[torch.Tensor]:
    """A LongTensor of SHAPE with values in [0, num_classes)."""
    return tensors(shape=shape, dtype=torch.int64, device=device, min_value=0, max_value=num_classes - 1,
                   noncontiguous=False)
