"""Hidden suite for kata 01_tensors: one_hot, pairwise_sq_distances, normalize_rows, batched_outer.

Values are compared with torch's own op (or the textbook formula) evaluated in float64 and
rounded to the input's dtype, with the dtype's default tolerances; gradients in float64
against torch's gradients for a random upstream gradient.

Float inputs hold values in [-100, 100] whose magnitude is 0 or at least 2**-10 (about 1e-3), so that no
square underflows in float32 (where even torch's own normalize loses every digit). Every input
is drawn in any of the four layouts of torchkata.strategies (contiguous, strided, transposed,
expanded). The catalog types the float inputs [N, D] / [B, N]: always 2-d.
"""
import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given
from hypothesis import strategies as st

from torchkata import strategies as tks
from torchkata.testing import assert_close, assert_grads_match, expect, in_float64, rtol_for

FLOAT_DTYPES = (torch.float32, torch.float64)


def _values(lo=2.0 ** -10, hi=100.0):
    # width=32: exactly representable in float32 and float64 alike.
    return st.one_of(st.just(0.0), st.floats(lo, hi, width=32), st.floats(-hi, -lo, width=32))


def matrices(rows, cols, dtype, elements=None):
    """A (rows, cols) float tensor in any layout."""
    return tks.tensors(shape=(rows, cols), dtype=dtype, elements=elements if elements is not None else _values())


# Sides from 1: the empty cases (a side of 0) have tests of their own below, which hypothesis
# would otherwise spend examples on.
sides = st.integers(min_value=1, max_value=5)


# --------------------------------------------------------------------------------- one_hot

@st.composite
def labels_and_classes(draw, min_dims=0, min_side=0):
    num_classes = draw(st.integers(min_value=1, max_value=6), label="num_classes")
    labels = draw(tks.labels(tks.shapes(min_dims=min_dims, max_dims=3, min_side=min_side, max_side=4), num_classes),
                  label="labels")
    return labels, num_classes


@given(lc=labels_and_classes())
@example(lc=(torch.tensor([0, 2, 1, 2]), 3))
@example(lc=(torch.tensor([[0, 1], [2, 0]]).T, 3))  # transposed labels
@example(lc=(torch.tensor([[1, 0, 2]]).expand(2, 3), 3))  # expanded labels (stride 0)
def test_one_hot_matches_torch(kata, device, lc):
    labels, num_classes = lc
    labels = labels.to(device)
    assert_close(kata.call("one_hot", labels, num_classes), F.one_hot(labels, num_classes).to(torch.float32),
                 what=f"one_hot(labels, num_classes={num_classes})",
                 inputs={"labels": labels, "num_classes": num_classes})


@given(lc=labels_and_classes())
def test_one_hot_returns_float32_on_the_labels_device(kata, device, lc):
    labels, num_classes = lc
    labels = labels.to(device)
    out = kata.call("one_hot", labels, num_classes)
    expect(isinstance(out, torch.Tensor), f"one_hot returned {type(out).__name__}, expected a tensor")
    expect(out.dtype == torch.float32, f"one_hot returned dtype {out.dtype}, the task asks for torch.float32 "
                                       "(losses and matmuls want floats, not int64)")
    expect(out.device == labels.device, f"one_hot returned a tensor on {out.device}, the labels are on {labels.device}")


def test_one_hot_of_a_0d_label_is_a_vector(kata, device):
    label = torch.tensor(2, device=device)
    assert_close(kata.call("one_hot", label, 4), torch.tensor([0.0, 0.0, 1.0, 0.0], device=device),
                 what="one_hot(tensor(2), num_classes=4)", inputs={"labels": label})


@pytest.mark.parametrize("shape", [(0,), (3, 0), (0, 2)], ids=str)
def test_one_hot_of_no_labels_is_empty(kata, device, shape):
    labels = torch.zeros(shape, dtype=torch.int64, device=device)
    assert_close(kata.call("one_hot", labels, 5), torch.zeros(shape + (5,), device=device),
                 what=f"one_hot(labels of shape {shape}, num_classes=5)", inputs={"labels": labels})


