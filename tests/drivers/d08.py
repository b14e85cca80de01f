"""Scenario drivers for kata 08_manual_backprop: run the solution, return plain data.

Every driver takes the solution's module first (kata.run passes it).
"""
from __future__ import annotations

import torch


def saved_tensor_count(mod, x, y, w1, b1, w2, b2):
    """Call mlp_forward_backward under a saved-tensors hook; count the tensors autograd saved.

    Autograd saves tensors for its backward pass whenever an op records a graph node (matmul
    saves its inputs, relu its output, ...). A solution computing its gradients by hand on
    inputs that do not require grad records no node, so the count is 0. One that switches
    requires_grad on to use autograd (torch.autograd.functional, torch.func, ...) records
    nodes and is counted (or, for torch.func, refused by torch under the hook).
    """
    count = [0]

    def pack(t):
        count[0] += 1
        return t

    def unpack(t):
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
        loss, grads = mod.mlp_forward_backward(x, y, w1, b1, w2, b2)
    return {"saved": count[0], "loss": loss.detach().clone(),
            "grads": {k: v.detach().clone() for k, v in grads.items()}}
