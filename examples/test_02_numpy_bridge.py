"""Visible examples for kata 02 · NumPy interop and memory sharing."""
import numpy as np
import torch


def test_to_tensor_shared_sees_a_later_write_into_the_array(solution):
    a = np.array([1.0, 2.0, 3.0])
    t = solution.to_tensor_shared(a)
    assert t.dtype == torch.float64, f"a float64 array must give a float64 tensor, got {t.dtype}"
    a[0] = 100.0
    assert t.tolist() == [100.0, 2.0, 3.0], (
        f"after a[0] = 100 the shared tensor should read [100, 2, 3], got {t.tolist()}: "
        "it does not share the array's memory")


def test_to_tensor_shared_write_into_the_tensor_is_seen_in_the_array(solution):
    a = np.zeros(3, dtype=np.int32)
    t = solution.to_tensor_shared(a)
    t[1] = 7
    assert a.tolist() == [0, 7, 0], f"after t[1] = 7 the array should read [0, 7, 0], got {a.tolist()}"


def test_to_tensor_copy_keeps_float64_and_ignores_later_writes(solution):
    a = np.array([1.0, 2.0, 3.0])
    t = solution.to_tensor_copy(a)
    assert t.dtype == torch.float64, f"float64 must stay float64, got {t.dtype}"
    a[0] = 100.0
    assert t.tolist() == [1.0, 2.0, 3.0], (
        f"a copy must not see a later write into the array, got {t.tolist()}")


def test_to_numpy_works_for_a_tensor_that_requires_grad(solution):
    w = torch.ones(3, requires_grad=True)
    n = solution.to_numpy(w)  # w.numpy() would raise here
    assert isinstance(n, np.ndarray), f"expected an np.ndarray, got {type(n)}"
    assert n.dtype == np.float32, f"a float32 tensor must give a float32 array, got {n.dtype}"
    assert n.tolist() == [1.0, 1.0, 1.0]


def test_to_numpy_of_a_cpu_tensor_shares_its_memory(solution):
    t = torch.zeros(2)
    n = solution.to_numpy(t)
    t[0] = 7.0
    assert n.tolist() == [7.0, 0.0], (
        f"after t[0] = 7 the array should read [7, 0], got {n.tolist()}: it is a copy, not a view")