@pytest.mark.parametrize("bad", ["-1", "-num_classes", "num_classes", "num_classes+3"])
# min_side=1: the test puts one bad label among the others, so there is at least one.
@given(lc=labels_and_classes(min_side=1), data=st.data())
def test_one_hot_rejects_a_label_outside_the_classes_with_value_error(kata, device, bad, lc, data):
    labels, num_classes = lc
    # A rejection earns nothing alone: the same labels without the bad one must encode right
    # (a one_hot that always raises ValueError would pass the check below by itself).
    good = labels.to(device)
    assert_close(kata.call("one_hot", good, num_classes), F.one_hot(good, num_classes).float(),
                 what=f"one_hot(labels, num_classes={num_classes}) before a bad label is put in",
                 inputs={"labels": good})
    value = {"-1": -1, "-num_classes": -num_classes, "num_classes": num_classes,
             "num_classes+3": num_classes + 3}[bad]
    position = data.draw(st.integers(0, labels.numel() - 1), label="position")
    flat = labels.flatten().clone()  # a copy whatever the layout
    flat[position] = value
    labels = flat.reshape(labels.shape).to(device)
    with pytest.raises(ValueError):
        kata.call("one_hot", labels, num_classes)


# ------------------------------------------------------------------- pairwise_sq_distances

def _sq_distances(x, y):
    """sum_d (x_i - y_j)^2: the definition, free of cancellation."""
    return ((x[:, None, :] - y[None, :, :]) ** 2).sum(dim=-1)


@st.composite
def point_sets(draw, dtype):
    n, m, d = draw(sides, label="N"), draw(sides, label="M"), draw(sides, label="D")
    return draw(matrices(n, d, dtype), label="x"), draw(matrices(m, d, dtype), label="y")


@given(xy=point_sets(torch.float64))
def test_pairwise_sq_distances_matches_the_definition_in_float64(kata, device, xy):
    x, y = (t.to(device) for t in xy)
    assert_close(kata.call("pairwise_sq_distances", x, y), _sq_distances(x, y),
                 what="pairwise_sq_distances(x, y)", inputs={"x": x, "y": y})


@given(xy=point_sets(torch.float32))
def test_pairwise_sq_distances_in_float32_is_within_rounding_of_the_definition(kata, device, xy):
    x, y = (t.to(device) for t in xy)
    out = kata.call("pairwise_sq_distances", x, y)
    # atol looser than the float32 default on purpose: the standard expansion
    # ||x||^2 + ||y||^2 - 2 x.y (what torch.cdist itself uses for large inputs) loses up to
    # about 2 (D + 2) eps (||x_i||^2 + ||y_j||^2) to cancellation when x_i is near y_j.
    # Twice that bound is allowed; a wrong formula is off by far more.
    d = x.shape[1]
    scale = float((x.double() ** 2).sum(1).max() + (y.double() ** 2).sum(1).max())
    atol = 4 * (d + 2) * torch.finfo(torch.float32).eps * scale + 1e-5
    assert_close(out, in_float64(_sq_distances, x, y).to(x.dtype), rtol=rtol_for(torch.float32), atol=atol,
                 what="pairwise_sq_distances(x, y) in float32", inputs={"x": x, "y": y})


@given(dtype=tks.float_dtypes(), n=st.integers(1, 8), d=st.integers(1, 6), seed=tks.seeds())
@example(dtype=torch.float32, n=6, d=3, seed=1)
@example(dtype=torch.float64, n=6, d=3, seed=1)
def test_pairwise_sq_distances_is_never_negative_for_near_duplicate_points(kata, device, dtype, n, d, seed):
    # y holds x itself and x moved by a few ulps: the true distances are 0 or tiny, exactly
    # where ||x||^2 + ||y||^2 - 2 x.y rounds below zero unless it is clamped.
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, d, generator=g, dtype=dtype) * 20 - 10
    ulps = torch.randint(-4, 5, (n, d), generator=g).to(dtype)
    y = torch.cat([x * (1 + torch.finfo(dtype).eps * ulps), x])
    x, y = x.to(device), y.to(device)
    out = kata.call("pairwise_sq_distances", x, y)
    expect(isinstance(out, torch.Tensor), f"pairwise_sq_distances returned {type(out).__name__}, expected a tensor")
    expect(bool((out >= 0).all()),
           f"pairwise_sq_distances returned negative squared distances (min {out.min().item():.3g}) for "
           f"points a few ulps apart, in {dtype}: cancellation in ||x||^2 + ||y||^2 - 2 x.y?\n"
           f"  x = {x.tolist()}\n  y = {y.tolist()}")


