"""Kata 07 · a correct alternative to the reference: logsigmoid / logsumexp, class dim moved last.

Written unlike the reference on purpose (verify runs it through the hidden suite): huber as a
clamp, bce through F.logsigmoid, cross-entropy on a flattened (M, C) view with logsumexp.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _reduced(loss: Tensor, reduction: str, denominator=None) -> Tensor:
    reducers = {
        "none": lambda: loss,
        "sum": lambda: loss.sum(),
        "mean": lambda: loss.mean() if denominator is None else loss.sum() / denominator,
    }
    if reduction not in reducers:
        raise ValueError(f"unknown reduction {reduction!r}; use one of {sorted(reducers)}")
    return reducers[reduction]()


def _validate(reduction: str) -> None:
    _reduced(torch.zeros(()), reduction)


def mse_loss(pred: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    _validate(reduction)
    return _reduced(torch.square(pred - target), reduction)


def huber_loss(pred: Tensor, target: Tensor, delta: float = 1.0, reduction: str = "mean") -> Tensor:
    _validate(reduction)
    err = (pred - target).abs()
    inner = err.clamp(max=delta)  # the quadratic part's extent
    # 0.5 * inner^2 + delta * (err - inner): quadratic up to delta, linear beyond
    return _reduced(0.5 * inner * inner + delta * (err - inner), reduction)


def binary_cross_entropy_with_logits(logits: Tensor, target: Tensor, pos_weight: Tensor | None = None,
                                     reduction: str = "mean") -> Tensor:
    _validate(reduction)
    weight = 1.0 if pos_weight is None else pos_weight
    loss = -(weight * target * F.logsigmoid(logits) + (1.0 - target) * F.logsigmoid(-logits))
    return _reduced(loss, reduction)


def cross_entropy(logits: Tensor, target: Tensor, ignore_index: int = -100, label_smoothing: float = 0.0,
                  reduction: str = "mean") -> Tensor:
    _validate(reduction)
    n_classes = logits.shape[1]
    rows = logits.movedim(1, -1).reshape(-1, n_classes)  # (M, C), M = N * d1 * ...
    labels = target.reshape(-1)
    keep = labels != ignore_index
    lse = torch.logsumexp(rows, dim=1)
    picked = rows.gather(1, torch.where(keep, labels, torch.zeros_like(labels))[:, None])[:, 0]
    nll = lse - picked
    uniform = lse - rows.mean(dim=1)  # cross-entropy against the uniform distribution
    per_item = torch.where(keep, (1.0 - label_smoothing) * nll + label_smoothing * uniform,
                           torch.zeros_like(nll)).reshape(target.shape)
    return _reduced(per_item, reduction, denominator=keep.sum())
