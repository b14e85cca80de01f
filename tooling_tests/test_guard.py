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
