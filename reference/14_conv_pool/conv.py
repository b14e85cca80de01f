"""Kata 14 · Convolution and pooling from scratch (reference solution).

Every operation is a loop over the kernel offsets (at most kH * kW iterations of whole-tensor
work): offset (i, j) of the kernel sees the strided slice of the padded input that starts at
(i * dilation_h, j * dilation_w). Autograd differentiates slicing, padding, einsum and
max/sum, so gradients come for free.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def _pair(value, name: str) -> tuple[int, int]:
    """An int or a 2-sequence of ints as (height, width)."""
    if isinstance(value, int):
        return value, value
    pair = tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) for v in pair):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return pair


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length of a convolution or pooling along one dimension."""
    span = dilation * (kernel - 1) + 1  # the extent of the dilated kernel
    return (size + 2 * padding - span) // stride + 1


def _windows(xp: Tensor, kernel, stride, dilation, out_size):
    """Yield ((i, j), view): the strided slice of XP (..., Hp, Wp) seen by kernel offset (i, j)."""
    (kH, kW), (sH, sW), (dH, dW), (oH, oW) = kernel, stride, dilation, out_size
    for i in range(kH):
        for j in range(kW):
            top, left = i * dH, j * dW
            yield (i, j), xp[..., top: top + sH * (oH - 1) + 1: sH, left: left + sW * (oW - 1) + 1: sW]


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """2-D cross-correlation, as F.conv2d: (N, C, H, W) * (O, C // groups, kH, kW) -> (N, O, H', W')."""
    stride, padding, dilation = _pair(stride, "stride"), _pair(padding, "padding"), _pair(dilation, "dilation")
    N, C, H, W = x.shape
    O, C_g, kH, kW = weight.shape
    if groups < 1 or C != C_g * groups or O % groups != 0:
        raise ValueError(f"conv2d: input has {C} channels and weight {tuple(weight.shape)} with groups={groups}; "
                         f"need C == weight.shape[1] * groups and O divisible by groups")
    pH, pW = padding
    xp = F.pad(x, (pW, pW, pH, pH))  # zeros on both sides of W, then of H
    Hp, Wp = xp.shape[-2:]
    oH = (Hp - dilation[0] * (kH - 1) - 1) // stride[0] + 1
    oW = (Wp - dilation[1] * (kW - 1) - 1) // stride[1] + 1
    if oH < 1 or oW < 1:
        raise ValueError(f"conv2d: kernel {(kH, kW)} with dilation {dilation} is larger than the padded input {(Hp, Wp)}")
    G = groups
    xg = xp.reshape(N, G, C_g, Hp, Wp)                 # (N, G, C/G, Hp, Wp)
    wg = weight.reshape(G, O // G, C_g, kH, kW)        # (G, O/G, C/G, kH, kW)
    out = None
    for (i, j), patch in _windows(xg, (kH, kW), stride, dilation, (oH, oW)):
        # patch: (N, G, C/G, oH, oW), w_ij: (G, O/G, C/G)
        w_ij = wg[..., i, j]
        term = torch.einsum("ngchw,goc->ngohw", patch, w_ij)
        out = term if out is None else out + term
    out = out.reshape(N, O, oH, oW)
    if bias is not None:
        out = out + bias.reshape(1, O, 1, 1)
    return out


def conv1d(x: Tensor, weight: Tensor, bias=None, stride: int = 1, padding: int = 0, dilation: int = 1,
           groups: int = 1) -> Tensor:
    """1-D cross-correlation, as F.conv1d: a conv2d over a height-1 image."""
    out = conv2d(x.unsqueeze(2), weight.unsqueeze(2), bias, stride=(1, stride), padding=(0, padding),
                 dilation=(1, dilation), groups=groups)
    return out.squeeze(2)


def _pool_args(kernel_size, stride, padding):
    kernel = _pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else _pair(stride, "stride")
    padding = _pair(padding, "padding")
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise ValueError(f"padding {padding} must be at most half of kernel_size {kernel}")
    return kernel, stride, padding


def _pool(x: Tensor, kernel_size, stride, padding, pad_value: float, reduce):
    kernel, stride, (pH, pW) = _pool_args(kernel_size, stride, padding)
    xp = F.pad(x, (pW, pW, pH, pH), value=pad_value)
    oH = conv_output_size(x.shape[-2], kernel[0], stride[0], pH)
    oW = conv_output_size(x.shape[-1], kernel[1], stride[1], pW)
    views = [view for _, view in _windows(xp, kernel, stride, (1, 1), (oH, oW))]
    return reduce(torch.stack(views, dim=-1))  # (N, C, oH, oW, kH * kW) -> (N, C, oH, oW)


def max_pool2d(x: Tensor, kernel_size, stride=None, padding=0) -> Tensor:
    """Window maxima, as F.max_pool2d: padding counts as -inf, stride defaults to kernel_size."""
    return _pool(x, kernel_size, stride, padding, -math.inf, lambda w: w.amax(dim=-1))


def sum_pool2d(x, kernel_size, stride=None, padding=0) -> Tensor:
    """Window sums (zero padding), stride defaults to kernel_size."""
    return _pool(x, kernel_size, stride, padding, 0.0, lambda w: w.sum(dim=-1))


def avg_pool2d(x, kernel_size, stride=None, padding=0) -> Tensor:
    """Window means, as F.avg_pool2d(count_include_pad=True): every window divides by kH * kW."""
    kH, kW = _pair(kernel_size, "kernel_size")
    return sum_pool2d(x, kernel_size, stride, padding) / (kH * kW)
