"""Hidden suite for kata 02_numpy_bridge: to_tensor_shared, to_tensor_copy, to_numpy.

A conversion never rounds, so values are compared exactly (dtype, shape and every element).
Memory sharing is observed inside scenario drivers (tests/drivers/d02.py): each converts,
writes into one side and returns what both sides hold afterwards.

Inputs: every dtype that NumPy and torch share (bool, uint8, int8..int64, float16/32/64,
complex64/128), shapes of 0 to 3 dimensions (empty ones too), and four layouts (contiguous,
every other element of the last axis, transposed, and, for the tests of values only, the first
row broadcast with stride 0); arrays never have negative strides (torch cannot view those at all).
"""
import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from torchkata.testing import assert_close, expect

from drivers import d02

NP_DTYPES = tuple(np.dtype(t) for t in (np.bool_, np.uint8, np.int8, np.int16, np.int32, np.int64,
                                         np.float16, np.float32, np.float64, np.complex64, np.complex128))


def _elements(dtype: np.dtype):
    if dtype.kind == "f":
        return st.floats(width=8 * dtype.itemsize, allow_nan=False, allow_infinity=False)
    if dtype.kind == "c":
        return st.complex_numbers(width=8 * dtype.itemsize, allow_nan=False, allow_infinity=False)
    return None  # hypothesis's own: every bool / integer of the dtype


@st.composite
def arrays(draw, min_side=0, dtypes=NP_DTYPES, layouts=d02.LAYOUTS):
    """(base, layout): a contiguous array and the name of the view the test works on."""
    dtype = draw(st.sampled_from(dtypes), label="dtype")
    layout = draw(st.sampled_from(layouts), label="layout")
    min_dims = {"contiguous": 0, "strided": 1, "transposed": 2, "expanded": 1}[layout]
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=3, min_side=min_side, max_side=4), label="shape")
    if layout == "strided":
        shape = shape[:-1] + (2 * shape[-1],)
    elif layout == "transposed":
        shape = shape[::-1]
    return draw(hnp.arrays(dtype, shape, elements=_elements(dtype)), label="base"), layout


def _other_values(x):
    """An array / tensor like X whose every element differs from X's."""
    if isinstance(x, np.ndarray):
        # asarray: on a 0-d array numpy returns a scalar.
        return np.asarray(~x if x.dtype == np.bool_ else np.where(x == 0, 1, 0), dtype=x.dtype)
    return ~x if x.dtype == torch.bool else torch.where(x == 0, 1, 0).to(x.dtype)


def _as_tensor(value, what):
    __tracebackhide__ = True
    if isinstance(value, np.ndarray):
        try:
            return torch.from_numpy(value.copy())
        except TypeError as err:
            raise AssertionError(f"{what}: an ndarray of dtype {value.dtype}, which torch has no dtype for "
                                 f"({err})") from None
    return value


def assert_same(actual, expected, *, what, inputs=None):
    """Equal dtype, shape, device and every element: a conversion does not round."""
    __tracebackhide__ = True
    actual, expected = _as_tensor(actual, what), _as_tensor(expected, what)
    if isinstance(actual, torch.Tensor) and actual.dtype != expected.dtype:
        raise AssertionError(f"{what}: dtype {actual.dtype}, expected {expected.dtype} "
                             "(a conversion keeps the dtype)")
    if isinstance(actual, torch.Tensor) and actual.is_complex() and actual.shape == expected.shape:
        actual, expected = (torch.view_as_real(t.resolve_conj().contiguous()) for t in (actual, expected))
    # rtol=atol=0: tighter than the defaults, a conversion copies bits.
    assert_close(actual, expected, rtol=0.0, atol=0.0, what=what, inputs=inputs)


def _inputs(view):
    return {"arr": torch.from_numpy(view.copy()), "layout of arr": _layout_of(view)}


def _layout_of(view):
    return "C-contiguous" if view.flags.c_contiguous else f"strides {view.strides}"


