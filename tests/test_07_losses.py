"""Hidden suite for kata 07_losses: mse, huber, bce with logits, cross-entropy.

Every value is compared with torch.nn.functional's loss evaluated in float64 and rounded to
the input's dtype, with the dtype's default tolerances (the tensors are small, at most a few
hundred non-negative terms per sum, so float32 rounding stays well inside them). Gradients are
compared in float64 with torch's, for a random upstream gradient.

The domain is the contract's: 0-d and empty tensors, every memory layout (targets included),
values at several scales (a difference of squares must not cancel), logits up to 1e4 where
the contract promises stability, pos_weight there too, and any int as ignore_index (the
default, -1, a class index, or one past the classes such as 255).
"""
import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given
from hypothesis import strategies as st

from torchkata import strategies as tks
from torchkata.testing import assert_close, assert_grads_match, expect, in_float64, rtol_for

# binary_cross_entropy_with_logits and cross_entropy must hold for |logits| up to 1e4.
LARGE = 1e4
REDUCTIONS = ["mean", "sum", "none"]
# Value tests run every reduction. Gradient tests run 'none' (every element, through a random
# upstream gradient): a reduction is a linear map, so the others add nothing there once their
# values are right; cross_entropy's also runs 'mean', whose divisor counts non-ignored targets.
# Stability tests run 'none', where an inf or nan cannot hide in a reduction.
LOSSES = ["mse_loss", "huber_loss", "binary_cross_entropy_with_logits", "cross_entropy"]
BCE = "binary_cross_entropy_with_logits"


@st.composite
def pairs(draw, dtype=None, lim=10.0, target_min=-10.0, target_max=10.0, scales=(1.0,)):
    """(a, b): two tensors of one shape (0-d and empty included) and dtype, in any layouts,
    a in [-lim, lim] * scale, b in [target_min, target_max] * scale (one scale drawn from SCALES)."""
    shape = draw(tks.shapes(max_dims=3, max_side=4), label="shape")
    dtype = draw(tks.float_dtypes()) if dtype is None else dtype
    scale = draw(st.sampled_from(scales), label="scale")
    a = draw(tks.tensors(shape=shape, dtype=dtype, min_value=-lim * scale, max_value=lim * scale), label="a")
    b = draw(tks.tensors(shape=shape, dtype=dtype, min_value=target_min * scale, max_value=target_max * scale),
             label="b")
    return a, b


# A regression loss is a function of pred - target: its value must not depend on how large
# pred and target are. Near 1e3 a float32 expansion p^2 - 2pt + t^2 loses every digit.
SCALES = (1.0, 1e3)


def _ignore_indices(c):
    """Any int can be ignore_index: the default, -1, 255, a class index, beyond the classes, negative."""
    classes = [st.integers(0, c - 1)] if c > 1 else []  # with one class, ignoring it leaves nothing
    return st.one_of(st.sampled_from([-100, -1, 255]), *classes, st.integers(c, 1000), st.integers(-1000, -1))


@st.composite
def ce_inputs(draw, dtype=None, lim=10.0, min_spatial=0, max_spatial=2, ignore=False):
    """(logits (N, C, *spatial), target (N, *spatial), ignore_index), target in any layout.

    With IGNORE, some targets are set to ignore_index (drawn by _ignore_indices), and the
    first target stays a real class, so that the mean over non-ignored targets exists.
    """
    n = draw(st.integers(1, 4), label="N")
    c = draw(st.integers(1, 5), label="C")
    spatial = draw(st.lists(st.integers(1, 3), min_size=min_spatial, max_size=max_spatial), label="spatial")
    dtype = draw(tks.float_dtypes()) if dtype is None else dtype
    logits = draw(tks.tensors(shape=(n, c, *spatial), dtype=dtype, min_value=-lim, max_value=lim), label="logits")
    target = draw(tks.labels((n, *spatial), c), label="target")
    ignore_index = -100
    if ignore:
        ignore_index = draw(_ignore_indices(c), label="ignore_index")
        mask = draw(tks.tensors(shape=(n, *spatial), dtype=torch.bool, noncontiguous=False), label="mask")
        if 0 in target.stride():
            target = target.contiguous()  # an expanded tensor's rows share memory: no per-element writes
        target[mask] = ignore_index  # in place: the drawn layout (strided, transposed) stays
        first = (0,) * target.dim()
        if int(target[first]) == ignore_index:
            target[first] = (ignore_index + 1) % c if 0 <= ignore_index < c else 0
    return logits, target, ignore_index


