"""Kata 01 · Tensor basics and broadcasting.

Build each result from whole-tensor operations: indexing, comparisons, broadcasting
(unsqueeze / None), reductions and matmul. No Python loops over elements.
torch.nn.functional.one_hot, torch.cdist, torch.nn.functional.normalize and torch.einsum
are forbidden here: see README.md.

Every function keeps its input's device and never modifies its input. pairwise_sq_distances,
normalize_rows and batched_outer take float32 or float64 tensors, return the same dtype and
must be differentiable with autograd (gradients are checked too).
"""
from __future__ import annotations

import torch
from torch import Tensor


def one_hot(labels: Tensor, num_classes: int) -> Tensor:
    """One-hot encode integer class labels.

    labels: (...) int64, any number of dims (0-d included), values in [0, num_classes)
    returns: (..., num_classes) float32 on labels' device; out[..., c] is 1.0 where
        labels == c and 0.0 elsewhere
    raises ValueError if any label is < 0 or >= num_classes
    """
    raise NotImplementedError("one_hot: compare labels[..., None] with the class indices, "
                              "as float32; ValueError for a label outside [0, num_classes)")


def pairwise_sq_distances(x: Tensor, y: Tensor) -> Tensor:
    """Squared Euclidean distance between every row of x and every row of y.

    x: (N, D), y: (M, D)  ->  (N, M) with out[i, j] = sum_d (x[i, d] - y[j, d]) ** 2
    Never negative, not even by a rounding error.
    """
    raise NotImplementedError("pairwise_sq_distances: broadcast x (N, 1, D) against y (1, M, D), "
                              "or expand ||x||^2 + ||y||^2 - 2 x @ y.T and keep it >= 0")


def normalize_rows(x: Tensor, eps: float = 1e-12) -> Tensor:
    """Scale every row of x to unit L2 norm.

    x: (N, D)  ->  (N, D) with out[i] = x[i] / max(||x[i]||_2, eps)
    A zero row comes back as a zero row (never nan).
    """
    raise NotImplementedError("normalize_rows: divide each row by its L2 norm, "
                              "never by less than eps")


def batched_outer(a: Tensor, b: Tensor) -> Tensor:
    """One outer product per batch entry.

    a: (B, N), b: (B, M)  ->  (B, N, M) with out[k, i, j] = a[k, i] * b[k, j]
    """
    raise NotImplementedError("batched_outer: broadcast a (B, N, 1) against b (B, 1, M)")
