"""Hidden suite for kata 05_modules: make_mlp, ResidualMLP, count_parameters, capture_activations.

Every symbol takes or returns an nn.Module (or an activation class), so the drivers in
tests/drivers/d05.py build the models, call the solution and hand back plain data: the
children's types, the nn.Linear weights in model.modules() order, outputs, gradients,
counts, captured tensors and the hook tables before and after. Values are checked against
the textbook composition of those Linear layers evaluated in float64; float32 runs check that
dtype and device are kept, with a tolerance for a few layers of float32 rounding.
"""
import numbers

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from torch import nn

from torchkata import strategies as tks
from torchkata.testing import assert_close, expect, torch_grad, upstream

from drivers import d05

ACTIVATION_NAMES = ["GELU", "Tanh"]  # passed to make_mlp as the nn classes of these names (ReLU: the default)
# Structural properties over small discrete input spaces (a few sizes, flags and names): fewer
# examples than the profile's cover them, and keep make check fast.
DISCRETE = settings(max_examples=15)
# Float32 against a float64 evaluation: up to 3 layers of sums of at most 5 products of values
# up to about 10 (and weights within 1): a correct float32 network carries a few 1e-6 of
# relative rounding error per layer, more than assert_close's float32 default (rtol 1.3e-6) allows.
F32_TOL = {"rtol": 1e-5, "atol": 1e-5}


def _linear(x, w, b):
    return x @ w.T + (0 if b is None else b)


def _inputs(dim, dtype, lead=None):
    """x[*lead, dim] with 0 to 2 leading dims (an empty batch included)."""
    lead = lead if lead is not None else st.lists(st.integers(0, 3), min_size=0, max_size=2)
    return lead.flatmap(lambda lead: tks.tensors(shape=(*lead, dim), dtype=dtype))


# ------------------------------------------------------------------------------ make_mlp

layer_sizes = st.lists(st.integers(1, 5), min_size=2, max_size=4)


@DISCRETE
@given(sizes=layer_sizes)
@example(sizes=[3, 4, 2])
def test_make_mlp_returns_an_nn_sequential(kata, sizes):
    got = kata.run(d05.mlp_structure, sizes)
    expect(got["is_sequential"], f"make_mlp({sizes}) must return an nn.Sequential; got a {got['type']}")


@DISCRETE
@given(sizes=layer_sizes)
@example(sizes=[3, 2])
@example(sizes=[4, 8, 8, 2])
def test_make_mlp_puts_one_activation_between_linears_and_none_after_the_last(kata, sizes):
    got = kata.run(d05.mlp_structure, sizes)
    n = len(sizes) - 1
    want = ["Linear", "ReLU"] * (n - 1) + ["Linear"]
    ok = len(got["children"]) == len(want) and all(
        got["is_linear"][i] if name == "Linear" else got["is_activation"][i] for i, name in enumerate(want))
    expect(ok, f"make_mlp({sizes}) must hold exactly {want} (an activation between consecutive "
               f"Linears, none after the last); got children {got['children']}")


@DISCRETE
@given(sizes=layer_sizes)
@example(sizes=[3, 5, 2])
def test_make_mlp_linear_shapes_follow_sizes(kata, sizes):
    got = kata.run(d05.mlp_structure, sizes)
    want = [(sizes[i + 1], sizes[i]) for i in range(len(sizes) - 1)]
    expect(got["linear_shapes"] == want and all(got["linear_has_bias"]),
           f"make_mlp({sizes}): the Linear weights must be {want} (Linear(sizes[i], sizes[i+1]), with bias); "
           f"got {got['linear_shapes']} (bias: {got['linear_has_bias']})")


@DISCRETE
@given(sizes=layer_sizes)
@example(sizes=[3, 4, 2])
def test_make_mlp_leaves_the_callers_sizes_list_untouched(kata, sizes):
    # The catalog: functions never modify their inputs in place. Consuming the list
    # (in_dim = sizes.pop(0), then one Linear per remaining size) builds the right network but
    # empties the caller's list, which the caller may reuse (to build a second model, to log it).
    got = kata.run(d05.mlp_structure, sizes)
    expect(got["sizes_after"] == sizes,
           f"make_mlp(sizes) changed the caller's list sizes from {sizes} to {got['sizes_after']}: read it "
           "(sizes[i], zip(sizes, sizes[1:])) or work on a copy, never pop from or modify the caller's list")


@DISCRETE
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
@given(sizes=st.lists(st.integers(1, 5), min_size=3, max_size=4))
@example(sizes=[3, 4, 4, 2])
def test_make_mlp_uses_the_given_activation_class(kata, activation, sizes):
    got = kata.run(d05.mlp_structure, sizes, activation)
    acts = [name for name, lin in zip(got["children"], got["is_linear"]) if not lin]
    ok = len(acts) == len(sizes) - 2 and all(a for a, lin in zip(got["is_activation"], got["is_linear"]) if not lin)
    expect(ok, f"make_mlp({sizes}, nn.{activation}) must put {len(sizes) - 2} nn.{activation} instances "
               f"between its Linears; got children {got['children']}")


