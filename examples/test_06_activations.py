"""Visible examples for kata 06 · Activation functions, numerically stable.

torch's own activations serve as the oracle; the hidden suite checks many more shapes,
dtypes and gradients.
"""
import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close


def test_relu_zeroes_negatives_and_keeps_positives(solution):
    x = torch.tensor([-2.0, -0.5, 0.0, 0.5, 3.0], dtype=torch.float64)
    out = solution.relu(x)
    assert_close(out, torch.tensor([0.0, 0.0, 0.0, 0.5, 3.0], dtype=torch.float64),
                 msg=lambda m: f"relu([-2, -0.5, 0, 0.5, 3]) should be [0, 0, 0, 0.5, 3]\n{m}")
    assert x.tolist() == [-2.0, -0.5, 0.0, 0.5, 3.0], "relu must not modify its input in place"


def test_sigmoid_of_huge_inputs_is_finite_in_value_and_gradient(solution):
    out = solution.sigmoid(torch.tensor([-1e4, 0.0, 1e4]))
    assert_close(out, torch.tensor([0.0, 0.5, 1.0]),
                 msg=lambda m: f"sigmoid([-1e4, 0, 1e4]) should be [0, 0.5, 1], with no nan\n{m}")
    x = torch.tensor([-100.0, 0.0, 100.0], requires_grad=True)
    solution.sigmoid(x).sum().backward()
    assert torch.isfinite(x.grad).all(), f"the gradient of sigmoid at [-100, 0, 100] is {x.grad}; it must be finite"
    expected = torch.sigmoid(x.detach()) * torch.sigmoid(-x.detach())
    assert_close(x.grad, expected, msg=lambda m: f"d sigmoid / dx at [-100, 0, 100] should match torch's\n{m}")


def test_tanh_of_a_small_row_and_of_huge_inputs_matches_torch(solution):
    x = torch.tensor([-1e4, -3.0, -0.5, 0.0, 1e-3, 2.0, 1e4], dtype=torch.float64, requires_grad=True)
    out = solution.tanh(x)
    assert_close(out, torch.tanh(x.detach()),
                 msg=lambda m: f"tanh should match torch.tanh, including at +-1e4 (no nan)\n{m}")
    out.sum().backward()
    assert_close(x.grad, 1 - torch.tanh(x.detach()) ** 2,
                 msg=lambda m: f"d tanh / dx should be 1 - tanh(x)^2 and finite everywhere\n{m}")


def test_softmax_of_large_logits_matches_torch_along_any_dim(solution):
    x = torch.tensor([[1e4, 1e4 - 1.0], [0.0, 0.0]], dtype=torch.float64)
    assert_close(solution.softmax(x), torch.softmax(x, dim=-1),
                 msg=lambda m: f"softmax along the last dim of [[1e4, 1e4 - 1], [0, 0]] should be "
                               f"[[0.7311, 0.2689], [0.5, 0.5]]\n{m}")
    y = torch.tensor([[1.0, -2.0, 0.5], [3.0, 0.0, -1e4]], dtype=torch.float64)
    assert_close(solution.softmax(y, dim=0), torch.softmax(y, dim=0),
                 msg=lambda m: f"softmax(x, dim=0) should normalise each column\n{m}")
    assert_close(solution.softmax(y, dim=-2), torch.softmax(y, dim=0),
                 msg=lambda m: f"dim=-2 of a 2-d tensor is dim 0\n{m}")


def test_log_softmax_is_never_minus_inf_for_finite_input(solution):
    out = solution.log_softmax(torch.tensor([0.0, -1e4]))
    assert torch.isfinite(out).all(), f"log_softmax([0, -1e4]) gave {out}; it must be [0, -1e4], not -inf"
    assert_close(out, torch.tensor([0.0, -1e4]))
    x = torch.tensor([[2.0, 0.0, -1.0], [1e4, 0.0, -1e4]], dtype=torch.float64)
    assert_close(solution.log_softmax(x, dim=1), torch.log_softmax(x, dim=1),
                 msg=lambda m: f"log_softmax should match torch.log_softmax\n{m}")


def test_gelu_matches_torch_in_both_forms_and_rejects_an_unknown_form(solution):
    x = torch.tensor([-3.0, -1.0, 0.0, 0.5, 1.0, 4.0], dtype=torch.float64)
    assert_close(solution.gelu(x), F.gelu(x),
                 msg=lambda m: f"gelu(x) (approximate='none', the erf form) should match F.gelu\n{m}")
    assert_close(solution.gelu(x, approximate="tanh"), F.gelu(x, approximate="tanh"),
                 msg=lambda m: f"gelu(x, approximate='tanh') should match F.gelu(x, approximate='tanh')\n{m}")
    with pytest.raises(ValueError):
        solution.gelu(x, approximate="sigmoid")
