"""Kata 08 · Backpropagation by hand (reference solution)."""
from __future__ import annotations

import torch
from torch import Tensor


def mlp_forward_backward(x: Tensor, y: Tensor, w1: Tensor, b1: Tensor, w2: Tensor,
                         b2: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
    """Mean cross-entropy of a one-hidden-layer ReLU MLP and its parameter gradients, by hand."""
    n = x.shape[0]

    # Forward, keeping what the backward pass needs.
    z = x @ w1 + b1  # (N, H) pre-activation
    h = z.clamp_min(0)  # (N, H) ReLU
    logits = h @ w2 + b2  # (N, C)
    shifted = logits - logits.amax(dim=1, keepdim=True)  # stable log-softmax
    log_probs = shifted - shifted.exp().sum(dim=1, keepdim=True).log()  # (N, C)
    loss = -log_probs.gather(1, y[:, None]).mean()  # ()

    # Backward: d loss / d logits = (softmax - one_hot) / N.
    probs = log_probs.exp()
    one_hot = torch.zeros_like(probs).scatter_(1, y[:, None], 1.0)
    dlogits = (probs - one_hot) / n  # (N, C)
    dw2 = h.T @ dlogits  # (H, C)
    db2 = dlogits.sum(dim=0)  # (C,)
    dh = dlogits @ w2.T  # (N, H)
    dz = dh * (z > 0)  # ReLU passes the gradient where the pre-activation is positive
    dw1 = x.T @ dz  # (D, H)
    db1 = dz.sum(dim=0)  # (H,)
    return loss, {"w1": dw1, "b1": db1, "w2": dw2, "b2": db2}
