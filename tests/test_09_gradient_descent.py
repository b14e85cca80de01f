"""Hidden suite for kata 09_gradient_descent: least squares in closed form and by batch,
stochastic and mini-batch gradient descent.

Gradient descent is judged without assuming how the solution shuffles: full-batch descent
does not depend on the order, data whose rows are all equal makes every order give the same
run (so the number of updates per epoch shows exactly), and for tiny data sets the result must
equal the run of *one* of the possible per-epoch orders, which are all enumerated here.
Expected values are computed in float64 by the plain update rule of the contract:
    r = X_b @ w + b - y_b,   w -= lr * 2 X_b^T r / B,   b -= lr * 2 mean(r).
"""
import itertools
import math

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from torchkata import strategies as tks
from torchkata.testing import assert_close, expect

from drivers import d09

F64 = torch.float64


# ------------------------------------------------------------------------------- helpers

def _laid_out(t: torch.Tensor, layout: str) -> torch.Tensor:
    """T's values stored as LAYOUT (one of tks.LAYOUTS): contiguous, every other element of a
    wider tensor, the transpose of a contiguous tensor, or (when T's rows are all equal) one
    row expanded with stride 0."""
    if layout == "strided" and t.dim():
        wide = torch.zeros(t.shape[:-1] + (2 * t.shape[-1],), dtype=t.dtype, device=t.device)
        wide[..., ::2] = t
        return wide[..., ::2]
    if layout == "transposed" and t.dim() == 2:
        return t.T.contiguous().T
    if layout == "expanded" and t.dim() and bool((t == t[:1]).all()):
        return t[:1].expand(t.shape)
    return t.contiguous()


def _design(X: torch.Tensor) -> torch.Tensor:
    return torch.cat([X, torch.ones(X.shape[0], 1, dtype=X.dtype, device=X.device)], dim=1)


def _lstsq(X, y):
    """(w, b) by torch.linalg.lstsq on [X, 1], in float64."""
    theta = torch.linalg.lstsq(_design(X.double().cpu()), y.double().cpu().unsqueeze(-1)).solution.squeeze(-1)
    return theta[:-1], theta[-1]


def _mse(X, y, w, b):
    return ((X @ w + b - y) ** 2).mean()


def _descend(X, y, lr, epochs, batches):
    """Reference run in float64: BATCHES(epoch) lists the index lists of that epoch's batches.
    Returns (w, b, history as a float64 tensor)."""
    X, y = X.double().cpu(), y.double().cpu()
    w, b = torch.zeros(X.shape[1], dtype=F64), torch.zeros((), dtype=F64)
    history = []
    for epoch in range(epochs):
        for idx in batches(epoch):
            Xb, yb = X[list(idx)], y[list(idx)]
            r = Xb @ w + b - yb
            w, b = w - lr * 2 * (Xb.T @ r) / len(idx), b - lr * 2 * r.mean()
        history.append(_mse(X, y, w, b))
    return w, b, torch.stack(history) if history else torch.zeros(0, dtype=F64)


def _ordered_partitions(n, size):
    """Every distinct sequence of batches (as sorted index tuples) one shuffled pass over N
    samples in batches of SIZE can produce: batch_size samples per batch, the rest in the last."""
    def split(left):
        if not left:
            yield ()
            return
        for first in itertools.combinations(left, min(size, len(left))):
            rest = tuple(i for i in left if i not in first)
            for tail in split(rest):
                yield (first,) + tail
    return list(split(tuple(range(n))))


def _all_runs(X, y, lr, epochs, size):
    """{(partition index per epoch): (w, b, history)} for every possible sequence of orders."""
    parts = _ordered_partitions(X.shape[0], size)
    runs = {}
    for choice in itertools.product(range(len(parts)), repeat=epochs):
        runs[choice] = _descend(X, y, lr, epochs, lambda e, choice=choice: parts[choice[e]])
    return runs, parts


def _distance(got, want):
    w, b, history = got
    hw = torch.tensor(history, dtype=F64) if len(history) else torch.zeros(0, dtype=F64)
    if hw.shape != want[2].shape or w.shape != want[0].shape:
        return math.inf
    parts = [(w.double().cpu() - want[0]).abs().max(), (b.double().cpu() - want[1]).abs(),
             (hw - want[2]).abs().max() if hw.numel() else torch.zeros((), dtype=F64)]
    return max(float(p) for p in parts)


def _closest(got, runs):
    return min(runs, key=lambda k: _distance(got, runs[k]))


