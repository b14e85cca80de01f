"""Visible examples for kata 04 · Custom layers with nn.Parameter."""
import torch
from torch import nn
from torch.testing import assert_close


def test_custom_linear_registers_weight_and_bias_like_nn_linear(solution):
    lin = solution.CustomLinear(3, 2)
    shapes = [(name, tuple(p.shape)) for name, p in lin.named_parameters()]
    assert shapes == [("weight", (2, 3)), ("bias", (2,))], (
        f"expected parameters [('weight', (2, 3)), ('bias', (2,))], got {shapes}")


def test_custom_linear_without_bias_has_bias_none_and_no_bias_key(solution):
    lin = solution.CustomLinear(3, 2, bias=False)
    assert lin.bias is None, f"with bias=False, self.bias must be None, got {lin.bias!r}"
    assert list(lin.state_dict()) == ["weight"], f"state_dict keys should be ['weight'], got {list(lin.state_dict())}"


def test_custom_linear_state_dict_loads_into_nn_linear_with_the_same_outputs(solution):
    torch.manual_seed(0)
    lin = solution.CustomLinear(3, 2)
    ref = nn.Linear(3, 2)
    ref.load_state_dict(lin.state_dict())
    x = torch.randn(4, 5, 3)
    out = lin(x)
    assert out.shape == (4, 5, 2), f"(4, 5, 3) in should give (4, 5, 2) out, got {tuple(out.shape)}"
    assert_close(out, ref(x), msg=lambda m: f"CustomLinear and nn.Linear with the same weights disagree:\n{m}")


def test_layer_norm_of_one_row_written_out_by_hand(solution):
    ln = solution.LayerNorm(4)
    out = ln(torch.tensor([[1.0, 2.0, 3.0, 4.0]]))
    # mean 2.5, biased variance 1.25: (x - 2.5) / sqrt(1.25 + 1e-5)
    expected = torch.tensor([[-1.3416, -0.4472, 0.4472, 1.3416]])
    assert_close(out.detach(), expected, atol=1e-4, rtol=0,
                 msg=lambda m: f"LayerNorm(4) of [1, 2, 3, 4] is wrong (biased variance? last dim only?):\n{m}")


def test_layer_norm_parameters_start_at_ones_and_zeros_and_match_nn_layer_norm(solution):
    torch.manual_seed(0)
    ln = solution.LayerNorm((2, 3))
    assert_close(ln.weight.detach(), torch.ones(2, 3), msg=lambda m: f"weight must start as ones:\n{m}")
    assert_close(ln.bias.detach(), torch.zeros(2, 3), msg=lambda m: f"bias must start as zeros:\n{m}")
    with torch.no_grad():
        ln.weight.copy_(torch.randn(2, 3))
        ln.bias.copy_(torch.randn(2, 3))
    ref = nn.LayerNorm((2, 3))
    ref.load_state_dict(ln.state_dict())
    x = torch.randn(4, 2, 3)
    assert_close(ln(x), ref(x), msg=lambda m: f"LayerNorm((2, 3)) differs from nn.LayerNorm:\n{m}")
