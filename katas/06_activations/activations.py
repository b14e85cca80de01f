"""Kata 06 · Activation functions, numerically stable.

Implement each function with elementwise tensor ops (torch.exp, torch.log, torch.expm1,
torch.erf, torch.where, reductions ...). torch's own relu / sigmoid / tanh / softmax /
log_softmax / gelu / logsumexp are forbidden here: see README.md.

Every function keeps the input's shape, dtype and device, never modifies its input, and
must be differentiable with autograd (gradients are checked too).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor


def relu(x: Tensor) -> Tensor:
    """max(x, 0) elementwise.

    x: (...) float32 or float64  ->  (...) same dtype and device
    """
    raise NotImplementedError("relu: return x where x > 0 and 0 elsewhere")


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + exp(-x)) elementwise.

    x: (...)  ->  (...) in [0, 1]
    Must be finite, and exact to the dtype's tolerance, for |x| up to 1e4, in the forward
    pass AND in the gradient (float32 included).
    """
    raise NotImplementedError("sigmoid: compute 1 / (1 + exp(-x)) without ever exponentiating a large positive number")


def tanh(x: Tensor) -> Tensor:
    """(exp(x) - exp(-x)) / (exp(x) + exp(-x)) elementwise.

    x: (...)  ->  (...) in [-1, 1]; finite (values and gradient) for |x| up to 1e4
    """
    raise NotImplementedError("tanh: compute it from exponentials that cannot overflow")


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """exp(x) / exp(x).sum(dim) along DIM.

    x: (...)  ->  (...) non-negative, summing to 1 along DIM
    dim may be negative (-1 is the last dim). Stable for |x| up to 1e4.
    """
    raise NotImplementedError("softmax: exponentiate and normalise along dim, stably")


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """log(softmax(x, dim)), computed so that it is never -inf for finite x.

    x: (...)  ->  (...) <= 0
    """
    raise NotImplementedError("log_softmax: x minus the log-sum-exp of x along dim, computed stably")


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian Error Linear Unit, x * Phi(x), as torch.nn.functional.gelu.

    x: (...)  ->  (...)
    approximate='none': the exact form, with the standard normal CDF Phi(x) = (1 + erf(x / sqrt(2))) / 2
    approximate='tanh': 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))
    any other value: raise ValueError
    """
    raise NotImplementedError("gelu: the erf form for 'none', the tanh form for 'tanh', ValueError otherwise")
