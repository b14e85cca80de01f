"""Hidden suite for kata 11_lr_schedules: StepLR, linear warmup + cosine decay (function and
LRScheduler), reduce-on-plateau.

Oracles: torch's own schedulers (StepLR; LinearLR then CosineAnnealingLR; ReduceLROnPlateau in
'min' mode with relative threshold, no cooldown and eps=0) stepped on a real optimizer, and the
catalog's closed form for warmup_cosine (where torch's cosine would rise again after T_max,
the contract keeps min_lr). Every step is compared, boundaries included.

Tolerance: learning rates span orders of magnitude (base_lr down to 1e-4, times gamma**k), so
they are compared relatively: float64's default rtol (1e-7), and float64's default atol (1e-7)
scaled by base_lr, i.e. a small lr is checked as strictly as lr = 1 (never looser).
"""
import math
import types

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from torchkata.testing import assert_close, expect, tolerances

from drivers import d11

F64 = torch.float64
RTOL, ATOL = tolerances(F64)


# ------------------------------------------------------------------------------- helpers

def _assert_lrs(got, want, *, scale, what, inputs):
    """GOT and WANT: lists of lrs (or of lists of lrs); compared elementwise, relatively."""
    try:
        got_t = torch.tensor(got, dtype=F64)
    except (TypeError, ValueError) as err:
        raise AssertionError(f"{what}: expected numbers, got {got!r} ({err})") from None
    assert_close(got_t, torch.tensor(want, dtype=F64), rtol=RTOL, atol=ATOL * scale, what=what, inputs=inputs)


def _silently(fn, *args):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args)


def _torch_step_lr(base_lr, step_size, gamma, epochs):
    """The lr in effect at epochs 0..epochs-1 under torch.optim.lr_scheduler.StepLR."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base_lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=step_size, gamma=gamma)
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def _closed_form(step, base_lr, warmup_steps, total_steps, min_lr):
    """The catalog's warmup_cosine, written out."""
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    p = min(1.0, (step - warmup_steps) / max(1, total_steps - 1 - warmup_steps))
    return min_lr + (base_lr - min_lr) * (1 + math.cos(math.pi * p)) / 2