@st.composite
def mlp_inputs(draw, dtype=torch.float64):
    sizes = draw(layer_sizes, label="sizes")
    x = draw(_inputs(sizes[0], dtype), label="x")
    return x, sizes


def _mlp_f64(x, linears, act):
    h = x.double()
    for i, (w, b) in enumerate(linears):
        h = _linear(h, w.double(), b.double())
        if i < len(linears) - 1:
            h = act(h)
    return h


@pytest.mark.parametrize("activation", [None, *ACTIVATION_NAMES], ids=["default", *ACTIVATION_NAMES])
@given(data=mlp_inputs(), seed=tks.seeds())
@example(data=(torch.tensor([[1.0, -2.0, 3.0]], dtype=torch.float64), [3, 4, 2]), seed=0)
def test_make_mlp_forward_is_the_composition_of_its_layers(kata, device, activation, data, seed):
    x, sizes = data
    x = x.to(device)
    got = kata.run(d05.mlp_forward, x, sizes, activation, seed=seed)
    expect(len(got["linears"]) == len(sizes) - 1,
           f"make_mlp({sizes}) must hold {len(sizes) - 1} nn.Linear layers; found {len(got['linears'])}")
    act = d05.ACTIVATIONS[activation or "ReLU"]()
    assert_close(got["out"], _mlp_f64(x, got["linears"], act),
                 what=f"make_mlp({sizes}, {'nn.' + activation if activation else 'default activation'})(x)",
                 inputs={"x": x})


@given(data=mlp_inputs(dtype=torch.float32), seed=tks.seeds())
@example(data=(torch.tensor([[1.0, -2.0, 0.5]]), [3, 4, 2]), seed=0)
def test_make_mlp_keeps_float32_and_device(kata, device, data, seed):
    x, sizes = data
    x = x.to(device)
    got = kata.run(d05.mlp_forward, x, sizes, seed=seed)
    want = _mlp_f64(x, got["linears"], nn.ReLU()).to(torch.float32)
    assert_close(got["out"], want, what=f"make_mlp({sizes}).to(float32, {device})(x)", inputs={"x": x}, **F32_TOL)


# --------------------------------------------------------------------------- ResidualMLP

@st.composite
def residual_config(draw, distinct=False):
    """(dim, hidden, depth); with DISTINCT, hidden != dim so each Linear's role shows in its shape."""
    dim = draw(st.integers(1, 5), label="dim")
    hidden = draw(st.integers(1, 6).filter(lambda h: not distinct or h != dim), label="hidden")
    depth = draw(st.integers(1, 3), label="depth")
    return dim, hidden, depth


@st.composite
def residual_inputs(draw, dtype=torch.float64, distinct=True):
    dim, hidden, depth = draw(residual_config(distinct=distinct))
    x = draw(_inputs(dim, dtype), label="x")
    return x, dim, hidden, depth


def _blocks(linears, dim, hidden):
    """Pair the k-th Linear(dim->hidden) with the k-th Linear(hidden->dim): the k-th block."""
    ins = [(w, b) for w, b in linears if tuple(w.shape) == (hidden, dim)]
    outs = [(w, b) for w, b in linears if tuple(w.shape) == (dim, hidden)]
    return list(zip(ins, outs))


def _residual_f64(x, blocks):
    h = x.double()
    for (w1, b1), (w2, b2) in blocks:
        h = h + _linear(torch.relu(_linear(h, w1.double(), b1.double())), w2.double(), b2.double())
    return h


@DISCRETE
@given(config=residual_config())
@example(config=(4, 4, 2))
@example(config=(3, 8, 1))
def test_residual_mlp_has_two_biased_linears_per_block(kata, config):
    dim, hidden, depth = config
    got = kata.run(d05.residual_structure, dim, hidden, depth)
    want = sorted([(hidden, dim), (dim, hidden)] * depth)
    expect(got["is_module"], f"ResidualMLP({dim}, {hidden}, {depth}) must be an nn.Module")
    expect(sorted(got["linear_shapes"]) == want and all(got["linear_has_bias"]),
           f"ResidualMLP(dim={dim}, hidden={hidden}, depth={depth}) must hold {depth} blocks of "
           f"Linear(dim, hidden) and Linear(hidden, dim), with bias: weights {want}; got {got['linear_shapes']} "
           f"(bias: {got['linear_has_bias']})")
    n = depth * (2 * dim * hidden + hidden + dim)
    expect(got["numel"] == n, f"ResidualMLP({dim}, {hidden}, {depth}) has {got['numel']} parameter scalars; "
                              f"its blocks alone account for {n}, and there is nothing else")


