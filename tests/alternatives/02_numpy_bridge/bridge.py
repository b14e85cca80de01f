"""NumPy interop and memory sharing: a correct solution written unlike the reference.

torch.as_tensor / asarray for the shared view, np.copy before wrapping for the copy, and
numpy(force=True) (detach, move to the cpu, resolve the conj/neg bits) for the way back.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def to_tensor_shared(arr: np.ndarray) -> Tensor:
    # as_tensor reuses arr's memory when dtype and device already match (they do: no cast asked).
    return torch.as_tensor(arr)


def to_tensor_copy(arr: np.ndarray) -> Tensor:
    return torch.from_numpy(np.copy(arr))


def to_numpy(t: Tensor) -> np.ndarray:
    # force=True: detach() and cpu() as needed; both are views for a cpu tensor, so no copy there.
    return t.numpy(force=True)
