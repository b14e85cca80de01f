"""Visible examples for kata 05 · nn.Module vs nn.Sequential, parameters and hooks."""
import pytest
import torch
from torch import nn
from torch.testing import assert_close


def test_make_mlp_puts_one_activation_between_linears_and_none_after_the_last(solution):
    mlp = solution.make_mlp([4, 8, 8, 2], nn.Tanh)
    assert isinstance(mlp, nn.Sequential), f"make_mlp must return an nn.Sequential, got {type(mlp)}"
    layout = [(type(m).__name__, getattr(m, "in_features", None), getattr(m, "out_features", None))
              for m in mlp]
    assert layout == [("Linear", 4, 8), ("Tanh", None, None), ("Linear", 8, 8),
                      ("Tanh", None, None), ("Linear", 8, 2)], f"unexpected layers: {layout}"


def test_count_parameters_counts_only_trainable_ones_by_default(solution):
    mlp = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 2))
    assert solution.count_parameters(mlp) == 130, "4*8+8 + 8*8+8 + 8*2+2 = 130"
    mlp[0].requires_grad_(False)  # freeze the first layer (40 scalars)
    assert solution.count_parameters(mlp) == 90, "with the first layer frozen, 90 are trainable"
    assert solution.count_parameters(mlp, trainable_only=False) == 130, "trainable_only=False counts all 130"


def test_residual_mlp_keeps_the_shape_and_adds_the_skip(solution):
    torch.manual_seed(0)
    res = solution.ResidualMLP(dim=4, hidden=16, depth=3)
    x = torch.randn(10, 4)
    out = res(x)
    assert out.shape == (10, 4), f"(10, 4) in should give (10, 4) out, got {tuple(out.shape)}"
    linears = [m for m in res.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 6, f"depth=3 needs 3 blocks of 2 Linear layers, found {len(linears)}"
    expected = x
    for fc1, fc2 in zip(linears[0::2], linears[1::2]):
        expected = expected + fc2(torch.relu(fc1(expected)))
    assert_close(out, expected, msg=lambda m: f"each block should compute x + fc2(relu(fc1(x))):\n{m}")


def test_capture_activations_returns_named_outputs_and_removes_its_hooks(solution):
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    x = torch.randn(5, 4)
    acts = solution.capture_activations(mlp, x, ["1", "2"])
    assert {k: tuple(v.shape) for k, v in acts.items()} == {"1": (5, 8), "2": (5, 2)}
    assert_close(acts["1"], torch.tanh(mlp[0](x)), msg=lambda m: f"acts['1'] should be Tanh's output:\n{m}")
    assert_close(acts["2"], mlp(x), msg=lambda m: f"acts['2'] should be the last Linear's output:\n{m}")
    left = {name: len(m._forward_hooks) for name, m in mlp.named_modules() if m._forward_hooks}
    assert not left, f"capture_activations left forward hooks registered: {left}"


def test_capture_activations_raises_key_error_for_an_unknown_name(solution):
    mlp = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    with pytest.raises(KeyError):
        solution.capture_activations(mlp, torch.randn(5, 4), ["fc9"])