@given(xy=point_sets(torch.float64), seed=tks.seeds())
def test_pairwise_sq_distances_gradient_matches_torch(kata, device, xy, seed):
    x, y = (t.to(device) for t in xy)
    assert_grads_match(kata, "pairwise_sq_distances", _sq_distances, x, y, seed=seed,
                       what="pairwise_sq_distances(x, y)", inputs={"x": x, "y": y})


@pytest.mark.parametrize("n,m,d", [(0, 3, 2), (2, 0, 3), (2, 3, 0)], ids=["N=0", "M=0", "D=0"])
def test_pairwise_sq_distances_handles_empty_point_sets(kata, device, n, m, d):
    x = torch.ones(n, d, device=device)
    y = torch.ones(m, d, device=device)
    assert_close(kata.call("pairwise_sq_distances", x, y), torch.zeros(n, m, device=device),
                 what=f"pairwise_sq_distances(x of shape {(n, d)}, y of shape {(m, d)})",
                 inputs={"x": x, "y": y})


# --------------------------------------------------------------------------- normalize_rows

@st.composite
def rows(draw, dtype, elements=None):
    n, d = draw(sides, label="N"), draw(sides, label="D")
    return draw(matrices(n, d, dtype, elements=elements), label="x")


def _normalize(x, eps=1e-12):
    return F.normalize(x, p=2.0, dim=1, eps=eps)


@given(x=rows(tks.float_dtypes()))
def test_normalize_rows_matches_torch(kata, device, x):
    x = x.to(device)
    assert_close(kata.call("normalize_rows", x), in_float64(_normalize, x).to(x.dtype),
                 what="normalize_rows(x)", inputs={"x": x})


@given(x=rows(tks.float_dtypes(), elements=_values(hi=2.0)),
       eps=st.sampled_from([1e-12, 1e-6, 0.1, 0.5, 1.0, 3.0, 10.0]))
def test_normalize_rows_never_divides_by_less_than_eps(kata, device, x, eps):
    x = x.to(device)
    assert_close(kata.call("normalize_rows", x, eps=eps), in_float64(_normalize, x, eps=eps).to(x.dtype),
                 what=f"normalize_rows(x, eps={eps})", inputs={"x": x, "eps": eps})


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_normalize_rows_default_eps_is_1e_12(kata, device, dtype):
    # Row norms 5e-13 (below the default eps: divided by 1e-12) and 5e-12 (above: unit norm).
    x = torch.tensor([[3e-13, 4e-13], [3e-12, 4e-12]], dtype=dtype, device=device)
    want = torch.tensor([[0.3, 0.4], [0.6, 0.8]], dtype=dtype, device=device)
    assert_close(kata.call("normalize_rows", x), want, what="normalize_rows(x) (default eps=1e-12)",
                 inputs={"x": x})


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
@given(x=rows(torch.float32), data=st.data())
def test_normalize_rows_maps_a_zero_row_to_zeros(kata, device, dtype, x, data):
    row = data.draw(st.integers(0, x.shape[0] - 1), label="zero row")
    x = x.to(dtype).clone()
    x[row] = 0
    x = x.to(device)
    out = kata.call("normalize_rows", x)
    expect(isinstance(out, torch.Tensor) and bool(torch.isfinite(out).all()),
           f"normalize_rows(x) is not finite for an x with a zero row {row} (division by a zero norm?); got {out}")
    assert_close(out, in_float64(_normalize, x).to(dtype), what=f"normalize_rows(x) with row {row} zero",
                 inputs={"x": x})


@pytest.mark.parametrize("n,d", [(0, 3), (3, 0)], ids=["N=0", "D=0"])
def test_normalize_rows_handles_empty_input(kata, device, n, d):
    x = torch.ones(n, d, device=device)
    assert_close(kata.call("normalize_rows", x), torch.ones(n, d, device=device),
                 what=f"normalize_rows(x of shape {(n, d)})", inputs={"x": x})


@given(x=rows(torch.float64), seed=tks.seeds())
def test_normalize_rows_gradient_matches_torch(kata, device, x, seed):
    # Zero rows included: there max(||x_i||, eps) is the constant eps, so the gradient is
    # (upstream row) / eps, what torch gives too; a norm through sqrt(sum x^2) gives nan.
    x = x.to(device)
    assert_grads_match(kata, "normalize_rows", _normalize, x, seed=seed, what="normalize_rows(x)", inputs={"x": x})


@given(x=rows(torch.float64, elements=_values(hi=2.0)), data=st.data(), seed=tks.seeds(),
       eps=st.sampled_from([1e-12, 1e-3, 0.5, 3.0]))