# ---------------------------------------------------------------------- to_tensor_shared

@pytest.mark.parametrize("name", ["to_tensor_shared", "to_tensor_copy"])
@given(arr=arrays(layouts=d02.VALUE_LAYOUTS))
@example(arr=(np.array([[1.5, -2.25], [3.0, 1e300]], dtype=np.float64), "contiguous"))
def test_conversion_to_tensor_keeps_values_shape_and_dtype(kata, name, arr):
    base, layout = arr
    view = d02.layout_view(base, layout)
    out = kata.call(name, view)
    expect(isinstance(out, torch.Tensor), f"{name} returned {type(out).__name__}, expected a torch.Tensor")
    assert_same(out, torch.from_numpy(view.copy()), what=f"{name}(arr)", inputs=_inputs(view))


@given(arr=arrays(min_side=1))
def test_to_tensor_shared_sees_later_writes_to_the_array(kata, arr):
    base, layout = arr
    view = d02.layout_view(base, layout)
    new = _other_values(view)
    res = kata.run(d02.to_tensor_then_write_array, "to_tensor_shared", base, layout, new)
    expect(res["is_tensor"], f"to_tensor_shared returned {res['type']}, expected a torch.Tensor")
    assert_same(res["after"], new, what="t = to_tensor_shared(arr); arr[...] = new; then t (must show new: "
                                        "the tensor shares arr's memory)", inputs=_inputs(view))


@given(arr=arrays(min_side=1))
def test_to_tensor_shared_writes_to_the_tensor_reach_the_array(kata, arr):
    base, layout = arr
    view = d02.layout_view(base, layout)
    new = _other_values(view)
    res = kata.run(d02.to_tensor_then_write_tensor, "to_tensor_shared", base, layout, new)
    expect(res["is_tensor"], f"to_tensor_shared returned {res['type']}, expected a torch.Tensor")
    assert_same(res["array"], new, what="t = to_tensor_shared(arr); t[...] = new; then arr (must show new: "
                                        "the tensor shares arr's memory)", inputs=_inputs(view))


# ------------------------------------------------------------------------ to_tensor_copy

@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.float16, np.complex128, np.uint8],
                         ids=lambda d: np.dtype(d).name)
def test_to_tensor_copy_keeps_the_dtype(kata, dtype):
    arr = np.arange(6).reshape(2, 3).astype(dtype)
    out = kata.call("to_tensor_copy", arr)
    expect(isinstance(out, torch.Tensor), f"to_tensor_copy returned {type(out).__name__}, expected a torch.Tensor")
    expect(out.dtype == torch.from_numpy(arr).dtype,
           f"to_tensor_copy(arr of dtype {arr.dtype}) returned dtype {out.dtype}, expected "
           f"{torch.from_numpy(arr).dtype} (torch.Tensor(arr) always makes the default float32)")


@given(arr=arrays(min_side=1))
def test_to_tensor_copy_ignores_later_writes_to_the_array(kata, arr):
    base, layout = arr
    view = d02.layout_view(base, layout)
    res = kata.run(d02.to_tensor_then_write_array, "to_tensor_copy", base, layout, _other_values(view))
    expect(res["is_tensor"], f"to_tensor_copy returned {res['type']}, expected a torch.Tensor")
    assert_same(res["after"], view.copy(), what="t = to_tensor_copy(arr); arr[...] = new; then t (must keep "
                                                 "the old values: a copy does not share memory)", inputs=_inputs(view))


@given(arr=arrays(min_side=1))
def test_to_tensor_copy_writes_to_the_tensor_leave_the_array_alone(kata, arr):
    base, layout = arr
    view = d02.layout_view(base, layout)
    res = kata.run(d02.to_tensor_then_write_tensor, "to_tensor_copy", base, layout, _other_values(view))
    expect(res["is_tensor"], f"to_tensor_copy returned {res['type']}, expected a torch.Tensor")
    assert_same(res["array"], view.copy(), what="t = to_tensor_copy(arr); t[...] = new; then arr (must keep "
                                                "the old values: a copy does not share memory)", inputs=_inputs(view))


