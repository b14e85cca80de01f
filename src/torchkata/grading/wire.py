"""The wire between the grader and a sandboxed worker: plain data only, never pickled objects.

A message is an 8-byte big-endian length and a `torch.save` payload that the receiver opens
with `torch.load(weights_only=True)`: tensors, numbers, strings, bytes, None, dtypes,
devices, sizes and lists/tuples/dicts of them. NumPy arrays and scalars travel as tagged
tensors, so neither side ever unpickles an arbitrary object.

The worker is the candidate's process, so everything the grader receives is untrusted:

* a whole message has a deadline (`receive(..., deadline=)`), not just its first byte, and a
  send to a worker that stops reading has one too;
* every tensor is checked before anything computes on it (`check_tensors`): strided layout,
  cpu or cuda, an allowed dtype, and a logical size within MAX_TENSOR_BYTES per message. A
  tensor whose elements share memory (a zero stride, as `expand` makes, or overlapping
  strides) is materialised into a tensor of its own within that budget: a 4-byte storage
  viewed as a 10^10-element tensor is refused, never handed to the hidden test.
"""
from __future__ import annotations

import io
import os
import select
import struct
import time

import numpy as np
import torch

MAX_MESSAGE = 1 << 30  # 1 GiB: anything larger is a flood, not a result
MAX_TENSOR_BYTES = 1 << 30  # logical bytes (numel * itemsize) of all tensors of one message
ALLOWED_DTYPES = frozenset({
    torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
    torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.complex64, torch.complex128,
})
_ARRAY, _SCALAR = "__torchkata_ndarray__", "__torchkata_npscalar__"


class WireError(RuntimeError):
    """The other side sent something that is not a well-formed plain-data message."""


class WireTimeout(WireError):
    """The whole message did not arrive (or could not be sent) before its deadline."""


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


def shares_memory(t: torch.Tensor) -> bool:
    """Whether two elements of T are the same memory: a zero stride or overlapping strides."""
    dims = sorted((st, sz) for st, sz in zip(t.stride(), t.shape) if sz > 1)
    reach = 0  # the largest offset the dimensions with smaller strides reach
    for st, sz in dims:
        if st <= reach:
            return True
        reach += st * (sz - 1)
    return False


def check_tensors(value, budget: int = MAX_TENSOR_BYTES):
    """VALUE with every tensor validated (see the module docstring); raise WireError otherwise.

    Tensors whose elements share memory are replaced by materialised copies; the others are
    returned as they are, their layout (a transpose, a slice) kept.
    """
    left = [budget]

    def check(t: torch.Tensor) -> torch.Tensor:
        if type(t) is not torch.Tensor and not isinstance(t, torch.nn.Parameter):
            raise WireError(f"a tensor subclass ({type(t).__name__}) is not plain data")
        if t.layout != torch.strided or t.is_quantized or t.is_nested:
            raise WireError(f"a tensor of layout {t.layout} is not plain data")
        if t.device.type not in ("cpu", "cuda"):
            raise WireError(f"a tensor on device {t.device.type!r} is not plain data")
        if t.dtype not in ALLOWED_DTYPES:
            raise WireError(f"a tensor of dtype {t.dtype} is not allowed")
        if any(s < 0 for s in t.stride()):
            raise WireError("a tensor with a negative stride")
        logical = t.numel() * t.element_size()
        left[0] -= logical
        if left[0] < 0:
            raise WireError(f"tensors of more than {budget} bytes in one message (one of shape "
                            f"{tuple(t.shape)}, {t.dtype}, is {logical} bytes)")
        if t.numel() and shares_memory(t):
            copy = torch.empty(t.shape, dtype=t.dtype, device=t.device)
            copy.copy_(t.detach())
            return copy.requires_grad_(t.requires_grad)
        return t

    def walk(v):
        if isinstance(v, torch.Tensor):
            return check(v)
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, tuple) and not isinstance(v, torch.Size):
            return tuple(walk(x) for x in v)
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        return v

    return walk(value)


def dumps(value) -> bytes:
    buffer = io.BytesIO()
    torch.save(encode(value), buffer)
    return buffer.getvalue()


def loads(payload: bytes, *, check: bool = True):
    """The value of PAYLOAD; with CHECK (the grader's side), its tensors validated (check_tensors)."""
    try:
        value = torch.load(io.BytesIO(payload), weights_only=True)
        if check:
            value = check_tensors(value)
        return decode(value)
    except WireError:
        raise
    except Exception as err:  # noqa: BLE001 - whatever it is, it is not plain data
        raise WireError(f"not a plain-data message ({type(err).__name__}: {str(err)[:200]})") from None


def _left(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise WireTimeout("the message did not arrive in time")
    return left


def send(fd: int, value, *, deadline: float | None = None) -> None:
    """Write VALUE as one message; with a DEADLINE (time.monotonic()), FD must be non-blocking
    or the other side reading: a reader that stops raises WireTimeout, never blocks forever."""
    payload = dumps(value)
    data = struct.pack(">Q", len(payload)) + payload
    view = memoryview(data)
    while view:
        if deadline is not None:
            left = _left(deadline)
            _, ready, _ = select.select([], [fd], [], left)
            if not ready:
                raise WireTimeout("the other side stopped reading")
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            continue
        view = view[written:]


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks, left = [], n
    while left:
        if deadline is not None:
            ready, _, _ = select.select([fd], [], [], _left(deadline))
            if not ready:
                raise WireTimeout(f"{n - left} of {n} bytes arrived before the deadline")
        try:
            chunk = os.read(fd, min(left, 1 << 20))
        except BlockingIOError:
            continue
        if not chunk:
            raise EOFError("the other side closed the pipe")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def receive(fd: int, *, deadline: float | None = None, check: bool = True):
    """One whole message, header and payload, before DEADLINE (time.monotonic()) when given.

    CHECK validates its tensors (the grader's side: the worker is untrusted); the worker, which
    receives the grader's own inputs (an expanded target, a transposed view), passes False.
    """
    try:
        (length,) = struct.unpack(">Q", _read_exact(fd, 8, deadline))
    except WireTimeout as err:
        raise WireTimeout(f"no whole message header before the deadline ({err})") from None
    if length > MAX_MESSAGE:
        raise WireError(f"message of {length} bytes is over the {MAX_MESSAGE}-byte limit")
    return loads(_read_exact(fd, length, deadline), check=check)
