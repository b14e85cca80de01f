"""Kata 14 · Convolution and pooling from scratch.

Write conv2d, conv1d and three 2-D poolings with plain tensor ops (F.pad, slicing,
unfold/as_strided, einsum, matmul, amax, sum ...). torch's own convolutions and poolings are
forbidden here: see README.md.

Conventions: inputs are float32 or float64 on any device; outputs keep dtype and device;
inputs are never modified in place; everything must be differentiable with autograd.
`stride`, `padding`, `dilation` and `kernel_size` accept an int (both sides) or a
(height, width) pair. Loops over kernel offsets are fine, loops over pixels are not.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Length of a convolution's output along one dimension of length SIZE.

    The dilated kernel spans dilation * (kernel - 1) + 1 positions; padding is added on both sides.
    """
    raise NotImplementedError("conv_output_size: count how many strided positions the dilated kernel fits "
                              "into size + 2 * padding")


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """2-D cross-correlation, exactly like F.conv2d (values and gradients).

    x:      (N, C, H, W)
    weight: (O, C // groups, kH, kW)   kH != kW allowed
    bias:   (O,) or None
    ->      (N, O, H', W') with H' = conv_output_size(H, kH, stride_h, padding_h, dilation_h), same for W'

    groups: the C input channels and the O output channels are split into `groups` equal
    blocks; output block g only sees input block g.
    """
    raise NotImplementedError("conv2d: zero-pad x, then for each kernel offset (i, j) take the strided slice "
                              "of x it sees and accumulate its product with weight[:, :, i, j]")


def conv1d(x: Tensor, weight: Tensor, bias=None, stride: int = 1, padding: int = 0, dilation: int = 1,
           groups: int = 1) -> Tensor:
    """1-D cross-correlation, exactly like F.conv1d.

    x: (N, C, L), weight: (O, C // groups, k), bias: (O,) or None  ->  (N, O, L')
    """
    raise NotImplementedError("conv1d: a 1-D convolution is a 2-D one over an image of height 1")


def max_pool2d(x: Tensor, kernel_size, stride=None, padding=0) -> Tensor:
    """Window maxima, like F.max_pool2d.

    x: (N, C, H, W)  ->  (N, C, H', W'); stride None means stride = kernel_size;
    padding (at most kernel_size // 2) counts as -inf, so it never wins a window.
    """
    raise NotImplementedError("max_pool2d: pad with -inf, gather every kernel offset's strided slice, take the max")


def avg_pool2d(x, kernel_size, stride=None, padding=0) -> Tensor:
    """Window means, like F.avg_pool2d(count_include_pad=True): every window divides by kH * kW.

    x: (N, C, H, W)  ->  (N, C, H', W'); stride None means stride = kernel_size; zero padding.
    """
    raise NotImplementedError("avg_pool2d: window sums divided by the kernel's area")


def sum_pool2d(x, kernel_size, stride=None, padding=0) -> Tensor:
    """Window sums (zero padding).

    x: (N, C, H, W)  ->  (N, C, H', W'); stride None means stride = kernel_size.
    """
    raise NotImplementedError("sum_pool2d: zero-pad, then add up every kernel offset's strided slice")
