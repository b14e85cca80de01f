"""Hidden suite for kata 06_activations: relu, sigmoid, tanh, softmax, log_softmax, gelu.

Values are compared with torch's own op evaluated in float64 and rounded to the input's
dtype, with the dtype's default tolerances; gradients are compared the same way for a random
upstream gradient (ones would make the softmax gradient vanish identically), in both dtypes
where the catalog promises stability (the float32 gradient is where overflow turns into nan).

Inputs have any shape from 0-d to 3-d, empty ones included, in any of the four layouts of
torchkata.strategies. Values mix moderate ones (|x| <= 10, where the functions bend) with
large ones (|x| up to 1e4, the catalog's stability range).
"""
import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given, settings
from hypothesis import strategies as st

from torchkata import strategies as tks
from torchkata.testing import assert_close, assert_grads_match, expect, upstream

# The catalog asks sigmoid, tanh and softmax to hold for |x| up to 1e4; gelu is held to the
# same range (its tanh form is where a naive tanh overflows, from x = 10.5 in float32).
LARGE = 1e4

# Structural properties (which dim a default picks) do not depend on the values drawn: half
# the profile's examples keep the suite quick.
structural = settings(max_examples=max(10, settings.default.max_examples // 2))

ELEMENTWISE = {
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
}
SOFTMAXES = {"softmax": torch.softmax, "log_softmax": torch.log_softmax}


def _in_float64(op):
    """OP evaluated by torch in float64 and rounded to the input's dtype (differentiable:
    the gradient is float64's, rounded too)."""
    def expected(x, *args, **kwargs):
        return op(x.double(), *args, **kwargs).to(x.dtype)
    return expected


def _expected(op, x, **kwargs):
    return _in_float64(op)(x, **kwargs)


def _mixed(lim=LARGE):
    # width=32: exactly representable in float32 and float64 alike.
    small = st.floats(-10.0, 10.0, width=32, allow_subnormal=False)
    large = st.floats(-lim, lim, width=32, allow_subnormal=False)
    return st.one_of(small, large) if lim > 10 else small


def any_tensors(dtype=None, lim=LARGE, **shape_kwargs):
    """Any shape from 0-d to 3-d (empty ones too), any layout, values from _mixed(lim)."""
    return tks.tensors(shape=tks.shapes(max_dims=3, **shape_kwargs),
                       dtype=dtype if dtype is not None else tks.float_dtypes(), elements=_mixed(lim))


@st.composite
def tensor_and_dim(draw, lim=10.0, dtype=None):
    x = draw(any_tensors(dtype=dtype, lim=lim), label="x")
    # A 0-d tensor has dims -1 and 0, as in torch.softmax.
    n = max(x.dim(), 1)
    return x, draw(st.integers(-n, n - 1), label="dim")


# ------------------------------------------------------------------------------------ relu

@given(x=any_tensors(lim=10.0))
@example(x=torch.tensor(-2.0))
def test_relu_matches_torch(kata, device, x):
    x = x.to(device)
    assert_close(kata.call("relu", x), _expected(torch.relu, x), what="relu(x)", inputs={"x": x})


@given(x=any_tensors(dtype=torch.float64, lim=10.0), seed=tks.seeds())
def test_relu_gradient_is_the_unit_step(kata, device, x, seed):
    x = x.to(device)
    go = upstream(x.shape, x.dtype, device, seed)
    _, (grad,) = kata.grad("relu", x, grad_output=go)
    away = x != 0
    assert_close(grad[away], torch.where(x > 0, go, torch.zeros_like(go))[away],
                 what="d relu / dx (away from 0)", inputs={"x": x})
    # At exactly 0 relu has no derivative: any subgradient s in [0, 1] is accepted (torch uses 0).
    at0 = ~away
    lo, hi = torch.minimum(go, torch.zeros_like(go))[at0], torch.maximum(go, torch.zeros_like(go))[at0]
    expect(bool(((grad[at0] >= lo) & (grad[at0] <= hi)).all()),
           f"d relu / dx at x = 0 must be a subgradient in [0, 1] times the upstream gradient; "
           f"got {grad[at0].tolist()} for upstream {go[at0].tolist()}")


# ------------------------------------------------------------------------ sigmoid and tanh

SIGMOID_POINTS = [-1e4, -800.0, -100.0, -90.0, -20.0, -1e-3, 0.0, 1e-3, 20.0, 90.0, 100.0, 800.0, 1e4]
TANH_POINTS = [-1e4, -400.0, -50.0, -1.0, -1e-3, 0.0, 1e-3, 1.0, 50.0, 400.0, 1e4]


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
@given(x=any_tensors())
@example(x=torch.tensor(SIGMOID_POINTS))
@example(x=torch.tensor(SIGMOID_POINTS, dtype=torch.float64))
@example(x=torch.tensor(TANH_POINTS))
@example(x=torch.tensor(TANH_POINTS, dtype=torch.float64))
def test_sigmoid_and_tanh_match_torch_for_inputs_up_to_1e4(kata, device, name, x):
    x = x.to(device)
    assert_close(kata.call(name, x), _expected(ELEMENTWISE[name], x), what=f"{name}(x)", inputs={"x": x})


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
@given(x=any_tensors(), seed=tks.seeds())
@example(x=torch.tensor(SIGMOID_POINTS), seed=0)
@example(x=torch.tensor(TANH_POINTS, dtype=torch.float64), seed=0)
@example(x=torch.tensor(0.0, dtype=torch.float64), seed=1)  # the gradient at 0 (1/4, 1): no |x| kink
def test_sigmoid_and_tanh_gradients_are_finite_and_match_torch(kata, device, name, x, seed):
    # Both dtypes on purpose: the float32 gradient is where 1 / (1 + exp(-x)) turns into nan.
    x = x.to(device)
    assert_grads_match(kata, name, _in_float64(ELEMENTWISE[name]), x, seed=seed, what=f"{name}(x)",
                       inputs={"x": x})


# ---------------------------------------------------------------------- softmax, log_softmax

@pytest.mark.parametrize("name", sorted(SOFTMAXES))
@given(xd=tensor_and_dim())
@example(xd=(torch.tensor(3.0), -1))  # 0-d: a single element, softmax 1 and log_softmax 0
@example(xd=(torch.empty(2, 0), -1))  # nothing along dim: the result is empty too
@example(xd=(torch.empty(0, 3, dtype=torch.float64), 0))
def test_softmax_family_matches_torch_along_any_dim(kata, device, name, xd):
    x, dim = xd
    x = x.to(device)
    assert_close(kata.call(name, x, dim=dim), _expected(SOFTMAXES[name], x, dim=dim),
                 what=f"{name}(x, dim={dim})", inputs={"x": x, "dim": dim})


@structural
@pytest.mark.parametrize("name", sorted(SOFTMAXES))
@given(x=tks.tensors(shape=tks.shapes(min_dims=2, max_dims=3, min_side=2), dtype=tks.float_dtypes()))
def test_softmax_family_defaults_to_the_last_dim(kata, device, name, x):
    x = x.to(device)
    assert_close(kata.call(name, x), _expected(SOFTMAXES[name], x, dim=-1),
                 what=f"{name}(x) (default dim=-1)", inputs={"x": x})


@pytest.mark.parametrize("name", sorted(SOFTMAXES))
@given(xd=tensor_and_dim(), data=st.data())
def test_softmax_family_handles_permuted_inputs(kata, device, name, xd, data):
    # A permuted view: the reduced dim is generally not the innermost in memory.
    x, dim = xd
    perm = data.draw(st.permutations(range(x.dim())), label="perm")
    x = x.to(device).permute(tuple(perm))
    assert_close(kata.call(name, x, dim=dim), _expected(SOFTMAXES[name], x, dim=dim),
                 what=f"{name}(x.permute{tuple(perm)}, dim={dim})", inputs={"x": x, "dim": dim})


@given(xd=tensor_and_dim(lim=LARGE))
@example(xd=(torch.tensor([[1e4, 0.0, -1e4], [-1e4, -1e4, -9990.0], [800.0, 799.0, 0.0]]), -1))
@example(xd=(torch.tensor([[1e4, 0.0, -1e4], [-1e4, -1e4, -9990.0]], dtype=torch.float64), 1))
def test_softmax_is_stable_for_inputs_up_to_1e4(kata, device, xd):
    x, dim = xd
    x = x.to(device)
    assert_close(kata.call("softmax", x, dim=dim), _expected(torch.softmax, x, dim=dim),
                 what=f"softmax(x, dim={dim})", inputs={"x": x, "dim": dim})


@given(xd=tensor_and_dim(lim=LARGE))
@example(xd=(torch.tensor([[0.0, -1e4, 1e4], [-200.0, 0.0, 0.0], [1e4, 1e4, -1e4]]), -1))
@example(xd=(torch.tensor([[0.0, -1e4, 1e4], [-800.0, 0.0, 0.0]], dtype=torch.float64), 1))
@example(xd=(torch.tensor([0.0, -100.0, -200.0], dtype=torch.float64), 0))  # tiny probabilities, exact logs
def test_log_softmax_is_finite_and_exact_for_inputs_up_to_1e4(kata, device, xd):
    x, dim = xd
    x = x.to(device)
    out = kata.call("log_softmax", x, dim=dim)
    expect(isinstance(out, torch.Tensor) and bool(torch.isfinite(out).all()),
           f"log_softmax(x, dim={dim}) must be finite for finite x (log of an underflowed softmax?); "
           f"got {out}")
    assert_close(out, _expected(torch.log_softmax, x, dim=dim),
                 what=f"log_softmax(x, dim={dim})", inputs={"x": x, "dim": dim})


@pytest.mark.parametrize("name", sorted(SOFTMAXES))
@given(xd=tensor_and_dim(lim=LARGE), seed=tks.seeds())
def test_softmax_family_gradient_matches_torch(kata, device, name, xd, seed):
    x, dim = xd
    x = x.to(device)
    assert_grads_match(kata, name, _in_float64(SOFTMAXES[name]), x, seed=seed, dim=dim,
                       what=f"{name}(x, dim={dim})", inputs={"x": x, "dim": dim})


# ------------------------------------------------------------------------------------ gelu

GELU_POINTS = [-1e4, -100.0, -20.0, -11.0, -3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0, 10.6, 11.0, 20.0, 100.0, 1e4]


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@given(x=any_tensors())
@example(x=torch.tensor(GELU_POINTS))
def test_gelu_matches_torch(kata, device, approximate, x):
    x = x.to(device)
    assert_close(kata.call("gelu", x, approximate=approximate),
                 _expected(F.gelu, x, approximate=approximate),
                 what=f"gelu(x, approximate={approximate!r})", inputs={"x": x})


@given(x=any_tensors())
def test_gelu_defaults_to_the_erf_form(kata, device, x):
    x = x.to(device)
    assert_close(kata.call("gelu", x), _expected(F.gelu, x), what="gelu(x) (default approximate='none')",
                 inputs={"x": x})


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@given(x=any_tensors(), seed=tks.seeds())
@example(x=torch.tensor(GELU_POINTS), seed=0)
def test_gelu_gradient_is_finite_and_matches_torch(kata, device, approximate, x, seed):
    x = x.to(device)
    assert_grads_match(kata, "gelu", _in_float64(F.gelu), x, seed=seed, approximate=approximate,
                       what=f"gelu(x, approximate={approximate!r})", inputs={"x": x})


@pytest.mark.parametrize("approximate", ["erf", "exact", "Tanh", "NONE", "sigmoid", ""])
def test_gelu_rejects_an_unknown_approximation_with_value_error(kata, device, approximate):
    x = torch.linspace(-2, 2, 5, device=device)
    # A rejection earns nothing alone: the known approximations must work on the same x
    # (a gelu that always raises ValueError would pass the check below by itself).
    for known in ("none", "tanh"):
        assert_close(kata.call("gelu", x, approximate=known), F.gelu(x, approximate=known),
                     what=f"gelu(x, approximate={known!r})", inputs={"x": x})
    with pytest.raises(ValueError):
        kata.call("gelu", x, approximate=approximate)


# ------------------------------------------------------------------------- shared contract

@pytest.mark.parametrize("name", sorted(ELEMENTWISE) + sorted(SOFTMAXES) + ["gelu"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_every_activation_keeps_shape_dtype_and_device(kata, device, name, dtype):
    x = torch.linspace(-3, 3, 24, dtype=dtype).reshape(2, 3, 4)[:, :, ::2].to(device)
    out = kata.call(name, x)
    expect(isinstance(out, torch.Tensor), f"{name} returned {type(out).__name__}, expected a tensor")
    expect(out.shape == x.shape, f"{name}(x) has shape {tuple(out.shape)}, expected {tuple(x.shape)}")
    expect(out.dtype == dtype, f"{name}(x) has dtype {out.dtype} for a {dtype} input")
    expect(out.device == x.device, f"{name}(x) is on {out.device}, the input on {x.device}")
