"""A correct alternative for kata 10_optimizers, written unlike the reference: one base class
whose step() walks the groups and hands each (param, grad, group, state) to an `_update`
method; Adam in torch's own arrangement (step size lr / (1 - beta1^t), denominator
sqrt(v) / sqrt(1 - beta2^t) + eps, addcdiv_); state created lazily with setdefault."""
from __future__ import annotations

import math

import torch
from torch.optim import Optimizer


class _Base(Optimizer):
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        self._update(p, p.grad.detach(), group, self.state[p])
        return loss

    def _update(self, p, grad, group, state):  # pragma: no cover - overridden
        raise NotImplementedError


class SGD(_Base):
    def __init__(self, params, lr: float, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov})

    def _update(self, p, grad, group, state):
        g = grad + group["weight_decay"] * p if group["weight_decay"] else grad.clone()
        mu = group["momentum"]
        if mu:
            if "momentum_buffer" in state:
                buf = state["momentum_buffer"]
                buf.mul_(mu).add_(g, alpha=1 - group["dampening"])
            else:
                buf = state["momentum_buffer"] = g.clone()
            g = g + mu * buf if group["nesterov"] else buf
        p.sub_(group["lr"] * g)


class _AdamBase(_Base):
    decoupled = False

    def __init__(self, params, lr, betas, eps, weight_decay):
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay})

    def _update(self, p, grad, group, state):
        lr, wd, (b1, b2) = group["lr"], group["weight_decay"], group["betas"]
        if wd and self.decoupled:
            p.mul_(1 - lr * wd)
        elif wd:
            grad = grad + wd * p
        t = state["step"] = state.get("step", 0) + 1
        m = state.setdefault("exp_avg", torch.zeros_like(p))
        v = state.setdefault("exp_avg_sq", torch.zeros_like(p))
        m.lerp_(grad, 1 - b1)
        v.mul_(b2).add_(grad * grad * (1 - b2))
        denom = v.sqrt() / math.sqrt(1 - b2 ** t) + group["eps"]
        p.addcdiv_(m, denom, value=-lr / (1 - b1 ** t))


class Adam(_AdamBase):
    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, lr, betas, eps, weight_decay)


class AdamW(_AdamBase):
    decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)


class RMSprop(_Base):
    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0):
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay,
                                  "momentum": momentum})

    def _update(self, p, grad, group, state):
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * p
        sq = state.setdefault("square_avg", torch.zeros_like(p))
        sq.mul_(group["alpha"]).addcmul_(grad, grad, value=1 - group["alpha"])
        denom = sq.sqrt().add_(group["eps"])
        if group["momentum"] > 0:
            buf = state.setdefault("momentum_buffer", torch.zeros_like(p))
            buf.mul_(group["momentum"]).addcdiv_(grad, denom)
            p.sub_(group["lr"] * buf)
        else:
            p.addcdiv_(grad, denom, value=-group["lr"])