def _extreme_atol(logits):
    """Absolute tolerance for losses of logits up to 1e4: a few roundings at the logits' scale.

    The textbook stable formulas, max(x, 0) - x * y + log1p(exp(-|x|)) for bce and
    logsumexp(x) - x[target] for cross_entropy, cancel terms of size |x|: their error is a few
    ulps of |x| (about 1e-3 in float32 at |x| = 1e4) even where the loss itself is small.
    They are correct (backward stable), so the tolerance grows with max|x|; an overflow still
    gives inf or nan, which no tolerance accepts.
    """
    scale = max(float(logits.detach().abs().max()), 1.0) if logits.numel() else 1.0
    return 8 * torch.finfo(logits.dtype).eps * scale


def _f64(fn, *tensors, **kwargs):
    """torch's FN on float64 copies of the floating tensors, rounded back to the first one's dtype."""
    return in_float64(fn, *tensors, **kwargs).to(tensors[0].dtype)


def _nan_if_empty(reduction, t):
    """torch's mean of no elements is nan: equal_nan for exactly that case."""
    return reduction == "mean" and t.numel() == 0


# ---------------------------------------------------------------------------------- mse_loss

@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(pt=pairs(scales=SCALES))
@example(pt=(torch.tensor([1000.1, -999.7, 3.0]), torch.tensor([1000.0, -999.9, 3.5])))
@example(pt=(torch.tensor(2.5), torch.tensor(-1.0)))
def test_mse_loss_matches_torch(kata, device, reduction, pt):
    pred, target = (t.to(device) for t in pt)
    assert_close(kata.call("mse_loss", pred, target, reduction=reduction),
                 _f64(F.mse_loss, pred, target, reduction=reduction),
                 what=f"mse_loss(pred, target, reduction={reduction!r})", inputs={"pred": pred, "target": target},
                 equal_nan=_nan_if_empty(reduction, pred))


@given(pt=pairs(dtype=torch.float64, scales=SCALES), seed=tks.seeds())
def test_mse_loss_gradient_matches_torch(kata, device, pt, seed):
    pred, target = (t.to(device) for t in pt)
    assert_grads_match(kata, "mse_loss", F.mse_loss, pred, target, reduction="none", seed=seed,
                       what="mse_loss(pred, target, reduction='none')", inputs={"pred": pred, "target": target})


# -------------------------------------------------------------------------------- huber_loss

@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(pt=pairs(scales=SCALES), delta=st.floats(0.05, 5.0))
@example(pt=(torch.tensor([1.5, 0.0, -2.0, 3.0]), torch.tensor([0.5, 0.0, -1.0, 0.0])), delta=1.0)
@example(pt=(torch.tensor(2.5), torch.tensor(-1.0)), delta=0.5)
def test_huber_loss_matches_torch(kata, device, reduction, pt, delta):
    pred, target = (t.to(device) for t in pt)
    assert_close(kata.call("huber_loss", pred, target, delta=delta, reduction=reduction),
                 _f64(F.huber_loss, pred, target, delta=delta, reduction=reduction),
                 what=f"huber_loss(pred, target, delta={delta!r}, reduction={reduction!r})",
                 inputs={"pred": pred, "target": target}, equal_nan=_nan_if_empty(reduction, pred))


