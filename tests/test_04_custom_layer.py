"""Hidden suite for kata 04_custom_layer: CustomLinear and LayerNorm built from nn.Parameter.

Both classes are built by the drivers in tests/drivers/d04.py, which hand back plain tensors:
the registered parameters, state_dicts, outputs and gradients. Values are checked against the
same linear map / torch.nn.functional.layer_norm evaluated in float64 (rounded to the input's
dtype), with the dtype's default tolerances; gradients in float64 against torch's. The
initialisation is checked statistically (a seeded RNG, a stated false-failure probability),
never bit for bit, so any way of drawing from the right distribution passes.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given, settings
from hypothesis import strategies as st
from torch import nn

from torchkata import strategies as tks
from torchkata.testing import assert_close, expect, tolerances, torch_grad, upstream

from drivers import d04

# Registration properties over small discrete input spaces (a few sizes and flags): fewer
# examples than the profile's cover them, and keep make check fast.
DISCRETE = settings(max_examples=15)


def _linear_f64(x, weight, bias):
    """x @ weight.T + bias in float64, rounded to x's dtype."""
    y = x.double() @ weight.double().T
    if bias is not None:
        y = y + bias.double()
    return y.to(x.dtype)


@st.composite
def linear_inputs(draw, dtype=None, max_features=6):
    """(x[..., in], in_features, out_features): 0 to 2 leading dims, empty batches included."""
    in_features = draw(st.integers(1, max_features), label="in_features")
    out_features = draw(st.integers(1, max_features), label="out_features")
    lead = draw(st.lists(st.integers(0, 4), min_size=0, max_size=2), label="leading dims")
    dtype = draw(tks.float_dtypes()) if dtype is None else dtype
    x = draw(tks.tensors(shape=(*lead, in_features), dtype=dtype), label="x")
    return x, in_features, out_features


# ------------------------------------------------------------------ CustomLinear: registration

@DISCRETE
@given(in_features=st.integers(1, 6), out_features=st.integers(1, 6))
@example(in_features=3, out_features=5)
def test_custom_linear_registers_weight_and_bias_as_parameters(kata, in_features, out_features):
    got = kata.run(d04.linear_registration, in_features, out_features, True)
    expect(got["is_parameter"]["weight"] and got["is_parameter"]["bias"],
           f"CustomLinear.weight and .bias must be nn.Parameter objects (a plain tensor attribute is "
           f"invisible to .parameters(), optimizers, .to() and state_dict); is nn.Parameter: {got['is_parameter']}")
    expect(got["param_names"] == ["bias", "weight"],
           f"CustomLinear({in_features}, {out_features}).named_parameters() must be exactly weight and bias; "
           f"got {got['param_names']}")


@DISCRETE
@given(in_features=st.integers(1, 6), out_features=st.integers(1, 6))
@example(in_features=3, out_features=5)
def test_custom_linear_weight_is_out_by_in_and_bias_is_out(kata, in_features, out_features):
    got = kata.run(d04.linear_registration, in_features, out_features, True)
    shapes = got["param_shapes"]
    expect(shapes.get("weight") == (out_features, in_features) and shapes.get("bias") == (out_features,),
           f"CustomLinear(in_features={in_features}, out_features={out_features}): weight must be "
           f"(out_features, in_features) = {(out_features, in_features)} and bias ({out_features},), as in "
           f"nn.Linear; got {shapes}")
    expect(all(dtype == torch.float32 for dtype in got["param_dtypes"].values()),
           f"a freshly built CustomLinear holds float32 parameters, like nn.Linear; got {got['param_dtypes']}")


@DISCRETE
@given(in_features=st.integers(1, 6), out_features=st.integers(1, 6))
@example(in_features=3, out_features=5)
def test_custom_linear_without_bias_has_bias_none_and_unregistered(kata, in_features, out_features):
    got = kata.run(d04.linear_registration, in_features, out_features, False)
    expect(got["is_none"]["bias"],
           "CustomLinear(..., bias=False).bias must be None (register_parameter('bias', None), as nn.Linear)")
    expect(got["param_names"] == ["weight"] and sorted(got["state"]) == ["weight"],
           f"with bias=False the only parameter and state_dict entry is weight; got parameters "
           f"{got['param_names']} and state_dict keys {sorted(got['state'])}")


