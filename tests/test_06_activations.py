"""Hidden suite for kata 06_activations: relu, sigmoid, tanh, softmax, log_softmax, gelu.

Values are compared with torch's own op evaluated in float64 and rounded to the input's
dtype, with the dtype's default tolerances; gradients are compared with torch's gradients
for a random upstream gradient (ones would make the softmax gradient vanish identically).
"""
import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given, settings
from hypothesis import strategies as st

from torchkata import strategies as tks
from torchkata.testing import assert_close, expect, torch_grad

# The catalog asks sigmoid, tanh and softmax to hold for |x| up to 1e4.
LARGE = 1e4

# Structural properties (which dim a default picks) do not depend on the values drawn: half
# the profile's examples (dev 10, ci 20, grade 40) keep the suite quick.
structural = settings(max_examples=max(10, settings.default.max_examples // 2))

ELEMENTWISE = {
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
}


def _expected(op, x, **kwargs):
    """OP evaluated by torch in float64, rounded to x's dtype."""
    return op(x.double(), **kwargs).to(x.dtype)


@st.composite
def tensor_and_dim(draw, lim=10.0, dtype=None, min_dims=1):
    x = draw(tks.tensors(shape=tks.shapes(min_dims=min_dims, max_dims=3, max_side=5),
                         dtype=dtype if dtype is not None else tks.float_dtypes(),
                         min_value=-lim, max_value=lim))
    return x, draw(tks.valid_dims(x.dim()))


def _upstream(x, seed):
    """A random upstream gradient shaped like x (seeded, so hypothesis replays it)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(x.shape, generator=g, dtype=x.dtype).to(x.device)


# ------------------------------------------------------------------------------------ relu

@given(x=tks.tensors(shape=tks.shapes(), dtype=tks.float_dtypes()))
def test_relu_matches_torch(kata, device, x):
    x = x.to(device)
    assert_close(kata.call("relu", x), _expected(torch.relu, x), what="relu(x)", inputs={"x": x})


@given(x=tks.tensors(shape=tks.shapes(), dtype=torch.float64), seed=tks.seeds())
def test_relu_gradient_is_the_unit_step(kata, device, x, seed):
    x = x.to(device)
    go = _upstream(x, seed)
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


# --------------------------------------------------------------------------------- sigmoid

@given(x=tks.tensors(shape=tks.shapes(), dtype=tks.float_dtypes(), min_value=-LARGE, max_value=LARGE))
@example(x=torch.tensor([-1e4, -800.0, -100.0, -20.0, 0.0, 20.0, 100.0, 800.0, 1e4]))
@example(x=torch.tensor([-1e4, -800.0, -100.0, -20.0, 0.0, 20.0, 100.0, 800.0, 1e4], dtype=torch.float64))
def test_sigmoid_matches_torch_for_inputs_up_to_1e4(kata, device, x):
    x = x.to(device)
    assert_close(kata.call("sigmoid", x), _expected(torch.sigmoid, x), what="sigmoid(x)", inputs={"x": x})


@given(x=tks.tensors(shape=tks.shapes(), dtype=tks.float_dtypes(), min_value=-LARGE, max_value=LARGE),
       seed=tks.seeds())
@example(x=torch.tensor([-1e4, -100.0, -90.0, -20.0, 0.0, 20.0, 90.0, 100.0, 1e4]), seed=0)
def test_sigmoid_gradient_is_finite_and_matches_torch(kata, device, x, seed):
    # Both dtypes on purpose: the float32 gradient is where 1 / (1 + exp(-x)) turns into nan.
    x = x.to(device)
    go = _upstream(x, seed)
    _, (grad,) = kata.grad("sigmoid", x, grad_output=go)
    _, (want,) = torch_grad(torch.sigmoid, x.double(), grad_output=go.double())
    assert_close(grad, want.to(x.dtype), what="d sigmoid / dx", inputs={"x": x})


# ------------------------------------------------------------------------------------ tanh

@given(x=tks.tensors(shape=tks.shapes(), dtype=tks.float_dtypes(), min_value=-LARGE, max_value=LARGE))
@example(x=torch.tensor([-1e4, -400.0, -50.0, -1e-3, 0.0, 1e-3, 50.0, 400.0, 1e4]))
@example(x=torch.tensor([-1e4, -400.0, -50.0, -1e-3, 0.0, 1e-3, 50.0, 400.0, 1e4], dtype=torch.float64))
def test_tanh_matches_torch_for_inputs_up_to_1e4(kata, device, x):
    x = x.to(device)
    assert_close(kata.call("tanh", x), _expected(torch.tanh, x), what="tanh(x)", inputs={"x": x})


@given(x=tks.tensors(shape=tks.shapes(), dtype=tks.float_dtypes(), min_value=-LARGE, max_value=LARGE),
       seed=tks.seeds())
@example(x=torch.tensor([-1e4, -400.0, -50.0, 0.0, 50.0, 400.0, 1e4]), seed=0)
def test_tanh_gradient_is_finite_and_matches_torch(kata, device, x, seed):
    x = x.to(device)
    go = _upstream(x, seed)
    _, (grad,) = kata.grad("tanh", x, grad_output=go)
    _, (want,) = torch_grad(torch.tanh, x.double(), grad_output=go.double())
    assert_close(grad, want.to(x.dtype), what="d tanh / dx", inputs={"x": x})


# ---------------------------------------------------------------------- softmax, log_softmax

SOFTMAXES = {"softmax": torch.softmax, "log_softmax": torch.log_softmax}


@pytest.mark.parametrize("name", sorted(SOFTMAXES))
@given(xd=tensor_and_dim())
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
    x = x.to(device).permute(*perm)
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
@given(xd=tensor_and_dim(dtype=torch.float64), seed=tks.seeds())
def test_softmax_family_gradient_matches_torch(kata, device, name, xd, seed):
    x, dim = xd
    x = x.to(device)
    go = _upstream(x, seed)
    _, (grad,) = kata.grad(name, x, grad_output=go, dim=dim)
    _, (want,) = torch_grad(SOFTMAXES[name], x, grad_output=go, dim=dim)
    assert_close(grad, want, what=f"d {name}(x, dim={dim}) / dx", inputs={"x": x, "dim": dim})


# ------------------------------------------------------------------------------------ gelu

@pytest.mark.parametrize("approximate", ["none", "tanh"])
@given(x=tks.tensors(shape=tks.shapes(), dtype=tks.float_dtypes()))
@example(x=torch.tensor([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0]))
def test_gelu_matches_torch(kata, device, approximate, x):
    x = x.to(device)
    assert_close(kata.call("gelu", x, approximate=approximate),
                 _expected(F.gelu, x, approximate=approximate),
                 what=f"gelu(x, approximate={approximate!r})", inputs={"x": x})


@given(x=tks.tensors(shape=tks.shapes(), dtype=tks.float_dtypes()))
def test_gelu_defaults_to_the_erf_form(kata, device, x):
    x = x.to(device)
    assert_close(kata.call("gelu", x), _expected(F.gelu, x), what="gelu(x) (default approximate='none')",
                 inputs={"x": x})


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@given(x=tks.tensors(shape=tks.shapes(), dtype=torch.float64), seed=tks.seeds())
def test_gelu_gradient_matches_torch(kata, device, approximate, x, seed):
    x = x.to(device)
    go = _upstream(x, seed)
    _, (grad,) = kata.grad("gelu", x, grad_output=go, approximate=approximate)
    _, (want,) = torch_grad(F.gelu, x, grad_output=go, approximate=approximate)
    assert_close(grad, want, what=f"d gelu(x, approximate={approximate!r}) / dx", inputs={"x": x})


@pytest.mark.parametrize("approximate", ["erf", "exact", "Tanh", "NONE", "sigmoid", ""])
def test_gelu_rejects_an_unknown_approximation_with_value_error(kata, device, approximate):
    x = torch.linspace(-2, 2, 5, device=device)
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
