"""Hidden suite for kata 03_autograd: grad_of, vjp, hvp, LogSumExp / logsumexp, StraightThroughRound.

grad_of, vjp and hvp take a callable and the two classes are autograd.Functions, so those
tests go through the drivers of tests/drivers/d03.py: the test names a function of the
drivers' registry, the driver calls the solution with it and reports plain data back.
Expected values come from torch itself in float64 (torch.autograd.functional.vjp / hvp,
torch.logsumexp, torch.round); the custom Functions are also checked with
torch.autograd.gradcheck and gradgradcheck (fast mode) in float64.
"""
import math

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from torchkata import strategies as tks
from torchkata.testing import assert_close, expect, torch_grad

from drivers import d03

# The catalog asks LogSumExp to be stable for |x| up to 1e4.
LARGE = 1e4

HELPERS = ("grad_of", "vjp", "hvp")

# Structural properties (a flag, a dtype, detachment) do not depend on the values drawn: half
# the profile's examples (dev 10, ci 20, grade 40) keep the suite quick.
structural = settings(max_examples=max(10, settings.default.max_examples // 2))

SCALAR_AND_LINEAR = sorted(d03.SCALAR_FUNCTIONS) + sorted(d03.LINEAR_FUNCTIONS)


def _xs(dtype=torch.float64, lim=10.0, max_dims=3, max_side=4):
    """x for the helpers: 0-d, empty and non-contiguous x included (f maps any x)."""
    return tks.tensors(shape=tks.shapes(max_dims=max_dims, max_side=max_side), dtype=dtype,
                       min_value=-lim, max_value=lim)


@st.composite
def helper_case(draw, op, dtype=torch.float64, lim=10.0, names=None):
    """(f, x, v) for OP: f a registry name, v shaped like f(x) for vjp, like x for hvp, None for grad_of."""
    if names is None:
        names = sorted(d03.TENSOR_FUNCTIONS) if op == "vjp" else SCALAR_AND_LINEAR
    f = draw(st.sampled_from(names), label="f")
    x = draw(_xs(dtype, lim), label="x")
    if op == "grad_of":
        return f, x, None
    shape = d03.FUNCTIONS[f](x).shape if op == "vjp" else x.shape
    v = draw(tks.tensors(shape=shape, dtype=dtype, min_value=-lim, max_value=lim), label="v")
    return f, x, v


def _expected_helper(op, f, x, v):
    """What torch's own transforms give for OP, in float64, cast back to x's dtype."""
    fn, x64 = d03.FUNCTIONS[f], x.double()
    if op == "grad_of":
        # f is scalar: its vjp with v = 1 is its gradient (torch.func.grad would give the same
        # values, but its first call costs seconds).
        out = torch.autograd.functional.vjp(fn, x64)[1]
    elif op == "vjp":
        out = torch.autograd.functional.vjp(fn, x64, v.double())[1]
    else:
        out = torch.autograd.functional.hvp(fn, x64, v.double())[1]
    return out.to(x.dtype)


def _what(op, f, v):
    return f"{op}({f}, x)" if v is None else f"{op}({f}, x, v)"


def _inputs(x, v):
    return {"x": x} if v is None else {"x": x, "v": v}


def _run_helper(kata, device, op, f, x, v, **kwargs):
    x = x.to(device)
    v = None if v is None else v.to(device)
    return x, v, kata.run(d03.helper, op, f, x, v, **kwargs)


# --------------------------------------------------------------------------- grad_of, vjp, hvp

@given(case=helper_case("grad_of"))
# The README bounds no x: a large f next to a small partial derivative shows a finite-difference
# gradient, whose rounding error eps |f| / h swamps the small component for any usable step h
# (f ~ 1e16 has an ulp of 2: (f(x + h e) - f(x - h e)) / 2h errs by ~1 / h), while autograd's
# gradient 2x is exact. The cubic adds a truncation error h^2 ramp / 6 for a plain central step.
@example(case=("sum_of_squares", torch.tensor([1e8, 1.0], dtype=torch.float64), None))
@example(case=("weighted_sum_of_cubes", torch.tensor([1e3, 0.5], dtype=torch.float64), None))
def test_grad_of_matches_torch(kata, device, case):
    f, x, v = case
    x, v, report = _run_helper(kata, device, "grad_of", f, x, v)
    assert_close(report["result"], _expected_helper("grad_of", f, x, v), what=_what("grad_of", f, v),
                 inputs=_inputs(x, v))


@given(case=helper_case("vjp"))
# As for grad_of: a large output next to a small derivative shows a finite-difference vjp (the
# README bounds neither x nor v; autograd's vjp is exact to rounding of each product).
@example(case=("scalar", torch.tensor([1e3, 0.5], dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64)))
@example(case=("square_then_sum_last_dim", torch.tensor([[1e8, 1.0]], dtype=torch.float64),
               torch.tensor([1.0], dtype=torch.float64)))
def test_vjp_matches_torch_for_outputs_of_any_shape(kata, device, case):
    f, x, v = case
    x, v, report = _run_helper(kata, device, "vjp", f, x, v)
    assert_close(report["result"], _expected_helper("vjp", f, x, v), what=_what("vjp", f, v),
                 inputs=_inputs(x, v))


@given(case=helper_case("hvp", names=sorted(d03.SCALAR_FUNCTIONS)))
# H v is linear in v and v may have any magnitude: a large v shows a finite-difference hvp,
# whose step grows with |v| (exact double backward has no step).
@example(case=("sum_of_sines", torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64),
               torch.tensor([1e4, -3e3, 5e3], dtype=torch.float64)))
# Two points where any finite-difference hvp (g(x + h v) - g(x - h v)) / 2h, whatever its step h
# and working precision, errs by far more than the tolerance, while exact double backward is
# exact: x = 0 of |x|^4, where H = 0 but the fourth derivative is not (truncation error
# ~ 4 (h|v|)^2 |v|: every step h|v| >= 1e-8 is off by 50x or more), and a large x of |x|^2, where
# the gradient 2x dwarfs H v = 2 v (rounding error ~ eps |x| / h: every step h|v| <= 1e-7 is off
# by 50x or more). H v is linear in v and the README bounds neither x nor v.
@example(case=("squared_norm_squared", torch.zeros(3, dtype=torch.float64),
               torch.tensor([1e10, -3e9, 5e9], dtype=torch.float64)))
@example(case=("sum_of_squares", torch.tensor([1e4, -3e4, 2e4], dtype=torch.float64),
               torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)))