@given(data=linear_inputs(dtype=torch.float64), seed=tks.seeds())
@example(data=(torch.tensor([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]], dtype=torch.float64), 3, 2), seed=0)
def test_custom_linear_has_a_bias_by_default(kata, device, data, seed):
    x, i, o = data
    x = x.to(device)
    got = kata.run(d04.linear_forward, x, i, o, seed=seed, use_default_bias=True)
    expect(got["bias"] is not None, "CustomLinear(in_features, out_features) must have a bias (bias=True by default)")
    assert_close(got["out"], _linear_f64(x, got["weight"], got["bias"]),
                 what=f"CustomLinear({i}, {o})(x) = x @ weight.T + bias", inputs={"x": x})


# ----------------------------------------------------------------------- CustomLinear: values

@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@given(data=linear_inputs(dtype=torch.float64), seed=tks.seeds())
@example(data=(torch.arange(6.0, dtype=torch.float64).reshape(2, 3), 3, 4), seed=0)
def test_custom_linear_forward_is_x_times_weight_transposed_plus_bias(kata, device, bias, data, seed):
    x, i, o = data
    x = x.to(device)
    got = kata.run(d04.linear_forward, x, i, o, bias=bias, seed=seed)
    expect(tuple(got["weight"].shape) == (o, i),
           f"CustomLinear({i}, {o}).weight has shape {tuple(got['weight'].shape)}, expected {(o, i)}")
    assert_close(got["out"], _linear_f64(x, got["weight"], got["bias"]),
                 what=f"CustomLinear({i}, {o}, bias={bias})(x)", inputs={"x": x})


@given(data=linear_inputs(), seed=tks.seeds())
@example(data=(torch.tensor([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]]), 3, 2), seed=0)
def test_custom_linear_keeps_dtype_and_device(kata, device, data, seed):
    # float32 included: at most 6 products of |x| <= 10 and |w| <= 1 per output, whose float32
    # rounding stays well inside the float32 default tolerance.
    x, i, o = data
    x = x.to(device)
    got = kata.run(d04.linear_forward, x, i, o, seed=seed)
    assert_close(got["out"], _linear_f64(x, got["weight"], got["bias"]),
                 what=f"CustomLinear({i}, {o}).to({x.dtype}, {device})(x)", inputs={"x": x})


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@given(data=linear_inputs(dtype=torch.float64), seed=tks.seeds())
@example(data=(torch.tensor([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]], dtype=torch.float64), 3, 2), seed=0)
def test_custom_linear_gradients_match_torch(kata, device, bias, data, seed):
    x, i, o = data
    x = x.to(device)
    go = upstream((*x.shape[:-1], o), x.dtype, device, seed)
    got = kata.run(d04.linear_backward, x, go, i, o, bias=bias, seed=seed)
    weight, b = got["weight"], got["bias"]
    args = (x, weight) if b is None else (x, weight, b)
    _, want = torch_grad(F.linear, *args, grad_output=go)
    assert_close(got["x_grad"], want[0], what="x.grad after CustomLinear(x).backward(g)", inputs={"x": x})
    expect(got["weight_grad"] is not None, "weight.grad is None after backward: is weight a Parameter used by forward?")
    assert_close(got["weight_grad"], want[1], what="weight.grad after CustomLinear(x).backward(g)", inputs={"x": x})
    if bias:
        expect(got["bias_grad"] is not None, "bias.grad is None after backward: is bias a Parameter used by forward?")
        assert_close(got["bias_grad"], want[2], what="bias.grad after CustomLinear(x).backward(g)", inputs={"x": x})


@DISCRETE
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@given(data=linear_inputs(dtype=torch.float64), seed=tks.seeds())
@example(data=(torch.tensor([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]], dtype=torch.float64), 3, 2), seed=0)
def test_custom_linear_takes_its_arguments_positionally_like_nn_linear(kata, device, bias, data, seed):
    # A drop-in nn.Linear: CustomLinear(in_features, out_features, bias), the catalog's order,
    # is called positionally as often as with keywords (nn.Linear(3, 2, False)).
    x, i, o = data
    x = x.to(device)
    got = kata.run(d04.linear_positional, x, i, o, bias, seed=seed)
    want_names = ["bias", "weight"] if bias else ["weight"]
    expect(got["param_names"] == want_names,
           f"CustomLinear({i}, {o}, {bias}) (bias passed positionally) has parameters {got['param_names']}, "
           f"expected {want_names}")
    assert_close(got["out"], _linear_f64(x, got["weight"], got["bias"]),
                 what=f"CustomLinear({i}, {o}, {bias})(x)", inputs={"x": x})