@DISCRETE
@given(config=residual_config(distinct=True))
@example(config=(3, 8, 2))
def test_residual_mlp_registers_each_blocks_linears_in_the_order_applied(kata, config):
    # The contract: each block's two Linears are registered in the order they are applied, so
    # modules() (and state_dict) run fc1, fc2 of block 0, then of block 1, ... (not all the
    # first Linears, then all the second ones). hidden != dim tells the two apart by shape.
    dim, hidden, depth = config
    got = kata.run(d05.residual_structure, dim, hidden, depth)
    want = [(hidden, dim), (dim, hidden)] * depth
    expect(got["linear_shapes"] == want,
           f"ResidualMLP(dim={dim}, hidden={hidden}, depth={depth}): the Linear weights in model.modules() order "
           f"must be {want} (block by block, each Linear(dim, hidden) then Linear(hidden, dim), as applied); "
           f"got {got['linear_shapes']}")


@given(data=residual_inputs(), seed=tks.seeds())
@example(data=(torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64), 3, 4, 2), seed=0)
# A transposed (non-contiguous) batch with leading dims: x.view(-1, dim) cannot take it, and the
# strategy's layouts draw it only by chance in 40 derandomized examples (CI once missed it).
@example(data=(torch.arange(12, dtype=torch.float64).reshape(2, 3, 2).transpose(1, 2) / 7, 3, 4, 2), seed=0)
def test_residual_mlp_forward_adds_each_block_to_its_input(kata, device, data, seed):
    x, dim, hidden, depth = data
    x = x.to(device)
    got = kata.run(d05.residual_forward, x, dim, hidden, depth, seed=seed)
    blocks = _blocks(got["linears"], dim, hidden)
    expect(len(blocks) == depth, f"ResidualMLP({dim}, {hidden}, {depth}) must hold {depth} blocks of two nn.Linear; "
                                 f"found Linear weights {[tuple(w.shape) for w, _ in got['linears']]}")
    assert_close(got["out"], _residual_f64(x, blocks),
                 what=f"ResidualMLP({dim}, {hidden}, {depth})(x): x = x + fc2(relu(fc1(x))) per block",
                 inputs={"x": x})


@given(data=residual_inputs(distinct=False))
@example(data=(torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64), 3, 3, 2))
def test_residual_mlp_with_all_parameters_zero_is_the_identity(kata, device, data):
    # Every block then adds fc2(relu(fc1(x))) = 0: only the skip connection carries x through.
    x, dim, hidden, depth = data
    x = x.to(device)
    got = kata.run(d05.residual_forward, x, dim, hidden, depth, zero_parameters=True)
    assert_close(got["out"], x, what=f"ResidualMLP({dim}, {hidden}, {depth}) with every parameter zeroed, on x "
                                     "(the skip connections must pass x through)", inputs={"x": x})


@given(data=residual_inputs(), seed=tks.seeds())
@example(data=(torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64), 3, 4, 2), seed=0)
def test_residual_mlp_gradients_match_torch(kata, device, data, seed):
    x, dim, hidden, depth = data
    x = x.to(device)
    go = upstream(x.shape, x.dtype, device, seed)
    got = kata.run(d05.residual_backward, x, go, dim, hidden, depth, seed=seed)
    blocks = _blocks(got["linears"], dim, hidden)
    expect(len(blocks) == depth, f"ResidualMLP({dim}, {hidden}, {depth}) must hold {depth} blocks of two nn.Linear")
    flat = [t for (w1, b1), (w2, b2) in blocks for t in (w1, b1, w2, b2)]

    def f(x, *params):
        return _residual_f64(x, [((params[i], params[i + 1]), (params[i + 2], params[i + 3]))
                                 for i in range(0, len(params), 4)])

    _, want = torch_grad(f, x, *flat, grad_output=go)
    assert_close(got["x_grad"], want[0], what=f"x.grad after ResidualMLP({dim}, {hidden}, {depth})(x).backward(g)",
                 inputs={"x": x})
    grads = {id(w): g for (w, _), g in zip(got["linears"], got["linear_grads"])}
    for k, ((w1, _b1), (w2, _b2)) in enumerate(blocks):
        (gw1, gb1), (gw2, gb2) = grads[id(w1)], grads[id(w2)]
        for name, g, i in (("fc1.weight", gw1, 0), ("fc1.bias", gb1, 1), ("fc2.weight", gw2, 2), ("fc2.bias", gb2, 3)):
            expect(g is not None, f"block {k}: the grad of its {name} is None after backward")
            assert_close(g, want[1 + 4 * k + i], what=f"block {k} {name}.grad after ResidualMLP(x).backward(g)",
                         inputs={"x": x})


@given(data=residual_inputs(dtype=torch.float32, distinct=True), seed=tks.seeds())
@example(data=(torch.tensor([[1.0, -2.0, 0.5]]), 3, 4, 2), seed=0)
def test_residual_mlp_keeps_float32_and_device(kata, device, data, seed):
    x, dim, hidden, depth = data
    x = x.to(device)
    got = kata.run(d05.residual_forward, x, dim, hidden, depth, seed=seed)
    want = _residual_f64(x, _blocks(got["linears"], dim, hidden)).to(torch.float32)
    assert_close(got["out"], want, what=f"ResidualMLP({dim}, {hidden}, {depth}).to(float32, {device})(x)",
                 inputs={"x": x}, **F32_TOL)