# One direction v with components of very different sizes: a finite difference along v takes one
# step h for all of them. H v = -sin(x) v is -1.2e-6 and -0.909 here. Truncation on the first
# component ~ (h 1e10)^4 1e10 (even extrapolated) needs h <= 1e-14; rounding on the second
# ~ eps / h then errs by 1e-2 or more. Double backward is exact for both.
@example(case=("sum_of_sines", torch.tensor([math.pi, 2.0], dtype=torch.float64),
               torch.tensor([1e10, 1.0], dtype=torch.float64)))
def test_hvp_matches_torch(kata, device, case):
    f, x, v = case
    x, v, report = _run_helper(kata, device, "hvp", f, x, v)
    assert_close(report["result"], _expected_helper("hvp", f, x, v), what=_what("hvp", f, v),
                 inputs=_inputs(x, v))


# Separable f: H is diagonal, so H v is one product per element, exact to a few float32 ulps
# for any correct double backward; no cancellation, so float32's default tolerances hold.
SEPARABLE = ["sum_of_sines", "sum_of_squares", "weighted_sum_of_cubes"]


@given(case=helper_case("hvp", dtype=torch.float32, names=SEPARABLE))
@example(case=("sum_of_squares", torch.tensor([9.5, -7.25, 3.0]), torch.tensor([0.5, -1.0, 2.0])))
def test_hvp_keeps_float32_precision(kata, device, case):
    # The README: results are compared with assert_close's default tolerances for your dtype.
    # A finite-difference hvp (g(x + h v) - g(x - h v)) / 2h loses ~eps / h of float32's
    # precision to rounding whatever h is; double backward (create_graph=True) loses none.
    f, x, v = case
    x, v, report = _run_helper(kata, device, "hvp", f, x, v)
    assert_close(report["result"], _expected_helper("hvp", f, x, v), what=_what("hvp", f, v) + " for float32 x",
                 inputs=_inputs(x, v))


