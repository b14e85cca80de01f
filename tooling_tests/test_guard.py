"""Forbidden callables: the source scan and the run-time guard."""
import sys
import types

import pytest
import torch

from torchkata import guard

FORBIDDEN = ["torch.einsum", "torch.nn.functional.one_hot", "torch.Tensor.softmax", "torch.nn.Linear"]


@pytest.mark.parametrize("source, expected", [
    ("import torch\ny = torch.einsum('i->', x)", "torch.einsum"),
    ("from torch import einsum\n", "torch.einsum"),
    ("import torch.nn.functional as F\nF.one_hot(x, 3)", "torch.nn.functional.one_hot"),
    ("from torch.nn import functional as fn\nfn.one_hot(x, 3)", "torch.nn.functional.one_hot"),
    ("def f(x):\n    return x.softmax(-1)", "torch.Tensor.softmax"),
    ("from torch import nn\nlayer = nn.Linear(2, 3)", "torch.nn.Linear"),
])
def test_scan_finds_forbidden_names_through_aliases(source, expected):
    assert expected in [name for _line, name in guard.scan_source(source, FORBIDDEN)]


@pytest.mark.parametrize("source", [
    '"""Do not use torch.einsum here."""\n# torch.einsum is forbidden\n',
    "import torch\ny = torch.matmul(a, b)",
    "import torch.nn as nn\nclass M(nn.Module):\n    pass",
])
def test_scan_ignores_comments_docstrings_and_allowed_calls(source):
    assert guard.scan_source(source, FORBIDDEN) == []


def _solution_module(tmp_path, source):
    path = tmp_path / "sol" / "solution.py"
    path.parent.mkdir()
    path.write_text(source)
    module = types.ModuleType("torchkata_test_solution")
    module.__file__ = str(path)
    exec(compile(source, str(path), "exec"), module.__dict__)
    sys.modules[module.__name__] = module
    return module, path.parent.parent


def test_guard_raises_only_for_solution_frames(tmp_path):
    guard.install(["torch.einsum"])
    module, root = _solution_module(tmp_path, "import torch\ndef f(x):\n    return getattr(torch, 'ein' + 'sum')('i->', x)\n")
    x = torch.ones(3)
    with guard.guarded("01_tensors", ["torch.einsum"], [root], [module.__name__]):
        with pytest.raises(guard.ForbiddenCallableError, match="torch.einsum is forbidden in kata 01_tensors"):
            module.f(x)
        # The test's own use of the callable is not the solution's.
        assert torch.einsum("i->", x).item() == 3.0
    assert module.f(x).item() == 3.0  # outside the guard nothing is forbidden


def test_guard_catches_forbidden_class_construction(tmp_path):
    guard.install(["torch.nn.Linear"])
    module, root = _solution_module(tmp_path, "from torch import nn\ndef build():\n    return nn.Linear(2, 3)\n")
    with guard.guarded("04_custom_layer", ["torch.nn.Linear"], [root], [module.__name__]):
        with pytest.raises(guard.ForbiddenCallableError):
            module.build()
    assert isinstance(module.build(), torch.nn.Linear)


def test_guard_ignores_names_other_katas_forbid(tmp_path):
    guard.install(["torch.einsum"])
    module, root = _solution_module(tmp_path, "import torch\ndef f(x):\n    return torch.einsum('i->', x)\n")
    with guard.guarded("05_modules", [], [root], [module.__name__]):
        assert module.f(torch.ones(2)).item() == 2.0


# ------------------------------------------------------------------ operation-level guard
# Real solution files in a tmp implementation root, driven through torchkata.harness.Kata as
# the hidden suite drives them. Every attack below passes the source scan (no forbidden name is
# spelled out) and used to score full marks under the name-level guard alone.

import shutil  # noqa: E402
import textwrap  # noqa: E402
from pathlib import Path  # noqa: E402

import torch.nn.functional as F  # noqa: E402

from torchkata.catalog import load_catalog  # noqa: E402
from torchkata.harness import Kata  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
X = torch.tensor([[-2.0, -0.5, 0.0, 0.5, 3.0]], dtype=torch.float64)