# ------------------------------------------------------------------------ count_parameters

def _mlp_count(sizes, frozen, trainable_only):
    return sum(sizes[i] * sizes[i + 1] + sizes[i + 1] for i in range(len(sizes) - 1)
               if not (trainable_only and frozen[i]))


@st.composite
def mlp_scenarios(draw):
    sizes = draw(st.lists(st.integers(1, 6), min_size=2, max_size=4), label="sizes")
    frozen = draw(st.lists(st.booleans(), min_size=len(sizes) - 1, max_size=len(sizes) - 1), label="frozen")
    return sizes, frozen


@DISCRETE
@given(sizes=st.lists(st.integers(1, 6), min_size=2, max_size=4))
@example(sizes=[3, 4, 2])
def test_count_parameters_counts_every_scalar_of_an_mlp(kata, sizes):
    frozen = [False] * (len(sizes) - 1)
    got = kata.run(d05.count, "mlp", sizes, frozen)
    want = _mlp_count(sizes, frozen, True)
    expect(got == want, f"count_parameters(MLP with Linear sizes {sizes}) = {got!r}; expected {want} "
                        "(weights and biases)")


@DISCRETE
@pytest.mark.parametrize("trainable_only", [None, True], ids=["default", "True"])
@given(scenario=mlp_scenarios())
@example(scenario=([3, 4, 2], [True, False]))
def test_count_parameters_skips_frozen_parameters_when_trainable_only(kata, trainable_only, scenario):
    sizes, frozen = scenario
    got = kata.run(d05.count, "mlp", sizes, frozen, trainable_only)
    want = _mlp_count(sizes, frozen, True)
    call = "count_parameters(model)" if trainable_only is None else "count_parameters(model, trainable_only=True)"
    expect(got == want, f"{call} on an MLP with Linear sizes {sizes}, Linear i frozen (requires_grad=False) "
                        f"where {frozen}: got {got!r}, expected {want} (frozen parameters do not count)")


@DISCRETE
@given(scenario=mlp_scenarios())
@example(scenario=([3, 4, 2], [True, False]))
def test_count_parameters_counts_frozen_parameters_when_not_trainable_only(kata, scenario):
    sizes, frozen = scenario
    got = kata.run(d05.count, "mlp", sizes, frozen, False)
    want = _mlp_count(sizes, frozen, False)
    expect(got == want, f"count_parameters(model, trainable_only=False) on an MLP with Linear sizes {sizes}, "
                        f"frozen where {frozen}: got {got!r}, expected {want} (every parameter counts)")


@DISCRETE
@pytest.mark.parametrize("trainable_only", [True, False])
@given(d=st.integers(1, 6), out=st.integers(1, 6), frozen=st.lists(st.booleans(), min_size=2, max_size=2))
@example(d=4, out=2, frozen=[False, False])
def test_count_parameters_counts_a_shared_layer_once(kata, trainable_only, d, out, frozen):
    got = kata.run(d05.count, "shared", [d, out], frozen, trainable_only)
    want = sum(n for n, f in ((d * d + d, frozen[0]), (d * out + out, frozen[1])) if not (trainable_only and f))
    expect(got == want, f"count_parameters(nn.Sequential(shared, nn.Tanh(), shared, nn.Linear({d}, {out})), "
                        f"trainable_only={trainable_only}) with shared = nn.Linear({d}, {d}), frozen {frozen}: "
                        f"got {got!r}, expected {want} (a module used twice holds its parameters once)")


@DISCRETE
@pytest.mark.parametrize("trainable_only", [True, False])
@given(d=st.integers(1, 6), frozen=st.booleans())
@example(d=3, frozen=False)
def test_count_parameters_counts_tied_weights_once(kata, trainable_only, d, frozen):
    got = kata.run(d05.count, "tied", [d], [frozen], trainable_only)
    want = (0 if trainable_only and frozen else d * d) + 2 * d
    expect(got == want, f"count_parameters on two nn.Linear({d}, {d}) sharing one weight Parameter (tied, "
                        f"frozen={frozen}), trainable_only={trainable_only}: got {got!r}, expected {want} "
                        "(the tied weight counts once, each bias once)")


@DISCRETE
@given(d=st.integers(1, 6), out=st.integers(1, 6), frozen=st.lists(st.booleans(), min_size=2, max_size=2))
@example(d=3, out=4, frozen=[False, False])
def test_count_parameters_ignores_buffers(kata, d, out, frozen):
    got = kata.run(d05.count, "batchnorm", [d, out], frozen, False)
    want = d * out + out + 2 * out
    expect(got == want, f"count_parameters(nn.Sequential(nn.Linear({d}, {out}), nn.BatchNorm1d({out})), "
                        f"trainable_only=False): got {got!r}, expected {want} (BatchNorm's running_mean, "
                        "running_var and num_batches_tracked are buffers, not parameters)")