@given(pt=pairs(dtype=torch.float64, scales=SCALES), delta=st.floats(0.05, 5.0), seed=tks.seeds())
def test_huber_loss_gradient_matches_torch(kata, device, pt, delta, seed):
    pred, target = (t.to(device) for t in pt)
    assert_grads_match(kata, "huber_loss", F.huber_loss, pred, target, delta=delta, reduction="none", seed=seed,
                       what=f"huber_loss(pred, target, delta={delta!r}, reduction='none')",
                       inputs={"pred": pred, "target": target})


# ------------------------------------------------------------------ binary_cross_entropy_with_logits

def _pos_weight(data, target, device):
    """One weight per class (the last dim; 0-d for a 0-d target), in [0, 5]: broadcasts over the rest."""
    return data.draw(tks.tensors(shape=target.shape[-1:], dtype=target.dtype, min_value=0.0, max_value=5.0),
                     label="pos_weight").to(device)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(xy=pairs(target_min=0.0, target_max=1.0))
def test_bce_with_logits_matches_torch_for_soft_targets(kata, device, reduction, xy):
    logits, target = (t.to(device) for t in xy)
    assert_close(kata.call(BCE, logits, target, reduction=reduction),
                 _f64(F.binary_cross_entropy_with_logits, logits, target, reduction=reduction),
                 what=f"{BCE}(logits, target, reduction={reduction!r})", inputs={"logits": logits, "target": target},
                 equal_nan=_nan_if_empty(reduction, logits))


@given(xy=pairs(lim=LARGE, target_min=0.0, target_max=1.0), hard=st.booleans(), with_pos_weight=st.booleans(),
       data=st.data())
@example(xy=(torch.tensor([1e4, -1e4, 1e4, -1e4, 0.0, 100.0, -100.0]),
             torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 0.5, 0.5])), hard=False, with_pos_weight=False, data=None)
@example(xy=(torch.tensor([1e4, -1e4, 1e4, -1e4, 800.0, -800.0], dtype=torch.float64),
             torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 1.0], dtype=torch.float64)), hard=False, with_pos_weight=False,
         data=None)
@example(xy=(torch.tensor([[200.0, -200.0], [1e4, -1e4]]), torch.tensor([[0.0, 1.0], [0.0, 1.0]])), hard=False,
         with_pos_weight=True, data=None)
def test_bce_with_logits_is_finite_and_exact_for_logits_up_to_1e4(kata, device, xy, hard, with_pos_weight, data):
    logits, target = (t.to(device) for t in xy)
    if hard:
        target = target.round()  # 0/1 labels: the case where log(sigmoid) underflows to -inf
    pos_weight = None
    if with_pos_weight:
        pos_weight = (_pos_weight(data, target, device) if data is not None
                      else torch.full(target.shape[-1:], 2.0, dtype=target.dtype, device=device))
    out = kata.call(BCE, logits, target, pos_weight=pos_weight, reduction="none")
    expect(isinstance(out, torch.Tensor) and bool(torch.isfinite(out).all()),
           f"{BCE} must be finite for |logits| up to 1e4, with or without pos_weight (log of a saturated "
           f"sigmoid?); got {out} for pos_weight={pos_weight}")
    expected = _f64(F.binary_cross_entropy_with_logits, logits, target, pos_weight=pos_weight, reduction="none")
    assert_close(out, expected, what=f"{BCE}(logits, target, pos_weight, reduction='none')",
                 inputs={"logits": logits, "target": target, "pos_weight": pos_weight},
                 rtol=rtol_for(logits.dtype), atol=_extreme_atol(logits))  # see _extreme_atol


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(xy=pairs(target_min=0.0, target_max=1.0), data=st.data())
def test_bce_with_logits_weights_positives_by_pos_weight(kata, device, reduction, xy, data):
    # pos_weight has one entry per class (the last dim) and broadcasts over the rest.
    logits, target = (t.to(device) for t in xy)
    pos_weight = _pos_weight(data, target, device)
    assert_close(kata.call(BCE, logits, target, pos_weight=pos_weight, reduction=reduction),
                 _f64(F.binary_cross_entropy_with_logits, logits, target, pos_weight=pos_weight, reduction=reduction),
                 what=f"{BCE}(logits, target, pos_weight, reduction={reduction!r})",
                 inputs={"logits": logits, "target": target, "pos_weight": pos_weight},
                 equal_nan=_nan_if_empty(reduction, logits))