@given(case=helper_case("hvp", names=sorted(d03.LINEAR_FUNCTIONS)))
# f linear in x with weights that require grad (a loss closing over a model's parameters): its
# gradient w.r.t. x is those weights, which require grad but do not depend on x. The README: a
# linear f gives zeros, not an error (torch.autograd.grad needs allow_unused=True there).
@example(case=("sum_weighted_by_trainable_weights", torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64),
               torch.tensor([[0.5, 1.0], [-1.0, 2.0]], dtype=torch.float64)))
def test_hvp_of_a_linear_function_is_zero(kata, device, case):
    # The gradient of a linear f is a constant that does not require grad even with
    # create_graph=True (or, when f's weights require grad, one that does not depend on x):
    # differentiating it again must give zeros, not an error.
    f, x, v = case
    x, v, report = _run_helper(kata, device, "hvp", f, x, v)
    assert_close(report["result"], torch.zeros_like(x), what=_what("hvp", f, v) + " for a linear f",
                 inputs=_inputs(x, v))
    # The README: every helper returns a detached tensor, this case included (zeros built from the
    # gradient, g * 0, still require grad when f's weights do).
    expect(not report["result_requires_grad"] and not report["result_has_grad_fn"],
           f"{_what('hvp', f, v)} for a linear f returned zeros that still require grad (or have a grad_fn): "
           "the result must be detached, also when f closes over weights that require grad")


@structural
@pytest.mark.parametrize("op", HELPERS)
@given(data=st.data())
def test_helpers_keep_float32_and_device(kata, device, op, data):
    f, x, v = data.draw(helper_case(op, dtype=torch.float32, lim=2.0), label="case")
    x, v, report = _run_helper(kata, device, op, f, x, v)
    # The values are checked in float64 by the tests above; here the float32 result only has
    # to be float32, on x's device, and close to the exact value within float32 rounding of
    # sums with cancellation evaluated in another (equally correct) order.
    assert_close(report["result"], _expected_helper(op, f, x, v), what=_what(op, f, v) + " for float32 x",
                 inputs=_inputs(x, v), rtol=1e-4, atol=1e-4)


CALLER_STATES = ("plain", "leaf", "leaf_with_grad")


def _expect_caller_tensor_untouched(report, name, call):
    """NAME ("x" or "v") came back with the requires_grad flag and .grad it had."""
    __tracebackhide__ = True
    rg_before, rg_after = report[f"{name}_requires_grad_before"], report[f"{name}_requires_grad_after"]
    expect(rg_after == rg_before,
           f"{call} changed {name}.requires_grad from {rg_before} to {rg_after}: work on a detached copy instead")
    before, after = report[f"{name}_grad_before"], report[f"{name}_grad_after"]
    expect(after is None if before is None else after is not None and torch.equal(after, before),
           f"{call} wrote into {name}.grad (before: {before}, after: {after}): torch.autograd.grad returns "
           "the gradients without accumulating into any .grad; .backward() accumulates into the .grad of "
           f"every leaf it reaches, {name} included when it requires grad")


