"""The plain-data wire between the grader and its sandboxed worker."""
import os

import numpy as np
import pytest
import torch

from torchkata import wire


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