def _which_run(result, runs):
    """The enumerated run (of RUNS) that a fit's RESULT dict is."""
    return _closest((result["w"], result["b"], result["history"]), runs)


def _three_samples():
    """Three samples, batch_size=1, two epochs: 36 possible runs, all far apart."""
    X = torch.tensor([[0.9], [-0.4], [0.2]], dtype=F64)
    y = torch.tensor([0.5, 1.3, -0.7], dtype=F64)
    lr, epochs = 0.15, 2
    return X, y, lr, epochs, _all_runs(X, y, lr, epochs, 1)[0]


def _check_fit(got, want, dtype, device, *, what, inputs):
    """Compare (w, b, history) with the float64 expected run, in the solution's dtype."""
    w, b, history = got
    assert_close(w, want[0].to(dtype=dtype, device=device), what=f"{what}: w", inputs=inputs)
    assert_close(b, want[1].to(dtype=dtype, device=device), what=f"{what}: b", inputs=inputs)
    expect(isinstance(history, list), f"{what}: history should be a list, got {type(history).__name__}")
    expect(len(history) == len(want[2]),
           f"{what}: history has {len(history)} entries, expected one per epoch ({len(want[2])})")
    assert_close(torch.tensor([float(h) for h in history], dtype=dtype), want[2].to(dtype),
                 what=f"{what}: history (full-data MSE after each epoch)", inputs=inputs)