@pytest.mark.parametrize("op", HELPERS)
@given(data=st.data())
def test_helpers_leave_x_and_v_untouched(kata, device, op, data):
    # plain: requires_grad False; leaf: True with .grad None; leaf_with_grad: True with .grad
    # already holding 0.25 everywhere (the README: x and v come back exactly as they were,
    # requires_grad and .grad included, and the result is the same whatever they held).
    # The states are drawn rather than parametrized (9x fewer runs);
    # test_helpers_ignore_grads_the_caller_already_holds pins the leaf_with_grad case.
    x_state = data.draw(st.sampled_from(CALLER_STATES), label="x_state")
    v_state = data.draw(st.sampled_from(CALLER_STATES), label="v_state") if op != "grad_of" else "plain"
    f, x, v = data.draw(helper_case(op), label="case")
    x, v, report = _run_helper(kata, device, op, f, x, v, x_state=x_state, v_state=v_state)
    call = _what(op, f, v)
    _expect_caller_tensor_untouched(report, "x", call)
    assert_close(report["x_after"], x, what=f"x after {call}", inputs=_inputs(x, v))
    if v is not None:
        _expect_caller_tensor_untouched(report, "v", call)
        assert_close(report["v_after"], v, what=f"v after {call}", inputs=_inputs(x, v))
    assert_close(report["result"], _expected_helper(op, f, x, v),
                 what=f"{call} for x {x_state}" + ("" if v is None else f", v {v_state}"), inputs=_inputs(x, v))


@pytest.mark.parametrize("op", HELPERS)
def test_helpers_ignore_grads_the_caller_already_holds(kata, device, op):
    # x and v are leaves whose .grad already holds 0.25s: the result is the same as for plain
    # tensors (nothing of the old .grad added in) and both .grad come back as they were.
    f = "sine" if op == "vjp" else "squared_norm_squared"
    x = torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64)
    v = None if op == "grad_of" else torch.tensor([[0.5, 1.0], [-1.0, 2.0]], dtype=torch.float64)
    x, v, report = _run_helper(kata, device, op, f, x, v, x_state="leaf_with_grad", v_state="leaf_with_grad")
    call = _what(op, f, v)
    assert_close(report["result"], _expected_helper(op, f, x, v),
                 what=f"{call} for leaves whose .grad already holds 0.25", inputs=_inputs(x, v))
    _expect_caller_tensor_untouched(report, "x", call)
    if v is not None:
        _expect_caller_tensor_untouched(report, "v", call)


@structural
@pytest.mark.parametrize("op", HELPERS)
@given(data=st.data())
def test_helpers_return_a_detached_tensor(kata, device, op, data):
    # x requires grad here, and every f has a non-zero second derivative (linear ones excluded),
    # so a result still attached to a graph (create_graph=True kept) shows.
    names = sorted(d03.TENSOR_FUNCTIONS.keys() - {"identity"}) if op == "vjp" else sorted(d03.SCALAR_FUNCTIONS)
    f, x, v = data.draw(helper_case(op, names=names), label="case")
    x, v, report = _run_helper(kata, device, op, f, x, v, x_state="leaf")
    expect(isinstance(report["result"], torch.Tensor),
           f"{_what(op, f, v)} returned {type(report['result']).__name__}, expected a tensor")
    expect(not report["result_requires_grad"] and not report["result_has_grad_fn"],
           f"{_what(op, f, v)} for an x that requires grad returned a tensor that still requires grad "
           "(or has a grad_fn); the result must be detached")


@structural
@pytest.mark.parametrize("op", HELPERS)
@given(data=st.data())
def test_helpers_work_inside_no_grad(kata, device, op, data):
    # Called from evaluation code under torch.no_grad(), a gradient helper still has to record
    # f's graph: torch.enable_grad() inside the helper does it.
    f, x, v = data.draw(helper_case(op), label="case")
    x, v, report = _run_helper(kata, device, op, f, x, v, no_grad=True)
    # with torch.enable_grad(): restores the caller's grad mode on the way out;
    # torch.set_grad_enabled(True) as a statement leaves the caller's no_grad block recording graphs.
    expect(not report["grad_enabled_after"],
           f"{_what(op, f, v)} called inside torch.no_grad() left grad mode switched on for the rest of "
           "the caller's block: use `with torch.enable_grad():`, which restores the caller's mode")
    assert_close(report["result"], _expected_helper(op, f, x, v),
                 what=_what(op, f, v) + " called inside torch.no_grad()", inputs=_inputs(x, v))


