"""Kata 14 · a correct alternative to the reference: im2col with F.unfold (conv2d, pooling) and
Tensor.unfold (conv1d). Written unlike the reference on purpose (verify runs it through the suite).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _two(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    return int((size + 2 * padding - dilation * (kernel - 1) - 1) // stride) + 1


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    n, c, h, w = x.shape
    o, c_per_group, kh, kw = weight.shape
    if c != c_per_group * groups or o % groups:
        raise ValueError(f"{c} input channels do not fit weight {tuple(weight.shape)} with groups={groups}")
    (sh, sw), (ph, pw), (dh, dw) = _two(stride), _two(padding), _two(dilation)
    oh = conv_output_size(h, kh, sh, ph, dh)
    ow = conv_output_size(w, kw, sw, pw, dw)
    cols = F.unfold(x, (kh, kw), dilation=(dh, dw), padding=(ph, pw), stride=(sh, sw))  # (N, C*kh*kw, L)
    cols = cols.view(n, groups, c_per_group * kh * kw, oh * ow)
    kernels = weight.reshape(groups, o // groups, c_per_group * kh * kw)
    out = torch.matmul(kernels, cols)  # (N, G, O/G, L)
    out = out.reshape(n, o, oh, ow)
    return out if bias is None else out + bias[:, None, None]


def conv1d(x: Tensor, weight: Tensor, bias=None, stride: int = 1, padding: int = 0, dilation: int = 1,
           groups: int = 1) -> Tensor:
    n, c, _ = x.shape
    o, c_per_group, k = weight.shape
    if c != c_per_group * groups or o % groups:
        raise ValueError(f"{c} input channels do not fit weight {tuple(weight.shape)} with groups={groups}")
    span = dilation * (k - 1) + 1
    windows = F.pad(x, (padding, padding)).unfold(2, span, stride)[..., ::dilation]  # (N, C, L', k)
    windows = windows.reshape(n, groups, c_per_group, windows.shape[2], k)
    out = torch.einsum("ngclk,gpck->ngpl", windows, weight.reshape(groups, o // groups, c_per_group, k))
    out = out.reshape(n, o, windows.shape[3])
    return out if bias is None else out + bias[:, None]


def _windows(x: Tensor, kernel_size, stride, padding, fill: float) -> tuple[Tensor, int, int]:
    kernel = _two(kernel_size)
    step = kernel if stride is None else _two(stride)
    ph, pw = _two(padding)
    n, c, h, w = x.shape
    oh = conv_output_size(h, kernel[0], step[0], ph)
    ow = conv_output_size(w, kernel[1], step[1], pw)
    padded = F.pad(x, (pw, pw, ph, ph), value=fill)
    cols = F.unfold(padded, kernel, stride=step)  # (N, C*kh*kw, L)
    return cols.view(n, c, kernel[0] * kernel[1], oh, ow), oh, ow


def max_pool2d(x: Tensor, kernel_size, stride=None, padding=0) -> Tensor:
    cols, _, _ = _windows(x, kernel_size, stride, padding, float("-inf"))
    return cols.max(dim=2).values


def sum_pool2d(x, kernel_size, stride=None, padding=0) -> Tensor:
    cols, _, _ = _windows(x, kernel_size, stride, padding, 0.0)
    return cols.sum(dim=2)


def avg_pool2d(x, kernel_size, stride=None, padding=0) -> Tensor:
    cols, _, _ = _windows(x, kernel_size, stride, padding, 0.0)
    return cols.mean(dim=2)