@DISCRETE
@pytest.mark.parametrize("trainable_only", [True, False])
@given(d=st.integers(1, 6), out=st.integers(1, 6), frozen=st.lists(st.booleans(), min_size=2, max_size=2))
@example(d=3, out=4, frozen=[False, False])
@example(d=3, out=4, frozen=[True, False])
def test_count_parameters_counts_the_models_own_parameters(kata, trainable_only, d, out, frozen):
    # Parameters registered on the model itself, not on a child: walking the children (or only
    # the layer types one knows) misses them.
    got = kata.run(d05.count, "own", [d, out], frozen, trainable_only)
    want = sum(n for n, f in ((d * out + out, frozen[0]), (out, frozen[1])) if not (trainable_only and f))
    expect(got == want, f"count_parameters(model, trainable_only={trainable_only}) on a module holding "
                        f"fc = nn.Linear({d}, {out}) and its own gain = nn.Parameter(torch.ones({out})) (plus a "
                        f"buffer), frozen {frozen}: got {got!r}, expected {want} (gain is the model's own parameter)")


@DISCRETE
@given(d=st.integers(1, 6), out=st.integers(1, 6), frozen=st.lists(st.booleans(), min_size=2, max_size=2))
@example(d=3, out=4, frozen=[True, True])
def test_count_parameters_decides_trainable_per_parameter_not_per_module(kata, d, out, frozen):
    # Bias-only fine-tuning: a Linear's weight frozen while its bias trains.
    got = kata.run(d05.count, "bias_only", [d, out], frozen, True)
    want = out + d + sum(n for n, f in ((d * out, frozen[0]), (out * d, frozen[1])) if not f)
    expect(got == want, f"count_parameters(nn.Sequential(nn.Linear({d}, {out}), nn.ReLU(), nn.Linear({out}, {d}))) "
                        f"with the weight of Linear i frozen where {frozen} (biases trainable): got {got!r}, "
                        f"expected {want} (requires_grad is a property of each parameter, not of its module)")


@DISCRETE
@pytest.mark.parametrize("trainable_only", [True, False])
@given(d=st.integers(1, 6), out=st.integers(1, 6), frozen=st.lists(st.booleans(), min_size=2, max_size=2))
@example(d=3, out=4, frozen=[False, False])
@example(d=2, out=1, frozen=[True, False])
@example(d=2, out=1, frozen=[True, True])  # nothing trainable: the count is still the int 0, not 0.0
def test_count_parameters_counts_parameters_of_any_rank_as_an_int(kata, trainable_only, d, out, frozen):
    # Any nn.Module: a Conv2d weight has 4 dims, a learnable temperature none; "-> int".
    got = kata.run(d05.count, "conv", [d, out], frozen, trainable_only)
    want = sum(n for n, f in ((out * d * 2 * 3 + out, frozen[0]), (1, frozen[1])) if not (trainable_only and f))
    expect(isinstance(got, numbers.Integral) and not isinstance(got, bool) and got == want,
           f"count_parameters(model, trainable_only={trainable_only}) on a module holding conv = nn.Conv2d({d}, {out}, "
           f"(2, 3)) (weight {out}x{d}x2x3) and temperature = nn.Parameter(torch.tensor(1.0)) (0-d), frozen {frozen}: "
           f"got {got!r} ({type(got).__name__}), expected the int {want} (p.numel() scalars per parameter)")


@DISCRETE
@pytest.mark.parametrize("trainable_only", [True, False])
@given(d=st.integers(1, 6), out=st.integers(1, 6), frozen=st.lists(st.booleans(), min_size=2, max_size=2))
@example(d=3, out=2, frozen=[False, False])
def test_count_parameters_handles_a_layer_without_bias(kata, trainable_only, d, out, frozen):
    # nn.Linear(..., bias=False) registers its bias as None: it is no parameter and counts nothing.
    got = kata.run(d05.count, "no_bias", [d, out], frozen, trainable_only)
    want = sum(n for n, f in ((d * out, frozen[0]), (out * d + d, frozen[1])) if not (trainable_only and f))
    expect(got == want, f"count_parameters(nn.Sequential(nn.Linear({d}, {out}, bias=False), nn.ReLU(), "
                        f"nn.Linear({out}, {d})), trainable_only={trainable_only}), Linear i frozen where {frozen}: "
                        f"got {got!r}, expected {want} (a bias=False layer has a weight only)")


@DISCRETE
@pytest.mark.parametrize("trainable_only", [True, False])
@given(scenario=st.sampled_from(["mlp", "shared", "tied", "own", "conv"]),
       sizes=st.lists(st.integers(1, 5), min_size=3, max_size=3),
       frozen=st.lists(st.booleans(), min_size=2, max_size=2))