# ------------------------------------------------------------------------ LogSumExp / logsumexp

def _dims(ndim):
    """A dim of an NDIM-dimensional tensor; a 0-d tensor takes dim 0 or -1, as in torch."""
    return st.sampled_from([-1, 0]) if ndim == 0 else tks.valid_dims(ndim)


@st.composite
def tensor_and_dim(draw, lim=10.0, dtype=None, max_side=5):
    """(x, dim): x 0-d to 3-d, empty ones included (an empty reduced dim gives -inf, as torch)."""
    x = draw(tks.tensors(shape=tks.shapes(max_dims=3, max_side=max_side),
                         dtype=dtype if dtype is not None else tks.float_dtypes(),
                         min_value=-lim, max_value=lim), label="x")
    return x, draw(_dims(x.dim()), label="dim")


def _sums_nothing(x, dim):
    """An empty reduced dim with a non-empty output: logsumexp is -inf there."""
    return x.dim() > 0 and x.shape[dim] == 0 and math.prod(_reduced_shape(x, dim)) > 0


def finite_tensor_and_dim(**kwargs):
    """tensor_and_dim without the -inf case: for the tests of finiteness and of finite
    differences (gradcheck perturbs a finite output); test_logsumexp_matches_torch_along_any_dim
    covers -inf."""
    return tensor_and_dim(**kwargs).filter(lambda xd: not _sums_nothing(*xd))


def _reduced_shape(x, dim):
    if x.dim() == 0:
        return ()
    d = dim % x.dim()
    return x.shape[:d] + x.shape[d + 1:]


@st.composite
def tensor_dim_and_upstream(draw, lim=10.0, dtype=None, max_side=5, with_v=False):
    """(x, dim, grad_output[, v]): grad_output shaped like logsumexp(x, dim), v like x."""
    x, dim = draw(tensor_and_dim(lim=lim, dtype=dtype, max_side=max_side))
    go = draw(tks.tensors(shape=_reduced_shape(x, dim), dtype=x.dtype, min_value=-3, max_value=3),
              label="grad_output")
    if not with_v:
        return x, dim, go
    return x, dim, go, draw(tks.tensors(shape=x.shape, dtype=x.dtype, min_value=-3, max_value=3), label="v")


def _expected_lse(x, dim):
    return torch.logsumexp(x.double(), dim).to(x.dtype)


@given(xd=tensor_and_dim())
@example(xd=(torch.tensor([[1.0, 2.0], [30.0, -4.0]], dtype=torch.float64), -1))  # square: a max without keepdim
@example(xd=(torch.tensor([[1.0], [2.0]]), 0))                                    # a size-1 dim that stays
@example(xd=(torch.tensor(1.5, dtype=torch.float64), 0))                            # 0-d x: logsumexp(x) == x
@example(xd=(torch.empty(2, 0), 1))                                                # empty sum: log(0) == -inf
def test_logsumexp_matches_torch_along_any_dim(kata, device, xd):
    x, dim = xd
    x = x.to(device)
    assert_close(kata.call("logsumexp", x, dim), _expected_lse(x, dim), what=f"logsumexp(x, dim={dim})",
                 inputs={"x": x, "dim": dim})


@given(xd=finite_tensor_and_dim(lim=LARGE))
@example(xd=(torch.tensor([[1e4, 1e4 - 1.0, -1e4], [-1e4, -1e4, -9990.0], [800.0, 799.0, 0.0]]), -1))
@example(xd=(torch.tensor([[1e4, 1e4], [-1e4, -1e4], [0.0, -1e4]], dtype=torch.float64), 1))
def test_logsumexp_is_finite_and_exact_for_inputs_up_to_1e4(kata, device, xd):
    x, dim = xd
    x = x.to(device)
    out = kata.call("logsumexp", x, dim)
    expect(isinstance(out, torch.Tensor) and bool(torch.isfinite(out).all()),
           f"logsumexp(x, dim={dim}) must be finite for |x| up to 1e4 (exp overflowing to inf, or "
           f"underflowing to 0 before the log?); got {out} for x = {x.tolist()}")
    assert_close(out, _expected_lse(x, dim), what=f"logsumexp(x, dim={dim})", inputs={"x": x, "dim": dim})


