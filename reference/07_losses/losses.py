"""Loss functions from scratch (reference solution)."""
from __future__ import annotations

import torch
from torch import Tensor

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _reduce(loss: Tensor, reduction: str, count: Tensor | None = None) -> Tensor:
    """Reduce elementwise LOSS; the mean divides by COUNT when given (else by numel)."""
    _check_reduction(reduction)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.mean() if count is None else loss.sum() / count


def _log_sigmoid(x: Tensor) -> Tensor:
    """log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)), finite for every finite x."""
    # |x| and min(x, 0) through torch.where, so that the gradient at x = 0 is exact (1/2).
    neg_abs = torch.where(x >= 0, -x, x)
    min_x0 = torch.where(x >= 0, torch.zeros_like(x), x)
    return min_x0 - torch.log1p(torch.exp(neg_abs))


def mse_loss(pred: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """(pred - target)^2, reduced.  # pred, target: (...) -> () or (...)"""
    _check_reduction(reduction)
    return _reduce((pred - target) ** 2, reduction)


def huber_loss(pred: Tensor, target: Tensor, delta: float = 1.0, reduction: str = "mean") -> Tensor:
    """0.5 d^2 where |d| < delta, delta * (|d| - delta / 2) elsewhere; d = pred - target."""
    _check_reduction(reduction)
    diff = pred - target
    abs_diff = diff.abs()
    loss = torch.where(abs_diff < delta, 0.5 * diff * diff, delta * (abs_diff - 0.5 * delta))
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(logits: Tensor, target: Tensor, pos_weight: Tensor | None = None,
                                     reduction: str = "mean") -> Tensor:
    """-(pos_weight * y * log sigmoid(x) + (1 - y) * log(1 - sigmoid(x))), reduced.

    logits, target: (...); pos_weight broadcasts against target (typically (C,) for (..., C)).
    """
    _check_reduction(reduction)
    log_p = _log_sigmoid(logits)  # log sigmoid(x)
    log_not_p = _log_sigmoid(-logits)  # log(1 - sigmoid(x)) = log sigmoid(-x)
    pos = target * log_p if pos_weight is None else pos_weight * target * log_p
    loss = -(pos + (1 - target) * log_not_p)
    return _reduce(loss, reduction)


def cross_entropy(logits: Tensor, target: Tensor, ignore_index: int = -100, label_smoothing: float = 0.0,
                  reduction: str = "mean") -> Tensor:
    """Cross-entropy with class-index targets, as F.cross_entropy.

    logits: (N, C) or (N, C, d1, ...); target: (N,) or (N, d1, ...) int64.
    Returns () for 'mean' / 'sum', (N,) or (N, d1, ...) for 'none'.
    """
    _check_reduction(reduction)
    num_classes = logits.shape[1]
    shifted = logits - logits.amax(dim=1, keepdim=True)
    log_probs = shifted - torch.log(torch.exp(shifted).sum(dim=1, keepdim=True))  # (N, C, ...)
    valid = target != ignore_index  # (N, ...)
    safe_target = torch.where(valid, target, torch.zeros_like(target))  # any index: masked below
    nll = -log_probs.gather(1, safe_target.unsqueeze(1)).squeeze(1)  # (N, ...)
    # Label smoothing: the target distribution is (1 - eps) one-hot + eps / C on every class.
    smooth = -log_probs.sum(dim=1) / num_classes  # (N, ...)
    loss = (1 - label_smoothing) * nll + label_smoothing * smooth
    loss = torch.where(valid, loss, torch.zeros_like(loss))
    return _reduce(loss, reduction, count=valid.sum())