@example(scenario="mlp", sizes=[3, 4, 2], frozen=[False, False])
def test_count_parameters_counts_a_model_on_the_meta_device(kata, trainable_only, scenario, sizes, frozen):
    # The number of scalars does not depend on where the parameters live: a model built on the
    # meta device (shapes, no storage: how a large model's size is counted before allocating it)
    # has the same count. Its parameters have no memory, so no address tells them apart.
    got = kata.run(d05.count, scenario, sizes, frozen, trainable_only=trainable_only, device="meta")
    want = d05.count_expected(scenario, sizes, frozen, trainable_only=trainable_only)
    expect(got == want, f"count_parameters(model, trainable_only={trainable_only}) for the {scenario!r} model "
                        f"(sizes {sizes}, frozen {frozen}) built on the meta device: got {got!r}, expected {want} "
                        "(tell shared parameters apart by the Parameter object, not by its memory address)")


# --------------------------------------------------------------------- capture_activations

MODULE_NAMES = ["", "0", "1", "2", "2.0", "2.1", "3"]  # build_capture_model's named_modules()
UNKNOWN_NAMES = ["nope", "4", "2.2", "0.weight", "layers.0"]


def _expected_activations(x, dims, seed):
    """Run build_capture_model(dims, seed) layer by layer (no hooks): every named output."""
    m = d05.build_capture_model(dims, seed).to(device=x.device, dtype=x.dtype)
    with torch.no_grad():
        h0 = m[0](x)
        h1 = m[1](h0)
        h20 = m[2][0](h1)
        h21 = m[2][1](h20)
        h3 = m[3](h21)
    return {"": h3, "0": h0, "1": h1, "2": h21, "2.0": h20, "2.1": h21, "3": h3}


@st.composite
def capture_inputs(draw, dtype=None):
    dims = draw(st.lists(st.integers(1, 5), min_size=4, max_size=4), label="dims")
    dtype = draw(tks.float_dtypes()) if dtype is None else dtype
    x = draw(_inputs(dims[0], dtype, lead=st.lists(st.integers(1, 3), min_size=0, max_size=2)), label="x")
    return x, dims


names_lists = st.lists(st.sampled_from(MODULE_NAMES), unique=True, max_size=len(MODULE_NAMES))


@given(data=capture_inputs(), names=names_lists, seed=tks.seeds())
@example(data=(torch.tensor([[1.0, 2.0]]), [2, 3, 3, 1]), names=["0", "2.0", "3"], seed=0)
@example(data=(torch.tensor([[1.0, 2.0]]), [2, 3, 3, 1]), names=[], seed=0)
@example(data=(torch.tensor([[1.0, 2.0]], dtype=torch.float64), [2, 3, 3, 1]), names=MODULE_NAMES, seed=1)
def test_capture_activations_returns_the_named_submodules_outputs(kata, device, data, names, seed):
    x, dims = data
    x = x.to(device)
    got = kata.run(d05.capture, x, names, dims, seed=seed)
    expect(got["acts"] is not None, f"capture_activations must return a dict; got a {got['type']}")
    acts = got["acts"]
    expect(sorted(acts) == sorted(names),
           f"capture_activations(model, x, {names}) must return one entry per name; got keys {sorted(acts)}")
    want = _expected_activations(x, dims, seed)
    for name in names:
        assert_close(acts[name], want[name], what=f"capture_activations(...)[{name!r}] (the output of "
                                                   f"model.get_submodule({name!r}) during model(x))", inputs={"x": x})


@DISCRETE
@given(data=capture_inputs(dtype=torch.float32), names=names_lists,
       frozen=st.lists(st.sampled_from(["0", "2.0", "3"]), unique=True, min_size=1))
@example(data=(torch.tensor([[1.0, 2.0]]), [2, 3, 3, 1]), names=["0", "3"], frozen=["0"])
def test_capture_activations_leaves_requires_grad_as_it_was(kata, device, data, names, frozen):
    # The catalog: functions never modify their inputs (the model is the caller's). Switching
    # gradients off for the capture with model.requires_grad_(False) and on again afterwards
    # unfreezes the caller's frozen layers.
    x, dims = data
    got = kata.run(d05.capture, x.to(device), names, dims, frozen=frozen)
    expect(got["acts"] is not None, f"capture_activations must return a dict; got a {got['type']}")
    expect(got["requires_grad_after"] == got["requires_grad_before"],
           f"capture_activations(model, x, {names}) changed the requires_grad flags of the model's parameters "
           f"(layers {frozen} frozen by the caller): before {got['requires_grad_before']}, after "
           f"{got['requires_grad_after']}")


@DISCRETE
@given(data=capture_inputs(dtype=torch.float32), names=names_lists)
@example(data=(torch.tensor([[1.0, 2.0]]), [2, 3, 3, 1]), names=["0", "2.0"])
def test_capture_activations_removes_every_hook_it_added(kata, device, data, names):
    x, dims = data
    got = kata.run(d05.capture, x.to(device), names, dims)
    expect(got["after"] == got["before"],
           f"after capture_activations(model, x, {names}) returned, the model's hooks were {got['after']}; "
           f"before the call {got['before']}: remove every handle you registered")


