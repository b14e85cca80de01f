"""Hidden suite for kata 08_manual_backprop: a ReLU MLP's loss and gradients, by hand.

The expected side is torch itself: the same network written with torch ops, the loss from
F.cross_entropy and the gradients from autograd, all in float64. A solution's float64
results must equal them to float64's default tolerances; float32 results are compared with
the float64 truth rounded to float32 (see test_float32_results_match_autograd for the
tolerance).
"""
import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given
from hypothesis import strategies as st

from torchkata import strategies as tks
from torchkata.testing import assert_close, expect, rtol_for, torch_grad

from drivers import d08

PARAMS = ("w1", "b1", "w2", "b2")
FN = "mlp_forward_backward"


def _loss(x, y, w1, b1, w2, b2):
    return F.cross_entropy(torch.relu(x @ w1 + b1) @ w2 + b2, y)


def _expected(x, y, w1, b1, w2, b2):
    """(loss, {name: gradient}) by torch and autograd in float64, cast back to x's dtype."""
    args = [t.double() for t in (x, w1, b1, w2, b2)]
    loss, grads = torch_grad(lambda x_, w1_, b1_, w2_, b2_: _loss(x_, y, w1_, b1_, w2_, b2_), *args)
    return loss.to(x.dtype), {name: g.to(x.dtype) for name, g in zip(PARAMS, grads[1:])}


@st.composite
def problems(draw, dtype=None, lim=3.0, max_side=6, logit_scale=None):
    """(x (N, D), y (N,), w1 (D, H), b1 (H,), w2 (H, C), b2 (C,)) with hypothesis-drawn N, D, H, C.

    N >= 1 and C >= 1 (the catalog's mean cross-entropy of a batch: over no samples or no
    classes it is undefined); D and H may be 0 (empty matrices are tensors like any other).
    LOGIT_SCALE, a strategy: w2 and b2 are multiplied by a number it draws, to reach logits
    in the thousands, where exp overflows float64 (above ~709).
    """
    n, c = draw(st.integers(1, max_side), label="N"), draw(st.integers(1, max_side), label="C")
    d, h = draw(st.integers(0, max_side), label="D"), draw(st.integers(0, max_side), label="H")
    dtype = draw(tks.float_dtypes(), label="dtype") if dtype is None else dtype
    scale = 1.0 if logit_scale is None else draw(logit_scale, label="logit scale")

    def t(*shape, label, lim=lim):
        return draw(tks.tensors(shape=shape, dtype=dtype, min_value=-lim, max_value=lim), label=label)

    x = t(n, d, label="x")
    y = draw(tks.labels((n,), c), label="y")
    return x, y, t(d, h, label="w1"), t(h, label="b1"), t(h, c, label="w2", lim=lim * scale), \
        t(c, label="b2", lim=lim * scale)


def _on(device, problem):
    return tuple(t.to(device) for t in problem)


def _inputs(problem):
    return dict(zip(("x", "y", "w1", "b1", "w2", "b2"), problem))


def _call(kata, problem):
    out = kata.call(FN, *problem)
    expect(isinstance(out, (tuple, list)) and len(out) == 2,
           f"{FN} must return (loss, grads), got {type(out).__name__}")
    loss, grads = out
    expect(isinstance(grads, dict), f"{FN}'s grads must be a dict, got {type(grads).__name__}")
    expect(sorted(grads) == sorted(PARAMS), f"{FN}'s grads must have the keys {list(PARAMS)}, got {list(grads)}")
    return loss, grads


# Two layers where some hidden units are dead (z < 0) for every sample, some alive for some,
# and some are exactly 0 (x = 0 row, b1 = 0 entries): autograd's ReLU passes no gradient at 0.
_DEAD_UNITS = (
    torch.tensor([[1.0, -2.0], [0.5, 1.0], [0.0, 0.0]], dtype=torch.float64),
    torch.tensor([2, 0, 1]),
    torch.tensor([[1.0, -1.0, 0.5], [0.5, 1.0, -2.0]], dtype=torch.float64),
    torch.tensor([0.0, -5.0, 0.0], dtype=torch.float64),
    torch.tensor([[1.0, -1.0, 0.5], [2.0, 0.0, -1.0], [-0.5, 1.5, 1.0]], dtype=torch.float64),
    torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64),
)


