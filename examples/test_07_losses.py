"""Visible examples for kata 07 · Loss functions from scratch.

torch.nn.functional's losses serve as the oracle; the hidden suite checks many more shapes,
reductions, dtypes and gradients.
"""
import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close


def test_mse_loss_reductions_on_a_small_pair(solution):
    pred, target = torch.tensor([1.0, 2.0]), torch.tensor([0.0, 0.0])
    assert_close(solution.mse_loss(pred, target, reduction="sum"), torch.tensor(5.0),
                 msg=lambda m: f"sum of (1-0)^2 + (2-0)^2 is 5\n{m}")
    assert_close(solution.mse_loss(pred, target), torch.tensor(2.5),
                 msg=lambda m: f"the default reduction is 'mean': 5 / 2 = 2.5\n{m}")
    assert_close(solution.mse_loss(pred, target, reduction="none"), torch.tensor([1.0, 4.0]),
                 msg=lambda m: f"reduction='none' returns the elementwise losses\n{m}")
    with pytest.raises(ValueError):
        solution.mse_loss(pred, target, reduction="average")


def test_huber_loss_is_quadratic_inside_delta_and_linear_outside(solution):
    pred = torch.tensor([0.0, 0.5, -2.0, 3.0], dtype=torch.float64)
    target = torch.zeros(4, dtype=torch.float64)
    out = solution.huber_loss(pred, target, delta=1.0, reduction="none")
    assert_close(out, torch.tensor([0.0, 0.125, 1.5, 2.5], dtype=torch.float64),
                 msg=lambda m: f"huber with delta=1 of d = [0, 0.5, -2, 3] is [0, 0.125, 1.5, 2.5]\n{m}")
    assert_close(solution.huber_loss(pred, target, delta=2.5),
                 F.huber_loss(pred, target, delta=2.5),
                 msg=lambda m: f"huber_loss(delta=2.5) should match F.huber_loss\n{m}")


def test_bce_with_logits_stays_finite_for_huge_logits_and_honours_pos_weight(solution):
    out = solution.binary_cross_entropy_with_logits(torch.tensor([1e4, -1e4]), torch.tensor([0.0, 1.0]),
                                                    reduction="none")
    assert torch.isfinite(out).all(), f"got {out}: a logit of +-1e4 on the wrong side costs 1e4, not inf"
    assert_close(out, torch.tensor([1e4, 1e4]))
    logits = torch.tensor([[0.0, 2.0, -1.0], [3.0, -0.5, 0.25]], dtype=torch.float64)
    target = torch.tensor([[1.0, 0.0, 0.3], [0.0, 1.0, 1.0]], dtype=torch.float64)
    pos_weight = torch.tensor([2.0, 0.5, 1.0], dtype=torch.float64)
    assert_close(solution.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight),
                 F.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight),
                 msg=lambda m: f"with soft targets and pos_weight (C,), the mean should match torch's\n{m}")


def test_cross_entropy_means_over_non_ignored_targets_only(solution):
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 1.5, 0.0]])
    out = solution.cross_entropy(logits, torch.tensor([0, -100]))
    assert_close(out, torch.tensor(0.1698), atol=1e-4, rtol=0,
                 msg=lambda m: f"the second row is ignored, so the mean is the first row's loss alone\n{m}")
    assert_close(solution.cross_entropy(logits, torch.tensor([2, 1]), reduction="sum"),
                 F.cross_entropy(logits, torch.tensor([2, 1]), reduction="sum"),
                 msg=lambda m: f"reduction='sum' should match F.cross_entropy\n{m}")


def test_cross_entropy_label_smoothing_spreads_eps_over_all_classes(solution):
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 1.5, 0.0]], dtype=torch.float64)
    target = torch.tensor([0, 1])
    out = solution.cross_entropy(logits, target, label_smoothing=0.1, reduction="none")
    assert_close(out, F.cross_entropy(logits, target, label_smoothing=0.1, reduction="none"),
                 msg=lambda m: f"expected about [0.3365, 0.5477]: q = 0.9 * one_hot + 0.1 / C on every class\n{m}")


def test_cross_entropy_with_spatial_dims_keeps_the_target_shape(solution):
    logits = torch.linspace(-2.0, 2.0, 2 * 4 * 3 * 3, dtype=torch.float64).reshape(2, 4, 3, 3)
    target = torch.tensor([[[0, 1, 2], [3, 0, 1], [2, 3, 0]],
                           [[1, 1, 1], [0, 0, 0], [3, 2, 1]]])
    out = solution.cross_entropy(logits, target, reduction="none")
    assert out.shape == (2, 3, 3), f"logits (N, C, d1, d2) = (2, 4, 3, 3) give losses (2, 3, 3), got {tuple(out.shape)}"
    assert_close(out, F.cross_entropy(logits, target, reduction="none"),
                 msg=lambda m: f"the class dim is dim 1, also with extra spatial dims\n{m}")
