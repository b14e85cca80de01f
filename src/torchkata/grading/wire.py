"""The wire between the grader and a sandboxed worker: plain data only, never pickled objects.

A message is an 8-byte big-endian length and a `torch.save` payload that the receiver opens
with `torch.load(weights_only=True)`: tensors, numbers, strings, bytes, None, dtypes,
devices, sizes and lists/tuples/dicts of them. NumPy arrays and scalars travel as tagged
tensors, so neither side ever unpickles an arbitrary object.
"""
from __future__ import annotations

import io
import os
import struct

import numpy as np
import torch

MAX_MESSAGE = 1 << 30  # 1 GiB: anything larger is a flood, not a result
_ARRAY, _SCALAR = "__torchkata_ndarray__", "__torchkata_npscalar__"


class WireError(RuntimeError):
    """The other side sent something that is not a well-formed plain-data message."""


def encode(value):
    """VALUE with numpy arrays and scalars replaced by tagged tensors.

    Tensors lose their autograd history (it cannot cross a process) but keep requires_grad.
    """
    if isinstance(value, torch.Tensor) and value.grad_fn is not None:
        return value.detach().requires_grad_(value.requires_grad)
    if isinstance(value, np.ndarray):
        # np.array, not np.ascontiguousarray: the latter turns a 0-d array into a 1-d one.
        return {_ARRAY: torch.from_numpy(np.array(value, copy=True, order="C"))}
    if isinstance(value, np.generic):
        return {_SCALAR: torch.from_numpy(np.asarray(value).reshape(1).copy())}
    if isinstance(value, (list, tuple)):
        items = [encode(v) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    return value


def decode(value):
    if isinstance(value, dict):
        if set(value) == {_ARRAY}:
            return value[_ARRAY].numpy()
        if set(value) == {_SCALAR}:
            return value[_SCALAR].numpy()[0]
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    if isinstance(value, tuple):
        return tuple(decode(v) for v in value)
    return value


def dumps(value) -> bytes:
    buffer = io.BytesIO()
    torch.save(encode(value), buffer)
    return buffer.getvalue()


def loads(payload: bytes):
    try:
        return decode(torch.load(io.BytesIO(payload), weights_only=True))
    except Exception as err:  # noqa: BLE001 - whatever it is, it is not plain data
        raise WireError(f"not a plain-data message ({type(err).__name__}: {str(err)[:200]})") from None


def send(fd: int, value) -> None:
    payload = dumps(value)
    data = struct.pack(">Q", len(payload)) + payload
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_exact(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the pipe")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def receive(fd: int):
    (length,) = struct.unpack(">Q", _read_exact(fd, 8))
    if length > MAX_MESSAGE:
        raise WireError(f"message of {length} bytes is over the {MAX_MESSAGE}-byte limit")
    return loads(_read_exact(fd, length))