# -------------------------------------------------------------------- CustomLinear: state_dict

@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@given(data=linear_inputs(), seed=tks.seeds())
@example(data=(torch.tensor([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]]), 3, 2), seed=0)
def test_custom_linear_state_dict_loads_into_nn_linear_with_same_outputs(kata, device, bias, data, seed):
    x, i, o = data
    x = x.to(device)
    got = kata.run(d04.linear_state_dict_and_output, x, i, o, bias=bias, seed=seed)
    ref = nn.Linear(i, o, bias=bias).to(device=device, dtype=x.dtype)
    try:
        ref.load_state_dict(got["state"])
    except RuntimeError as err:
        raise AssertionError(f"nn.Linear({i}, {o}, bias={bias}).load_state_dict(CustomLinear(...).state_dict()) "
                             f"failed:\n{err}") from None
    with torch.no_grad():
        want = ref(x)
    assert_close(got["out"], want, what=f"CustomLinear({i}, {o}, bias={bias})(x) vs nn.Linear with its state_dict",
                 inputs={"x": x})


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@given(data=linear_inputs(), seed=tks.seeds())
@example(data=(torch.tensor([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]]), 3, 2), seed=0)
def test_custom_linear_loads_an_nn_linear_state_dict_with_same_outputs(kata, device, bias, data, seed):
    x, i, o = data
    x = x.to(device)
    torch.manual_seed(seed)
    ref = nn.Linear(i, o, bias=bias).to(device=device, dtype=x.dtype)
    state = {k: v.detach().clone() for k, v in ref.state_dict().items()}
    with torch.no_grad():
        want = ref(x)
    got = kata.run(d04.linear_load_state_dict, state, x, i, o, bias=bias)
    assert_close(got, want, what=f"CustomLinear({i}, {o}, bias={bias}) loaded from nn.Linear's state_dict, on x",
                 inputs={"x": x})


@pytest.mark.parametrize("in_features,out_features", [(0, 3), (3, 0), (0, 0)])
def test_custom_linear_with_zero_features_behaves_like_nn_linear(kata, device, in_features, out_features):
    # The catalog: a drop-in nn.Linear. nn.Linear(0, out) builds (its bias bound 1/sqrt(fan_in)
    # is guarded to 0 when fan_in == 0) and maps x[..., 0] to its bias; nn.Linear(in, 0) maps x
    # to an empty [..., 0]. A layer dividing by sqrt(in_features) unguarded cannot be built.
    x = torch.linspace(-1.0, 1.0, 2 * in_features, dtype=torch.float64).reshape(2, in_features).to(device)
    got = kata.run(d04.linear_state_dict_and_output, x, in_features, out_features, seed=0)
    ref = nn.Linear(in_features, out_features).to(device=device, dtype=x.dtype)
    try:
        ref.load_state_dict(got["state"])
    except RuntimeError as err:
        raise AssertionError(f"nn.Linear({in_features}, {out_features}).load_state_dict(CustomLinear(...).state_dict()) "
                             f"failed:\n{err}") from None
    with torch.no_grad():
        want = ref(x)
    assert_close(got["out"], want, what=f"CustomLinear({in_features}, {out_features})(x) vs nn.Linear with its state_dict",
                 inputs={"x": x})


# ---------------------------------------------------------------- CustomLinear: initialisation

# Each check below compares n draws with U(-1/sqrt(in_features), 1/sqrt(in_features)), the
# distribution of nn.Linear's weight (kaiming_uniform_ with a=sqrt(5)) and bias. By the
# Dvoretzky-Kiefer-Wolfowitz inequality, P(sup |F_n - F| > eps) <= 2 exp(-2 n eps^2): with
# eps = sqrt(ln(2 / 1e-9) / (2 n)) a correct layer fails one check with probability <= 1e-9,
# so a test (at most 4 checks) falsely fails with probability below 1e-8.
DKW_ALPHA = 1e-9
INIT_SIZES = [(20, 2000), (500, 80)]  # (in, out): fan_in small and large, in != out


