"""Kata 03 · Autograd: gradients, vector-Jacobian products, custom Functions (reference)."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def grad_of(f: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """Gradient of the scalar f at x, shaped like x; x untouched, result detached."""
    # enable_grad: the caller may be inside torch.no_grad(). A detached leaf of our own keeps
    # the caller's x as it was: no .grad written, requires_grad unchanged.
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(f(x), x)
    return g.detach()


def vjp(f: Callable[[Tensor], Tensor], x: Tensor, v: Tensor) -> Tensor:
    """v^T J_f(x): back-propagate v (shaped like f(x)) to x."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        y = f(x)
        (g,) = torch.autograd.grad(y, x, grad_outputs=v)
    return g.detach()


def hvp(f: Callable[[Tensor], Tensor], x: Tensor, v: Tensor) -> Tensor:
    """H_f(x) v by double backward: the gradient of <grad f(x), v> with respect to x."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        # allow_unused below: f may be linear in x and still have a gradient that requires grad
        # through something else (a weight f closes over): that gradient does not depend on x,
        # so H v is zero, not an error.
        (g,) = torch.autograd.grad(f(x), x, create_graph=True)
        if not g.requires_grad:  # f is linear in x: its gradient is constant, its Hessian zero
            return torch.zeros_like(x)
        (hv,) = torch.autograd.grad(g, x, grad_outputs=v, allow_unused=True)
    return torch.zeros_like(x) if hv is None else hv.detach()


class LogSumExp(torch.autograd.Function):
    """log(sum(exp(x), dim)), keepdim=False, stable, with an analytic (softmax) backward."""

    @staticmethod
    def forward(ctx, x: Tensor, dim: int) -> Tensor:
        # exp(x - m) <= 1: no overflow, and the sum is >= 1: no log(0). An empty dim has no max:
        # the sum over it is 0 and its log -inf, as torch.logsumexp gives.
        m = x.amax(dim=dim, keepdim=True) if x.numel() > 0 else x.sum(dim=dim, keepdim=True)
        out = (m + torch.log(torch.exp(x - m).sum(dim=dim, keepdim=True))).squeeze(dim)
        ctx.dim = dim
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, grad_output: Tensor):
        x, out = ctx.saved_tensors
        # softmax(x) = exp(x - logsumexp(x)), from differentiable ops on the saved tensors, so
        # that autograd can differentiate this backward again (double backward).
        softmax = torch.exp(x - out.unsqueeze(ctx.dim))
        return grad_output.unsqueeze(ctx.dim) * softmax, None


def logsumexp(x: Tensor, dim: int) -> Tensor:
    return LogSumExp.apply(x, dim)


class StraightThroughRound(torch.autograd.Function):
    """round(x) forward; the identity's gradient backward (straight-through estimator)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> Tensor:
        return grad_output
