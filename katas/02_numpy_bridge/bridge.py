"""Kata 02 · NumPy interop and memory sharing.

Three conversions between numpy.ndarray and torch.Tensor, each with a different answer to
"who owns the memory?". See README.md for the contract and examples.

The arrays you are given have a dtype torch knows (bool, uint8, int8 ... int64,
float16/32/64, complex64/128), any shape (0-d and empty included), and non-negative strides
(contiguous, sliced with a positive step, or transposed).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def to_tensor_shared(arr: np.ndarray) -> Tensor:
    """A tensor that shares arr's memory.

    arr: (...) ndarray  ->  (...) cpu tensor with arr's values and the matching dtype
    (float64 stays float64). A write into arr afterwards is seen in the tensor, and a write
    into the tensor is seen in arr: no copy is made.
    """
    raise NotImplementedError("to_tensor_shared: wrap arr's memory in a tensor, without copying it")


def to_tensor_copy(arr: np.ndarray) -> Tensor:
    """An independent tensor copy of arr.

    arr: (...) ndarray  ->  (...) cpu tensor with arr's values and the matching dtype
    (float64 stays float64). Later writes into arr are not seen in the tensor, nor the
    other way round.
    """
    raise NotImplementedError("to_tensor_copy: build a tensor that owns a copy of arr's data, "
                              "keeping its dtype")


def to_numpy(t: Tensor) -> np.ndarray:
    """t's values as a NumPy array.

    t: (...) tensor, on any device, possibly requiring grad  ->  (...) ndarray with the
    matching dtype. For a cpu tensor the array shares t's memory (no copy): a write into
    either is seen in the other.
    """
    raise NotImplementedError("to_numpy: get t off the autograd graph and onto the cpu "
                              "(both free when already so), then view it as an ndarray")
