"""Reference solution for kata 10 · Optimizers: SGD with momentum, Adam, AdamW, RMSprop.

Each optimizer follows torch.optim's single-tensor algorithm: hyperparameters come from the
param group, per-parameter state lives in self.state[p] (so state_dict round-trips), and a
parameter without a gradient is skipped entirely.
"""
from __future__ import annotations

import torch
from torch.optim import Optimizer


def _with_grads(group):
    """(p, grad) for each parameter of GROUP that has a gradient; the others are skipped."""
    for p in group["params"]:
        if p.grad is None:
            continue
        yield p, p.grad


def _evaluate(closure):
    """The closure's loss, computed with gradients enabled (step itself runs under no_grad)."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


class SGD(Optimizer):
    """SGD with momentum, dampening, weight decay and Nesterov momentum, as torch.optim.SGD."""

    def __init__(self, params, lr: float, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = _evaluate(closure)
        for group in self.param_groups:
            lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
            weight_decay, nesterov = group["weight_decay"], group["nesterov"]
            for p, grad in _with_grads(group):
                d_p = grad.add(p, alpha=weight_decay)           # L2 penalty, out of place: .grad stays as is
                if momentum != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = d_p.clone()                       # the first step takes the gradient, undamped
                        state["momentum_buffer"] = buf
                    else:
                        buf.mul_(momentum).add_(d_p, alpha=1 - dampening)
                    d_p = d_p.add(buf, alpha=momentum) if nesterov else buf
                p.add_(d_p, alpha=-lr)
        return loss


def _adam_step(optimizer: Optimizer, decoupled: bool) -> None:
    """One Adam (decoupled=False) or AdamW (decoupled=True) update of every parameter."""
    for group in optimizer.param_groups:
        lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        for p, grad in _with_grads(group):
            if weight_decay != 0:
                if decoupled:
                    p.mul_(1 - lr * weight_decay)               # AdamW: shrink the weights directly
                else:
                    grad = grad.add(p, alpha=weight_decay)      # Adam: the L2 penalty joins the gradient
            state = optimizer.state[p]
            if not state:
                state["step"] = 0
                state["exp_avg"] = torch.zeros_like(p)
                state["exp_avg_sq"] = torch.zeros_like(p)
            state["step"] += 1
            t = state["step"]                                   # per parameter: skipped steps do not count
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m.mul_(beta1).add_(grad, alpha=1 - beta1)
            v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            m_hat = m / (1 - beta1 ** t)
            v_hat = v / (1 - beta2 ** t)
            p.sub_(lr * m_hat / (v_hat.sqrt() + eps))


class Adam(Optimizer):
    """Adam with L2 weight decay, as torch.optim.Adam (amsgrad=False)."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = _evaluate(closure)
        _adam_step(self, decoupled=False)
        return loss


class AdamW(Optimizer):
    """Adam with decoupled weight decay, as torch.optim.AdamW (amsgrad=False)."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = _evaluate(closure)
        _adam_step(self, decoupled=True)
        return loss


class RMSprop(Optimizer):
    """RMSprop, as torch.optim.RMSprop with centered=False."""

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum))

    @torch.no_grad()
    def step(self, closure=None):
        loss = _evaluate(closure)
        for group in self.param_groups:
            lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
            weight_decay, momentum = group["weight_decay"], group["momentum"]
            for p, grad in _with_grads(group):
                if weight_decay != 0:
                    grad = grad.add(p, alpha=weight_decay)
                state = self.state[p]
                if not state:
                    state["square_avg"] = torch.zeros_like(p)
                square_avg = state["square_avg"]
                square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
                avg = square_avg.sqrt() + eps
                if momentum > 0:
                    buf = state.setdefault("momentum_buffer", torch.zeros_like(p))
                    buf.mul_(momentum).add_(grad / avg)
                    p.add_(buf, alpha=-lr)
                else:
                    p.add_(grad / avg, alpha=-lr)
        return loss
