"""Visible examples for kata 10 · Optimizers: SGD with momentum, Adam, AdamW, RMSprop.

torch.optim serves as the oracle (in the test, never in your solution); the hidden suite
checks many more hyperparameters, param groups, state_dict round-trips and longer runs.
"""
import torch
from torch.testing import assert_close


def _run(make_opt, grads, start):
    """Parameter values after feeding GRADS, one step each, to the optimizer made by MAKE_OPT."""
    p = start.clone().requires_grad_()
    opt = make_opt([p])
    trajectory = []
    for g in grads:
        p.grad = g.clone()
        opt.step()
        trajectory.append(p.detach().clone())
    return trajectory


GRADS = [torch.tensor([1.0, -0.5, 0.25], dtype=torch.float64),
         torch.tensor([-2.0, 0.1, 0.0], dtype=torch.float64)]
START = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)


def test_sgd_momentum_first_buffer_is_the_gradient(solution):
    w = torch.tensor([1.0, -2.0], requires_grad=True)
    opt = solution.SGD([w], lr=0.1, momentum=0.9)
    w.grad = torch.tensor([1.0, 1.0])
    opt.step()
    assert_close(w.detach(), torch.tensor([0.9, -2.1]),
                 msg=lambda m: f"first step: buf = g (not 0.1 * g), so w moves by lr * g\n{m}")
    w.grad = torch.tensor([1.0, 1.0])
    opt.step()
    assert_close(w.detach(), torch.tensor([0.71, -2.29]),
                 msg=lambda m: f"second step: buf = 0.9 * 1 + 1 = 1.9, so w moves by 0.19\n{m}")


def test_sgd_nesterov_with_weight_decay_matches_torch(solution):
    kw = dict(lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True)
    mine = _run(lambda ps: solution.SGD(ps, **kw), GRADS, START)
    theirs = _run(lambda ps: torch.optim.SGD(ps, **kw), GRADS, START)
    for t, (a, b) in enumerate(zip(mine, theirs), 1):
        assert_close(a, b, msg=lambda m, t=t: f"SGD(nesterov, weight_decay) after step {t} should match torch\n{m}")


def test_adam_first_step_moves_by_about_lr_whatever_the_gradient(solution):
    v = torch.tensor([3.0], requires_grad=True)
    opt = solution.Adam([v], lr=0.5)
    v.grad = torch.tensor([0.01])
    opt.step()
    assert_close(v.detach(), torch.tensor([2.5]),
                 msg=lambda m: f"with bias correction, Adam's first step is lr * g / |g| = lr\n{m}")
    kw = dict(lr=0.05, betas=(0.8, 0.9), weight_decay=0.1)
    mine = _run(lambda ps: solution.Adam(ps, **kw), GRADS, START)
    theirs = _run(lambda ps: torch.optim.Adam(ps, **kw), GRADS, START)
    for t, (a, b) in enumerate(zip(mine, theirs), 1):
        assert_close(a, b, msg=lambda m, t=t: f"Adam (L2 weight decay) after step {t} should match torch\n{m}")


def test_adamw_decoupled_weight_decay_matches_torch(solution):
    kw = dict(lr=0.05, weight_decay=0.5)
    mine = _run(lambda ps: solution.AdamW(ps, **kw), GRADS, START)
    theirs = _run(lambda ps: torch.optim.AdamW(ps, **kw), GRADS, START)
    for t, (a, b) in enumerate(zip(mine, theirs), 1):
        assert_close(a, b, msg=lambda m, t=t: f"AdamW after step {t} should match torch: decay p first, "
                                               f"then Adam on the raw gradient\n{m}")


def test_rmsprop_with_momentum_matches_torch(solution):
    kw = dict(lr=0.01, alpha=0.9, momentum=0.5)
    mine = _run(lambda ps: solution.RMSprop(ps, **kw), GRADS, START)
    theirs = _run(lambda ps: torch.optim.RMSprop(ps, **kw), GRADS, START)
    for t, (a, b) in enumerate(zip(mine, theirs), 1):
        assert_close(a, b, msg=lambda m, t=t: f"RMSprop(momentum=0.5) after step {t} should match torch "
                                               f"(eps outside the sqrt)\n{m}")


def test_a_parameter_without_grad_is_skipped_and_groups_override_lr(solution):
    w = torch.tensor([1.0, 1.0], requires_grad=True)
    b = torch.tensor([5.0], requires_grad=True)
    frozen = torch.tensor([7.0], requires_grad=True)
    opt = solution.SGD([{"params": [w], "lr": 0.5}, {"params": [b, frozen]}], lr=0.1, weight_decay=0.1)
    w.grad, b.grad = torch.tensor([1.0, -1.0]), torch.tensor([2.0])
    assert opt.step() is None, "step() without a closure returns None"
    assert_close(w.detach(), torch.tensor([1.0 - 0.5 * 1.1, 1.0 - 0.5 * (-0.9)]),
                 msg=lambda m: f"the first group's lr=0.5 overrides the default lr=0.1\n{m}")
    assert_close(b.detach(), torch.tensor([5.0 - 0.1 * 2.5]), msg=lambda m: f"the second group uses lr=0.1\n{m}")
    assert frozen.item() == 7.0, f"a parameter whose .grad is None must not move (not even by weight decay), got {frozen.item()}"
    assert_close(w.grad, torch.tensor([1.0, -1.0]), msg=lambda m: f".grad must only be read, never modified\n{m}")
