"""Hidden suite for kata 14_conv_pool: conv2d, conv1d and 2-D pooling from scratch.

Values are compared with torch's own ops (F.conv2d, F.conv1d, F.max_pool2d, F.avg_pool2d)
over hypothesis-drawn shapes, non-square kernels and inputs, strides, paddings, dilations
and groups (each drawn as an int or as a (height, width) pair). A convolution sums
C/groups * kH * kW products per output element, so float64 inputs are compared with float64
defaults, and float32 results against torch's op evaluated in float64 with a tolerance that
grows with the number of summed terms (see _conv_tolerance). Gradients are compared in
float64 with torch's, through a random upstream gradient.
"""
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, example, given
from hypothesis import strategies as st

from torchkata import strategies as tks
from torchkata.guard import ForbiddenCallableError
from torchkata.testing import assert_close, expect, rtol_for, torch_grad, upstream


def _int_or_pair(draw, pair, label):
    """PAIR (h, w) as drawn: an int when both sides agree and hypothesis says so, else a tuple."""
    if pair[0] == pair[1] and draw(st.booleans(), label=f"{label} as int"):
        return pair[0]
    return tuple(pair)


@st.composite
def conv2d_cases(draw, dtype=torch.float64, noncontiguous=None, min_groups=1, max_groups=3,
                 min_dilation=1, min_padding=0, bias=None):
    """(x, weight, bias or None, params): a valid F.conv2d call with every knob drawn."""
    groups = draw(st.integers(min_groups, max_groups), label="groups")
    c_g = draw(st.integers(1, 2), label="C // groups")
    o_g = draw(st.integers(1, 2), label="O // groups")
    n = draw(st.integers(1, 2), label="N")
    kernel = tuple(draw(st.integers(1, 3), label=f"k{d}") for d in "HW")
    stride = tuple(draw(st.integers(1, 3), label=f"stride {d}") for d in "HW")
    padding = tuple(draw(st.integers(min_padding, 2), label=f"padding {d}") for d in "HW")
    dilation = tuple(draw(st.integers(min_dilation, 2), label=f"dilation {d}") for d in "HW")
    size = []
    for k, p, d in zip(kernel, padding, dilation):
        span = d * (k - 1) + 1
        size.append(draw(st.integers(max(1, span - 2 * p), span + 5), label="input side"))
    x = draw(tks.tensors(shape=(n, groups * c_g, *size), dtype=dtype, noncontiguous=noncontiguous), label="x")
    w = draw(tks.tensors(shape=(groups * o_g, c_g, *kernel), dtype=dtype, noncontiguous=noncontiguous), label="weight")
    with_bias = draw(st.booleans(), label="with bias") if bias is None else bias
    b = draw(tks.tensors(shape=(groups * o_g,), dtype=dtype, noncontiguous=False), label="bias") if with_bias else None
    params = dict(stride=_int_or_pair(draw, stride, "stride"), padding=_int_or_pair(draw, padding, "padding"),
                  dilation=_int_or_pair(draw, dilation, "dilation"), groups=groups)
    return x, w, b, params


@st.composite
def conv1d_cases(draw, dtype=torch.float64, noncontiguous=None):
    """(x (N, C, L), weight (O, C/groups, k), bias or None, params) for F.conv1d."""
    groups = draw(st.integers(1, 3), label="groups")
    c_g, o_g = draw(st.integers(1, 2), label="C // groups"), draw(st.integers(1, 2), label="O // groups")
    n, k = draw(st.integers(1, 2), label="N"), draw(st.integers(1, 4), label="k")
    stride, padding, dilation = (draw(st.integers(1, 3), label="stride"), draw(st.integers(0, 2), label="padding"),
                                 draw(st.integers(1, 3), label="dilation"))
    span = dilation * (k - 1) + 1
    length = draw(st.integers(max(1, span - 2 * padding), span + 6), label="L")
    x = draw(tks.tensors(shape=(n, groups * c_g, length), dtype=dtype, noncontiguous=noncontiguous), label="x")
    w = draw(tks.tensors(shape=(groups * o_g, c_g, k), dtype=dtype, noncontiguous=noncontiguous), label="weight")
    b = draw(tks.tensors(shape=(groups * o_g,), dtype=dtype), label="bias") if draw(st.booleans()) else None
    return x, w, b, dict(stride=stride, padding=padding, dilation=dilation, groups=groups)