@DISCRETE
@given(data=capture_inputs(dtype=torch.float32), names=names_lists, own=st.sampled_from(MODULE_NAMES))
@example(data=(torch.tensor([[1.0, 2.0]]), [2, 3, 3, 1]), names=["0", "2.0"], own="0")
def test_capture_activations_keeps_hooks_it_did_not_add(kata, device, data, names, own):
    # The caller holds a forward hook on one submodule and a global one
    # (torch.nn.modules.module.register_module_forward_hook): "hooks that the caller registered
    # stay", the global table included (clearing it, rather than removing one's own handle, drops
    # the caller's global hooks too).
    x, dims = data
    got = kata.run(d05.capture, x.to(device), names, dims, own_hook_on=own, own_global_hook=True)
    expect(got["own_hook_fired"] == 1 and got["after"] == got["before"],
           f"the caller's own forward hook on {own!r} must survive capture_activations(model, x, {names}) "
           f"(remove only your own handles): it fired {got['own_hook_fired']} time(s) in a later model(x) "
           f"(expected 1); hooks before {got['before']}, after {got['after']}")
    expect(got["own_global_hook_fired"] == got["modules_run"],
           f"the caller's own global forward hook (register_module_forward_hook) must survive "
           f"capture_activations(model, x, {names}): it fired {got['own_global_hook_fired']} time(s) in a later "
           f"model(x), once per module expected ({got['modules_run']}); remove your own handle only, never "
           "clear torch's hook tables")


@DISCRETE
@given(data=capture_inputs(dtype=torch.float32), names=names_lists, error=st.sampled_from(sorted(d05.ERRORS)))
@example(data=(torch.tensor([[1.0, 2.0]]), [2, 3, 3, 1]), names=["0", "3"], error="RuntimeError")
@example(data=(torch.tensor([[1.0, 2.0]]), [2, 3, 3, 1]), names=["0", "3"], error="ValueError")
@example(data=(torch.tensor([[1.0, 2.0]]), [2, 3, 3, 1]), names=["2.0"], error="BoomError")
# BoomInterrupt is a BaseException, not an Exception (as KeyboardInterrupt): "also when model(x)
# raises" covers it, and a cleanup in `except Exception:` instead of `finally:` misses it.
@example(data=(torch.tensor([[1.0, 2.0]]), [2, 3, 3, 1]), names=["0", "3"], error="BoomInterrupt")
def test_capture_activations_lets_an_error_in_the_forward_propagate(kata, device, data, names, error):
    # "the error reaches the caller": the model's own exception, of its own type (a caller's
    # `except ValueError` around the call must still see it), not one wrapped in another type.
    x, dims = data
    got = kata.run(d05.capture_failing, x.to(device), names, dims, failure="forward", error=error)
    expect(got["raised"] == error and "Boom" in got["message"],
           f"when model(x) raises ({error}('Boom: ...') from its last layer), capture_activations(model, x, "
           f"{names}) must let that error reach the caller as it is; got {got['raised']}: {got['message']!r}")
    expect(got["after"] == got["before"],
           f"model(x) raised {error} inside capture_activations(model, x, {names}) and the hooks were left as "
           f"{got['after']} (before the call {got['before']}): remove them in a finally block, which also runs "
           "for exceptions that are not Exceptions (KeyboardInterrupt)")


@DISCRETE
@given(data=capture_inputs(dtype=torch.float32), names=names_lists)
@example(data=(torch.tensor([[1.0, 2.0]]), [2, 3, 3, 1]), names=["0", "2.0", "3"])
def test_capture_activations_removes_its_hooks_when_the_forward_raises(kata, device, data, names):
    x, dims = data
    got = kata.run(d05.capture_failing, x.to(device), names, dims, failure="forward")
    expect(got["raised"] == "RuntimeError",
           f"model(x) raises RuntimeError('Boom: ...'); capture_activations(model, x, {names}) must let it reach "
           f"the caller; got {got['raised']}: {got['message']!r}")
    expect(got["after"] == got["before"],
           f"model(x) raised inside capture_activations(model, x, {names}) and the hooks were left as "
           f"{got['after']} (before the call {got['before']}): remove them in a finally block")


@st.composite
def names_with_an_unknown(draw):
    known = draw(names_lists, label="known names")
    unknown = draw(st.sampled_from(UNKNOWN_NAMES), label="unknown name")
    at = draw(st.integers(0, len(known)), label="position")
    return known[:at] + [unknown] + known[at:]


@DISCRETE
@given(data=capture_inputs(dtype=torch.float32), names=names_with_an_unknown())
@example(data=(torch.tensor([[1.0, 2.0]]), [2, 3, 3, 1]), names=["nope"])
def test_capture_activations_raises_key_error_for_an_unknown_name(kata, device, data, names):
    x, dims = data
    got = kata.run(d05.capture_failing, x.to(device), names, dims, failure="name")
    # A KeyError earns nothing alone: the same call without the unknown name must capture right.
    expect(got["accepted"] is None, f"capture_activations must work before it can refuse: {got['accepted']}")
    expect(got["is_key_error"], f"capture_activations(model, x, {names}) must raise KeyError for a name that is "
                                f"not in model.named_modules(); got {got['raised']}: {got['message']!r}")


