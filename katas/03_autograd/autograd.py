"""Kata 03 · Autograd: gradients, vector-Jacobian products, custom Functions.

Fill in every function and both autograd.Functions. Build on torch.autograd.grad (or
.backward) and tensor ops; torch's ready-made transforms (torch.autograd.functional.*,
torch.func.grad / vjp), torch.logsumexp and torch's softmax are forbidden here: see README.md.

Conventions: x and v may be float32 or float64, on any device; results keep x's shape,
dtype and device. Nothing the caller passes in is modified: not its values, not its
requires_grad flag, not its .grad. Results are detached (they do not require grad).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def grad_of(f: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """Gradient of the scalar function f at x.

    f: (...) -> ()    a 0-d tensor
    x: (...)          returns (...), the same shape: d f / d x
    x is left untouched: no .grad written into it, x.requires_grad unchanged. Must also work
    when called inside torch.no_grad(). The result is detached.
    """
    raise NotImplementedError("grad_of: differentiate f at a detached copy of x that requires grad, "
                              "with torch.autograd.grad")


def vjp(f: Callable[[Tensor], Tensor], x: Tensor, v: Tensor) -> Tensor:
    """Vector-Jacobian product v^T J_f(x) for a tensor-valued f.

    f: (...) -> (*out)   any output shape, 0-d included
    x: (...)
    v: (*out)            shaped like f(x)
    returns (...)        shaped like x: sum over outputs of v[o] * d f(x)[o] / d x
    Same rules as grad_of: x and v untouched, works inside torch.no_grad(), result detached.
    """
    raise NotImplementedError("vjp: back-propagate v from f(x) to x (this is what y.backward(v) does)")


def hvp(f: Callable[[Tensor], Tensor], x: Tensor, v: Tensor) -> Tensor:
    """Hessian-vector product H_f(x) v for a scalar f.

    f: (...) -> ()
    x: (...)
    v: (...)             shaped like x
    returns (...)        shaped like x: sum_j d^2 f / dx_i dx_j * v_j
    f may be linear in x: its Hessian is then zero, and so is the result. Same rules as
    grad_of: x and v untouched, works inside torch.no_grad(), result detached.
    """
    raise NotImplementedError("hvp: differentiate the gradient of f once more, in the direction v "
                              "(the first gradient must itself be differentiable)")


class LogSumExp(torch.autograd.Function):
    """y = log(sum(exp(x), dim)) with dim removed (keepdim=False).

    forward(ctx, x: (...), dim: int) -> (...) without dim; dim may be negative.
        Finite and exact to the dtype's tolerance for |x| up to 1e4.
    backward(ctx, grad_output: shaped like y) -> (grad_x shaped like x, None for dim)
        Analytic: d y / d x = softmax(x) along dim. Written with differentiable torch ops on
        saved tensors so that autograd can differentiate it again (double backward).
    """

    @staticmethod
    def forward(ctx, x: Tensor, dim: int) -> Tensor:
        raise NotImplementedError("LogSumExp.forward: log-sum-exp along dim without overflow, "
                                  "and save what backward needs on ctx")

    @staticmethod
    def backward(ctx, grad_output: Tensor):
        raise NotImplementedError("LogSumExp.backward: grad_output times softmax(x) along dim; "
                                  "one gradient per forward input (None for dim)")


def logsumexp(x: Tensor, dim: int) -> Tensor:
    """LogSumExp.apply(x, dim).

    x: (...)  ->  (...) without dim
    """
    raise NotImplementedError("logsumexp: apply your LogSumExp Function to (x, dim)")


class StraightThroughRound(torch.autograd.Function):
    """Straight-through estimator for rounding.

    forward(ctx, x: (...)) -> (...) torch.round(x): nearest integer, halves to even; same dtype.
    backward(ctx, grad_output: (...)) -> (...) grad_output, unchanged (as if forward were the
        identity), where the true derivative of round would be 0 almost everywhere.
    """

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        raise NotImplementedError("StraightThroughRound.forward: round x to the nearest integer")

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> Tensor:
        raise NotImplementedError("StraightThroughRound.backward: pass the gradient straight through")