@given(case=tensor_dim_and_upstream())
@example(case=(torch.tensor([[1.0, 2.0, 3.0], [0.0, -1.0, 5.0]], dtype=torch.float64), 0,
               torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)))
@example(case=(torch.tensor(0.75, dtype=torch.float64), -1, torch.tensor(-2.0, dtype=torch.float64)))
def test_logsumexp_gradient_is_softmax_times_grad_output(kata, device, case):
    x, dim, go = (t.to(device) if isinstance(t, torch.Tensor) else t for t in case)
    _, (grad, _) = kata.grad("logsumexp", x, dim, grad_output=go)
    _, (want, _) = torch_grad(torch.logsumexp, x.double(), dim, grad_output=go.double())
    assert_close(grad, want.to(x.dtype), what=f"d logsumexp(x, dim={dim}) / dx, weighted by grad_output",
                 inputs={"x": x, "dim": dim, "grad_output": go})


@given(case=tensor_dim_and_upstream(lim=LARGE, dtype=torch.float64))
@example(case=(torch.tensor([[1e4, 1e4 - 1.0, -1e4], [-1e4, -1e4, -9990.0]], dtype=torch.float64), 1,
               torch.tensor([1.0, -2.0], dtype=torch.float64)))
def test_logsumexp_gradient_is_finite_and_exact_for_inputs_up_to_1e4(kata, device, case):
    # float64: any float32 formula exp(x - logsumexp(x)) loses ~|x| * 6e-8 relative precision.
    x, dim, go = (t.to(device) if isinstance(t, torch.Tensor) else t for t in case)
    _, (grad, _) = kata.grad("logsumexp", x, dim, grad_output=go)
    _, (want, _) = torch_grad(torch.logsumexp, x, dim, grad_output=go)
    expect(bool(torch.isfinite(grad).all()),
           f"d logsumexp(x, dim={dim}) / dx must be finite for |x| up to 1e4; got {grad}")
    assert_close(grad, want, what=f"d logsumexp(x, dim={dim}) / dx", inputs={"x": x, "dim": dim, "grad_output": go})


@given(xd=finite_tensor_and_dim(lim=5.0, dtype=torch.float64, max_side=4))
def test_logsumexp_function_passes_gradcheck(kata, device, xd):
    x, dim = xd
    x = x.to(device)
    problem = kata.run(d03.logsumexp_gradcheck, x, dim, order=1)
    expect(problem == "", f"torch.autograd.gradcheck(LogSumExp.apply(., dim={dim})) failed at x = {x.tolist()}: "
                          f"the analytic backward disagrees with finite differences.\n{problem}")


@given(xd=finite_tensor_and_dim(lim=5.0, dtype=torch.float64, max_side=4))
def test_logsumexp_function_passes_gradgradcheck(kata, device, xd):
    x, dim = xd
    x = x.to(device)
    problem = kata.run(d03.logsumexp_gradcheck, x, dim, order=2)
    expect(problem == "", f"torch.autograd.gradgradcheck(LogSumExp.apply(., dim={dim})) failed at x = {x.tolist()}: "
                          f"the backward is not correctly differentiable (double backward).\n{problem}")


@given(case=tensor_dim_and_upstream(lim=LARGE, dtype=torch.float64, with_v=True))
def test_logsumexp_double_backward_matches_torch(kata, device, case):
    x, dim, go, v = (t.to(device) if isinstance(t, torch.Tensor) else t for t in case)
    got = kata.run(d03.logsumexp_double_backward, x, dim, go, v)
    want = d03.double_backward(torch.logsumexp, x, dim, go, v)
    inputs = {"x": x, "dim": dim, "grad_output": go, "v": v}
    expect(got["backward_is_differentiable"],
           "the gradient from LogSumExp.backward does not require grad under create_graph=True: build "
           "backward from differentiable torch ops on ctx.saved_tensors (no .detach(), no torch.no_grad(), "
           "no @once_differentiable) so autograd can differentiate it again")
    assert_close(got["d_x"], want["d_x"], what=f"d/dx <grad of LogSumExp.apply(x, dim={dim}), v> (Hessian times v)",
                 inputs=inputs)
    assert_close(got["d_grad_output"], want["d_grad_output"],
                 what=f"d/d grad_output <grad of LogSumExp.apply(x, dim={dim}), v>", inputs=inputs)


