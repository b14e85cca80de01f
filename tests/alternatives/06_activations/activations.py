"""Activation functions: a correct solution written unlike the reference.

sigmoid through logaddexp, tanh from sigmoid, softmax as exp(log_softmax) with a detached
shift, gelu's erf form through erfc and its tanh form as x * sigmoid(2u).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor


def relu(x: Tensor) -> Tensor:
    return x.clamp_min(0)


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + e^-x) = exp(-log(1 + e^-x)), with log(1 + e^-x) = logaddexp(0, -x) (stable)."""
    return torch.exp(-torch.logaddexp(torch.zeros_like(x), -x))


def tanh(x: Tensor) -> Tensor:
    """tanh(x) = 2 sigmoid(2x) - 1."""
    return 2 * sigmoid(2 * x) - 1


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """x - logsumexp(x), the max shift detached (the result does not depend on it)."""
    if x.numel() == 0:
        return x * 1  # nothing to reduce
    m = torch.max(x, dim=dim, keepdim=True).values.detach()
    return x - m - torch.log(torch.sum(torch.exp(x - m), dim=dim, keepdim=True))


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    return torch.exp(log_softmax(x, dim=dim))


def _gelu_erf(x: Tensor) -> Tensor:
    # Phi(x) = erfc(-x / sqrt 2) / 2: no cancellation for negative x.
    return x * 0.5 * torch.erfc(-x * (1 / math.sqrt(2.0)))


def _gelu_tanh(x: Tensor) -> Tensor:
    # 0.5 (1 + tanh(u)) = sigmoid(2u)
    u = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))
    return x * sigmoid(2 * u)


_GELU = {"none": _gelu_erf, "tanh": _gelu_tanh}


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    if approximate not in _GELU:
        raise ValueError(f"approximate must be one of {sorted(_GELU)}, got {approximate!r}")
    return _GELU[approximate](x)
