"""Learner-facing comparison messages."""
import pytest
import torch

from torchkata.testing import assert_close


def test_shape_mismatch_names_the_dimension():
    with pytest.raises(AssertionError, match=r"shape \(2, 4\), expected \(2, 3\) \(dimension 1 is 4, expected 3\)"):
        assert_close(torch.zeros(2, 4), torch.zeros(2, 3), what="out")


def test_value_mismatch_gives_first_index_and_errors():
    expected = torch.zeros(2, 3)
    actual = expected.clone()
    actual[1, 2] = 0.5
    with pytest.raises(AssertionError) as info:
        assert_close(actual, expected, what="softmax(x)", inputs={"x": expected})
    text = str(info.value)
    assert "1 of 6 elements differ" in text
    assert "first at index (1, 2): expected 0.0, got 0.5" in text
    assert "max abs error 0.5, max rel error inf" in text  # expected 0: inf, and the equal zeros are not nan
    assert "x = tensor(shape=(2, 3)" in text


def test_dtype_mismatch_is_reported():
    with pytest.raises(AssertionError, match="dtype torch.int64, expected torch.float32"):
        assert_close(torch.zeros(2, dtype=torch.int64), torch.zeros(2), what="one_hot")


def test_nan_is_reported_as_not_finite():
    with pytest.raises(AssertionError, match="inf or nan"):
        assert_close(torch.tensor([float("nan"), 1.0]), torch.tensor([0.0, 1.0]), what="sigmoid")


def test_close_values_pass_with_dtype_defaults():
    x = torch.rand(5, dtype=torch.float64)
    assert_close(x + 1e-12, x, what="x")
