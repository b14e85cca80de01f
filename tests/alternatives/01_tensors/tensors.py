"""Tensor basics and broadcasting: a correct solution written unlike the reference.

scatter_ into zeros for one_hot, the broadcast difference for the distances, rsqrt of the
clamped squared norm for normalize_rows, a batched matmul for the outer product.
"""
from __future__ import annotations

import torch
from torch import Tensor


def one_hot(labels: Tensor, num_classes: int) -> Tensor:
    """float32 one-hot encoding along a new last dim.  # (...) int64 -> (..., num_classes)"""
    if labels.numel() > 0 and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes})")
    out = torch.zeros(*labels.shape, num_classes, dtype=torch.float32, device=labels.device)
    return out.scatter_(-1, labels.unsqueeze(-1), 1.0)


def pairwise_sq_distances(x: Tensor, y: Tensor) -> Tensor:
    """sum_d (x_i - y_j)^2 from the broadcast difference: no cancellation, never negative."""
    diff = x.unsqueeze(1) - y.unsqueeze(0)  # (N, M, D)
    return (diff * diff).sum(dim=-1)


def normalize_rows(x: Tensor, eps: float = 1e-12) -> Tensor:
    """x / max(||x_i||, eps) = x * rsqrt(max(||x_i||^2, eps^2))."""
    sq = (x * x).sum(dim=1, keepdim=True)
    return x * torch.rsqrt(sq.clamp_min(eps * eps))


def batched_outer(a: Tensor, b: Tensor) -> Tensor:
    """A (N, 1) @ (1, M) matrix product per batch entry."""
    return torch.matmul(a[:, :, None], b[:, None, :])
