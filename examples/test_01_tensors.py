"""Visible examples for kata 01 · Tensor basics and broadcasting (the README's examples, as tests)."""
import pytest
import torch
from torch.testing import assert_close


def test_one_hot_of_three_labels_is_a_float32_identity_permutation(solution):
    out = solution.one_hot(torch.tensor([0, 2, 1]), 3)
    expected = torch.tensor([[1.0, 0.0, 0.0],
                             [0.0, 0.0, 1.0],
                             [0.0, 1.0, 0.0]])
    assert out.dtype == torch.float32, f"one_hot must return float32, got {out.dtype}"
    assert_close(out, expected, msg=lambda m: f"one_hot([0, 2, 1], 3) is wrong:\n{m}")


def test_one_hot_raises_value_error_for_a_label_equal_to_num_classes(solution):
    with pytest.raises(ValueError):
        solution.one_hot(torch.tensor([3]), 3)  # valid labels are 0, 1, 2


def test_pairwise_sq_distances_of_small_points_written_out_by_hand(solution):
    x = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([[1.0, 0.0], [0.0, 3.0]], dtype=torch.float64)
    # out[i, j] = sum_d (x[i, d] - y[j, d]) ** 2
    expected = torch.tensor([[1.0, 9.0],
                             [1.0, 5.0],
                             [1.0, 13.0]], dtype=torch.float64)
    out = solution.pairwise_sq_distances(x, y)
    assert out.shape == (3, 2), f"expected shape (N, M) = (3, 2), got {tuple(out.shape)}"
    assert_close(out, expected, msg=lambda m: f"pairwise squared distances are wrong:\n{m}")


def test_pairwise_sq_distances_of_a_point_with_itself_is_zero_not_negative(solution):
    x = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)
    out = solution.pairwise_sq_distances(x, x)
    assert (out >= 0).all(), f"a squared distance can never be negative, got {out}"
    assert_close(out, torch.zeros(1, 1, dtype=torch.float64))


def test_normalize_rows_gives_unit_rows_and_keeps_a_zero_row_zero(solution):
    x = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    out = solution.normalize_rows(x)
    assert not torch.isnan(out).any(), f"a zero row must come back as zeros, not nan: {out}"
    assert_close(out, torch.tensor([[0.6, 0.8], [0.0, 0.0]]),
                 msg=lambda m: f"normalize_rows([[3, 4], [0, 0]]) is wrong:\n{m}")


def test_batched_outer_matches_one_outer_product_per_batch_entry(solution):
    a = torch.tensor([[1.0, 2.0], [-1.0, 0.5]], dtype=torch.float64)
    b = torch.tensor([[3.0, 4.0, 5.0], [2.0, 0.0, 1.0]], dtype=torch.float64)
    out = solution.batched_outer(a, b)
    assert out.shape == (2, 2, 3), f"expected shape (B, N, M) = (2, 2, 3), got {tuple(out.shape)}"
    expected = torch.stack([torch.outer(a[k], b[k]) for k in range(2)])
    assert_close(out, expected, msg=lambda m: f"batched_outer differs from torch.outer per batch entry:\n{m}")