def _torch_warmup_cosine(base_lr, warmup_steps, total_steps, min_lr):
    """lr at steps 0..total_steps-1 from torch: LinearLR(1/W -> 1 over W-1 steps) for the
    first W steps, then CosineAnnealingLR(T_max=total-1-W, eta_min=min_lr), via SequentialLR."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base_lr)
    lr_scheduler = torch.optim.lr_scheduler
    sched = lr_scheduler.SequentialLR(
        opt, [lr_scheduler.LinearLR(opt, start_factor=1 / warmup_steps, end_factor=1.0, total_iters=warmup_steps - 1),
              lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps - 1 - warmup_steps, eta_min=min_lr)],
        milestones=[warmup_steps])
    out = []
    for _ in range(total_steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def _torch_plateau(optimizer, factor=0.1, patience=10, threshold=1e-4, min_lr=0.0):
    # The contract: 'min' mode, relative threshold, no cooldown, every reduction applied (eps=0).
    return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=factor, patience=patience,
                                                      threshold=threshold, threshold_mode="rel", cooldown=0,
                                                      min_lr=min_lr, eps=0.0)


TORCH = types.SimpleNamespace(ReduceOnPlateau=_torch_plateau)

# ---------------------------------------------------------------------------- strategies

base_lrs = st.floats(min_value=1e-4, max_value=10.0)
gammas = st.floats(min_value=0.05, max_value=1.0)


@st.composite
def warmup_settings(draw, min_warmup=0, min_decay=1):
    """(base_lr, warmup_steps, total_steps, min_lr) with total_steps >= warmup_steps + min_decay
    (and >= 1: MIN_DECAY may be negative, total_steps below warmup_steps)."""
    base_lr = draw(base_lrs, label="base_lr")
    warmup = draw(st.integers(min_warmup, 6), label="warmup_steps")
    total = draw(st.integers(max(1, warmup + min_decay), warmup + 12), label="total_steps")
    min_lr = draw(st.one_of(st.just(0.0), st.floats(0.0, 0.9).map(lambda f: f * base_lr)), label="min_lr")
    return base_lr, warmup, total, min_lr


@st.composite
def metric_sequences(draw, threshold, min_size=1, max_size=30):
    """Positive losses that stay level, improve by less or more than THRESHOLD, or get worse."""
    m = draw(st.floats(0.5, 10.0), label="first metric")
    changes = draw(st.lists(st.sampled_from([1.0, 1.0 - 0.5 * threshold, 1.0 - 3 * threshold - 0.01, 0.9, 0.5,
                                             1.05, 1.3]), min_size=min_size - 1, max_size=max_size - 1),
                   label="relative changes")
    out = [m]
    for c in changes:
        out.append(out[-1] * c)
    return out


plateau_kwargs = st.fixed_dictionaries({
    "factor": st.floats(0.1, 0.9),
    "patience": st.integers(0, 4),
    "threshold": st.sampled_from([0.0, 1e-4, 0.01, 0.1]),
})


# ------------------------------------------------------------------------------- step_lr

@given(base_lr=base_lrs, step_size=st.integers(1, 6), gamma=gammas, epochs=st.integers(1, 25))
def test_step_lr_matches_torch_steplr_at_every_epoch(kata, base_lr, step_size, gamma, epochs):
    want = _torch_step_lr(base_lr, step_size, gamma, epochs)
    got = [kata.call("step_lr", e, base_lr, step_size, gamma) for e in range(epochs)]
    _assert_lrs(got, want, scale=base_lr, what="step_lr(epoch) for epoch = 0, 1, ... (vs torch StepLR)",
                inputs={"base_lr": base_lr, "step_size": step_size, "gamma": gamma})


@given(base_lr=base_lrs, step_size=st.integers(1, 6), gamma=st.floats(0.05, 0.95), k=st.integers(1, 4))
def test_step_lr_decays_exactly_at_multiples_of_step_size(kata, base_lr, step_size, gamma, k):
    # Epoch k*step_size - 1 still has gamma**(k-1); epoch k*step_size is the first with gamma**k.
    before = kata.call("step_lr", k * step_size - 1, base_lr, step_size, gamma)
    at = kata.call("step_lr", k * step_size, base_lr, step_size, gamma)
    inputs = {"base_lr": base_lr, "step_size": step_size, "gamma": gamma}
    _assert_lrs([before], [base_lr * gamma ** (k - 1)], scale=base_lr,
                what=f"step_lr at epoch {k * step_size - 1}, the last epoch before decay number {k}", inputs=inputs)
    _assert_lrs([at], [base_lr * gamma ** k], scale=base_lr,
                what=f"step_lr at epoch {k * step_size}, where decay number {k} happens", inputs=inputs)


@pytest.mark.parametrize("name, args", [("step_lr", (3, 0.1, 2, 0.5)), ("warmup_cosine", (3, 0.1, 2, 10, 0.0)),
                                        ("warmup_cosine", (0, 0.1, 2, 10, 0.0))])
def test_schedule_functions_return_python_floats(kata, name, args):
    out = kata.call(name, *args)
    expect(isinstance(out, float) and not isinstance(out, bool),
           f"{name}{args} returned {type(out).__name__} {out!r}; return a Python float")


# ------------------------------------------------------------------------- warmup_cosine

@given(settings=warmup_settings(min_decay=-3), extra=st.integers(0, 4))
@example(settings=(0.5, 4, 5, 0.1), extra=2)
@example(settings=(0.5, 4, 2, 0.1), extra=2)
def test_warmup_cosine_matches_the_closed_form_at_every_step(kata, settings, extra):
    # total_steps <= warmup_steps + 1 included: then max(1, total_steps - 1 - warmup_steps) = 1,
    # so step warmup_steps still has base_lr and min_lr comes one step later.
    base_lr, warmup, total, min_lr = settings
    steps = range(total + extra)
    got = [kata.call("warmup_cosine", s, base_lr, warmup, total, min_lr) for s in steps]
    want = [_closed_form(s, base_lr, warmup, total, min_lr) for s in steps]
    _assert_lrs(got, want, scale=base_lr, what="warmup_cosine(step) for step = 0, 1, ...",
                inputs={"base_lr": base_lr, "warmup_steps": warmup, "total_steps": total, "min_lr": min_lr})


@given(settings=warmup_settings(min_warmup=2, min_decay=2))
def test_warmup_cosine_matches_torch_linearlr_then_cosineannealinglr(kata, settings):
    base_lr, warmup, total, min_lr = settings
    want = _silently(_torch_warmup_cosine, base_lr, warmup, total, min_lr)
    got = [kata.call("warmup_cosine", s, base_lr, warmup, total, min_lr) for s in range(total)]
    _assert_lrs(got, want, scale=base_lr,
                what="warmup_cosine(step) for step = 0 .. total_steps-1 (vs torch LinearLR then CosineAnnealingLR)",
                inputs={"base_lr": base_lr, "warmup_steps": warmup, "total_steps": total, "min_lr": min_lr})


@given(settings=warmup_settings(min_warmup=1))
def test_warmup_starts_at_base_lr_over_warmup_steps_and_peaks_at_base_lr(kata, settings):
    base_lr, warmup, total, min_lr = settings
    inputs = {"base_lr": base_lr, "warmup_steps": warmup, "total_steps": total, "min_lr": min_lr}
    first = kata.call("warmup_cosine", 0, base_lr, warmup, total, min_lr)
    _assert_lrs([first], [base_lr / warmup], scale=base_lr, what="warmup_cosine at step 0 (base_lr / warmup_steps)",
                inputs=inputs)
    peak = [kata.call("warmup_cosine", s, base_lr, warmup, total, min_lr) for s in (warmup - 1, warmup)]
    _assert_lrs(peak, [base_lr, base_lr], scale=base_lr,
                what="warmup_cosine at steps warmup_steps-1 and warmup_steps (both base_lr)", inputs=inputs)


@given(settings=warmup_settings(min_decay=2), extra=st.integers(0, 20))
def test_warmup_cosine_reaches_min_lr_at_the_last_step_and_stays_there(kata, settings, extra):
    # total_steps >= warmup_steps + 2: with a single post-warmup step the formula's p is 0 at
    # step total_steps - 1 (base_lr) and min_lr comes one step later; the closed-form test covers that.
    base_lr, warmup, total, min_lr = settings
    step = total - 1 + extra
    got = kata.call("warmup_cosine", step, base_lr, warmup, total, min_lr)
    _assert_lrs([got], [min_lr], scale=base_lr,
                what=f"warmup_cosine at step {step} (total_steps - 1 = {total - 1}: min_lr from there on)",
                inputs={"base_lr": base_lr, "warmup_steps": warmup, "total_steps": total, "min_lr": min_lr})


@given(settings=warmup_settings(min_decay=-1), ratio=st.floats(1.5, 20.0), extra=st.integers(0, 3))
@example(settings=(0.01, 2, 6, 0.0), ratio=5.0, extra=1)
def test_warmup_cosine_follows_the_formula_when_min_lr_is_above_base_lr(kata, settings, ratio, extra):
    # The formula holds for any min_lr (the catalog sets no bound on it; WarmupCosine gives one
    # min_lr to groups with different lrs, so a group's lr may lie below it): after the warmup the
    # lr moves along the cosine from base_lr up to min_lr, as torch's CosineAnnealingLR with an
    # eta_min above the lr does. A clamp at min_lr (max(min_lr, ...)) jumps there at once.
    base_lr, warmup, total, _ = settings
    min_lr = ratio * base_lr
    steps = range(total + extra)
    got = [kata.call("warmup_cosine", s, base_lr, warmup, total, min_lr) for s in steps]
    want = [_closed_form(s, base_lr, warmup, total, min_lr) for s in steps]
    _assert_lrs(got, want, scale=min_lr, what="warmup_cosine(step) for step = 0, 1, ... with min_lr > base_lr",
                inputs={"base_lr": base_lr, "warmup_steps": warmup, "total_steps": total, "min_lr": min_lr})


# -------------------------------------------------------------------------- WarmupCosine

def test_warmup_cosine_scheduler_is_an_lr_scheduler(kata):
    out = kata.run(d11.warmup_cosine_run, [0.1], 2, 10, 0.0, 1)
    expect(out["is_lr_scheduler"], "WarmupCosine should subclass torch.optim.lr_scheduler.LRScheduler")


@given(lrs=st.lists(base_lrs, min_size=1, max_size=3), settings=warmup_settings(), extra=st.integers(0, 3))
def test_warmup_cosine_scheduler_moves_every_group_along_its_own_schedule(kata, lrs, settings, extra):
    _, warmup, total, min_lr_fraction = settings
    # min_lr is one number for all groups: keep it below every group's initial lr.
    min_lr = min(lrs) * (min_lr_fraction / settings[0])
    n_steps = total + extra
    out = kata.run(d11.warmup_cosine_run, lrs, warmup, total, min_lr, n_steps)
    want = [[_closed_form(s, lr, warmup, total, min_lr) for lr in lrs] for s in range(n_steps + 1)]
    inputs = {"group lrs": lrs, "warmup_steps": warmup, "total_steps": total, "min_lr": min_lr}
    expect(len(out["lrs"]) == n_steps + 1, f"recorded {len(out['lrs'])} steps, expected {n_steps + 1}")
    for s, (got_s, want_s) in enumerate(zip(out["lrs"], want)):
        when = "right after construction (step 0)" if s == 0 else f"after {s} scheduler.step() calls (step {s})"
        _assert_lrs(got_s, want_s, scale=max(lrs), what=f"param group lrs {when}", inputs=inputs)


@given(lrs=st.lists(base_lrs, min_size=2, max_size=3), settings=warmup_settings(), position=st.floats(0.1, 0.9))
@example(lrs=[1.0, 0.01], settings=(1.0, 2, 6, 0.0), position=0.5)
def test_warmup_cosine_scheduler_gives_one_min_lr_to_groups_on_both_sides_of_it(kata, lrs, settings, position):
    # "every param group follows warmup_cosine with its own initial lr (and the one min_lr)": with
    # min_lr between the groups' lrs (a backbone trained at a small lr, a head at a large one), the
    # small group's lr rises along the cosine to min_lr, the large one's falls to it.
    _, warmup, total, _ = settings
    lo, hi = min(lrs), max(lrs)
    min_lr = lo + position * (hi - lo)
    n_steps = total + 1
    out = kata.run(d11.warmup_cosine_run, lrs, warmup, total, min_lr, n_steps)
    want = [[_closed_form(s, lr, warmup, total, min_lr) for lr in lrs] for s in range(n_steps + 1)]
    inputs = {"group lrs": lrs, "warmup_steps": warmup, "total_steps": total, "min_lr": min_lr}
    expect(len(out["lrs"]) == n_steps + 1, f"recorded {len(out['lrs'])} steps, expected {n_steps + 1}")
    for s, (got_s, want_s) in enumerate(zip(out["lrs"], want)):
        _assert_lrs(got_s, want_s, scale=hi, what=f"param group lrs at step {s} (one min_lr, some group lrs below it)",
                    inputs=inputs)


@given(lrs=st.lists(base_lrs, min_size=1, max_size=3), settings=warmup_settings())
def test_warmup_cosine_scheduler_get_last_lr_reports_the_group_lrs(kata, lrs, settings):
    _, warmup, total, _ = settings
    out = kata.run(d11.warmup_cosine_run, lrs, warmup, total, 0.0, total)
    for s, (last, groups) in enumerate(zip(out["last_lr"], out["lrs"])):
        _assert_lrs(last, groups, scale=max(lrs), what=f"get_last_lr() at step {s} vs the optimizer's group lrs",
                    inputs={"group lrs": lrs, "warmup_steps": warmup, "total_steps": total})


@given(lrs=st.lists(base_lrs, min_size=1, max_size=3), settings=warmup_settings(), data=st.data())
def test_warmup_cosine_scheduler_resumes_from_a_saved_checkpoint(kata, lrs, settings, data):
    # An LRScheduler's state_dict is what a training checkpoint saves (torch.save) and loads
    # into a freshly built scheduler: the schedule must go on where it stopped.
    _, warmup, total, min_lr_fraction = settings
    min_lr = min(lrs) * (min_lr_fraction / settings[0])
    n_steps = total + 1
    split = data.draw(st.integers(1, n_steps - 1), label="checkpoint after step")
    got = kata.run(d11.warmup_cosine_resumed, lrs, warmup, total, min_lr, n_steps, split)
    inputs = {"group lrs": lrs, "warmup_steps": warmup, "total_steps": total, "min_lr": min_lr,
              "state_dicts saved with torch.save and loaded into a new optimizer and WarmupCosine after step": split}
    expect(len(got) == n_steps, f"recorded {len(got)} steps, expected {n_steps}")
    for s, got_s in enumerate(got, 1):
        want_s = [_closed_form(s, lr, warmup, total, min_lr) for lr in lrs]
        _assert_lrs(got_s, want_s, scale=max(lrs), what=f"param group lrs after {s} scheduler.step() calls",
                    inputs=inputs)


# ------------------------------------------------------------------------ ReduceOnPlateau

@given(lrs=st.lists(base_lrs, min_size=1, max_size=3), kwargs=plateau_kwargs,
       min_lr_fraction=st.sampled_from([0.0, 1e-3, 0.3]), data=st.data())
def test_reduce_on_plateau_matches_torch_at_every_step(kata, lrs, kwargs, min_lr_fraction, data):
    kwargs = {**kwargs, "min_lr": min_lr_fraction * min(lrs)}
    metrics = data.draw(metric_sequences(kwargs["threshold"]), label="metrics")
    got = kata.run(d11.plateau_run, lrs, metrics, kwargs)
    want = d11.plateau_run(TORCH, lrs, metrics, kwargs)
    inputs = {"group lrs": lrs, "kwargs": kwargs, "metrics": metrics}
    expect(len(got) == len(want), f"recorded {len(got)} steps, expected {len(want)}")
    for t, (got_t, want_t) in enumerate(zip(got, want)):
        _assert_lrs(got_t, want_t, scale=max(lrs),
                    what=f"group lrs after step(metrics[{t}]) (vs torch ReduceLROnPlateau, mode='min')", inputs=inputs)


def test_reduce_on_plateau_defaults_match_torch(kata):
    # Only the optimizer: factor=0.1, patience=10, threshold=1e-4, min_lr=0 (torch's defaults).
    # After the first metric every one is lower by a relative 5e-5, less than the threshold:
    # bad epochs under threshold=1e-4 (reductions after steps 12 and 23), one improvement more
    # under threshold=0 (one step later); another patience moves them too.
    metrics = [1.0] + [1.0 - 5e-5] * 25
    got = kata.run(d11.plateau_run, [1.0, 0.3], metrics, {})
    want = d11.plateau_run(TORCH, [1.0, 0.3], metrics, {})
    for t, (got_t, want_t) in enumerate(zip(got, want)):
        _assert_lrs(got_t, want_t, scale=1.0, what=f"group lrs after step(metrics[{t}]) with the default "
                                                    "factor, patience, threshold and min_lr (vs torch)",
                    inputs={"group lrs": [1.0, 0.3], "metrics": metrics})


@pytest.mark.parametrize("patience", [0, 1, 3])
def test_reduce_on_plateau_reduces_after_patience_plus_one_bad_epochs_and_counts_again(kata, patience):
    # A constant metric: the first step sets the best, every later one is a bad epoch. The lr
    # drops at steps patience+1, 2*(patience+1), ... (1-based), because the count restarts.
    lr, factor, n = 1.0, 0.5, 4 * (patience + 1) + 1
    got = kata.run(d11.plateau_run, [lr], [2.0] * n, {"factor": factor, "patience": patience})
    want = [[lr * factor ** ((t - 1) // (patience + 1))] for t in range(1, n + 1)]
    _assert_lrs(got, want, scale=lr, what=f"lr after each step(2.0) with patience={patience}, factor={factor}",
                inputs={"metrics": [2.0] * n})


@given(threshold=st.sampled_from([1e-4, 0.01, 0.1]), patience=st.integers(0, 3))
def test_reduce_on_plateau_treats_improvements_below_threshold_as_bad_epochs(kata, threshold, patience):
    # Every metric is lower than the one before, but below the first (the best) by less than a
    # relative 0.5 * threshold: none is an improvement.
    n = patience + 2
    metrics = [1.0 - 0.5 * threshold * (1 - 2.0 ** -t) for t in range(n)]
    got = kata.run(d11.plateau_run, [1.0], metrics, {"factor": 0.5, "patience": patience, "threshold": threshold})
    want = [[1.0]] * (n - 1) + [[0.5]]
    _assert_lrs(got, want, scale=1.0, what="lr after each step (improvements smaller than threshold are bad epochs)",
                inputs={"metrics": metrics, "threshold": threshold, "patience": patience})


@given(lrs=st.lists(base_lrs, min_size=1, max_size=3), fraction=st.floats(0.05, 0.9))
def test_reduce_on_plateau_never_goes_below_min_lr(kata, lrs, fraction):
    min_lr = fraction * min(lrs)
    metrics = [1.0] * 30
    got = kata.run(d11.plateau_run, lrs, metrics, {"factor": 0.1, "patience": 0, "min_lr": min_lr})
    _assert_lrs(got[-1], [min_lr] * len(lrs), scale=max(lrs),
                what="group lrs after 29 reductions (floored at min_lr)",
                inputs={"group lrs": lrs, "min_lr": min_lr})


@given(threshold=st.sampled_from([1e-4, 0.01, 0.1]), patience=st.integers(1, 3), start=st.floats(0.5, 10.0))
def test_reduce_on_plateau_counts_a_slow_creep_once_it_beats_the_best_by_threshold(kata, threshold, patience, start):
    # Each metric is below the previous by a relative 0.4 * threshold (never enough on its own),
    # but the best moves only on a real improvement: every third metric beats the best by more
    # than threshold and resets the count. Comparing with the previous metric (or moving the
    # best on every new minimum) sees only bad epochs and reduces more often.
    n = 4 * (patience + 1)
    metrics = [start * (1 - 0.4 * threshold) ** t for t in range(n)]
    kwargs = {"factor": 0.5, "patience": patience, "threshold": threshold}
    got = kata.run(d11.plateau_run, [1.0], metrics, kwargs)
    want = d11.plateau_run(TORCH, [1.0], metrics, kwargs)
    _assert_lrs(got, want, scale=1.0, what="lr after each step of a slowly improving metric "
                                            "(vs torch ReduceLROnPlateau, mode='min')",
                inputs={"metrics": metrics, **kwargs})


@given(lrs=st.lists(base_lrs, min_size=1, max_size=3), kwargs=plateau_kwargs, data=st.data())
def test_reduce_on_plateau_multiplies_the_current_lr_after_outside_changes(kata, lrs, kwargs, data):
    # Something else (the user, a warmup) may change the group lrs between steps: a reduction
    # multiplies the lr the group has now, not one remembered from construction.
    metrics = data.draw(metric_sequences(kwargs["threshold"], min_size=8, max_size=20), label="metrics")
    scales = data.draw(st.lists(st.sampled_from([1.0, 1.0, 0.5, 2.0, 3.0]), min_size=len(metrics),
                                max_size=len(metrics)), label="outside lr scales")
    got = kata.run(d11.plateau_run, lrs, metrics, kwargs, scales)
    want = d11.plateau_run(TORCH, lrs, metrics, kwargs, scales)
    inputs = {"group lrs": lrs, "kwargs": kwargs, "metrics": metrics, "lr *= scale before each step": scales}
    for t, (got_t, want_t) in enumerate(zip(got, want)):
        _assert_lrs(got_t, want_t, scale=max(lrs),
                    what=f"group lrs after step(metrics[{t}]) (vs torch ReduceLROnPlateau)", inputs=inputs)


@given(lr=base_lrs, factor=st.floats(0.05, 0.2), patience=st.integers(0, 2))
@example(lr=1e-4, factor=0.1, patience=0)
def test_reduce_on_plateau_applies_every_reduction_however_small_the_lr(kata, lr, factor, patience):
    # The contract applies every reduction (torch's eps=0): even when the lr is already tiny,
    # lr becomes lr * factor (min_lr = 0). A constant metric reduces at steps patience+1,
    # 2*(patience+1), ...; 16 reductions by at most 0.2 take any lr here below 10 * 0.2**16
    # < 1e-10, where torch's default eps=1e-8 would have stopped reducing. Compared
    # relatively only (atol 0): the lrs get tiny.
    reductions = 16
    n = reductions * (patience + 1) + 1
    got = kata.run(d11.plateau_run, [lr], [1.0] * n, {"factor": factor, "patience": patience})
    want = [[lr * factor ** ((t - 1) // (patience + 1))] for t in range(1, n + 1)]
    _assert_lrs(got, want, scale=0.0, what=f"lr after each step(1.0) with patience={patience}, factor={factor}, "
                                            "min_lr=0 (every reduction applied, however small)",
                inputs={"lr": lr, "metrics": [1.0] * n})


@given(lrs=st.lists(base_lrs, min_size=1, max_size=2), new_lr=base_lrs, kwargs=plateau_kwargs,
       min_lr_fraction=st.sampled_from([0.0, 0.3]), data=st.data())
def test_reduce_on_plateau_reduces_a_param_group_added_after_construction(kata, lrs, new_lr, kwargs,
                                                                          min_lr_fraction, data):
    # "every group's lr": the optimizer's groups at the time of the reduction, including one
    # added with add_param_group after the scheduler was built (torch's ReduceLROnPlateau with a
    # single min_lr does the same). Constant metrics after it make sure reductions follow.
    kwargs = {**kwargs, "min_lr": min_lr_fraction * min(lrs + [new_lr])}
    metrics = data.draw(metric_sequences(kwargs["threshold"], min_size=2, max_size=8), label="metrics")
    at = data.draw(st.integers(0, len(metrics) - 1), label="group added before step")
    metrics = metrics + [metrics[-1]] * (kwargs["patience"] + 2)
    got = kata.run(d11.plateau_run, lrs, metrics, kwargs, added_group=(at, new_lr))
    want = d11.plateau_run(TORCH, lrs, metrics, kwargs, added_group=(at, new_lr))
    inputs = {"group lrs": lrs, "kwargs": kwargs, "metrics": metrics, f"group added before step {at}, lr": new_lr}
    expect(len(got) == len(want), f"recorded {len(got)} steps, expected {len(want)}")
    for t, (got_t, want_t) in enumerate(zip(got, want)):
        _assert_lrs(got_t, want_t, scale=max(lrs + [new_lr]),
                    what=f"group lrs after step(metrics[{t}]) (vs torch ReduceLROnPlateau)", inputs=inputs)


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e12, 1e300])
@pytest.mark.parametrize("threshold", [0.0, 1e-4])
def test_reduce_on_plateau_compares_metrics_exactly_at_any_magnitude(kata, scale, threshold):
    # 'best' starts at inf, so the first metric is an improvement however large the loss (a
    # diverging model's 1e12, or 1e300); metrics are Python floats, so with threshold=0 any
    # lower value is an improvement, even by a relative 2**-40 (below float32's resolution).
    # The decreases are bad epochs under threshold=1e-4. Then a plateau forces reductions.
    patience = 1
    decreasing = [scale * (1 - j * 2.0 ** -40) for j in range(5)]
    metrics = decreasing + [decreasing[-1]] * (2 * (patience + 1))
    kwargs = {"factor": 0.5, "patience": patience, "threshold": threshold}
    got = kata.run(d11.plateau_run, [1.0, 0.25], metrics, kwargs)
    want = d11.plateau_run(TORCH, [1.0, 0.25], metrics, kwargs)
    expect(len(got) == len(want), f"recorded {len(got)} steps, expected {len(want)}")
    for t, (got_t, want_t) in enumerate(zip(got, want)):
        _assert_lrs(got_t, want_t, scale=1.0,
                    what=f"group lrs after step(metrics[{t}]) (vs torch ReduceLROnPlateau, mode='min')",
                    inputs={"metrics": metrics, **kwargs})


@given(lrs=st.lists(base_lrs, min_size=1, max_size=2), factor=st.sampled_from([0.1, 0.5]),
       patience=st.integers(0, 3), fraction=st.sampled_from([0.3, 0.5]),
       raised=st.lists(st.integers(2, 39), min_size=1, max_size=3), data=st.data())
@example(lrs=[1.0], factor=0.5, patience=1, fraction=0.25, raised=[7], data=None)   # at min_lr for 3 steps
@example(lrs=[1.0], factor=0.5, patience=1, fraction=0.25, raised=[6], data=None)   # at min_lr for 2 steps
@example(lrs=[1.0, 0.5], factor=0.1, patience=0, fraction=0.5, raised=[5, 9], data=None)
# one group reaches min_lr two reductions before the other: the count restarts after every reduction
@example(lrs=[1.0, 0.3], factor=0.5, patience=1, fraction=0.5, raised=[30], data=None)
def test_reduce_on_plateau_keeps_counting_at_min_lr_when_the_lr_is_raised_from_outside(kata, lrs, factor, patience,
                                                                                     fraction, raised, data):
    # min_lr and outside changes together: once the lrs sit at min_lr a reduction changes nothing,
    # but the contract still counts the bad epochs and restarts the count after each reduction
    # (torch does the same). When something raises the lrs (a warm restart, the user), the next
    # reduction comes patience + 1 bad epochs after the last one, not at once. The outside
    # changes only raise the lr here (scale 4): an lr pushed below min_lr from outside is a case
    # the contract leaves open (README's max(lr * factor, min_lr) raises it, torch keeps it).
    threshold = 1e-4 if data is None else data.draw(st.sampled_from([0.0, 1e-4, 0.1]), label="threshold")
    metrics = [1.0] * 40 if data is None else data.draw(metric_sequences(threshold, min_size=40, max_size=40),
                                                        label="metrics")
    scales = [4.0 if t in raised else 1.0 for t in range(len(metrics))]
    kwargs = {"factor": factor, "patience": patience, "threshold": threshold, "min_lr": fraction * min(lrs)}
    got = kata.run(d11.plateau_run, lrs, metrics, kwargs, scales)
    want = d11.plateau_run(TORCH, lrs, metrics, kwargs, scales)
    inputs = {"group lrs": lrs, "kwargs": kwargs, "metrics": metrics, "lr *= 4 before steps": raised}
    expect(len(got) == len(want), f"recorded {len(got)} steps, expected {len(want)}")
    for t, (got_t, want_t) in enumerate(zip(got, want)):
        _assert_lrs(got_t, want_t, scale=max(lrs) * 4 ** len(raised),
                    what=f"group lrs after step(metrics[{t}]) (vs torch ReduceLROnPlateau, min_lr set)", inputs=inputs)