def _check_uniform(samples, bound, what):
    __tracebackhide__ = True
    s = samples.detach().double().cpu().flatten()
    n = s.numel()
    top = float(s.abs().max()) if n else 0.0
    expect(top <= bound * (1 + 1e-6),
           f"{what}: |value| reaches {top:.4g}, but U(-1/sqrt(in_features), 1/sqrt(in_features)) stays "
           f"within {bound:.4g}")
    u = ((s / bound + 1) / 2).sort().values  # uniform on [0, 1] when the draw is right
    ranks = torch.arange(1, n + 1, dtype=torch.float64)
    distance = float(torch.maximum(ranks / n - u, u - (ranks - 1) / n).max())
    eps = math.sqrt(math.log(2 / DKW_ALPHA) / (2 * n))
    expect(distance <= eps,
           f"{what}: the {n} values do not look like U(-{bound:.4g}, {bound:.4g}) (Kolmogorov distance "
           f"{distance:.3g} > {eps:.3g}); mean {s.mean():.4g} (expected 0), std {s.std():.4g} "
           f"(expected {bound / math.sqrt(3):.4g})")


@pytest.mark.parametrize("in_features,out_features", INIT_SIZES)
def test_custom_linear_init_draws_like_nn_linear(kata, in_features, out_features):
    got = kata.run(d04.linear_init, in_features, out_features, seed=1234, device=torch.device("cpu"))
    bound = 1 / math.sqrt(in_features)
    _check_uniform(got["weight"], bound, f"CustomLinear({in_features}, {out_features}).weight")
    _check_uniform(got["bias"], bound, f"CustomLinear({in_features}, {out_features}).bias")


@pytest.mark.parametrize("in_features,out_features", INIT_SIZES)
def test_custom_linear_reset_parameters_redraws_like_nn_linear(kata, device, in_features, out_features):
    got = kata.run(d04.linear_init, in_features, out_features, seed=4321, device=device, dtype=torch.float64,
                   reset=True)
    bound = 1 / math.sqrt(in_features)
    _check_uniform(got["weight"], bound, f"weight after zeroing and reset_parameters() ({in_features} -> {out_features})")
    _check_uniform(got["bias"], bound, f"bias after zeroing and reset_parameters() ({in_features} -> {out_features})")


@pytest.mark.parametrize("seed", [0, 1])
def test_custom_linear_draws_afresh_for_every_layer(kata, seed):
    # Two layers built one after the other take successive draws from torch's global RNG, like
    # two nn.Linear: equal weights mean the layer re-seeds the RNG or draws from a generator of
    # its own with a fixed seed (every layer of a network would start identical). Continuous
    # draws of 12 values coincide with probability 0.
    got = kata.run(d04.linear_two_layers, 4, 3, seed=seed)
    expect(not torch.equal(got["first"]["weight"], got["second"]["weight"])
           and not torch.equal(got["first"]["bias"], got["second"]["bias"]),
           "two CustomLinear(4, 3) built one after the other have identical weight and bias: draw from "
           "torch's global RNG (nn.init.kaiming_uniform_, uniform_) without re-seeding it")
    expect(got["rng_moved"], "building a CustomLinear left torch's global RNG where it was (re-seeded?): "
                             "its draws must come from the global RNG, as nn.Linear's do")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_custom_linear_reset_parameters_works_in_place(kata, device, dtype):
    got = kata.run(d04.linear_reset_in_place, 7, 3, device=device, dtype=dtype)
    expect(got["same_objects"] and all(got["held_redrawn"]),
           "reset_parameters() must redraw the existing parameters in place (nn.init.*_ or .uniform_()), "
           "as nn.Linear does: an optimizer built before the call holds those Parameter objects. "
           f"Same objects afterwards: {got['same_objects']}; held parameters redrawn: {got['held_redrawn']}")
    expect(all(d == dtype for d in got["dtypes"]) and all(d == device for d in got["devices"]),
           f"after .to({device}, {dtype}) and reset_parameters() the parameters must keep dtype and device; "
           f"got {got['dtypes']} on {got['devices']}")


# ------------------------------------------------------------------------ LayerNorm: registration