@given(xy=st.one_of(pairs(dtype=torch.float64, target_min=0.0, target_max=1.0),
                    pairs(dtype=torch.float64, lim=LARGE, target_min=0.0, target_max=1.0)),
       with_pos_weight=st.booleans(), seed=tks.seeds())
@example(xy=(torch.tensor([1e4, -1e4, 0.0, 1e4, -1e4, 50.0], dtype=torch.float64),
             torch.tensor([1.0, 0.0, 0.5, 0.0, 1.0, 0.25], dtype=torch.float64)), with_pos_weight=True, seed=0)
# Logit 0 exactly: the kink of |x| and max(x, 0) in the stable formula, where the gradient is
# still sigmoid(0) - y (a subgradient of abs or clamp there gives another number).
@example(xy=(torch.tensor([0.0, 0.0, 0.0, 2.0], dtype=torch.float64),
             torch.tensor([1.0, 0.0, 0.25, 1.0], dtype=torch.float64)), with_pos_weight=False, seed=0)
def test_bce_with_logits_gradient_matches_torch(kata, device, with_pos_weight, xy, seed):
    # Gradients with respect to logits and target (torch differentiates both); pos_weight is
    # a constant (torch does not differentiate it), so it goes in as a keyword argument.
    logits, target = (t.to(device) for t in xy)
    pos_weight = None
    if with_pos_weight:
        g = torch.Generator().manual_seed(seed + 1)
        pos_weight = (5 * torch.rand(target.shape[-1:], generator=g, dtype=target.dtype)).to(device)
    assert_grads_match(kata, BCE, F.binary_cross_entropy_with_logits, logits, target, pos_weight=pos_weight,
                       reduction="none", seed=seed, what=f"{BCE}(logits, target, pos_weight, reduction='none')",
                       inputs={"logits": logits, "target": target, "pos_weight": pos_weight})


# ----------------------------------------------------------------------------- cross_entropy

@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(inp=ce_inputs(max_spatial=0))
def test_cross_entropy_matches_torch_for_class_indices(kata, device, reduction, inp):
    logits, target, _ = inp
    logits, target = logits.to(device), target.to(device)
    assert_close(kata.call("cross_entropy", logits, target, reduction=reduction),
                 _f64(F.cross_entropy, logits, target, reduction=reduction),
                 what=f"cross_entropy(logits (N, C), target (N,), reduction={reduction!r})",
                 inputs={"logits": logits, "target": target})


@pytest.mark.parametrize("reduction", ["none", "mean"])
@given(inp=ce_inputs(min_spatial=1), eps=st.sampled_from([0.0, 0.3]))
@example(inp=(torch.tensor([[[0.5, -1.0], [2.0, 0.0], [-0.5, 1.5]]]), torch.tensor([[2, 0]]), -100), eps=0.3)
def test_cross_entropy_handles_extra_dims_after_the_class_dim(kata, device, reduction, inp, eps):
    # logits (N, C, d1, ...), target (N, d1, ...): the class dim is dim 1, not the last one,
    # for the log-softmax and for the label smoothing's average over the C classes.
    logits, target, _ = inp
    logits, target = logits.to(device), target.to(device)
    assert_close(kata.call("cross_entropy", logits, target, label_smoothing=eps, reduction=reduction),
                 _f64(F.cross_entropy, logits, target, label_smoothing=eps, reduction=reduction),
                 what=f"cross_entropy(logits {tuple(logits.shape)}, target {tuple(target.shape)}, "
                      f"label_smoothing={eps}, reduction={reduction!r})", inputs={"logits": logits, "target": target})


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(inp=ce_inputs(ignore=True))
@example(inp=(torch.tensor([[2.0, 0.0, -1.0], [0.5, 1.5, 0.0], [0.0, 0.0, 3.0], [1.0, -2.0, 0.0]]),
              torch.tensor([0, -100, 2, -100]), -100))
