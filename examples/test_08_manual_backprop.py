"""Visible examples for kata 08 · Backpropagation by hand.

Autograd serves as the oracle (in the test, never in your solution); the hidden suite checks
many more shapes, dtypes and edge cases.
"""
import torch
import torch.nn.functional as F
from torch.testing import assert_close


def _readme_example():
    x = torch.tensor([[1.0, -2.0], [0.5, 1.0]])
    y = torch.tensor([1, 0])
    w1 = torch.tensor([[1.0, -1.0], [0.5, 1.0]])
    b1 = torch.zeros(2)
    w2 = torch.tensor([[1.0, -1.0], [2.0, 0.0]])
    b2 = torch.zeros(2)
    return x, y, w1, b1, w2, b2


def test_readme_example_loss_and_output_bias_gradient(solution):
    loss, grads = solution.mlp_forward_backward(*_readme_example())
    assert_close(loss, torch.tensor(0.3709), atol=1e-4, rtol=0,
                 msg=lambda m: f"loss should be the mean cross-entropy, about 0.3709\n{m}")
    assert_close(grads["b2"], torch.tensor([0.2263, -0.2263]), atol=1e-4, rtol=0,
                 msg=lambda m: f"d loss / d b2 is (softmax - one_hot) summed over the batch, divided by N\n{m}")


def test_grads_have_exactly_the_four_keys_and_the_parameter_shapes(solution):
    x, y = torch.ones(3, 4), torch.tensor([0, 1, 0])
    w1, b1 = torch.full((4, 5), 0.1), torch.zeros(5)
    w2, b2 = torch.full((5, 2), -0.2), torch.zeros(2)
    loss, grads = solution.mlp_forward_backward(x, y, w1, b1, w2, b2)
    assert loss.shape == (), f"loss should be a 0-d tensor, got shape {tuple(loss.shape)}"
    assert set(grads) == {"w1", "b1", "w2", "b2"}, f"grads keys should be w1, b1, w2, b2, got {sorted(grads)}"
    for name, param in {"w1": w1, "b1": b1, "w2": w2, "b2": b2}.items():
        assert grads[name].shape == param.shape, (
            f"grads[{name!r}] should have shape {tuple(param.shape)}, got {tuple(grads[name].shape)}")


def test_loss_and_grads_match_autograd_on_a_small_float64_batch(solution):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, generator=g, dtype=torch.float64)
    y = torch.tensor([2, 0, 1, 2])
    params = {"w1": torch.randn(3, 5, generator=g, dtype=torch.float64),
              "b1": torch.randn(5, generator=g, dtype=torch.float64),
              "w2": torch.randn(5, 3, generator=g, dtype=torch.float64),
              "b2": torch.randn(3, generator=g, dtype=torch.float64)}
    loss, grads = solution.mlp_forward_backward(x, y, params["w1"], params["b1"], params["w2"], params["b2"])

    leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
    logits = torch.relu(x @ leaves["w1"] + leaves["b1"]) @ leaves["w2"] + leaves["b2"]
    expected_loss = F.cross_entropy(logits, y)
    expected_loss.backward()
    assert_close(loss, expected_loss.detach(), msg=lambda m: f"loss should equal F.cross_entropy of the network\n{m}")
    for name, leaf in leaves.items():
        assert_close(grads[name], leaf.grad, msg=lambda m, name=name: f"grads[{name!r}] should equal autograd's\n{m}")