def _kata(tmp_path, kata_id: str, source: str) -> Kata:
    spec = load_catalog()[kata_id]
    path = tmp_path / "impl" / kata_id / spec.module
    path.parent.mkdir(parents=True)
    path.write_text(textwrap.dedent(source))
    assert guard.scan_source(path.read_text(), spec.forbidden) == []  # the scan cannot see these
    return Kata(spec, tmp_path / "impl")


def _forbidden(kata: Kata, name: str, *args, entry: str, **kwargs):
    pattern = entry.replace("torch.", r"torch\.(Tensor\.)?", 1)  # by name or by operation
    with pytest.raises(guard.ForbiddenCallableError, match=rf"^{pattern} is forbidden in kata {kata.id}"):
        kata.call(name, *args, **kwargs)


ATTACKS_06 = {
    # (a) code compiled under another file name, with globals of its own
    "compiled_elsewhere": ("relu", "torch.relu", """
        import torch
        _ns = {"torch": torch}
        exec(compile("def relu(x):\\n    return torch.ops.aten.relu(x)\\n", "/usr/lib/x.py", "exec"), _ns)
        relu = _ns["relu"]
        """),
    # (b) the name-level wrapper's original, through its attributes
    "wrapper_wrapped": ("relu", "torch.relu", """
        import torch
        _f = getattr(torch, "re" + "lu")
        _orig = getattr(_f, "__wrapped__", _f)
        def relu(x):
            return _orig(x)
        """),
    "wrapper_closure": ("sigmoid", "torch.sigmoid", """
        import torch
        _f = getattr(torch, "sig" + "moid")
        _cells = [c.cell_contents for c in (_f.__closure__ or ()) if callable(c.cell_contents)]
        _orig = next((c for c in _cells if getattr(c, "__name__", "") == "sigmoid"), _f)
        def sigmoid(x):
            return _orig(x)
        """),
    # (c) aten operators directly
    "aten_packet": ("relu", "torch.relu", """
        import torch
        def relu(x):
            return torch.ops.aten.relu(x)
        """),
    "aten_overload": ("softmax", "torch.softmax", """
        import torch
        def softmax(x, dim=-1):
            return torch.ops.aten._softmax.default(x, dim, False)
        """),
    # and similar: C-level aliases, Tensor methods through the class dict, partials
    "c_nn": ("gelu", "torch.nn.functional.gelu", """
        import torch
        def gelu(x, approximate="none"):
            return getattr(torch._C._nn, "ge" + "lu")(x, approximate=approximate)
        """),
    "variable_functions": ("relu", "torch.relu", """
        import torch
        _relu = getattr(torch._C._VariableFunctions, "re" + "lu")
        def relu(x):
            return _relu(x)
        """),
    "tensorbase_dict": ("tanh", "torch.tanh", """
        import torch
        def tanh(x):
            return torch._C.TensorBase.__dict__["ta" + "nh"](x)
        """),
    "partial": ("log_softmax", "torch.log_softmax", """
        import functools
        import torch
        _ls = functools.partial(torch._C.TensorBase.__dict__["log_" + "softmax"])
        def log_softmax(x, dim=-1):
            return _ls(x, dim)
        """),
    "composite": ("softmax", "torch.softmax", """
        import torch
        def softmax(x, dim=-1):
            return getattr(torch.nn.functional, "soft" + "min")(-x, dim)  # softmin(-x) is softmax(x)
        """),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS_06))
def test_operation_guard_rejects_attacks(tmp_path, attack):
    name, entry, source = ATTACKS_06[attack]
    kata = _kata(tmp_path, "06_activations", source)
    _forbidden(kata, name, X, entry=entry)
    with pytest.raises(guard.ForbiddenCallableError):
        kata.grad(name, X)