@example(inp=(torch.tensor([[2.0, 0.0, -1.0], [0.5, 1.5, 0.0], [0.0, 0.0, 3.0]]), torch.tensor([0, 255, 2]), 255))
def test_cross_entropy_skips_ignored_targets_and_averages_over_the_rest(kata, device, reduction, inp):
    logits, target, ignore_index = inp
    logits, target = logits.to(device), target.to(device)
    assert_close(kata.call("cross_entropy", logits, target, ignore_index=ignore_index, reduction=reduction),
                 _f64(F.cross_entropy, logits, target, ignore_index=ignore_index, reduction=reduction),
                 what=f"cross_entropy(logits, target, ignore_index={ignore_index}, reduction={reduction!r})",
                 inputs={"logits": logits, "target": target})


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(inp=ce_inputs(ignore=True), eps=st.floats(0.0, 1.0))
@example(inp=(torch.tensor([[2.0, 0.0, -1.0, 0.5], [0.5, 1.5, 0.0, -3.0]]), torch.tensor([0, 3]), -100), eps=0.1)
@example(inp=(torch.tensor([[2.0, 0.0, -1.0], [0.5, 1.5, 0.0]]), torch.tensor([1, -100]), -100), eps=0.2)
def test_cross_entropy_label_smoothing_spreads_eps_over_all_classes(kata, device, reduction, inp, eps):
    logits, target, ignore_index = inp
    logits, target = logits.to(device), target.to(device)
    assert_close(kata.call("cross_entropy", logits, target, ignore_index=ignore_index, label_smoothing=eps,
                           reduction=reduction),
                 _f64(F.cross_entropy, logits, target, ignore_index=ignore_index, label_smoothing=eps,
                      reduction=reduction),
                 what=f"cross_entropy(logits, target, ignore_index={ignore_index}, label_smoothing={eps!r}, "
                      f"reduction={reduction!r})", inputs={"logits": logits, "target": target})


@given(inp=ce_inputs(lim=LARGE, ignore=True), eps=st.sampled_from([0.0, 0.1]))
@example(inp=(torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 9990.0]]), torch.tensor([1, 0]), -100), eps=0.0)
@example(inp=(torch.tensor([[800.0, -800.0], [-1e4, 1e4]], dtype=torch.float64), torch.tensor([1, 1]), -100),
         eps=0.1)
# Rows on different scales: each sample's log-sum-exp needs its own max (a global one underflows the others).
@example(inp=(torch.tensor([[1e4, 0.0], [0.0, 1.0], [-1e4, -9999.0]]), torch.tensor([0, 1, 1]), -100), eps=0.0)
def test_cross_entropy_is_finite_and_exact_for_logits_up_to_1e4(kata, device, inp, eps):
    logits, target, ignore_index = inp
    logits, target = logits.to(device), target.to(device)
    out = kata.call("cross_entropy", logits, target, ignore_index=ignore_index, label_smoothing=eps,
                    reduction="none")
    expect(isinstance(out, torch.Tensor) and bool(torch.isfinite(out).all()),
           f"cross_entropy must be finite for |logits| up to 1e4 (exp overflowing without the max shift, or "
           f"one max for the whole batch?); got {out} for logits {logits.tolist()}")
    assert_close(out, _f64(F.cross_entropy, logits, target, ignore_index=ignore_index, label_smoothing=eps,
                           reduction="none"),
                 what=f"cross_entropy(logits, target, ignore_index={ignore_index}, label_smoothing={eps!r}, "
                      "reduction='none')", inputs={"logits": logits, "target": target},
                 rtol=rtol_for(logits.dtype), atol=_extreme_atol(logits))  # see _extreme_atol


