"""Activation functions, numerically stable (reference solution)."""
from __future__ import annotations

import math

import torch
from torch import Tensor

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_CUBIC = 0.044715


def relu(x: Tensor) -> Tensor:
    """max(x, 0) elementwise.  # (...) -> (...)"""
    return torch.where(x > 0, x, torch.zeros_like(x))


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + exp(-x)), never exponentiating a positive number.  # (...) -> (...)"""
    # z = exp(-|x|) lies in (0, 1]: no overflow in the forward pass nor in the backward
    # pass (an untaken branch of torch.where still back-propagates 0 * its own gradient).
    z = torch.exp(torch.where(x >= 0, -x, x))
    return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))


def tanh(x: Tensor) -> Tensor:
    """(e^x - e^-x) / (e^x + e^-x) = 2 * sigmoid(2x) - 1, finite for any finite x.  # (...) -> (...)"""
    # expm1 keeps the relative precision near 0, where 2 * sigmoid(2x) - 1 cancels.
    # |x| through torch.where, not x.abs(): abs has gradient 0 at 0, tanh has gradient 1.
    a = torch.where(x >= 0, x, -x)
    z = torch.expm1(-2 * a)  # in (-1, 0]
    t = -z / (2 + z)
    return torch.where(x >= 0, t, -t)


def _shifted(x: Tensor, dim: int) -> Tensor:
    """x minus its max along DIM: every exponent <= 0, so exp never overflows."""
    if x.numel() == 0:
        return x  # nothing to shift (amax refuses an empty dim); the result stays empty
    return x - x.amax(dim=dim, keepdim=True)


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along DIM, shifted by the max for stability.  # (...) -> (...)"""
    shifted = _shifted(x, dim)
    e = torch.exp(shifted)
    return e / e.sum(dim=dim, keepdim=True)


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """x - logsumexp(x) along DIM, computed from the shifted values.  # (...) -> (...)"""
    shifted = _shifted(x, dim)
    return shifted - torch.log(torch.exp(shifted).sum(dim=dim, keepdim=True))


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x): the exact erf form ('none') or the tanh approximation ('tanh').  # (...) -> (...)"""
    if approximate == "none":
        return 0.5 * x * (1 + torch.erf(x / math.sqrt(2.0)))
    if approximate == "tanh":
        inner = _SQRT_2_OVER_PI * (x + _GELU_CUBIC * x * x * x)
        return 0.5 * x * (1 + tanh(inner))
    raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