@given(problem=problems(dtype=torch.float64))
@example(problem=_DEAD_UNITS)
def test_loss_is_the_mean_cross_entropy_of_the_mlp(kata, device, problem):
    problem = _on(device, problem)
    loss, _ = _call(kata, problem)
    want, _ = _expected(*problem)
    assert_close(loss, want, what=f"{FN} loss (mean cross-entropy)", inputs=_inputs(problem))


@given(problem=problems(dtype=torch.float64))
@example(problem=_DEAD_UNITS)
def test_gradients_equal_autograd_in_float64(kata, device, problem):
    problem = _on(device, problem)
    _, grads = _call(kata, problem)
    _, want = _expected(*problem)
    for name in PARAMS:
        assert_close(grads[name], want[name], what=f"{FN} grads[{name!r}] (d loss / d {name})",
                     inputs=_inputs(problem))


def _far_rows(dtype, logit):
    """Two samples whose logits are LOGIT apart: row 0's logits are [LOGIT, 0] (its target the
    small one), row 1's are [0, 0]. A log-softmax shifted by the batch's max (not each row's)
    underflows row 1 to log(0); one without a shift overflows row 0; log(softmax) gives
    log(0) for row 0's target; x = 0 in row 1 puts z exactly at ReLU's kink."""
    def t(*rows):
        return torch.tensor(rows, dtype=dtype)
    return (t([logit / 3], [0.0]), torch.tensor([1, 0]), t([1.0]), t(0.0), t([3.0, 0.0]), t(0.0, 0.0))


@given(problem=problems(dtype=torch.float64, logit_scale=st.floats(1.0, 300.0)))
@example(problem=_far_rows(torch.float64, 900.0))
@example(problem=_far_rows(torch.float64, 3e4))
def test_loss_and_gradients_are_exact_for_logits_beyond_exp_range(kata, device, problem):
    # Logits up to ~1e4: exp overflows float64 above ~709 and underflows below ~-745, so the
    # log-softmax has to be shifted by each row's max, as F.cross_entropy does.
    problem = _on(device, problem)
    loss, grads = _call(kata, problem)
    want_loss, want = _expected(*problem)
    expect(bool(torch.isfinite(loss)) and all(bool(torch.isfinite(grads[k]).all()) for k in PARAMS),
           f"{FN} returned inf or nan for large logits (loss {loss}): subtract each row's max logit before exp, "
           "and take log_softmax as shifted - log(sum(exp(shifted))), not log(softmax)")
    assert_close(loss, want_loss, what=f"{FN} loss for large logits", inputs=_inputs(problem))
    for name in PARAMS:
        assert_close(grads[name], want[name], what=f"{FN} grads[{name!r}] for large logits", inputs=_inputs(problem))


def test_float32_loss_is_finite_for_rows_150_logits_apart(kata, device):
    # float32's exp overflows above ~88 and underflows below ~-104: rows 150 apart need the
    # per-row shift in float32 too. Tolerance: a loss of 150 has a float32 ulp of 1.5e-5, and
    # every gradient entry here is a sum of one or two products of that size.
    problem = _on(device, _far_rows(torch.float32, 150.0))
    loss, grads = _call(kata, problem)
    want_loss, want = _expected(*problem)
    assert_close(loss, want_loss, what=f"{FN} float32 loss for rows 150 logits apart", inputs=_inputs(problem),
                 rtol=rtol_for(torch.float32), atol=1e-4)
    for name in PARAMS:
        assert_close(grads[name], want[name], what=f"{FN} float32 grads[{name!r}] for rows 150 logits apart",
                     inputs=_inputs(problem), rtol=rtol_for(torch.float32), atol=1e-4)