def test_error_names_the_catalog_entry_and_how_it_was_reached(tmp_path):
    kata = _kata(tmp_path, "06_activations", ATTACKS_06["aten_overload"][2])
    with pytest.raises(guard.ForbiddenCallableError) as info:
        kata.call("softmax", X, dim=1)
    assert str(info.value).startswith("torch.softmax is forbidden in kata 06_activations: ")
    assert "aten._softmax.default" in str(info.value)


def test_autograd_entries_are_seen_whatever_the_name(tmp_path):
    source = """
        import torch
        _engine_entry = getattr(torch.Tensor, "back" + "ward")
        _backward = getattr(_engine_entry, "__wrapped__", _engine_entry)
        _ns = {"torch": torch}
        exec(compile("def g(f, x):\\n    return torch.func.grad(f)(x)\\n", "<string>", "exec"), _ns)

        def mlp_forward_backward(x, y, w1, b1, w2, b2):
            ws = [t.detach().clone().requires_grad_(True) for t in (w1, b1, w2, b2)]
            logits = (x @ ws[0] + ws[1]).clamp_min(0) @ ws[2] + ws[3]
            loss = (logits.logsumexp(1) - logits.gather(1, y[:, None])[:, 0]).mean()
            if x.shape[0] == 1:
                _ns["g"](lambda w: ((x @ w + ws[1]).clamp_min(0) @ ws[2]).sum(), ws[0].detach())
            _backward(loss)
            return loss.detach(), {k: w.grad for k, w in zip(("w1", "b1", "w2", "b2"), ws)}
        """
    kata = _kata(tmp_path, "08_manual_backprop", source)
    args = (torch.randn(4, 3), torch.tensor([0, 1, 0, 1]), torch.randn(3, 5), torch.randn(5), torch.randn(5, 2),
            torch.randn(2))
    _forbidden(kata, "mlp_forward_backward", *args, entry="torch.Tensor.backward")
    _forbidden(kata, "mlp_forward_backward", *(a[:1] if i < 2 else a for i, a in enumerate(args)),
               entry="torch.func.grad")


@pytest.mark.parametrize("tamper", [
    "getattr(torch._C, '_pop_torch_' + 'dispatch_stack')(None)",
    "_Mine().__enter__()",
    "getattr(torch._C, '_push_on_torch_' + 'dispatch_stack')(_Mine())",
    "torch.overrides.TorchFunctionMode().__enter__()",
])
def test_switching_the_guard_off_fails_the_call(tmp_path, tamper):
    kata = _kata(tmp_path, "06_activations", f"""
        import torch
        from torch.utils._python_dispatch import TorchDispatchMode

        class _Mine(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                return func(*args, **(kwargs or {{}}))

        def relu(x):
            {tamper}
            return torch.ops.aten.relu(x)
        """)
    with pytest.raises(guard.ForbiddenCallableError, match="switched off the forbidden-callable guard"):
        kata.call("relu", X)
    assert torch._C._len_torch_dispatch_stack() == 0  # the stack is left as it was
    assert torch._C._len_torch_function_stack() == 0


def test_correct_solution_using_allowed_ops_passes(tmp_path):
    root = tmp_path / "impl"
    shutil.copytree(REPO / "reference" / "06_activations", root / "06_activations")
    kata = Kata(load_catalog()["06_activations"], root)
    x = torch.randn(4, 7, dtype=torch.float64)
    for name, expected in [("relu", torch.relu(x)), ("sigmoid", torch.sigmoid(x)), ("tanh", torch.tanh(x)),
                           ("softmax", torch.softmax(x, -1)), ("log_softmax", torch.log_softmax(x, -1)),
                           ("gelu", F.gelu(x))]:
        torch.testing.assert_close(kata.call(name, x), expected)
        out, (grad,) = kata.grad(name, x)
        torch.testing.assert_close(out, expected)


def _driver_uses_forbidden_ops(module, x):
    """A driver's own forbidden calls around and inside the solution's extent are the suite's."""
    before = torch.softmax(x, -1) + torch.ops.aten.relu(x) + F.gelu(x) + x.sigmoid()
    return {"before": before, "solution": module.softmax(x), "after": torch.log_softmax(x, -1)}


