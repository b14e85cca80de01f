"""Kata 08 · Backpropagation by hand.

Compute the loss of a one-hidden-layer ReLU network and the gradients of that loss with
respect to every parameter, with the chain rule written out in tensor ops. Autograd is
forbidden here (`.backward()`, `torch.autograd.grad`, `torch.func.grad`, ...): see README.md.

    z      = x @ w1 + b1            # (N, H)  pre-activation
    h      = relu(z)                # (N, H)
    logits = h @ w2 + b2            # (N, C)
    loss   = mean over the batch of -log softmax(logits)[i, y[i]]   # ()
"""
from __future__ import annotations

import torch
from torch import Tensor


def mlp_forward_backward(x: Tensor, y: Tensor, w1: Tensor, b1: Tensor, w2: Tensor,
                         b2: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
    """Forward and backward pass of relu(x @ w1 + b1) @ w2 + b2 under mean cross-entropy.

    x:  (N, D) float32 or float64      inputs
    y:  (N,)   int64                   class indices in [0, C)
    w1: (D, H)   b1: (H,)              hidden layer
    w2: (H, C)   b2: (C,)              output layer
    ->  (loss, grads): loss a 0-d tensor, grads = {'w1': (D, H), 'b1': (H,), 'w2': (H, C), 'b2': (C,)},
        d loss / d parameter, equal to what autograd would give; all in the inputs' dtype and device.
    """
    raise NotImplementedError("mlp_forward_backward: run the forward pass keeping z and h, then apply the "
                              "chain rule backwards: d loss/d logits = (softmax(logits) - one_hot(y)) / N")