def _well_conditioned(seed, n, d, dtype=F64, noise=0.1):
    """Standard-normal X (N, D) and y = X w + b + noise, from a seeded generator."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=F64)
    w = torch.randn(d, generator=g, dtype=F64)
    b = 3 * torch.randn((), generator=g, dtype=F64)
    y = X @ w + b + noise * torch.randn(n, generator=g, dtype=F64)
    return X.to(dtype), y.to(dtype)


def _orthogonal_design(seed, n, d, dtype):
    """X (N, D), N > 2D, with centred orthogonal columns of norm sqrt(N) (cosines of D
    frequencies, rows shuffled, signs flipped): [X, 1] has condition number 1, so a float32
    least-squares fit is accurate to a few ulps whatever the method."""
    g = torch.Generator().manual_seed(seed)
    i = torch.randperm(n, generator=g).to(F64).unsqueeze(1)                       # (N, 1)
    k = torch.arange(1, d + 1, dtype=F64)                                          # (D,)
    signs = torch.randint(0, 2, (d,), generator=g).to(F64) * 2 - 1
    X = math.sqrt(2) * torch.cos(2 * math.pi * k * i / n) * signs                  # (N, D)
    w = torch.randn(d, generator=g, dtype=F64)
    b = 3 * torch.randn((), generator=g, dtype=F64)
    y = X @ w + b + 0.1 * torch.randn(n, generator=g, dtype=F64)
    return X.to(dtype), y.to(dtype)


def _stable_lr(X, fraction):
    """FRACTION of the largest step that keeps every single-sample update contractive:
    one update on sample i scales the error along a_i = (x_i, 1) by 1 - 2 lr |a_i|^2."""
    return fraction / (2 * float((_design(X.double()) ** 2).sum(1).max()))


small_data = st.tuples(st.integers(1, 8), st.integers(1, 4))  # (N, D)


# ----------------------------------------------------------------------- closed form

@given(seed=tks.seeds(), nd=st.tuples(st.integers(1, 4), st.integers(4, 12)), layout=tks.layouts(),
       y_layout=tks.layouts(), scale=st.floats(-2, 2), centre=st.floats(-3, 3))
@example(seed=0, nd=(2, 4), layout="transposed", y_layout="strided", scale=-2.0, centre=3.0)
@example(seed=17, nd=(4, 8), layout="contiguous", y_layout="contiguous", scale=-2.0, centre=0.0)  # large w
def test_closed_form_matches_lstsq_in_float64(kata, device, seed, nd, layout, y_layout, scale, centre):
    # Features of any scale 10**scale (1e-2 .. 1e2) around a mean of CENTRE times that scale:
    # the least-squares fit has no preferred units, so nothing (a "stabilising" ridge term, an
    # absolute threshold) may assume the features are O(1). [X, 1] stays well conditioned
    # (cond < 1e3), so even the normal equations are accurate to ~1e-10 in float64.
    d, extra = nd
    X, y = _well_conditioned(seed, d + extra, d)
    X = (X + centre) * 10 ** scale
    X, y = _laid_out(X.to(device), layout), _laid_out(y.to(device), y_layout)
    w, b = kata.call("fit_closed_form", X, y)
    want_w, want_b = _lstsq(X, y)
    inputs = {"X": X, "y": y}
    assert_close(w, want_w.to(device), what="fit_closed_form: w (vs torch.linalg.lstsq on [X, 1])", inputs=inputs)
    assert_close(b, want_b.to(device), what="fit_closed_form: b (vs torch.linalg.lstsq on [X, 1])", inputs=inputs)


@given(seed=tks.seeds(), d=st.integers(1, 4), n=st.integers(9, 16), layout=tks.layouts(), y_layout=tks.layouts())
def test_closed_form_keeps_float32(kata, device, seed, d, n, layout, y_layout):
    X, y = _orthogonal_design(seed, n, d, torch.float32)
    X, y = _laid_out(X.to(device), layout), _laid_out(y.to(device), y_layout)
    w, b = kata.call("fit_closed_form", X, y)
    want_w, want_b = _lstsq(X, y)
    inputs = {"X": X, "y": y}
    assert_close(w, want_w.float().to(device), what="fit_closed_form: float32 w", inputs=inputs)
    assert_close(b, want_b.float().to(device), what="fit_closed_form: float32 b", inputs=inputs)


@given(seed=tks.seeds(), d=st.integers(1, 3), offset=st.floats(-100, 100))
def test_closed_form_recovers_an_exact_affine_relation_with_its_intercept(kata, device, seed, d, offset):
    X, _ = _well_conditioned(seed, d + 6, d)
    w_true = torch.arange(1, d + 1, dtype=F64) / 2
    y = X @ w_true + offset
    w, b = kata.call("fit_closed_form", X.to(device), y.to(device))
    inputs = {"X": X, "y": y, "true w": w_true, "true b": offset}
    assert_close(w, w_true.to(device), what="fit_closed_form: w for noise-free data", inputs=inputs)
    assert_close(b, torch.tensor(offset, dtype=F64, device=device),
                 what="fit_closed_form: b (the intercept) for noise-free data", inputs=inputs)


def test_closed_form_fits_a_line_through_two_points(kata, device):
    X = torch.tensor([[0.0], [1.0]], dtype=F64, device=device)
    y = torch.tensor([1.0, 3.0], dtype=F64, device=device)
    w, b = kata.call("fit_closed_form", X, y)
    assert_close(w, torch.tensor([2.0], dtype=F64, device=device), what="fit_closed_form: slope of y = 2x + 1",
                 inputs={"X": X, "y": y})
    assert_close(b, torch.tensor(1.0, dtype=F64, device=device), what="fit_closed_form: intercept of y = 2x + 1",
                 inputs={"X": X, "y": y})


# ------------------------------------------------------------------- gradient descent

def _draw_xy(data, n, d, dtype):
    """X (n, d) and y (n,) in [-1, 1], any layout, drawn inside a test."""
    X = data.draw(tks.tensors(shape=(n, d), dtype=dtype, min_value=-1, max_value=1), label="X")
    y = data.draw(tks.tensors(shape=(n,), dtype=dtype, min_value=-1, max_value=1), label="y")
    return X, y


@given(nd=small_data, dtype=tks.float_dtypes(), epochs=st.integers(1, 8), fraction=st.floats(0.05, 1.0),
       data=st.data())
def test_full_batch_descent_matches_the_update_rule(kata, device, nd, dtype, epochs, fraction, data):
    # batch_size=None: one update per epoch on the whole set, so the order does not matter.
    n, d = nd
    X, y = _draw_xy(data, n, d, dtype)
    lr = _stable_lr(X, fraction)
    X, y = X.to(device), y.to(device)
    got = kata.call("fit_gradient_descent", X, y, lr, epochs)
    want = _descend(X, y, lr, epochs, lambda e: [range(n)])
    _check_fit(got, want, dtype, device, what="fit_gradient_descent(batch_size=None)",
               inputs={"X": X, "y": y, "lr": lr, "epochs": epochs})


def _divergent_lr(X, factor):
    """FACTOR times the largest stable full-batch lr, 2 / lambda_max of the MSE's Hessian
    2/N [X, 1]^T [X, 1]: for FACTOR > 1 full-batch descent diverges, the error along the top
    eigenvector growing by 2 * FACTOR - 1 per epoch."""
    A = _design(X.double().cpu())
    return factor * 2 / float(torch.linalg.eigvalsh(2 * A.T @ A / A.shape[0])[-1])


@given(nd=small_data, factor=st.floats(1.2, 2.5), epochs=st.integers(8, 12), data=st.data())
@example(nd=(4, 2), factor=2.0, epochs=8, data=None)
def test_full_batch_descent_with_too_large_an_lr_still_runs_every_epoch(kata, device, nd, factor, epochs, data):
    # The contract fixes the update and one history entry per epoch for any lr: a run whose
    # loss grows (lr above 2 / lambda_max) is reported in full, not cut short when the loss goes
    # up. Float64 only: a diverging run amplifies each epoch's rounding (float32's reaches its
    # tolerance within 10 epochs), and the dtype is checked by the stable-lr test above.
    n, d = nd
    dtype = F64
    if data is None:   # the explicit example: a fixed, generic data set
        X, y = _well_conditioned(3, n, d, dtype, noise=1.0)
    else:
        X, y = _draw_xy(data, n, d, dtype)
    lr = _divergent_lr(X, factor)
    X, y = X.to(device), y.to(device)
    got = kata.call("fit_gradient_descent", X, y, lr, epochs)
    want = _descend(X, y, lr, epochs, lambda e: [range(n)])
    _check_fit(got, want, dtype, device, what=f"fit_gradient_descent(batch_size=None) with lr = {factor:.3g} x the "
                                              "stability limit (the loss grows)",
               inputs={"X": X, "y": y, "lr": lr, "epochs": epochs})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_float64_descent_uses_lr_at_full_precision(kata, device, seed):
    # lr is a Python float and float64 inputs are computed in float64 (results keep the
    # input's dtype): lr may not be rounded to float32 on the way (torch.tensor(lr) is
    # float32). Here lr lies a quarter to half a float32 ulp above a float32 value, so such a
    # rounding changes it by 2**-25 (3e-8, relative), and lr sits just inside the stability
    # limit (the error flips sign and shrinks by 0.99 per epoch), where 300 epochs amplify that
    # change ~600-fold in the history, far beyond float64's tolerance; exact float64 runs agree
    # to ~1e-13.
    X, y = _well_conditioned(seed, 6, 2)
    lr = float(torch.tensor(_divergent_lr(X, 0.995), dtype=torch.float32)) * (1 + 2 ** -25)
    epochs = 300
    got = kata.call("fit_gradient_descent", X.to(device), y.to(device), lr, epochs)
    want = _descend(X, y, lr, epochs, lambda e: [range(6)])
    _check_fit(got, want, F64, device, what="fit_gradient_descent(batch_size=None) in float64 with an lr that is "
                                            "not a float32 number", inputs={"X": X, "y": y, "lr": lr, "epochs": epochs})


def test_a_diverging_run_reports_every_epoch_until_the_end(kata, device):
    # lr = 3 x the stability limit: the error grows 5x per epoch and the MSE overflows to inf
    # after ~220 epochs; the contract still makes `epochs` updates and one history entry per
    # epoch, so the run ends with a non-finite MSE instead of stopping at the first inf/nan.
    X, y = _well_conditioned(0, 6, 2)
    lr, epochs = _divergent_lr(X, 3.0), 260
    want = _descend(X, y, lr, epochs, lambda e: [range(6)])
    w, b, history = kata.call("fit_gradient_descent", X.to(device), y.to(device), lr, epochs)
    inputs = {"X": X, "y": y, "lr": lr, "epochs": epochs}
    expect(isinstance(history, list) and len(history) == epochs,
           f"history has {len(history)} entries for epochs={epochs} with a diverging lr: report every epoch, "
           "even once the MSE is inf or nan (do not stop early)")
    expect(not math.isfinite(float(history[-1])),
           f"the last MSE of a run diverging since the first epoch is {history[-1]!r}; expected inf or nan")
    shown = int((want[2] < 1e250).sum())            # well before the overflow: compare the values
    assert_close(torch.tensor([float(h) for h in history[:shown]], dtype=F64), want[2][:shown],
                 what="history of a diverging full-batch run (before it overflows)", inputs=inputs)


@given(n=st.integers(1, 12), batch_size=st.integers(1, 14), epochs=st.integers(1, 3), seed=tks.seeds(),
       dtype=tks.float_dtypes(), magnitude=st.integers(0, 6))
@example(n=12, batch_size=1, epochs=3, seed=0, dtype=F64, magnitude=4)
@example(n=12, batch_size=1, epochs=3, seed=0, dtype=F64, magnitude=6)
def test_each_epoch_makes_one_update_per_batch_including_the_last_partial_one(kata, device, n, batch_size, epochs,
                                                                            seed, dtype, magnitude):
    # Every row of X is the same sample, so every order gives the same run and the number of
    # updates per epoch, ceil(N / batch_size), decides the result: each update shrinks the
    # error by the factor 1 - 2 lr |(x, 1)|^2 = 0.7.
    # Float64 targets reach 1e6 (the contract bounds no magnitude): as the error shrinks, the
    # full-data MSE is a small difference of large numbers, so descent computed in float32 and
    # cast back shows far outside float64's tolerance, and so does an MSE expanded as
    # mean(p^2) - 2 mean(p y) + mean(y^2) (its rounding, ~1e-16 * y^2 = 1e-4, swamps a
    # remaining MSE of ~10 after 36 updates: the history is the MSE, not a cancelling formula). Float32 inputs keep |y| ~ 1: there the
    # solution's own (legitimate) float32 rounding of y would be amplified the same way.
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 2, generator=g, dtype=F64) * 2 - 1
    X = x.expand(n, 2).to(dtype)
    scale = 10.0 ** magnitude if dtype == F64 else 1.0
    y = torch.full((n,), scale * float(torch.randn((), generator=g, dtype=F64)), dtype=dtype)
    lr = _stable_lr(X, 0.3)
    got = kata.call("fit_gradient_descent", X.to(device), y.to(device), lr, epochs, batch_size)
    updates = math.ceil(n / batch_size)
    want = _descend(X, y, lr, epochs, lambda e: [[0]] * updates)
    _check_fit(got, want, dtype, device,
               what=f"fit_gradient_descent with N={n}, batch_size={batch_size} ({updates} updates per epoch)",
               inputs={"X": X, "y": y, "lr": lr, "epochs": epochs, "batch_size": batch_size})


def _small_problem_sizes():
    """(N, batch_size, epochs) with at most 40 possible runs to enumerate: N up to 7, so the
    last batch can be much shorter than the others (N=7, batch_size=5 gives 5 + 2, not 4 + 3)."""
    out = []
    for n in range(2, 8):
        for size in range(1, n + (2 if n <= 3 else 1)):   # a batch larger than N: small N only
            count = math.factorial(n) // (math.factorial(size) ** (n // size) * math.factorial(n % size)) \
                if size <= n else 1
            epochs = max([e for e in (1, 2, 3) if count ** e <= 40], default=0)
            if epochs:
                out.append((n, size, epochs))
    return out


SMALL_PROBLEMS = _small_problem_sizes()


@given(problem=st.sampled_from(SMALL_PROBLEMS), d=st.integers(1, 3), fraction=st.floats(0.1, 1.0),
       dtype=tks.float_dtypes(), seed=tks.seeds())
@example(problem=(7, 5, 1), d=2, fraction=0.9, dtype=F64, seed=0)
@example(problem=(6, 4, 1), d=1, fraction=0.9, dtype=torch.float32, seed=1)
def test_each_epoch_is_one_pass_over_a_shuffled_order(kata, device, problem, d, fraction, dtype, seed):
    # The result must be the run of one of the possible per-epoch orders (all enumerated):
    # every sample used once per epoch, in batches of batch_size (the last one shorter), one
    # mean-gradient step each.
    n, size, epochs = problem
    g = torch.Generator().manual_seed(seed)
    X = (torch.rand(n, d, generator=g, dtype=F64) * 2 - 1).to(dtype)
    y = (torch.rand(n, generator=g, dtype=F64) * 2 - 1).to(dtype)
    lr = _stable_lr(X, fraction)
    got = kata.call("fit_gradient_descent", X.to(device), y.to(device), lr, epochs, size)
    runs, _ = _all_runs(X, y, lr, epochs, size)
    best = _closest(got, runs)
    _check_fit(got, runs[best], dtype, device,
               what=f"fit_gradient_descent(batch_size={size}) vs the closest of the {len(runs)} possible "
                    "shuffled runs", inputs={"X": X, "y": y, "lr": lr, "epochs": epochs, "batch_size": size})


def test_sgd_draws_a_new_order_every_epoch(kata, device):
    # Two samples, batch_size=1, three epochs: each epoch runs (0, 1) or (1, 0), and the 8
    # possible runs are far apart, so each result tells which orders were used. Reshuffling
    # with a uniform permutation every epoch repeats one order three times with probability
    # 1/4; over 20 generator seeds all runs look that way with probability 4**-20 < 1e-12.
    X = torch.tensor([[0.9], [-0.4]], dtype=F64)
    y = torch.tensor([0.5, 1.3], dtype=F64)
    lr, epochs = 0.15, 3
    runs, parts = _all_runs(X, y, lr, epochs, 1)
    chosen = []
    for seed in range(20):
        got = kata.run(d09.fit_seeded, X.to(device), y.to(device), lr, epochs, 1, seed)
        got = (got["w"], got["b"], got["history"])
        best = _closest(got, runs)
        _check_fit(got, runs[best], F64, device, what=f"fit_gradient_descent(batch_size=1), generator seed {seed}",
                   inputs={"X": X, "y": y, "lr": lr, "epochs": epochs})
        chosen.append(best)
    orders = sorted({tuple(parts[i][0] + parts[i][1] for i in c) for c in chosen})
    expect(any(len(set(c)) > 1 for c in chosen),
           f"with 20 generator seeds every run used the same order in all {epochs} epochs "
           f"(orders seen: {orders}); shuffle again at the start of every epoch")


def test_different_generator_seeds_give_different_shuffles(kata, device):
    # Three samples, batch_size=1, two epochs: 36 possible runs, all far apart. The shuffles
    # must come from `generator`: a solution that seeds its own generator (or the global one)
    # gives every seed the same run. Under uniform reshuffling, 12 seeds all land on one run
    # with probability 36 * 36**-12 < 1e-16.
    X, y, lr, epochs, runs = _three_samples()
    chosen = set()
    for seed in range(12):
        got = kata.run(d09.fit_seeded, X.to(device), y.to(device), lr, epochs, 1, seed)
        chosen.add(_which_run(got, runs))
    expect(len(chosen) > 1, "fit_gradient_descent(batch_size=1) gave the same run for 12 different "
                            "torch.Generator().manual_seed(seed) generators: draw every shuffle from `generator`")


def test_generator_none_shuffles_with_the_global_rng(kata, device):
    # The contract: generator=None shuffles with torch's global RNG. So the same global seed
    # gives the same run, and different global seeds give different shuffles (a solution that
    # falls back on a fresh torch.Generator() or re-seeds the global RNG itself gives every
    # seed one run). Three samples, batch_size=1, two epochs: 36 possible runs; under uniform
    # reshuffling 12 seeds all land on one run with probability 36 * 36**-12 < 1e-16.
    X, y, lr, epochs, runs = _three_samples()
    # The same global seed is set twice in a row for seeds 0..3: a solution whose shuffles do
    # not come from the global RNG (a generator seeded from the OS, numpy's RNG) repeats a run
    # by chance only, with probability 1/36 per pair, 36**-4 < 1e-6 for all four.
    got = kata.run(d09.fit_unseeded_under_global_seeds, X.to(device), y.to(device), lr, epochs, 1,
                   [0, 0, 1, 1, 2, 2, 3, 3] + list(range(4, 12)))
    for k in range(4):
        same = torch.equal(got[2 * k]["w"], got[2 * k + 1]["w"]) and got[2 * k]["history"] == got[2 * k + 1]["history"]
        expect(same, "fit_gradient_descent(batch_size=1, generator=None) gave two different runs after the same "
                     f"torch.manual_seed({k}): with generator=None, shuffle with torch's global RNG")
    chosen = {_which_run(run, runs) for run in got}
    expect(len(chosen) > 1, "fit_gradient_descent(batch_size=1, generator=None) gave the same run after 12 "
                            "different torch.manual_seed(s): with generator=None, draw the shuffles from "
                            "torch's global RNG (not a fresh or re-seeded generator)")


def test_successive_calls_continue_the_same_generator(kata, device):
    # `generator` is the caller's: shuffling with it advances it, so a second call with the
    # same generator object draws new orders (as torch.randperm(n, generator=g) does). A
    # solution that shuffles with a private copy made from g.initial_seed() repeats the first
    # call. Three samples, batch_size=1, two epochs: 36 possible runs; under uniform
    # reshuffling both calls coincide for all 8 seeds with probability 36**-8 < 1e-12.
    X, y, lr, epochs, runs = _three_samples()
    differ = False
    for seed in range(8):
        first, second = kata.run(d09.fit_twice_with_one_generator, X.to(device), y.to(device), lr, epochs, 1, seed)
        differ = differ or (_which_run(first, runs)
                            != _which_run(second, runs))
    expect(differ, "two successive fit_gradient_descent(batch_size=1) calls sharing one torch.Generator gave "
                   "the same run for 8 seeds: shuffle with the caller's generator itself, so that it advances")


@pytest.mark.parametrize("X, y, batch_size", [
    ([[0.9], [-0.4], [0.2]], [0.5, 1.3, -0.7], 1),
    ([[0.9], [-0.4], [0.2], [0.7]], [0.5, 1.3, -0.7, 0.1], 2),
])
def test_every_batch_sequence_can_occur_from_the_first_epoch_on(kata, device, X, y, batch_size):
    # A shuffle draws a uniform permutation of the samples, already for the first epoch: every
    # sequence of batches one epoch can make (6 here: 3 samples one by one, or 4 samples in 2
    # pairs) must appear among 120 generator seeds. Leaving the first epoch in the data's
    # order, shuffling whole fixed batches instead of samples, or a Fisher-Yates that only
    # makes cyclic orders all miss some. A uniform shuffle misses one of the 6 with
    # probability < 6 * (5/6)**120 < 1e-8. The 6 runs are at least 1e-2 apart.
    X, y = torch.tensor(X, dtype=F64), torch.tensor(y, dtype=F64)
    lr = 0.15
    runs, parts = _all_runs(X, y, lr, 1, batch_size)
    got = kata.run(d09.fit_under_many_generator_seeds, X.to(device), y.to(device), lr, 1, batch_size, list(range(120)))
    seen = {_which_run(run, runs) for run in got}
    missing = [parts[k[0]] for k in runs if k not in seen]
    expect(not missing, f"fit_gradient_descent(batch_size={batch_size}, epochs=1) on {len(y)} samples never used "
                        f"the batch sequence(s) {missing} in 120 generator seeds (seen: {sorted(parts[k[0]] for k in seen)}): "
                        "shuffle the samples themselves with a uniform permutation (torch.randperm), every epoch "
                        "including the first")


def test_each_epoch_shuffles_independently_of_the_previous_one(kata, device):
    # Every epoch draws a fresh uniform permutation, independent of the previous epoch's: the
    # second epoch's order must not be a function of the first's (as it is when one
    # permutation, drawn before the epochs, is re-applied to the data every epoch, or when the
    # previous order is reversed or rotated). Three samples, batch_size=1, two epochs: 36
    # possible runs, all far apart. Among 40 generator seeds, some first-epoch order must be
    # followed by two different second-epoch orders. Under independent uniform shuffles all 40
    # seeds look like a function with probability <= 6**-(40 - 6) < 1e-26.
    X, y, lr, epochs, runs = _three_samples()
    got = kata.run(d09.fit_under_many_generator_seeds, X.to(device), y.to(device), lr, epochs, 1, list(range(40)))
    seen = {_which_run(run, runs) for run in got}
    firsts = {first for first, _ in seen}
    expect(len(seen) > len(firsts),
           f"fit_gradient_descent(batch_size=1, epochs=2) over 40 generator seeds: each first-epoch order was "
           f"always followed by the same second-epoch order ({len(seen)} (first, second) pairs for {len(firsts)} "
           "first orders): draw a new, independent permutation at the start of every epoch "
           "(torch.randperm(N, generator=generator) inside the epoch loop)")


def test_generator_none_advances_the_global_rng(kata, device):
    # generator=None shuffles with torch's global RNG, which advances as it is used: two
    # successive calls after one torch.manual_seed draw different orders (as two
    # torch.randperm(n) calls do). A solution that builds a private generator from
    # torch.initial_seed() repeats itself. Three samples, batch_size=1, two epochs: 36 possible
    # runs; under uniform reshuffling both calls coincide for all 8 seeds with probability
    # 36**-8 < 1e-12.
    X, y, lr, epochs, runs = _three_samples()
    pairs = kata.run(d09.fit_unseeded_twice_under_global_seeds, X.to(device), y.to(device), lr, epochs, 1,
                     list(range(8)))
    differ = any(_which_run(a, runs) != _which_run(b, runs)
                 for a, b in pairs)
    expect(differ, "two successive fit_gradient_descent(batch_size=1, generator=None) calls after one "
                   "torch.manual_seed(s) gave the same run for 8 seeds: with generator=None, shuffle with torch's "
                   "global RNG itself (torch.randperm(n)), which advances from call to call")


@given(nd=st.tuples(st.integers(4, 8), st.integers(1, 3)), batch_size=st.integers(1, 3), epochs=st.integers(1, 3),
       seed=tks.seeds(), data=st.data())
def test_same_generator_seed_gives_the_same_fit_whatever_the_global_rng(kata, device, nd, batch_size, epochs,
                                                                      seed, data):
    n, d = nd
    X = data.draw(tks.tensors(shape=(n, d), dtype=F64, min_value=-1, max_value=1), label="X")
    y = data.draw(tks.tensors(shape=(n,), dtype=F64, min_value=-1, max_value=1), label="y")
    lr = _stable_lr(X, 0.5)
    runs = kata.run(d09.fit_seeded_under_global_seeds, X.to(device), y.to(device), lr, epochs, batch_size, seed,
                    [0, 1])
    for i, run in enumerate(runs[1:], 1):
        same = (torch.equal(run["w"], runs[0]["w"]) and torch.equal(run["b"], runs[0]["b"])
                and run["history"] == runs[0]["history"])
        expect(same, f"two runs with torch.Generator().manual_seed({seed}) differ (run {i} was made under a "
                     f"different global seed): w {runs[0]['w'].tolist()} vs {run['w'].tolist()}, "
                     f"b {runs[0]['b'].item()} vs {run['b'].item()}; draw every shuffle from `generator`")


def test_zero_epochs_returns_the_zero_start_and_an_empty_history(kata, device):
    X, y = _well_conditioned(0, 5, 2)
    w, b, history = kata.call("fit_gradient_descent", X.to(device), y.to(device), 0.1, 0, 2)
    assert_close(w, torch.zeros(2, dtype=F64, device=device), what="w after 0 epochs", inputs={"X": X, "y": y})
    assert_close(b, torch.zeros((), dtype=F64, device=device), what="b after 0 epochs", inputs={"X": X, "y": y})
    expect(history == [], f"history after 0 epochs should be [], got {history!r}")


@given(batch_size=st.sampled_from([None, 1, 3]), epochs=st.integers(1, 4))
def test_history_is_a_list_of_python_floats_one_per_epoch(kata, device, batch_size, epochs):
    X, y = _well_conditioned(1, 7, 2, dtype=torch.float32)
    out = kata.call("fit_gradient_descent", X.to(device), y.to(device), 0.05, epochs, batch_size)
    history = out[2]
    expect(isinstance(history, list) and len(history) == epochs
           and all(isinstance(h, float) for h in history),
           f"history should be a list of {epochs} Python floats (use .item()), got {history!r}")


@pytest.mark.parametrize("seed", [0, 1])
def test_full_batch_descent_converges_to_the_closed_form(kata, device, seed):
    # Noisy data, lr = 2 / (L + mu) for the MSE's Hessian 2/N [X,1]^T [X,1]: the error shrinks
    # by (kappa - 1) / (kappa + 1) < 0.7 per epoch, so 150 epochs reach float64 precision.
    X, y = _well_conditioned(seed, 32, 3)
    eig = torch.linalg.eigvalsh(2 * _design(X).T @ _design(X) / X.shape[0])
    lr = float(2 / (eig[0] + eig[-1]))
    w, b, _ = kata.call("fit_gradient_descent", X.to(device), y.to(device), lr, 150)
    want_w, want_b = _lstsq(X, y)
    inputs = {"X": X, "y": y, "lr": lr, "epochs": 150}
    assert_close(w, want_w.to(device), what="full-batch w after convergence (vs least squares)", inputs=inputs)
    assert_close(b, want_b.to(device), what="full-batch b after convergence (vs least squares)", inputs=inputs)


@pytest.mark.slow
@pytest.mark.parametrize("batch_size", [1, 4])
def test_stochastic_and_minibatch_descent_converge_on_consistent_data(kata, device, batch_size):
    # y = X w + b exactly: every sample's gradient vanishes at the solution, so SGD and
    # mini-batch descent with a constant, stable lr converge to it (linearly), whatever the order.
    X, y = _well_conditioned(2, 16, 2, noise=0.0)
    lr = _stable_lr(X, 0.8)
    w, b, history = kata.call("fit_gradient_descent", X.to(device), y.to(device), lr, 60, batch_size)
    want_w, want_b = _lstsq(X, y)
    inputs = {"X": X, "y": y, "lr": lr, "epochs": 60, "batch_size": batch_size}
    assert_close(w, want_w.to(device), what=f"batch_size={batch_size}: w after 60 epochs", inputs=inputs)
    assert_close(b, want_b.to(device), what=f"batch_size={batch_size}: b after 60 epochs", inputs=inputs)