@st.composite
def normalized_shapes(draw, max_dims=2):
    """normalized_shape as an int or a tuple of 1 or 2 sides."""
    sides = draw(st.lists(st.integers(1, 5), min_size=1, max_size=max_dims), label="normalized sides")
    as_int = len(sides) == 1 and draw(st.booleans(), label="as int")
    return sides[0] if as_int else tuple(sides)


def _as_tuple(normalized_shape):
    return (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)


@st.composite
def layernorm_inputs(draw, dtype=torch.float64, lim=10.0):
    """(x[*lead, *normalized_shape], normalized_shape) with 0 to 2 leading dims, empty batches included."""
    ns = draw(normalized_shapes())
    lead = draw(st.lists(st.integers(0, 4), min_size=0, max_size=2), label="leading dims")
    dtype = draw(tks.float_dtypes()) if dtype is None else dtype
    x = draw(tks.tensors(shape=(*lead, *_as_tuple(ns)), dtype=dtype, min_value=-lim, max_value=lim), label="x")
    return x, ns


def _layer_norm_f64(x, ns, weight=None, bias=None, eps=1e-5):
    w = None if weight is None else weight.double()
    b = None if bias is None else bias.double()
    return F.layer_norm(x.double(), _as_tuple(ns), w, b, eps).to(x.dtype)


@DISCRETE
@given(ns=normalized_shapes())
@example(ns=4)
@example(ns=(2, 3))
def test_layernorm_registers_weight_ones_and_bias_zeros(kata, ns):
    got = kata.run(d04.layernorm_registration, ns)
    shape = _as_tuple(ns)
    expect(got["is_parameter"]["weight"] and got["is_parameter"]["bias"] and got["param_names"] == ["bias", "weight"],
           f"LayerNorm({ns!r}) must register exactly two nn.Parameters, weight and bias; got parameters "
           f"{got['param_names']} (is nn.Parameter: {got['is_parameter']})")
    state = got["state"]
    assert_close(state["weight"], torch.ones(shape), what=f"LayerNorm({ns!r}).weight at construction (ones)")
    assert_close(state["bias"], torch.zeros(shape), what=f"LayerNorm({ns!r}).bias at construction (zeros)")


@DISCRETE
@given(ns=normalized_shapes())
@example(ns=(2, 3))
def test_layernorm_without_affine_registers_nothing(kata, ns):
    got = kata.run(d04.layernorm_registration, ns, elementwise_affine=False)
    expect(got["param_names"] == [] and sorted(got["state"]) == [],
           f"LayerNorm({ns!r}, elementwise_affine=False) has no parameters and an empty state_dict, as "
           f"nn.LayerNorm; got parameters {got['param_names']} and state_dict keys {sorted(got['state'])}")


@given(data=layernorm_inputs(dtype=None))
@example(data=(torch.tensor([[1.0, -2.0, 0.5, 4.0], [3.0, 0.0, -1.0, 2.0]]), 4))
def test_layernorm_state_dict_loads_into_nn_layernorm_with_same_outputs(kata, device, data):
    x, ns = data
    got = kata.run(d04.layernorm_registration, ns)
    ref = nn.LayerNorm(ns)
    try:
        ref.load_state_dict(got["state"])
    except RuntimeError as err:
        raise AssertionError(f"nn.LayerNorm({ns!r}).load_state_dict(LayerNorm({ns!r}).state_dict()) failed:\n{err}") from None
    x = x.to(device)
    out = kata.run(d04.layernorm_forward, x, ns, state=got["state"])
    ref = ref.to(device=device, dtype=torch.float64)
    with torch.no_grad():
        want = ref(x.double()).to(x.dtype)
    # Float32 outputs are compared like in test_layernorm_keeps_float32_and_is_accurate.
    assert_close(out, want, what=f"LayerNorm({ns!r})(x) vs nn.LayerNorm with its state_dict", inputs={"x": x},
                 **_layernorm_tolerance(x, ns, 1e-5))


# ----------------------------------------------------------------------------- LayerNorm: values

