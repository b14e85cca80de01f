"""Visible example tests: a few concrete cases per kata, shipped with a take-home.

They load `katas/<id>/<module>` (or `$TORCHKATA_EXAMPLES_IMPL/<id>/<module>`) by path, so they
run with plain pytest on a fresh machine. The hidden suite checks far more than these do.
"""
import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def solution(request):
    """The kata module named by the test file's KATA and MODULE constants."""
    kata, module = request.module.KATA, request.module.MODULE
    impl = Path(os.environ.get("TORCHKATA_EXAMPLES_IMPL", ROOT / "katas"))
    path = impl / kata / module
    if not path.is_file():
        pytest.fail(f"{path} is missing", pytrace=False)
    spec = importlib.util.spec_from_file_location(f"example_{kata}", path)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded
