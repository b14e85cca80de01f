"""Custom layers with nn.Parameter: a correct alternative to the reference (for the suite's
self-check). Written differently on purpose: the bound drawn directly with uniform_, einsum for
the product, LayerNorm over the normalised dims flattened into one, rsqrt and a mean of squares.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class CustomLinear(nn.Module):
    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.zeros(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # kaiming_uniform_(a=sqrt(5)): gain sqrt(2 / (1 + 5)), bound gain * sqrt(3 / fan_in) = 1 / sqrt(fan_in)
        bound = 1.0 / math.sqrt(self.weight.shape[1]) if self.weight.shape[1] else 0.0
        with torch.no_grad():
            self.weight.uniform_(-bound, bound)
            if self.bias is not None:
                self.bias.uniform_(-bound, bound)

    def forward(self, x):
        out = torch.einsum("...i,oi->...o", x, self.weight)
        return out if self.bias is None else out + self.bias


class LayerNorm(nn.Module):
    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape = shape
        self.eps = eps
        if elementwise_affine:
            self.weight = nn.Parameter(torch.ones(shape))
            self.bias = nn.Parameter(torch.zeros(shape))
        else:
            self.weight = None
            self.bias = None

    def forward(self, x):
        k = len(self.normalized_shape)
        flat = x.flatten(start_dim=x.dim() - k) if k > 1 else x
        centred = flat - flat.mean(dim=-1, keepdim=True)
        scale = torch.rsqrt(centred.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        out = (centred * scale).reshape(x.shape)
        if self.weight is not None:
            out = torch.addcmul(self.bias, out, self.weight)
        return out
