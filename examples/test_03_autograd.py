"""Visible examples for kata 03 · Autograd: gradients, vector-Jacobian products, custom Functions."""
import torch
from torch.testing import assert_close


def test_grad_of_sum_of_squares_is_2x_and_leaves_x_alone(solution):
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    g = solution.grad_of(lambda t: (t ** 2).sum(), x)
    assert_close(g, torch.tensor([2.0, 4.0, 6.0]), msg=lambda m: f"d/dx sum(x^2) should be 2x:\n{m}")
    assert x.grad is None, f"grad_of must not write into x.grad, found {x.grad}"
    assert x.requires_grad, "grad_of must not change x.requires_grad"
    assert not g.requires_grad and g.grad_fn is None, "the returned gradient must be detached"


def test_vjp_weights_each_output_by_v(solution):
    x = torch.tensor([1.0, 2.0, 3.0])
    v = torch.tensor([1.0, 0.0, -1.0])
    out = solution.vjp(lambda t: t ** 2, x, v)  # J = diag(2x), so v^T J = v * 2x
    assert_close(out, torch.tensor([2.0, 0.0, -6.0]), msg=lambda m: f"vjp(x**2, v) should be v * 2x:\n{m}")


def test_hvp_of_cubic_and_of_a_linear_function(solution):
    x = torch.tensor([1.0, 2.0, 3.0])
    v = torch.ones(3)
    assert_close(solution.hvp(lambda t: (t ** 3).sum(), x, v), torch.tensor([6.0, 12.0, 18.0]),
                 msg=lambda m: f"the Hessian of sum(x^3) is diag(6x), so H @ 1 = 6x:\n{m}")
    assert_close(solution.hvp(lambda t: t.sum(), x, v), torch.zeros(3),
                 msg=lambda m: f"a linear f has a zero Hessian, so hvp must be zeros:\n{m}")


def test_logsumexp_matches_torch_and_stays_finite_for_huge_inputs(solution):
    x = torch.tensor([[1e4, 1e4], [0.0, -1e4]], dtype=torch.float64)
    out = solution.logsumexp(x, 1)
    expected = torch.logsumexp(x, dim=1)  # [1e4 + log 2, 0]
    assert torch.isfinite(out).all(), f"logsumexp overflowed: {out} (subtract the max first)"
    assert_close(out, expected, msg=lambda m: f"logsumexp(x, dim=1) differs from torch.logsumexp:\n{m}")


def test_logsumexp_backward_is_grad_output_times_softmax(solution):
    x = torch.tensor([[0.0, 1.0, 2.0], [3.0, -1.0, 0.5]], dtype=torch.float64, requires_grad=True)
    grad_output = torch.tensor([2.0, -1.0], dtype=torch.float64)
    solution.logsumexp(x, -1).backward(grad_output)
    expected = grad_output[:, None] * torch.softmax(x.detach(), dim=-1)
    assert_close(x.grad, expected, msg=lambda m: f"the gradient of logsumexp along dim -1 is "
                                                 f"grad_output * softmax(x):\n{m}")


def test_straight_through_round_rounds_forward_and_passes_the_gradient_through(solution):
    y = torch.tensor([0.4, 1.5, 2.5], requires_grad=True)
    r = solution.StraightThroughRound.apply(y)
    assert_close(r.detach(), torch.tensor([0.0, 2.0, 2.0]),
                 msg=lambda m: f"forward must be torch.round (halves to even):\n{m}")
    r.backward(torch.tensor([1.0, 2.0, 3.0]))
    assert_close(y.grad, torch.tensor([1.0, 2.0, 3.0]),
                 msg=lambda m: f"backward must return grad_output unchanged:\n{m}")
