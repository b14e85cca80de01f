"""Visible examples for kata 11 · Learning-rate scheduling."""
import math

import pytest
import torch


def _optimizer(*lrs):
    """An SGD optimizer with one param group per lr."""
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in lrs]
    return torch.optim.SGD(groups, lr=lrs[0])


def test_step_lr_decays_by_gamma_every_step_size_epochs(solution):
    got = [solution.step_lr(e, 0.1, 3, 0.5) for e in range(7)]
    expected = [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025]
    assert got == pytest.approx(expected), (
        f"step_lr(e, 0.1, step_size=3, gamma=0.5) for e in 0..6 gave {got}, expected {expected}: "
        "epoch 3 (= step_size) is the first decayed one")
    assert isinstance(got[0], float), f"step_lr should return a Python float, got {type(got[0]).__name__}"


def test_warmup_cosine_readme_example_warms_up_then_decays_to_zero(solution):
    got = [solution.warmup_cosine(s, 1.0, 2, 6) for s in range(8)]
    expected = [0.5, 1.0, 1.0, 0.75, 0.25, 0.0, 0.0, 0.0]
    assert got == pytest.approx(expected, abs=1e-12), (
        f"warmup_cosine(s, base_lr=1.0, warmup_steps=2, total_steps=6) for s in 0..7 gave {got}, "
        f"expected {expected}: warmup starts at base_lr/warmup_steps, the cosine starts at base_lr "
        "at step warmup_steps and reaches min_lr at step total_steps - 1")


def test_warmup_cosine_reaches_min_lr_at_the_last_step_and_stays_there(solution):
    base, min_lr = 0.4, 0.1
    got = [solution.warmup_cosine(s, base, 0, 5, min_lr=min_lr) for s in range(7)]
    expected = [min_lr + (base - min_lr) * (1 + math.cos(math.pi * min(1, s / 4))) / 2 for s in range(7)]
    assert got == pytest.approx(expected, abs=1e-12), (
        f"warmup_cosine(s, 0.4, warmup_steps=0, total_steps=5, min_lr=0.1) for s in 0..6 gave {got}, "
        f"expected {expected}: no warmup, min_lr reached at step 4 and kept")


def test_warmup_cosine_scheduler_drives_every_param_group(solution):
    opt = _optimizer(1.0, 0.1)
    sched = solution.WarmupCosine(opt, warmup_steps=2, total_steps=6)
    expected_lrs = [[1.0 * f, 0.1 * f] for f in [0.5, 1.0, 1.0, 0.75, 0.25, 0.0]]
    for k, expected in enumerate(expected_lrs):
        if k:
            opt.step()
            sched.step()
        got = [g["lr"] for g in opt.param_groups]
        assert got == pytest.approx(expected, abs=1e-12), (
            f"after {k} scheduler.step() calls the groups (initial lrs 1.0 and 0.1) hold lrs {got}, "
            f"expected {expected}")
        assert sched.get_last_lr() == pytest.approx(expected, abs=1e-12), (
            f"get_last_lr() after {k} steps is {sched.get_last_lr()}, expected {expected}")


def test_reduce_on_plateau_halves_after_patience_and_restarts_its_count(solution):
    opt = _optimizer(1.0, 0.2)
    plateau = solution.ReduceOnPlateau(opt, factor=0.5, patience=1)
    got = []
    for m in [1.0, 0.8, 0.8, 0.8, 0.8, 0.8]:
        plateau.step(m)
        got.append(tuple(g["lr"] for g in opt.param_groups))
    expected = [(1.0 * f, 0.2 * f) for f in [1.0, 1.0, 1.0, 0.5, 0.5, 0.25]]
    torch.testing.assert_close(got, expected, msg=lambda _: (
        f"metrics [1.0, 0.8, 0.8, 0.8, 0.8, 0.8] with factor=0.5, patience=1 gave lrs {got}, "
        f"expected {expected}: reduce when the bad-epoch count exceeds patience, then zero the count"))