# ------------------------------------------------------------------------------ to_numpy

def _tensor_case(arr):
    """(base tensor, layout, the view's values on the cpu) from an arrays() draw."""
    base, layout = arr
    base_t = torch.from_numpy(base.copy())
    return base_t, layout, d02.tensor_layout_view(base_t, layout).clone()


def _t_inputs(view, device, requires_grad):
    return {"t": view, "t on": str(device), "t.requires_grad": requires_grad,
            "t layout": "contiguous" if view.is_contiguous() else f"strides {view.stride()}"}


def _to_numpy_result(res, what):
    __tracebackhide__ = True
    expect(res["is_array"], f"{what} returned {res['type']}, expected a numpy.ndarray")
    return res["array"]


@given(arr=arrays(layouts=d02.VALUE_LAYOUTS))
@example(arr=(np.array(2.5), "contiguous"))
def test_to_numpy_keeps_values_shape_and_dtype_on_every_device(kata, device, arr):
    base, layout, view = _tensor_case(arr)
    res = kata.run(d02.to_numpy_of, base, layout, False, device)
    out = _to_numpy_result(res, f"to_numpy(t on {device})")
    assert_same(out, view, what=f"to_numpy(t) for t on {device}", inputs=_t_inputs(view, device, False))


@given(arr=arrays(dtypes=tuple(d for d in NP_DTYPES if d.kind in "fc"), layouts=d02.VALUE_LAYOUTS))
def test_to_numpy_accepts_a_tensor_that_requires_grad(kata, device, arr):
    base, layout, view = _tensor_case(arr)
    res = kata.run(d02.to_numpy_of, base, layout, True, device)
    out = _to_numpy_result(res, f"to_numpy(t requiring grad, on {device})")
    assert_same(out, view, what=f"to_numpy(t) for t requiring grad, on {device}",
                inputs=_t_inputs(view, device, True))


def _floating_when(requires_grad):
    return tuple(d for d in NP_DTYPES if d.kind in "fc") if requires_grad else NP_DTYPES


@pytest.mark.parametrize("requires_grad", [False, True], ids=["plain", "requires_grad"])
@given(data=st.data())
def test_to_numpy_of_a_cpu_tensor_sees_later_writes_to_the_tensor(kata, requires_grad, data):
    base, layout, view = _tensor_case(data.draw(arrays(min_side=1, dtypes=_floating_when(requires_grad)), label="arr"))
    new = _other_values(view)
    res = kata.run(d02.to_numpy_then_write_tensor, base, layout, requires_grad, new)
    out = _to_numpy_result(res, "to_numpy(t)")
    assert_same(out, new, what="a = to_numpy(t); t[...] = new; then a (must show new: for a cpu tensor "
                               "the array shares t's memory)", inputs=_t_inputs(view, "cpu", requires_grad))


@pytest.mark.parametrize("requires_grad", [False, True], ids=["plain", "requires_grad"])
@given(data=st.data())
def test_to_numpy_of_a_cpu_tensor_writes_to_the_array_reach_the_tensor(kata, requires_grad, data):
    base, layout, view = _tensor_case(data.draw(arrays(min_side=1, dtypes=_floating_when(requires_grad)), label="arr"))
    new = _other_values(view)
    res = kata.run(d02.to_numpy_then_write_array, base, layout, requires_grad, new)
    expect(res["is_array"], f"to_numpy returned {res['type']}, expected a numpy.ndarray")
    expect(res["writeable"], "to_numpy(t) returned a read-only array; for a cpu tensor it should be a "
                             "writeable view of t's memory")
    assert_same(res["tensor"], new, what="a = to_numpy(t); a[...] = new; then t (must show new: for a cpu "
                                         "tensor the array shares t's memory)",
                inputs=_t_inputs(view, "cpu", requires_grad))