def _driver_callback(module, x):
    """The solution calls the driver's function, which uses an op the kata forbids."""
    return module.grad_of(lambda t: torch.logsumexp(t, 0) + torch.softmax(t, 0)[0], x)


def _driver_runs_returned_model(module, x):
    """The solution's model runs later, inside the driver: its forward is still the solution's."""
    reference = torch.nn.Linear(3, 2).double()  # the driver's own nn.Linear (forbidden in 04)
    model = module.CustomLinear(3, 2).double()
    model.load_state_dict(reference.state_dict())
    return {"reference": reference(x), "model": model(x)}


def test_drivers_own_use_of_forbidden_ops_is_not_blocked(tmp_path):
    root = tmp_path / "impl"
    shutil.copytree(REPO / "reference" / "06_activations", root / "06_activations")
    kata = Kata(load_catalog()["06_activations"], root)
    result = kata.run(_driver_uses_forbidden_ops, X)
    torch.testing.assert_close(result["solution"], torch.softmax(X, -1))


def test_driver_callback_called_by_the_solution_is_not_blocked(tmp_path):
    kata = _kata(tmp_path, "03_autograd", """
        import torch
        def grad_of(f, x):
            x = x.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(f(x), x)
            return g
        def logsumexp(x, dim):
            return getattr(torch, "logsum" + "exp")(x, dim)
        """)
    x = torch.randn(5, dtype=torch.float64)
    torch.testing.assert_close(kata.run(_driver_callback, x), torch.softmax(x, 0) + torch.func.grad(
        lambda t: torch.softmax(t, 0)[0])(x))
    _forbidden(kata, "logsumexp", x, 0, entry="torch.logsumexp")


@pytest.mark.parametrize("forward", [
    # its forward is solution code
    "def forward(self, x):\n    return torch.ops.aten.addmm(self.bias, x, self.weight.t())",
    # no solution frame at all when it runs: Module.__call__ calls a partial of a torch op
    "def _init_forward(self):\n    self.forward = functools.partial(torch.ops.aten.addmm, self.bias, mat2=self.weight.t())",
])
def test_solution_model_run_by_a_driver_is_still_the_solutions(tmp_path, forward):
    forward = textwrap.indent(forward, " " * 12).lstrip()
    kata = _kata(tmp_path, "04_custom_layer", f"""
        import functools
        import torch
        from torch import nn

        class CustomLinear(nn.Module):
            def __init__(self, in_features, out_features, bias=True):
                super().__init__()
                self.weight = nn.Parameter(torch.zeros(out_features, in_features))
                self.bias = nn.Parameter(torch.zeros(out_features))
                if hasattr(self, "_init_forward"):
                    self._init_forward()

            {forward}
        """)
    with pytest.raises(guard.ForbiddenCallableError, match="^torch.addmm is forbidden in kata 04_custom_layer"):
        kata.run(_driver_runs_returned_model, torch.randn(4, 3, dtype=torch.float64))


def test_driver_model_with_allowed_solution_passes(tmp_path):
    kata = _kata(tmp_path, "04_custom_layer", """
        import torch
        from torch import nn

        class CustomLinear(nn.Module):
            def __init__(self, in_features, out_features, bias=True):
                super().__init__()
                self.weight = nn.Parameter(torch.zeros(out_features, in_features))
                self.bias = nn.Parameter(torch.zeros(out_features))

            def forward(self, x):
                return x @ self.weight.t() + self.bias
        """)
    result = kata.run(_driver_runs_returned_model, torch.randn(4, 3, dtype=torch.float64))
    torch.testing.assert_close(result["model"], result["reference"])


def test_every_mapped_aten_operator_exists():
    for entry, ops in {**guard.ATEN_DISPATCH, **guard.ATEN_DIRECT}.items():
        for op in ops:
            if not op.startswith(("_scaled_dot_product_", "_cudnn_", "miopen_", "cudnn_", "_batch_norm_")):
                assert guard._packet(op) is not None, f"{entry}: no aten.{op} in this torch"
