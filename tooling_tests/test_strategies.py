"""The tensor strategies keep their promises."""
import torch
from hypothesis import given
from hypothesis import strategies as st

from torchkata import strategies as tks


@given(t=tks.tensors(shape=tks.shapes(max_dims=3), dtype=tks.float_dtypes(), min_value=-2, max_value=3))
def test_tensors_are_bounded_and_finite(t):
    assert t.dtype in (torch.float32, torch.float64)
    assert torch.isfinite(t).all()
    assert (t >= -2).all() and (t <= 3).all()


@given(t=tks.tensors(shape=(3, 4), noncontiguous=True))
def test_noncontiguous_variant_is_strided(t):
    assert t.shape == (3, 4)
    assert not t.is_contiguous()


@given(data=st.data())
def test_valid_dims_index_the_tensor(data):
    shape = data.draw(tks.shapes(min_dims=1, max_dims=4))
    dim = data.draw(tks.valid_dims(len(shape)))
    torch.zeros(shape).sum(dim)  # raises IndexError for an invalid dim


@given(y=tks.labels((7,), num_classes=3))
def test_labels_are_in_range(y):
    assert y.dtype == torch.int64 and y.min() >= 0 and y.max() < 3


@given(data=st.data())
def test_broadcastable_shapes_broadcast(data):
    a = data.draw(tks.shapes(max_dims=3))
    b = data.draw(tks.broadcastable_shapes(a))
    torch.broadcast_shapes(a, b)  # raises RuntimeError unless they broadcast