@given(data=layernorm_inputs())
@example(data=(torch.tensor([[1.0, 2.0, 3.0, 4.0], [-1.0, -1.0, 5.0, 5.0]], dtype=torch.float64), 4))
@example(data=(torch.arange(12.0, dtype=torch.float64).reshape(2, 2, 3), (2, 3)))
@example(data=(torch.empty(0, 2, 3, dtype=torch.float64), (2, 3)))  # an empty batch: an empty output
def test_layernorm_matches_torch_over_the_trailing_dims(kata, device, data):
    x, ns = data
    x = x.to(device)
    assert_close(kata.run(d04.layernorm_forward, x, ns), _layer_norm_f64(x, ns),
                 what=f"LayerNorm({ns!r})(x)", inputs={"x": x})


@given(data=layernorm_inputs(), seed=tks.seeds())
@example(data=(torch.tensor([[1.0, -2.0, 0.5, 4.0], [3.0, 0.0, -1.0, 2.0]], dtype=torch.float64), (4,)), seed=0)
def test_layernorm_applies_its_weight_and_bias(kata, device, data, seed):
    x, ns = data
    x = x.to(device)
    g = torch.Generator().manual_seed(seed)
    shape = _as_tuple(ns)
    state = {"weight": torch.randn(shape, generator=g, dtype=x.dtype).to(device),
             "bias": torch.randn(shape, generator=g, dtype=x.dtype).to(device)}
    assert_close(kata.run(d04.layernorm_forward, x, ns, state=state),
                 _layer_norm_f64(x, ns, state["weight"], state["bias"]),
                 what=f"LayerNorm({ns!r}) with random weight and bias loaded, on x", inputs={"x": x, **state})


@given(data=layernorm_inputs())
@example(data=(torch.tensor([[1.0, -2.0, 0.5, 4.0], [3.0, 0.0, -1.0, 2.0]], dtype=torch.float64), 4))
def test_layernorm_without_affine_matches_torch(kata, device, data):
    x, ns = data
    x = x.to(device)
    assert_close(kata.run(d04.layernorm_forward, x, ns, elementwise_affine=False), _layer_norm_f64(x, ns),
                 what=f"LayerNorm({ns!r}, elementwise_affine=False)(x)", inputs={"x": x})


@pytest.mark.parametrize("eps", [None, 1e-3, 1.0], ids=["default", "1e-3", "1.0"])
@given(data=layernorm_inputs(lim=0.01))
@example(data=(torch.tensor([[0.001, -0.002, 0.0005, 0.004], [0.003, 0.0, -0.001, 0.002]], dtype=torch.float64), 4))
def test_layernorm_adds_eps_to_the_variance(kata, device, eps, data):
    # Inputs within +-0.01: the variance (at most 1e-4) is comparable to eps, so eps shows.
    x, ns = data
    x = x.to(device)
    got = kata.run(d04.layernorm_forward, x, ns, eps=eps)
    want = _layer_norm_f64(x, ns, eps=1e-5 if eps is None else eps)
    assert_close(got, want, what=f"LayerNorm({ns!r}" + ("" if eps is None else f", eps={eps}") + ")(x)",
                 inputs={"x": x})


@pytest.mark.parametrize("elementwise_affine", [True, False], ids=["affine", "no_affine"])
@given(data=layernorm_inputs(lim=0.01))
@example(data=(torch.tensor([[0.001, -0.002, 0.0005, 0.004], [0.003, 0.0, -1.0e-3, 0.002]], dtype=torch.float64), 4))
def test_layernorm_takes_eps_and_elementwise_affine_positionally(kata, device, elementwise_affine, data):
    # The catalog's order, nn.LayerNorm's: LayerNorm(normalized_shape, eps, elementwise_affine).
    # Inputs within +-0.01, so that eps = 1e-3 shows against the default 1e-5 (or 0).
    x, ns = data
    x = x.to(device)
    got = kata.run(d04.layernorm_positional, x, ns, 1e-3, elementwise_affine)
    want_names = ["bias", "weight"] if elementwise_affine else []
    expect(got["param_names"] == want_names,
           f"LayerNorm({ns!r}, 1e-3, {elementwise_affine}) (arguments positional) has parameters "
           f"{got['param_names']}, expected {want_names}")
    assert_close(got["out"], _layer_norm_f64(x, ns, eps=1e-3),
                 what=f"LayerNorm({ns!r}, 1e-3, {elementwise_affine})(x)", inputs={"x": x})


