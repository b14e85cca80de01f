"""Kata 07 · Loss functions from scratch.

Implement each loss with tensor ops; torch's own loss functions (F.mse_loss, F.cross_entropy,
nn.CrossEntropyLoss, ...) and log_softmax are forbidden here: see README.md.

Conventions for every function:
- inputs are float32 or float64 (targets of cross_entropy are int64 class indices); the
  result keeps the inputs' dtype and device; inputs are never modified in place;
- reduction='mean' -> a 0-d tensor, the mean of the elementwise losses
  reduction='sum'  -> a 0-d tensor, their sum
  reduction='none' -> the elementwise losses, unreduced
  any other reduction -> raise ValueError;
- results and gradients must match torch.nn.functional's loss of the same name.
"""
from __future__ import annotations

import torch
from torch import Tensor


def mse_loss(pred: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error: (pred - target)^2, reduced.

    pred, target: (...) same shape  ->  () or (...) for reduction='none'
    """
    raise NotImplementedError("mse_loss: square the difference, then apply the reduction")


def huber_loss(pred: Tensor, target: Tensor, delta: float = 1.0, reduction: str = "mean") -> Tensor:
    """Huber loss, as F.huber_loss: with d = pred - target,
    0.5 * d^2 where |d| < delta, delta * (|d| - 0.5 * delta) elsewhere; then reduced.

    pred, target: (...) same shape  ->  () or (...) for reduction='none'
    """
    raise NotImplementedError("huber_loss: quadratic inside |d| < delta, linear outside, then reduce")


def binary_cross_entropy_with_logits(logits: Tensor, target: Tensor, pos_weight: Tensor | None = None,
                                     reduction: str = "mean") -> Tensor:
    """Binary cross-entropy on logits, as F.binary_cross_entropy_with_logits:
    -(pos_weight * y * log(sigmoid(x)) + (1 - y) * log(1 - sigmoid(x))), then reduced.

    logits: (...)                   x, any real number; finite and exact for |x| up to 1e4
    target: (...) same shape        y in [0, 1] (soft targets allowed)
    pos_weight: None or a tensor broadcasting against target, typically (C,) for target (..., C)
    ->  () or (...) for reduction='none'
    """
    raise NotImplementedError("binary_cross_entropy_with_logits: write log(sigmoid(x)) so it never overflows")


def cross_entropy(logits: Tensor, target: Tensor, ignore_index: int = -100, label_smoothing: float = 0.0,
                  reduction: str = "mean") -> Tensor:
    """Cross-entropy with class-index targets, as F.cross_entropy.

    logits: (N, C) or (N, C, d1, ...)       the class dim is dim 1
    target: (N,) or (N, d1, ...) int64      class indices in [0, C), or ignore_index
    ignore_index: targets equal to it contribute 0 and are left out of the mean
    label_smoothing: eps in [0, 1]; the target distribution is (1 - eps) * one_hot + eps / C
    ->  () or (N,) / (N, d1, ...) for reduction='none'
    'mean' divides the sum by the number of non-ignored targets.
    """
    raise NotImplementedError("cross_entropy: a stable log-softmax over dim 1, pick the target's entry, "
                              "mask ignored targets, smooth, reduce")