@structural
@given(xd=tensor_and_dim())
def test_logsumexp_is_the_custom_function_applied(kata, device, xd):
    x, dim = xd
    x = x.to(device)
    report = kata.run(d03.logsumexp_is_the_function, x, dim)
    expect(report["is_autograd_function"], "LogSumExp must be a subclass of torch.autograd.Function")
    expect(report["grad_fn"] == "LogSumExpBackward",
           f"logsumexp(x, dim)'s output has grad_fn {report['grad_fn']}, expected LogSumExpBackward: "
           "logsumexp must return LogSumExp.apply(x, dim) itself (forward already drops dim: keepdim=False)")
    assert_close(report["applied"], _expected_lse(x, dim), what=f"LogSumExp.apply(x, {dim})",
                 inputs={"x": x, "dim": dim})


# ------------------------------------------------------------------------- StraightThroughRound

@st.composite
def rounding_inputs(draw):
    """Values in [-10, 10] with many exact halves (-2.5, 0.5, ...), where round-half-to-even shows,
    and integers up to 2**(mantissa bits + 2): torch.round(x) is x there, while x + 0.5 already
    rounds (2**23 + 1 + 0.5 is not a float32), which breaks a hand-made floor(x + 0.5)."""
    dtype = draw(tks.float_dtypes(), label="dtype")
    width = 32 if dtype == torch.float32 else 64
    big = 2 ** (25 if dtype == torch.float32 else 54)  # mantissa bits + 2
    elements = st.one_of(
        st.floats(-10, 10, allow_nan=False, allow_infinity=False, allow_subnormal=False, width=width),
        st.integers(-20, 20).map(lambda k: k / 2),
        st.integers(-big, big).map(float),
    )
    return draw(tks.tensors(shape=tks.shapes(), dtype=dtype, elements=elements), label="x")


@given(x=rounding_inputs())
@example(x=torch.tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49999997, -3.7, 8388609.0, -8388611.0]))
@example(x=torch.tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49999999999999994, 3.2, 2.0 ** 52 + 1],
                         dtype=torch.float64))
def test_straight_through_round_forward_is_torch_round(kata, device, x):
    # torch.round rounds halves to the nearest even integer: round(2.5) == 2, round(-0.5) == -0.
    x = x.to(device)
    report = kata.run(d03.straight_through_round, x, torch.ones_like(x))
    # Exact (rtol=atol=0): the nearest integer of a float is a float of the same dtype, so a
    # correct round has no rounding error, and the relative tolerance would hide an off-by-one at
    # 2**23 (float32's rtol 1.3e-6 there is 11).
    assert_close(report["out"], torch.round(x), what="StraightThroughRound.apply(x)", inputs={"x": x},
                 rtol=0, atol=0)
    # The catalog: functions never modify their inputs in place (x.round_() would round the caller's x).
    assert_close(report["x_after"], x, what="x after StraightThroughRound.apply(x) (must be left as it was)",
                 inputs={"x": x})


@given(x=rounding_inputs(), data=st.data())
def test_straight_through_round_passes_the_gradient_through_unchanged(kata, device, x, data):
    go = data.draw(tks.tensors(shape=x.shape, dtype=x.dtype, min_value=-3, max_value=3), label="grad_output")
    x, go = x.to(device), go.to(device)
    report = kata.run(d03.straight_through_round, x, go)
    assert_close(report["grad"], go, what="gradient of StraightThroughRound.apply(x) (straight through)",
                 inputs={"x": x, "grad_output": go})
