import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent

RELU_TEST = '''
import torch
from hypothesis import given
from torchkata import strategies as tks
from torchkata.testing import assert_close

@given(x=tks.tensors(shape=tks.shapes(), dtype=tks.float_dtypes()))
def test_relu_matches_torch(kata, device, x):
    x = x.to(device)
    assert_close(kata.call("relu", x), torch.relu(x), what="relu(x)", inputs={"x": x})
'''


@pytest.fixture
def mini_project(pytester):
    """A project laid out like this repo, with kata 06_activations reduced to relu."""
    def write(path, text):
        p = pytester.path / path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
        return p

    write("pyproject.toml", "[tool.torchkata]\n\n[tool.pytest.ini_options]\ntestpaths = ['tests']\n")
    write("tests/test_06_activations.py", RELU_TEST)
    write("katas/06_activations/activations.py",
          "def relu(x):\n    raise NotImplementedError('relu: keep the positive part')\n")
    write("reference/06_activations/activations.py", "def relu(x):\n    return x.clamp_min(0)\n")
    pytester.write = write
    return pytester
