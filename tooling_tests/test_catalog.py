"""The packaged catalog is the shared contract, parsed correctly."""
from pathlib import Path

import pytest

from torchkata.catalog import CATALOG_PATH, get_kata, load_catalog, parse_symbol

SHARED = Path(__file__).resolve().parents[2] / "shared" / "catalog.toml"


@pytest.mark.skipif(not SHARED.is_file(), reason="../shared/catalog.toml is not beside this checkout")
def test_packaged_catalog_is_the_shared_contract():
    assert CATALOG_PATH.read_text() == SHARED.read_text(), "run: cp ../shared/catalog.toml src/torchkata/"


def test_catalog_has_thirty_katas_with_symbols():
    catalog = load_catalog()
    assert len(catalog) == 30
    assert all(spec.symbols for spec in catalog.values())


def test_parse_symbol_reads_parameters_with_nested_brackets():
    symbol = parse_symbol("f(x: Tensor[N, D], sizes: tuple[int, int] = (1, 2), *, k: int = 3) -> Tensor  # c")
    assert symbol.params == ("x", "sizes", "k")
    assert parse_symbol("class LogSumExp(torch.autograd.Function)  # x").kind == "class"


def test_get_kata_accepts_a_number_or_prefix():
    assert get_kata("3").id == "03_autograd"
    assert get_kata("03_auto").id == "03_autograd"
    with pytest.raises(KeyError):
        get_kata("99")


def test_a_class_symbol_carries_its_constructors_parameters():
    symbol = parse_symbol("class CustomLinear(nn.Module)  # __init__(in_features: int, out_features: int, "
                          "bias: bool = True); parameters `weight` [out, in]")
    assert symbol.kind == "class" and symbol.init_params == ("in_features", "out_features", "bias")
    assert parse_symbol("class BatchNorm1d(nn.Module)  # same for inputs [N, C]").init_params is None


@pytest.mark.parametrize("init, accepted", [
    ("def __init__(self, in_features, out_features, bias=True)", True),
    ("def __init__(self, in_features, out_features, bias=True, *, device=None)", True),
    ("def __init__(self, in_features, out_features, *, bias=True)", False),   # CustomLinear(3, 2, False) fails
    ("def __init__(self, out_features, in_features, bias=True)", False),
    ("def __init__(self, in_features, out_features, bias=True, init='kaiming')", True),
])
def test_a_constructor_is_checked_against_the_catalog_like_a_function(init, accepted):
    """Every path into a solution (drivers included) checks a class's __init__ as it checks functions."""
    import types

    from torchkata.errors import SolutionError
    from torchkata.loader import check_signature

    source = f"import torch.nn as nn\nclass CustomLinear(nn.Module):\n    {init}:\n        super().__init__()\n"
    namespace = {}
    exec(source, namespace)  # noqa: S102 - the test's own source
    module = types.SimpleNamespace(**namespace)
    if accepted:
        assert check_signature(get_kata("04_custom_layer"), module, "CustomLinear") is namespace["CustomLinear"]
    else:
        with pytest.raises(SolutionError, match=r"CustomLinear.__init__ has parameters .*the catalog asks for "
                                                r"\(in_features, out_features, bias\)"):
            check_signature(get_kata("04_custom_layer"), module, "CustomLinear")


def test_the_candidates_signature_self_check_reads_constructors_too():
    from torchkata.learn.loop import signature_problems

    spec = get_kata("04_custom_layer")
    source = ("import torch.nn as nn\n"
              "class CustomLinear(nn.Module):\n    def __init__(self, in_features, out_features, *, bias=True):\n"
              "        super().__init__()\n"
              "class LayerNorm(nn.Module):\n    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True):\n"
              "        super().__init__()\n")
    assert signature_problems(source, spec) == [
        "CustomLinear.__init__ has parameters (in_features, out_features, *, bias); "
        "the catalog asks for (in_features, out_features, bias)"]
