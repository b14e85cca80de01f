"""NumPy interop and memory sharing (reference solution)."""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def to_tensor_shared(arr: np.ndarray) -> Tensor:
    """A cpu tensor viewing arr's memory (same dtype, shape and strides): writes go both ways."""
    return torch.from_numpy(arr)


def to_tensor_copy(arr: np.ndarray) -> Tensor:
    """A cpu tensor with arr's values and dtype, in memory of its own."""
    return torch.tensor(arr)


def to_numpy(t: Tensor) -> np.ndarray:
    """t's values as an ndarray; shares t's memory when t is already on the cpu."""
    # detach: .numpy() refuses a tensor that requires grad; cpu(): a no-op for a cpu tensor.
    return t.detach().cpu().numpy()