@DISCRETE
@given(data=capture_inputs(dtype=torch.float32), names=names_with_an_unknown())
@example(data=(torch.tensor([[1.0, 2.0]]), [2, 3, 3, 1]), names=["0", "2.0", "nope"])
def test_capture_activations_removes_its_hooks_after_a_key_error(kata, device, data, names):
    x, dims = data
    got = kata.run(d05.capture_failing, x.to(device), names, dims, failure="name")
    # A KeyError earns nothing alone: the same call without the unknown name must capture right.
    expect(got["accepted"] is None, f"capture_activations must work before it can refuse: {got['accepted']}")
    expect(got["is_key_error"], f"capture_activations(model, x, {names}) must raise KeyError for the unknown name; "
                                f"got {got['raised']}: {got['message']!r}")
    expect(got["after"] == got["before"],
           f"capture_activations(model, x, {names}) raised {got['raised']} and left the hooks as {got['after']} "
           f"(before the call {got['before']}): no hook may outlive the call")


@st.composite
def names_with_a_repeat(draw):
    known = draw(st.lists(st.sampled_from(MODULE_NAMES), unique=True, min_size=1), label="names")
    again = draw(st.sampled_from(known), label="listed twice")
    at = draw(st.integers(0, len(known)), label="position")
    return known[:at] + [again] + known[at:]


@DISCRETE
@given(data=capture_inputs(dtype=torch.float64), names=names_with_a_repeat(), seed=tks.seeds())
@example(data=(torch.tensor([[1.0, 2.0]], dtype=torch.float64), [2, 3, 3, 1]), names=["0", "0"], seed=0)
def test_capture_activations_accepts_a_name_listed_twice(kata, device, data, names, seed):
    # names is a list: nothing forbids a repeat. Every hook added is still removed, and the
    # entry is the submodule's output as for a single listing.
    x, dims = data
    x = x.to(device)
    got = kata.run(d05.capture, x, names, dims, seed=seed)
    expect(got["after"] == got["before"],
           f"after capture_activations(model, x, {names}) (a name listed twice) returned, the model's hooks were "
           f"{got['after']}; before the call {got['before']}: remove every handle you registered")
    expect(got["acts"] is not None and sorted(got["acts"]) == sorted(set(names)),
           f"capture_activations(model, x, {names}) must return one entry per distinct name; got "
           f"{None if got['acts'] is None else sorted(got['acts'])}")
    want = _expected_activations(x, dims, seed)
    for name in set(names):
        assert_close(got["acts"][name], want[name], what=f"capture_activations(model, x, {names})[{name!r}]",
                     inputs={"x": x})


DROPOUT_NAMES = ["", "0", "1", "2", "3"]  # build_dropout_model's named_modules()


@st.composite
def mode_inputs(draw):
    # Wide enough layers that two different dropout masks differ (2**-16 that they agree).
    dims = [draw(st.integers(1, 4), label="d0"), draw(st.integers(8, 12), label="d1"), draw(st.integers(8, 12))]
    x = draw(_inputs(dims[0], torch.float32, lead=st.lists(st.integers(2, 3), min_size=1, max_size=2)), label="x")
    return x, dims


@given(data=mode_inputs(), names=st.lists(st.sampled_from(DROPOUT_NAMES), unique=True, min_size=1),
       modes=st.lists(st.booleans(), min_size=5, max_size=5), seed=tks.seeds())
@example(data=(torch.ones(4, 2), [2, 8, 8]), names=["1", "3"], modes=[True, True, False, True, True], seed=0)
@example(data=(torch.ones(4, 2), [2, 8, 8]), names=["1", "3"], modes=[True, True, True, True, True], seed=0)
def test_capture_activations_records_one_forward_in_the_models_own_mode(kata, device, data, names, modes, seed):
    # "The outputs during model(x)": one forward, in the training mode the caller left each module
    # in (dropout active where training), and every module's mode unchanged afterwards.
    x, dims = data
    x = x.to(device)
    got = kata.run(d05.capture_in_mode, x, names, dims, modes, seed=seed)
    expect(got["acts"] is not None, f"capture_activations must return a dict; got a {got['type']}")
    expect(got["after"] == got["before"],
           f"capture_activations changed the training modes of the model's modules: before {got['before']}, after "
           f"{got['after']} (do not switch the model to eval or train; it is the caller's)")
    for name in names:
        expect(name in got["acts"], f"capture_activations(model, x, {names}) has no entry {name!r}")
        assert_close(got["acts"][name], got["replayed"][name],
                     what=f"capture_activations(model, x, {names})[{name!r}] on a model with Dropout layers, training "
                          f"modes {got['before']}: one model(x) from the same random state gives other values (a forward "
                          "in another mode, or an extra forward before the captured one?)", inputs={"x": x})