@pytest.mark.parametrize("reduction", ["none", "mean"])
@given(inp=st.one_of(ce_inputs(dtype=torch.float64, ignore=True), ce_inputs(dtype=torch.float64, lim=LARGE, ignore=True)),
       eps=st.floats(0.0, 1.0), seed=tks.seeds())
@example(inp=(torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 9999.0]], dtype=torch.float64), torch.tensor([1, 1]), -100),
         eps=0.1, seed=0)
def test_cross_entropy_gradient_matches_torch(kata, device, reduction, inp, eps, seed):
    logits, target, ignore_index = inp
    logits, target = logits.to(device), target.to(device)
    kwargs = dict(ignore_index=ignore_index, label_smoothing=eps, reduction=reduction)
    assert_grads_match(kata, "cross_entropy", F.cross_entropy, logits, target, seed=seed, **kwargs,
                       what=f"cross_entropy(logits, target, ignore_index={ignore_index}, label_smoothing={eps!r}, "
                            f"reduction={reduction!r})", inputs={"logits": logits, "target": target})


# ------------------------------------------------------------------------- shared contract

def _example_args(name, dtype, device):
    x = torch.linspace(-3, 3, 24, dtype=dtype).reshape(4, 6)[:, ::2].to(device)  # (4, 3), strided
    if name == "cross_entropy":
        return x, torch.tensor([0, 2, 1, 2], device=device)
    if name == BCE:
        return x, torch.linspace(0, 1, 12, dtype=dtype).reshape(4, 3).to(device)
    return x, torch.linspace(2, -1, 12, dtype=dtype).reshape(4, 3).to(device)


@pytest.mark.parametrize("reduction", ["avg", "Mean", ""])
@pytest.mark.parametrize("name", LOSSES)
def test_losses_reject_an_unknown_reduction_with_value_error(kata, device, name, reduction):
    args = _example_args(name, torch.float32, device)
    # A rejection earns nothing alone: the known reductions must work on the same inputs
    # (a loss that always raises ValueError would pass the check below by itself).
    for known in REDUCTIONS:
        assert_close(kata.call(name, *args, reduction=known), _f64(getattr(F, name), *args, reduction=known),
                     what=f"{name}(..., reduction={known!r})", inputs=dict(zip(("input", "target"), args)))
    with pytest.raises(ValueError):
        kata.call(name, *args, reduction=reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("name", LOSSES)
def test_losses_keep_dtype_and_device_and_reduce_to_the_right_shape(kata, device, name, dtype, reduction):
    args = _example_args(name, dtype, device)
    out = kata.call(name, *args, reduction=reduction)
    shape = (4,) if name == "cross_entropy" else (4, 3)
    want_shape = shape if reduction == "none" else ()
    expect(isinstance(out, torch.Tensor), f"{name} returned {type(out).__name__}, expected a tensor")
    expect(tuple(out.shape) == want_shape,
           f"{name}(..., reduction={reduction!r}) has shape {tuple(out.shape)}, expected {want_shape}")
    expect(out.dtype == dtype, f"{name} returned {out.dtype} for {dtype} inputs")
    expect(out.device == args[0].device, f"{name} returned a tensor on {out.device}, the inputs are on {args[0].device}")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("name", LOSSES)
def test_losses_defaults_match_torch(kata, device, name, dtype):
    # Defaults: reduction='mean' everywhere; huber delta=1.0 (the example has |d| on both sides
    # of 1); bce pos_weight=None; cross_entropy ignore_index=-100 (one target is -100) and
    # label_smoothing=0.0.
    args = _example_args(name, dtype, device)
    if name == "cross_entropy":
        args = (args[0], torch.tensor([0, -100, 1, 2], device=device))
    assert_close(kata.call(name, *args), _f64(getattr(F, name), *args),
                 what=f"{name} with its default arguments", inputs=dict(zip(("input", "target"), args)))
