"""Tensor basics and broadcasting (reference solution)."""
from __future__ import annotations

import torch
from torch import Tensor


def one_hot(labels: Tensor, num_classes: int) -> Tensor:
    """float32 one-hot encoding along a new last dim.  # (...) int64 -> (..., num_classes)"""
    if bool(((labels < 0) | (labels >= num_classes)).any()):
        raise ValueError(f"one_hot: every label must lie in [0, {num_classes}); "
                         f"got values in [{int(labels.min())}, {int(labels.max())}]")
    classes = torch.arange(num_classes, device=labels.device)  # (C,)
    return (labels.unsqueeze(-1) == classes).to(dtype=torch.float32)  # (..., 1) == (C,) -> (..., C)


def pairwise_sq_distances(x: Tensor, y: Tensor) -> Tensor:
    """||x_i - y_j||^2 for every pair, via ||x||^2 + ||y||^2 - 2 x.y.  # (N, D), (M, D) -> (N, M)"""
    x_sq = (x * x).sum(dim=1, keepdim=True)  # (N, 1)
    y_sq = (y * y).sum(dim=1).unsqueeze(0)  # (1, M)
    d = x_sq + y_sq - 2.0 * (x @ y.T)  # (N, M)
    # The expansion cancels for nearby points and can round below zero: clamp it back.
    return d.clamp_min(0.0)


def normalize_rows(x: Tensor, eps: float = 1e-12) -> Tensor:
    """x / max(||x_i||_2, eps) row by row.  # (N, D) -> (N, D)"""
    norms = torch.linalg.vector_norm(x, dim=1, keepdim=True)  # (N, 1)
    return x / norms.clamp_min(eps)


def batched_outer(a: Tensor, b: Tensor) -> Tensor:
    """out[k, i, j] = a[k, i] * b[k, j].  # (B, N), (B, M) -> (B, N, M)"""
    return a.unsqueeze(2) * b.unsqueeze(1)  # (B, N, 1) * (B, 1, M)