@example(x=torch.tensor([[0.0, 0.0], [3.0, 4.0]], dtype=torch.float64), data=None, seed=0, eps=1e-12)
@example(x=torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64).expand(3, 3), data=None, seed=1, eps=1e-12)
def test_normalize_rows_gradient_at_a_zero_row_is_the_upstream_over_eps(kata, device, x, data, seed, eps):
    # d/dx [x / max(||x||, eps)] at a row of norm below eps (a zero row above all) is I / eps:
    # the row is divided by a constant there. Finite: no 0/0 from the norm's own derivative.
    x = x.clone()
    row = data.draw(st.integers(0, x.shape[0] - 1), label="zero row") if data is not None else 0
    x[row] = 0
    x = x.to(device)
    _, (grad,) = assert_grads_match(kata, "normalize_rows", _normalize, x, seed=seed, eps=eps,
                                    what=f"normalize_rows(x, eps={eps}) with row {row} zero", inputs={"x": x})
    expect(bool(torch.isfinite(grad).all()),
           f"d normalize_rows / dx is not finite for a zero row {row} (0/0 from the norm's derivative?)")


# ---------------------------------------------------------------------------- batched_outer

@st.composite
def batched_vectors(draw, dtype):
    # One dtype for both operands (a strategy is drawn once here, not once per operand).
    dtype = draw(dtype, label="dtype") if isinstance(dtype, st.SearchStrategy) else dtype
    b, n, m = draw(sides, label="B"), draw(sides, label="N"), draw(sides, label="M")
    return draw(matrices(b, n, dtype), label="a"), draw(matrices(b, m, dtype), label="b")


def _outer(a, b):
    return torch.einsum("ki,kj->kij", a, b)


@given(ab=batched_vectors(tks.float_dtypes()))
@example(ab=(torch.arange(9.0).reshape(3, 3), torch.arange(9.0).reshape(3, 3).flip(0)))
@example(ab=(torch.arange(6.0).reshape(2, 3), torch.arange(8.0).reshape(2, 4)))
def test_batched_outer_matches_einsum(kata, device, ab):
    a, b = (t.to(device) for t in ab)
    assert_close(kata.call("batched_outer", a, b), in_float64(_outer, a, b).to(a.dtype),
                 what="batched_outer(a, b)", inputs={"a": a, "b": b})


@pytest.mark.parametrize("b,n,m", [(0, 2, 3), (2, 0, 3), (2, 3, 0)], ids=["B=0", "N=0", "M=0"])
def test_batched_outer_handles_empty_inputs(kata, device, b, n, m):
    a, c = torch.ones(b, n, device=device), torch.ones(b, m, device=device)
    assert_close(kata.call("batched_outer", a, c), torch.ones(b, n, m, device=device),
                 what=f"batched_outer(a of shape {(b, n)}, b of shape {(b, m)})", inputs={"a": a, "b": c})


@given(ab=batched_vectors(torch.float64), seed=tks.seeds())
def test_batched_outer_gradient_matches_torch(kata, device, ab, seed):
    a, b = (t.to(device) for t in ab)
    assert_grads_match(kata, "batched_outer", _outer, a, b, seed=seed, what="batched_outer(a, b)",
                       inputs={"a": a, "b": b})


# ------------------------------------------------------------------------- shared contract

def _float_args(name, dtype):
    a = torch.linspace(-3, 3, 24, dtype=dtype).reshape(4, 6)[:, ::2]  # (4, 3), strided
    b = torch.linspace(2, -1, 15, dtype=dtype).reshape(3, 5).T  # (5, 3), transposed
    return {"pairwise_sq_distances": (a, b), "normalize_rows": (a,), "batched_outer": (a, b[:4])}[name]


@pytest.mark.parametrize("name", ["pairwise_sq_distances", "normalize_rows", "batched_outer"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_float_functions_keep_dtype_and_device(kata, device, name, dtype):
    args = tuple(t.to(device) for t in _float_args(name, dtype))
    out = kata.call(name, *args)
    expect(isinstance(out, torch.Tensor), f"{name} returned {type(out).__name__}, expected a tensor")
    expect(out.dtype == dtype, f"{name} returned dtype {out.dtype} for {dtype} inputs")
    expect(out.device == args[0].device, f"{name} returned a tensor on {out.device}, its inputs are on {args[0].device}")
