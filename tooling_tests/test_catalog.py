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
