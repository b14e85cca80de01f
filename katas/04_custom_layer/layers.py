"""Kata 04 · Custom layers with nn.Parameter.

Write two layers from scratch, as subclasses of nn.Module, that are drop-in replacements for
nn.Linear and nn.LayerNorm: same parameter names and shapes (so state_dicts load both ways),
same initialisation, same outputs. torch.nn.Linear, torch.nn.functional.linear, torch.addmm,
torch.nn.LayerNorm and torch.nn.functional.layer_norm are forbidden here: see README.md.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class CustomLinear(nn.Module):
    """y = x @ weight.T + bias, a drop-in replacement for nn.Linear.

    Parameters (registered, so they appear in .parameters() and the state_dict):
        weight  (out_features, in_features)
        bias    (out_features,)            -- with bias=False: self.bias is None and not registered
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        raise NotImplementedError("CustomLinear.__init__: register weight (out, in) and bias (out) as "
                                  "nn.Parameter (bias None when bias=False), then call reset_parameters()")

    def reset_parameters(self) -> None:
        """Redraw weight and bias in place, as nn.Linear does.

        weight: kaiming_uniform_ with a=sqrt(5);  bias: U(-1/sqrt(in_features), 1/sqrt(in_features))
        """
        raise NotImplementedError("reset_parameters: kaiming_uniform_(weight, a=sqrt(5)), bias uniform in "
                                  "+-1/sqrt(in_features), both in place")

    def forward(self, x: Tensor) -> Tensor:
        """x: (..., in_features)  ->  (..., out_features)"""
        raise NotImplementedError("CustomLinear.forward: x @ weight.T, plus bias when there is one")


class LayerNorm(nn.Module):
    """Layer normalisation over the trailing `normalized_shape` dims, as nn.LayerNorm.

    y = (x - mean) / sqrt(var + eps) * weight + bias, where mean and the biased variance
    (divide by N) are taken per sample over the last len(normalized_shape) dims.

    Parameters (only when elementwise_affine=True; otherwise none):
        weight  normalized_shape, initialised to ones
        bias    normalized_shape, initialised to zeros
    """

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float = 1e-5, elementwise_affine: bool = True):
        super().__init__()
        raise NotImplementedError("LayerNorm.__init__: store the shape as a tuple and eps; register weight "
                                  "(ones) and bias (zeros) of that shape when elementwise_affine")

    def forward(self, x: Tensor) -> Tensor:
        """x: (..., *normalized_shape)  ->  same shape, dtype and device"""
        raise NotImplementedError("LayerNorm.forward: normalise over the trailing dims (biased variance, + eps), "
                                  "then scale by weight and shift by bias")