def _layernorm_tolerance(x, ns, eps):
    """assert_close tolerances for LayerNorm's output in x's dtype.

    A correct two-pass LayerNorm computes the mean with an absolute error up to about
    n * eps_dtype * max|x| over n normalised elements, and the output divides that error by
    sqrt(var + eps), which can be small: the allowed absolute error grows with that condition
    number max|x| / sqrt(var + eps) instead of staying at the dtype's default atol (nn.LayerNorm
    itself is no more accurate). Well-conditioned rows keep the defaults.
    """
    rtol, atol = tolerances(x.dtype)
    shape = _as_tuple(ns)
    n = math.prod(shape)
    if x.numel() == 0:
        return {"rtol": rtol, "atol": atol}
    rows = x.detach().double().cpu().reshape(-1, n)
    cond = rows.abs().amax(dim=1) / torch.sqrt(rows.var(dim=1, unbiased=False) + eps)
    return {"rtol": rtol, "atol": max(atol, 4 * n * torch.finfo(x.dtype).eps * float(cond.max()))}


@given(data=layernorm_inputs(dtype=None))
@example(data=(torch.tensor([[10.0, 10.001, 9.999], [3.0, -2.0, 0.5]]), 3))
def test_layernorm_keeps_dtype_and_device_and_is_accurate(kata, device, data):
    x, ns = data
    x = x.to(device)
    got = kata.run(d04.layernorm_forward, x, ns)
    assert_close(got, _layer_norm_f64(x, ns), what=f"LayerNorm({ns!r}).to({x.dtype}, {device})(x)",
                 inputs={"x": x}, **_layernorm_tolerance(x, ns, 1e-5))


@given(data=layernorm_inputs(), offset=st.floats(-1e7, 1e7).filter(lambda c: abs(c) >= 1e5))
@example(data=(torch.tensor([[0.1, -0.3, 0.7, 0.2], [1.5, 2.5, -0.5, 3.25]], dtype=torch.float64), 4), offset=1e7)
def test_layernorm_is_accurate_for_inputs_with_a_large_common_offset(kata, device, data, offset):
    # LayerNorm(x + c) == LayerNorm(x): nn.LayerNorm stays accurate when every element shares a
    # large offset (activations far from 0). A variance taken as E[x^2] - E[x]^2 cancels
    # catastrophically there: at c = 1e7, E[x^2] ~ 1e14 carries an error of ~1e-2 in float64.
    x, ns = data
    x = (x + offset).to(device)
    assert_close(kata.run(d04.layernorm_forward, x, ns), _layer_norm_f64(x, ns),
                 what=f"LayerNorm({ns!r})(x) for x around {offset:.3g}", inputs={"x": x},
                 **_layernorm_tolerance(x, ns, 1e-5))


@given(data=layernorm_inputs(), seed=tks.seeds(), eps=st.sampled_from([1e-5, 0.1]))
@example(data=(torch.tensor([[1.0, -2.0, 0.5, 4.0], [3.0, 0.0, -1.0, 2.0]], dtype=torch.float64), 4), seed=0, eps=1e-5)
def test_layernorm_gradients_match_torch(kata, device, data, seed, eps):
    x, ns = data
    x = x.to(device)
    shape = _as_tuple(ns)
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(shape, generator=g, dtype=x.dtype).to(device)
    bias = torch.randn(shape, generator=g, dtype=x.dtype).to(device)
    go = upstream(x.shape, x.dtype, device, seed + 1)
    got = kata.run(d04.layernorm_backward, x, go, ns, eps, {"weight": weight, "bias": bias})
    _, want = torch_grad(lambda a, w, b: F.layer_norm(a, shape, w, b, eps), x, weight, bias, grad_output=go)
    assert_close(got["x_grad"], want[0], what=f"x.grad after LayerNorm({ns!r}, eps={eps})(x).backward(g)",
                 inputs={"x": x})
    grads = got["param_grads"]
    for i, name in ((1, "weight"), (2, "bias")):
        expect(grads.get(name) is not None, f"LayerNorm.{name}.grad is None after backward; parameters: {sorted(grads)}")
        assert_close(grads[name], want[i], what=f"{name}.grad after LayerNorm({ns!r}, eps={eps})(x).backward(g)",
                     inputs={"x": x})