@given(problem=problems(dtype=torch.float32, lim=1.0))
def test_float32_results_match_autograd(kata, device, problem):
    # Compared with the float64 truth rounded to float32, with atol 1e-4 (10x float32's default)
    # because a correct float32 solution accumulates rounding: with inputs in [-1, 1] and sides
    # <= 6 the logits reach ~43 (float32 ulp ~4e-6), and the loss (a log-sum-exp minus a logit)
    # and the gradients (sums of up to 6 products) carry a few such roundings. The catalog's
    # mistakes are off by far more, and the float64 tests check the values tightly.
    problem = _on(device, problem)
    loss, grads = _call(kata, problem)
    want_loss, want = _expected(*problem)
    assert_close(loss, want_loss, what=f"{FN} loss in float32", inputs=_inputs(problem), rtol=rtol_for(torch.float32), atol=1e-4)
    for name in PARAMS:
        assert_close(grads[name], want[name], what=f"{FN} grads[{name!r}] in float32", inputs=_inputs(problem),
                     rtol=rtol_for(torch.float32), atol=1e-4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@given(problem=problems(dtype=torch.float64, lim=1.0))
def test_results_keep_dtype_device_and_parameter_shapes(kata, device, dtype, problem):
    problem = tuple(t.to(device=device, dtype=dtype) if t.is_floating_point() else t.to(device) for t in problem)
    loss, grads = _call(kata, problem)
    expect(isinstance(loss, torch.Tensor) and loss.shape == (), f"the loss must be a 0-d tensor, got {loss!r}")
    expect(loss.dtype == dtype and loss.device == problem[0].device,
           f"the loss is {loss.dtype} on {loss.device}, expected {dtype} on {problem[0].device}")
    for name, param in zip(PARAMS, problem[2:]):
        g = grads[name]
        expect(isinstance(g, torch.Tensor), f"grads[{name!r}] is a {type(g).__name__}, expected a tensor")
        expect(g.shape == param.shape,
               f"grads[{name!r}] has shape {tuple(g.shape)}, expected {tuple(param.shape)} (the shape of {name})")
        expect(g.dtype == dtype and g.device == param.device,
               f"grads[{name!r}] is {g.dtype} on {g.device}, expected {dtype} on {param.device}")


@given(problem=problems(dtype=torch.float64))
def test_weights_given_as_transposed_views_give_the_same_gradients(kata, device, problem):
    # A (D, H) weight stored as the transpose of an (H, D) tensor, as nn.Linear keeps it.
    x, y, w1, b1, w2, b2 = _on(device, problem)
    w1_t, w2_t = w1.T.contiguous().T, w2.T.contiguous().T  # same values, column-major strides
    problem = (x, y, w1_t, b1, w2_t, b2)
    _, grads = _call(kata, problem)
    _, want = _expected(*problem)
    for name in PARAMS:
        assert_close(grads[name], want[name], what=f"{FN} grads[{name!r}] for transposed-view weights",
                     inputs=_inputs(problem))


@given(problem=problems(dtype=torch.float64))
def test_builds_no_autograd_graph(kata, device, problem):
    # The inputs do not require grad, and torch records a saved tensor for every op that
    # builds a graph: a hand-written backward pass saves none. One that turns requires_grad
    # on to let autograd do the work does (torch.autograd.backward/grad, torch.func.grad and
    # torch.func.vjp are also made to raise ForbiddenCallableError by the kata's guard).
    problem = _on(device, problem)
    seen = kata.run(d08.saved_tensor_count, *problem)
    expect(seen["saved"] == 0,
           f"{FN} recorded an autograd graph ({seen['saved']} saved tensors) on inputs that do not require "
           "grad: compute the gradients by hand, without autograd")
    _, want = _expected(*problem)
    for name in PARAMS:
        assert_close(seen["grads"][name], want[name], what=f"{FN} grads[{name!r}]", inputs=_inputs(problem))
