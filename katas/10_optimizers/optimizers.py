"""Kata 10 · Optimizers: SGD with momentum, Adam, AdamW, RMSprop.

Write four torch.optim.Optimizer subclasses that follow exactly the same trajectory as
torch's own optimizers. torch.optim.SGD / Adam / AdamW / RMSprop and their functional forms
(torch.optim._functional.*, torch.optim.sgd.sgd, ...) are forbidden here: see README.md.

The pattern every optimizer follows:

    class MyOptimizer(Optimizer):
        def __init__(self, params, lr, ...):
            super().__init__(params, dict(lr=lr, ...))   # builds self.param_groups, self.state

        @torch.no_grad()
        def step(self, closure=None):
            ...                                          # read hyperparameters from each group,
                                                         # per-parameter state from self.state[p]

For every optimizer:
- hyperparameters are read from each param group (groups may override the defaults);
- a parameter whose .grad is None is skipped: it is not changed and its state does not advance;
- per-parameter state (momentum buffers, moments, step counts) lives in self.state[p], so
  that state_dict() / load_state_dict() (inherited from Optimizer) round-trip;
- parameters are updated in place, keep their dtype (float32 or float64), device and shape,
  and .grad is only read, never modified;
- step(closure) calls the closure once (with gradients enabled) before updating and returns
  its loss; step() returns None.
"""
from __future__ import annotations

import torch
from torch.optim import Optimizer


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening, weight decay and Nesterov.

    For each parameter p with gradient g (tensors of p's shape):
        g = g + weight_decay * p
        if momentum != 0:
            buf = g                                  on the first step (no dampening)
            buf = momentum * buf + (1 - dampening) * g   afterwards
            g = g + momentum * buf  if nesterov else  buf
        p = p - lr * g
    """

    def __init__(self, params, lr: float, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        raise NotImplementedError(
            "SGD.__init__: collect the hyperparameters in a defaults dict and call "
            "super().__init__(params, defaults)")

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns the closure's loss (or None)."""
        raise NotImplementedError(
            "SGD.step: for each group and each parameter with a grad, apply weight decay, "
            "momentum (buffer in self.state[p]) and the update p -= lr * g")


class Adam(Optimizer):
    """Adam (Kingma & Ba), with weight decay added to the gradient (L2), as torch.optim.Adam.

    For each parameter p with gradient g, t = this parameter's step count (1, 2, ...):
        g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g              m, v start at zeros, shaped like p
        v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1 ** t);  v_hat = v / (1 - beta2 ** t)
        p = p - lr * m_hat / (sqrt(v_hat) + eps)
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        raise NotImplementedError(
            "Adam.__init__: collect lr, betas, eps and weight_decay in a defaults dict and call "
            "super().__init__(params, defaults)")

    @torch.no_grad()
    def step(self, closure=None):
        """One Adam update of every parameter that has a gradient; returns the closure's loss (or None)."""
        raise NotImplementedError(
            "Adam.step: update the moments m and v in self.state[p], bias-correct them with the "
            "parameter's own step count, then p -= lr * m_hat / (sqrt(v_hat) + eps)")


class AdamW(Optimizer):
    """AdamW (Loshchilov & Hutter): Adam with decoupled weight decay, as torch.optim.AdamW.

    As Adam without the L2 term in the gradient; instead, before the Adam update,
        p = p * (1 - lr * weight_decay)
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2):
        raise NotImplementedError(
            "AdamW.__init__: collect lr, betas, eps and weight_decay in a defaults dict and call "
            "super().__init__(params, defaults)")

    @torch.no_grad()
    def step(self, closure=None):
        """One AdamW update of every parameter that has a gradient; returns the closure's loss (or None)."""
        raise NotImplementedError(
            "AdamW.step: shrink p by (1 - lr * weight_decay), then the Adam update with the raw gradient")


class RMSprop(Optimizer):
    """RMSprop (Hinton), as torch.optim.RMSprop with centered=False.

    For each parameter p with gradient g:
        g = g + weight_decay * p
        s = alpha * s + (1 - alpha) * g * g          s starts at zeros, shaped like p
        avg = sqrt(s) + eps
        if momentum > 0:
            buf = momentum * buf + g / avg           buf starts at zeros
            p = p - lr * buf
        else:
            p = p - lr * g / avg
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0):
        raise NotImplementedError(
            "RMSprop.__init__: collect lr, alpha, eps, weight_decay and momentum in a defaults dict "
            "and call super().__init__(params, defaults)")

    @torch.no_grad()
    def step(self, closure=None):
        """One RMSprop update of every parameter that has a gradient; returns the closure's loss (or None)."""
        raise NotImplementedError(
            "RMSprop.step: keep a running mean of g * g in self.state[p] and divide the gradient "
            "by its square root plus eps")
