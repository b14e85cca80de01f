"""The plain-data wire between the grader and its sandboxed worker."""
import os

import numpy as np
import pytest
import torch

from torchkata.grading import wire


@pytest.mark.parametrize("value", [
    torch.arange(6.0).reshape(2, 3).t(),                      # non-contiguous
    torch.tensor(3, dtype=torch.int64),                       # 0-d
    np.array(False),                                          # 0-d array
    np.arange(12, dtype=np.float32).reshape(3, 4)[:, ::2],    # strided array
    np.float64(2.5),
    {"a": [1, 2.0, "s", None, True, (torch.float32, torch.device("cpu"), torch.Size([2]))]},
])
def test_plain_data_round_trips(value):
    back = wire.loads(wire.dumps(value))
    if isinstance(value, np.ndarray):
        assert isinstance(back, np.ndarray) and back.shape == value.shape and back.dtype == value.dtype
        np.testing.assert_array_equal(back, value)
    elif isinstance(value, torch.Tensor):
        torch.testing.assert_close(back, value)
    else:
        assert back == value and type(back) is type(value)


def test_autograd_history_is_dropped_but_requires_grad_is_kept():
    x = torch.ones(2, requires_grad=True)
    back = wire.loads(wire.dumps(x * 2))
    assert back.grad_fn is None and back.requires_grad


def test_a_pickled_object_is_refused_not_executed(tmp_path):
    import pickle

    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    with pytest.raises(wire.WireError, match="not a plain-data message"):
        wire.loads(pickle.dumps(Evil()))
    assert not marker.exists()


def test_messages_cross_a_pipe_and_floods_are_refused():
    r, w = os.pipe()
    wire.send(w, {"ok": True, "result": torch.zeros(3)})
    assert wire.receive(r)["ok"] is True
    os.write(w, (wire.MAX_MESSAGE + 1).to_bytes(8, "big"))
    with pytest.raises(wire.WireError, match="over the"):
        wire.receive(r)
    os.close(r)
    os.close(w)


# ------------------------------------------------------------------------------ an untrusted channel

def test_a_header_cut_short_times_out_at_the_message_deadline():
    import time

    r, w = os.pipe()
    os.write(w, b"\0")  # one byte of an 8-byte header, then nothing
    start = time.monotonic()
    with pytest.raises(wire.WireTimeout, match="header"):
        wire.receive(r, deadline=time.monotonic() + 0.5)
    assert time.monotonic() - start < 2
    os.close(r)
    os.close(w)


def test_a_payload_cut_short_times_out_at_the_message_deadline():
    import time

    r, w = os.pipe()
    payload = wire.dumps(torch.zeros(4))
    os.write(w, len(payload).to_bytes(8, "big") + payload[:10])
    with pytest.raises(wire.WireTimeout):
        wire.receive(r, deadline=time.monotonic() + 0.5)
    os.close(r)
    os.close(w)


def test_a_peer_that_stops_reading_cannot_block_a_send():
    import time

    r, w = os.pipe()
    os.set_blocking(w, False)
    start = time.monotonic()
    with pytest.raises(wire.WireTimeout):
        wire.send(w, torch.zeros(1 << 20), deadline=time.monotonic() + 0.5)  # 4 MiB into a 64 KiB pipe
    assert time.monotonic() - start < 2
    os.close(r)
    os.close(w)


def test_an_expanded_giant_is_refused_before_anything_computes_on_it():
    giant = torch.zeros(()).expand(100_000, 100_000)  # 4 bytes of storage, 40 GB as a tensor
    with pytest.raises(wire.WireError, match="more than"):
        wire.loads(wire.dumps({"result": giant}))
    assert wire.loads(wire.dumps(giant), check=False).stride() == (0, 0)  # the worker's side keeps it


@pytest.mark.parametrize("make", [
    lambda: torch.arange(3.0).expand(4, 3),                                   # zero stride
    lambda: torch.arange(10.0).as_strided((4, 3), (2, 1)),                    # overlapping rows
    lambda: torch.ones(1, requires_grad=True).detach().expand(2, 2).requires_grad_(),
])
def test_tensors_sharing_memory_are_materialised_within_the_budget(make):
    t = make()
    back = wire.loads(wire.dumps(t))
    assert not wire.shares_memory(back) and back.requires_grad == t.requires_grad
    torch.testing.assert_close(back.detach(), t.detach())


def test_views_that_share_no_memory_keep_their_layout():
    t = torch.arange(12.0).reshape(3, 4).t()[:, ::2]
    back = wire.loads(wire.dumps(t))
    assert back.stride() == t.stride() and torch.equal(back, t)


@pytest.mark.parametrize("bad", [
    lambda: torch.zeros(2, dtype=torch.float8_e4m3fn),
    lambda: torch.zeros(2, dtype=torch.uint16),
    lambda: torch.zeros(2).to_sparse(),
])
def test_tensors_of_other_dtypes_and_layouts_are_refused(bad):
    try:
        payload = wire.dumps(bad())
    except Exception:  # noqa: BLE001 - torch.save may refuse it already
        pytest.skip("this torch cannot save it")
    with pytest.raises(wire.WireError):
        wire.loads(payload)


def test_the_tensor_budget_counts_every_tensor_of_a_message(monkeypatch):
    monkeypatch.setattr(wire, "MAX_TENSOR_BYTES", 1000)
    with pytest.raises(wire.WireError, match="more than 1000 bytes"):
        wire.check_tensors([torch.zeros(100), torch.zeros(100), torch.zeros(100)], budget=1000)