@st.composite
def pool_cases(draw, dtype=torch.float64, min_value=-10, max_value=10, min_padding=0, stride_none=None):
    """(x (N, C, H, W), params): a valid F.max_pool2d / F.avg_pool2d call (padding <= kernel / 2)."""
    kernel = tuple(draw(st.integers(1, 3), label=f"k{d}") for d in "HW")
    padding = tuple(draw(st.integers(min(min_padding, k // 2), k // 2), label="padding") for k in kernel)
    if stride_none is None:
        stride_none = draw(st.booleans(), label="stride omitted")
    stride = None if stride_none else tuple(draw(st.integers(1, 3), label="stride") for _ in kernel)
    size = tuple(draw(st.integers(max(1, k - 2 * p), k + 5), label="input side") for k, p in zip(kernel, padding))
    shape = (draw(st.integers(1, 2), label="N"), draw(st.integers(1, 3), label="C"), *size)
    x = draw(tks.tensors(shape=shape, dtype=dtype, min_value=min_value, max_value=max_value), label="x")
    params = dict(kernel_size=_int_or_pair(draw, kernel, "kernel_size"), padding=_int_or_pair(draw, padding, "padding"))
    if stride is not None:
        params["stride"] = _int_or_pair(draw, stride, "stride")
    return x, params


def _f64(fn, *tensors, **kwargs):
    """torch's FN on float64 copies of the tensors (None passes through)."""
    return fn(*[t.double() if t is not None else None for t in tensors], **kwargs)


def _conv_tolerance(x, w, b, params, conv):
    """(rtol, atol) for a float32 convolution compared with float64 torch.

    Each output sums K = C/groups * kH * kW products (plus the bias). Any summation order has
    error at most about K * eps * sum(|x| * |w|), so atol grows with K and with the magnitude
    of the products: a correct from-scratch solution summing in another order than torch's
    kernel passes, while a wrong tap, padding or group is off by a whole product.
    """
    k = w[0].numel() + 1
    scale = _f64(conv, x.abs(), w.abs(), None if b is None else b.abs(), **params).max().item()
    eps = torch.finfo(torch.float32).eps
    return rtol_for(torch.float32), max(1e-5, 2 * k * eps * scale)


INTS = st.integers  # short for the @given lines below


# ------------------------------------------------------------------------- conv_output_size

@given(size=INTS(1, 40), kernel=INTS(1, 7), stride=INTS(1, 4), padding=INTS(0, 3), dilation=INTS(1, 3))
def test_conv_output_size_matches_torch(kata, size, kernel, stride, padding, dilation):
    assume(size + 2 * padding >= dilation * (kernel - 1) + 1)  # sizes torch accepts
    # By the catalog's parameter names: conv_output_size(size, kernel, stride, padding, dilation).
    got = kata.call("conv_output_size", size, kernel=kernel, stride=stride, padding=padding, dilation=dilation)
    real = F.conv1d(torch.zeros(1, 1, size), torch.zeros(1, 1, kernel), stride=stride, padding=padding,
                    dilation=dilation).shape[-1]
    expect(got == real, f"conv_output_size({size}, kernel={kernel}, stride={stride}, padding={padding}, "
                        f"dilation={dilation}) returned {got!r}; F.conv1d gives length {real}")


@given(size=INTS(1, 40), kernel=INTS(1, 7))
def test_conv_output_size_defaults_to_stride_1_no_padding_no_dilation(kata, size, kernel):
    got = kata.call("conv_output_size", size, kernel)
    expect(isinstance(got, int), f"conv_output_size must return an int, got {type(got).__name__}")
    expect(got == size - kernel + 1, f"conv_output_size({size}, {kernel}) returned {got}, expected {size - kernel + 1}")


# ----------------------------------------------------------------------------------- conv2d

@given(case=conv2d_cases())
def test_conv2d_matches_torch_in_float64(kata, device, case):
    x, w, b, params = (t.to(device) if isinstance(t, torch.Tensor) else t for t in case)
    got = kata.call("conv2d", x, w, b, **params)
    assert_close(got, F.conv2d(x, w, b, **params), what="conv2d(x, weight, bias, ...)",
                 inputs={"x": x, "weight": w, "bias": b, **params})


@given(case=conv2d_cases(min_dilation=2, max_groups=1))
def test_conv2d_applies_dilation(kata, device, case):
    x, w, b, params = (t.to(device) if isinstance(t, torch.Tensor) else t for t in case)
    assert_close(kata.call("conv2d", x, w, b, **params), F.conv2d(x, w, b, **params),
                 what="conv2d with dilation >= 2", inputs={"x": x, "weight": w, **params})


@given(case=conv2d_cases(min_padding=1, max_groups=1))
def test_conv2d_pads_both_sides_with_zeros(kata, device, case):
    x, w, b, params = (t.to(device) if isinstance(t, torch.Tensor) else t for t in case)
    assert_close(kata.call("conv2d", x, w, b, **params), F.conv2d(x, w, b, **params),
                 what="conv2d with padding >= 1 (padding goes on both sides)", inputs={"x": x, "weight": w, **params})


@given(case=conv2d_cases(min_groups=2))
def test_conv2d_convolves_each_group_with_its_own_channels(kata, device, case):
    x, w, b, params = (t.to(device) if isinstance(t, torch.Tensor) else t for t in case)
    assert_close(kata.call("conv2d", x, w, b, **params), F.conv2d(x, w, b, **params),
                 what=f"conv2d with groups={params['groups']}", inputs={"x": x, "weight": w, **params})


def test_conv2d_is_cross_correlation_not_flipped_convolution(kata, device):
    x = torch.arange(16, dtype=torch.float64, device=device).reshape(1, 1, 4, 4)
    w = torch.tensor([[[[1.0, 2.0], [3.0, 5.0]]]], dtype=torch.float64, device=device)  # not symmetric
    assert_close(kata.call("conv2d", x, w), F.conv2d(x, w),
                 what="conv2d (cross-correlation: out[i, j] = sum x[i + a, j + b] * w[a, b], no kernel flip)",
                 inputs={"x": x, "weight": w})


@given(case=conv2d_cases(dtype=torch.float32))
def test_conv2d_float32_matches_torch_within_summation_error(kata, device, case):
    x, w, b, params = case
    rtol, atol = _conv_tolerance(x, w, b, params, F.conv2d)
    x, w, b = (t.to(device) if t is not None else None for t in (x, w, b))
    got = kata.call("conv2d", x, w, b, **params)
    expected = _f64(F.conv2d, x, w, b, **params).float()
    assert_close(got, expected, what="conv2d in float32 (vs float64 torch)", rtol=rtol, atol=atol,
                 inputs={"x": x, "weight": w, "bias": b, **params})


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_conv2d_keeps_dtype_and_device(kata, device, dtype):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 5, 6, generator=g, dtype=dtype).to(device)
    w = torch.randn(6, 2, 3, 2, generator=g, dtype=dtype).to(device)
    b = torch.randn(6, generator=g, dtype=dtype).to(device)
    got = kata.call("conv2d", x, w, b, stride=(2, 1), padding=1, dilation=(1, 2), groups=2)
    expect(isinstance(got, torch.Tensor), f"conv2d returned {type(got).__name__}, expected a tensor")
    expect(got.dtype == dtype and got.device == x.device,
           f"conv2d returned {got.dtype} on {got.device} for {dtype} inputs on {x.device}")
    expect(tuple(got.shape) == (2, 6, 3, 6), f"conv2d output shape {tuple(got.shape)}, expected (2, 6, 3, 6)")


@given(case=conv2d_cases(noncontiguous=True))
def test_conv2d_accepts_noncontiguous_inputs(kata, device, case):
    x, w, b, params = (t.to(device) if isinstance(t, torch.Tensor) else t for t in case)
    assert_close(kata.call("conv2d", x, w, b, **params), F.conv2d(x, w, b, **params),
                 what="conv2d on non-contiguous x and weight", inputs={"x": x, "weight": w, **params})


@given(case=conv2d_cases(bias=True), seed=tks.seeds())
def test_conv2d_gradients_match_torch(kata, device, case, seed):
    x, w, b, params = (t.to(device) if isinstance(t, torch.Tensor) else t for t in case)
    go = upstream(F.conv2d(x, w, b, **params).shape, torch.float64, device, seed)
    _, exp_grads = torch_grad(F.conv2d, x, w, b, grad_output=go, **params)
    _, got_grads = kata.grad("conv2d", x, w, b, grad_output=go, **params)
    for name, g_got, g_exp in zip(("x", "weight", "bias"), got_grads, exp_grads):
        assert_close(g_got, g_exp, what=f"d loss / d {name} of conv2d", inputs={"x": x, "weight": w, **params})


def _conv_cases_any_dtype(name):
    cases = conv2d_cases if name == "conv2d" else conv1d_cases
    return tks.float_dtypes().flatmap(lambda dtype: cases(dtype=dtype))


_G = torch.Generator().manual_seed(14)
_SPLIT_IMAGE = (torch.cat([torch.full((1, 2, 4, 6), 1e6), torch.randn(1, 2, 4, 6, generator=_G)], dim=2),
                torch.randn(3, 2, 3, 3, generator=_G), torch.randn(3, generator=_G),
                dict(stride=1, padding=1, dilation=1, groups=1))


@pytest.mark.parametrize("name", ["conv2d", "conv1d"])
@given(data=st.data(), scale=st.sampled_from([1e3, 1e6]))
def test_convolution_each_output_is_accurate_whatever_lies_outside_its_window(kata, device, name, data, scale):
    # Each output sums the K = C/groups * kH * kW products of its own window (plus the bias), so its
    # rounding error is at most about K * eps times the sum of |products| of that window, whatever
    # lies elsewhere in the input. Here the first half of the rows (of L for conv1d) is scaled by
    # SCALE: outputs whose window holds only small values must stay accurate to their own scale.
    # A formulation whose error follows the largest values of the whole input (an FFT through
    # the convolution theorem) is not. The error is measured per output, in units of that window's
    # sum of |x| * |w| + |bias| (as _conv_tolerance, but per output instead of the maximum).
    x, w, b, params = data.draw(_conv_cases_any_dtype(name), label="case")
    _check_conv_accuracy_per_output(kata, device, name, x, w, b, params, scale)


def test_conv2d_is_accurate_below_rows_of_large_values(kata, device):
    # The same property on one fixed input: rows of 1e6 above rows of about 1.
    x, w, b, params = _SPLIT_IMAGE
    for dtype in (torch.float32, torch.float64):
        _check_conv_accuracy_per_output(kata, device, "conv2d", x.to(dtype), w.to(dtype), b.to(dtype), params, 1.0)


def _check_conv_accuracy_per_output(kata, device, name, x, w, b, params, scale):
    x = x.clone()
    x[:, :, : x.shape[2] // 2] *= scale  # conv2d (N, C, H, W): the top rows; conv1d (N, C, L): the first half of L
    x, w, b = (t.to(device) if t is not None else None for t in (x, w, b))
    conv = getattr(F, name)
    want = _f64(conv, x, w, b, **params)
    unit = _f64(conv, x.abs(), w.abs(), None if b is None else b.abs(), **params).clamp_min(
        torch.finfo(torch.float64).tiny)
    got = kata.call(name, x, w, b, **params)
    expect(isinstance(got, torch.Tensor) and got.shape == want.shape,
           f"{name} returned shape {tuple(getattr(got, 'shape', ()))}, expected {tuple(want.shape)}")
    k = w[0].numel() + 1
    assert_close(got.double() / unit, want / unit, rtol=0, atol=2 * k * torch.finfo(x.dtype).eps,
                 what=f"{name}(x, weight, bias, ...) in {x.dtype}, in units of each output's sum of |x| * |w| + "
                      f"|bias| (part of x scaled by {scale:g}: each output must depend on its window alone)",
                 inputs={"x": x, "weight": w, "bias": b, **params})


@pytest.mark.parametrize("name", ["conv2d", "conv1d"])
def test_convolutions_accept_an_empty_batch(kata, device, name):
    # N = 0 is a batch like any other (F.conv2d returns (0, O, H', W')): no reshape may infer a
    # size from the number of elements.
    g = torch.Generator().manual_seed(0)
    spatial = (5, 4) if name == "conv2d" else (5,)
    x = torch.zeros(0, 4, *spatial, dtype=torch.float64, device=device)
    w = torch.randn(6, 2, *(3,) * len(spatial), generator=g, dtype=torch.float64).to(device)
    b = torch.randn(6, generator=g, dtype=torch.float64).to(device)
    params = dict(stride=2, padding=1, dilation=1, groups=2)
    assert_close(kata.call(name, x, w, b, **params), getattr(F, name)(x, w, b, **params),
                 what=f"{name} of an empty batch (N = 0)", inputs={"x": x, "weight": w, **params})


@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d", "sum_pool2d"])
def test_pooling_accepts_an_empty_batch(kata, device, name):
    x = torch.zeros(0, 3, 5, 4, dtype=torch.float64, device=device)
    expected = {"max_pool2d": F.max_pool2d, "avg_pool2d": F.avg_pool2d, "sum_pool2d": _sum_pool}[name](x, 2, 1, 1)
    assert_close(kata.call(name, x, 2, 1, 1), expected, what=f"{name}(x, 2, 1, 1) of an empty batch (N = 0)",
                 inputs={"x": x})


# (C, weight shape, groups, the rule broken): channel counts that don't fit, as F.conv2d rejects them.
MISFITS = [
    (3, (4, 2, 3, 3), 1, "C must equal weight.shape[1] * groups"),
    (4, (3, 2, 3, 3), 2, "O = weight.shape[0] must be divisible by groups (each group gets O // groups filters)"),
]


@pytest.mark.parametrize("name", ["conv2d", "conv1d"])
@pytest.mark.parametrize("c, w_shape, groups, rule", MISFITS, ids=["C", "O"])
def test_convolutions_reject_mismatched_channels(kata, device, name, c, w_shape, groups, rule):
    # conv1d is "as F.conv1d", which rejects the same misfits as F.conv2d.
    spatial = 2 if name == "conv2d" else 1
    x = torch.zeros(1, c, *(5,) * spatial, dtype=torch.float64, device=device)
    w = torch.zeros(w_shape[:2 + spatial], dtype=torch.float64, device=device)
    # A rejection earns nothing alone: first an accepted case, the same x with a weight that fits.
    ok_w = torch.ones(2 * groups, c // groups, *w_shape[2:2 + spatial], dtype=torch.float64, device=device)
    assert_close(kata.call(name, x + 1, ok_w, groups=groups), getattr(F, name)(x + 1, ok_w, groups=groups),
                 what=f"{name} of x with {c} channels and a weight {tuple(ok_w.shape)} that fits groups={groups}")
    try:
        kata.call(name, x, w, groups=groups)
    except (NotImplementedError, ForbiddenCallableError):
        raise
    except (ValueError, RuntimeError):
        return  # a ValueError of its own, or torch's RuntimeError from a shape mismatch
    raise AssertionError(f"{name} accepted x with {c} channels and weight {tuple(w.shape)} with groups={groups}: "
                         f"{rule}; raise ValueError")


# ----------------------------------------------------------------------------------- conv1d

@given(case=conv1d_cases())
# N = 1, O = 1 and an output of length 1: every size-1 dim of the (N, O, L') result must stay.
@example(case=(torch.tensor([[[1.0, -2.0, 0.5]]], dtype=torch.float64),
               torch.tensor([[[2.0, 1.0, -1.0]]], dtype=torch.float64), None,
               dict(stride=1, padding=0, dilation=1, groups=1)))
def test_conv1d_matches_torch_in_float64(kata, device, case):
    x, w, b, params = (t.to(device) if isinstance(t, torch.Tensor) else t for t in case)
    assert_close(kata.call("conv1d", x, w, b, **params), F.conv1d(x, w, b, **params),
                 what="conv1d(x, weight, bias, ...)", inputs={"x": x, "weight": w, "bias": b, **params})


@given(case=conv1d_cases(dtype=torch.float32))
def test_conv1d_float32_matches_torch_within_summation_error(kata, device, case):
    x, w, b, params = case
    rtol, atol = _conv_tolerance(x, w, b, params, F.conv1d)
    x, w, b = (t.to(device) if t is not None else None for t in (x, w, b))
    assert_close(kata.call("conv1d", x, w, b, **params), _f64(F.conv1d, x, w, b, **params).float(),
                 what="conv1d in float32 (vs float64 torch)", rtol=rtol, atol=atol,
                 inputs={"x": x, "weight": w, "bias": b, **params})


@given(case=conv1d_cases(), seed=tks.seeds())
def test_conv1d_gradients_match_torch(kata, device, case, seed):
    x, w, b, params = (t.to(device) if isinstance(t, torch.Tensor) else t for t in case)
    out = F.conv1d(x, w, b, **params)
    go = upstream(out.shape, torch.float64, device, seed)
    _, exp_grads = torch_grad(F.conv1d, x, w, b, grad_output=go, **params)
    _, got_grads = kata.grad("conv1d", x, w, b, grad_output=go, **params)
    for name, g_got, g_exp in zip(("x", "weight", "bias"), got_grads, exp_grads):
        if b is not None or name != "bias":
            assert_close(g_got, g_exp, what=f"d loss / d {name} of conv1d", inputs={"x": x, "weight": w, **params})


# ---------------------------------------------------------------------------------- pooling

@given(case=pool_cases(dtype=tks.float_dtypes()))
def test_max_pool2d_matches_torch(kata, device, case):
    x, params = case
    x = x.to(device)
    # A maximum is exact: no rounding, so the dtype's default tolerance is plenty.
    assert_close(kata.call("max_pool2d", x, **params), F.max_pool2d(x, **params),
                 what="max_pool2d(x, ...)", inputs={"x": x, **params})


@given(case=pool_cases(dtype=tks.float_dtypes(), min_value=-10, max_value=-1, min_padding=1),
       scale=st.sampled_from([1.0, 1e5, 1e30]))
@example(case=(torch.full((1, 1, 2, 2), -1e5), dict(kernel_size=2, stride=1, padding=1)), scale=1.0)
# float64 reaches far below float32's range: a sentinel such as finfo(float32).min (-3.4e38) wins there.
@example(case=(torch.full((1, 1, 2, 2), -1e300, dtype=torch.float64), dict(kernel_size=2, stride=1, padding=1)),
         scale=1.0)
def test_max_pool2d_padding_never_wins_over_negative_values(kata, device, case, scale):
    # Any finite value, however negative, beats the padding: a finite sentinel (-1e4, -1e9) does not.
    x, params = case
    x = (x * scale).to(device)
    assert_close(kata.call("max_pool2d", x, **params), F.max_pool2d(x, **params),
                 what="max_pool2d of all-negative x with padding (padding counts as -inf, not 0)",
                 inputs={"x": x, **params})


@given(case=pool_cases(), seed=tks.seeds())
def test_max_pool2d_gradients_match_torch(kata, device, case, seed):
    x, params = case
    # Distinct values, so every window has one maximum and the gradient is unambiguous.
    g = torch.Generator().manual_seed(seed)
    x = (torch.randperm(x.numel(), generator=g).to(torch.float64) - x.numel() / 2).reshape(x.shape).to(device)
    out = F.max_pool2d(x, **params)
    go = upstream(out.shape, torch.float64, device, seed)
    _, (exp,) = torch_grad(F.max_pool2d, x, grad_output=go, **params)
    _, (got,) = kata.grad("max_pool2d", x, grad_output=go, **params)
    assert_close(got, exp, what="d loss / d x of max_pool2d", inputs={"x": x, **params})


@given(case=pool_cases(min_padding=1), seed=tks.seeds(), scale=st.sampled_from([1.0, 1e20]))
# A corner window holding one real element (kernel 2, padding 1) whose value is the minimum:
# padding is -inf, so that element is the window's only maximum and gets the whole gradient.
# A finite sentinel such as min(x) - 1 rounds to min(x) at 1e20 and ties it.
@example(case=(torch.zeros(1, 1, 2, 2, dtype=torch.float64), dict(kernel_size=2, stride=2, padding=1)), seed=0,
         scale=1e20)
def test_max_pool2d_gradient_ignores_the_padding_at_any_magnitude(kata, device, case, seed, scale):
    x, params = case
    # Distinct values (one maximum per window), the smallest moved to the top-left corner, where
    # a window may hold it alone next to padding; times SCALE (still distinct: they are
    # integers far apart relative to float64's precision).
    g = torch.Generator().manual_seed(seed)
    x = (torch.randperm(x.numel(), generator=g).to(torch.float64) - x.numel() / 2).reshape(x.shape)
    first, low = x.view(-1)[0].item(), x.min().item()
    x[x == low], x.view(-1)[0] = first, low
    x = (x * scale).to(device)
    out = F.max_pool2d(x, **params)
    go = upstream(out.shape, torch.float64, device, seed)
    _, (exp,) = torch_grad(F.max_pool2d, x, grad_output=go, **params)
    _, (got,) = kata.grad("max_pool2d", x, grad_output=go, **params)
    assert_close(got, exp, what="d loss / d x of max_pool2d with padding (padding is -inf: it never ties a value)",
                 inputs={"x": x, **params})


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_max_pool2d_gradient_at_the_dtypes_lowest_value(kata, device, dtype):
    # The dtype's most negative finite value is a legal input, and padding (-inf) is still below
    # it: a window holding only that value and padding has one maximum, which gets the whole
    # gradient. A sentinel such as torch.finfo(dtype).min ties it and splits the gradient.
    low = torch.finfo(dtype).min
    x = torch.tensor([[[[low, 1.0, low], [-2.0, 3.0, -4.0], [low, 5.0, low]]]], dtype=dtype, device=device)
    params = dict(kernel_size=2, stride=2, padding=1)  # each corner window: one element and padding
    go = upstream(F.max_pool2d(x, **params).shape, dtype, device, 0)
    exp_out, (exp,) = torch_grad(F.max_pool2d, x, grad_output=go, **params)
    got_out, (got,) = kata.grad("max_pool2d", x, grad_output=go, **params)
    assert_close(got_out, exp_out, what="max_pool2d(x, 2, 2, 1) with x holding the dtype's lowest value",
                 inputs={"x": x, **params})
    assert_close(got, exp, what="d loss / d x of max_pool2d(x, 2, 2, 1) with x holding the dtype's lowest value "
                                "(padding is -inf: it never ties a finite value)", inputs={"x": x, **params})


@given(case=pool_cases(dtype=tks.float_dtypes()))
def test_avg_pool2d_matches_torch_counting_padding(kata, device, case):
    x, params = case
    x = x.to(device)
    # At most 9 terms per window: float32 rounding stays within the dtype's default tolerance.
    expected = _f64(F.avg_pool2d, x, count_include_pad=True, **params).to(x.dtype)
    assert_close(kata.call("avg_pool2d", x, **params), expected, what="avg_pool2d(x, ...)", inputs={"x": x, **params})


@given(case=pool_cases(), seed=tks.seeds())
def test_avg_pool2d_gradients_match_torch(kata, device, case, seed):
    x, params = case
    x = x.to(device)
    out = F.avg_pool2d(x, **params)
    go = upstream(out.shape, torch.float64, device, seed)
    _, (exp,) = torch_grad(F.avg_pool2d, x, grad_output=go, **params)
    _, (got,) = kata.grad("avg_pool2d", x, grad_output=go, **params)
    assert_close(got, exp, what="d loss / d x of avg_pool2d", inputs={"x": x, **params})


def _sum_pool(x, kernel_size, stride=None, padding=0):
    k = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    return F.avg_pool2d(x, kernel_size, stride, padding, count_include_pad=True) * (k[0] * k[1])


@given(case=pool_cases(dtype=tks.float_dtypes()))
def test_sum_pool2d_is_window_sums(kata, device, case):
    x, params = case
    x = x.to(device)
    expected = _f64(_sum_pool, x, **params).to(x.dtype)
    assert_close(kata.call("sum_pool2d", x, **params), expected, what="sum_pool2d(x, ...)", inputs={"x": x, **params})


@given(case=pool_cases(), seed=tks.seeds())
def test_sum_pool2d_gradients_match_torch(kata, device, case, seed):
    x, params = case
    x = x.to(device)
    out = _sum_pool(x, **params)
    go = upstream(out.shape, torch.float64, device, seed)
    _, (exp,) = torch_grad(_sum_pool, x, grad_output=go, **params)
    _, (got,) = kata.grad("sum_pool2d", x, grad_output=go, **params)
    assert_close(got, exp, what="d loss / d x of sum_pool2d", inputs={"x": x, **params})


@pytest.mark.parametrize("name", ["avg_pool2d", "sum_pool2d"])
@given(case=pool_cases(dtype=tks.float_dtypes()), scale=st.sampled_from([1e3, 1e6]))
# Rows of 1e6 above rows of about 1: the lower windows hold small values only.
@example(case=(torch.cat([torch.full((1, 1, 4, 8), 1e6), torch.linspace(-3, 3, 32).reshape(1, 1, 4, 8)], dim=2),
               dict(kernel_size=2)), scale=1.0)
def test_pooling_each_window_is_accurate_whatever_lies_outside_it(kata, device, name, case, scale):
    # Each output is the sum (mean) of its own window, so its rounding error is at most about
    # kH * kW * eps times the sum of |x| over that window, whatever lies elsewhere in the image.
    # Large values in the top half must not blur small windows below: a sum taken from cumulative
    # sums over the whole image (an integral image) carries their rounding. The error is measured
    # per window, in units of that window's sum of |x| (as in the convolution tests' tolerance).
    x, params = case
    x = x.clone()
    x[..., : x.shape[-2] // 2, :] *= scale
    x = x.to(device)
    kH, kW = (params["kernel_size"],) * 2 if isinstance(params["kernel_size"], int) else params["kernel_size"]
    want = _f64(F.avg_pool2d, x, count_include_pad=True, **params)
    window_abs = _f64(F.avg_pool2d, x.abs(), count_include_pad=True, **params)
    if name == "sum_pool2d":
        want, window_abs = want * (kH * kW), window_abs * (kH * kW)
    got = kata.call(name, x, **params)
    expect(isinstance(got, torch.Tensor) and got.shape == want.shape,
           f"{name} returned shape {tuple(getattr(got, 'shape', ()))}, expected {tuple(want.shape)}")
    unit = window_abs.clamp_min(torch.finfo(torch.float64).tiny)
    eps = torch.finfo(x.dtype).eps
    assert_close(got.double() / unit, want / unit, rtol=0, atol=2 * kH * kW * eps,
                 what=f"{name}(x, ...) in units of each window's sum of |x| (top rows of x scaled by {scale:g}: "
                      "each window's result must depend on that window alone)", inputs={"x": x, **params})


@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d", "sum_pool2d"])
@given(case=pool_cases(stride_none=True))
def test_pooling_stride_defaults_to_kernel_size(kata, device, name, case):
    x, params = case
    x = x.to(device)
    expected = {"max_pool2d": F.max_pool2d, "avg_pool2d": F.avg_pool2d, "sum_pool2d": _sum_pool}[name](x, **params)
    assert_close(kata.call(name, x, **params), expected,
                 what=f"{name} without stride (non-overlapping windows: stride = kernel_size)",
                 inputs={"x": x, **params})


@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d", "sum_pool2d"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_pooling_keeps_dtype_device_and_shape(kata, device, name, dtype):
    x = torch.randn(2, 3, 7, 5, generator=torch.Generator().manual_seed(0), dtype=dtype).to(device)
    got = kata.call(name, x, (3, 2), stride=(2, 1), padding=(1, 0))
    expect(isinstance(got, torch.Tensor) and got.dtype == dtype and got.device == x.device,
           f"{name} must return a {dtype} tensor on {x.device}, got {getattr(got, 'dtype', type(got))}")
    expect(tuple(got.shape) == (2, 3, 4, 4), f"{name} output shape {tuple(got.shape)}, expected (2, 3, 4, 4)")
